"""Replay plans for captured graphs (``webaccel.capture``) on the webgpu device.

At capture, the compiled program's launches are recorded into a ``Recorder`` (a ``Batch``
stand-in) instead of a command encoder: each dispatch's pipeline, buffers, uniforms and
workgroup counts. Buffers the graph allocates belong to the plan (never to the shared pool), so
bind groups can be made once; arguments get buffers of their own that each run fills with a
GPU-side copy. A run is then one call into ``js_glue/webgpu_replay.js``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import _compat
from ...device import Replay, Storage
from ...shapes import numel
from .runtime import BatchBase, Dispatch, GPUBufferHandle, GPUContext, _buffer_of, js_glue

REPLAY_GLUE = "webgpu_replay.js"


class _PlanAllocator:
    """Allocations of a recording: from the pool once, then owned by the plan and reused
    inside it. A buffer released during one launch becomes reusable only when the next launch
    starts (kernels release a temporary before recording the dispatch that reads it, relying
    on a batch deferring releases, so reusing it within the launch would alias)."""

    def __init__(self, ctx: GPUContext) -> None:
        self._ctx = ctx
        self.owned: list[GPUBufferHandle] = []
        self.free: list[GPUBufferHandle] = []
        self.pending: list[GPUBufferHandle] = []

    def end_launch(self) -> None:
        self.free += self.pending
        self.pending = []

    def alloc(self, nbytes: int) -> GPUBufferHandle:
        for i, h in enumerate(self.free):
            if h.size >= nbytes:
                return self.free.pop(i)
        handle = self._ctx.alloc(nbytes)
        self.owned.append(handle)
        return handle

    def release(self, handle: GPUBufferHandle) -> None:
        if handle in self.owned and handle not in self.free and handle not in self.pending:
            self.pending.append(handle)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


class Recorder(BatchBase):
    """A batch for kernels that records the dispatches instead of encoding them."""

    def __init__(self, ctx: GPUContext) -> None:
        self.ctx = _PlanAllocator(ctx)
        self.commands: list[Dispatch] = []  # their buffers the GPUBuffers

    def _record(self, dispatch: Dispatch) -> None:
        self.commands.append(dispatch._replace(buffers=[_buffer_of(b) for b in dispatch.buffers]))

    def submit(self) -> None:  # a recording is never submitted
        pass


class ReplayPlan(Replay):
    """A captured program, ready to run with new argument storages."""

    def __init__(
        self, device: Any, compiled: Any, inputs: list[Storage], sources: list[tuple[str, int]]
    ) -> None:
        js = _compat.js_namespace()
        self.device, self.ctx = device, device.ctx
        program = compiled.program
        n = program.n_inputs
        recorder = Recorder(self.ctx)
        self.allocator = recorder.ctx
        self.consts = [
            s.acquire() for (kind, _), s in zip(sources, inputs, strict=True) if kind == "const"
        ]
        buffers: list[Any] = []
        self.arg_targets: list[tuple[int, GPUBufferHandle, int]] = []  # (arg, buffer, bytes)
        for (kind, index), storage in zip(sources, inputs, strict=True):
            if kind == "const":
                buffers.append(storage.handle)
            else:
                own = recorder.ctx.alloc(storage.nbytes)
                buffers.append(own)
                self.arg_targets.append((index, own, _round4(storage.nbytes)))
        buffers += [None] * len(program.steps)
        last_use = {}  # slot -> index of the last launch that reads it
        for i, reads in enumerate(compiled.reads):
            for src in reads:
                last_use[src] = i
        outputs = {n + i for i in program.outputs}
        for i, (launch, (slot,)) in enumerate(compiled.launches):
            buffers[slot] = launch(recorder, buffers).buffer
            for src, last in last_use.items():
                if last == i and src >= n and src not in outputs:
                    recorder.release_after(buffers[src])
            recorder.ctx.end_launch()
        self.outputs = []  # (captured buffer, numel, dtype) per program output
        for i in program.outputs:
            step = program.steps[i]
            self.outputs.append((buffers[n + i], numel(step.shape), step.dtype))
        align = int(self.ctx.limits.get("minUniformBufferOffsetAlignment", 256))
        commands = [
            [
                p.pipeline,
                p.layout,
                bufs,
                None if data is None else js.Uint8Array.new(_compat.to_js(memoryview(data))),
                *groups,
            ]
            for p, bufs, data, groups in recorder.commands
        ]
        ins = [[own.buffer, nbytes] for _, own, nbytes in self.arg_targets]
        outs = [[buf.buffer, _round4(dtype.nbytes(count))] for buf, count, dtype in self.outputs]
        self.plan = js_glue(REPLAY_GLUE).build(
            self.ctx.device,
            self.ctx.queue,
            _compat.to_js(commands),
            align,
            _compat.to_js(ins),
            _compat.to_js(outs),
        )
        self._run = js_glue(REPLAY_GLUE).run
        self._arg_order = [index for index, _, _ in self.arg_targets]
        self.dispatches = len(commands)
        self.reports_faults = recorder.reports_faults  # each run: the next read checks faults

    def __call__(self, args: Sequence[Storage]) -> list[Storage]:
        ctx, device = self.ctx, self.device
        ctx.check()
        outs = [
            Storage(device, ctx.alloc(max(dtype.nbytes(count), 4)), count, dtype)
            for _, count, dtype in self.outputs
        ]
        # Buffers go as plain arguments: JsProxies pass through with no to_js conversion.
        self._run(
            self.plan,
            *[args[i].handle.buffer for i in self._arg_order],
            *[s.handle.buffer for s in outs],
        )
        if self.reports_faults:
            ctx.faults_unchecked = True
        return outs

    def close(self) -> None:
        """Release the plan's buffers and constants now (``capture`` evicting this trace);
        idempotent, and ``__del__`` does it at the latest."""
        if self.plan is None:
            return
        plan, self.plan = self.plan, None
        js_glue(REPLAY_GLUE).destroy(plan)
        for h in self.allocator.owned:
            self.ctx.release(h)
        for s in self.consts:
            s.release()
        self.allocator.owned, self.consts = [], []

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # the device may be gone already
            pass


def _round4(n: int) -> int:
    return max(4, -(-n // 4) * 4)

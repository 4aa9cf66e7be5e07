"""``webaccel.capture(fn)``: trace a function once, then replay its compiled graph.

The lazy graph already caches compiled programs by structure, but every call still pays
Python for building nodes, lowering and hashing. A captured function skips all of that: the
first call with given input shapes/dtypes/views traces ``fn`` into a program; later calls bind
the new inputs and run the compiled program directly. On the webgpu device the replay is one
JS call that copies the inputs in, encodes every dispatch with bind groups made once, and
copies the outputs out (``backends/webgpu/replay.py``), so Python's cost per run does not grow
with the number of ops.

Tensors created inside ``fn`` that do not depend on its arguments (weights) become constants of
the captured graph and stay on the device.

``capture(fn, max_traces=N)`` keeps at most N signatures, dropping the least recently used one
(its replay plan and compiled graph are released at once). It matters on WebNN, where each
captured graph holds its own copy of its weight constants (the browser has no shared constant
tensors): a model traced for many (batch, seq) shapes would otherwise hold one copy per shape.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _compat
from .device import Device, Storage
from .engine import hooks
from .engine.passes import optimize
from .errors import DeviceLostError
from .ir import Node, Program, lower, pending_nodes
from .tensor import Tensor, _buffer_tensor, apply
from .view import View


@dataclass(eq=False)  # identity: a storage watches its traces in a WeakSet
class Trace:
    program: Program
    compiled: Any
    const_nodes: list[Node]  # realized nodes read as constants (kept alive)
    slot_sources: list[tuple[str, int]]  # per input slot: ("arg", i) or ("const", j)
    outputs: list[tuple[int, View, Any]]  # (program output position, view, dtype) per result
    single: bool
    runner: Any = None  # a device-specific replay (webgpu), else None
    runs: int = field(default=0)
    # Precomputed for the hot path: per result (position, shape, dtype, view or None when the
    # result is its step's plain contiguous output), and the outputs no result uses.
    results: list[tuple[int, tuple[int, ...], Any, View | None]] = field(default_factory=list)
    unused: list[int] = field(default_factory=list)
    # Per argument: (device, storage elements, dtype, shape, view), for ``run_async``.
    args: list[tuple[Any, int, Any, tuple[int, ...], View]] = field(default_factory=list)
    # For ``run_async``: per result its byte count, and whether every result is its step's
    # plain output (so a replay plan can read it straight into host memory).
    result_nbytes: list[int] = field(default_factory=list)
    plain_results: bool = True
    positions: tuple[int, ...] = ()  # program output position per result
    key: tuple[Any, ...] = ()  # its signature: its key in Captured.traces
    host_call: Any = None  # the runner's host_call (webnn) when every result is plain
    device: Any = None  # the device it runs on, and the generation of the context it was
    generation: int = 0  # compiled for (recompiled after the device was lost and rebuilt)

    def storage_evicted(self) -> None:
        """A constant's buffer was evicted under the memory limit (``webaccel.budget``): the
        plan built over it goes now (a WebNN graph holds a copy of its constants) and the
        trace recompiles on its next call, over the constant made resident again."""
        if self.generation == EVICTED:  # another of its constants went first
            return
        self.generation = EVICTED
        self.host_call = None
        runner, self.runner = self.runner, None
        self.device.budget.invalidated_traces += 1
        if runner is not None:
            runner.close()

    def const_storages(self) -> list[Storage]:
        return [n.storage for n in self.const_nodes]


EVICTED = -1  # a Trace.generation no device has: a constant was evicted, recompile


class Captured:
    """The callable ``capture`` returns; ``.traces`` holds one trace per input signature."""

    def __init__(self, fn: Callable[..., Any], max_traces: int | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"capture: fn must be callable, not {type(fn).__name__}")
        if max_traces is not None and (
            not isinstance(max_traces, int) or isinstance(max_traces, bool) or max_traces < 1
        ):
            raise ValueError(
                f"capture: max_traces must be a positive int or None, not {max_traces!r}"
            )
        self.fn = fn
        self.max_traces = max_traces
        self.traces: dict[tuple[Any, ...], Trace] = {}  # least recently used first
        self.evicted = 0  # traces dropped to stay within max_traces
        # run_async's lookup by the inputs' byte sizes, for host buffers that matched exactly
        # one trace (emptied whenever the traces change): skips _host_trace's scan
        self._by_nbytes: dict[tuple[int, ...], Trace] = {}
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Tensor) -> Any:
        for a in args:
            if not isinstance(a, Tensor):
                raise TypeError(f"captured functions take Tensors, got {type(a).__name__}")
        args = tuple(_realized(a) for a in args)
        if args:
            args[0].device.ensure_live()
        key = tuple((a.device.name, a._view, a.dtype, a._node.storage.numel) for a in args)
        trace = self.traces.get(key)
        if trace is None:
            trace = self.traces[key] = self._trace(args)
            trace.key = key
            self._by_nbytes.clear()
            self._evict()
        else:
            if self.max_traces is not None:
                self._touch(key)
            if trace.generation != trace.device.generation:
                self._recompile(trace)
        return self._run(trace, args)

    def _touch(self, key: tuple[Any, ...]) -> None:
        """Mark *key* most recently used (dicts keep insertion order: move it to the end)."""
        self.traces[key] = self.traces.pop(key)

    def _evict(self) -> None:
        while self.max_traces is not None and len(self.traces) > self.max_traces:
            oldest = next(iter(self.traces))
            trace = self.traces.pop(oldest)
            self._by_nbytes.clear()
            self.evicted += 1
            if trace.runner is not None:  # free the device's graph and plan now, not at GC
                trace.runner.close()

    def close(self) -> None:
        """Release every trace now: its replay plan and compiled graph (on WebNN, its copy of
        the weights) and its constants (a weight's storage is released when no one else holds
        it). A later call traces again; ``BertModel.close`` stops its calls first."""
        traces = list(self.traces.values())
        self.traces.clear()
        self._by_nbytes.clear()
        for trace in traces:
            if trace.runner is not None:
                try:
                    trace.runner.close()
                except Exception:
                    # a plan of a lost context: its device objects went with it
                    device = trace.device
                    if not device.needs_recovery and trace.generation == device.generation:
                        raise
            trace.const_nodes.clear()

    def _trace(self, args: tuple[Tensor, ...]) -> Trace:
        result = self.fn(*args)
        single = isinstance(result, Tensor)
        results = [result] if single else _results(result)
        # Each result must come out of the program as a step; a result that is an argument
        # or a constant gets a copy step so that replays hand back fresh storage.
        results = [r if not r._node.realized else apply("contiguous", r) for r in results]
        nodes = pending_nodes([r._node for r in results])
        program, input_nodes, output_nodes = lower(nodes, {r._node.id for r in results})
        device = results[0].device
        arg_ids = {a._node.id: i for i, a in enumerate(args)}
        sources: list[tuple[str, int]] = []
        consts: list[Node] = []
        for node in input_nodes:
            if node.id in arg_ids:
                sources.append(("arg", arg_ids[node.id]))
            else:
                sources.append(("const", len(consts)))
                consts.append(node)
        storages = [n.storage for n in input_nodes]
        compiled, runner = _build(device, program, storages, sources)
        outputs = [(output_nodes.index(r._node), r._view, r.dtype) for r in results]
        trace = Trace(program, compiled, consts, sources, outputs, single, runner)
        trace.device, trace.generation = device, device.generation
        for node in consts:
            device.watch(node.storage, trace)
        for position, view, dtype in outputs:
            step = program.steps[program.outputs[position]]
            plain = view == View.contiguous(step.shape) and dtype == step.dtype
            trace.results.append(
                (position, step.shape, step.dtype, None if plain else (view, dtype))
            )
        trace.args = [(a.device, a._node.storage.numel, a.dtype, a.shape, a._view) for a in args]
        trace.result_nbytes = [r.dtype.nbytes(math.prod(r.shape)) for r in results]
        trace.plain_results = all(v is None for _, _, _, v in trace.results)
        trace.positions = tuple(p for p, _, _, _ in trace.results)
        used = {p for p, _, _ in outputs}
        trace.unused = [i for i in range(len(program.outputs)) if i not in used]
        if runner is not None and trace.plain_results:
            trace.host_call = runner.host_call
        return trace

    def _recompile(self, trace: Trace) -> None:
        """Compile *trace*'s program again on its device's new context (after a loss): the
        constants are the restored storages; each argument slot gets a scratch storage of
        its size while the replay plan is built."""
        device: Device = trace.device
        device.ensure_live()
        consts = trace.const_storages()
        for storage in consts:
            if storage.lost:
                raise DeviceLostError(
                    f"{self._name}: a constant of this captured graph could not be restored "
                    f"after the {device.name} device was lost or its eviction, so it cannot "
                    f"run again: {storage.handle.message}"
                )
        with device.in_use(consts):  # not evicted again while it compiles (webaccel.budget)
            device.make_resident(consts)
            self._compile_again(trace, device)

    def _compile_again(self, trace: Trace, device: Device) -> None:
        after_eviction = trace.generation == EVICTED
        generation = device.generation
        program = trace.program
        inputs: list[Storage] = []
        scratch: list[Storage] = []
        for slot, (kind, i) in enumerate(trace.slot_sources):
            if kind == "const":
                inputs.append(trace.const_nodes[i].storage)
            else:
                numel, dtype = program.inputs[slot]
                scratch.append(device.storage(numel, dtype))
                inputs.append(scratch[-1])
        try:
            compiled, runner = _build(device, program, inputs, trace.slot_sources)
        finally:
            for s in scratch:
                s.release()
        if trace.generation == generation:  # another call recompiled it meanwhile (JSPI waits)
            if runner is not None:
                runner.close()
            return
        old = trace.runner
        trace.compiled, trace.runner, trace.generation = compiled, runner, generation
        trace.host_call = runner.host_call if runner is not None and trace.plain_results else None
        for node in trace.const_nodes:
            device.watch(node.storage, trace)
        if not after_eviction:
            device.recovery.recompiled_traces += 1
        if old is not None:
            try:
                old.close()
            except Exception:  # its context is gone, and everything on it
                pass

    def _run(self, trace: Trace, args: Sequence[Tensor]) -> Any:
        device: Device = trace.device
        if device.memory_limit is None and device._readmitting is None:
            return self._run_now(trace, args)
        # Under a memory limit (webaccel.budget): the constants and arguments are pinned while
        # the graph runs, evicted ones come back first (a trace whose constant was evicted
        # recompiles), and room is made for the results before anything is queued.
        used = trace.const_storages() + [a._node.storage for a in args]
        with device.in_use(used):
            device.make_resident(used)
            if trace.generation != device.generation:
                self._recompile(trace)
            device.reserve(sum(trace.result_nbytes), "a captured graph's results")
            return self._run_now(trace, args)

    def _run_now(self, trace: Trace, args: Sequence[Tensor]) -> Any:
        trace.runs += 1
        if trace.runner is not None:
            storages = trace.runner([a._node.storage for a in args])
        else:
            inputs: list[Storage] = [
                args[i]._node.storage if kind == "arg" else trace.const_nodes[i].storage
                for kind, i in trace.slot_sources
            ]
            storages = (
                args[0].device.run(trace.compiled, inputs)
                if args
                else trace.const_nodes[0].device.run(trace.compiled, inputs)
            )
        if hooks.after_run is not None:  # webaccel.verify: off, this check is all it costs
            inputs = [
                args[i]._node.storage if kind == "arg" else trace.const_nodes[i].storage
                for kind, i in trace.slot_sources
            ]
            storages = hooks.after_run(storages[0].device, trace.program, inputs, storages, True)
        tensors = []
        for position, shape, dtype, view in trace.results:
            t = _buffer_tensor(storages[position], shape, dtype)
            tensors.append(t if view is None else t._with_view(*view))
        for i in trace.unused:  # outputs nobody asked for go back at once
            storages[i].release()
        return tensors[0] if trace.single else tensors

    # -- fresh host data through a traced signature ---------------------------------------------
    async def run_async(self, *inputs: Any, out: Sequence[Any] | None = None) -> Any:
        """Run an already-traced signature on fresh host data: *inputs* are bytes-like objects
        (each argument's storage bytes; for a plain argument its row-major elements) or
        Tensors; the results come back as host memory: the *out* buffers (writable, one per
        result, of the results' byte sizes) or new bytearrays (one, or a list as the function
        returns). On a device whose replay plan has ``host_call`` (webnn) this is one JS
        call: write the inputs, dispatch, read every output into the buffers. Elsewhere the
        inputs are uploaded and the replay runs as usual.
        """
        # Kept to few Python steps: on webnn this method's own work is part of every call's
        # latency (the webnn benchmark compares it with plain-JS WebNN).
        try:  # host buffers of sizes seen before (a Tensor has no nbytes in memoryview)
            trace = self._by_nbytes[tuple([memoryview(x).nbytes for x in inputs])]
            buffers_only = True
        except (KeyError, TypeError):
            trace = self._host_trace(inputs)
            buffers_only = not any(isinstance(x, Tensor) for x in inputs)
        sizes = trace.result_nbytes
        if out is None:
            bufs: list[Any] = [bytearray(n) for n in sizes]
        else:
            bufs = [out] if trace.single and not isinstance(out, list | tuple) else list(out)
            if len(bufs) != len(sizes):
                raise ValueError(f"run_async: out has {len(bufs)} buffers for {len(sizes)} results")
            for k, b in enumerate(bufs):
                if type(b) is bytearray and len(b) == sizes[k]:
                    continue  # writable, and of the right size
                mv = memoryview(b)
                if mv.readonly or mv.nbytes != sizes[k]:
                    raise ValueError(
                        f"run_async: out[{k}] must be a writable buffer of {sizes[k]} bytes, "
                        f"got {'a read-only one' if mv.readonly else f'{mv.nbytes} bytes'}"
                    )
        device = trace.device
        generation = device.generation
        try:
            await self._run_host(trace, inputs, buffers_only, bufs, out is None)
        except DeviceLostError:
            # In flight at a loss (or finding the device lost): run once more on the rebuilt
            # device, from the same host data. Something else lost (an argument Tensor
            # computed on the old device) raises.
            if not device.needs_recovery and device.generation == generation:
                raise
            await device.recover_async()
            await self._run_host(trace, inputs, buffers_only, bufs, out is None)
        if device._recovery_started is not None:
            device.note_result()
        return bufs[0] if trace.single else bufs

    async def _run_host(
        self, trace: Trace, inputs: Sequence[Any], buffers_only: bool, bufs: list[Any], new: bool
    ) -> None:
        """One ``run_async`` attempt: into *bufs* (*new*: bytearrays of ours, replaced by the
        read-back where that is not the fast path)."""
        device = trace.device
        if device._recovering is not None or device.lost_reason is not None:
            await device.recover_async()
        if device.memory_limit is None and device._readmitting is None:
            await self._run_host_now(trace, inputs, buffers_only, bufs, new)
            return
        consts = trace.const_storages()
        with device.in_use(consts):  # webaccel.budget: kept resident for the whole call
            await device.make_resident_async(consts)
            await self._run_host_now(trace, inputs, buffers_only, bufs, new)

    async def _run_host_now(
        self, trace: Trace, inputs: Sequence[Any], buffers_only: bool, bufs: list[Any], new: bool
    ) -> None:
        device = trace.device
        if trace.generation != device.generation:
            self._recompile(trace)
        if self.max_traces is not None and trace.key in self.traces:
            self._touch(trace.key)
        host = trace.host_call
        if host is not None and buffers_only and hooks.after_run is None:
            trace.runs += 1
            pending = host(inputs, trace.positions, bufs)
            if pending is not None:
                await pending
            return
        args = []
        for x, (dev, numel, dtype, _, view) in zip(inputs, trace.args, strict=True):
            if isinstance(x, Tensor):
                x = _realized(x)
                if (x.device, x._view, x.dtype, x._node.storage.numel) == (
                    dev,
                    view,
                    dtype,
                    numel,
                ):
                    args.append(x)
                    continue
                x = await x.read_async()
            mv = memoryview(x).cast("B")
            args.append(_buffer_tensor(dev.upload(mv, numel, dtype), (numel,), dtype))
        results = self._run(trace, args)
        for k, t in enumerate([results] if trace.single else results):
            data = await t.read_async()
            if new:
                bufs[k] = data
            else:
                memoryview(bufs[k]).cast("B")[:] = data

    def run(self, *inputs: Any, out: Sequence[Any] | None = None) -> Any:
        """Sync ``run_async``: plain on CPython; in the browser through JSPI."""
        return _compat.run_sync(self.run_async(*inputs, out=out))

    @property
    def _name(self) -> str:
        return getattr(self, "__name__", "captured")

    def _host_trace(self, inputs: Sequence[Any]) -> Trace:
        """The trace whose arguments' byte sizes (and dtypes, for Tensors) match *inputs*."""
        if not self.traces:
            raise RuntimeError(
                f"{self._name}.run_async: nothing traced yet; call the captured function "
                "once with Tensors first (that traces it), then run_async takes host data "
                "for that signature"
            )
        sizes = []
        for k, x in enumerate(inputs):
            if isinstance(x, Tensor):
                sizes.append((x.nbytes, x.dtype, tuple(x.shape)))
                continue
            try:
                sizes.append((memoryview(x).nbytes, None, None))
            except TypeError:
                raise TypeError(
                    f"run_async: input {k} is a {type(x).__name__}; give a bytes-like object "
                    "or a Tensor"
                ) from None
        fits = [
            trace
            for trace in self.traces.values()
            if len(trace.args) == len(sizes)
            and all(
                n == dtype.nbytes(numel)
                and (want is None or want == dtype)
                and (shape is None or shape == tuple(traced))
                for (n, want, shape), (_, numel, dtype, traced, _) in zip(
                    sizes, trace.args, strict=True
                )
            )
        ]
        if len(fits) == 1:
            if all(shape is None for _, _, shape in sizes):
                self._by_nbytes[tuple(n for n, _, _ in sizes)] = fits[0]
            return fits[0]
        given = ", ".join(f"{n} bytes" for n, _, _ in sizes)
        if fits:  # bytes do not say which shape they are: (2, 8) and (4, 4) both fit 64 bytes
            raise ValueError(
                f"{self._name}.run_async: inputs of ({given}) fit {len(fits)} traced signatures: "
                + "; ".join("(" + ", ".join(_describe(a) for a in t.args) + ")" for t in fits)
                + "; pass Tensors (their shapes choose), or capture each shape separately"
            )
        expected = "; ".join(
            "(" + ", ".join(_describe(a) for a in t.args) + ")" for t in self.traces.values()
        )
        raise ValueError(
            f"{self._name}.run_async: inputs of ({given}) match no traced signature; "
            f"expected {expected}"
        )


def _results(result: Any) -> list[Tensor]:
    """A traced function's results: a Tensor, or a list or tuple of Tensors."""
    items = list(result) if isinstance(result, list | tuple) else [result]
    if not items:
        raise TypeError(
            "capture: the function must return a Tensor or a list or tuple of Tensors, got an "
            "empty list"
        )
    for item in items:
        if not isinstance(item, Tensor):
            raise TypeError(
                f"capture: the function must return a Tensor or a list or tuple of Tensors, "
                f"got {type(item).__name__}"
            )
    return items


def _build(
    device: Device, program: Program, inputs: list[Storage], sources: list[tuple[str, int]]
) -> tuple[Any, Any]:
    """The compiled program and its replay plan (None where the device has none) for a
    captured program whose input slots are *inputs* (arguments and constants, *sources*)."""
    optimized = optimize(program, device)  # same passes as realize
    if device.compile_captured is not None:  # may build weights in (webnn)
        compiled = device.compile_captured(optimized, inputs, sources)
    else:
        compiled = device.compile(optimized)
    runner = None
    if device.capture_runner is not None:
        runner = device.capture_runner(compiled, inputs, sources)
    return compiled, runner


def _describe(arg: tuple[Any, int, Any, tuple[int, ...], View]) -> str:
    _, numel, dtype, shape, view = arg
    n = dtype.nbytes(numel)
    if view.is_contiguous() and math.prod(shape) == numel:
        return f"shape {tuple(shape)} {dtype.name} = {n} bytes"
    return f"a storage of {numel} {dtype.name} (viewed as {tuple(shape)}) = {n} bytes"


def _realized(t: Tensor) -> Tensor:
    return t.realize() if not t._node.realized else t


def capture(fn: Callable[..., Any], *, max_traces: int | None = None) -> Captured:
    """Trace *fn* on its first call per input signature and replay the compiled graph after;
    keep at most *max_traces* signatures (least recently used dropped first; None: all)."""
    return Captured(fn, max_traces)

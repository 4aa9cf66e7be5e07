"""Replay plans for captured graphs (``webaccel.capture``) on the webnn device.

A captured program is already one ``MLGraph``; what a plain ``device.run`` still pays per call
is converting the input and output lists for the FFI and building the ``{name: MLTensor}``
records. A ``ReplayPlan`` builds the records once in ``js_glue/webnn_replay.js``, with the
captured constants (weights) bound for good, so a run is: output ``MLTensor``s from the
device's pool, then one JS call that binds the argument and output tensors and dispatches.
Arguments are dispatched directly (their storages are ``MLTensor``s): no ``writeTensor``.

``host_call`` is ``Captured.run_async``'s fast path: a host slot holds one argument
``MLTensor`` per arg-fed graph input and one per graph output (made on first use, bound in a
second pair of records), and one JS call (``runHost``) writes each argument straight from
Python memory, dispatches, and reads each wanted output straight into Python memory; Python
crosses the FFI once and awaits once. Calls that overlap (coroutines) each take a slot of
their own (``HOST_SLOTS`` at most, then they wait in turn), so none overwrites another's
arguments or outputs.

A call whose context is lost fails with ``DeviceLostError`` (``Captured.run_async`` then runs
it once more on the rebuilt device, through a plan recompiled there); closing a plan for that
reason fails the calls still waiting for a slot the same way.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from typing import Any

from ... import _compat
from ...device import Replay, Storage
from ...errors import DeviceLostError


class _HostSlot:
    """What one host call holds while it runs: argument and output MLTensors (NNBuffers),
    their JS records (``webnn_replay.js`` host), and the bound run functions per read list."""

    __slots__ = ("js", "reads", "tensors")

    def __init__(self) -> None:
        self.tensors: list[Any] = []
        self.js: Any = None
        self.reads: dict[tuple[int, ...], tuple[Any, Any, list[int] | None]] = {}


def _glue() -> Any:
    return _compat.js_glue("webnn_replay.js")


class ReplayPlan(Replay):
    """A captured webnn program, ready to run with new argument storages."""

    def __init__(
        self, device: Any, compiled: Any, inputs: list[Storage], sources: list[tuple[str, int]]
    ) -> None:
        self.device = device
        self.outputs = [(n, d, d.webnn, d.nbytes(n)) for n, d in compiled.outputs]
        self.in_graph = list(compiled.in_graph)
        # The constants stay alive (and bound in the plan) as long as the plan.
        self.consts = [
            s.acquire() for (kind, _), s in zip(sources, inputs, strict=True) if kind == "const"
        ]
        self.arg_order: list[int] = []  # argument index per arg-fed graph input
        arg_names: list[str] = []
        const_names: list[str] = []
        const_tensors: list[Any] = []
        for slot in compiled.in_slots:
            kind, index = sources[slot]
            if kind == "arg":
                self.arg_order.append(index)
                arg_names.append(f"i{slot}")
            else:
                const_names.append(f"i{slot}")
                const_tensors.append(inputs[slot].handle.tensor)
        self.plan = None
        self.closed = False
        self.graph = compiled.graph  # destroyed by close(): the trace holding it is dropped
        if compiled.graph is not None:
            out_names = [f"o{j}" for j in self.in_graph]
            self.plan = _glue().build(
                device.ctx,
                compiled.graph,
                _compat.to_js(arg_names),
                _compat.to_js(const_names),
                _compat.to_js(const_tensors),
                _compat.to_js(out_names),
            )
        self._run = _glue().run
        self._arg_specs: list[tuple[str, int, int]] = []
        for slot in compiled.in_slots:
            if sources[slot][0] == "arg":
                numel, dtype = compiled.program.inputs[slot]
                self._arg_specs.append((dtype.webnn, numel, dtype.nbytes(numel)))
        self._slots: list[_HostSlot] = []  # every host slot made (at most HOST_SLOTS)
        self._idle: list[_HostSlot] = []
        self._waiting: collections.deque[asyncio.Future[_HostSlot]] = collections.deque()
        self.generation = device.generation  # of the context it was built on

    # "view": readTensor into views of Python memory; "copy": into JS ArrayBuffers, then one
    # copy each (see webnn_replay.js runHost)
    host_read = "copy"  # runAddr: into plan-owned JS buffers, then one copy; "view" no faster
    # Host calls running at once, each with its own slot (argument and output MLTensors, JS
    # buffers); more wait for a slot in arrival order.
    HOST_SLOTS = 4

    def host_call(
        self, inputs: Sequence[Any], positions: tuple[int, ...], outs: Sequence[Any]
    ) -> Any:
        """One run from host memory: write *inputs* (host buffers, one per captured argument),
        dispatch, and read the program outputs at *positions* into the host buffers *outs*.
        Returns the coroutine to await (None when there is nothing to run).

        Overlapping calls (``asyncio.gather``) never share buffers: each holds a slot of its
        own (``HOST_SLOTS`` at most; later ones wait), so one call's arguments cannot replace
        another's before its dispatch, nor its outputs another's before they are read.

        A plain function, and as few Python steps as we can manage: this is the per-call cost
        ``Captured.run_async`` adds to the graph's own time (the webnn benchmark's block is
        ~1.3 ms, and each Python layer around the JS call measured 3-5% of it there). Per
        *positions* the JS function is bound once to the slot, the read list and the byte
        sizes, so a call passes only the buffers' wasm addresses."""
        if self.closed:
            raise self._closed_error()
        if self.plan is None:  # every output empty: nothing to run or read
            return None
        if self._idle:
            return self._host_run(self._idle.pop(), inputs, positions, outs)
        return self._host_wait(inputs, positions, outs)

    async def _host_wait(
        self, inputs: Sequence[Any], positions: tuple[int, ...], outs: Sequence[Any]
    ) -> None:
        if len(self._slots) < self.HOST_SLOTS:
            slot = await self._new_slot()
        else:
            waiter: asyncio.Future[_HostSlot] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            slot = await waiter
        await self._host_run(slot, inputs, positions, outs)

    async def _new_slot(self) -> _HostSlot:
        take = self.device._take_async
        slot = _HostSlot()
        self._slots.append(slot)
        try:
            slot.tensors = [await take(w, n, b) for w, n, b in self._arg_specs]
            for j in self.in_graph:
                numel, _, webnn, nbytes = self.outputs[j]
                slot.tensors.append(await take(webnn, numel, nbytes))
            if self.closed:  # closed while its tensors were made
                raise self._closed_error()
        except BaseException:
            if slot in self._slots:
                self._slots.remove(slot)
            self._free_slot(slot)
            raise
        args, outs = slot.tensors[: len(self._arg_specs)], slot.tensors[len(self._arg_specs) :]
        slot.js = _glue().host(
            self.plan,
            _compat.to_js([h.tensor for h in args]),
            _compat.to_js([h.tensor for h in outs]),
            _compat.wasm_heap(),
        )
        return slot

    async def _host_run(
        self,
        slot: _HostSlot,
        inputs: Sequence[Any],
        positions: tuple[int, ...],
        outs: Sequence[Any],
    ) -> None:
        try:
            if self.closed:  # closed while this call waited for its slot
                raise self._closed_error()
            entry = slot.reads.get(positions)
            if entry is None:
                entry = self._bind_reads(slot, positions)
            by_addr, by_obj, wanted = entry
            address = _compat.wasm_address
            if wanted is None:  # the common case: one argument, one result
                x, y = inputs[0], outs[0]
                ax, ay = address(x), address(y)
                pending = by_obj(x, y) if ax is None or ay is None else by_addr(ax, ay)
            else:
                objs = [inputs[i] for i in self.arg_order] + [outs[k] for k in wanted]
                addrs = [address(o) for o in objs]
                # a buffer with no cheap address: hand JS the objects instead
                pending = by_obj(*objs) if None in addrs else by_addr(*addrs)
            await pending
        except Exception as exc:
            lost = self.device.lost_error(exc)
            if lost is not None:
                raise lost from exc
            raise
        finally:
            self._give_back(slot)

    def _give_back(self, slot: _HostSlot) -> None:
        if self.closed:
            self._free_slot(slot)
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():  # a waiter cancelled meanwhile is passed over
                waiter.set_result(slot)
                return
        self._idle.append(slot)

    def _free_slot(self, slot: _HostSlot) -> None:
        for h in slot.tensors:
            self.device.free(h, h.nbytes)
        slot.tensors, slot.js, slot.reads = [], None, {}

    def _closed_error(self) -> Exception:
        """Why a closed plan cannot run: its context was lost (the trace recompiles on the
        rebuilt device; ``run_async`` retries), or its trace was evicted."""
        if self.device.generation != self.generation:
            return DeviceLostError(
                "this replay plan was closed: its WebNN context was lost (the captured graph "
                "recompiles on the new one)"
            )
        return RuntimeError("this replay plan was closed (its capture trace was evicted)")

    def _bind_reads(
        self, slot: _HostSlot, positions: tuple[int, ...]
    ) -> tuple[Any, Any, list[int] | None]:
        where = {p: k for k, p in enumerate(self.in_graph)}
        wanted = [k for k, p in enumerate(positions) if p in where]
        sizes = [b for _, _, b in self._arg_specs]
        sizes += [self.outputs[positions[k]][3] for k in wanted]
        reads = _compat.to_js([where[positions[k]] for k in wanted])
        glue = _glue()
        one = list(self.arg_order) == [0] and wanted == [0] and len(positions) == 1
        entry = slot.reads[positions] = (
            glue.runAddr.bind(glue, slot.js, self.host_read, reads, _compat.to_js(sizes)),
            glue.runHost.bind(glue, slot.js, self.host_read, reads),
            None if one else wanted,  # None: one argument, one result (host_call's shortcut)
        )
        return entry

    async def run_host_async(
        self, inputs: Sequence[Any], positions: Sequence[int], outs: Sequence[Any]
    ) -> None:
        """``host_call``, awaited."""
        pending = self.host_call(inputs, tuple(positions), outs)
        if pending is not None:
            await pending

    def __call__(self, args: Sequence[Storage]) -> list[Storage]:
        if self.closed:
            raise self._closed_error()
        device = self.device
        take = device._take
        handles = [take(webnn, numel, nbytes) for numel, _, webnn, nbytes in self.outputs]
        if self.plan is not None:
            tensors = [args[i].handle.tensor for i in self.arg_order]
            try:
                self._run(self.plan, *tensors, *[handles[j].tensor for j in self.in_graph])
            except Exception as exc:
                for h in handles:
                    device.free(h, h.nbytes)
                lost = device.lost_error(exc)
                if lost is not None:
                    raise lost from exc
                raise
        return [
            Storage(device, h, numel, dtype)
            for h, (numel, dtype, _, _) in zip(handles, self.outputs, strict=True)
        ]

    def close(self) -> None:
        """Release the plan now (``capture`` evicting this trace, or recompiling it after a
        context loss): its argument/output tensors go back to the device (a slot in
        use when its call ends), the constants' storages are released, calls waiting for a
        slot fail, and the ``MLGraph`` is destroyed (it holds its own copy of the weight
        constants). Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.plan is not None:
            _glue().destroy(self.plan)
            self.plan = None
        for s in self.consts:
            s.release()
        for slot in self._idle:
            self._free_slot(slot)
        self._idle, self._slots = [], []
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(self._closed_error())
        self.consts = []
        graph, self.graph = self.graph, None
        if graph is not None and hasattr(graph, "destroy"):
            graph.destroy()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # the device may be gone already
            pass

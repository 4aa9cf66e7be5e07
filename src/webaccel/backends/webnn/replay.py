"""Replay plans for captured graphs (``webaccel.capture``) on the webnn device.

A captured program is already one ``MLGraph``; what a plain ``device.run`` still pays per call
is converting the input and output lists for the FFI and building the ``{name: MLTensor}``
records. A ``ReplayPlan`` builds the records once in ``js_glue/webnn_replay.js``, with the
captured constants (weights) bound for good, so a run is: output ``MLTensor``s from the
device's pool, then one JS call that binds the argument and output tensors and dispatches.
Arguments are dispatched directly (their storages are ``MLTensor``s): no ``writeTensor``.

``host_call`` is ``Captured.run_async``'s fast path: the plan owns one argument
``MLTensor`` per arg-fed graph input and one per graph output (made on first use, bound in a
second pair of records), and one JS call (``runHost``) writes each argument straight from
Python memory, dispatches, and reads each wanted output straight into Python memory; Python
crosses the FFI once and awaits once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import _compat
from ...device import Replay, Storage


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
        self._host: list[Any] | None = None  # plan-owned NNBuffers: arguments, then outputs
        self._arg_specs: list[tuple[str, int, int]] = []
        for slot in compiled.in_slots:
            if sources[slot][0] == "arg":
                numel, dtype = compiled.program.inputs[slot]
                self._arg_specs.append((dtype.webnn, numel, dtype.nbytes(numel)))
        self._reads: dict[tuple[int, ...], tuple[Any, Any, list[int] | None]] = {}

    # "view": readTensor into views of Python memory; "copy": into JS ArrayBuffers, then one
    # copy each (see webnn_replay.js runHost)
    host_read = "copy"  # runAddr: into plan-owned JS buffers, then one copy; "view" no faster

    def _host_tensors(self) -> None:
        take = self.device._take
        args = [take(w, n, b) for w, n, b in self._arg_specs]
        outs = [
            take(self.outputs[j][2], self.outputs[j][0], self.outputs[j][3]) for j in self.in_graph
        ]
        self._host = args + outs
        _glue().host(
            self.plan,
            _compat.to_js([h.tensor for h in args]),
            _compat.to_js([h.tensor for h in outs]),
            _compat.wasm_heap(),
        )

    def host_call(
        self, inputs: Sequence[Any], positions: tuple[int, ...], outs: Sequence[Any]
    ) -> Any:
        """Start one run from host memory: write *inputs* (host buffers, one per captured
        argument), dispatch, and read the program outputs at *positions* into the host buffers
        *outs*. Returns the JS promise to await (None when there is nothing to run).

        A plain function, not a coroutine, and as few Python steps as we can manage: this is
        the per-call cost ``Captured.run_async`` adds to the graph's own time (the webnn
        benchmark's block is ~1.3 ms, and each Python layer around the JS call measured 3-5% of
        it there). Per *positions* the JS function is bound once to the plan, the read list and
        the byte sizes, so a call passes only the buffers' wasm addresses."""
        if self.closed:
            raise RuntimeError("this replay plan was closed (its capture trace was evicted)")
        if self.plan is None:  # every output empty: nothing to run or read
            return None
        entry = self._reads.get(positions)
        if entry is None:
            entry = self._bind_reads(positions)
        by_addr, by_obj, wanted = entry
        address = _compat.wasm_address
        if wanted is None:  # the common case: one argument, one result
            x, y = inputs[0], outs[0]
            ax, ay = address(x), address(y)
            if ax is None or ay is None:
                return by_obj(x, y)
            return by_addr(ax, ay)
        objs = [inputs[i] for i in self.arg_order] + [outs[k] for k in wanted]
        addrs = [address(o) for o in objs]
        if None in addrs:  # a buffer with no cheap address: hand JS the objects instead
            return by_obj(*objs)
        return by_addr(*addrs)

    def _bind_reads(self, positions: tuple[int, ...]) -> tuple[Any, Any, list[int] | None]:
        if self._host is None:
            self._host_tensors()
        where = {p: k for k, p in enumerate(self.in_graph)}
        wanted = [k for k, p in enumerate(positions) if p in where]
        sizes = [b for _, _, b in self._arg_specs]
        sizes += [self.outputs[positions[k]][3] for k in wanted]
        reads = _compat.to_js([where[positions[k]] for k in wanted])
        glue = _glue()
        one = list(self.arg_order) == [0] and wanted == [0] and len(positions) == 1
        entry = self._reads[positions] = (
            glue.runAddr.bind(glue, self.plan, self.host_read, reads, _compat.to_js(sizes)),
            glue.runHost.bind(glue, self.plan, self.host_read, reads),
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
            raise RuntimeError("this replay plan was closed (its capture trace was evicted)")
        device = self.device
        take = device._take
        handles = [take(webnn, numel, nbytes) for numel, _, webnn, nbytes in self.outputs]
        if self.plan is not None:
            self._run(
                self.plan,
                *[args[i].handle.tensor for i in self.arg_order],
                *[handles[j].tensor for j in self.in_graph],
            )
        return [
            Storage(device, h, numel, dtype)
            for h, (numel, dtype, _, _) in zip(handles, self.outputs, strict=True)
        ]

    def close(self) -> None:
        """Release the plan now (``capture`` evicting this trace): its argument/output tensors
        go back to the device, the constants' storages are released, and the ``MLGraph`` is
        destroyed (it holds its own copy of the weight constants). Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.plan is not None:
            _glue().destroy(self.plan)
            self.plan = None
        for s in self.consts:
            s.release()
        for h in self._host or ():
            self.device.free(h, h.nbytes)
        self.consts, self._host = [], None
        graph, self.graph = self.graph, None
        if graph is not None and hasattr(graph, "destroy"):
            graph.destroy()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # the device may be gone already
            pass

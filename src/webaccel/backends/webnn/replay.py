"""Replay plans for captured graphs (``webaccel.capture``) on the webnn device.

A captured program is already one ``MLGraph``; what a plain ``device.run`` still pays per call
is converting the input and output lists for the FFI and building the ``{name: MLTensor}``
records. A ``ReplayPlan`` builds the records once in ``js_glue/webnn_replay.js``, with the
captured constants (weights) bound for good, so a run is: output ``MLTensor``s from the
device's pool, then one JS call that binds the argument and output tensors and dispatches.
Arguments are dispatched directly (their storages are ``MLTensor``s): no ``writeTensor``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ... import _compat
from ...devices import Storage


@functools.cache
def _glue() -> Any:
    from ...resources import read_text

    return _compat.run_js(read_text("js_glue", "webnn_replay.js"))


class ReplayPlan:
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

    def __call__(self, args: Sequence[Storage]) -> list[Storage]:
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

    def __del__(self) -> None:
        try:
            if self.plan is not None:
                _glue().destroy(self.plan)
            for s in self.consts:
                s.release()
        except Exception:  # the device may be gone already
            pass

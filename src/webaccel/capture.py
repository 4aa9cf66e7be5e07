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
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import graph
from .devices import Storage
from .graph import Node, Program
from .tensor import Tensor, _buffer_tensor, apply
from .view import View


@dataclass
class Trace:
    program: Program
    compiled: Any
    arg_slots: list[int]  # program input slot of each argument (-1: not read)
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


class Captured:
    """The callable ``capture`` returns; ``.traces`` holds one trace per input signature."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.traces: dict[tuple[Any, ...], Trace] = {}
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Tensor) -> Any:
        for a in args:
            if not isinstance(a, Tensor):
                raise TypeError(f"captured functions take Tensors, got {type(a).__name__}")
        args = tuple(_realized(a) for a in args)
        key = tuple((a.device.name, a._view, a.dtype, a._node.storage.numel) for a in args)
        trace = self.traces.get(key)
        if trace is None:
            trace = self.traces[key] = self._trace(args)
            return self._run(trace, args)
        return self._run(trace, args)

    def _trace(self, args: tuple[Tensor, ...]) -> Trace:
        result = self.fn(*args)
        single = isinstance(result, Tensor)
        results = [result] if single else list(result)
        # Each result must come out of the program as a step; a result that is an argument
        # or a constant gets a copy step so that replays hand back fresh storage.
        results = [r if not r._node.realized else apply("contiguous", r) for r in results]
        nodes = graph.pending_nodes([r._node for r in results])
        program, input_nodes, output_nodes = graph.lower(nodes, {r._node.id for r in results})
        device = results[0].device
        from .passes import optimize

        compiled = device.compile(optimize(program, device))  # same passes as realize
        arg_ids = {a._node.id: i for i, a in enumerate(args)}
        sources: list[tuple[str, int]] = []
        consts: list[Node] = []
        for node in input_nodes:
            if node.id in arg_ids:
                sources.append(("arg", arg_ids[node.id]))
            else:
                sources.append(("const", len(consts)))
                consts.append(node)
        outputs = [(output_nodes.index(r._node), r._view, r.dtype) for r in results]
        trace = Trace(program, compiled, [], consts, sources, outputs, single)
        for position, view, dtype in outputs:
            step = program.steps[program.outputs[position]]
            plain = view == View.contiguous(step.shape) and dtype == step.dtype
            trace.results.append(
                (position, step.shape, step.dtype, None if plain else (view, dtype))
            )
        used = {p for p, _, _ in outputs}
        trace.unused = [i for i in range(len(program.outputs)) if i not in used]
        make_runner = getattr(device, "capture_runner", None)
        if make_runner is not None:
            trace.runner = make_runner(compiled, [n.storage for n in input_nodes], sources)
        return trace

    def _run(self, trace: Trace, args: Sequence[Tensor]) -> Any:
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
        tensors = []
        for position, shape, dtype, view in trace.results:
            t = _buffer_tensor(storages[position], shape, dtype)
            tensors.append(t if view is None else t._with_view(*view))
        for i in trace.unused:  # outputs nobody asked for go back at once
            storages[i].release()
        return tensors[0] if trace.single else tensors


def _realized(t: Tensor) -> Tensor:
    return t.realize() if not t._node.realized else t


def capture(fn: Callable[..., Any]) -> Captured:
    """Trace *fn* on its first call per input signature and replay the compiled graph after."""
    return Captured(fn)

"""The graph IR: nodes recorded by ops, and programs lowered from them. Data only, no execution.

A ``Node`` is one op's output (or a realized buffer). Tensors point at a node through a
``View``; views never make nodes. ``lower`` turns the pending nodes behind some tensors into a
``Program``: steps over numbered inputs, each input a storage seen through a view, hashable by
its structure (ops, attrs, shapes, views, dtypes) so that a device caches what it compiled.
Running programs is the engine's job (``webaccel.engine.realize``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .dtypes import DType
from .view import View

_ids = itertools.count()


class Node:
    """One op's output, or a buffer already on a device (``op == "buffer"``)."""

    __slots__ = (
        "__weakref__",
        "attrs",
        "device",
        "dtype",
        "id",
        "op",
        "shape",
        "srcs",
        "storage",
        "tensor_refs",
    )

    def __init__(
        self,
        op: str,
        srcs: tuple[Ref, ...],
        attrs: tuple[tuple[str, Any], ...],
        shape: tuple[int, ...],
        dtype: DType,
        device: Any,  # a device.Device (the IR sits below the device layer: no import)
        storage: Any = None,  # a device.Storage once realized
    ) -> None:
        self.op, self.srcs, self.attrs = op, srcs, attrs
        self.shape, self.dtype, self.device = shape, dtype, device
        self.storage = storage
        self.tensor_refs = 0
        self.id = next(_ids)

    @property
    def realized(self) -> bool:
        return self.storage is not None

    def __del__(self) -> None:
        # refcount 0: a GC cycle already ran Storage.__del__ on it (finalizer order is arbitrary)
        if self.storage is not None and self.storage.refcount > 0:
            self.storage.release()

    def __repr__(self) -> str:
        state = "realized" if self.realized else "pending"
        return f"<Node {self.id} {self.op} {self.shape} {self.dtype.name} {state}>"


class Ref(NamedTuple):
    """An op input: a node seen through a view, with the dtype the view reads."""

    node: Node
    view: View
    dtype: DType


class Step(NamedTuple):
    """One op of a lowered program (a NamedTuple: hashed in C for the cache lookup)."""

    op: str
    attrs: tuple[tuple[str, Any], ...]
    srcs: tuple[tuple[int, View, DType], ...]  # (slot, view, dtype); slot < n_inputs: an input
    shape: tuple[int, ...]
    dtype: DType

    def attr(self, name: str, default: Any = None) -> Any:
        return dict(self.attrs).get(name, default)


@dataclass(frozen=True)
class Program:
    """A pending graph, lowered: what a backend compiles. Hashable: its own cache key."""

    inputs: tuple[tuple[int, DType], ...]  # (storage elements, dtype) per input slot
    steps: tuple[Step, ...]
    outputs: tuple[int, ...]  # step indices whose buffers come back

    @property
    def n_inputs(self) -> int:
        return len(self.inputs)


def pending_nodes(roots: Sequence[Node]) -> list[Node]:
    """Unrealized nodes behind *roots*, in topological order (inputs first)."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(n, False) for n in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if node.realized or (node.id in seen and not expanded):
            continue
        if expanded:
            order.append(node)
            continue
        seen.add(node.id)
        stack.append((node, True))
        stack.extend(
            (ref.node, False)
            for ref in reversed(node.srcs)
            if not ref.node.realized and ref.node.id not in seen
        )
    return order


def lower(nodes: list[Node], requested: set[int]) -> tuple[Program, list[Node], list[Node]]:
    """The program for *nodes*; also its input nodes (realized) and its output nodes."""
    slots: dict[int, int] = {}
    input_nodes: list[Node] = []
    for node in nodes:
        for ref in node.srcs:
            if ref.node.realized and ref.node.id not in slots:
                slots[ref.node.id] = len(input_nodes)
                input_nodes.append(ref.node)
    steps: list[Step] = []
    for node in nodes:
        slots[node.id] = len(input_nodes) + len(steps)
        srcs = tuple((slots[r.node.id], r.view, r.dtype) for r in node.srcs)
        steps.append(Step(node.op, node.attrs, srcs, node.shape, node.dtype))
    outputs = [i for i, n in enumerate(nodes) if n.id in requested or n.tensor_refs > 0]
    program = Program(
        tuple((n.storage.numel, n.storage.dtype) for n in input_nodes),  # type: ignore[union-attr]
        tuple(steps),
        tuple(outputs),
    )
    return program, input_nodes, [nodes[i] for i in outputs]

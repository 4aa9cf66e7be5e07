"""Lazy graph capture: ops record nodes; materialization compiles the pending graph and runs it.

A ``Node`` is one op's output (or a realized buffer). Tensors point at a node through a
``View``; views never make nodes. ``realize`` walks the unrealized nodes behind the requested
tensors, lowers them to a ``Program`` (steps over numbered inputs, each input a storage seen
through a view), looks the program up by its structural key (ops, attrs, shapes, views, dtypes)
in the device's cache, compiles it on a miss, and runs it as one submission. Outputs are the
requested nodes and any other node a live Tensor still holds.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .dtypes import DType
from .view import View

if TYPE_CHECKING:
    from .devices import Device, Storage

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
        device: Device,
        storage: Storage | None = None,
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


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    runs: int = 0
    compiled: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "runs": self.runs,
            "programs": len(self.compiled),
        }


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


def realize(roots: Sequence[Node]) -> None:
    """Compute every pending node behind *roots* and keep the outputs.

    Nodes are placed per op (``placement``): usually the whole graph runs on its home backend
    as one program; ops the home backend lacks run on another backend, in maximal
    same-backend partitions, with tensors copied across only at partition edges.
    """
    nodes = pending_nodes(roots)
    if not nodes:
        return
    from .placement import partition, place_node

    where = {n.id: place_node(n).device for n in nodes}
    groups = partition(nodes, where)
    wanted = {n.id for n in roots}
    for i, (device, group) in enumerate(groups):
        later_reads = {r.node.id for _, g in groups[i + 1 :] for n in g for r in n.srcs}
        _run_group(device, group, wanted | later_reads)


def _run_group(device: Device, nodes: list[Node], requested: set[int]) -> None:
    program, input_nodes, output_nodes = lower(nodes, requested)
    stats = device.cache
    compiled = stats.compiled.get(program)
    if compiled is None:
        stats.misses += 1
        from .passes import optimize  # graph-level rewrites; cached under the original program

        compiled = device.compile(optimize(program, device))
        stats.compiled[program] = compiled
    else:
        stats.hits += 1
    stats.runs += 1
    inputs, moved = [], []
    for node in input_nodes:
        storage = node.storage
        if storage.device is not device:  # a partition edge: copy across once
            storage = device.transfer(storage)
            moved.append(storage)
        inputs.append(storage)
    try:
        storages = device.run(compiled, inputs)
    finally:
        for storage in moved:
            storage.release()
    for node, storage in zip(output_nodes, storages, strict=True):
        node.storage = storage
        node.srcs = ()  # the graph behind a realized node can go

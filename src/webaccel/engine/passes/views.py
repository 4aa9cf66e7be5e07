"""A ``contiguous`` copy of a program input's view is dropped when every consumer reads strided
views on every backend and the consumer's view composes with it."""

from __future__ import annotations

import math

from ... import ops
from ...ir import Step
from ...view import View
from .rewrite import Graph

# Ops whose lowerings on every backend read any strided view of an input.
_READERS = ("where", "cast", "sum", "mean", "max", "min", "matmul", "linear", "softmax")
VIEW_READERS = frozenset((*ops.UNARY, *ops.BINARY, *_READERS, "layer_norm"))


def _compose(base: View, seen: View) -> View | None:
    """The view of the storage that reads what *seen* reads of a dense copy of *base*, when
    *seen* is a permutation of a reshape of that copy (None otherwise)."""
    if seen.offset or math.prod(seen.shape) != math.prod(base.shape):
        return None
    order = sorted(range(len(seen.shape)), key=lambda a: -seen.strides[a])
    dense = seen.permute(tuple(order))
    if not dense.is_contiguous():
        return None
    flat = base if dense.shape == base.shape else base.reshape(dense.shape)
    if flat is None:
        return None
    inverse = [0] * len(order)
    for k, a in enumerate(order):
        inverse[a] = k
    return flat.permute(tuple(inverse))


def contiguous(g: Graph, i: int) -> bool:
    step = g.steps[i]
    assert step is not None
    if step.op != "contiguous" or i in g.outputs:
        return False
    slot, view, dtype = step.srcs[0]
    if slot >= g.n or dtype != g.input_dtypes[slot] or dtype != step.dtype:
        return False
    readers = g.consumers.get(i, [])
    if not readers:
        return False
    rewritten: dict[int, Step] = {}
    for c in readers:
        consumer = g.steps[c]
        assert consumer is not None
        if consumer.op not in VIEW_READERS:
            return False
        srcs = []
        for ref in consumer.srcs:
            if ref[0] != g.n + i:
                srcs.append(ref)
                continue
            composed = _compose(view, ref[1]) if ref[2] == dtype else None
            if composed is None:
                return False
            srcs.append((slot, composed, dtype))
        rewritten[c] = consumer._replace(srcs=tuple(srcs))
    for new in rewritten.values():
        if not g.allowed(new):
            return False
    for c, new in rewritten.items():
        g.steps[c] = new
    g.steps[i] = None
    g._consumers = None
    return True

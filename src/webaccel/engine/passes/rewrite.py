"""The rewriting machinery the passes share: a ``Graph`` of a program's steps that a pattern
matches against and replaces in, and small matching helpers."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ... import ops
from ...dtypes import DType
from ...ir import Program, Step
from ...view import View
from ..placement import denied

Ref = tuple[int, View, DType]  # a step source: (slot, view, dtype)


def close_to(value: float | None, want: float, rel: float = 1e-6) -> bool:
    """*value* is *want* up to float32 rounding of the constant (and of products of them)."""
    return value is not None and abs(value - want) <= rel * abs(want)


class Graph:
    """A program being rewritten: steps keep their slots; removed ones become ``None``."""

    def __init__(self, program: Program, device: Any) -> None:
        self.n = program.n_inputs
        self.steps: list[Step | None] = list(program.steps)
        self.outputs = set(program.outputs)
        self.input_dtypes = [d for _, d in program.inputs]
        self.device = device
        self.referenced = {s - self.n for st in program.steps for s, _, _ in st.srcs if s >= self.n}
        self._consumers: dict[int, list[int]] | None = None

    # -- structure -------------------------------------------------------------------------------
    @property
    def consumers(self) -> dict[int, list[int]]:
        if self._consumers is None:
            out: dict[int, list[int]] = {}
            for i, step in enumerate(self.steps):
                if step is not None:
                    for slot, _, _ in step.srcs:
                        if slot >= self.n:
                            out.setdefault(slot - self.n, []).append(i)
            self._consumers = out
        return self._consumers

    def step(self, ref: Ref) -> tuple[int, Step] | None:
        """The step that *ref* reads (None for a program input)."""
        slot = ref[0]
        if slot < self.n:
            return None
        step = self.steps[slot - self.n]
        return None if step is None else (slot - self.n, step)

    def dense(self, ref: Ref, op: str | Iterable[str] | None = None) -> tuple[int, Step] | None:
        """The float32 step *ref* reads whole, in its own shape (optionally of op *op*)."""
        found = self.step(ref)
        if found is None:
            return None
        i, step = found
        view = ref[1]
        if op is not None and step.op not in ((op,) if isinstance(op, str) else op):
            return None
        if step.dtype.name != "float32" or ref[2] != step.dtype:
            return None
        if view.shape != step.shape or not view.is_contiguous() or view.offset:
            return None
        return i, step

    def reduced(self, ref: Ref, op: str, axes: tuple[int, ...], keep: tuple[int, ...]) -> int:
        """The index of the *op* reduction over *axes* that *ref* reads as a broadcastable
        whole of shape *keep* (keepdims, or fewer leading dims); -1 if it is not one."""
        found = self.step(ref)
        if found is None:
            return -1
        i, step = found
        view = ref[1]
        if step.op != op or step.attr("axes") != axes or step.dtype.name != "float32":
            return -1
        if ref[2] != step.dtype or not view.is_contiguous() or view.offset:
            return -1
        if math.prod(view.shape) != math.prod(step.shape) or not bcast_same(view.shape, keep):
            return -1
        return i

    def const(self, ref: Ref) -> float | None:
        """The value of a float ``full`` constant that *ref* reads, else None."""
        found = self.step(ref)
        if found is None:
            return None
        _, step = found
        value = step.attr("value")
        if step.op != "full" or step.dtype.kind != "f" or isinstance(value, bool):
            return None
        if not isinstance(value, int | float):
            return None
        return float(value)

    def private(self, root: int, inner: Iterable[int]) -> bool:
        """Every step of *inner* (all but *root*) is read only inside ``inner + root`` and is
        no program output: the pattern can go without anyone missing a value."""
        members = {root, *inner}
        for i in members - {root}:
            if i in self.outputs:
                return False
            if any(c not in members for c in self.consumers.get(i, [])):
                return False
        return True

    # -- rewriting -------------------------------------------------------------------------------
    def allowed(self, step: Step, extra_ops: Iterable[str] = ()) -> bool:
        device = self.device
        if device is None:
            return True
        if any(denied(op, device.name) for op in (step.op, *extra_ops)):
            return False
        try:
            return bool(device.supports(step))
        except Exception:  # a support probe that fails means "no"
            return False

    def replace(
        self,
        root: int,
        new: Step,
        inner: Iterable[int],
        extra_ops: Iterable[str] = (),
    ) -> bool:
        """Put *new* in place of step *root* and drop *inner*; checked, or nothing changes."""
        old = self.steps[root]
        assert old is not None
        inner = set(inner) - {root}
        if not self.private(root, inner):
            return False
        shapes = [view.shape for _, view, _ in new.srcs]
        dtypes = [dtype for _, _, dtype in new.srcs]
        try:
            shape, dtype = ops.infer(new.op, shapes, dtypes, **dict(new.attrs))
        except (ops.ShapeError, ops.DTypeError, TypeError, ValueError):
            return False
        if tuple(shape) != tuple(old.shape) or dtype != old.dtype:
            return False
        if new.shape != old.shape or new.dtype != old.dtype:
            return False
        for slot, _, _ in new.srcs:  # reads only what stays
            if slot >= self.n and (slot - self.n in inner or slot - self.n >= root):
                return False
        if not self.allowed(new, extra_ops):
            return False
        for i in inner:
            self.steps[i] = None
        self.steps[root] = new
        self._consumers = None
        return True

    def finish(self, program: Program) -> Program:
        """Drop constants nothing reads any more and renumber the slots."""
        changed = True
        while changed:
            changed = False
            consumers = self.consumers
            for i, step in enumerate(self.steps):
                if (
                    step is not None
                    and i not in self.outputs
                    and i in self.referenced
                    and not consumers.get(i)
                ):
                    self.steps[i] = None
                    self._consumers = None
                    changed = True
        index: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            if step is not None:
                index[i] = len(index)
        n = self.n
        steps = []
        for step in self.steps:
            if step is None:
                continue
            srcs = tuple(
                (slot if slot < n else n + index[slot - n], view, dtype)
                for slot, view, dtype in step.srcs
            )
            steps.append(step if srcs == step.srcs else step._replace(srcs=srcs))
        outputs = tuple(index[i] for i in program.outputs)
        return Program(program.inputs, tuple(steps), outputs)


def bcast_same(shape: tuple[int, ...], full: tuple[int, ...]) -> bool:
    """*shape* is *full* with some leading size-1 dims left out (same data, same broadcast)."""
    lead = len(full) - len(shape)
    return lead >= 0 and full[lead:] == shape and all(d == 1 for d in full[:lead])


def keep_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def is_f32(*items: Step | Ref) -> bool:
    for item in items:
        dtype = item.dtype if isinstance(item, Step) else item[2]
        if dtype.name != "float32":
            return False
    return True


def product(g: Graph, root: int) -> tuple[float, list[Ref], set[int]] | None:
    """Step *root* (a mul, or a div by a constant) as ``const * prod(leaves)``.

    It descends into factors that are float32 muls / divs by a constant of the same shape,
    read whole and only by this product (nothing else needs them); other factors are leaves.
    Returns (product of the constants, the leaves, the steps of the product).
    """
    top = g.steps[root]
    assert top is not None

    def scale(step: Step) -> float | None:
        """1 for a mul, 1 / c for a div by a constant c; None for anything else."""
        if step.op == "mul":
            return 1.0
        c = g.const(step.srcs[1]) if step.op == "div" else None
        return None if c is None or c == 0 else 1.0 / c

    if scale(top) is None or not is_f32(top):
        return None
    const = 1.0
    leaves: list[Ref] = []
    inner: set[int] = set()
    todo = [(root, top)]
    while todo:
        i, step = todo.pop()
        inner.add(i)
        const *= scale(step)  # type: ignore[operator]
        for ref in step.srcs[:2] if step.op == "mul" else step.srcs[:1]:
            c = g.const(ref)
            if c is not None:
                const *= c
                continue
            found = g.dense(ref, ("mul", "div"))
            if (
                found is not None
                and scale(found[1]) is not None
                and found[1].shape == top.shape
                and found[0] not in g.outputs
                and g.consumers.get(found[0]) == [i]
            ):
                todo.append(found)
                continue
            leaves.append(ref)
    return const, leaves, inner


def same_input(ref: Ref, shape: tuple[int, ...]) -> bool:
    """*ref* is read in the pattern's own shape (no broadcast of the pattern's input)."""
    return ref[1].shape == shape and ref[2].name == "float32"

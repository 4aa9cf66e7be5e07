"""Fusion of elementwise chains in a lowered ``Program``, shared by the backends.

An elementwise step (unary, binary, where, cast, or a scalar ``full``) whose only consumers are
elementwise steps of the same program, that reads it whole (same shape, dense view), and that no
live tensor needs, is inlined into its consumer. Each remaining elementwise step becomes one
``Fused`` kernel: an expression tree over the inputs it still reads from memory.

A fused kernel must give what the unfused program gives: where an inlined step's result is
float16 (which the unfused program rounds when it stores it), the tree keeps that rounding point
as ``("cast", child, "float16")``, and float16 constants carry their float16-rounded value
(``0.1`` is 0.0999755859375, ``1e38`` is inf). A backend's expression compiler must round at a
cast to float16 (with overflow to +-inf), even when it computes float16 in float32.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from ..dtypes import DType
from ..ir import Program, Step
from ..ops import OPS

ELEMENTWISE_KINDS = ("unary", "binary", "ternary")

# Expression tree (the format of backends/webgpu/kernels/expr.py): ("in", k) reads fused input k;
# ("const", value, dtype_name) is a scalar; (op, child, ...) applies an elementwise op;
# ("cast", child, dtype_name); gelu's tanh form is "gelu_tanh".
Expr = tuple[Any, ...]


@dataclass(frozen=True)
class Fused:
    """One elementwise kernel: ``expr`` over ``inputs`` (slot, view, dtype) -> step ``index``."""

    index: int
    expr: Expr
    inputs: tuple[tuple[int, Any, DType], ...]
    shape: tuple[int, ...]
    dtype: DType

    @property
    def op_count(self) -> int:
        return _count(self.expr)


def _count(expr: Expr) -> int:
    if expr[0] in ("in", "const"):
        return 0
    children = expr[1:2] if expr[0] == "cast" else expr[1:]
    return 1 + sum(_count(c) for c in children)


def is_elementwise(step: Step) -> bool:
    return OPS[step.op].kind in ELEMENTWISE_KINDS or is_scalar_const(step)


def is_scalar_const(step: Step) -> bool:
    return step.op == "full" and step.shape == ()


def plan(program: Program) -> list[Fused | int]:
    """The program as kernels: ``Fused`` for elementwise groups, the step index otherwise."""
    n = program.n_inputs
    steps = program.steps
    consumers: dict[int, list[int]] = {}
    for i, step in enumerate(steps):
        for slot, _, _ in step.srcs:
            if slot >= n:
                consumers.setdefault(slot - n, []).append(i)
    outputs = set(program.outputs)

    def inlinable(producer: int, consumer: int, view: Any) -> bool:
        p = steps[producer]
        if producer in outputs or not is_elementwise(p) or not is_elementwise(steps[consumer]):
            return False
        if any(c != consumer for c in consumers.get(producer, [])):
            return False
        if is_scalar_const(p):
            return True
        return view.shape == p.shape and view.is_contiguous() and view.offset == 0

    inlined: set[int] = set()
    for i, step in enumerate(steps):
        for slot, view, _ in step.srcs:
            if slot >= n and inlinable(slot - n, i, view):
                inlined.add(slot - n)

    kernels: list[Fused | int] = []
    for i, step in enumerate(steps):
        if i in inlined:
            continue
        if not is_elementwise(step):
            kernels.append(i)
            continue
        inputs: list[tuple[int, Any, DType]] = []
        expr = _expr(i, steps, n, inlined, inputs)
        kernels.append(Fused(i, expr, tuple(inputs), step.shape, step.dtype))
    return kernels


def _rounds_to_half(step: Step, k: int, src_dtype: DType) -> bool:
    """Whether operand *k* of *step* is an integer one its float16 result converts first."""
    if step.dtype.name != "float16" or step.op == "cast" or (step.op == "where" and k == 0):
        return False
    return src_dtype.name in ("int32", "int8", "uint8")


def f16_value(value: Any) -> float:
    """*value* rounded to float16 (overflow to +-inf), as a float16 constant holds it."""
    try:
        return struct.unpack("<e", struct.pack("<e", float(value)))[0]
    except OverflowError:  # beyond the float16 range: round to nearest gives inf
        return math.copysign(math.inf, float(value))


def _expr(
    i: int, steps: tuple[Step, ...], n: int, inlined: set[int], inputs: list[tuple[int, Any, DType]]
) -> Expr:
    step = steps[i]
    if is_scalar_const(step):
        value = step.attr("value")
        if step.dtype.name == "float16" and not isinstance(value, bool):
            value = f16_value(value)  # the constant the unfused program would store
        return ("const", value, step.dtype.name)
    children = []
    for k, src in enumerate(step.srcs):
        slot, _, src_dtype = src
        if slot >= n and slot - n in inlined:
            child = _expr(slot - n, steps, n, inlined, inputs)
            rounded = child[0] == "const" or child[:1] + child[2:] == ("cast", "float16")
            if steps[slot - n].dtype.name == "float16" and not rounded:
                # the written program rounds this value to float16 when it stores it: a fused
                # kernel keeps the rounding point (kernels compute float16 in float32)
                child = ("cast", child, "float16")
            src_dtype = steps[slot - n].dtype
        else:
            if src not in inputs:
                inputs.append(src)
            child = ("in", inputs.index(src))
        if _rounds_to_half(step, k, src_dtype):
            # ops.py: an int32 operand of a float16 op is converted to float16 first (65520
            # is inf there); the kernel computes in float32, so the conversion is written out
            child = ("cast", child, "float16")
        children.append(child)
    if step.op == "cast":
        return ("cast", children[0], step.dtype.name)
    if step.op == "gelu" and step.attr("approximate") == "tanh":
        return ("gelu_tanh", *children)
    return (step.op, *children)

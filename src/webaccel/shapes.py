"""Shape arithmetic every layer shares: element counts, row-major strides, NumPy broadcasting,
a reshape's ``-1``. Pure functions over tuples of ints; ``View`` (view.py) builds on them.

The checking front ends stay with their callers (``ops.broadcast_shapes`` raises a
``ShapeError`` naming the op); these raise ``ValueError`` with the facts. The argument rules at
the end (``check_int``, ``check_shape`` ...) are the exception: every public call uses them to
say, naming its op and argument, what an int, a size or a shape is.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence

from .errors import ShapeError


def numel(shape: Sequence[int]) -> int:
    """The number of elements of *shape* (1 for the 0-d shape ``()``)."""
    return math.prod(shape)


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Row-major element strides of *shape* (a zero-size axis counts as 1, so strides stay
    distinct and positive)."""
    strides, acc = [], 1
    for dim in reversed(shape):
        strides.append(acc)
        acc *= max(dim, 1)
    return tuple(reversed(strides))


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """NumPy's broadcast of *shapes* (tuples); ValueError naming the first axis that clashes."""
    first = shapes[0] if shapes else ()
    if all(s == first for s in shapes) or all(not s for s in shapes[1:]):
        return first  # the common cases (same shape, or 0-d scalars): no per-axis work
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(-ndim, 0):
        dims = {s[axis] for s in shapes if len(s) >= -axis} - {1}
        if len(dims) > 1:
            raise ValueError(
                f"shapes {' and '.join(map(str, shapes))} do not broadcast: axis {axis} "
                f"has sizes {sorted(dims)} (NumPy rule: sizes must be equal or 1)"
            )
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def infer_reshape(shape: Sequence[int], new: Sequence[int]) -> tuple[int, ...]:
    """*new* with its one ``-1`` filled in so that it holds the elements of *shape*."""
    dims = tuple(int(d) for d in new)
    n = numel(shape)
    if dims.count(-1) > 1:
        raise ValueError(f"only one -1 allowed in {dims}")
    if -1 in dims:
        known = numel([d for d in dims if d != -1])
        if known == 0 or n % known:
            raise ValueError(f"cannot reshape {tuple(shape)} ({n} elements) into {dims}")
        dims = tuple(n // known if d == -1 else d for d in dims)
    if numel(dims) != n:
        raise ValueError(f"cannot reshape {tuple(shape)} ({n} elements) into {dims}")
    return dims


# --- argument rules ------------------------------------------------------------------------------
# Every public call checks its integer arguments here, so "what is an int" is decided once:
# Python ints and NumPy integers are; bools are not (True is not a size or an axis, though
# Python counts it as 1), and neither are floats, even integral ones (2.0), as in NumPy.


def as_integer(value: object) -> int | None:
    """*value* as an int when it is an integer (a Python int or a NumPy integer, not a bool);
    None for anything else (floats included)."""
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):  # NumPy's too
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) or not hasattr(type(value), "__index__"):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def describe(value: object) -> str:
    """*value* for an error message: its type and a short repr."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _not_an_int(op: str, arg: str, value: object) -> TypeError:
    why = " (a float is not an int here, even when integral)" if isinstance(value, float) else ""
    why = " (a bool is not an int here)" if isinstance(value, bool) else why
    return TypeError(f"{op}: {arg} must be an int, not {describe(value)}{why}")


def check_int(op: str, arg: str, value: object, minimum: int | None = None) -> int:
    """*value* as an int, or a TypeError (not an integer) / ValueError (below *minimum*)
    naming *op*, the argument and the rule."""
    n = as_integer(value)
    if n is None:
        raise _not_an_int(op, arg, value)
    if minimum is not None and n < minimum:
        rule = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")
        raise ValueError(f"{op}: {arg} must be {rule}, got {n}")
    return n


def check_ints(op: str, arg: str, value: object, minimum: int | None = None) -> tuple[int, ...]:
    """A sequence of ints, each checked as ``check_int`` does (``arg[k]`` in the message)."""
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Iterable):
        raise TypeError(f"{op}: {arg} must be a sequence of ints, not {describe(value)}")
    return tuple(check_int(op, f"{arg}[{k}]", v, minimum) for k, v in enumerate(value))


def check_shape(op: str, arg: str, value: object, wildcard: bool = False) -> tuple[int, ...]:
    """A shape: a sequence of ints >= 0 (*wildcard*: one of them may be -1, to be inferred).
    A negative size is a ShapeError; a non-integer a TypeError."""
    dims = check_ints(op, arg, value)
    for k, d in enumerate(dims):
        if d < 0 and not (wildcard and d == -1):
            allowed = " (or one -1, inferred)" if wildcard else ""
            raise ShapeError(f"{op}: {arg}[{k}] is {d}; sizes must be >= 0{allowed}, in {dims}")
    if wildcard and dims.count(-1) > 1:
        raise ShapeError(f"{op}: only one -1 allowed in {arg} {dims}")
    return dims

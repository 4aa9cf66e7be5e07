"""Shape arithmetic every layer shares: element counts, row-major strides, NumPy broadcasting,
a reshape's ``-1``. Pure functions over tuples of ints; ``View`` (view.py) builds on them.

The checking front ends stay with their callers (``ops.broadcast_shapes`` raises a
``ShapeError`` naming the op); these raise ``ValueError`` with the facts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


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

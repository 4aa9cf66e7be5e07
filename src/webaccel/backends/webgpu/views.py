"""Strided views over GPU buffers, and the shape math every kernel shares (pure Python).

``StridedView(buffer, shape, strides=None, offset=0, dtype="float32")`` describes a tensor that
lives in a GPU buffer: ``strides`` and ``offset`` count *elements*, so transposes, slices,
broadcasts (stride 0), negative strides and reshapes of existing buffers are views, not copies.
``strides=None`` means C-contiguous. ``buffer`` is a ``runtime.GPUBufferHandle`` (or anything,
in host tests). Views are immutable; ``permute``, ``broadcast_to``, ``reshape`` (only where the
strides allow it), ``slice_axis``, ``expand_dims`` and ``contiguous_view`` return new views.

Dtypes: ``float32`` and ``int32`` (4 bytes), ``float16`` (2 bytes; read and written through
``u32`` words and ``unpack2x16float``/``pack2x16float``, computed in f32), ``bool`` is stored as
``int32`` 0/1.

Helpers (host-testable): ``broadcast_shapes``, ``coalesce`` (merge dims that are contiguous in
every operand, so most kernels run at rank 1), ``dispatch_1d`` (workgroup counts under the
65535-per-dimension limit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

DTYPE_SIZES = {"float32": 4, "int32": 4, "float16": 2, "bool": 4}
# The type a value of each storage dtype has inside a kernel.
COMPUTE_TYPES = {"float32": "f32", "float16": "f32", "int32": "i32", "bool": "i32"}
MAX_RANK = 8
MAX_WORKGROUPS_PER_DIM = 65535


def itemsize(dtype: str) -> int:
    try:
        return DTYPE_SIZES[dtype]
    except KeyError:
        raise ValueError(
            f"unsupported dtype {dtype!r}; expected one of {list(DTYPE_SIZES)}"
        ) from None


def contiguous_strides(shape: Sequence[int]) -> tuple[int, ...]:
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(int(n), 1)
    return tuple(reversed(strides))


def numel(shape: Sequence[int]) -> int:
    return math.prod(int(n) for n in shape)


@dataclass(frozen=True)
class StridedView:
    """A tensor in a GPU buffer: element ``offset`` and element ``strides`` over ``shape``."""

    buffer: Any
    shape: tuple[int, ...]
    strides: tuple[int, ...] | None = None
    offset: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        strides = contiguous_strides(shape) if self.strides is None else tuple(self.strides)
        if len(strides) != len(shape):
            raise ValueError(f"strides {strides} do not match shape {shape}")
        if len(shape) > MAX_RANK:
            raise ValueError(f"rank {len(shape)} > {MAX_RANK}")
        itemsize(self.dtype)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "strides", tuple(int(s) for s in strides))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return numel(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the elements if stored contiguously (what a readback of an output needs)."""
        return self.size * itemsize(self.dtype)

    @property
    def is_contiguous(self) -> bool:
        want = contiguous_strides(self.shape)
        return all(n == 1 or s == c for n, s, c in zip(self.shape, self.strides, want, strict=True))

    def permute(self, axes: Sequence[int]) -> StridedView:
        axes = [a % self.ndim for a in axes] if self.ndim else []
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"bad permutation {axes} for rank {self.ndim}")
        return replace(
            self,
            shape=tuple(self.shape[a] for a in axes),
            strides=tuple(self.strides[a] for a in axes),
        )

    def transpose(self, a: int = -2, b: int = -1) -> StridedView:
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self.permute(axes)

    def broadcast_to(self, shape: Sequence[int]) -> StridedView:
        shape = tuple(int(n) for n in shape)
        pad = len(shape) - self.ndim
        if pad < 0:
            raise ValueError(f"cannot broadcast {self.shape} to {shape}")
        src_shape = (1,) * pad + self.shape
        src_strides = (0,) * pad + self.strides
        strides = []
        for n_src, s, n in zip(src_shape, src_strides, shape, strict=True):
            if n_src == n:
                strides.append(s if n != 1 else 0)
            elif n_src == 1:
                strides.append(0)
            else:
                raise ValueError(f"cannot broadcast {self.shape} to {shape}")
        return replace(self, shape=shape, strides=tuple(strides))

    def expand_dims(self, axis: int) -> StridedView:
        axis = axis % (self.ndim + 1)
        return replace(
            self,
            shape=(*self.shape[:axis], 1, *self.shape[axis:]),
            strides=(*self.strides[:axis], 0, *self.strides[axis:]),
        )

    def slice_axis(self, axis: int, start: int, stop: int, step: int = 1) -> StridedView:
        axis %= self.ndim
        start, stop, step = slice(start, stop, step).indices(self.shape[axis])
        n = len(range(start, stop, step))
        shape = list(self.shape)
        strides = list(self.strides)
        shape[axis] = n
        strides[axis] = self.strides[axis] * step
        return replace(
            self,
            shape=tuple(shape),
            strides=tuple(strides),
            offset=self.offset + start * self.strides[axis],
        )

    def reshape(self, shape: Sequence[int]) -> StridedView:
        """A view with a new shape; raises ValueError where the strides make a copy necessary."""
        shape = list(int(n) for n in shape)
        if -1 in shape:
            known = numel([n for n in shape if n != -1])
            shape[shape.index(-1)] = self.size // max(known, 1)
        if numel(shape) != self.size:
            raise ValueError(f"cannot reshape {self.shape} into {tuple(shape)}")
        strides = _reshape_strides(self.shape, self.strides, shape)
        if strides is None:
            raise ValueError(f"reshape {self.shape} -> {tuple(shape)} needs a copy")
        return replace(self, shape=tuple(shape), strides=strides)

    def contiguous_view(self) -> StridedView:
        return replace(self, strides=contiguous_strides(self.shape))

    def with_dtype(self, dtype: str) -> StridedView:
        return replace(self, dtype=dtype)


def _reshape_strides(
    shape: Sequence[int], strides: Sequence[int], new: Sequence[int]
) -> tuple[int, ...] | None:
    """NumPy's no-copy reshape rule: split/merge runs of dims that are contiguous in memory."""
    old = [(n, s) for n, s in zip(shape, strides, strict=True) if n != 1]
    out: list[int] = []
    i = 0
    new_nz = [n for n in new if n != 1]
    j = 0
    result_nz: list[int] = []
    while i < len(old) or j < len(new_nz):
        if i >= len(old) or j >= len(new_nz):
            return None
        # Grow a group on both sides until the element counts match.
        oi, oj = i + 1, j + 1
        po, pn = old[i][0], new_nz[j]
        while po != pn:
            if po < pn:
                if oi >= len(old):
                    return None
                po *= old[oi][0]
                oi += 1
            else:
                if oj >= len(new_nz):
                    return None
                pn *= new_nz[oj]
                oj += 1
        for k in range(i, oi - 1):  # the old group must be contiguous in itself
            if old[k][1] != old[k + 1][1] * old[k + 1][0]:
                return None
        stride = old[oi - 1][1]
        group: list[int] = []
        for n in reversed(new_nz[j:oj]):
            group.append(stride)
            stride *= n
        result_nz.extend(reversed(group))
        i, j = oi, oj
    it = iter(result_nz)
    for n in new:
        out.append(0 if n == 1 else next(it))
    return tuple(out)


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for d in range(rank):
        dims = {s[d - rank + len(s)] for s in shapes if d - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ValueError(f"shapes {[tuple(s) for s in shapes]} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def coalesce(
    shape: Sequence[int], strides_list: Sequence[Sequence[int]]
) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Drop size-1 dims and merge neighbours that are contiguous for every operand.

    Returns the new shape and each operand's strides over it (always at least rank 1).
    """
    dims = [(n, [s[d] for s in strides_list]) for d, n in enumerate(shape) if n != 1]
    if any(n == 0 for n, _ in dims):
        return (0,), [(0,) for _ in strides_list]
    merged: list[tuple[int, list[int]]] = []
    for n, ss in dims:
        if merged:
            pn, ps = merged[-1]
            if all(p == s * n for p, s in zip(ps, ss, strict=True)):
                merged[-1] = (pn * n, ss)
                continue
        merged.append((n, ss))
    if not merged:
        return (1,), [(0,) for _ in strides_list]
    new_shape = tuple(n for n, _ in merged)
    return new_shape, [tuple(ss[k] for _, ss in merged) for k in range(len(strides_list))]


def dispatch_1d(n_threads: int, workgroup_size: int) -> tuple[int, int, int]:
    """Workgroup counts (x, y, 1) covering *n_threads*, keeping each under 65535.

    The kernel recovers its linear thread id as ``gid.x + gid.y * (x * workgroup_size)``.
    """
    groups = max(1, -(-n_threads // workgroup_size))
    if groups <= MAX_WORKGROUPS_PER_DIM:
        return groups, 1, 1
    y = -(-groups // MAX_WORKGROUPS_PER_DIM)
    x = -(-groups // y)
    if y > MAX_WORKGROUPS_PER_DIM:
        raise ValueError(f"{n_threads} threads exceed the dispatch limits")
    return x, y, 1

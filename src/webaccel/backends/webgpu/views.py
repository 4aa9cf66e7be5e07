"""The kernels' argument type: a GPU buffer paired with a ``webaccel.view.View`` and a dtype.

``StridedView(buffer, shape, strides=None, offset=0, dtype="float32")`` is a tensor in a GPU
buffer: ``strides`` and ``offset`` count elements (codes, for packed int8 / int4 weights), so
transposes, slices, broadcasts (stride 0), reversals and reshapes of existing buffers are
views, not copies; ``strides=None`` means row-major. ``buffer`` is a ``runtime.GPUBufferHandle``
(anything, in host tests). The view math is all ``View``'s: the methods here check their
arguments the way kernels want them (a ValueError naming the problem) and delegate.

A unit axis's stride is kept at 0: kernels never step along it, and one canonical value keeps
equal views' uniforms equal.

Dtypes are names: every fact about them comes from the columns of ``webaccel.dtypes``
(``wgsl_storage``, ``wgsl_compute``, ``itemsize``), except for ``bool``, WebGPU's own type for
comparison results (stored as int32 0/1, a WGSL ``bool`` inside expressions), which is not a
webaccel dtype and is defined here only.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from ...dtypes import DTYPES
from ...shapes import broadcast_shapes, contiguous_strides, infer_reshape
from ...view import View

MAX_RANK = 8
BOOL = "bool"  # comparison results: int32 0/1 in storage, WGSL bool in expressions
# The dtypes kernels compute on (the others are weight codes, read by the quantized kernels).
GPU_DTYPES = tuple(d.name for d in DTYPES.values() if d.wgsl_compute is not None)
# The dtype a kernel stores a value of each WGSL type as (the one stored as that type).
RESULT_DTYPES = {
    **{d.wgsl_compute: d.name for d in DTYPES.values() if d.wgsl_compute == d.wgsl_storage},
    "bool": BOOL,
}


def _check_dtype(dtype: str) -> None:
    if dtype != BOOL and dtype not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; expected one of {[*DTYPES, BOOL]}")


def storage_type(dtype: str) -> str:
    """The element type of a WGSL storage array holding *dtype*."""
    return "i32" if dtype == BOOL else DTYPES[dtype].wgsl_storage


def compute_type(dtype: str) -> str:
    """The WGSL type a value of *dtype* has inside a kernel (``bool`` for comparisons)."""
    if dtype == BOOL:
        return "bool"
    t = DTYPES[dtype].wgsl_compute
    if t is None:
        raise ValueError(f"{dtype} holds weight codes; kernels compute on {list(GPU_DTYPES)}")
    return t


def nbytes(dtype: str, n: int) -> int:
    """Bytes of *n* elements of *dtype* stored densely."""
    return 4 * n if dtype == BOOL else DTYPES[dtype].nbytes(n)


def _of_view(fact: str) -> property:
    """A read-only attribute of a ``StridedView``: ``View``'s *fact* of its view."""
    return property(attrgetter(f"view.{fact}"), doc=f"``View.{fact}`` of the view")


class StridedView:
    """A tensor in a GPU buffer: ``buffer``, the ``view`` over it and the storage ``dtype``."""

    __slots__ = ("buffer", "dtype", "view")

    def __init__(
        self,
        buffer: Any,
        shape: Sequence[int],
        strides: Sequence[int] | None = None,
        offset: int = 0,
        dtype: str = "float32",
    ) -> None:
        shape = tuple(int(n) for n in shape)
        strides = contiguous_strides(shape) if strides is None else tuple(int(s) for s in strides)
        if len(strides) != len(shape):
            raise ValueError(f"strides {strides} do not match shape {shape}")
        if len(shape) > MAX_RANK:
            raise ValueError(f"rank {len(shape)} > {MAX_RANK}")
        _check_dtype(dtype)
        self.buffer = buffer
        self.dtype = dtype
        unit_zero = tuple(0 if n == 1 else s for n, s in zip(shape, strides, strict=True))
        self.view = View(shape, unit_zero, int(offset))

    @classmethod
    def of(cls, buffer: Any, view: View, dtype: str) -> StridedView:
        """*buffer* seen through *view* (a graph tensor's view, say)."""
        return cls(buffer, view.shape, view.strides, view.offset, dtype)

    def _with(self, view: View, dtype: str | None = None) -> StridedView:
        return StridedView.of(self.buffer, view, dtype or self.dtype)

    def __repr__(self) -> str:
        v = self.view
        return f"StridedView({self.buffer!r}, {v.shape}, {v.strides}, {v.offset}, {self.dtype!r})"

    shape = _of_view("shape")  # tuple[int, ...]
    strides = _of_view("strides")  # tuple[int, ...], in elements
    offset = _of_view("offset")  # int, in elements
    ndim = _of_view("ndim")
    size = _of_view("numel")  # the number of elements

    @property
    def nbytes(self) -> int:
        """Bytes of the elements if stored densely (what a readback of an output needs)."""
        return nbytes(self.dtype, self.size)

    @property
    def is_contiguous(self) -> bool:
        return self.view.is_contiguous()

    def permute(self, axes: Sequence[int]) -> StridedView:
        axes = tuple(a % self.ndim for a in axes) if self.ndim else ()
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"bad permutation {axes} for rank {self.ndim}")
        return self._with(self.view.permute(axes))

    def transpose(self, a: int = -2, b: int = -1) -> StridedView:
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self.permute(axes)

    def broadcast_to(self, shape: Sequence[int]) -> StridedView:
        shape = tuple(int(n) for n in shape)
        try:
            fits = len(shape) >= self.ndim and broadcast_shapes(self.shape, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"cannot broadcast {self.shape} to {shape}")
        return self._with(self.view.expand(shape))

    def expand_dims(self, axis: int) -> StridedView:
        return self._with(self.view.expand_dims(axis % (self.ndim + 1)))

    def slice_axis(
        self, axis: int, start: int | None, stop: int | None, step: int = 1
    ) -> StridedView:
        axis %= self.ndim
        bounds = [(0, n, 1) for n in self.shape]
        bounds[axis] = slice(start, stop, step).indices(self.shape[axis])
        starts, stops, steps = zip(*bounds, strict=True)
        return self._with(self.view.slice(starts, stops, steps))

    def reshape(self, shape: Sequence[int]) -> StridedView:
        """A view with a new shape; raises ValueError where the strides make a copy necessary."""
        shape = infer_reshape(self.shape, shape)
        view = self.view.reshape(shape)
        if view is None:
            raise ValueError(f"reshape {self.shape} -> {shape} needs a copy")
        return self._with(view)

    def contiguous_view(self) -> StridedView:
        return StridedView(self.buffer, self.shape, None, self.offset, self.dtype)

    def with_dtype(self, dtype: str) -> StridedView:
        return self._with(self.view, dtype)

"""Views: shape, element strides and offset over one storage (never a copy).

Reshape, transpose, slice, expand and squeeze only make a new ``View``; the data stays where it
is. A reshape that strides cannot express (e.g. flattening a transpose) returns None and the
caller makes the data contiguous first.

This is the package's one piece of view math: the WebGPU kernels' ``StridedView`` pairs a buffer
with a ``View``, and the shape helpers it rests on are ``shapes.py``'s.
"""

from __future__ import annotations

from typing import NamedTuple

from .shapes import contiguous_strides, numel

__all__ = ["View", "contiguous_strides", "normalize_slice"]


class View(NamedTuple):
    # A NamedTuple, not a dataclass: views are made and hashed on every op and every graph
    # lookup, and tuples do both in C.
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int = 0

    @staticmethod
    def contiguous(shape: tuple[int, ...]) -> View:
        return View(tuple(shape), contiguous_strides(tuple(shape)), 0)

    @property
    def numel(self) -> int:
        return numel(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def is_contiguous(self) -> bool:
        """Row-major and dense (size-1 dims may have any stride)."""
        expected = 1
        for dim, stride in zip(reversed(self.shape), reversed(self.strides), strict=True):
            if dim != 1 and stride != expected:
                return False
            expected *= max(dim, 1)  # as contiguous_strides counts a zero-size axis
        return True

    def span(self) -> tuple[int, int]:
        """[lowest, highest] element index touched (empty views touch nothing)."""
        if self.numel == 0:
            return self.offset, self.offset - 1
        lo = self.offset + sum(
            (d - 1) * s for d, s in zip(self.shape, self.strides, strict=False) if s < 0
        )
        hi = self.offset + sum(
            (d - 1) * s for d, s in zip(self.shape, self.strides, strict=False) if s > 0
        )
        return lo, hi

    def permute(self, axes: tuple[int, ...]) -> View:
        return View(
            tuple(self.shape[a] for a in axes), tuple(self.strides[a] for a in axes), self.offset
        )

    def expand(self, shape: tuple[int, ...]) -> View:
        lead = len(shape) - self.ndim
        strides = [0] * lead + [
            0 if (old == 1 and new != 1) else s
            for old, new, s in zip(self.shape, shape[lead:], self.strides, strict=True)
        ]
        return View(tuple(shape), tuple(strides), self.offset)

    def expand_dims(self, axis: int) -> View:
        """A new unit axis at *axis* (0 ... ndim), stride 0: the same elements, one more dim."""
        return View(
            (*self.shape[:axis], 1, *self.shape[axis:]),
            (*self.strides[:axis], 0, *self.strides[axis:]),
            self.offset,
        )

    def slice(
        self, starts: tuple[int, ...], stops: tuple[int, ...], steps: tuple[int, ...]
    ) -> View:
        """Per-axis Python-style slice with already normalized bounds (see ``normalize_slice``)."""
        offset = self.offset
        shape, strides = [], []
        for start, stop, step, stride in zip(starts, stops, steps, self.strides, strict=True):
            n = len(range(start, stop, step))
            if n:
                offset += start * stride
            shape.append(n)
            strides.append(stride * step)
        return View(tuple(shape), tuple(strides), offset)

    def reshape(self, shape: tuple[int, ...]) -> View | None:
        """The same elements in a new shape, or None when strides cannot express it.

        NumPy's no-copy reshape rule: each run of old dims that maps onto a run of new dims
        must be contiguous within itself.
        """
        shape = tuple(shape)
        if self.is_contiguous() or self.numel == 0:
            return View(shape, contiguous_strides(shape), self.offset)
        old = [(d, s) for d, s in zip(self.shape, self.strides, strict=True) if d != 1]
        new_strides = [0] * len(shape)
        ni, nj, oi, oj = 0, 1, 0, 1
        while ni < len(shape) and oi < len(old):
            np_, op = shape[ni], old[oi][0]
            while np_ != op:
                if np_ < op:
                    np_ *= shape[nj]
                    nj += 1
                else:
                    op *= old[oj][0]
                    oj += 1
            for k in range(oi, oj - 1):
                if old[k][1] != old[k + 1][0] * old[k + 1][1]:
                    return None
            new_strides[nj - 1] = old[oj - 1][1]
            for k in range(nj - 1, ni, -1):
                new_strides[k - 1] = new_strides[k] * shape[k]
            ni, nj, oi, oj = nj, nj + 1, oj, oj + 1
        return View(shape, tuple(new_strides), self.offset)


def normalize_slice(key: slice, dim: int) -> tuple[int, int, int]:
    start, stop, step = key.indices(dim)
    return start, stop, step

"""What every kernel family does around its shader: allocate the output, merge dims, size the
grid, record the dispatch into the batch.

``coalesce`` merges the dims that are contiguous in every operand (most kernels then run at
rank 1, so a model's many shapes share few pipelines); ``dispatch_1d`` keeps each workgroup
count under WebGPU's 65535 per dimension.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ....shapes import numel
from ....view import View
from ..views import StridedView, nbytes
from .shader import WORKGROUP
from .uniforms import Field, Uniforms, strided

MAX_WORKGROUPS_PER_DIM = 65535


def new_output(batch: Any, shape: Sequence[int], dtype: str) -> StridedView:
    """A dense tensor of *shape* on a pooled buffer (whole words, at least one)."""
    size = nbytes(dtype, max(numel(shape), 1))
    return StridedView(batch.ctx.alloc(-(-size // 4) * 4), tuple(shape), None, 0, dtype)


def run(batch: Any, source: str, buffers: list[Any], uniforms: bytes, groups: Any) -> None:
    """Record one dispatch of *source* (pipelines are cached by their source text)."""
    batch.dispatch(batch.ctx.pipeline(source), buffers, uniforms, groups)


def shape_grid_params(
    name: str, rank: int, scalars: dict[str, Field], operands: Sequence[str]
) -> Uniforms:
    r"""The uniforms of a kernel with a thread per element of a (``coalesce``\ d) shape, its
    *operands* read through their strides over that shape (elementwise, gather): the element
    count ``n``, ``per_row`` (``run_1d``), the kernel's *scalars*, the ``shape`` (*rank*
    dims), then each operand's offset and strides (``uniforms.strided``)."""
    fields: dict[str, Field] = {"n": "u32", "per_row": "u32", **scalars, "shape": ("u32", rank)}
    for operand in operands:
        fields.update(strided(operand, rank))
    return Uniforms(name, **fields)


def run_1d(
    batch: Any,
    source: str,
    buffers: list[Any],
    params: Uniforms,
    items: int,
    per_group: int = WORKGROUP,
    **fields: Any,
) -> None:
    """Record *source* over ``dispatch_1d``'s grid for *items* (threads, or workgroups where
    *per_group* is 1), its uniforms *params* packed from *fields* and ``per_row``, the items
    in a row of the grid (what ``shader.entry`` reads)."""
    groups = dispatch_1d(items, per_group)
    uniforms = params.pack(per_row=groups[0] * per_group, **fields)
    run(batch, source, buffers, uniforms, groups)


def is_contiguous(strides: Sequence[int], shape: Sequence[int]) -> bool:
    """C-contiguous, whatever the strides of size-1 dims (``coalesce`` gives a one-element
    tensor, a 0-d one included, the shape (1,) with stride 0)."""
    return View(tuple(shape), tuple(strides)).is_contiguous()


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


def axes_last(view: StridedView, axes: Sequence[int]) -> tuple[StridedView, int]:
    """Permute *axes* to the end (a view, no copy); returns it and the number of kept dims."""
    axes = sorted({a % view.ndim for a in axes})
    kept = [d for d in range(view.ndim) if d not in axes]
    return view.permute(kept + axes), len(kept)

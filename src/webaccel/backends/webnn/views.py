"""Reading a strided view out of a flat value with WebNN movement ops.

Storages (and step results, flattened) are 1-D; a step reads a ``View`` of one (shape, strides,
offset, in elements). A view becomes: ``slice`` (with strides) + ``reshape`` for dense or
stepped views, ``transpose`` for permuted strides, ``reverse`` for negative strides, ``expand``
for stride-0 axes. A view those cannot express (overlapping windows, strides that do not nest,
more than five real axes) is read with one ``gather`` over a host-computed int32 index constant.
"""

from __future__ import annotations

import itertools

from ...view import View
from .emitter import Emitter, Val

# A view with more real axes (size > 1, stride != 0) than this is gathered instead of sliced
# (the headless shell's slice takes rank <= 5).
MAX_SLICED_AXES = 5


def read_view(e: Emitter, flat: Val, view: View) -> Val:
    """The elements of 1-D *flat* that *view* sees, as a value of ``view.shape``."""
    shape, numel = tuple(view.shape), view.numel
    if numel == 0:
        return Val(None, flat.dtype, shape)
    if view.is_contiguous():
        if view.offset == 0 and numel == flat.numel:
            return e.reshape(flat, shape)
        return e.reshape(e.slice(flat, [view.offset], [numel], [1]), shape)
    axes = [(i, n, s) for i, (n, s) in enumerate(zip(shape, view.strides, strict=True))]
    real = [(i, n, s) for i, n, s in axes if n > 1 and s != 0]
    lo = view.offset + sum((n - 1) * s for _, n, s in real if s < 0)
    flipped = [i for i, _, s in real if s < 0]
    order = sorted(real, key=lambda a: -abs(a[2]))
    nest = all(
        abs(outer[2]) % abs(inner[2]) == 0 and inner[1] * abs(inner[2]) <= abs(outer[2])
        for outer, inner in itertools.pairwise(order)
    )
    if not nest or len(order) > MAX_SLICED_AXES:
        return gather_view(e, flat, view)
    sizes = [n for _, n, _ in order]
    strides = [abs(s) for _, _, s in order]
    if not order:  # every axis broadcast (stride 0) or of size 1: one element, expanded
        block = e.slice(flat, [view.offset], [1], [1])
    elif len(order) == 1:
        block = e.slice(flat, [lo], [(sizes[0] - 1) * strides[0] + 1], [strides[0]])
    else:
        # rows of the outermost stride; each inner axis nests in the row of the one outside it
        need = sizes[0] * strides[0]
        region = flat
        if lo + need > flat.numel:  # the last row runs past the end: pad it with zeros
            if flat.dtype == "int4":  # raw int4 codes: no int4 scalar to pad with
                return gather_view(e, flat, view)
            pad = lo + need - flat.numel
            zeros = e.expand(e.scalar(0, flat.dtype), (pad,))
            region = e.concat([flat, zeros], 0, (flat.numel + pad,))
        region = e.slice(region, [lo], [need], [1]) if lo or need != region.numel else region
        dims = [sizes[0]] + [strides[k - 1] // strides[k] for k in range(1, len(order) - 1)]
        dims.append(strides[-2])
        block = e.reshape(region, tuple(dims))
        block = e.slice(
            block,
            [0] * len(dims),
            [*sizes[:-1], (sizes[-1] - 1) * strides[-1] + 1],
            [1] * (len(dims) - 1) + [strides[-1]],
        )
    # block axes follow `order`; put them back in view order
    in_view_order = sorted(range(len(order)), key=lambda k: order[k][0])
    block = e.transpose(block, in_view_order)
    if flipped:
        pos = [k for k, a in enumerate(sorted(order, key=lambda a: a[0])) if a[0] in flipped]
        block = e.reverse(block, pos)
    real_ids = {i for i, _, _ in real}
    kept = tuple(n if i in real_ids else 1 for i, n, _ in axes)
    block = e.reshape(block, kept)
    return e.expand(block, shape)


def gather_view(e: Emitter, flat: Val, view: View) -> Val:
    """*view* of *flat* as one ``gather`` over the view's element indices (a constant)."""
    n = view.numel
    # a dry run checks the constant's type and rank only: no need to list the indices
    const = e.constant("int32", (n,), view_indices(view) if e.backend else b"")
    out = e.call(
        "gather",
        flat.dtype,
        (n,),
        {"input": flat, "indices": const},
        [flat, const],
        {"axis": 0},
    )
    return e.reshape(out, tuple(view.shape))


def view_indices(view: View) -> list[int]:
    """The flat index of every element *view* sees, in row-major order."""
    idx = [view.offset]
    for n, s in zip(view.shape, view.strides, strict=True):
        idx = [base + k * s for base in idx for k in range(n)]
    return idx

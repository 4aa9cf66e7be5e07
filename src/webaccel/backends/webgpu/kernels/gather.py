"""The gather family (``gather.wgsl``): ``numpy.take(data, indices, axis)``.

    gather(batch, data, indices, axis=0) -> StridedView

int32 indices of any shape; negative ones count from the end, out-of-range ones are clamped (a
kernel cannot raise). Data and indices are read through their strides; float16 data gives a
float32 result.
"""

from __future__ import annotations

import functools
from typing import Any

from ....shapes import contiguous_strides, numel
from ..views import StridedView, storage_type
from . import shader
from .launch import coalesce, new_output, run_1d, shape_grid_params
from .uniforms import Field, Uniforms, strided_values


@functools.cache
def gather_params(rank: int) -> Uniforms:
    """A ``shape_grid_params`` over the (merged) output shape: the gathered axis' length and
    stride in the data, then the data's and the indices' offset and strides over the shape."""
    axis: dict[str, Field] = {"axis_len": "u32", "axis_stride": "i32"}
    return shape_grid_params("GatherParams", rank, axis, ["data", "idx"])


@functools.cache
def gather_source(data_dtype: str, rank: int) -> str:
    out_dtype = "float32" if data_dtype == "float16" else data_dtype
    bindings = [
        shader.storage(0, "in0", storage_type(data_dtype)),
        shader.storage(1, "idx", "i32"),
        shader.storage(2, "out", storage_type(out_dtype), write=True),
    ]
    params = gather_params(rank)
    return shader.template("gather.wgsl").substitute(
        BINDINGS="\n".join(bindings),
        PARAMS=params.decl(3),
        LOADERS=shader.loader(0, data_dtype, bool_as_int=True),
        ENTRY=shader.entry(params, "n", "i"),
        INDEX="\n".join(shader.index_lines([params.u("shape", d) for d in range(rank)])),
        IDX_OFF=shader.strided_offset(params, "idx", rank),
        DATA_OFF=shader.strided_offset(params, "data", rank),
    )


def gather(batch: Any, data: StridedView, indices: StridedView, axis: int = 0) -> StridedView:
    """``numpy.take(data, indices, axis)`` with int32 indices (negative count from the end)."""
    axis %= data.ndim
    if indices.dtype != "int32":
        raise ValueError("gather needs int32 indices")
    shape = data.shape[:axis] + indices.shape + data.shape[axis + 1 :]
    out = new_output(batch, shape, "float32" if data.dtype == "float16" else data.dtype)
    n = numel(shape)
    if n == 0:
        return out
    ni = indices.ndim
    d_strides = data.strides[:axis] + (0,) * ni + data.strides[axis + 1 :]
    i_strides = (0,) * axis + indices.strides + (0,) * (data.ndim - axis - 1)
    cshape, (ds, is_, _) = coalesce(shape, [d_strides, i_strides, contiguous_strides(shape)])
    rank = len(cshape)
    run_1d(
        batch,
        gather_source(data.dtype, rank),
        [data.buffer, indices.buffer, out.buffer],
        gather_params(rank),
        n,
        n=n,
        axis_len=data.shape[axis],
        axis_stride=data.strides[axis],
        shape=cshape,
        **strided_values("data", data.offset, ds),
        **strided_values("idx", indices.offset, is_),
    )
    return out

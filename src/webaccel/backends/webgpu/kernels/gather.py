"""The gather family (``gather.wgsl``): ``numpy.take(data, indices, axis)``.

    gather(batch, data, indices, axis=0) -> StridedView

int32 indices of any shape; negative ones count from the end. Data and indices are read through
their strides; float16 data gives a float32 result.

An index out of range (below -size or at/after size) is an error, as on the cpu backend: a GPU
kernel cannot raise, so the kernel records it in the context's fault words
(``GPUContext.fault_buffer``) and the next read of any result raises
``runtime.IndexOutOfRangeError`` naming the index, the axis and its size. Why an error and not a
documented clamp (ONNX Runtime's WebGPU provider clamps): a clamped lookup is a plausible-looking
wrong answer (an embedding row of another token), which is what the issue calls silent garbage;
the check costs one compare per output element and 16 bytes more in the read that already
waits for the GPU. The output still holds clamped reads (no access leaves the data buffer), but
no read returns it without the error.
"""

from __future__ import annotations

import functools
from typing import Any

from ....shapes import contiguous_strides, numel
from ..runtime import FAULT_WORDS
from ..views import StridedView, storage_type
from . import shader
from .launch import coalesce, new_output, run_1d, shape_grid_params
from .uniforms import Field, Uniforms, strided_values


@functools.cache
def gather_params(rank: int) -> Uniforms:
    """A ``shape_grid_params`` over the (merged) output shape: the gathered axis' length and
    stride in the data, then the data's and the indices' offset and strides over the shape."""
    axis: dict[str, Field] = {"axis_len": "u32", "axis_stride": "i32", "axis": "u32"}
    return shape_grid_params("GatherParams", rank, axis, ["data", "idx"])


@functools.cache
def gather_source(data_dtype: str, rank: int) -> str:
    out_dtype = "float32" if data_dtype == "float16" else data_dtype
    bindings = [
        shader.storage(0, "in0", storage_type(data_dtype)),
        shader.storage(1, "idx", "i32"),
        shader.storage(2, "out", storage_type(out_dtype), write=True),
        f"@group(0) @binding(3) var<storage, read_write> fault: array<atomic<u32>, {FAULT_WORDS}>;",
    ]
    params = gather_params(rank)
    return shader.template("gather.wgsl").substitute(
        COMMON=shader.common() if data_dtype == "float16" else "",
        BINDINGS="\n".join(bindings),
        PARAMS=params.decl(4),
        LOADERS=shader.loader(0, data_dtype, bool_as_int=True),
        ENTRY=shader.entry(params, "n", "i"),
        INDEX="\n".join(shader.index_lines([params.u("shape", d) for d in range(rank)])),
        IDX_OFF=shader.strided_offset(params, "idx", rank),
        DATA_OFF=shader.strided_offset(params, "data", rank),
    )


def gather(batch: Any, data: StridedView, indices: StridedView, axis: int = 0) -> StridedView:
    """``numpy.take(data, indices, axis)`` with int32 indices (negative count from the end; one
    out of range raises ``IndexOutOfRangeError`` at the next read: see the module doc)."""
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
        [data.buffer, indices.buffer, out.buffer, batch.ctx.fault_buffer()],
        gather_params(rank),
        n,
        n=n,
        axis_len=data.shape[axis],
        axis_stride=data.strides[axis],
        axis=axis,
        shape=cshape,
        **strided_values("data", data.offset, ds),
        **strided_values("idx", indices.offset, is_),
    )
    return out

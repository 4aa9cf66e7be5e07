"""The convolution family: ``conv2d`` as im2col (``conv_im2col.wgsl``) + the matmul kernels
(bias and activation fused in their epilogue); conv1d is a conv2d over a height of 1.

    conv2d(batch, x, w, bias=None, stride=1, padding=0, dilation=1, groups=1,
           layout="NCHW", activation=None) -> StridedView
        w is OIHW (Cout, Cin/groups, KH, KW); padding int | (ph, pw) | (top, left, bottom,
        right) | "same" (SAME_UPPER) | "same_lower" | "valid"; layout "NHWC" takes and returns
        NHWC. The column buffer goes back to the pool at the batch's submit.

The window's geometry (padding, output size, uniforms) is pool2d's too: ``window.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ....shapes import numel
from ..views import StridedView
from . import shader
from .elementwise import flatten_last
from .launch import new_output, run_1d
from .matmul import matmul
from .uniforms import Uniforms
from .window import Window, output_index, window_params


@functools.cache
def im2col_params(order: tuple[str, ...]) -> Uniforms:
    """A window kernel's (``window_params``) over the column's dims in memory *order*, with
    the channels per group."""
    return window_params("Im2colParams", order, {"unused2": "pad"}, {"c_group": "u32"})


@functools.cache
def im2col_source(order: tuple[str, ...]) -> str:
    params = im2col_params(order)
    bindings = [shader.storage(0, "x", "f32"), shader.storage(1, "col", "f32", write=True)]
    return shader.template("conv_im2col.wgsl").substitute(
        ORDER=" ".join(order),
        BINDINGS="\n".join(bindings),
        PARAMS=params.decl(2),
        ENTRY=shader.entry(params, "total"),
        INDEX=output_index(params, order),
    )


def conv2d(
    batch: Any,
    x: StridedView,
    w: StridedView,
    bias: StridedView | None = None,
    stride: int | Sequence[int] = 1,
    padding: Any = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    layout: str = "NCHW",
    activation: str | None = None,
) -> StridedView:
    """2D convolution as im2col + the tiled matmul (bias and activation fused in its epilogue).

    The column buffer is released back to the pool at the batch's submit.
    """
    cout, cg, kh, kw = w.shape
    window = Window.over(x, layout, (kh, kw), stride, padding, dilation)
    n, c, _, _ = window.x.shape
    if c != cg * groups or cout % groups:
        raise ValueError(f"conv2d: {c} input channels, weight {w.shape}, groups={groups}")
    oh, ow = window.out_hw
    g, og, kc, p = groups, cout // groups, cg * kh * kw, oh * ow
    if layout == "NCHW":
        order = ("n", "g", "ci", "kh", "kw", "oh", "ow")
        dims = (n, g, cg, kh, kw, oh, ow)
    else:
        order = ("n", "g", "oh", "ow", "ci", "kh", "kw")
        dims = (n, g, oh, ow, cg, kh, kw)
    col = new_output(batch, dims, "float32")
    total = numel(dims)
    if total:
        run_1d(
            batch,
            im2col_source(order),
            [window.x.buffer, col.buffer],
            im2col_params(order),
            total,
            total=total,
            c_group=cg,
            **window.values(order, dims),
        )
    wg = flatten_last(batch, w, 3).reshape((g, og, kc))  # (Cout, Kc) split by group
    if layout == "NCHW":
        # out[n, g, co, p] = W[g, co, :] @ col[n, g, :, p]
        a = wg.expand_dims(0).broadcast_to((n, g, og, kc))
        b = col.reshape((n, g, kc, p))
        out = new_output(batch, (n, cout, oh, ow), "float32")
        out4 = out.reshape((n, g, og, p))
        bias4 = bias.reshape((1, g, og, 1)) if bias is not None else None
    else:
        # out[n, p, g, co] = col[n, g, p, :] @ W[g, co, :]^T
        a = col.reshape((n, g, p, kc))
        b = wg.transpose(-1, -2).expand_dims(0).broadcast_to((n, g, kc, og))
        out = new_output(batch, (n, oh, ow, cout), "float32")
        out4 = out.reshape((n, p, g, og)).permute((0, 2, 1, 3))
        bias4 = bias.reshape((1, g, 1, og)) if bias is not None else None
    matmul(batch, a, b, bias=bias4, activation=activation, out=out4)
    batch.release_after(col.buffer)
    return out

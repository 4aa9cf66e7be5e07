"""The convolution family: ``conv2d`` as im2col (``conv_im2col.wgsl``) + the matmul kernels
(bias and activation fused in their epilogue); conv1d is a conv2d over a height of 1.

    conv2d(batch, x, w, bias=None, stride=1, padding=0, dilation=1, groups=1,
           layout="NCHW", activation=None) -> StridedView
        w is OIHW (Cout, Cin/groups, KH, KW); padding int | (ph, pw) | (top, left, bottom,
        right) | "same" (SAME_UPPER) | "same_lower" | "valid"; layout "NHWC" takes and returns
        NHWC. The column buffer goes back to the pool at the batch's submit.
    conv_pads(padding, in_hw, kernel, stride, dilation) -> (top, left, bottom, right)
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

# The sliding window's geometry, as uniform fields (pool2d's too): stride, the top / left
# padding, dilation, and the input's height and width.
WINDOW = ("stride_h", "stride_w", "pad_top", "pad_left", "dil_h", "dil_w", "h", "w")


def window_values(
    stride: tuple[int, int], pads: tuple[int, int], dilation: tuple[int, int], hw: tuple[int, int]
) -> dict[str, int]:
    """The values of the ``WINDOW`` fields."""
    return dict(zip(WINDOW, (*stride, *pads, *dilation, *hw), strict=True))


@functools.cache
def im2col_params(order: tuple[str, ...]) -> Uniforms:
    """Column elements, threads per grid row, the column's dims in memory *order*, the
    convolution's geometry (stride, padding, dilation, input H and W, channels per group) and
    the input's offset and NCHW strides."""
    return Uniforms(
        "Im2colParams",
        total="u32",
        per_row="u32",
        unused0="pad",
        unused1="pad",
        **{f"size_{name}": "u32" for name in order},
        unused2="pad",
        **dict.fromkeys(WINDOW, "u32"),
        c_group="u32",
        x_off="i32",
        x_strides=("i32", 4),
    )


@functools.cache
def im2col_source(order: tuple[str, ...]) -> str:
    params = im2col_params(order)
    bindings = [shader.storage(0, "x", "f32"), shader.storage(1, "col", "f32", write=True)]
    return shader.template("conv_im2col.wgsl").substitute(
        ORDER=" ".join(order),
        BINDINGS="\n".join(bindings),
        PARAMS=params.decl(2),
        ENTRY=shader.entry(params, "total"),
        INDEX=shader.named_index(order, [params.u(f"size_{name}") for name in order]),
    )


def pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_pads(
    padding: Any,
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from an int, a pair, a 4-tuple, "same" or "valid"."""
    if padding == "valid":
        return 0, 0, 0, 0
    if padding in ("same", "same_upper", "same_lower"):
        pads = []
        for n, k, s, d in zip(in_hw, kernel, stride, dilation, strict=True):
            out = -(-n // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
            small, big = total // 2, total - total // 2
            pads.append((big, small) if padding == "same_lower" else (small, big))
        return pads[0][0], pads[1][0], pads[0][1], pads[1][1]
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    return tuple(int(p) for p in padding)  # type: ignore[return-value]


def out_size(n: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def nchw(x: StridedView, layout: str) -> StridedView:
    if layout == "NCHW":
        return x
    if layout == "NHWC":
        return x.permute((0, 3, 1, 2))
    raise ValueError(f"layout must be NCHW or NHWC, not {layout!r}")


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
    xl = nchw(x, layout)
    n, c, h, wd = xl.shape
    cout, cg, kh, kw = w.shape
    if c != cg * groups or cout % groups:
        raise ValueError(f"conv2d: {c} input channels, weight {w.shape}, groups={groups}")
    sh, sw = pair(stride)
    dh, dw = pair(dilation)
    pt, pl, pb, pr = conv_pads(padding, (h, wd), (kh, kw), (sh, sw), (dh, dw))
    oh, ow = out_size(h, kh, sh, dh, pt, pb), out_size(wd, kw, sw, dw, pl, pr)
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
            [xl.buffer, col.buffer],
            im2col_params(order),
            total,
            total=total,
            **{f"size_{name}": size for name, size in zip(order, dims, strict=True)},
            **window_values((sh, sw), (pt, pl), (dh, dw), (h, wd)),
            c_group=cg,
            x_off=xl.offset,
            x_strides=xl.strides,
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

"""The pooling family (``pool2d.wgsl``): max and average pool2d, NCHW or NHWC.

    pool2d(batch, x, kind, kernel, stride=None, padding=0, dilation=1, layout="NCHW",
           count_include_pad=False) -> StridedView              # kind "max" | "avg"

One thread per output; padded taps never count as values (avg divides by the valid taps
unless *count_include_pad*). Padding as ``conv.conv_pads``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ....shapes import numel
from ..views import StridedView
from . import shader
from .conv import conv_pads, nchw, out_size, pair
from .launch import dispatch_1d, new_output, run


@functools.cache
def pool2d_source(kind: str, order: tuple[str, ...], count_include_pad: bool) -> str:
    if kind == "max":
        init, accum, finish = "-wa_inf()", "acc = wa_max(acc, v);", "out[t] = acc;"
    elif kind == "avg":
        div = "f32(pu(8u) * pu(9u))" if count_include_pad else "f32(max(count, 1u))"
        init, accum, finish = "0.0", "acc = acc + v;", f"out[t] = acc / {div};"
    else:
        raise ValueError(f"unknown pool {kind!r}")
    bindings = [shader.storage(0, "x", "f32"), shader.storage(1, "out", "f32", write=True)]
    return shader.template("pool2d.wgsl").substitute(
        ORDER=" ".join(order),
        COMMON=shader.common(),
        BINDINGS="\n".join(bindings),
        PARAMS=shader.params_block(2, 23),
        WG=shader.WORKGROUP,
        INDEX=shader.named_index(order, 4),
        INIT=init,
        ACCUM=accum,
        FINISH=finish,
    )


def pool2d(
    batch: Any,
    x: StridedView,
    kind: str,
    kernel: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Any = 0,
    dilation: int | Sequence[int] = 1,
    layout: str = "NCHW",
    count_include_pad: bool = False,
) -> StridedView:
    """max / avg pooling; padded taps never count as values (avg divides by the valid taps
    unless *count_include_pad*)."""
    xl = nchw(x, layout)
    n, c, h, wd = xl.shape
    kh, kw = pair(kernel)
    sh, sw = pair(stride if stride is not None else kernel)
    dh, dw = pair(dilation)
    pt, pl, pb, pr = conv_pads(padding, (h, wd), (kh, kw), (sh, sw), (dh, dw))
    oh, ow = out_size(h, kh, sh, dh, pt, pb), out_size(wd, kw, sw, dw, pl, pr)
    if layout == "NCHW":
        order, dims = ("n", "c", "oh", "ow"), (n, c, oh, ow)
    else:
        order, dims = ("n", "oh", "ow", "c"), (n, oh, ow, c)
    out = new_output(batch, dims, "float32")
    total = numel(dims)
    if total == 0:
        return out
    grid = dispatch_1d(total, shader.WORKGROUP)
    words = [total, grid[0] * shader.WORKGROUP, 0, 0, *dims, kh, kw, sh, sw, pt, pl, dh, dw]
    words += [h, wd, xl.offset, *xl.strides]
    source = pool2d_source(kind, order, count_include_pad)
    run(batch, source, [xl.buffer, out.buffer], shader.pack_words(words, 23), grid)
    return out

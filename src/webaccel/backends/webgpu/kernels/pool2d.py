"""The pooling family (``pool2d.wgsl``): max and average pool2d, NCHW or NHWC.

    pool2d(batch, x, kind, kernel, stride=None, padding=0, dilation=1, layout="NCHW",
           count_include_pad=False) -> StridedView              # kind "max" | "avg"

One thread per output; padded taps never count as values (avg divides by the valid taps
unless *count_include_pad*). Padding as ``window.conv_pads``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from ....shapes import numel
from ..views import StridedView
from . import shader
from .launch import new_output, run_1d
from .uniforms import Uniforms
from .window import Window, output_index, window_params


@functools.cache
def pool2d_params(order: tuple[str, ...]) -> Uniforms:
    """A window kernel's (``window_params``) over the output's dims in memory *order*, with
    the kernel's height and width."""
    return window_params("Pool2dParams", order, {"kh": "u32", "kw": "u32"}, {})


@functools.cache
def pool2d_source(kind: str, order: tuple[str, ...], count_include_pad: bool) -> str:
    params = pool2d_params(order)
    prelude = ""
    if kind == "max":
        init, accum, finish = "-wa_inf()", "acc = wa_max(acc, v);", "out[t] = acc;"
    elif kind == "avg":
        # Each tap is scaled as it is added (by 1 / the divisor, known before the loop): the
        # sum overflows only where the average does (four taps of 3e38 average to 3e38).
        kh, kw = params.u("kh"), params.u("kw")
        prelude = f"  let inv = 1.0 / f32({kh} * {kw});" if count_include_pad else _valid_taps()
        init, accum, finish = "0.0", "acc = acc + v * inv;", "out[t] = acc;"
    else:
        raise ValueError(f"unknown pool {kind!r}")
    bindings = [shader.storage(0, "x", "f32"), shader.storage(1, "out", "f32", write=True)]
    return shader.template("pool2d.wgsl").substitute(
        ORDER=" ".join(order),
        COMMON=shader.common(),
        BINDINGS="\n".join(bindings),
        PARAMS=params.decl(2),
        ENTRY=shader.entry(params, "total"),
        INDEX=output_index(params, order),
        PRELUDE=prelude,
        INIT=init,
        ACCUM=accum,
        FINISH=finish,
    )


def _valid_taps() -> str:
    """WGSL: ``inv``, 1 / the taps of this output's window inside the input (rows times
    columns, the same bounds as the tap loop of ``pool2d.wgsl``; 1 where none is)."""
    return """  var rows = 0u;
  for (var kh = 0u; kh < P.kh; kh = kh + 1u) {
    let ih = i32(v_oh * P.stride_h + kh * P.dil_h) - i32(P.pad_top);
    if (ih >= 0 && ih < i32(P.h)) { rows = rows + 1u; }
  }
  var cols = 0u;
  for (var kw = 0u; kw < P.kw; kw = kw + 1u) {
    let iw = i32(v_ow * P.stride_w + kw * P.dil_w) - i32(P.pad_left);
    if (iw >= 0 && iw < i32(P.w)) { cols = cols + 1u; }
  }
  let inv = 1.0 / f32(max(rows * cols, 1u));"""


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
    stride = stride if stride is not None else kernel
    window = Window.over(x, layout, kernel, stride, padding, dilation)
    n, c, _, _ = window.x.shape
    oh, ow = window.out_hw
    if layout == "NCHW":
        order, dims = ("n", "c", "oh", "ow"), (n, c, oh, ow)
    else:
        order, dims = ("n", "oh", "ow", "c"), (n, oh, ow, c)
    out = new_output(batch, dims, "float32")
    total = numel(dims)
    if total == 0:
        return out
    run_1d(
        batch,
        pool2d_source(kind, order, count_include_pad),
        [window.x.buffer, out.buffer],
        pool2d_params(order),
        total,
        total=total,
        kh=window.kernel[0],
        kw=window.kernel[1],
        **window.values(order, dims),
    )
    return out

"""The reduce family (``reduce.wgsl``): sum, mean, max, min, prod over any axes.

    reduce(batch, x, op, axes=None, keepdims=False) -> StridedView

The reduced axes are permuted to the end (a view) and both groups of dims merged where their
strides allow; then one workgroup per output (a tree in shared memory) for long reductions, or
one thread per output for short ones. NaN propagates through max / min (``wa_max``); int32 and
bool inputs accumulate in i32 (except mean).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from ....shapes import numel
from ..views import StridedView, storage_type
from . import shader
from .launch import axes_last, coalesce, dispatch_1d, f32_bits, new_output, run

REDUCE_WG = 64
REDUCE_OPS = ("sum", "mean", "max", "min", "prod")


def reduce_words(ro: int, ri: int) -> int:
    return 4 + ro + ri + 1 + ro + ri


@functools.cache
def reduce_source(op: str, in_dtype: str, ro: int, ri: int, mode: str) -> str:
    """Reduce the ``ri`` inner dims of a strided view; ``mode`` "workgroup" or "thread"."""
    if op not in REDUCE_OPS:
        raise ValueError(f"unknown reduction {op!r}; expected one of {REDUCE_OPS}")
    is_int = in_dtype in ("int32", "bool")
    acc = "i32" if is_int and op != "mean" else "f32"
    out_t = acc
    if acc == "f32":
        identity = {"sum": "0.0", "mean": "0.0", "prod": "1.0", "max": "-wa_inf()"}.get(
            op, "wa_inf()"
        )
        combine = {
            "max": "return wa_max(a, b);",
            "min": "return wa_min(a, b);",
            "prod": "return a * b;",
        }.get(op, "return a + b;")
    else:
        identity = {
            "sum": "0i",
            "prod": "1i",
            "max": "bitcast<i32>(0x80000000u)",
            "min": "bitcast<i32>(0x7fffffffu)",
        }[op]
        combine = {"max": "return max(a, b);", "min": "return min(a, b);"}.get(
            op, "return a * b;" if op == "prod" else "return a + b;"
        )
    finish = "return acc * bitcast<f32>(pu(3u));" if op == "mean" else "return acc;"
    in_off = 4 + ro + ri
    outer = shader.index_lines(ro, 4, "o") if ro else []
    outer.append(
        "  return pi({}u){};".format(
            in_off, "".join(f" + i32(d{d}) * pi({in_off + 1 + d}u)" for d in range(ro))
        )
    )
    inner = shader.index_lines(ri, 4 + ro, "j")
    inner.append(
        "  return {}(ld0(base{}));".format(
            acc if not is_int or acc == "i32" else "f32",
            "".join(f" + i32(d{d}) * pi({in_off + 1 + ro + d}u)" for d in range(ri)),
        )
    )
    if mode == "workgroup":
        main = f"""@compute @workgroup_size({REDUCE_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {{
  let o = wg.x + wg.y * pu(2u);
  if (o >= pu(0u)) {{ return; }}
  let base = base_of(o);
  var acc: {acc} = {identity};
  for (var j = li; j < pu(1u); j = j + {REDUCE_WG}u) {{ acc = combine(acc, elem_at(base, j)); }}
  red[li] = acc;
  workgroupBarrier();
  for (var s = {REDUCE_WG // 2}u; s > 0u; s = s >> 1u) {{
    if (li < s) {{ red[li] = combine(red[li], red[li + s]); }}
    workgroupBarrier();
  }}
  if (li == 0u) {{ out[o] = finish(red[0]); }}
}}"""
    else:
        main = f"""@compute @workgroup_size({REDUCE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
  let o = gid.x + gid.y * pu(2u);
  if (o >= pu(0u)) {{ return; }}
  let base = base_of(o);
  var acc: {acc} = {identity};
  for (var j = 0u; j < pu(1u); j = j + 1u) {{ acc = combine(acc, elem_at(base, j)); }}
  out[o] = finish(acc);
}}"""
    bindings = [
        shader.storage(0, "in0", storage_type(in_dtype)),
        shader.storage(1, "out", out_t, write=True),
    ]
    return shader.template("reduce.wgsl").substitute(
        MODE=mode,
        COMMON=shader.common(),
        BINDINGS="\n".join(bindings),
        PARAMS=shader.params_block(2, reduce_words(ro, ri)),
        LOADER=shader.loader(0, in_dtype, bool_as_int=True),
        ACC=acc,
        WG=REDUCE_WG if mode == "workgroup" else 1,
        COMBINE=combine,
        OUTER="\n".join(outer),
        INNER="\n".join(inner),
        OUT_T=out_t,
        FINISH=finish,
        MAIN=main,
    )


# --- row kernels: softmax, layer_norm -------------------------------------------------------


def reduce(
    batch: Any,
    x: StridedView,
    op: str,
    axes: int | Sequence[int] | None = None,
    keepdims: bool = False,
) -> StridedView:
    """sum / mean / max / min / prod over *axes* (all by default) as workgroup reductions."""
    if axes is None:
        axes = range(x.ndim)
    elif isinstance(axes, int):
        axes = [axes]
    axes = sorted({a % x.ndim for a in axes}) if x.ndim else []
    pv, nk = axes_last(x, axes)
    outer, inner = pv.shape[:nk], pv.shape[nk:]
    oshape, (os_,) = coalesce(outer, [pv.strides[:nk]])
    ishape, (is_,) = coalesce(inner, [pv.strides[nk:]])
    keep_shape = tuple(1 if d in axes else n for d, n in enumerate(x.shape))
    shape = keep_shape if keepdims else tuple(outer)
    acc_int = x.dtype in ("int32", "bool") and op != "mean"
    out = new_output(batch, shape, "int32" if acc_int else "float32")
    n_out, r = numel(outer), numel(inner)
    if n_out == 0:
        return out
    mode = "workgroup" if r >= 128 and n_out < 65536 * 4 else "thread"
    source = reduce_source(op, x.dtype, len(oshape), len(ishape), mode)
    if mode == "workgroup":
        groups = dispatch_1d(n_out, 1)
        per_row = groups[0]
    else:
        groups = dispatch_1d(n_out, REDUCE_WG)
        per_row = groups[0] * REDUCE_WG
    scale = f32_bits(1.0 / r) if r else f32_bits(math.nan)
    words = [n_out, r, per_row, scale, *oshape, *ishape, pv.offset, *os_, *is_]
    nwords = reduce_words(len(oshape), len(ishape))
    run(batch, source, [x.buffer, out.buffer], shader.pack_words(words, nwords), groups)
    return out

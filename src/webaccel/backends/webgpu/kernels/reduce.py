"""The reduce family (``reduce.wgsl``): sum, mean, max, min, prod over any axes.

    reduce(batch, x, op, axes=None, keepdims=False) -> StridedView

The reduced axes are permuted to the end (a view) and both groups of dims merged where their
strides allow; then one workgroup per output (a tree in shared memory) for long reductions, or
one thread per output for short ones. NaN propagates through max / min (``wa_max``); int32 and
bool inputs accumulate in i32 (except mean). The mean sums ``x / R`` (each term scaled as it is
read), so it overflows only where the mean itself does (NumPy's float64 mean of [3e38, 3e38] is
3e38, where a float32 sum then divided would be inf). Sums accumulate in float32: a partial sum
past the float32 max is inf even where later terms would bring the exact total back in range
(as NumPy's float32 sum gives; a documented difference from the float64 reference).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

from ....shapes import numel
from ..views import StridedView, storage_type
from . import shader
from .launch import axes_last, coalesce, new_output, run_1d
from .uniforms import Uniforms

REDUCE_WG = 64
REDUCE_OPS = ("sum", "mean", "max", "min", "prod")


@functools.cache
def reduce_params(ro: int, ri: int) -> Uniforms:
    """Outputs, the reduced count R, groups (or threads) per grid row, the final scale (1/R for
    mean), the outer and inner (reduced) shapes, the input's offset and its outer and inner
    strides."""
    return Uniforms(
        "ReduceParams",
        n_out="u32",
        count="u32",
        per_row="u32",
        scale="f32",
        outer_shape=("u32", ro),
        inner_shape=("u32", ri),
        in_off="i32",
        outer_strides=("i32", ro),
        inner_strides=("i32", ri),
    )


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
    params = reduce_params(ro, ri)
    # mean: the terms come scaled by 1/R (elem_at); an empty axis gives NaN, as NumPy's
    finish = "return acc;"
    if op == "mean":
        finish = f"return select(acc, wa_nan(), {params.u('count')} == 0u);"
    outer_shape = [params.u("outer_shape", d) for d in range(ro)]
    outer = shader.index_lines(outer_shape, "o") if ro else []
    outer_strides = [params.i("outer_strides", d) for d in range(ro)]
    outer.append(f"  return {shader.offset_expr(params.i('in_off'), outer_strides)};")
    inner = shader.index_lines([params.u("inner_shape", d) for d in range(ri)], "j")
    inner_strides = [params.i("inner_strides", d) for d in range(ri)]
    term = f"{acc}(ld0({shader.offset_expr('base', inner_strides)}))"
    if op == "mean":
        term += f" * {params.f('scale')}"
    inner.append(f"  return {term};")
    count = params.u("count")
    entry = shader.entry(params, "n_out", "o", REDUCE_WG, per_workgroup=mode == "workgroup")
    if mode == "workgroup":
        main = f"""{entry}
  let base = base_of(o);
  var acc: {acc} = {identity};
  for (var j = li; j < {count}; j = j + {REDUCE_WG}u) {{ acc = combine(acc, elem_at(base, j)); }}
  red[li] = acc;
  workgroupBarrier();
  for (var s = {REDUCE_WG // 2}u; s > 0u; s = s >> 1u) {{
    if (li < s) {{ red[li] = combine(red[li], red[li + s]); }}
    workgroupBarrier();
  }}
  if (li == 0u) {{ out[o] = finish(red[0]); }}
}}"""
    else:
        main = f"""{entry}
  let base = base_of(o);
  var acc: {acc} = {identity};
  for (var j = 0u; j < {count}; j = j + 1u) {{ acc = combine(acc, elem_at(base, j)); }}
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
        PARAMS=params.decl(2),
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
    run_1d(
        batch,
        source,
        [x.buffer, out.buffer],
        reduce_params(len(oshape), len(ishape)),
        n_out,
        per_group=1 if mode == "workgroup" else REDUCE_WG,
        n_out=n_out,
        count=r,
        scale=1.0 / r if r else math.nan,
        outer_shape=oshape,
        inner_shape=ishape,
        in_off=pv.offset,
        outer_strides=os_,
        inner_strides=is_,
    )
    return out

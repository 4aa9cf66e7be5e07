"""The row family (``rows.wgsl``): softmax, log_softmax, layer_norm, rms_norm along one axis.

    softmax(batch, x, axis=-1, log=False) -> StridedView
    layer_norm(batch, x, gamma=None, beta=None, axes=1, eps=1e-5, rms=False) -> StridedView
        normalizes over the last ``axes`` dims (gamma / beta of that shape).

One workgroup per row, the row read through its stride (any axis, any layout). Numerically
stable: softmax subtracts the row max; layer_norm takes the variance of (x - mean) in a second
pass, the mean summed over data shifted by its first element.

No overflow short of the float32 limits, as the float64 reference: layer_norm works on halves
((x - mean) / 2 never overflows, where x - mean can past 1.7e38) and, where the largest
|x - mean| is beyond 2^40, scales the deviations by a power of two before squaring (a variance
of 1e40 is past float32, the normalized row is not); rms_norm scales x the same way. A row
holding inf or NaN gives NaN throughout, as the reference's (x - mean) does.
"""

from __future__ import annotations

import functools
from typing import Any

from ....shapes import numel
from ..views import StridedView, storage_type
from . import shader
from .elementwise import flatten_last
from .launch import axes_last, coalesce, new_output, run_1d
from .uniforms import Uniforms, strided, strided_values

ROWS_WG = 64
ROW_OPS = ("softmax", "log_softmax", "layer_norm", "rms_norm")


@functools.cache
def rows_params(ro: int) -> Uniforms:
    """Rows, the row length L, groups per grid row, eps, the (merged) shape of the rows; then
    for the input and the output: offset, strides over the rows and the step along a row; the
    gamma and beta offsets and steps."""
    return Uniforms(
        "RowsParams",
        rows="u32",
        length="u32",
        per_row="u32",
        eps="f32",
        shape=("u32", ro),
        **strided("in", ro),
        in_step="i32",
        **strided("out", ro),
        out_step="i32",
        gamma_off="i32",
        gamma_step="i32",
        beta_off="i32",
        beta_step="i32",
    )


@functools.cache
def rows_source(op: str, in_dtype: str, ro: int, has_gamma: bool, has_beta: bool) -> str:
    if op not in ROW_OPS:
        raise ValueError(f"unknown row op {op!r}; expected one of {ROW_OPS}")
    params = rows_params(ro)
    outer = shader.index_lines([params.u("shape", d) for d in range(ro)], "row") if ro else []
    for x, base in (("in", "bi"), ("out", "bo")):
        outer.append(f"  let {base} = {shader.strided_offset(params, x, ro)};")
    outer.append(f"  let si = {params.i('in_step')};")
    outer.append(f"  let so = {params.i('out_step')};")
    x = "ld0(bi + i32(j) * si)"
    loop = f"for (var j = li; j < L; j = j + {ROWS_WG}u)"
    store = "out[u32(bo + i32(j) * so)]"
    scale = ""
    if has_gamma:
        scale += f" * gamma[u32({params.i('gamma_off')} + i32(j) * {params.i('gamma_step')})]"
    shift = ""
    if has_beta:
        shift = f" + beta[u32({params.i('beta_off')} + i32(j) * {params.i('beta_step')})]"
    if op in ("softmax", "log_softmax"):
        final = "(x - m) - log(s)" if op == "log_softmax" else "wa_exp(x - m) / s"
        body = f"""  var m = -wa_inf();
  {loop} {{ m = wa_max(m, {x}); }}
  m = wg_max(m, li);
  var s = 0.0;
  {loop} {{ s = s + wa_exp({x} - m); }}
  s = wg_sum(s, li);
  {loop} {{ let x = {x}; {store} = {final}; }}"""
    elif op == "layer_norm":
        # Halves: mh = mean / 2 = x0 / 2 + sum((x - x0) / 2 / L), each term scaled as it is
        # added; d = (x - mean) / 2 scaled by sc (wa_scale_for_squares); var = 4 q / (L sc^2),
        # so (x - mean) / sqrt(var + eps) = d sc * 2 / sqrt(4 q / L + eps sc^2).
        body = f"""  let inv_l = 1.0 / f32(L);
  let h0 = ld0(bi) * 0.5;
  var s = 0.0;
  {loop} {{ s = s + ({x} * 0.5 - h0) * inv_l; }}
  let mh = h0 + wg_sum(s, li);
  var a = 0.0;
  {loop} {{ a = wa_max(a, abs({x} * 0.5 - mh)); }}
  let sc = wa_scale_for_squares(wg_max(a, li));
  var q = 0.0;
  {loop} {{ let d = ({x} * 0.5 - mh) * sc; q = q + d * d; }}
  let inv = 2.0 / sqrt(4.0 * wg_sum(q, li) * inv_l + eps * sc * sc);
  {loop} {{ {store} = ({x} * 0.5 - mh) * sc * inv{scale}{shift}; }}"""
    else:
        # x / sqrt(mean(x^2) + eps) = x sc / sqrt(sum((x sc)^2) / L + eps sc^2)
        body = f"""  var a = 0.0;
  {loop} {{ a = wa_max(a, abs({x})); }}
  let sc = wa_scale_for_squares(wg_max(a, li));
  var q = 0.0;
  {loop} {{ let v = {x} * sc; q = q + v * v; }}
  let inv = 1.0 / sqrt(wg_sum(q, li) / f32(L) + eps * sc * sc);
  {loop} {{ {store} = {x} * sc * inv{scale}{shift}; }}"""
    bindings = [shader.storage(0, "in0", storage_type(in_dtype)), shader.loader(0, in_dtype)]
    nb = 1
    if has_gamma:
        bindings.append(shader.storage(nb, "gamma", "f32"))
        nb += 1
    if has_beta:
        bindings.append(shader.storage(nb, "beta", "f32"))
        nb += 1
    bindings.append(shader.storage(nb, "out", "f32", write=True))
    return shader.template("rows.wgsl").substitute(
        COMMON=shader.common(),
        BINDINGS="\n".join(bindings),
        PARAMS=params.decl(nb + 1),
        WG=ROWS_WG,
        ENTRY=shader.entry(params, "rows", "row", ROWS_WG, per_workgroup=True),
        OUTER="\n".join(outer),
        BODY=body,
    )


def _rows(
    batch: Any,
    op: str,
    x: StridedView,
    axis: int,
    gamma: StridedView | None = None,
    beta: StridedView | None = None,
    eps: float = 0.0,
) -> StridedView:
    """Run a row kernel over *axis* of *x* (the other dims are rows); output contiguous."""
    out = new_output(batch, x.shape, "float32")
    axis %= x.ndim
    if x.size == 0:
        return out
    pv, _ = axes_last(x, [axis])
    po, _ = axes_last(out, [axis])
    oshape, (si, so) = coalesce(pv.shape[:-1], [pv.strides[:-1], po.strides[:-1]])
    ro = len(oshape)
    rows, length = numel(oshape), x.shape[axis]
    buffers = [x.buffer]
    affine = {}
    for name, p in (("gamma", gamma), ("beta", beta)):
        affine[f"{name}_off"] = affine[f"{name}_step"] = 0
        if p is not None:
            if p.ndim != 1 or p.shape[0] != length:
                raise ValueError(f"gamma/beta of shape {p.shape} for a row of {length}")
            buffers.append(p.buffer)
            affine[f"{name}_off"], affine[f"{name}_step"] = p.offset, p.strides[0]
    buffers.append(out.buffer)
    source = rows_source(op, x.dtype, ro, gamma is not None, beta is not None)
    run_1d(
        batch,
        source,
        buffers,
        rows_params(ro),
        rows,
        per_group=1,  # a workgroup a row
        rows=rows,
        length=length,
        eps=eps,
        shape=oshape,
        **strided_values("in", pv.offset, si),
        in_step=pv.strides[-1],
        **strided_values("out", po.offset, so),
        out_step=po.strides[-1],
        **affine,
    )
    return out


def softmax(batch: Any, x: StridedView, axis: int = -1, log: bool = False) -> StridedView:
    """Numerically stable (log-)softmax over *axis* (any axis: the row walks its stride)."""
    return _rows(batch, "log_softmax" if log else "softmax", x, axis)


def layer_norm(
    batch: Any,
    x: StridedView,
    gamma: StridedView | None = None,
    beta: StridedView | None = None,
    axes: int = 1,
    eps: float = 1e-5,
    rms: bool = False,
) -> StridedView:
    """Normalize over the last *axes* dims: two passes (mean, then variance of x - mean)."""
    flat = flatten_last(batch, x, axes)
    g = flatten_last(batch, gamma, gamma.ndim) if gamma is not None else None
    b = flatten_last(batch, beta, beta.ndim) if beta is not None else None
    y = _rows(batch, "rms_norm" if rms else "layer_norm", flat, -1, g, b, eps)
    return y.reshape(x.shape)

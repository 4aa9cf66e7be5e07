// Row kernels: softmax, log_softmax, layer_norm, rms_norm over one (strided) axis, one
// workgroup of ${WG} threads per row. Numerically stable: softmax subtracts the row max;
// layer_norm takes the variance of (x - mean) in a second pass (no E[x^2] - E[x]^2).
// Uniforms: RowsParams (rows.py: rows_params).
${COMMON}
${BINDINGS}
${PARAMS}

var<workgroup> red: array<f32, ${WG}>;

fn wg_sum(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = ${WG}u / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn wg_max(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = ${WG}u / 2u; s > 0u; s = s >> 1u) {
    if (li < s) { red[li] = wa_max(red[li], red[li + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

${ENTRY}
  let L = P.length;
  let eps = P.eps;
${OUTER}
${BODY}
}

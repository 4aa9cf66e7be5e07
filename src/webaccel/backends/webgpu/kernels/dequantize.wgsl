// Weight-only dequantization: out[n, k] = q[n, k] * S[n, k / G] (f32, contiguous (N, K)).
// Q holds int8 or int4 codes in u32 words (see matmul_q.wgsl); any strides.
// Uniforms: DequantizeParams (matmul_q.py).
${BINDINGS}
${PARAMS}

${CODES}

${ENTRY}
  let K = P.k;
  let n = t / K;
  let k = t % K;
  let q = qv(P.q_off + i32(n) * P.q_sn + i32(k) * P.q_sk);
  out[t] = q * S[u32(P.s_off + i32(n) * P.s_sn + i32(k / P.group) * P.s_sg)];
}

// Weight-only dequantization: out[n, k] = q[n, k] * S[n, k / G] (f32, contiguous (N, K)).
// Q holds int8 or int4 codes in u32 words (see matmul_q.wgsl); any strides.
// Uniform words: [0] elements [1] threads per grid row [2] K [3] G, [4] q off [5] q_sn
// [6] q_sk, [8] s off [9] s_sn [10] s_sg.
${BINDINGS}
${PARAMS}

fn qv(e: i32) -> f32 {
  let u = u32(e);
  let w = bitcast<i32>(Q[u >> ${WORD_SHIFT}u]);
  return f32((w << (${TOP}u - ${BITS}u * (u & ${LANE_MASK}u))) >> ${TOP}u);
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * pu(1u);
  if (t >= pu(0u)) { return; }
  let K = pu(2u);
  let n = t / K;
  let k = t % K;
  let q = qv(pi(4u) + i32(n) * pi(5u) + i32(k) * pi(6u));
  out[t] = q * S[u32(pi(8u) + i32(n) * pi(9u) + i32(k / pu(3u)) * pi(10u))];
}

// Weight-only quantized linear: C = act(X @ dequantize(Q, S)^T + bias), dequantizing inside the
// K loop (the float weight is never stored). X (M, K) f32; Q (N, K) int8 or int4 codes in u32
// words (int8: 4 per word, int4: 8 per word, low bits first), element e of Q at bits
// [e * BITS % 32, +BITS) of word e * BITS / 32; S (N, ceil(K / G)) f32, w[n, k] = q[n, k] *
// S[n, k / G]. Each thread computes a ${TM} x ${TN} block of C from registers (no shared
// memory, no barriers: the direct matmul's shape). Modes: "vec" reads one (int4) or two (int8)
// words per column per 8 k and unpacks them with vector shifts, X as vec4 ("x4") or scalars
// ("x1"); "scalar" extracts each code (any strides, any K, any group).
// Uniform words: [0] M [1] N [2] K [3] G, [4] x off [5] x_sm [6] x_sk, [8] q off [9] q_sn
// [10] q_sk (codes), [12] c off [13] c_sm [14] c_sn, [16] bias off [17] bias_sm [18] bias_sn,
// [20] s off [21] s_sn [22] s_sg.
${COMMON}
${BINDINGS}
${PARAMS}

// code e of Q as f32 (sign-extended by an arithmetic shift)
fn qv(e: i32) -> f32 {
  let u = u32(e);
  let w = bitcast<i32>(Q[u >> ${WORD_SHIFT}u]);
  return f32((w << (${TOP}u - ${BITS}u * (u & ${LANE_MASK}u))) >> ${TOP}u);
}

@compute @workgroup_size(${TX}, ${TY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = pu(0u);
  let N = pu(1u);
  let K = pu(2u);
  let G = pu(3u);
  let a_base = pi(4u);
  let a_sm = pi(5u);
  let a_sk = pi(6u);
  let q_base = pi(8u);
  let q_sn = pi(9u);
  let q_sk = pi(10u);
  let c_base = pi(12u);
  let bias_base = pi(16u);
  let s_base = pi(20u);
  let s_sn = pi(21u);
  let s_sg = pi(22u);
  let m0 = gid.y * ${TM}u;
  let n0 = gid.x * ${TN}u;
  if (m0 >= M || n0 >= N) { return; }
${ACC_DECL}
${ROWS}
${LOOP}
${EPILOGUE}
}

// Weight-only quantized linear: C = act(X @ dequantize(Q, S)^T + bias), dequantizing inside the
// K loop (the float weight is never stored). X (M, K) f32; Q (N, K) int8 or int4 codes in u32
// words (int8: 4 per word, int4: 8 per word, low bits first), element e of Q at bits
// [e * BITS % 32, +BITS) of word e * BITS / 32; S (N, ceil(K / G)) f32, w[n, k] = q[n, k] *
// S[n, k / G]. Each thread computes a ${TM} x ${TN} block of C from registers (no shared
// memory, no barriers: the direct matmul's shape). Modes: "vec" reads one (int4) or two (int8)
// words per column per 8 k and unpacks them with vector shifts, X as vec4 ("x4") or scalars
// ("x1"); "scalar" extracts each code (any strides, any K, any group).
// Uniforms: QuantParams (matmul_q.py): M, N, K, G, then the offset and strides of X (a_*),
// Q (in codes), C, bias and S.
${COMMON}
${BINDINGS}
${PARAMS}

// code e of Q as f32 (sign-extended by an arithmetic shift)
${CODES}

@compute @workgroup_size(${TX}, ${TY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = P.m;
  let N = P.n;
  let K = P.k;
  let G = P.group;
  let a_base = P.a_off;
  let a_sm = P.a_sm;
  let a_sk = P.a_sk;
  let q_base = P.q_off;
  let q_sn = P.q_sn;
  let q_sk = P.q_sk;
  let c_base = P.c_off;
  let bias_base = P.bias_off;
  let s_base = P.s_off;
  let s_sn = P.s_sn;
  let s_sg = P.s_sg;
${BLOCK}
}

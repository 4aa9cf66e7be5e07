// Batched matmul without shared memory: each thread computes a ${TM} x ${TN} block of C straight
// from A and B (vec4 loads along K for A and along N for B when both are aligned, else scalar).
// No barriers: on CPU-emulated adapters (SwiftShader) barriers cost more than the cache misses
// that shared-memory tiling saves. Rows/columns past M/N are clamped for loading (always in
// bounds) and skipped when storing. Uniforms: MatmulParams (matmul_common.py).
${COMMON}
${BINDINGS}
${PARAMS}

@compute @workgroup_size(${TX}, ${TY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let M = P.m;
  let N = P.n;
  let K = P.k;
  var a_base = P.a_off;
  var b_base = P.b_off;
  var c_base = P.c_off;
  var bias_base = P.bias_off;
  var z = wg.z;
${BATCH}
  let a_sm = P.a_sm;
  let a_sk = P.a_sk;
  let b_sk = P.b_sk;
  let b_sn = P.b_sn;
  let m0 = gid.y * ${TM}u;
  let n0 = gid.x * ${TN}u;
  if (m0 >= M || n0 >= N) { return; }
${ACC_DECL}
${ROWS}
${LOOP}
${EPILOGUE}
}

// Batched matmul without shared memory: each thread computes a ${TM} x ${TN} block of C straight
// from A and B (vec4 loads along K for A and along N for B when both are aligned, else scalar).
// No barriers: on CPU-emulated adapters (SwiftShader) barriers cost more than the cache misses
// that shared-memory tiling saves. Rows/columns past M/N are clamped for loading (always in
// bounds) and skipped when storing. Uniform words as matmul.wgsl.
${COMMON}
${BINDINGS}
${PARAMS}

@compute @workgroup_size(${TX}, ${TY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let M = pu(0u);
  let N = pu(1u);
  let K = pu(2u);
  var a_base = pi(4u);
  var b_base = pi(8u);
  var c_base = pi(12u);
  var bias_base = pi(16u);
  var z = wg.z;
${BATCH}
  let a_sm = pi(5u);
  let a_sk = pi(6u);
  let b_sk = pi(9u);
  let b_sn = pi(10u);
  let m0 = gid.y * ${TM}u;
  let n0 = gid.x * ${TN}u;
  if (m0 >= M || n0 >= N) { return; }
${ACC_DECL}
${ROWS}
${LOOP}
${EPILOGUE}
}

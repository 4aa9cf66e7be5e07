// Matmul with subgroup broadcasts (the `subgroups` feature), no shared memory, no barriers.
// A workgroup is one row of ${TX} threads that all need the same ${TM} rows of A; each thread
// computes ${TM} x ${TN} outputs from its own ${TN} columns of B. Per 4 steps of K, lane l of a
// subgroup loads ONE vec4 of A (row l % ${TM}) instead of ${TM}, and takes the others from lanes
// below ${TM} with subgroupBroadcast. Needs subgroups of at least ${TM} lanes (the autotuner
// checks every result), A contiguous along K and B along N, K % 4 == 0 (vec4 loads). Out-of-range
// rows and columns are clamped for loading (every lane takes part in every broadcast) and skipped
// when storing. Uniforms: MatmulParams (matmul_common.py).
enable subgroups;
${COMMON}
${BINDINGS}
${PARAMS}

@compute @workgroup_size(${TX}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
        @builtin(subgroup_invocation_id) lane: u32) {
${SIZES}
${OPERANDS}
  let m0 = wg.y * ${TM}u;
  let n0 = gid.x * ${TN}u;
  let ra = a_base + i32(min(m0 + lane % ${TM}u, M - 1u)) * a_sm;
${COLS}
${ACC_DECL}
  for (var k = 0u; k < K; k = k + 4u) {
    let av = A[u32(ra + i32(k)) >> 2u];
${BODY}
  }
${EPILOGUE}
}

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
${SIZES}
${OPERANDS}
${BLOCK}
}

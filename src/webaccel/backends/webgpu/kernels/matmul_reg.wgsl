// Register-tiled matmul C[b] = act(A[b] @ B[b] + bias) for GPUs (the autotuner's big tiles).
// A workgroup of ${TX} x ${TY} threads computes a ${BM} x ${BN} tile of C; each thread ${TM} x ${TN}
// outputs, as 4x4 blocks strided by 4*${TY} rows and 4*${TX} columns, so that neighbouring threads
// read neighbouring vec4s of the shared tiles (no bank conflicts). K advances ${BK} at a time
// (those steps unrolled) through two shared-memory buffers: the next tile is loaded from global
// memory into registers while the current one is multiplied, then stored into the other buffer:
// one barrier per tile.
// ${GUARDS}
// Uniforms: MatmulParams (matmul_common.py).
${COMMON}
${BINDINGS}
${PARAMS}

// [buffer][k][m / 4] and [buffer][k][n / 4]: nested arrays, so that the bounds clamps WebGPU
// adds to every index (robustness) are per level and hoisted: the buffer's once per tile, the
// thread's column once per kernel, none for the unrolled k (flat arrays cost 12% on an H100).
var<workgroup> As: array<array<array<vec4<f32>, ${BM4}>, ${BK}>, 2>;
var<workgroup> Bs: array<array<array<vec4<f32>, ${BN4}>, ${BK}>, 2>;

@compute @workgroup_size(${TX}, ${TY}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${SIZES}
  let li = lid.y * ${TX}u + lid.x;
${OPERANDS}
  let m0 = wg.y * ${BM}u;
  let n0 = wg.x * ${BN}u;
${ACC_DECL}
${REG_DECL}
  var k0 = 0u;
${LOAD}
  var buf = 0u;  // the buffer of As / Bs that holds the current tile
${STORE}
  workgroupBarrier();
  loop {
    if (k0 >= K) { break; }
    let more = k0 + ${BK}u < K;
    if (more) {
      k0 = k0 + ${BK}u;
${LOAD}
    } else {
      k0 = K;
    }
${INNER}
    if (more) {
      buf = 1u - buf;
${STORE}
    }
    workgroupBarrier();
  }
${EPILOGUE}
}

// Batched, tiled matmul C[b] = act(A[b] @ B[b] + bias), A (M x K), B (K x N) strided views.
// Each workgroup computes a ${BM} x ${BN} tile of C through shared-memory tiles of depth ${BK};
// each thread a ${TM} x ${TN} register tile (vec4 accumulators along N). Loads are scalar or
// vec4 (where the operand is contiguous along the loaded axis and 16-byte aligned).
// Uniforms: MatmulParams (matmul_common.py): M, N, K, each operand's offset and strides,
// the batch shape and each operand's batch strides.
${COMMON}
${BINDINGS}
${PARAMS}

var<workgroup> As: array<vec4<f32>, ${AS_LEN}>;  // As[k * BM + m], 4 m per vec4
var<workgroup> Bs: array<vec4<f32>, ${BS_LEN}>;  // Bs[k * BN + n], 4 n per vec4

const BM: u32 = ${BM}u;
const BN: u32 = ${BN}u;
const BK: u32 = ${BK}u;
const NT: u32 = ${NT}u;

@compute @workgroup_size(${TX}, ${TY}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${SIZES}
  let li = lid.y * ${TX}u + lid.x;
${OPERANDS}
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
${ACC_DECL}
  for (var k0 = 0u; k0 < K; k0 = k0 + BK) {
${LOAD_A}
${LOAD_B}
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
${INNER}
    }
    workgroupBarrier();
  }
${EPILOGUE}
}

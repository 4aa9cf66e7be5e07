// Batched, tiled matmul C[b] = act(A[b] @ B[b] + bias), A (M x K), B (K x N) strided views.
// Each workgroup computes a ${BM} x ${BN} tile of C through shared-memory tiles of depth ${BK};
// each thread a ${TM} x ${TN} register tile (vec4 accumulators along N). Loads are scalar or
// vec4 (where the operand is contiguous along the loaded axis and 16-byte aligned).
// Uniform words: [0] M, [1] N, [2] K, [4..7] a_off a_sm a_sk, [8..11] b_off b_sk b_sn,
// [12..15] c_off c_sm c_sn, [16..19] bias_off bias_sm bias_sn, [20..) batch shape then the
// batch strides of a, b, c, bias (${BR} dims each).
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
  let M = pu(0u);
  let N = pu(1u);
  let K = pu(2u);
  let li = lid.y * ${TX}u + lid.x;
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

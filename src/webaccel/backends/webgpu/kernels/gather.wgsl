// gather along an axis: out[..., i, ...] = data[..., idx[i], ...]. Data and indices are seen as
// strided views over the output's shape (indices broadcast over the data's outer/inner dims,
// data over the index dims), so any layout works. Negative indices count from the end;
// out-of-range ones are clamped (NumPy would raise; a GPU kernel cannot).
// Uniform words: [0] elements, [1] threads per grid row, [2] axis length, [3] axis stride,
// [4..4+R) shape, then data off + strides[R], indices off + strides[R].
${BINDINGS}
${PARAMS}
${LOADERS}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * pu(1u);
  if (i >= pu(0u)) { return; }
${INDEX}
  var k = idx[u32(${IDX_OFF})];
  let n = i32(pu(2u));
  k = select(k, k + n, k < 0);
  k = clamp(k, 0, n - 1);
  out[i] = ld0(${DATA_OFF} + k * pi(3u));
}

// gather along an axis: out[..., i, ...] = data[..., idx[i], ...]. Data and indices are seen as
// strided views over the output's shape (indices broadcast over the data's outer/inner dims,
// data over the index dims), so any layout works. Negative indices count from the end. An
// out-of-range index is an error (as NumPy's): a kernel cannot raise, so the first one goes to
// the fault words (runtime.py: the next read raises IndexOutOfRangeError) and the read is
// clamped into the axis, so that no access leaves the data.
// Uniforms: GatherParams (gather.py: gather_params).
${COMMON}
${BINDINGS}
${PARAMS}
${LOADERS}

${ENTRY}
${INDEX}
  var k = idx[u32(${IDX_OFF})];
  let n = i32(P.axis_len);
  if (k < -n || k >= n) {
    if (atomicAdd(&fault[0], 1u) == 0u) {
      atomicStore(&fault[1], bitcast<u32>(k));
      atomicStore(&fault[2], P.axis_len);
      atomicStore(&fault[3], P.axis);
    }
  }
  k = select(k, k + n, k < 0);
  k = clamp(k, 0, n - 1);
  out[i] = ld0(${DATA_OFF} + k * P.axis_stride);
}

// gather along an axis: out[..., i, ...] = data[..., idx[i], ...]. Data and indices are seen as
// strided views over the output's shape (indices broadcast over the data's outer/inner dims,
// data over the index dims), so any layout works. Negative indices count from the end;
// out-of-range ones are clamped (NumPy would raise; a GPU kernel cannot).
// Uniforms: GatherParams (gather.py: gather_params).
${BINDINGS}
${PARAMS}
${LOADERS}

${ENTRY}
${INDEX}
  var k = idx[u32(${IDX_OFF})];
  let n = i32(P.axis_len);
  k = select(k, k + n, k < 0);
  k = clamp(k, 0, n - 1);
  out[i] = ld0(${DATA_OFF} + k * P.axis_stride);
}

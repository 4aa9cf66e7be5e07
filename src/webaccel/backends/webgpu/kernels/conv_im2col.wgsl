// im2col for conv2d: one thread per column element, columns written contiguously in the
// memory order ${ORDER} (named dims: n, g, ci, kh, kw, oh, ow); taps outside the (padded)
// input read 0. The input is a logical NCHW strided view (an NHWC tensor is a permuted view).
// Uniform words: [0] total, [1] threads per grid row, [4..11) dims in memory order,
// [12..) stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, H, W, C_per_group,
// x_off, x_sN, x_sC, x_sH, x_sW.
${BINDINGS}
${PARAMS}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * pu(1u);
  if (t >= pu(0u)) { return; }
${INDEX}
  let ih = i32(v_oh * pu(12u) + v_kh * pu(16u)) - i32(pu(14u));
  let iw = i32(v_ow * pu(13u) + v_kw * pu(17u)) - i32(pu(15u));
  var v = 0.0;
  if (ih >= 0 && ih < i32(pu(18u)) && iw >= 0 && iw < i32(pu(19u))) {
    let c = v_g * pu(20u) + v_ci;
    v = x[u32(pi(21u) + i32(v_n) * pi(22u) + i32(c) * pi(23u) + ih * pi(24u) + iw * pi(25u))];
  }
  col[t] = v;
}

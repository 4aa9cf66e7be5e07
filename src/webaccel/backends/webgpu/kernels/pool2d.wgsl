// max / average pool2d: one thread per output, the output contiguous in ${ORDER} order; the
// input a logical NCHW strided view. Padded taps are skipped: max ignores them, average divides
// by the valid count (ONNX count_include_pad=0) or by kh*kw when COUNT_PAD is set.
// Uniform words: [0] total, [1] threads per grid row, [4..8) dims in memory order,
// [8..) KH, KW, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, H, W,
// x_off, x_sN, x_sC, x_sH, x_sW.
${COMMON}
${BINDINGS}
${PARAMS}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * pu(1u);
  if (t >= pu(0u)) { return; }
${INDEX}
  let base = pi(18u) + i32(v_n) * pi(19u) + i32(v_c) * pi(20u);
  var acc = ${INIT};
  var count = 0u;
  for (var kh = 0u; kh < pu(8u); kh = kh + 1u) {
    let ih = i32(v_oh * pu(10u) + kh * pu(14u)) - i32(pu(12u));
    if (ih < 0 || ih >= i32(pu(16u))) { continue; }
    for (var kw = 0u; kw < pu(9u); kw = kw + 1u) {
      let iw = i32(v_ow * pu(11u) + kw * pu(15u)) - i32(pu(13u));
      if (iw < 0 || iw >= i32(pu(17u))) { continue; }
      let v = x[u32(base + ih * pi(21u) + iw * pi(22u))];
      ${ACCUM}
      count = count + 1u;
    }
  }
  ${FINISH}
}

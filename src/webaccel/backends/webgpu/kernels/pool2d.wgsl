// max / average pool2d: one thread per output, the output contiguous in ${ORDER} order; the
// input a logical NCHW strided view. Padded taps are skipped: max ignores them, average divides
// by the valid count (ONNX count_include_pad=0) or by kh*kw when COUNT_PAD is set, each tap as
// it is added (PRELUDE finds the divisor).
// Uniforms: Pool2dParams (pool2d.py: pool2d_params).
${COMMON}
${BINDINGS}
${PARAMS}

${ENTRY}
${INDEX}
  let base = P.x_off + i32(v_n) * P.x_strides_0 + i32(v_c) * P.x_strides_1;
${PRELUDE}
  var acc = ${INIT};
  for (var kh = 0u; kh < P.kh; kh = kh + 1u) {
    let ih = i32(v_oh * P.stride_h + kh * P.dil_h) - i32(P.pad_top);
    if (ih < 0 || ih >= i32(P.h)) { continue; }
    for (var kw = 0u; kw < P.kw; kw = kw + 1u) {
      let iw = i32(v_ow * P.stride_w + kw * P.dil_w) - i32(P.pad_left);
      if (iw < 0 || iw >= i32(P.w)) { continue; }
      let v = x[u32(base + ih * P.x_strides_2 + iw * P.x_strides_3)];
      ${ACCUM}
    }
  }
  ${FINISH}
}

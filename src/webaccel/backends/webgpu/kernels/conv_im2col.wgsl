// im2col for conv2d: one thread per column element, columns written contiguously in the
// memory order ${ORDER} (named dims: n, g, ci, kh, kw, oh, ow); taps outside the (padded)
// input read 0. The input is a logical NCHW strided view (an NHWC tensor is a permuted view).
// Uniforms: Im2colParams (conv.py: im2col_params).
${BINDINGS}
${PARAMS}

${ENTRY}
${INDEX}
  let ih = i32(v_oh * P.stride_h + v_kh * P.dil_h) - i32(P.pad_top);
  let iw = i32(v_ow * P.stride_w + v_kw * P.dil_w) - i32(P.pad_left);
  var v = 0.0;
  if (ih >= 0 && ih < i32(P.h) && iw >= 0 && iw < i32(P.w)) {
    let c = v_g * P.c_group + v_ci;
    v = x[u32(P.x_off + i32(v_n) * P.x_strides_0 + i32(c) * P.x_strides_1 + ih * P.x_strides_2 + iw * P.x_strides_3)];
  }
  col[t] = v;
}

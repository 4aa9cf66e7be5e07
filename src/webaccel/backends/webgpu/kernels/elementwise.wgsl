// Fused elementwise kernel: one expression over N strided inputs, one strided output.
// Filled in by elementwise.py (Python string.Template fields); uniforms: ElementwiseParams
// (elementwise_params: elements, threads per grid row, shape, each operand's offset, strides).
${COMMON}
${BINDINGS}
${PARAMS}

fn elem(i: u32) -> ${RTYPE} {
${INDEX}
${LOADS}
${BODY}
  return ${RESULT};
}

${ENTRY}
${STORE}
}

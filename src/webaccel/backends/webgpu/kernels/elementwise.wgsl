// Fused elementwise kernel: one expression over N strided inputs, one strided output.
// Filled in by codegen.elementwise_source() (Python string.Template fields).
// Uniform words: [0] elements, [1] threads per grid row, [4..4+R) shape, then per operand
// (inputs, then the output): element offset, strides[R] (i32).
${COMMON}
${BINDINGS}
${PARAMS}

fn elem(i: u32) -> ${RTYPE} {
${INDEX}
${LOADS}
${BODY}
  return ${RESULT};
}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x + gid.y * pu(1u);
${STORE}
}

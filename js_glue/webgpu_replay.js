// Replay of a captured graph: everything per run happens in one JS call.
// build() makes the bind groups and the uniform buffer once; run() encodes the input copies,
// every dispatch and the output copies into one command buffer and submits it. Python crosses
// the FFI once per run instead of several times per op.
(() => ({
  // commands: [[pipeline, layout, [GPUBuffer...], Uint8Array|null, x, y, z], ...];
  // inputs: [[plan-owned GPUBuffer, bytes], ...] filled from the arguments each run;
  // outputs: [[plan-owned GPUBuffer, bytes], ...] copied out to fresh buffers each run.
  build(device, queue, commands, align, inputs, outputs) {
    let total = 0;
    for (const c of commands) if (c[3]) total += Math.ceil(c[3].byteLength / align) * align;
    const uniform = total
      ? device.createBuffer({ size: total, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST })
      : null;
    const steps = [];
    let offset = 0;
    for (const [pipeline, layout, buffers, data, x, y, z] of commands) {
      const entries = buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
      if (data) {
        queue.writeBuffer(uniform, offset, data);
        entries.push({
          binding: buffers.length,
          resource: { buffer: uniform, offset, size: data.byteLength },
        });
        offset += Math.ceil(data.byteLength / align) * align;
      }
      steps.push([pipeline, device.createBindGroup({ layout, entries }), x, y, z]);
    }
    return { device, queue, steps, uniform, inputs, outputs };
  },
  // buffers: the arguments' GPUBuffers, then the output GPUBuffers, as plain arguments
  // (JsProxies pass through unconverted: no to_js, no allocation on the Python side).
  run(plan, ...buffers) {
    const encoder = plan.device.createCommandEncoder();
    const nIn = plan.inputs.length;
    for (let i = 0; i < nIn; i++) {
      const [target, bytes] = plan.inputs[i];
      encoder.copyBufferToBuffer(buffers[i], 0, target, 0, bytes);
    }
    const pass = encoder.beginComputePass();
    for (const [pipeline, bindGroup, x, y, z] of plan.steps) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
    }
    pass.end();
    for (let i = 0; i < plan.outputs.length; i++) {
      const [source, bytes] = plan.outputs[i];
      encoder.copyBufferToBuffer(source, 0, buffers[nIn + i], 0, bytes);
    }
    plan.queue.submit([encoder.finish()]);
  },
  destroy(plan) {
    if (plan.uniform) plan.uniform.destroy();
  },
}))()

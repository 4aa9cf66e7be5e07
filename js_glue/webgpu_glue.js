// webaccel's WebGPU glue: the hot paths where crossing the FFI per JS object would cost more
// than the work. Evaluated once with pyodide.code.run_js; the value is the helper object.
//
// Why: a Python -> JS call with Python objects costs ~20 us and every dict converted with
// to_js allocates; one call that builds the bind group and records the dispatch in JS costs one
// crossing. write() reads straight from Python memory (PyProxy.getBuffer): no copy on our side.
(() => {
  return {
    // Ask for the adapter's own maxima of the limits we care about, and the optional features.
    async requestDevice(adapter, limitNames, featureNames) {
      const requiredLimits = {};
      for (const name of limitNames) {
        if (adapter.limits[name] !== undefined) requiredLimits[name] = adapter.limits[name];
      }
      const requiredFeatures = featureNames.filter((f) => adapter.features.has(f));
      return adapter.requestDevice({ requiredLimits, requiredFeatures });
    },
    createBuffer: (device, size, usage) => device.createBuffer({ size, usage }),
    // queue.writeBuffer straight from a Python buffer (bytes, bytearray, memoryview, array).
    write(queue, buffer, offset, pyobj, start, length) {
      const pybuf = pyobj.getBuffer("u8");
      try {
        queue.writeBuffer(buffer, offset, pybuf.data, start, length);
      } finally {
        pybuf.release();
      }
    },
    pipeline(device, code, entryPoint) {
      const module = device.createShaderModule({ code });
      const pipeline = device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint },
      });
      return [pipeline, pipeline.getBindGroupLayout(0), module];
    },
    async pipelineAsync(device, code, entryPoint) {
      const module = device.createShaderModule({ code });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === "error");
      if (errors.length) {
        const text = errors.map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`).join("\n");
        throw new Error(`WGSL compilation failed:\n${text}`);
      }
      const pipeline = await device.createComputePipelineAsync({
        layout: "auto",
        compute: { module, entryPoint },
      });
      return [pipeline, pipeline.getBindGroupLayout(0), module];
    },
    beginPass(encoder, querySet) {
      const desc = {};
      if (querySet) {
        desc.timestampWrites = { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 };
      }
      return encoder.beginComputePass(desc);
    },
    // One dispatch: bind group (storage buffers in binding order, then the uniform slice).
    dispatch(device, pass, pipeline, layout, buffers, ubuf, uoff, usize, x, y, z) {
      const entries = [];
      for (let i = 0; i < buffers.length; i++) {
        entries.push({ binding: i, resource: { buffer: buffers[i] } });
      }
      if (ubuf) {
        entries.push({
          binding: buffers.length,
          resource: { buffer: ubuf, offset: uoff, size: usize },
        });
      }
      const bindGroup = device.createBindGroup({ layout, entries });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
    },
    submit(queue, encoder) {
      queue.submit([encoder.finish()]);
    },
    // Copy `size` bytes of `src` to a mappable staging buffer, map it and hand back the range.
    async readback(device, src, srcOffset, staging, size) {
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(src, srcOffset, staging, 0, size);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ, 0, size);
      return staging.getMappedRange(0, size);
    },
    // Device-lost and uncaptured-error hooks in one place, reported back through `sink`.
    watch(device, sink) {
      device.lost.then((info) => sink.lost(String(info.reason), String(info.message)));
      device.addEventListener("uncapturederror", (event) => {
        sink.error(String(event.error?.message ?? event.error));
      });
    },
  };
})()

// Replay of a captured graph on the webnn device: one JS call per run.
// build() makes the {name: MLTensor} records once, with the captured constants (weights) bound
// for good; run() binds the arguments' and the outputs' MLTensors and dispatches. The argument
// storages already are MLTensors: no writeTensor, no copy.
(() => ({
  // argNames: graph-input names fed by arguments, in run()'s order; constNames/constTensors:
  // graph inputs bound once; outNames: graph-output names, in run()'s order.
  build(ctx, graph, argNames, constNames, constTensors, outNames) {
    const inputs = {};
    for (let i = 0; i < constNames.length; i++) inputs[constNames[i]] = constTensors[i];
    return {
      ctx, graph, inputs, outputs: {},
      argNames: Array.from(argNames), outNames: Array.from(outNames),
    };
  },
  // tensors: the arguments' MLTensors, then the outputs' MLTensors, as plain arguments
  // (JsProxies pass through unconverted).
  run(plan, ...tensors) {
    const { argNames, outNames, inputs, outputs } = plan;
    const n = argNames.length;
    for (let i = 0; i < n; i++) inputs[argNames[i]] = tensors[i];
    for (let i = 0; i < outNames.length; i++) outputs[outNames[i]] = tensors[n + i];
    plan.ctx.dispatch(plan.graph, inputs, outputs);
  },
  // The host fast path (Captured.run_async): a slot of the plan's, with its own argument and
  // output MLTensors bound beside the constants. Overlapping calls each run on a slot of their
  // own (replay.py), so nothing here is shared between calls in flight.
  host(plan, argTensors, outTensors, module) {
    const inputs = { ...plan.inputs };
    for (let i = 0; i < plan.argNames.length; i++) inputs[plan.argNames[i]] = argTensors[i];
    const outputs = {};
    for (let i = 0; i < plan.outNames.length; i++) outputs[plan.outNames[i]] = outTensors[i];
    return {
      ctx: plan.ctx,
      graph: plan.graph,
      module,
      hostArgs: Array.from(argTensors),
      hostOuts: Array.from(outTensors),
      hostInputs: inputs,
      hostOutputs: outputs,
    };
  },
  // One run of a slot from host memory: writeTensor each argument straight from its Python
  // buffer, dispatch, readTensor each wanted output into its Python buffer. objs: the argument
  // buffers (argNames order), then one buffer per entry of reads (indexes into outNames).
  // mode "view": readTensor(t, view) over Python memory, falling back to a copy if the wasm
  // heap grew during the await (the view detaches: TypeError); "copy": readTensor(t) into JS
  // ArrayBuffers, then one set() per output into Python memory taken after the await.
  async runHost(slot, mode, reads, ...objs) {
    const { ctx, hostArgs, hostOuts } = slot;
    const n = hostArgs.length;
    for (let i = 0; i < n; i++) {
      const pybuf = objs[i].getBuffer("u8");
      try {
        ctx.writeTensor(hostArgs[i], pybuf.data);
      } finally {
        pybuf.release();
      }
    }
    ctx.dispatch(slot.graph, slot.hostInputs, slot.hostOutputs);
    const m = reads.length;
    if (mode === "view") {
      const bufs = [];
      try {
        const pending = [];
        for (let j = 0; j < m; j++) {
          const pybuf = objs[n + j].getBuffer("u8");
          bufs.push(pybuf);
          pending.push(ctx.readTensor(hostOuts[reads[j]], pybuf.data));
        }
        await Promise.all(pending);
        return true;
      } catch (err) {
        if (!(err instanceof TypeError)) throw err;
      } finally {
        for (const b of bufs) b.release();
      }
    }
    const pending = [];
    for (let j = 0; j < m; j++) pending.push(ctx.readTensor(hostOuts[reads[j]]));
    const data = await Promise.all(pending);
    for (let j = 0; j < m; j++) {
      const pybuf = objs[n + j].getBuffer("u8");
      try {
        pybuf.data.set(new Uint8Array(data[j]).subarray(0, pybuf.data.length));
      } finally {
        pybuf.release();
      }
    }
    return false;
  },
  // runHost over wasm addresses: addrs are the argument buffers' addresses (argNames order),
  // then one per entry of reads; sizes: the same buffers' byte lengths. No PyProxy, no
  // getBuffer: the bytes are read and written through the module's HEAPU8, re-read after the
  // await because a heap that grew meanwhile has a new buffer.
  async runAddr(slot, mode, reads, sizes, ...addrs) {
    const { ctx, hostArgs, hostOuts, module } = slot;
    const n = hostArgs.length;
    let heap = module.HEAPU8;
    for (let i = 0; i < n; i++) {
      ctx.writeTensor(hostArgs[i], heap.subarray(addrs[i], addrs[i] + sizes[i]));
    }
    ctx.dispatch(slot.graph, slot.hostInputs, slot.hostOutputs);
    const m = reads.length;
    if (mode === "view") {
      const pending = [];
      for (let j = 0; j < m; j++) {
        const at = addrs[n + j];
        pending.push(ctx.readTensor(hostOuts[reads[j]], heap.subarray(at, at + sizes[n + j])));
      }
      try {
        await Promise.all(pending);
        return true;
      } catch (err) {
        if (!(err instanceof TypeError)) throw err;
      }
    }
    // "copy": readTensor into the slot's own JS buffers (made once per output, as a page
    // reading into a preallocated typed array does), then one copy into Python memory
    const own = (slot.ownBufs ||= []);
    const pending = [];
    for (let j = 0; j < m; j++) {
      const k = reads[j];
      if (!own[k] || own[k].byteLength !== sizes[n + j]) own[k] = new Uint8Array(sizes[n + j]);
      pending.push(ctx.readTensor(hostOuts[k], own[k]));
    }
    await Promise.all(pending);
    heap = module.HEAPU8;
    for (let j = 0; j < m; j++) heap.set(own[reads[j]], addrs[n + j]);
    return false;
  },
  destroy(plan) {
    plan.inputs = null;
    plan.outputs = null;
  },
}))()

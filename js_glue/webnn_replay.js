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
  destroy(plan) {
    plan.inputs = null;
    plan.outputs = null;
  },
}))()

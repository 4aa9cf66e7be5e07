// The WebNN benchmark page: webaccel_pages.benchmarks.webnn.run_async measures webaccel's ops and a
// transformer block on WebNN, WebGPU and CPU, and times its captured block on WebNN against
// `plainWebNN` below: the same block built and dispatched with the raw WebNN API (MLGraphBuilder,
// MLTensor, writeTensor, dispatch, readTensor) on the same MLContext.
// The result is left in window.benchResult and #result-json (body[data-state=done]).
import { finish, loadWebaccel, params, runPage, showResult, status } from "./page.js";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length ? (s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2) : null;
};

// The block as webaccel_pages.benchmarks.webnn.make_block writes it (pre-LN, heads by
// reshape/transpose, GELU MLP); weights are graph constants, as in the graph webaccel's capture
// builds. One run: writeTensor(x), dispatch, await readTensor(y).
export const plainWebNN = {
  async setup(ctx, spec, inputU8, names, shapes, weightsU8) {
    const { seq, width: d, heads } = spec;
    const dh = d / heads;
    const f32 = (u8) => new Float32Array(u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength));
    const desc = (shape) => ({ dataType: "float32", shape });
    const b = new MLGraphBuilder(ctx);
    let opCount = 0;
    const op = (v) => { opCount += 1; return v; };
    const x = b.input("x", desc([seq, d]));
    const w = {};
    names.forEach((n, i) => { w[n] = b.constant(desc(Array.from(shapes[i])), f32(weightsU8[i])); });
    const ln = (t, g, bias) => op(b.layerNormalization(t, { axes: [1], scale: g, bias, epsilon: 1e-5 }));
    const headsOf = (t) => op(b.transpose(op(b.reshape(t, [seq, heads, dh])), { permutation: [1, 0, 2] }));
    const h = ln(x, w.ln1_g, w.ln1_b);
    const q = headsOf(op(b.matmul(h, w.wq)));
    const k = headsOf(op(b.matmul(h, w.wk)));
    const v = headsOf(op(b.matmul(h, w.wv)));
    const scale = b.constant(desc([]), new Float32Array([1 / Math.sqrt(dh)]));
    const kt = op(b.transpose(k, { permutation: [0, 2, 1] }));
    const p = op(b.softmax(op(b.mul(op(b.matmul(q, kt)), scale)), 2));
    const a = op(b.reshape(op(b.transpose(op(b.matmul(p, v)), { permutation: [1, 0, 2] })), [seq, d]));
    const x1 = op(b.add(x, op(b.matmul(a, w.wo))));
    const h2 = ln(x1, w.ln2_g, w.ln2_b);
    const mlp = op(b.matmul(op(b.gelu(op(b.matmul(h2, w.w1)))), w.w2));
    const y = op(b.add(x1, mlp));
    const graph = await b.build({ y });

    const xData = f32(inputU8);
    const xT = await ctx.createTensor({ ...desc([seq, d]), writable: true });
    const inputs = { x: xT };
    const owned = [xT];
    const yT = await ctx.createTensor({ ...desc([seq, d]), readable: true });
    owned.push(yT);
    const outputs = { y: yT };
    const yData = new Float32Array(seq * d);
    let inner = [];
    return {
      op_count: opCount,
      async run() {
        const t0 = performance.now();
        ctx.writeTensor(xT, xData);
        ctx.dispatch(graph, inputs, outputs);
        await ctx.readTensor(yT, yData);
        inner.push(performance.now() - t0);
      },
      output() { return new Uint8Array(yData.buffer.slice(0)); },
      reset_inner() { inner = []; },
      inner_stats() { return { median_ms: median(inner), runs: inner.length }; },
      destroy() { owned.forEach((t) => t.destroy()); graph.destroy(); },
    };
  },
};

async function main() {
  const pyodide = await loadWebaccel();
  window.benchPyodide = pyodide;
  const bench = pyodide.pyimport("webaccel_pages.benchmarks.webnn");
  const config = JSON.parse(bench.resolve_config_json(params.get("config") || ""));
  const result = {
    config,
    user_agent: navigator.userAgent,
    cross_origin_isolated: Boolean(globalThis.crossOriginIsolated),
    pyodide: pyodide.version,
    webnn_api: typeof MLGraphBuilder !== "undefined" && Boolean(navigator.ml),
  };
  status("webaccel: ops and the transformer block on " + config.backends.join(", ") + " …");
  try {
    const globals = pyodide.toPy({ config_json: JSON.stringify(config) });
    globals.set("plain", result.webnn_api ? plainWebNN : null);
    const json = await pyodide.runPythonAsync(
      "from webaccel_pages.benchmarks import webnn\nawait webnn.run_async(config_json, plain)",
      { globals });
    globals.destroy();
    result.webaccel = JSON.parse(json);
  } catch (error) {
    result.webaccel_error = String(error && error.message || error);
  }
  showResult(result);
  finish();
}

runPage(main);

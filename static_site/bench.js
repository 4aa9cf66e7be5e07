// The benchmark page: TF.js (WebGPU backend) and webaccel (Python in Pyodide) on the same
// WebGPU adapter, in the same page. The config (sizes, timing protocol) comes from
// webaccel_pages.benchmarks.ops.resolve_config, so both sides are timed by the same rules: warm up,
// then samples of `reps` back-to-back runs that each wait once for completion; median.
// The result is shown and left in window.benchResult and #result-json (body[data-state=done]).
import {
  $, fillKeyValueRows, fillRows, finish, fmt, loadWebaccel, params, runPage, showResult, status,
} from "./page.js";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const gflops = (flop, ms) => (ms > 0 ? flop / (ms * 1e-3) / 1e9 : null);

// The protocol of webaccel_pages.benchmarks.ops.time_runs, in JS. run() launches one run and returns
// a handle; await sync(handle) waits for completion; dispose(handle) frees it.
async function timeRuns(run, sync, dispose, cfg) {
  const warmStart = performance.now();
  let warmups = 0;
  let last = 0;
  while (warmups < Math.max(1, cfg.warmup) || performance.now() - warmStart < cfg.warmup_ms) {
    const t0 = performance.now();
    const h = run();
    await sync(h);
    last = performance.now() - t0;
    dispose(h);
    warmups += 1;
  }
  const est = Math.max(last, 1e-3); // ms
  const reps = Math.max(1, Math.ceil(cfg.sample_ms / est));
  let samples = Math.floor(cfg.budget_ms / (reps * est));
  samples = Math.min(Math.max(samples, cfg.min_samples), cfg.max_samples);
  const times = [];
  for (let s = 0; s < samples; s++) {
    const handles = [];
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) handles.push(run());
    await sync(handles[handles.length - 1]);
    times.push((performance.now() - t0) / reps);
    handles.forEach(dispose);
  }
  return {
    median_ms: median(times), min_ms: Math.min(...times), samples, reps, warmup_runs: warmups,
  };
}

function randomTensor(shape, seed) {
  let x = seed >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    data[i] = x / 4294967296 - 0.5;
  }
  return tf.tensor(data, shape, "float32");
}

async function tfjsSide(config) {
  if (typeof tf === "undefined" || !tf.findBackendFactory || !tf.findBackendFactory("webgpu")) {
    throw new Error("TF.js or its WebGPU backend did not load from peers/ (run `make setup`)");
  }
  tf.env().set("WEBGPU_CPU_FORWARD", false); // small ops stay on the GPU
  if (!(await tf.setBackend("webgpu"))) throw new Error("tf.setBackend('webgpu') failed");
  await tf.ready();
  const backend = tf.backend();
  // Completion: flush TF.js's pending command encoder, then wait for the queue. Without those
  // internals (another TF.js version) read the result back instead.
  const canFlush = ["ensureCommandEncoderReady", "endComputePassEncoder", "submitQueue"]
    .every((m) => typeof backend[m] === "function") && backend.queue;
  const sync = canFlush
    ? async () => {
      backend.ensureCommandEncoderReady();
      backend.endComputePassEncoder();
      backend.submitQueue();
      await backend.queue.onSubmittedWorkDone();
    }
    : async (t) => { await t.data(); };
  const dispose = (t) => t.dispose();

  // GPU timestamps (tf.time's kernelMs) where the adapter has timestamp-query: up to
  // gpu_timestamp_runs extra runs within budget_ms, as webaccel_pages.benchmarks.ops.timestamp_runs.
  async function kernelMs(run, medianMs) {
    if (!backend.supportTimestampQuery || config.gpu_timestamp_runs <= 0) return null;
    const runs = Math.min(config.gpu_timestamp_runs,
      Math.max(1, Math.floor(config.budget_ms / Math.max(medianMs, 1e-3))));
    const values = [];
    for (let i = 0; i < runs; i++) {
      const info = await tf.time(() => { dispose(run()); });
      if (typeof info.kernelMs === "number" && info.kernelMs > 0) values.push(info.kernelMs);
    }
    return values.length ? median(values) : null;
  }

  async function bench(flop, run) {
    const timing = await timeRuns(run, sync, dispose, config);
    const out = { flop, ...timing, gflops: gflops(flop, timing.median_ms) };
    const gpuMs = await kernelMs(run, timing.median_ms);
    if (gpuMs !== null) Object.assign(out, { gpu_ms: gpuMs, gpu_gflops: gflops(flop, gpuMs) });
    return out;
  }

  const result = {
    version: tf.version.tfjs,
    backend: tf.getBackend(),
    sync: canFlush ? "submitQueue + queue.onSubmittedWorkDone" : "tensor.data()",
    timestamp_query: Boolean(backend.supportTimestampQuery),
    matmul: [],
  };
  for (const n of config.sizes) {
    status(`TF.js: matmul ${n}x${n} …`);
    const a = randomTensor([n, n], 1);
    const b = randomTensor([n, n], 2);
    try {
      result.matmul.push({ n, ...(await bench(2 * n ** 3, () => tf.matMul(a, b))) });
    } catch (error) {
      result.matmul.push({ n, error: String(error) });
    } finally {
      a.dispose();
      b.dispose();
    }
  }
  const c = config.conv2d;
  if (c) {
    status("TF.js: conv2d …");
    const xShape = [c.batch, c.height, c.width, c.in_channels];
    const fShape = [c.kernel, c.kernel, c.in_channels, c.out_channels]; // TF.js: HWIO
    const x = randomTensor(xShape, 3);
    const f = randomTensor(fShape, 4);
    const flop = 2 * c.batch * c.height * c.width * c.out_channels * c.in_channels * c.kernel ** 2;
    try {
      result.conv2d = {
        input_nhwc: xShape, filter_hwio: fShape,
        ...(await bench(flop, () => tf.conv2d(x, f, 1, "same"))),
      };
    } catch (error) {
      result.conv2d = { error: String(error) };
    } finally {
      x.dispose();
      f.dispose();
    }
  }
  return result;
}

async function adapterInfo() {
  if (!navigator.gpu) return { available: false, error: "navigator.gpu is missing" };
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return { available: false, error: "requestAdapter() returned null" };
  const info = adapter.info || {};
  return {
    available: true,
    vendor: info.vendor, architecture: info.architecture, device: info.device,
    description: info.description, is_fallback: Boolean(info.isFallbackAdapter),
    features: [...adapter.features].sort(),
  };
}

function render(result) {
  const a = result.adapter;
  $("#adapter").textContent = a.available
    ? `${a.vendor}/${a.architecture}${a.is_fallback ? " (fallback)" : ""}` : a.error;
  const ours = result.webaccel || {};
  const theirs = result.tfjs || {};
  const rows = [];
  for (const t of theirs.matmul || (ours.matmul || [])) {
    const o = (ours.matmul || []).find((m) => m.n === t.n) || {};
    const p = (theirs.matmul || []).find((m) => m.n === t.n) || {};
    rows.push([`matmul ${t.n}`, o.gflops, p.gflops]);
  }
  if (theirs.conv2d || ours.conv2d) {
    rows.push(["conv2d", (ours.conv2d || {}).gflops, (theirs.conv2d || {}).gflops]);
  }
  fillRows($("#results tbody"), rows.map(([name, o, p]) =>
    [name, fmt(o), fmt(p), o && p ? fmt(o / p, 3) : "—"]));
  const ov = ours.overhead_us || {};
  fillKeyValueRows($("#overhead tbody"), [
    ["eager µs per op", ov.eager_per_op],
    ["graph µs per run", ov.graph_per_run],
    ["graph µs per op", ov.graph_per_op],
    ["webaccel error", result.webaccel_error],
    ["TF.js error", result.tfjs_error],
  ].filter(([, v]) => v !== undefined && v !== null)
    .map(([name, v]) => [name, typeof v === "number" ? fmt(v, 1) : v]));
  showResult(result);
}

async function main() {
  const pyodide = await loadWebaccel();
  window.benchPyodide = pyodide; // for the console (and host scripts) after the run
  const ops = pyodide.pyimport("webaccel_pages.benchmarks.ops");
  const config = JSON.parse(ops.resolve_config_json(params.get("config") || ""));
  const result = {
    config,
    adapter: await adapterInfo(),
    user_agent: navigator.userAgent,
    cross_origin_isolated: Boolean(globalThis.crossOriginIsolated),
    pyodide: pyodide.version,
  };
  try {
    result.tfjs = await tfjsSide(config);
  } catch (error) {
    result.tfjs_error = String(error && error.stack || error);
  }
  status(`webaccel (${config.device}): matmul, conv2d, overhead …`);
  try {
    const globals = pyodide.toPy({ config_json: JSON.stringify(config) });
    const json = await pyodide.runPythonAsync(
      "from webaccel_pages.benchmarks import ops\nawait ops.run_async(config_json)", { globals });
    globals.destroy();
    result.webaccel = JSON.parse(json);
  } catch (error) {
    result.webaccel_error = String(error && error.message || error);
  }
  render(result);
  finish();
}

runPage(main);

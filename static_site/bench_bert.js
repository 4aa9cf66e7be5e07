// The BERT benchmark page: webaccel_pages.benchmarks.bert.run_async times webaccel's all-MiniLM-L6-v2
// and `ortSide` below (onnxruntime-web 1.30, global `ort`, on model.onnx exported from the same
// safetensors) interleaved, in this page; the chart is drawn by webaccel_pages.benchmarks.chart.
import { $, finish, loadWebaccel, params, runPage, showResult, status } from "./page.js";

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(s);
  });
}

// One session per execution provider, from one fetch of the model. A case holds its feeds
// (int64 ids, mask and zero token types, made once) and the last output.
export const ortSide = {
  model: null,
  async setup(ep) {
    if (typeof ort === "undefined") {
      await loadScript("peers/onnxruntime-web/dist/ort.all.min.js");
      ort.env.wasm.wasmPaths = new URL("peers/onnxruntime-web/dist/", location.href).href;
      ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? 0 : 1;
    }
    if (!this.model) {
      const url = (params.get("model") || "models/all-MiniLM-L6-v2/") + "model.onnx";
      const response = await fetch(url);
      if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
      this.model = new Uint8Array(await response.arrayBuffer());
    }
    const provider = ep === "webnn" ? { name: "webnn", deviceType: "cpu" } : ep;
    const session = await ort.InferenceSession.create(this.model, {
      executionProviders: [provider],
      graphOptimizationLevel: "all",
    });
    return {
      prepare(batch, seq, idsI32, maskI32) {
        const dims = [batch, seq];
        const i64 = (a) => BigInt64Array.from(a, (v) => BigInt(v));
        const feeds = {
          input_ids: new ort.Tensor("int64", i64(idsI32), dims),
          attention_mask: new ort.Tensor("int64", i64(maskI32), dims),
          token_type_ids: new ort.Tensor("int64", new BigInt64Array(batch * seq), dims),
        };
        let last = null;
        return {
          async run() {
            const out = await session.run(feeds);
            last = out.embeddings.data;
            out.embeddings.dispose();
          },
          output() { return new Uint8Array(last.buffer, last.byteOffset, last.byteLength).slice(); },
        };
      },
      destroy() { session.release(); },
    };
  },
};

async function main() {
  const pyodide = await loadWebaccel();
  const bert = pyodide.pyimport("webaccel_pages.benchmarks.bert");
  const config = JSON.parse(bert.resolve_config_json(params.get("config") || ""));
  const result = { config, user_agent: navigator.userAgent, pyodide: pyodide.version };
  status("webaccel vs onnxruntime-web: " + config.pairs.map((p) => p.join(" vs ")).join(", ") + " …");
  try {
    window.benchRows = [];
    const report = (row) => {
      const r = JSON.parse(row);
      window.benchRows.push(r);
      status(`${window.benchRows.length} cases measured; last: ${r.backend} vs ${r.ep}, ` +
             `seq ${r.seq} x ${r.batch}: ${r.error || (r.ours_ms || 0).toFixed(1) + " ms"} …`);
    };
    const json = await bert.run_async(JSON.stringify(config), ortSide, report);
    Object.assign(result, JSON.parse(json));
    $("#chart").innerHTML = pyodide.pyimport("webaccel_pages.benchmarks.chart").ratio_svg(json);
  } catch (error) {
    result.webaccel_error = String(error && error.message || error);
  }
  showResult(result);
  finish();
}

runPage(main);

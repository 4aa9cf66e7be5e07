// The soak page: webaccel_pages.benchmarks.soak.run_async encodes and loads for a long while on
// one device and samples what webaccel holds; start and end are compared by `webaccel bench soak`.
// The result is left in window.benchResult and #result-json (body[data-state=done]).
import {
  $, fillKeyValueRows, fillRows, finish, fmt, loadWebaccel, params, runPage, showResult, status,
} from "./page.js";

function render(result) {
  const r = result.webaccel || {};
  const rows = [
    ["device", r.device],
    ["encodes / loads", `${r.encodes} / ${r.loads}`],
    ["device bytes, start / end", `${r.device_bytes_start} / ${r.device_bytes_end}`],
    ["storages, start / end", `${r.storages_start} / ${r.storages_end}`],
    ["JS heap, start / end", `${r.js_heap_start} / ${r.js_heap_end}`],
    ["recovery after a device loss (ms)", fmt(r.recovery_ms, 1)],
  ];
  if (result.webaccel_error) rows.push(["error", result.webaccel_error]);
  fillKeyValueRows($("#results tbody"), rows);
  // the curve: one sample every sample_every encodes, then the end and after the losses
  fillRows($("#curve tbody"), (r.curve || []).map((s) => [
    String(s.step), s.phase, String(s.device_bytes), String(s.storages), String(s.js_heap ?? "-"),
  ]));
  showResult(result);
}

async function main() {
  const pyodide = await loadWebaccel();
  const bench = pyodide.pyimport("webaccel_pages.benchmarks.soak");
  const config = JSON.parse(bench.resolve_config_json(params.get("config") || ""));
  const result = { config, user_agent: navigator.userAgent, pyodide: pyodide.version };
  status(`soak on ${config.device}: ${config.encodes} encodes, ${config.loads} loads …`);
  try {
    const globals = pyodide.toPy({
      config_json: JSON.stringify(config),
      progress: (done, total) => status(`soak on ${config.device}: ${done} / ${total} encodes …`),
    });
    const json = await pyodide.runPythonAsync(
      "from webaccel_pages.benchmarks import soak\nawait soak.run_async(config_json, progress)",
      { globals });
    globals.destroy();
    result.webaccel = JSON.parse(json);
  } catch (error) {
    result.webaccel_error = String(error && error.message || error);
  }
  render(result);
  finish();
}

runPage(main);

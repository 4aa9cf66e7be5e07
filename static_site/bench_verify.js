// The verify benchmark page: webaccel_pages.benchmarks.verify.run_async times all-MiniLM-L6-v2's
// first call of a fresh program and its steady encode with webaccel.verify off and on,
// interleaved, in this page (NumPy in the page is the cpu reference).
// The result is left in window.benchResult and #result-json (body[data-state=done]).
import { $, fillRows, finish, fmt, loadWebaccel, params, runPage, showResult, status } from "./page.js";

function render(result) {
  const r = result.webaccel || {};
  fillRows($("#results tbody"), (r.cases || []).map((c) => c.error
    ? [`${c.seq} x ${c.batch}`, c.error, "", "", "", "", "", "", "", ""]
    : [`${c.seq} x ${c.batch}`, fmt(c.off_first_ms, 1), fmt(c.on_first_ms, 1), fmt(c.first_ratio),
       fmt(c.off_ms, 1), fmt(c.on_ms, 1), fmt(c.steady_ratio, 3), fmt(c.readback_ms, 1),
       fmt(c.reference_ms, 1), fmt(c.compare_ms, 1)]));
  $("#verdict").textContent = result.webaccel_error
    ? `error: ${result.webaccel_error}`
    : `${r.programs_checked} program(s) checked, ${r.disagreements} disagreement(s) ` +
      `with the cpu reference (0 expected)`;
  showResult(result);
}

async function main() {
  const pyodide = await loadWebaccel();
  window.benchPyodide = pyodide;
  const bench = pyodide.pyimport("webaccel_pages.benchmarks.verify");
  const config = JSON.parse(bench.resolve_config_json(params.get("config") || ""));
  const result = {
    config,
    user_agent: navigator.userAgent,
    cross_origin_isolated: Boolean(globalThis.crossOriginIsolated),
    pyodide: pyodide.version,
  };
  status(`webaccel.verify off vs on, all-MiniLM-L6-v2 on ${config.device} …`);
  try {
    window.benchRows = [];
    const report = (row) => {
      const c = JSON.parse(row);
      window.benchRows.push(c);
      status(`${window.benchRows.length} of ${config.cases.length} cases measured; last: ` +
             `${c.seq} x ${c.batch}: ${c.error || "steady on/off " + fmt(c.steady_ratio, 3)} …`);
    };
    // runPythonAsync: verify reads device buffers back synchronously, through JSPI
    const globals = pyodide.toPy({ config_json: JSON.stringify(config), report });
    const json = await pyodide.runPythonAsync(
      "from webaccel_pages.benchmarks import verify\nawait verify.run_async(config_json, report)",
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

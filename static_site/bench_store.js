// The model store benchmark page: webaccel_pages.benchmarks.store.run_async saves and loads a model
// through webaccel.store (IndexedDB), reads the same chunks raw from IndexedDB in the same run,
// tries the codecs and loads two models sharing weights onto the device.
// The result is left in window.benchResult and #result-json (body[data-state=done]).
import {
  $, fillKeyValueRows, finish, fmt, loadWebaccel, params, runPage, showResult, status,
} from "./page.js";

const mbs = (x) => fmt(x, 1); // MB/s, one decimal

function render(result) {
  const r = result.webaccel || {};
  const share = r.sharing || {};
  const rows = [
    ["save MB/s", mbs(r.save && r.save.mb_s)],
    ["load MB/s", mbs(r.load && r.load.mb_s)],
    ["raw IndexedDB read MB/s", mbs(r.raw_load && r.raw_load.mb_s)],
    ["resident bytes, shared / unshared", `${share.resident_bytes_shared} / ${share.resident_bytes_unshared}`],
    ["unique weight bytes", share.unique_bytes],
  ];
  for (const [codec, c] of Object.entries(r.codecs || {})) {
    rows.push([`${codec}: stored/raw, save, load MB/s`,
      c.error || `${fmt(c.ratio, 3)}, ${mbs(c.save_mb_s)}, ${mbs(c.load_mb_s)}`]);
  }
  if (result.webaccel_error) rows.push(["error", result.webaccel_error]);
  fillKeyValueRows($("#results tbody"), rows);
  showResult(result);
}

async function main() {
  const pyodide = await loadWebaccel();
  window.benchPyodide = pyodide;
  const bench = pyodide.pyimport("webaccel_pages.benchmarks.store");
  const config = JSON.parse(bench.resolve_config_json(params.get("config") || ""));
  const result = {
    config,
    user_agent: navigator.userAgent,
    cross_origin_isolated: Boolean(globalThis.crossOriginIsolated),
    pyodide: pyodide.version,
  };
  status(`webaccel.store: save, load, raw read, codecs, sharing on ${config.device} …`);
  try {
    const globals = pyodide.toPy({ config_json: JSON.stringify(config) });
    const json = await pyodide.runPythonAsync(
      "from webaccel_pages.benchmarks import store\nawait store.run_async(config_json)", { globals });
    globals.destroy();
    result.webaccel = JSON.parse(json);
  } catch (error) {
    result.webaccel_error = String(error && error.message || error);
  }
  render(result);
  finish();
}

runPage(main);

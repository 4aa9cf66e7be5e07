// The model store benchmark page: webaccel.benchmarks.store.run_async saves and loads a model
// through webaccel.store (IndexedDB), reads the same chunks raw from IndexedDB in the same run,
// tries the codecs and loads two models sharing weights onto the device.
// The result is left in window.benchResult and #result-json (body[data-state=done]).
import { loadWebaccel, showPageError } from "./pyodide_loader.js";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
const status = (text) => { $("#status").textContent = text; };
const fmt = (x, digits = 1) => (typeof x === "number" ? x.toFixed(digits) : "—");

function render(result) {
  const r = result.webaccel || {};
  const share = r.sharing || {};
  const rows = [
    ["save MB/s", fmt(r.save && r.save.mb_s)],
    ["load MB/s", fmt(r.load && r.load.mb_s)],
    ["raw IndexedDB read MB/s", fmt(r.raw_load && r.raw_load.mb_s)],
    ["resident bytes, shared / unshared", `${share.resident_bytes_shared} / ${share.resident_bytes_unshared}`],
    ["unique weight bytes", share.unique_bytes],
  ];
  for (const [codec, c] of Object.entries(r.codecs || {})) {
    rows.push([`${codec}: stored/raw, save, load MB/s`,
      c.error || `${fmt(c.ratio, 3)}, ${fmt(c.save_mb_s)}, ${fmt(c.load_mb_s)}`]);
  }
  if (result.webaccel_error) rows.push(["error", result.webaccel_error]);
  $("#results tbody").replaceChildren(...rows.map(([name, value]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = name;
    const td = document.createElement("td");
    td.textContent = String(value);
    tr.append(th, td);
    return tr;
  }));
  $("#result-json").textContent = JSON.stringify(result, null, 2);
  $("#summary").hidden = false;
}

async function main() {
  const pyodide = await loadWebaccel(params, status);
  window.benchPyodide = pyodide;
  const bench = pyodide.pyimport("webaccel.benchmarks.store");
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
      "from webaccel.benchmarks import store\nawait store.run_async(config_json)", { globals });
    globals.destroy();
    result.webaccel = JSON.parse(json);
  } catch (error) {
    result.webaccel_error = String(error && error.message || error);
  }
  window.benchResult = result;
  render(result);
  status("Done.");
  document.body.dataset.state = "done";
}

main().catch(showPageError);

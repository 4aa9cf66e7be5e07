// The page users open: load Pyodide, install webaccel with micropip, show what detect() finds.
// Loading (config, Pyodide source, wheel) lives in pyodide_loader.js, shared with bench.html.
import { loadWebaccel } from "./pyodide_loader.js";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);

function status(text) {
  $("#status").textContent = text;
}

function cell(value) {
  const td = document.createElement("td");
  if (value === true || value === false) {
    td.textContent = value ? "yes" : "no";
    td.className = value ? "yes" : "no";
  } else if (Array.isArray(value)) {
    td.textContent = value.length > 12 ? `${value.slice(0, 12).join(", ")} … (${value.length})` : value.join(", ");
  } else if (value && typeof value === "object") {
    td.textContent = JSON.stringify(value);
  } else {
    td.textContent = value ?? "—";
  }
  return td;
}

function render(report) {
  const rows = [
    ["Python / Pyodide", `${report.python} / ${report.pyodide ?? "—"}`],
    ["JSPI", report.jspi],
    ["NumPy", report.numpy ?? false],
    ["WebGPU", report.webgpu.available],
    ["WebGPU adapter", report.webgpu.available
      ? `${report.webgpu.vendor} / ${report.webgpu.architecture}${report.webgpu.is_fallback ? " (fallback)" : ""}`
      : report.webgpu.error],
    ["WebGPU features", report.webgpu.features ?? []],
    ["WebNN", report.webnn.available],
    ["WebNN ops", report.webnn.available ? report.webnn.op_count : report.webnn.error],
    ["WebNN layout / devices", report.webnn.available
      ? `${report.webnn.preferred_layout} / ${(report.webnn.devices ?? []).join(", ")}` : "—"],
    ["IndexedDB", report.storage.indexeddb],
    ["Storage quota (bytes)", report.storage.quota],
  ];
  const body = $("#report tbody");
  body.replaceChildren();
  for (const [name, value] of rows) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = name;
    tr.append(th, cell(value));
    body.append(tr);
  }
  $("#tier").textContent = report.tier;
  $("#recommendations").replaceChildren(...report.recommendations.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  $("#report-json").textContent = JSON.stringify(report, null, 2);
  $("#summary").hidden = false;
}

async function main() {
  const pyodide = await loadWebaccel(params, status);
  status("Probing WebGPU, WebNN and storage …");
  const json = await pyodide.runPythonAsync(
    "import json, webaccel\njson.dumps(await webaccel.detect_async())");
  const report = JSON.parse(json);
  window.webaccelReport = report;
  render(report);
  status(`Done: tier ${report.tier}.`);
  document.body.dataset.state = "done";
}

main().catch((error) => {
  window.webaccelError = String(error && error.stack || error);
  document.body.dataset.state = "error";
  status("Failed.");
  $("#error").hidden = false;
  $("#error").textContent = window.webaccelError;
  console.error(error);
});

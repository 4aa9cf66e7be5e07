// The page users open: load Pyodide, install webaccel with micropip, show what detect() finds.
// Loading, the status line, tables and the done / error protocol live in page.js.
import { $, fillKeyValueRows, finish, loadWebaccel, runPage, showResult, status } from "./page.js";

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
  fillKeyValueRows($("#report tbody"), rows, cell);
  $("#tier").textContent = report.tier;
  $("#recommendations").replaceChildren(...report.recommendations.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
  showResult(report, { global: "webaccelReport", json: "#report-json" });
}

async function main() {
  const pyodide = await loadWebaccel({ pages: false }); // detect() needs only the runtime
  status("Probing WebGPU, WebNN and storage …");
  const json = await pyodide.runPythonAsync(
    "import json, webaccel\njson.dumps(await webaccel.detect_async())");
  const report = JSON.parse(json);
  render(report);
  finish(`Done: tier ${report.tier}.`);
}

runPage(main);

// The page users open: load Pyodide, install webaccel with micropip, show what detect() finds.
// Served by `webaccel serve`, which writes webaccel-config.json (Pyodide source, wheel URL);
// hosted anywhere else the page falls back to Pyodide's CDN and ./wheels/.
const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);

function status(text) {
  $("#status").textContent = text;
}

async function loadConfig() {
  try {
    const response = await fetch("webaccel-config.json", { cache: "no-store" });
    if (response.ok) return await response.json();
  } catch (_) { /* static hosting without the config: use the defaults */ }
  return {};
}

function pyodideIndexURL(config) {
  const version = params.get("pyodide") || config.pyodide_version || "314.0.7";
  const source = params.get("source") || config.pyodide_source || "cdn";
  if (source === "local") return new URL(`pyodide/${version}/`, location.href).href;
  return `https://cdn.jsdelivr.net/pyodide/v${version}/full/`;
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
  const config = await loadConfig();
  const indexURL = pyodideIndexURL(config);
  status(`Loading Pyodide from ${indexURL} …`);
  const { loadPyodide } = await import(`${indexURL}pyodide.mjs`);
  const pyodide = await loadPyodide({ indexURL });
  const packages = (params.get("packages") || "").split(",").filter(Boolean);
  await pyodide.loadPackage(["micropip", ...packages]);
  const wheel = new URL(config.wheel || "wheels/webaccel-0.1.0-py3-none-any.whl", location.href).href;
  status(`Installing ${wheel.split("/").pop()} with micropip …`);
  await pyodide.pyimport("micropip").install(wheel);
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

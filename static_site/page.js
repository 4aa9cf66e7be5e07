// The pages' one small library: loading Pyodide and the wheels, the status line, result tables,
// and the run / finish / failure protocol that the host tools and the tests read from the DOM:
//   document.body.dataset.state   "loading" (in the HTML), then "running" / "ready" / "done" /
//                                 "error";
//   the result                     in a window global (benchResult; index.html: webaccelReport)
//                                 and as JSON in a <pre> (#result-json; index.html: #report-json);
//   a failure                      window.webaccelError (and window.benchError, the name the
//                                 benchmark drivers read), "Failed." in #status, the #error box.
//
// Loading: `webaccel serve` writes webaccel-config.json (Pyodide source, the wheels' URLs);
// hosted anywhere else the pages fall back to Pyodide's CDN and ./wheels/.
// Query options: ?pyodide=VERSION, ?source=local|cdn, ?packages=numpy,...

export const $ = (sel) => document.querySelector(sel);
export const params = new URLSearchParams(location.search);

const DEFAULT_WHEELS = {
  wheel: "wheels/webaccel-0.1.0-py3-none-any.whl",
  pages_wheel: "wheels/webaccel_pages-0.1.0-py3-none-any.whl",
};

export function status(text) {
  const line = $("#status");
  if (line) line.textContent = text;
}

export function setState(state) {
  document.body.dataset.state = state;
}

// A number with `digits` decimals, or a dash where there is none.
export const fmt = (x, digits = 2) => (typeof x === "number" ? x.toFixed(digits) : "—");

export async function loadConfig() {
  try {
    const response = await fetch("webaccel-config.json", { cache: "no-store" });
    if (response.ok) return await response.json();
  } catch (_) { /* static hosting without the config: use the defaults */ }
  return {};
}

export function pyodideIndexURL(config) {
  const version = params.get("pyodide") || config.pyodide_version || "314.0.7";
  const source = params.get("source") || config.pyodide_source || "cdn";
  if (source === "local") return new URL(`pyodide/${version}/`, location.href).href;
  return `https://cdn.jsdelivr.net/pyodide/v${version}/full/`;
}

// The absolute URL of a wheel the config names: "wheel" (the runtime) or "pages_wheel".
export function wheelURL(config, key) {
  return new URL(config[key] || DEFAULT_WHEELS[key], location.href).href;
}

// Pyodide, the ?packages= it names and micropip (imported). Returns the pyodide object.
export async function loadPyodideWithMicropip(config) {
  const indexURL = pyodideIndexURL(config);
  status(`Loading Pyodide from ${indexURL} …`);
  const { loadPyodide } = await import(`${indexURL}pyodide.mjs`);
  const pyodide = await loadPyodide({ indexURL });
  const packages = (params.get("packages") || "").split(",").filter(Boolean);
  await pyodide.loadPackage(["micropip", ...packages]);
  pyodide.pyimport("micropip");
  return pyodide;
}

// Install a wheel with micropip, telling the status line.
export async function installWheel(pyodide, url) {
  status(`Installing ${url.split("/").pop()} with micropip …`);
  await pyodide.pyimport("micropip").install(url);
}

// Load Pyodide and install the webaccel wheel, then (unless `pages` is false) the pages wheel
// (webaccel_pages: the Python of the demo and benchmark pages). Returns the pyodide object.
export async function loadWebaccel({ pages = true } = {}) {
  const config = await loadConfig();
  const pyodide = await loadPyodideWithMicropip(config);
  await installWheel(pyodide, wheelURL(config, "wheel"));
  if (pages) await installWheel(pyodide, wheelURL(config, "pages_wheel"));
  return pyodide;
}

// Rows of a two-column table: each [name, value] a <tr> of a <th> and a <td>; `cell(value)`
// makes the <td> (default: the value as text).
export function fillKeyValueRows(tbody, rows, cell = textCell) {
  tbody.replaceChildren(...rows.map(([name, value]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = name;
    tr.append(th, cell(value));
    return tr;
  }));
}

// Rows of a table of cells: each array of texts a <tr> of <td>s.
export function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows.map((texts) => {
    const tr = document.createElement("tr");
    tr.append(...texts.map(textCell));
    return tr;
  }));
}

export function textCell(value) {
  const td = document.createElement("td");
  td.textContent = String(value);
  return td;
}

// Leave the result where the host tools read it: the window global `global` and, as JSON,
// the <pre> `json` (`replacer` as JSON.stringify's); then show the #summary section.
export function showResult(result, { global = "benchResult", json = "#result-json", replacer = null } = {}) {
  window[global] = result;
  $(json).textContent = JSON.stringify(result, replacer, 2);
  const summary = $("#summary");
  if (summary) summary.hidden = false;
}

// The run finished: the status line says so and the body's state is "done".
export function finish(text = "Done.") {
  status(text);
  setState("done");
}

// The run failed: the error goes to window.webaccelError and window.benchError, the body's
// state, the #status line, the #error box and the console.
export function fail(error) {
  const text = String((error && error.stack) || error);
  window.webaccelError = text;
  window.benchError = text;
  setState("error");
  status("Failed.");
  const box = $("#error");
  if (box) {
    box.hidden = false;
    box.textContent = text;
  }
  console.error(error);
}

// Run the page's main(); any failure goes through fail().
export function runPage(main) {
  main().catch(fail);
}

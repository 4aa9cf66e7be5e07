// Shared by the pages: load Pyodide and install the webaccel wheel with micropip.
// Served by `webaccel serve`, which writes webaccel-config.json (Pyodide source, wheel URL);
// hosted anywhere else the pages fall back to Pyodide's CDN and ./wheels/.
// Query options: ?pyodide=VERSION, ?source=local|cdn, ?packages=numpy,...

export async function loadConfig() {
  try {
    const response = await fetch("webaccel-config.json", { cache: "no-store" });
    if (response.ok) return await response.json();
  } catch (_) { /* static hosting without the config: use the defaults */ }
  return {};
}

export function pyodideIndexURL(config, params) {
  const version = params.get("pyodide") || config.pyodide_version || "314.0.7";
  const source = params.get("source") || config.pyodide_source || "cdn";
  if (source === "local") return new URL(`pyodide/${version}/`, location.href).href;
  return `https://cdn.jsdelivr.net/pyodide/v${version}/full/`;
}

// Load Pyodide, the ?packages= it names and micropip, then install the webaccel wheel.
// `status(text)` is told what is happening. Returns the pyodide object.
export async function loadWebaccel(params, status = () => {}) {
  const config = await loadConfig();
  const indexURL = pyodideIndexURL(config, params);
  status(`Loading Pyodide from ${indexURL} …`);
  const { loadPyodide } = await import(`${indexURL}pyodide.mjs`);
  const pyodide = await loadPyodide({ indexURL });
  const packages = (params.get("packages") || "").split(",").filter(Boolean);
  await pyodide.loadPackage(["micropip", ...packages]);
  const wheel = new URL(config.wheel || "wheels/webaccel-0.1.0-py3-none-any.whl", location.href).href;
  status(`Installing ${wheel.split("/").pop()} with micropip …`);
  await pyodide.pyimport("micropip").install(wheel);
  return pyodide;
}

// What every page does when its main() fails: the error goes to window.benchError (the host
// tools read it), the body's data-state, the #status line and the #error box, and the console.
export function showPageError(error) {
  window.benchError = String((error && error.stack) || error);
  document.body.dataset.state = "error";
  const status = document.querySelector("#status");
  if (status) status.textContent = "Failed.";
  const box = document.querySelector("#error");
  if (box) {
    box.hidden = false;
    box.textContent = window.benchError;
  }
  console.error(error);
}

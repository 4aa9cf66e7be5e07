// The footprint page: install the runtime wheel (only it) with micropip into a fresh Pyodide
// and time `import webaccel` with performance.now() around runPythonAsync. The result is left
// in window.benchResult and #result-json (body[data-state=done]); `webaccel footprint` reads it.
import {
  $, fillKeyValueRows, finish, fmt, installWheel, loadConfig, loadPyodideWithMicropip, runPage,
  showResult, status, wheelURL,
} from "./page.js";

async function main() {
  const config = await loadConfig();
  const t0 = performance.now();
  const pyodide = await loadPyodideWithMicropip(config);
  const t1 = performance.now();
  const wheel = wheelURL(config, "wheel");
  await installWheel(pyodide, wheel);
  const t2 = performance.now();
  status("import webaccel …");
  await pyodide.runPythonAsync("import webaccel");
  const t3 = performance.now();
  const modules = pyodide.runPython(
    "import sys\nsum(1 for m in sys.modules if m == 'webaccel' or m.startswith('webaccel.'))");
  const result = {
    wheel: wheel.split("/").pop(),
    pyodide: pyodide.version,
    pyodide_ms: t1 - t0,
    install_ms: t2 - t1,
    import_ms: t3 - t2,
    webaccel_modules: modules,
  };
  fillKeyValueRows($("#results tbody"), [
    ["wheel", result.wheel],
    ["Pyodide and micropip loaded (ms)", fmt(result.pyodide_ms, 0)],
    ["micropip install (ms)", fmt(result.install_ms, 0)],
    ["import webaccel (ms)", fmt(result.import_ms, 0)],
    ["webaccel modules imported", modules],
  ]);
  showResult(result);
  finish(`Done: import webaccel ${fmt(result.import_ms, 0)} ms.`);
}

runPage(main);

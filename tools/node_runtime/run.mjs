// Run Python in Pyodide 314 under Node 24 with WebGPU from Dawn's Node binding (issue 7).
//
//   node run.mjs [--pyodide DIR] [--webgpu DIR] [--wheel WHL] [--dawn FLAG]... [--mount DIR]... [--cache DIR]
//                (FILE.py | -c CODE) [ARGS...]
//
// Defaults: --pyodide <repo>/.lab/pyodide/314.0.7, --webgpu tools/node_runtime/.rt/webgpu,
// --wheel the newest <repo>/.lab/wheels/webaccel-*.whl; Dawn flags
// backend=vulkan and disable-dawn-features=timestamp_quantization (ns GPU timestamps).
// The Python code runs through runPythonAsync (top-level await works); sys.argv = [FILE, ARGS...].
// Pyodide's file system is in memory: --mount DIR mounts host DIR (NODEFS) at the same path, so
// Python can write result files there. webaccel's cache folder (the matmul autotuner's choices:
// $WEBACCEL_CACHE_DIR, default ~/.cache/webaccel; --cache DIR) is mounted the same way and
// passed as WEBACCEL_CACHE_DIR. Exit status: 0, or 1 with the Python traceback on stderr.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const args = process.argv.slice(2);
const opt = { pyodide: path.join(repo, ".lab/pyodide/314.0.7"), webgpu: path.join(here, ".rt/webgpu"),
              wheel: null, dawn: [], mount: [],
              cache: process.env.WEBACCEL_CACHE_DIR || path.join(os.homedir(), ".cache", "webaccel") };
let code = null, file = "<string>";
while (args.length) {
  const a = args.shift();
  if (a === "--pyodide") opt.pyodide = path.resolve(args.shift());
  else if (a === "--webgpu") opt.webgpu = path.resolve(args.shift());
  else if (a === "--wheel") opt.wheel = path.resolve(args.shift());
  else if (a === "--dawn") opt.dawn.push(args.shift());
  else if (a === "--mount") opt.mount.push(path.resolve(args.shift()));
  else if (a === "--cache") opt.cache = path.resolve(args.shift());
  else if (a === "-c") { code = args.shift(); break; }
  else { file = a; code = fs.readFileSync(a, "utf8"); break; }
}
if (code === null) { console.error("usage: node run.mjs [options] (FILE.py | -c CODE) [ARGS...]"); process.exit(2); }
if (!opt.wheel) {
  const dir = path.join(repo, ".lab/wheels");
  const whls = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^webaccel-.*\.whl$/.test(f)).sort() : [];
  if (!whls.length) { console.error(`no webaccel wheel in ${dir}: build it with webaccel_lab.wheels.build_wheel()`); process.exit(2); }
  opt.wheel = path.join(dir, whls[whls.length - 1]);
}

// WebGPU: add `gpu` to Node's own navigator (replacing globalThis.navigator breaks
// loadPyodide in Node >= 21) and expose the GPU* enums/classes as browser globals.
const { create, globals } = await import(pathToFileURL(path.join(opt.webgpu, "index.js")).href);
const flags = opt.dawn.length ? opt.dawn : ["backend=vulkan", "disable-dawn-features=timestamp_quantization"];
Object.assign(globalThis, globals);
Object.defineProperty(navigator, "gpu", { value: create(flags), configurable: true });

const { loadPyodide } = await import(pathToFileURL(path.join(opt.pyodide, "pyodide.mjs")).href);
const pyodide = await loadPyodide({
  indexURL: opt.pyodide + path.sep,
  env: { HOME: "/home/pyodide", WEBACCEL_CACHE_DIR: path.resolve(opt.cache) },
});
for (const dir of [...opt.mount, path.resolve(opt.cache)]) {
  fs.mkdirSync(dir, { recursive: true });
  pyodide.FS.mkdirTree(dir);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: dir }, dir);
}
await pyodide.loadPackage("micropip", { messageCallback: () => {} });
const whlName = path.basename(opt.wheel);
pyodide.FS.writeFile(`/tmp/${whlName}`, fs.readFileSync(opt.wheel));
await pyodide.runPythonAsync(`import micropip\nawait micropip.install("emfs:/tmp/${whlName}")`);
pyodide.globals.set("__argv", pyodide.toPy([file, ...args]));
pyodide.runPython("import sys; sys.argv = list(__argv); del __argv");
let status = 0;
try {
  await pyodide.runPythonAsync(code, { filename: file });
} catch (e) {
  console.error(e.message ?? String(e));
  status = 1;
}
// Dawn keeps the event loop alive; leave explicitly.
process.exit(status);

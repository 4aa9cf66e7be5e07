"""Model store benchmark: save and load MB/s through ``webaccel.store``, next to a raw read of
the same bytes, the codecs, and two models sharing weights on a device.

Runs in Pyodide (``static_site/bench_store.html`` calls ``run_async``: IndexedDB, the ``webgpu``
device by default) and on CPython (files in a temporary directory, the ``cpu`` device).

- The model: a BERT-shaped set of float32 tensors, all-MiniLM-L6-v2's shapes by default
  (vocab 30522, hidden 384, 6 layers, FFN 1536, 512 positions: 22.7M parameters, 90.9 MB),
  weights drawn from N(0, 0.02) (trained weights look like that: they compress about as badly).
- Save: ``save_async`` into an emptied store, ``repeats`` times (clearing before each).
- Load: ``weights.load_async(store, name, device, share=False)``: every chunk read and
  verified in the page's Web Workers (its xxh32x4 checksum; and again with
  ``load_check="sha256"``) and its bytes uploaded into the tensors' device
  buffers (on webgpu straight from the chunk's ArrayBuffer: one writeBuffer of the chunk into a
  staging buffer, then GPU copies into the tensors; the copies are submitted, not awaited,
  as the uploads were before);
  ``read_async`` (the same, into host memory: no device upload); interleaved with the raw read:
  the same chunk keys read straight from IndexedDB (one readonly transaction, every ``get``
  issued at once) or from the chunk files. Medians; ``load_ratio`` = ours / raw (MB/s).
- Codecs: the model saved and loaded with each of ``codecs``: stored/raw size, MB/s.
- Sharing: model B has A's embeddings and first ``shared_layers`` layers plus its own other
  layers; both loaded onto the device with and without sharing; resident bytes against the
  unique weight bytes (``resident_over_unique``).

MB are 10^6 bytes. The result is one JSON string (``run_async``).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import webaccel
from webaccel import _compat, weights
from webaccel.shapes import numel as _numel
from webaccel.store import Store

MB = 1e6
DB_NAME = "webaccel-bench-store"

DEFAULT_CONFIG: dict[str, Any] = {
    "device": None,  # webgpu in the browser, cpu on CPython
    "model": {"vocab": 30522, "hidden": 384, "layers": 6, "ffn": 1536, "positions": 512},
    "chunk_mb": 32,  # the store's chunk size in MiB (16-64; smaller only for tests)
    "repeats": 3,
    "codecs": ["gzip", "deflate"],
    "shared_layers": 3,
    "seed": 1,
}


def resolve_config(config: Any = None) -> dict[str, Any]:
    """*config* (None, a dict or a JSON string) over ``DEFAULT_CONFIG``."""
    if config is None or config == "":
        given: dict[str, Any] = {}
    elif isinstance(config, str):
        given = json.loads(config)
    elif hasattr(config, "to_py"):
        given = config.to_py()
    else:
        given = dict(config)
    unknown = set(given) - set(DEFAULT_CONFIG)
    if unknown:
        raise ValueError(f"unknown bench store config keys: {sorted(unknown)}")
    out = {**DEFAULT_CONFIG, **given}
    out["model"] = {**DEFAULT_CONFIG["model"], **(given.get("model") or {})}
    if out["device"] is None:
        out["device"] = "webgpu" if _compat.IN_PYODIDE else "cpu"
    return out


def resolve_config_json(config_json: str = "") -> str:
    return json.dumps(resolve_config(config_json))


def bert_layout(
    vocab: int, hidden: int, layers: int, ffn: int, positions: int
) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of a BERT encoder's float32 weights, in safetensors' order of kinds."""
    out: list[tuple[str, tuple[int, ...]]] = [
        ("embeddings.word_embeddings.weight", (vocab, hidden)),
        ("embeddings.position_embeddings.weight", (positions, hidden)),
        ("embeddings.token_type_embeddings.weight", (2, hidden)),
        ("embeddings.LayerNorm.weight", (hidden,)),
        ("embeddings.LayerNorm.bias", (hidden,)),
    ]
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value"):
            out += [(p + part + ".weight", (hidden, hidden)), (p + part + ".bias", (hidden,))]
        out += [
            (p + "attention.output.dense.weight", (hidden, hidden)),
            (p + "attention.output.dense.bias", (hidden,)),
            (p + "attention.output.LayerNorm.weight", (hidden,)),
            (p + "attention.output.LayerNorm.bias", (hidden,)),
            (p + "intermediate.dense.weight", (ffn, hidden)),
            (p + "intermediate.dense.bias", (ffn,)),
            (p + "output.dense.weight", (hidden, ffn)),
            (p + "output.dense.bias", (hidden,)),
            (p + "output.LayerNorm.weight", (hidden,)),
            (p + "output.LayerNorm.bias", (hidden,)),
        ]
    return [*out, ("pooler.dense.weight", (hidden, hidden)), ("pooler.dense.bias", (hidden,))]


_GAUSS_JS = """
(n, seed) => {
    // N(0, 0.02) float32 weights: xorshift32 + Box-Muller (fast enough for 100 MB)
    const out = new Float32Array(n);
    let x = (seed * 2654435761) >>> 0 || 1;
    const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
                         return (x + 0.5) / 4294967296; };
    for (let i = 0; i < n; i += 2) {
        const r = 0.02 * Math.sqrt(-2 * Math.log(next())), t = 2 * Math.PI * next();
        out[i] = r * Math.cos(t);
        if (i + 1 < n) out[i + 1] = r * Math.sin(t);
    }
    return out;
}
"""


def gaussian_bytes(n: int, seed: int) -> bytearray:
    """*n* float32 values from N(0, 0.02), as bytes (JS in the browser, NumPy or random here)."""
    if _compat.IN_PYODIDE:
        import js  # type: ignore[import-not-found]

        data = _compat.run_js(_GAUSS_JS)(n, seed)
        out = bytearray(4 * n)
        js.Uint8Array.new(data.buffer).assign_to(out)
        return out
    try:
        import numpy as np
    except ImportError:
        import array
        import random

        rng = random.Random(seed)
        return bytearray(array.array("f", (rng.gauss(0.0, 0.02) for _ in range(n))).tobytes())
    rng = np.random.default_rng(seed)
    return bytearray(rng.normal(0.0, 0.02, n).astype(np.float32).tobytes())


def make_model(
    layout: list[tuple[str, tuple[int, ...]]], seed: int, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Tensors ``{name: (memoryview, "float32", shape)}`` over one buffer of fresh weights;
    names in *base* take *base*'s value (the same bytes: shared weights)."""
    fresh = [(n, s) for n, s in layout if base is None or n not in base]
    data = memoryview(gaussian_bytes(sum(_numel(s) for _, s in fresh), seed))
    out: dict[str, Any] = {}
    pos = 0
    for name, shape in layout:
        if base is not None and name in base:
            out[name] = base[name]
            continue
        n = 4 * _numel(shape)
        out[name] = (data[pos : pos + n], "float32", shape)
        pos += n
    return out


# --- clocks and the raw read ------------------------------------------------------------------


def _now_ms() -> float:
    if _compat.IN_PYODIDE:
        import js  # type: ignore[import-not-found]

        return float(js.performance.now())
    return time.perf_counter() * 1e3


_RAW_READ_JS = """
async (name, keys) => {
    const db = await new Promise((ok, no) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => no(r.error);
    });
    try {
        const t0 = performance.now();
        const tx = db.transaction(["chunks"], "readonly");
        const store = tx.objectStore("chunks");
        const values = await Promise.all(keys.map((k) => new Promise((ok, no) => {
            const r = store.get(k); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error);
        })));
        const ms = performance.now() - t0;
        return [ms, values.reduce((n, v) => n + v.byteLength, 0)];
    } finally {
        db.close();
    }
}
"""


async def raw_read(store: Store, keys: list[str]) -> tuple[float, int]:
    """(ms, bytes) to read the stored *keys* without the store: IndexedDB gets issued at once
    in one readonly transaction (browser), or the chunk files read whole (CPython)."""
    backend = store.backend
    if _compat.IN_PYODIDE:
        ms, nbytes = await _compat.run_js(_RAW_READ_JS)(backend.name, _compat.to_js(keys))
        return float(ms), int(nbytes)
    t0 = _now_ms()
    nbytes = 0
    for key in keys:
        with open(backend._path("chunks", key), "rb") as f:  # type: ignore[attr-defined]
            nbytes += len(f.read())
    return _now_ms() - t0, nbytes


# --- the benchmark -------------------------------------------------------------------------------


async def open_store(config: dict[str, Any], path: str, compress: Any = False) -> Store:
    chunk = int(float(config["chunk_mb"]) * (1 << 20))
    small = not 16 << 20 <= chunk <= 64 << 20
    return await Store.open_async(
        path, allow_small_chunks=small, chunk_size=chunk, compress=compress, budget=None
    )


def _mb_s(nbytes: int, ms: float | None) -> float | None:
    return nbytes / MB / (ms / 1e3) if ms else None


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


async def _fresh(store: Store) -> None:
    await store.clear_async()
    gc.collect()


async def bench_codec(
    config: dict[str, Any], path: str, model: dict[str, Any], codec: str, dev: Any
) -> dict[str, Any]:
    """Save and load *model* with *codec*: stored/raw size and MB/s (medians)."""
    store = await open_store(config, path, compress=codec)
    try:
        saves, loads = [], []
        info: dict[str, Any] = {}
        for _ in range(max(1, int(config["repeats"]))):
            await _fresh(store)
            t0 = _now_ms()
            info = await store.save_async("a", model)
            saves.append(_now_ms() - t0)
            t0 = _now_ms()
            out = await weights.load_async(store, "a", dev, share=False)
            loads.append(_now_ms() - t0)
            del out
            gc.collect()
        total = info["total_bytes"]
        codecs = sorted({c["codec"] for c in store.manifest("a")["chunks"]})
        return {
            "codec": codec,
            "stored_bytes": info["stored_bytes"],
            "total_bytes": total,
            "ratio": info["stored_bytes"] / total if total else None,
            "chunk_codecs": codecs,
            "save_ms": saves,
            "load_ms": loads,
            "save_mb_s": _mb_s(total, _median(saves)),
            "load_mb_s": _mb_s(total, _median(loads)),
        }
    finally:
        await _fresh(store)
        await store.close_async()


async def run_async(config: Any = None) -> str:
    """The benchmark (see the module); returns the result as a JSON string."""
    config = resolve_config(config)
    dev = webaccel.get_device(config["device"])
    m = config["model"]
    layout = bert_layout(m["vocab"], m["hidden"], m["layers"], m["ffn"], m["positions"])
    model_a = make_model(layout, int(config["seed"]))
    total = sum(4 * _numel(s) for _, s in layout)
    result: dict[str, Any] = {
        "config": config,
        "python": sys.version.split()[0],
        "pyodide": _compat.pyodide_version(),
        "device": dev.name,
        "model": {"tensors": len(layout), "total_bytes": total, "parameters": total // 4},
        "errors": {},
    }
    tmp = None if _compat.IN_PYODIDE else tempfile.mkdtemp(prefix="webaccel-bench-store-")
    path = DB_NAME if tmp is None else os.path.join(tmp, "store")
    store = await open_store(config, path)
    try:
        result["store"] = {"backend": type(store.backend).__name__, "chunk_size": store.chunk_size}
        # save: into an emptied store each time
        saves = []
        for _ in range(max(1, int(config["repeats"]))):
            await _fresh(store)
            t0 = _now_ms()
            await store.save_async("a", model_a)
            saves.append(_now_ms() - t0)
        manifest = store.manifest("a")
        keys = [c["key"] for c in {c["key"]: c for c in manifest["chunks"]}.values()]
        stored = sum(c["stored"] for c in {c["key"]: c for c in manifest["chunks"]}.values())
        result["model"]["chunks"] = len(keys)
        # load, interleaved with the raw read of the same chunks
        loads: dict[str, list[float]] = {"fast": [], "sha256": [], "read": []}
        raws = []
        for _ in range(max(1, int(config["repeats"]))):
            ms, nbytes = await raw_read(store, keys)
            if nbytes != stored:
                raise RuntimeError(f"raw read got {nbytes} bytes, the chunks hold {stored}")
            raws.append(ms)
            for check in ("fast", "sha256"):  # the chunks' xxh32x4 checksums, or sha-256
                store.load_check = check
                gc.collect()
                t0 = _now_ms()
                out = await weights.load_async(store, "a", dev, share=False)
                loads[check].append(_now_ms() - t0)
                del out
            store.load_check = "fast"
            gc.collect()
            t0 = _now_ms()
            host = await store.read_async("a")  # verified, into host memory, no device
            loads["read"].append(_now_ms() - t0)
            del host
            gc.collect()
        checks = sorted({c.get("check", "").split(":")[0] or "sha256" for c in manifest["chunks"]})
        result["save"] = {"ms": saves, "mb_s": _mb_s(total, _median(saves))}
        result["load"] = {
            "ms": loads["fast"],
            "mb_s": _mb_s(total, _median(loads["fast"])),
            "checks": checks,
        }
        result["load_sha256"] = {
            "ms": loads["sha256"],
            "mb_s": _mb_s(total, _median(loads["sha256"])),
        }
        result["read"] = {"ms": loads["read"], "mb_s": _mb_s(total, _median(loads["read"]))}
        result["raw_load"] = {"ms": raws, "mb_s": _mb_s(stored, _median(raws))}
        await _fresh(store)
        # codecs
        codecs: dict[str, Any] = {}
        for codec in config["codecs"]:
            try:
                codecs[codec] = await bench_codec(config, path + "-" + codec, model_a, codec, dev)
            except Exception as exc:  # a codec the host lacks is reported, not fatal
                codecs[codec] = {"codec": codec, "error": f"{type(exc).__name__}: {exc}"}
        result["codecs"] = codecs
        # sharing: B = A's embeddings and first layers + its own other layers
        k = int(config["shared_layers"])
        shared_names = {n for n, _ in layout if n.startswith("embeddings.")}
        shared_names |= {
            n for n, _ in layout for i in range(k) if n.startswith(f"encoder.layer.{i}.")
        }
        model_b = make_model(layout, int(config["seed"]) + 1, {n: model_a[n] for n in shared_names})
        result["sharing"] = await bench_sharing(store, model_a, model_b, dev)
    finally:
        await _fresh(store)
        await store.close_async()
        if tmp is not None:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return json.dumps(result)


async def bench_sharing(
    store: Store, model_a: dict[str, Any], model_b: dict[str, Any], dev: Any
) -> dict[str, Any]:
    """Both models loaded onto *dev*, with and without sharing: resident bytes."""
    await store.save_async("a", model_a)
    await store.save_async("b", model_b)
    contents: dict[str, int] = {}
    for name in ("a", "b"):
        for t in store.manifest(name)["tensors"]:
            contents[t["sha256"]] = t["nbytes"]
    unique = sum(contents.values())
    per_model = {n: store.info(n)["total_bytes"] for n in ("a", "b")}
    resident: dict[str, int] = {}
    report = ""
    for share in (True, False):
        gc.collect()
        base = dev.live_bytes
        a = await weights.load_async(store, "a", dev, share=share)
        b = await weights.load_async(store, "b", dev, share=share)
        resident["shared" if share else "unshared"] = dev.live_bytes - base
        if share:
            report = str(webaccel.memory_report([dev]))
        del a, b
        gc.collect()
    return {
        "model_bytes": per_model,
        "unique_bytes": unique,
        "resident_bytes_shared": resident["shared"],
        "resident_bytes_unshared": resident["unshared"],
        "memory_report": report,
    }


def run(config: Any = None) -> str:
    """Sync ``run_async`` (CPython, or the browser with JSPI)."""
    return _compat.run_sync(run_async(config))


if __name__ == "__main__":  # python -m webaccel_pages.benchmarks.store '{"repeats": 1}'
    print(run(sys.argv[1] if len(sys.argv) > 1 else None))

"""webaccel.store inside Pyodide: the IndexedDB backend (round trip, dedup, corruption, eviction,
export/import, persistence across a page reload). Lane-neutral: only Pyodide and IndexedDB."""

from __future__ import annotations

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["webaccel"])
async def test_round_trip_through_indexeddb(selenium):
    import random

    from pyodide.code import run_js

    from webaccel import weights
    from webaccel.store import Store
    from webaccel.store.backends.idb import IDBBackend

    await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
        "wa-round-trip"
    )
    raw = random.Random(0).randbytes(5000)
    s = await Store.open_async("wa-round-trip", allow_small_chunks=True, chunk_size=1024)
    assert isinstance(s.backend, IDBBackend) and s.backend.name == "wa-round-trip"
    assert s.budget is None or s.budget > 0  # the navigator.storage.estimate() quota
    info = await s.save_async("m", {"w": (raw, "uint8", (5000,)), "e": (b"", "float32", (0,))})
    assert info["chunks"] == 5 and info["total_bytes"] == 5000
    await s.close_async()

    s2 = await Store.open_async("wa-round-trip", allow_small_chunks=True, chunk_size=1024)
    out = await weights.load_async(s2, "m", "webgpu")
    assert bytes(await out["w"].read_async()) == raw and out["e"].shape == (0,)
    host = await s2.read_async("m")  # verified bytes, on no device
    assert host["w"] == (bytearray(raw), "uint8", (5000,)) and host["e"][0] == b""
    assert await s2.verify_async("m") == []
    # values are stored as ArrayBuffers, one object store per namespace
    kinds = await run_js(
        """async (name) => {
            const db = await new Promise((ok, no) => {
                const r = indexedDB.open(name); r.onsuccess = () => ok(r.result); r.onerror = no;
            });
            const tx = db.transaction(["chunks"], "readonly");
            const values = await new Promise((ok) => {
                const r = tx.objectStore("chunks").getAll(); r.onsuccess = () => ok(r.result);
            });
            const stores = Array.from(db.objectStoreNames).sort().join(",");
            db.close();
            return [stores, values.every((v) => v instanceof ArrayBuffer), values.length];
        }"""
    )("wa-round-trip")
    assert kinds.to_py() == ["chunks,manifests,meta", True, 5]
    await s2.close_async()


@run_in_pyodide(packages=["webaccel"])
def test_sync_open_through_jspi(selenium):
    from webaccel import weights
    from webaccel.store import Store

    s = Store.open("wa-sync", allow_small_chunks=True, chunk_size=1024, budget=1 << 20)
    s.save("m", {"w": (bytes(range(256)) * 8, "uint8", (2048,))})
    assert weights.load(s, "m", "webgpu")["w"].to_bytes() == bytes(range(256)) * 8
    s.delete("m")
    assert s.list_models() == []


@run_in_pyodide(packages=["webaccel"])
async def test_an_aborted_put_many_writes_nothing(selenium):
    import pytest
    from pyodide.code import run_js
    from pyodide.ffi import JsException, to_js

    from webaccel.store.backends.idb import IDBBackend, idb_glue

    await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
        "wa-abort"
    )
    b = await IDBBackend.open("wa-abort")
    glue = idb_glue()
    values = to_js([glue.copyIn(memoryview(b"x")), glue.copyIn(memoryview(b"y"))])
    # the second key is invalid: the transaction aborts, and the error comes as a rejection
    # (the call itself does not throw)
    pending = glue.putMany(b._db, "chunks", to_js(["ok", None]), values)
    with pytest.raises(JsException, match="DataError"):
        await pending
    assert await b.keys("chunks") == []
    await b.put_many("chunks", {"k1": b"1", "k2": bytearray(b"22")})
    assert await b.keys("chunks") == ["k1", "k2"] and await b.get("chunks", "k2") == b"22"
    await b.delete_many("chunks", ["k1", "k2", "missing"])
    assert await b.keys("chunks") == [] and await b.get("chunks", "k1") is None
    await b.close()


@run_in_pyodide(packages=["webaccel"])
async def test_dedup_and_delete(selenium):
    import random

    from pyodide.code import run_js

    from webaccel.store import Store

    await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
        "wa-dedup"
    )
    s = await Store.open_async("wa-dedup", allow_small_chunks=True, chunk_size=1024)
    w = (random.Random(1).randbytes(4096), "uint8", (4096,))
    await s.save_async("a", {"w": w})
    used = s.used_bytes
    await s.save_async("b", {"w": w})
    assert s.used_bytes == used == 4096
    assert len(await s.backend.keys("chunks")) == 4
    await s.delete_async("a")
    assert len(await s.backend.keys("chunks")) == 4  # still referenced by b
    await s.delete_async("b")
    assert await s.backend.keys("chunks") == []
    assert await s.backend.keys("manifests") == []
    await s.close_async()


@run_in_pyodide(packages=["webaccel"])
async def test_corrupt_chunk_in_indexeddb(selenium):
    import random

    import pytest
    from pyodide.code import run_js

    from webaccel import weights
    from webaccel.store import CorruptChunkError, Store, xxh32x4

    await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
        "wa-corrupt"
    )
    raw = random.Random(2).randbytes(3000)
    s = await Store.open_async("wa-corrupt", allow_small_chunks=True, chunk_size=1024)
    await s.save_async("m", {"w": (raw, "uint8", (3000,))})
    chunks = s.manifest("m")["chunks"]
    key = chunks[1]["key"]
    # the checksum written in JS equals the Python reference, chunk by chunk
    for i, c in enumerate(chunks):
        assert c["check"] == "xxh32x4:" + xxh32x4(raw[1024 * i : 1024 * (i + 1)])
    assert xxh32x4(b"") == "9e3779b185ebca77c2b2ae3d27d4eb2f"
    await run_js(
        """async (name, key) => {
            const db = await new Promise((ok, no) => {
                const r = indexedDB.open(name); r.onsuccess = () => ok(r.result); r.onerror = no;
            });
            const tx = db.transaction(["chunks"], "readwrite");
            tx.objectStore("chunks").put(new Uint8Array(1024).fill(7).buffer, key);
            await new Promise((ok, no) => { tx.oncomplete = ok; tx.onabort = no; });
            db.close();
        }"""
    )("wa-corrupt", key)
    with pytest.raises(CorruptChunkError) as err:
        await weights.load_async(s, "m", "webgpu")  # the chunk's fast checksum catches it
    assert err.value.chunk == key and "xxh32x4 checksum mismatch" in str(err.value)
    s.load_check = "sha256"
    with pytest.raises(CorruptChunkError, match="sha-256 mismatch"):
        await weights.load_async(s, "m", "webgpu")
    s.load_check = "fast"
    assert await s.verify_async("m") == [key]  # always sha-256
    assert await s.repair_async("m", {"w": (raw, "uint8", (3000,))}) == [key]
    out = await weights.load_async(s, "m", "webgpu")
    assert bytes(await out["w"].read_async()) == raw
    await s.close_async()


@run_in_pyodide(packages=["webaccel"])
async def test_eviction_with_a_small_budget(selenium):
    import random

    import pytest
    from pyodide.code import run_js

    from webaccel import weights
    from webaccel.store import QuotaExceededError, Store

    await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
        "wa-evict"
    )

    def model(seed):
        return {"w": (random.Random(seed).randbytes(4096), "uint8", (4096,))}

    s = await Store.open_async("wa-evict", 2 * 4096, allow_small_chunks=True, chunk_size=1024)
    assert s.budget == 2 * 4096
    await s.save_async("a", model(0))
    await s.save_async("b", model(1))
    await weights.load_async(s, "a", "webgpu")  # b is now the least recently used
    await s.save_async("c", model(2))
    assert [m["name"] for m in s.list_models()] == ["a", "c"]
    assert len(await s.backend.keys("chunks")) == 8
    with s.pin("a"), s.pin("c"), pytest.raises(QuotaExceededError):
        await s.save_async("d", model(3))
    assert len(await s.backend.keys("chunks")) == 8  # nothing was written
    await s.close_async()


@run_in_pyodide(packages=["webaccel"])
async def test_export_import(selenium):
    import io
    import random

    import pytest
    from pyodide.code import run_js

    from webaccel import weights
    from webaccel.store import CorruptExportError, Store

    for name in ("wa-export-a", "wa-export-b"):
        await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
            name
        )
    raw = random.Random(3).randbytes(2500)
    a = await Store.open_async("wa-export-a", allow_small_chunks=True, chunk_size=1024)
    await a.save_async("m", {"w": (raw, "uint8", (2500,))}, source="https://example.com/m")
    buf = io.BytesIO()
    n = await a.export_async("m", buf)
    assert n == len(buf.getvalue())
    await a.export_async("m", "/tmp/m.wastore")  # Pyodide's in-memory file system
    b = await Store.open_async("wa-export-b", allow_small_chunks=True, chunk_size=1024)
    info = await b.import_async(io.BytesIO(buf.getvalue()), name="copy")
    assert info["name"] == "copy" and info["source"] == "https://example.com/m"
    out = await weights.load_async(b, "copy", "webgpu")
    assert bytes(await out["w"].read_async()) == raw
    assert (await b.import_async("/tmp/m.wastore"))["name"] == "m"
    bad = bytearray(buf.getvalue())
    bad[-40] ^= 0xFF
    with pytest.raises(CorruptExportError):
        await b.import_async(io.BytesIO(bytes(bad)))
    await a.close_async()
    await b.close_async()


SAVE = """
from webaccel.store import Store
s = await Store.open_async("wa-reload", allow_small_chunks=True, chunk_size=1024)
await s.clear_async()
await s.save_async("m", {"w": (bytes(range(200)) * 20, "uint8", (4000,))}, version="7")
await s.close_async()
"ok"
"""

LOAD = """
from webaccel import weights
from webaccel.store import Store
s = await Store.open_async("wa-reload", allow_small_chunks=True, chunk_size=1024)
out = bytes(await (await weights.load_async(s, "m", "webgpu"))["w"].read_async())
version = s.info("m")["version"]
await s.clear_async()
await s.close_async()
[version, out == bytes(range(200)) * 20]
"""


def test_store_persists_across_a_page_reload(selenium):
    selenium.load_package(["webaccel"])
    assert selenium.run_async(SAVE) == "ok"
    selenium.refresh()  # same browser profile, fresh page and Pyodide
    selenium.load_pyodide()
    selenium.initialize_pyodide()
    selenium.save_state()
    selenium.load_package(["webaccel"])
    assert selenium.run_async(LOAD) == ["7", True]


@run_in_pyodide(packages=["webaccel"])
async def test_compression_through_compression_stream(selenium):
    """gzip/deflate chunks are written by the browser's CompressionStream, verified with
    crypto.subtle and decoded by DecompressionStream; Python's zlib reads them too."""
    import hashlib
    import json
    import random
    import zlib

    import pytest
    from pyodide.code import run_js

    from webaccel import weights
    from webaccel.store import CorruptChunkError, Store, xxh32x4

    await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
        "wa-codec"
    )
    text = b"the same few words again and again; " * 300  # compresses well
    noise = random.Random(4).randbytes(3000)  # does not: stored as is
    for codec in ("gzip", "deflate"):
        s = await Store.open_async(
            "wa-codec", allow_small_chunks=True, chunk_size=4096, compress=codec
        )
        assert s.codec == codec
        info = await s.save_async(
            codec, {"t": (text, "uint8", (len(text),)), "n": (noise, "uint8", (3000,))}
        )
        chunks = s.manifest(codec)["chunks"]
        assert [c["codec"] for c in chunks] == [codec, codec, codec, "none"]
        assert info["stored_bytes"] < info["total_bytes"] / 2
        blob = await s.backend.get("chunks", chunks[0]["key"])
        assert hashlib.sha256(blob).hexdigest() == chunks[0]["key"]
        raw = zlib.decompress(blob, 31 if codec == "gzip" else 15)  # Python reads it too
        assert raw == text[:4096]
        assert await s.backend.decompress(codec, blob) == raw
        assert (
            zlib.decompress(await s.backend.compress(codec, raw), 31 if codec == "gzip" else 15)
            == raw
        )
        out = await weights.load_async(s, codec, "webgpu", share=False)
        assert bytes(await out["t"].read_async()) == text
        assert bytes(await out["n"].read_async()) == noise
        assert await s.verify_async(codec) == []
        await s.close_async()
    s = await Store.open_async("wa-codec", allow_small_chunks=True, chunk_size=4096, compress=True)
    assert s.codec == "deflate"  # the IndexedDB backend's choice for compress=True
    assert [m["name"] for m in s.list_models()] == ["deflate", "gzip"]
    # a chunk whose bytes match its key but do not decode is reported as corrupt, by name
    garbage = b"not gzip at all"
    bad_key = hashlib.sha256(garbage).hexdigest()
    m = s.manifest("gzip")
    m["chunks"][0]["key"] = bad_key
    m["chunks"][0]["check"] = "xxh32x4:" + xxh32x4(garbage)
    await s.backend.put_many("chunks", {bad_key: garbage})
    await s.backend.put_many(
        "manifests",
        {json.dumps(["gzip", m["version"]], separators=(",", ":")): json.dumps(m).encode()},
    )
    with pytest.raises(CorruptChunkError, match="gzip will not decode"):
        await weights.load_async(s, "gzip", "webgpu")
    await s.close_async()


@run_in_pyodide(packages=["webaccel"])
async def test_xxh32x4_wasm_js_and_python_agree(selenium):
    import random

    from webaccel.store import xxh32x4
    from webaccel.store.backends.idb import idb_glue

    glue = idb_glue()
    assert glue.wasmChecksum()  # Chromium runs the WebAssembly rounds
    rng = random.Random(5)
    # around the 16-byte stripe and the 256 KiB wasm block, at unaligned offsets too
    for n in (0, 1, 15, 16, 17, 100, 4096, 262144, 262160, 262161, 600003):
        raw = rng.randbytes(n + 3)
        for off in (0, 1, 3):
            data = raw[off : off + n]
            js_view = glue.alloc(n + 3).subarray(off, off + n)
            js_view.assign(data)
            want = xxh32x4(data) if n < 5000 else None  # the Python reference is slow
            wasm, plain = str(glue.xxh32x4(js_view)), str(glue.xxh32x4(js_view, False))
            assert wasm == plain, (n, off)
            assert want is None or wasm == want, (n, off)


@run_in_pyodide(packages=["webaccel"])
async def test_load_writes_the_device_from_js_chunks(selenium):
    """Whole-word tensors go from the chunks' ArrayBuffers straight to webgpu (staging and
    copies where a chunk feeds several); the rest through Python memory; a corrupt chunk
    leaves no device storage behind."""
    import gc
    import random

    import pytest
    from pyodide.code import run_js

    import webaccel
    from webaccel import weights
    from webaccel.store import CorruptChunkError, Store

    await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
        "wa-direct"
    )
    rng = random.Random(6)
    tensors = {
        "a": (rng.randbytes(4 * 700), "float32", (700,)),  # spans chunks 0-2
        "b": (rng.randbytes(8), "float32", (2,)),  # shares a chunk with a and c
        "odd": (rng.randbytes(5), "uint8", (5,)),  # not whole words: through Python
        "c": (rng.randbytes(4 * 100), "int32", (100,)),  # starts unaligned: through Python
        "e": (b"", "float32", (0,)),
    }
    s = await Store.open_async("wa-direct", allow_small_chunks=True, chunk_size=1024)
    await s.save_async("m", tensors)
    dev = webaccel.get_device("webgpu")
    writes: list[int] = []  # pieces per write_from_js call
    write = dev.write_from_js
    dev.write_from_js = lambda data, pieces: (writes.append(len(pieces)), write(data, pieces))
    for share in (False, True):
        out = await weights.load_async(s, "m", dev, share=share)
        for name, (raw, dtype, shape) in tensors.items():
            assert out[name].dtype.name == dtype and out[name].shape == shape
            assert bytes(await out[name].read_async()) == raw, name
        del out
        gc.collect()
    del dev.write_from_js
    assert writes == [1, 1, 2] * 2  # chunk 2 feeds a and b: one staging write, two copies
    live = dev.live_storages
    key = s.manifest("m")["chunks"][2]["key"]
    await run_js(
        """async (name, key) => {
            const db = await new Promise((ok, no) => {
                const r = indexedDB.open(name); r.onsuccess = () => ok(r.result); r.onerror = no;
            });
            const tx = db.transaction(["chunks"], "readwrite");
            const store = tx.objectStore("chunks");
            const value = await new Promise((ok) => {
                store.get(key).onsuccess = (e) => ok(e.target.result);
            });
            new Uint8Array(value)[100] ^= 1;
            store.put(value, key);
            await new Promise((ok, no) => { tx.oncomplete = ok; tx.onabort = no; });
            db.close();
        }"""
    )("wa-direct", key)
    with pytest.raises(CorruptChunkError, match="xxh32x4 checksum mismatch"):
        await weights.load_async(s, "m", dev, share=False)
    gc.collect()
    assert dev.live_storages == live  # the half-written tensors' storages were released
    await s.close_async()


@run_in_pyodide(packages=["webaccel"])
async def test_chunks_are_read_in_workers(selenium):
    """Loads read, verify and decode chunks in the page's Web Workers (the tests above go
    through them too); with workers=0 on the page's thread; a worker that dies hands its chunks
    back to the page, so the load still completes."""
    import random

    import pytest
    from pyodide.code import run_js

    from webaccel import _compat, weights
    from webaccel.store import CorruptChunkError, Store
    from webaccel.store.backends import idb

    await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
        "wa-workers"
    )
    raw = random.Random(9).randbytes(5000)
    s = await Store.open_async("wa-workers", allow_small_chunks=True, chunk_size=1024)
    assert s.backend.workers >= 2  # this page can make workers: they must be used
    await s.save_async("m", {"w": (raw, "float32", (1250,))})
    seen = []  # which path each chunk took
    glue = idb.idb_glue()
    for name in ("getChunksOff", "getChunks"):
        orig = getattr(glue, name)
        setattr(glue, name, lambda *a, _o=orig, _n=name: (seen.append(_n), _o(*a))[1])
    try:
        for workers, path in ((s.backend.workers, "getChunksOff"), (0, "getChunks")):
            s.backend.workers = workers
            seen.clear()
            out = await weights.load_async(s, "m", "webgpu", share=False)
            assert bytes(await out["w"].read_async()) == raw and seen[0] == path
    finally:
        _compat.host().reset_js_glue("idb_glue.js")  # a fresh glue (and pool) for what follows
    # workers whose script fails: their chunks are read on the page instead
    broken = idb.idb_glue()
    assert broken.startWorkers("throw new Error('no worker today')", 2) == 2
    s.backend.workers = 2
    out = await weights.load_async(s, "m", "webgpu", share=False)
    assert bytes(await out["w"].read_async()) == raw
    assert broken.startWorkers("", 2) == 0  # the dead workers were retired
    # a corrupt chunk is caught by the worker path too (a fresh, working pool)
    _compat.host().reset_js_glue("idb_glue.js")
    s.backend.workers = idb.read_workers(2)
    key = s.manifest("m")["chunks"][3]["key"]
    await run_js(
        """async (name, key) => {
            const db = await new Promise((ok, no) => {
                const r = indexedDB.open(name); r.onsuccess = () => ok(r.result); r.onerror = no;
            });
            const tx = db.transaction(["chunks"], "readwrite");
            tx.objectStore("chunks").put(new Uint8Array(1024).buffer, key);
            await new Promise((ok, no) => { tx.oncomplete = ok; tx.onabort = no; });
            db.close();
        }"""
    )("wa-workers", key)
    with pytest.raises(CorruptChunkError, match="xxh32x4 checksum mismatch") as err:
        await weights.load_async(s, "m", "webgpu", share=False)
    assert err.value.chunk == key
    await s.close_async()

"""webaccel.store on the host: FileBackend, chunks, manifests, quota, crash safety, export."""

from __future__ import annotations

import asyncio
import importlib
import io
import itertools
import json
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import webaccel as wa
from webaccel import _compat, weights
from webaccel._compat.cpython_host import CPythonHost
from webaccel.store import (
    SCHEMA_VERSION,
    CorruptChunkError,
    CorruptExportError,
    FileBackend,
    QuotaExceededError,
    Store,
    StoreError,
    migrate,
)
from webaccel.weights import HotCache

CHUNK = 1024  # small chunks for tests


def open_store(path: Path, **kw) -> Store:
    kw.setdefault("allow_small_chunks", True)
    kw.setdefault("chunk_size", CHUNK)
    return Store.open(path, **kw)


def blob(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def model(seed: int = 0, n: int = 4096) -> dict:
    return {
        "w": (blob(n, seed), "float32", (n // 4,)),
        "b": (blob(64, seed + 1), "int8", (64,)),
    }


def chunk_files(path: Path) -> list[Path]:
    return sorted((path / "chunks").iterdir())


def test_round_trip_dtypes_and_empty(tmp_path):
    s = open_store(tmp_path, compress=True)
    tensors = {
        "f32": wa.tensor([[1.5, -2.0, 3.25]], dtype="float32"),
        "f16": wa.tensor([1.0, 2.0, -0.5, 65504.0], dtype="float16"),
        "i8": (bytes([0, 1, 255, 128]), "int8", (2, 2)),
        "i32": wa.tensor([1, -2, 2**31 - 1], dtype="int32"),
        "big": (bytes(5000), "uint8", (5000,)),  # compressible
        "empty": (b"", "float32", (0, 3)),
    }
    info = weights.save(s, "m", tensors, source="https://example.com/m")  # tensors read back
    assert info["version"] == "1" and info["tensors"] == 6 and info["source"].startswith("https")
    s2 = open_store(tmp_path)
    out = weights.load(s2, "m")
    assert out["f32"].tolist() == [[1.5, -2.0, 3.25]]
    assert out["f16"].tolist() == [1.0, 2.0, -0.5, 65504.0]
    assert out["i8"].dtype is wa.int8 and out["i8"].shape == (2, 2)
    assert out["i8"].to_bytes() == bytes([0, 1, 255, 128])
    assert out["i32"].tolist() == [1, -2, 2**31 - 1]
    assert out["big"].to_bytes() == bytes(5000)
    assert out["empty"].shape == (0, 3) and out["empty"].to_bytes() == b""
    codecs = {c["codec"] for c in s2.manifest("m")["chunks"]}
    assert "zlib" in codecs
    host = s2.read("m")  # the bytes, verified, on no device: what save() takes
    assert host["i8"] == (bytearray([0, 1, 255, 128]), "int8", (2, 2))
    assert host["big"][0] == bytes(5000) and host["empty"] == (bytearray(), "float32", (0, 3))
    s2.save("copy", host)
    assert weights.load(s2, "copy")["f16"].tolist() == [1.0, 2.0, -0.5, 65504.0]


def test_dedup_across_models(tmp_path):
    s = open_store(tmp_path)
    shared = blob(3 * CHUNK, 5)
    s.save("a", {"emb": (shared, "uint8", (len(shared),)), "x": (blob(100, 1), "uint8", (100,))})
    used_a = s.used_bytes
    files_a = len(chunk_files(tmp_path))
    s.save("b", {"emb": (shared, "uint8", (len(shared),)), "y": (blob(100, 2), "uint8", (100,))})
    assert len(chunk_files(tmp_path)) == files_a + 1  # only b's small tensor is new
    assert s.used_bytes == used_a + 100
    s.delete("a")
    assert weights.load(s, "b")["emb"].to_bytes() == shared  # shared chunks survive (refcounted)
    s.delete("b")
    assert chunk_files(tmp_path) == [] and s.used_bytes == 0


def test_versions(tmp_path):
    s = open_store(tmp_path, keep_versions=2)
    s.save("m", model(1))
    s.save("m", model(2))
    assert s.info("m")["versions"] == ["1", "2"]
    assert weights.load(s, "m")["w"].to_bytes() == blob(4096, 2)
    assert weights.load(s, "m", version="1")["w"].to_bytes() == blob(4096, 1)
    s.save("m", model(3), version="v-three")
    assert s.info("m")["versions"] == ["2", "v-three"]  # keep_versions=2 dropped "1"
    with pytest.raises(StoreError, match="no model 'm' version '1'"):
        weights.load(s, "m", version="1")
    s1 = open_store(tmp_path / "one")  # keep_versions=1: the old version goes after commit
    s1.save("m", model(1))
    s1.save("m", model(2))
    assert s1.info("m")["versions"] == ["2"]
    assert len(chunk_files(tmp_path / "one")) == len(s1.manifest("m")["chunks"])


class CrashingBackend(FileBackend):
    """Raises after *after* chunk transactions (a crash between chunks and manifest)."""

    def __init__(self, root, after: int) -> None:
        super().__init__(root)
        self.after = after

    async def put_many(self, ns, items):
        if ns == "chunks":
            if self.after <= 0:
                raise OSError("simulated crash")
            self.after -= 1
        await super().put_many(ns, items)


def test_crash_before_manifest_keeps_previous_version(tmp_path):
    s = open_store(tmp_path)
    s.save("m", model(1))
    crashing = Store.open(
        backend=CrashingBackend(tmp_path, after=2), allow_small_chunks=True, chunk_size=CHUNK
    )
    with pytest.raises(OSError, match="simulated crash"):
        crashing.save("m", model(2, n=8192))
    assert len(chunk_files(tmp_path)) > len(s.manifest("m")["chunks"])  # orphans written
    again = open_store(tmp_path)
    assert again.info("m")["versions"] == ["1"]
    assert weights.load(again, "m")["w"].to_bytes() == blob(4096, 1)
    assert len(chunk_files(tmp_path)) == len(again.manifest("m")["chunks"])  # orphans GC'd


def test_killed_process_mid_save(tmp_path):
    s = open_store(tmp_path)
    s.save("m", model(1))
    code = textwrap.dedent(
        f"""
        import os, signal
        from webaccel.store import Store
        s = Store.open({str(tmp_path)!r}, allow_small_chunks=True, chunk_size={CHUNK})
        def progress(done, total):
            if done >= 3 * {CHUNK}:
                os.kill(os.getpid(), signal.SIGKILL)
        data = bytes(range(256)) * 64
        s.save("m", {{"w": (data, "uint8", (len(data),))}}, progress=progress)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(Path(wa.__file__).parents[1]))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    again = open_store(tmp_path)
    assert again.info("m")["versions"] == ["1"]
    assert weights.load(again, "m")["w"].to_bytes() == blob(4096, 1)
    assert len(chunk_files(tmp_path)) == len(again.manifest("m")["chunks"])


def test_journal_replayed_after_crash(tmp_path):
    fb = FileBackend(tmp_path)
    tmp = tmp_path / "tmp" / "x.tmp"
    tmp.write_bytes(b"new")
    (tmp_path / "meta" / "old").write_bytes(b"gone")
    ops = [["put", "tmp/x.tmp", "meta/a"], ["del", "meta/old"]]
    (tmp_path / "journal-1.json").write_text(json.dumps(ops))  # crashed after the commit point
    (tmp_path / "tmp" / "stray.tmp").write_bytes(b"uncommitted")
    fb.recover()
    assert asyncio.run(fb.get("meta", "a")) == b"new"
    assert asyncio.run(fb.keys("meta")) == ["a"]
    assert list((tmp_path / "tmp").iterdir()) == [] and not list(tmp_path.glob("journal-*"))


def test_corruption_detected_and_repaired(tmp_path):
    s = open_store(tmp_path)
    tensors = model(1)
    s.save("m", tensors)
    victim = s.manifest("m")["chunks"][1]["key"]
    path = tmp_path / "chunks" / victim
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(data)
    with pytest.raises(CorruptChunkError) as err:
        weights.load(s, "m")
    msg = str(err.value)
    assert "'m'" in msg and "'w'" in msg and victim in msg
    assert err.value.tensor == "w" and err.value.chunk == victim
    assert s.verify("m") == [victim]
    assert s.repair("m", tensors) == [victim]
    assert s.verify("m") == []
    assert weights.load(s, "m")["w"].to_bytes() == blob(4096, 1)
    path.write_bytes(b"garbage")
    out = weights.load(s, "m", source=lambda: tensors)  # load re-fetches from the source
    assert out["w"].to_bytes() == blob(4096, 1)


def test_lru_eviction_and_pins(tmp_path):
    one = 4096 + 64
    s = open_store(tmp_path, budget=3 * one)
    for i, name in enumerate("abc"):
        s.save(name, model(i))
    weights.load(s, "a")  # a is now the most recently used; b is the LRU
    s.save("d", model(3))
    assert [m["name"] for m in s.list_models()] == ["a", "c", "d"]
    with s.pin("c"):
        s.save("e", model(4))  # LRU is c, but it is pinned: a goes
        assert [m["name"] for m in s.list_models()] == ["c", "d", "e"]
        assert s.info("c")["pinned"]
        with pytest.raises(StoreError, match="pinned"):
            s.delete("c")
    assert s.used_bytes <= 3 * one


def test_quota_exceeded_message(tmp_path):
    one = 4096 + 64
    s = open_store(tmp_path, budget=2 * one)
    s.save("a", model(0))
    before = sorted(p.name for p in chunk_files(tmp_path))
    with s.pin("a"), pytest.raises(QuotaExceededError) as err:
        s.save("big", {"w": (blob(2 * one, 99), "uint8", (2 * one,))})
    msg = str(err.value)
    assert f"needs {2 * one} new bytes" in msg and f"budget is {2 * one} bytes" in msg
    assert "pinned: a" in msg and "Nothing was written" in msg
    assert err.value.needed == 2 * one and err.value.pinned == ["a"]
    assert sorted(p.name for p in chunk_files(tmp_path)) == before
    assert [m["name"] for m in s.list_models()] == ["a"]


def test_export_import_round_trip_and_corruption(tmp_path):
    s = open_store(tmp_path / "a", compress=True)
    s.save("m", model(7), source="hf://org/m")
    buf = io.BytesIO()
    n = s.export("m", buf)
    data = buf.getvalue()
    assert len(data) == n and data.startswith(b"WASTORE1")
    (hlen,) = struct.unpack_from("<Q", data, 8)
    header = json.loads(data[16 : 16 + hlen])
    assert header["format"] == "webaccel-store" and header["manifest"]["name"] == "m"
    other = open_store(tmp_path / "b")
    info = other.import_(io.BytesIO(data))
    assert info["source"] == "hf://org/m"
    assert weights.load(other, "m")["w"].to_bytes() == blob(4096, 7)
    s.export("m", tmp_path / "m.wastore")
    assert open_store(tmp_path / "c").import_(tmp_path / "m.wastore")["name"] == "m"
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 1
    third = open_store(tmp_path / "d")
    with pytest.raises(CorruptExportError):
        third.import_(io.BytesIO(bytes(bad)))
    assert third.list_models() == [] and chunk_files(tmp_path / "d") == []
    # repair from an export file
    victim = other.manifest("m")["chunks"][0]["key"]
    (tmp_path / "b" / "chunks" / victim).write_bytes(b"x")
    assert other.repair("m", tmp_path / "m.wastore") == [victim]
    assert weights.load(other, "m")["b"].to_bytes() == blob(64, 8)


def test_progress_monotonic(tmp_path):
    s = open_store(tmp_path)
    seen: list[tuple[int, int]] = []
    s.save("m", model(1), progress=lambda d, t: seen.append((d, t)))
    total = 4096 + 64
    assert seen[-1] == (total, total) and all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) > 2
    seen.clear()
    weights.load(s, "m", progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    seen.clear()
    s.save("e", {"z": (b"", "float32", (0,))}, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(0, 0)]


def test_partial_load_reads_only_the_chunks_it_needs(tmp_path):
    open_store(tmp_path).save("m", model(3))  # w: 4 chunks of its own, b: 1
    s = open_store(tmp_path)
    reads: list[str] = []
    get = s.backend.get

    async def counted(ns, key):
        reads.append(ns)
        return await get(ns, key)

    s.backend.get = counted
    seen: list[tuple[int, int]] = []
    out = weights.load(s, "m", tensors=["b"], progress=lambda d, t: seen.append((d, t)))
    assert list(out) == ["b"] and out["b"].to_bytes() == blob(64, 4)
    assert reads.count("chunks") == 1 and seen[-1] == (64, 64)
    host = s.read("m", tensors=("w",))
    assert list(host) == ["w"] and host["w"][0] == blob(4096, 3)
    assert reads.count("chunks") == 1 + 4
    assert weights.load(s, "m", tensors=[]) == {}
    with pytest.raises(KeyError, match="has no tensor 'nope' \\(and 1 more\\)"):
        weights.load(s, "m", tensors=["w", "nope", "zz"])
    with pytest.raises(TypeError, match="list of tensor names"):
        s.read("m", tensors="w")


def test_hot_cache_bound(tmp_path):
    c = HotCache(100)
    c.put("a", 1, 40)
    c.put("b", 2, 40)
    assert c.get("a") == 1  # a is now recent
    c.put("c", 3, 40)
    assert "b" not in c and "a" in c and "c" in c and c.nbytes == 80
    c.put("huge", 4, 101)
    assert "huge" not in c and c.nbytes <= 100
    s = open_store(tmp_path)
    hot = HotCache(10_000)
    s.save("m", model(1))
    first = weights.load(s, "m", cache=hot)
    assert weights.load(s, "m", cache=hot)["w"] is first["w"]  # served from the hot cache
    assert hot.nbytes <= 10_000
    # a version saved again is never served from the cache: its entries go at the next load
    s.save("m", model(2), version="1")
    again = weights.load(s, "m", cache=hot)
    assert again["w"] is not first["w"] and again["w"].to_bytes() == blob(4096, 2)
    assert len(hot) == 2 and hot.nbytes <= 10_000


def test_schema_migration(tmp_path):
    raw = blob(3000, 9)
    old = {
        "schema_version": 1,
        "name": "old",
        "version": 1,
        "chunk_size": CHUNK,
        "chunks": [],
        "tensors": [
            {"name": "a", "dtype": "uint8", "shape": [1000], "offset": 0, "nbytes": 1000},
            {"name": "b", "dtype": "uint8", "shape": [2000], "offset": 1000, "nbytes": 2000},
        ],
        "created": 1.0,
    }
    fb = FileBackend(tmp_path)
    import hashlib

    for i in range(0, len(raw), CHUNK):
        piece = raw[i : i + CHUNK]
        key = hashlib.sha256(piece).hexdigest()
        old["chunks"].append({"sha256": key, "size": len(piece)})
        asyncio.run(fb.put_many("chunks", {key: piece}))
    asyncio.run(fb.put_many("manifests", {"old-v1": json.dumps(old).encode()}))
    new = migrate(old)
    assert new["schema_version"] == SCHEMA_VERSION and new["version"] == "1"
    assert new["tensors"][1]["ranges"][0] == [0, 1000, 24]
    s = open_store(tmp_path)
    out = weights.load(s, "old")
    assert out["a"].to_bytes() + out["b"].to_bytes() == raw
    assert s.manifest("old")["schema_version"] == SCHEMA_VERSION
    with pytest.raises(StoreError, match="newer"):
        migrate({"schema_version": SCHEMA_VERSION + 1, "name": "x"})


class NodeWithoutIndexedDB(CPythonHost):
    kind = "node"
    in_pyodide = True


def test_open_defaults_and_chunk_size_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBACCEL_STORE_DIR", str(tmp_path / "env"))
    s = Store.open()
    assert s.backend.root == tmp_path / "env" and s.chunk_size == 32 * 1024 * 1024
    with pytest.raises(ValueError, match="16-64 MiB"):
        Store.open(tmp_path, chunk_size=CHUNK)
    with _compat.use_host(NodeWithoutIndexedDB()):  # Pyodide under Node: no IndexedDB
        with pytest.raises(StoreError, match="no IndexedDB on this host"):
            asyncio.run(Store.open_async(tmp_path))


def test_two_stores_saving_one_model_at_once(tmp_path):
    """Two stores over one directory (two pages, or two processes) save versions of the same
    model concurrently: the store lock serializes the commits, and afterwards exactly one whole
    version is visible (the later commit replaced the earlier one)."""
    open_store(tmp_path).save("m", model(1))
    order: list[str] = []

    async def main() -> None:
        stores = [await Store.open_async(tmp_path, allow_small_chunks=True, chunk_size=CHUNK)]
        stores.append(await Store.open_async(tmp_path, allow_small_chunks=True, chunk_size=CHUNK))
        for tag, s in zip("ab", stores, strict=True):
            put = s.backend.put_many

            async def slow(ns, items, put=put, tag=tag):
                order.append(tag)
                await asyncio.sleep(0.002)  # let the other store run in between
                await put(ns, items)

            s.backend.put_many = slow
        await asyncio.gather(
            stores[0].save_async("m", model(2, n=8192), version="2"),
            stores[1].save_async("m", model(3, n=8192), version="3"),
        )

    asyncio.run(main())
    assert sum(x != y for x, y in itertools.pairwise(order)) == 1  # one commit, then the other
    last = "3" if order[-1] == "b" else "2"
    s = open_store(tmp_path)
    assert s.info("m")["versions"] == [last]
    assert s.verify("m") == []
    assert weights.load(s, "m")["w"].to_bytes() == blob(8192, int(last))
    assert {p.name for p in chunk_files(tmp_path)} == {c["key"] for c in s.manifest("m")["chunks"]}


def test_store_lock_across_processes(tmp_path):
    """The file lock holds off other processes: a save waits for it, and opening the store does
    not take a live writer's temporary files for crash leftovers."""
    open_store(tmp_path).save("m", model(1))
    stray = tmp_path / "tmp" / "in-flight.tmp"
    code = textwrap.dedent(
        f"""
        import asyncio, time
        from pathlib import Path
        from webaccel.store import FileBackend
        async def main():
            async with FileBackend({str(tmp_path)!r}).lock():
                Path({str(stray)!r}).write_bytes(b"a writer's temp file")
                print("locked", flush=True)
                time.sleep(1.5)
        asyncio.run(main())
        """
    )
    env = dict(os.environ, PYTHONPATH=str(Path(wa.__file__).parents[1]))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"locked"
        FileBackend(tmp_path)  # recovery skipped: the lock is held
        assert stray.exists()
        import time

        t0 = time.monotonic()
        open_store(tmp_path).save("m", model(2))  # waits for the other process
        assert time.monotonic() - t0 > 0.5
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == 0
    FileBackend(tmp_path)  # nobody holds the lock: leftovers go
    assert not stray.exists()
    assert weights.load(open_store(tmp_path), "m")["w"].to_bytes() == blob(4096, 2)


@pytest.mark.parametrize("codec", ["gzip", "deflate", "zlib"])
def test_codecs_on_the_host(tmp_path, codec):
    """The browser's codecs (gzip, deflate = zlib's format) written and read by Python's zlib:
    chunks move between the browser and the host (export/import) either way."""
    text = b"weights weights weights " * 200
    s = open_store(tmp_path, compress=codec)
    info = s.save("m", {"t": (text, "uint8", (len(text),)), "n": (blob(2000, 1), "uint8", (2000,))})
    chunks = s.manifest("m")["chunks"]
    assert {c["codec"] for c in chunks} == {codec, "none"}  # random bytes stay uncompressed
    assert info["stored_bytes"] < info["total_bytes"]
    first = (tmp_path / "chunks" / chunks[0]["key"]).read_bytes()
    assert first.startswith(b"\x1f\x8b") == (codec == "gzip")  # gzip's magic
    assert weights.load(open_store(tmp_path), "m")["t"].to_bytes() == text
    with pytest.raises(ValueError, match="compress is a bool or one of"):
        open_store(tmp_path / "x", compress="brotli")


def test_deprecated_tensor_calls_still_work(tmp_path):
    """One release: Store.load / load_async give tensors on a device (through webaccel.weights,
    with the store's own hot cache), device tensors may be given to Store.save and repair, and
    the old module paths import; each says what replaces it."""
    s = open_store(tmp_path, hot_cache_bytes=10_000)
    with pytest.warns(DeprecationWarning, match=r"webaccel\.weights\.save_async"):
        s.save("m", {"w": wa.tensor([1.0, 2.0, 3.0]), "b": (b"\x01\x02", "uint8", (2,))})
    with pytest.warns(DeprecationWarning, match=r"use webaccel\.weights\.load\(store"):
        first = s.load("m", "cpu", model="old-api")
    assert first["w"].tolist() == [1.0, 2.0, 3.0] and first["b"].to_bytes() == b"\x01\x02"
    assert "old-api" in wa.sharing.shared_models(first["w"])
    with pytest.warns(DeprecationWarning, match="load_async"):
        again = asyncio.run(s.load_async("m", "cpu", tensors=["w"]))
    assert list(again) == ["w"] and again["w"] is first["w"]  # the store's hot cache
    assert s.hot.nbytes == 14 and isinstance(s.hot, HotCache)
    victim = s.manifest("m")["chunks"][0]["key"]
    (tmp_path / "chunks" / victim).write_bytes(b"x")
    with pytest.warns(DeprecationWarning, match="repair"):
        fixed = s.repair("m", {"w": wa.tensor([1.0, 2.0, 3.0]), "b": (b"\x01\x02", "uint8", (2,))})
    assert fixed == [victim] and s.verify("m") == []
    with pytest.warns(DeprecationWarning, match=r"webaccel\.weights\.HotCache"):
        from webaccel.store import HotCache as Old
    assert Old is HotCache
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = wa.store.Nope
    with pytest.raises(TypeError, match=r"webaccel\.weights\.save"):
        s.save("bad", {"w": object()})


# The public names of the one-release alias modules, as the split left them, and the modules
# that hold them now.
OLD_STORE_CORE = {
    *("Backend", "CODECS", "ChunkCheckError", "CorruptChunkError", "CorruptExportError"),
    *("DEFAULT_CHUNK_SIZE", "EXPORT_MAGIC", "MAX_CHUNK_SIZE", "MIGRATIONS", "MIN_CHUNK_SIZE"),
    *("MemoryBackend", "MiB", "ModelNotFoundError", "Progress", "QuotaExceededError"),
    *("SCHEMA_VERSION", "Source", "Store", "StoreError", "StoreUnavailableError"),
    *("default_path", "manifest_key", "migrate", "tensor_key", "xxh32x4"),
}
STORE_MODULES = [
    f"webaccel.store{m}" for m in ("", ".archive", ".chunks", ".reading", ".schema", ".store")
]
OLD_SHARING = {
    *("BackendMemory", "MemoryReport", "ModelMemory", "REGISTRY", "SharingRegistry", "UNNAMED"),
    *("content_key", "human_bytes", "memory_report", "resident_bytes", "share", "share_async"),
    *("shared_models", "shared_tensor"),
}


@pytest.mark.parametrize(
    ("old", "names", "new", "warns"),
    [
        ("webaccel.store.core", OLD_STORE_CORE, STORE_MODULES, True),
        ("webaccel.store.files", {"FileBackend"}, ["webaccel.store.backends.files"], True),
        ("webaccel.sharing", OLD_SHARING, ["webaccel.weights"], False),
    ],
)
def test_old_module_paths_still_import(monkeypatch, old, names, new, warns):
    """One release: each old module path imports (saying where it went, where it warns) and
    its star-import gives the objects of the new places, no more and no fewer names."""
    monkeypatch.delitem(sys.modules, old, raising=False)  # a fresh import, which warns
    found: dict[str, object] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(f"from {old} import *", found)
    messages = [str(w.message) for w in caught if w.category is DeprecationWarning]
    assert any(f"{old} is deprecated" in m and new[0] in m for m in messages) == warns, messages
    public = {name: value for name, value in found.items() if not name.startswith("__")}
    assert set(public) == names
    places = [importlib.import_module(m) for m in new]
    for name, value in public.items():
        assert any(getattr(p, name, None) is value for p in places), name

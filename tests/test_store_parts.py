"""The store's parts on their own: the backend contract (one test over every host backend),
manifest schema and migration, chunk planning, codecs, the export container and chunk
streaming. tests/test_store.py runs the Store as a whole."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import random
import struct
import zlib

import pytest

from webaccel.store import (
    CODECS,
    SCHEMA_VERSION,
    Backend,
    CorruptChunkError,
    CorruptExportError,
    FileBackend,
    MemoryBackend,
    Store,
    StoreError,
    archive,
    codecs,
    migrate,
    schema,
    tensor_key,
    xxh32x4,
)
from webaccel.store.backends.base import _CAPABILITIES, Adapted
from webaccel.store.chunks import Entry, as_entry, plan


def run(coro):
    return asyncio.run(coro)


def blob(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


# --- the backend contract -------------------------------------------------------------------


@pytest.fixture(params=["memory", "files"])
def backend(request, tmp_path) -> Backend:
    return MemoryBackend() if request.param == "memory" else FileBackend(tmp_path)


def test_backend_contract(backend):
    """What the Store relies on from any backend: missing keys read as None, put_many and
    delete_many take many keys at once, keys come sorted, values are copies, namespaces and
    keys are checked, and every optional capability is declared (None / False when absent)."""
    assert isinstance(backend, Backend)
    for ns in ("chunks", "manifests", "meta"):
        assert run(backend.get(ns, "nope")) is None and run(backend.keys(ns)) == []
    value = bytearray(b"first")
    run(backend.put_many("chunks", {"b": value, "a": memoryview(b"x" * 3), "c": b""}))
    value[:] = b"XXXXX"  # the backend kept its own copy
    assert run(backend.keys("chunks")) == ["a", "b", "c"]
    assert run(backend.get("chunks", "b")) == b"first" and run(backend.get("chunks", "c")) == b""
    assert run(backend.keys("meta")) == []  # namespaces are separate
    run(backend.put_many("chunks", {"b": b"second"}))  # overwrite
    assert run(backend.get("chunks", "b")) == b"second"
    run(backend.put_many("chunks", {}))  # nothing: a no-op
    run(backend.delete_many("chunks", ["a", "missing", "c"]))
    assert run(backend.keys("chunks")) == ["b"]
    run(backend.delete_many("chunks", []))
    odd = "key with / and .. and ü"
    run(backend.put_many("manifests", {odd: b"1"}))
    assert run(backend.keys("manifests")) == [odd] and run(backend.get("manifests", odd)) == b"1"
    with pytest.raises(ValueError, match="unknown store namespace 'tensors'"):
        run(backend.get("tensors", "k"))
    with pytest.raises(ValueError, match="unknown store namespace"):
        run(backend.keys("nope"))
    for bad in ("", None):
        with pytest.raises(ValueError, match="a store key must be a non-empty string"):
            run(backend.put_many("chunks", {bad: b"v"}))
        with pytest.raises(ValueError, match="a store key must be a non-empty string"):
            run(backend.get("chunks", bad))
    for name in _CAPABILITIES:
        value = getattr(backend, name)  # declared on every backend: never an AttributeError
        assert value is None or value is False or isinstance(value, str) or callable(value)


def test_store_over_each_backend(backend):
    """The Store does the same over any backend that keeps the contract."""
    s = Store(backend, allow_small_chunks=True, chunk_size=256)
    data = blob(1000, 1)
    info = run(s.save_async("m", {"w": (data, "uint8", (1000,)), "e": (b"", "int8", (0,))}))
    assert info["chunks"] == 4 and info["total_bytes"] == 1000
    again = Store(backend, allow_small_chunks=True, chunk_size=256)  # a second page / process
    host = run(again.read_async("m"))
    assert host == {"w": (bytearray(data), "uint8", (1000,)), "e": (bytearray(), "int8", (0,))}
    assert run(again.verify_async("m")) == []
    run(backend.put_many("chunks", {"0" * 64: b"an orphan"}))
    run(Store.open_async(backend=backend, allow_small_chunks=True, chunk_size=256))
    assert "0" * 64 not in run(backend.keys("chunks"))  # collected at open
    run(again.delete_async("m"))
    assert run(backend.keys("chunks")) == [] and run(backend.keys("manifests")) == []


class PlainBackend:
    """A backend written against the old protocol: not a Backend subclass, a lock of its own."""

    def __init__(self) -> None:
        self.inner = MemoryBackend()
        self.locks: list[bool] = []

    async def get(self, ns, key):
        return await self.inner.get(ns, key)

    async def put_many(self, ns, items):
        await self.inner.put_many(ns, items)

    async def delete_many(self, ns, keys):
        await self.inner.delete_many(ns, keys)

    async def keys(self, ns):
        return await self.inner.keys(ns)

    @contextlib.asynccontextmanager
    async def lock(self, exclusive=True):
        self.locks.append(exclusive)
        yield


def test_a_backend_of_the_old_protocol_is_adapted():
    plain = PlainBackend()
    with pytest.warns(DeprecationWarning, match=r"derive from webaccel\.store\.Backend"):
        s = Store(plain, allow_small_chunks=True, chunk_size=64)
    assert isinstance(s.backend, Adapted) and s.backend.lock is not None
    assert s.backend.items is None and s.backend.relaxed_puts is False
    run(s.save_async("m", {"w": (b"abc", "uint8", (3,))}))
    assert run(s.read_async("m"))["w"][0] == b"abc"
    assert plain.locks == [True, False]  # its own lock: exclusive to save, shared to read


# --- schema ----------------------------------------------------------------------------------


def test_migrating_schema_1_splits_tensors_over_chunk_boundaries():
    old = {
        "name": "old",  # no schema_version: 1
        "version": 3,
        "chunk_size": 100,
        "chunks": [{"sha256": "a" * 64, "size": 100}, {"sha256": "b" * 64, "size": 50}],
        "tensors": [
            {"name": "x", "dtype": "uint8", "shape": [30], "offset": 0, "nbytes": 30},
            {"name": "y", "dtype": "uint8", "shape": [120], "offset": 30, "nbytes": 120},
            {"name": "z", "dtype": "float32", "shape": [0], "offset": 150, "nbytes": 0},
        ],
        "created": 5.0,
        "source": "hf://x",
    }
    new = migrate(old)
    assert new["schema_version"] == SCHEMA_VERSION == 2 and new["version"] == "3"
    assert [t["ranges"] for t in new["tensors"]] == [[[0, 0, 30]], [[0, 30, 70], [1, 0, 50]], []]
    assert new["chunks"][1] == {"key": "b" * 64, "size": 50, "stored": 50, "codec": "none"}
    assert new["total_bytes"] == 150 and new["last_used"] == 5.0 and new["source"] == "hf://x"
    assert migrate(new) == new  # current manifests pass through
    assert "seq" in new and new["used_seq"] == 0
    with pytest.raises(StoreError, match=r"schema 3, newer than this webaccel understands \(2\)"):
        migrate({"schema_version": 3, "name": "future"})


def test_names_selection_and_keys():
    with pytest.raises(ValueError, match="a model name is a non-empty string"):
        schema.check_name("")
    with pytest.raises(ValueError, match="a version is a non-empty string"):
        schema.check_name("x" * 161, "version")
    assert schema.check_name("org/model@v1") == "org/model@v1"
    assert json.loads(schema.manifest_key("m", "1")) == ["m", "1"]
    manifest = {
        "name": "m",
        "version": "1",
        "tensors": [{"name": n, "dtype": "uint8", "nbytes": 1, "ranges": []} for n in "abc"],
        "chunks": [],
    }
    assert [t["name"] for t in schema.select(manifest, None)] == ["a", "b", "c"]
    assert [t["name"] for t in schema.select(manifest, ("c", "a"))] == ["a", "c"]  # file order
    with pytest.raises(KeyError, match=r"model 'm' version '1' has no tensor 'x' \(and 1 more\)"):
        schema.select(manifest, ["a", "x", "y"])
    with pytest.raises(TypeError, match="not the string 'abc'"):
        schema.select(manifest, "abc")
    with pytest.raises(TypeError, match="tensor names are strings, not 3"):
        schema.select(manifest, ["a", 3])


def test_tensor_key_is_the_sha256_or_a_layout_key():
    chunks = [{"key": "k0"}, {"key": "k1"}]
    t = {"dtype": "float32", "nbytes": 8, "ranges": [[1, 4, 8]]}
    layout = tensor_key({"chunks": chunks}, t)
    assert layout.startswith("layout:") and len(layout) == len("layout:") + 64
    moved = {"dtype": "float32", "nbytes": 8, "ranges": [[0, 4, 8]]}  # same chunk, other index
    assert tensor_key({"chunks": [chunks[1]]}, moved) == layout
    assert tensor_key({"chunks": chunks}, {**t, "dtype": "int32"}) != layout
    assert tensor_key({"chunks": chunks}, {**t, "sha256": "ab" * 32}) == "ab" * 32


# --- chunk planning --------------------------------------------------------------------------


def entries(*sizes: int) -> list[Entry]:
    return [Entry(f"t{i}", "uint8", (n,), memoryview(blob(n, i))) for i, n in enumerate(sizes)]


def test_plan_packs_small_tensors_and_starts_large_ones_fresh():
    es = entries(10, 20, 250, 5, 0, 100)
    layout, chunks = plan(es, 100)
    assert [t["ranges"] for t in layout] == [
        [[0, 0, 10]],
        [[0, 10, 20]],
        [[1, 0, 100], [2, 0, 100], [3, 0, 50]],  # >= one chunk: a fresh chunk, not chunk 0
        [[3, 50, 5]],
        [],
        [[4, 0, 100]],  # exactly one chunk: fresh again (chunk 3 has 55 bytes)
    ]
    assert [c.size for c in chunks] == [30, 100, 100, 55, 100]
    for t, e in zip(layout, es, strict=True):  # the ranges give every tensor's bytes back
        got = b"".join(bytes(chunks[i].raw_bytes()[a : a + n]) for i, a, n in t["ranges"])
        assert got == bytes(e.data) and t["nbytes"] == len(got)
    # an identical large tensor in another model fills identical whole chunks (stored once)
    _, other = plan([Entry("x", "uint8", (5,), memoryview(b"12345")), es[2]], 100)
    assert [c.raw_bytes() for c in other[1:3]] == [c.raw_bytes() for c in chunks[1:3]]
    with pytest.raises(ValueError, match="chunk_size must be > 0"):
        plan(es, 0)


def test_as_entry_checks_sizes_and_takes_numpy():
    np = pytest.importorskip("numpy")
    e = as_entry("w", (b"\0" * 12, "float32", [3]))
    assert (e.dtype, e.shape, e.data.nbytes) == ("float32", (3,), 12)
    with pytest.raises(ValueError, match=r"tensor 'w': 10 bytes for shape \(3,\) of float32"):
        as_entry("w", (b"\0" * 10, "float32", (3,)))
    arr = np.arange(6, dtype=np.float64).reshape(2, 3).T  # float64, not contiguous
    e = as_entry("a", arr)
    assert (e.dtype, e.shape) == ("float32", (3, 2))  # float64 is kept as float32
    assert np.frombuffer(e.data, np.float32).tolist() == [0, 3, 1, 4, 2, 5]
    with pytest.raises(TypeError, match=r"give a NumPy array or \(bytes, dtype, shape\)"):
        as_entry("x", [1, 2, 3])


def test_xxh32x4_reference_values():
    assert xxh32x4(b"") == "9e3779b185ebca77c2b2ae3d27d4eb2f"
    one = xxh32x4(b"\x01")
    assert one != xxh32x4(b"\x01\x00")  # the length is folded in: zero padding differs
    assert len(one) == 32 and xxh32x4(bytearray(b"\x01")) == one


# --- codecs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", [c for c in CODECS if c != "none"])
def test_codecs_round_trip_and_interoperate(codec):
    raw = b"weights " * 500 + blob(300, 3)
    packed = codecs.encode(raw, codec)
    assert len(packed) < len(raw) and codecs.decode(packed, codec) == raw
    # the formats are the standard ones: Python's zlib reads them directly
    assert zlib.decompress(packed, 31 if codec == "gzip" else 15) == raw
    with pytest.raises(codecs.DecodeError):
        codecs.decode(b"not compressed", codec)


def test_unknown_codecs_are_named():
    assert codecs.decode(b"as is", "none") == b"as is"
    for call in (lambda: codecs.encode(b"x", "brotli"), lambda: codecs.decode(b"x", "lz4")):
        with pytest.raises(StoreError, match="codecs: none, zlib, deflate, gzip"):
            call()


# --- the export container --------------------------------------------------------------------


def exported(chunks: dict[str, bytes]) -> bytes:
    manifest = {
        "name": "m",
        "version": "1",
        "chunks": [{"key": k, "stored": len(v)} for k, v in chunks.items()],
    }

    async def stored_bytes(key: str) -> bytes:
        return chunks[key]

    buf = io.BytesIO()
    n = run(archive.write(manifest, buf, stored_bytes))
    assert n == len(buf.getvalue())
    return buf.getvalue()


def test_archive_round_trip_and_every_way_it_fails():
    blobs = {hashlib.sha256(b).hexdigest(): b for b in (b"one", b"two!", b"")}
    data = exported(blobs)
    manifest, got = archive.read(io.BytesIO(data))
    assert got == blobs and manifest["name"] == "m"
    (hlen,) = struct.unpack_from("<Q", data, 8)

    def reseal(body: bytes) -> bytes:  # a consistent digest over a changed body
        return body + hashlib.sha256(body).digest()

    body = data[:-32]
    cases = {
        "not a webaccel store export": b"NOTSTORE" + data[8:],
        "too short": data[:20],
        "sha-256 does not match": data[:-1] + bytes([data[-1] ^ 1]),
        "trailing bytes": reseal(body + b"extra"),
        "fails its sha-256": reseal(body[:-1] + b"?"),  # the last chunk's bytes changed
    }
    header = json.loads(body[16 : 16 + hlen])
    header["format"] = "other"
    head = json.dumps(header).encode()
    cases["unknown export format 'other'"] = reseal(
        b"WASTORE1" + struct.pack("<Q", len(head)) + head + body[16 + hlen :]
    )
    header["format"] = "webaccel-store"
    header["manifest"]["chunks"].append({"key": "f" * 64, "stored": 0})
    head = json.dumps(header).encode()
    cases["chunks missing from the file"] = reseal(
        b"WASTORE1" + struct.pack("<Q", len(head)) + head + body[16 + hlen :]
    )
    for why, bad in cases.items():
        with pytest.raises(CorruptExportError, match=why):
            archive.read(io.BytesIO(bad))


# --- chunk streaming -------------------------------------------------------------------------


class SlowBackend(MemoryBackend):
    """Counts chunk reads in flight (each takes a moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.most = self.reads = 0

    async def get(self, ns, key):
        if ns == "chunks":
            self.reads += 1
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            await asyncio.sleep(0.001)
            self.in_flight -= 1
        return await super().get(ns, key)


def test_reading_streams_chunks_in_first_use_order_with_bounded_read_ahead():
    backend = SlowBackend()
    s = Store(backend, allow_small_chunks=True, chunk_size=100)
    tensors = {"a": (blob(350, 1), "uint8", (350,)), "b": (blob(30, 2), "uint8", (30,))}
    run(s.save_async("m", tensors))
    s.read_ahead = 2

    async def stream(names, stop_after=None):
        seen = []
        async with s.reading("m", tensors=names) as r:
            async with contextlib.aclosing(r.chunks(r.tensors)) as chunks:
                async for data, pieces in chunks:
                    seen.append((bytes(data[:0]), pieces))
                    if stop_after is not None and len(seen) == stop_after:
                        break
        return [p for _, p in seen]

    pieces = run(stream(None))
    assert pieces == [
        [(0, 0, 0, 100)],
        [(0, 100, 0, 100)],
        [(0, 200, 0, 100)],
        [(0, 300, 0, 50), (1, 0, 50, 30)],  # a's tail and b share the last chunk
    ]
    assert backend.most == 2  # never more than read_ahead chunks in flight
    assert run(stream(["b"])) == [[(0, 0, 50, 30)]]  # only b's chunk
    backend.reads = 0
    assert len(run(stream(None, stop_after=1))) == 1
    assert backend.reads <= 2  # stopping early reads no further


def test_a_corrupt_chunk_names_its_model_version_and_tensor():
    backend = MemoryBackend()
    s = Store(backend, allow_small_chunks=True, chunk_size=100)
    run(s.save_async("m", {"w": (blob(250, 4), "uint8", (250,))}, version="v1"))
    key = s.manifest("m")["chunks"][2]["key"]
    backend.data["chunks"][key] = b"not it"
    with pytest.raises(CorruptChunkError, match=f"'m' version 'v1': chunk {key} of tensor 'w'"):
        run(s.read_async("m"))
    del backend.data["chunks"][key]
    with pytest.raises(CorruptChunkError, match=r"\(missing\)"):
        run(s.read_async("m"))


# --- layering --------------------------------------------------------------------------------


def test_the_store_imports_nothing_above_it():
    """webaccel.store is bytes only: besides itself it may import the compatibility layer, the
    dtypes table, the base errors and the resource reader, at module level or inside functions
    (the layers contract of `lint-imports` says the same for the whole package)."""
    import ast
    from pathlib import Path

    import webaccel.store

    root = Path(webaccel.store.__file__).parent
    allowed = {"webaccel._compat", "webaccel.dtypes", "webaccel.errors", "webaccel.resources"}
    found = {}
    for path in root.rglob("*.py"):
        package = "webaccel." + ".".join(path.relative_to(root.parent).parent.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(parts + ([node.module] if node.module else []))
                # `from .. import _compat` imports webaccel._compat, not webaccel itself
                targets = [base] if node.module else [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("webaccel") and not target.startswith("webaccel.store"):
                    found[f"{path.relative_to(root)}:{node.lineno}:{target}"] = target
    assert {k: v for k, v in found.items() if v not in allowed} == {}
    assert set(found.values()) == allowed  # the check sees the imports it allows

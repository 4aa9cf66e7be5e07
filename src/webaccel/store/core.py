"""The model store's logic: chunking, manifests, refcounts, quota/LRU, export/import.

Everything here talks to a ``Backend`` (four async calls over three namespaces), so the same
logic runs over files on CPython and over IndexedDB in the browser. Optional backend methods
add speed or safety where they exist: ``lock`` (shared/exclusive, across pages or processes),
``encode_chunk`` / ``get_chunks`` / ``digest`` / ``copy_range`` (IndexedDB keeps chunk bytes in
JS: hashed by WebCrypto, checked with xxh32x4, copied once into the tensors), ``js_chunks``
(its chunks are JS ArrayBuffers: a device with ``write_from_js``, webgpu, is written straight from
them, with no copy through Python memory), ``items`` (a namespace's keys and values in one
round trip: the index reload under every lock), ``default_codec``.

Save order (crash safety): new chunks first, then the manifest (the commit point), then the
clean-up of versions and chunks that are no longer referenced. A crash (or a page closed
mid-save) before the manifest leaves orphan chunks only, which ``Store.open`` garbage-collects
under the exclusive lock; the previous version of the model is never touched before the new one
is committed. Every operation runs under the backend's lock and first re-reads the manifests,
since another page or process may have committed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import struct
import time
import zlib
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .. import _compat
from .._compat import run_sync
from ..dtypes import as_dtype
from ..errors import WebAccelError

MiB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 32 * MiB
MIN_CHUNK_SIZE = 16 * MiB
MAX_CHUNK_SIZE = 64 * MiB
SCHEMA_VERSION = 2
EXPORT_MAGIC = b"WASTORE1"
_WRITE_BATCH = 64 * MiB  # bytes of new chunks per put_many (small chunks are batched)
_KEEP_BLOBS = 512 * MiB  # encoded chunks kept from pass 1 to pass 2 of a save (else re-encoded)

Progress = Callable[[int, int], Any]


# --- errors --------------------------------------------------------------------------------------


class StoreError(WebAccelError):
    """Base class of the store's errors."""


class StoreUnavailableError(StoreError):
    """No backend for this host yet (IndexedDB inside Pyodide)."""


class ModelNotFoundError(StoreError, LookupError):
    """No such model (or version) in the store."""


class CorruptChunkError(StoreError):
    """A chunk's bytes do not match its sha-256 (or it is missing or will not decompress)."""

    def __init__(self, model: str, version: str, tensor: str, chunk: str, why: str) -> None:
        self.model, self.version, self.tensor, self.chunk = model, version, tensor, chunk
        super().__init__(
            f"model {model!r} version {version!r}: chunk {chunk} of tensor {tensor!r} is "
            f"corrupt ({why}); re-fetch it with store.repair({model!r}, source) or "
            f"load(..., source=...)"
        )


class CorruptExportError(StoreError):
    """An export file failed verification on import."""


class QuotaExceededError(StoreError):
    """A model does not fit in the byte budget even after evicting every unpinned model."""

    def __init__(
        self, model: str, needed: int, budget: int, used: int, freeable: int, pinned: list[str]
    ) -> None:
        self.needed, self.budget, self.used, self.pinned = needed, budget, used, pinned
        self.freeable = freeable
        super().__init__(
            f"cannot store model {model!r}: it needs {needed} new bytes ({_human(needed)}) and "
            f"the budget is {budget} bytes ({_human(budget)}) with {used} in use; evicting every "
            f"unpinned model would free only {freeable}; pinned: "
            f"{', '.join(pinned) if pinned else 'none'}. Nothing was written."
        )


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


# --- the backend interface -----------------------------------------------------------------------


class Backend(Protocol):
    """A tiny async key-value store with namespaces ``chunks``, ``manifests`` and ``meta``.

    ``put_many`` and ``delete_many`` are transactions: all keys or none. ``get`` returns None for
    a missing key. An IndexedDB backend maps each namespace to an object store and each call to
    one ``readwrite`` transaction.
    """

    async def get(self, ns: str, key: str) -> bytes | None: ...

    async def put_many(
        self, ns: str, items: Mapping[str, bytes | bytearray | memoryview]
    ) -> None: ...

    async def delete_many(self, ns: str, keys: Iterable[str]) -> None: ...

    async def keys(self, ns: str) -> list[str]: ...


# --- manifests -----------------------------------------------------------------------------------


def _migrate_1_to_2(old: dict[str, Any]) -> dict[str, Any]:
    """Schema 1: one flat stream, fixed-size uncompressed chunks, tensors by stream offset."""
    size = int(old["chunk_size"])
    chunks = [
        {"key": c["sha256"], "size": int(c["size"]), "stored": int(c["size"]), "codec": "none"}
        for c in old["chunks"]
    ]
    tensors = []
    for t in old["tensors"]:
        start, n = int(t["offset"]), int(t["nbytes"])
        ranges, pos = [], start
        while pos < start + n:
            idx, within = divmod(pos, size)
            take = min(size - within, start + n - pos)
            ranges.append([idx, within, take])
            pos += take
        tensors.append(
            {
                "name": t["name"],
                "dtype": t["dtype"],
                "shape": list(t["shape"]),
                "nbytes": n,
                "ranges": ranges,
            }
        )
    created = float(old.get("created", 0.0))
    return {
        "schema_version": 2,
        "name": old["name"],
        "version": str(old["version"]),
        "seq": int(old.get("seq", 0)),
        "tensors": tensors,
        "chunks": chunks,
        "chunk_size": size,
        "total_bytes": sum(t["nbytes"] for t in tensors),
        "created": created,
        "last_used": created,
        "used_seq": 0,
        "source": old.get("source"),
    }


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _migrate_1_to_2}


def migrate(old_manifest: Mapping[str, Any]) -> dict[str, Any]:
    """An older manifest brought up to ``SCHEMA_VERSION``, one step at a time."""
    manifest = dict(old_manifest)
    version = int(manifest.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"manifest of {manifest.get('name')!r} has schema {version}, newer than this "
            f"webaccel understands ({SCHEMA_VERSION}); upgrade webaccel"
        )
    while version < SCHEMA_VERSION:
        manifest = MIGRATIONS[version](manifest)
        version = int(manifest["schema_version"])
    return manifest


def manifest_key(name: str, version: str) -> str:
    return json.dumps([name, version], separators=(",", ":"))


def _check_name(name: str, what: str = "model name") -> str:
    if not isinstance(name, str) or not name or len(name) > 160 or "\x00" in name:
        raise ValueError(f"a {what} is a non-empty string of at most 160 characters, not {name!r}")
    return name


def _wanted(tensors: Iterable[str]) -> set[str]:
    """The tensor names of a partial load, checked (a bare string would iterate its letters)."""
    if isinstance(tensors, str | bytes):
        raise TypeError(f"tensors is a list of tensor names, not the string {tensors!r}")
    out = set(tensors)
    bad = [t for t in out if not isinstance(t, str)]
    if bad:
        raise TypeError(f"tensors: tensor names are strings, not {bad[0]!r}")
    return out


# --- tensors in, chunks out ----------------------------------------------------------------------


@dataclass
class _Entry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    data: memoryview


async def _as_entry(name: str, value: Any) -> _Entry:
    from ..tensor import Tensor

    if isinstance(value, Tensor):
        data = memoryview(bytes(await value.read_async()))
        return _Entry(name, value.dtype.name, tuple(value.shape), data)
    if isinstance(value, tuple) and len(value) == 3:
        raw, dtype, shape = value
        d = as_dtype(dtype)
        shape = tuple(int(s) for s in shape)
        mv = memoryview(raw).cast("B")
        if mv.nbytes != d.nbytes(math.prod(shape)):
            raise ValueError(
                f"tensor {name!r}: {mv.nbytes} bytes for shape {shape} of {d.name}, "
                f"which needs {d.nbytes(math.prod(shape))}"
            )
        return _Entry(name, d.name, shape, mv)
    if hasattr(value, "__array_interface__"):
        from ..tensor import tensor

        return await _as_entry(name, tensor(value))
    raise TypeError(
        f"tensor {name!r}: give a webaccel Tensor, a NumPy array, or (bytes, dtype, shape); "
        f"got {type(value).__name__}"
    )


@dataclass
class _Chunk:
    raw: list[memoryview]  # pieces, concatenated
    size: int
    key: str = ""
    stored: int = 0
    codec: str = "none"
    check: str = ""  # a fast checksum of the stored bytes ("xxh32x4:<hex>"), where computed
    blob: Any = None  # the stored bytes once encoded (kept between the passes of a commit)

    def raw_bytes(self) -> bytes:
        return b"".join(self.raw)

    def payload(self) -> bytes | memoryview:
        """The raw bytes without a copy where the chunk is one piece."""
        return self.raw[0] if len(self.raw) == 1 else self.raw_bytes()


def _plan(entries: list[_Entry], chunk_size: int) -> tuple[list[dict[str, Any]], list[_Chunk]]:
    """Lay tensors out in chunks: small tensors share a chunk, a tensor of at least one chunk
    starts a fresh one (so identical large tensors in different models dedup)."""
    chunks: list[_Chunk] = []
    tensors: list[dict[str, Any]] = []
    cur: _Chunk | None = None
    for e in entries:
        n = e.data.nbytes
        if n >= chunk_size and cur is not None and cur.size:
            cur = None
        ranges: list[list[int]] = []
        pos = 0
        while pos < n:
            if cur is None or cur.size >= chunk_size:
                cur = _Chunk([], 0)
                chunks.append(cur)
            take = min(chunk_size - cur.size, n - pos)
            ranges.append([len(chunks) - 1, cur.size, take])
            cur.raw.append(e.data[pos : pos + take])
            cur.size += take
            pos += take
        tensors.append(
            {
                "name": e.name,
                "dtype": e.dtype,
                "shape": list(e.shape),
                "nbytes": n,
                "ranges": ranges,
            }
        )
    return tensors, chunks


def tensor_key(manifest: Mapping[str, Any], t: Mapping[str, Any]) -> str:
    """The content key of manifest tensor *t* for ``webaccel.sharing``: the sha-256 of its bytes
    (recorded at save), or for manifests without it a key derived from its chunks' keys."""
    if t.get("sha256"):
        return str(t["sha256"])
    chunks = manifest["chunks"]
    layout = [t["dtype"], t["nbytes"], [[chunks[i]["key"], a, n] for i, a, n in t["ranges"]]]
    return "layout:" + hashlib.sha256(_dump(layout)).hexdigest()


# --- codecs --------------------------------------------------------------------------------------

# "zlib" and "deflate" are one format (RFC 1950: what Python's zlib and the browser's
# CompressionStream("deflate") write); "gzip" is RFC 1952. Either side decodes the other's
# chunks. Which implementation encodes depends on the backend: IDBBackend uses the browser's
# CompressionStream, the rest Python's zlib (level 6).
CODECS = ("none", "zlib", "deflate", "gzip")


def _py_encode(raw: bytes | memoryview, codec: str) -> bytes:
    if codec in ("zlib", "deflate"):
        return zlib.compress(raw, 6)
    if codec == "gzip":
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)
        return packer.compress(raw) + packer.flush()
    raise StoreError(f"unknown codec {codec!r}; codecs: {', '.join(CODECS)}")


def _py_decode(blob: bytes, codec: str) -> bytes:
    if codec in ("zlib", "deflate"):
        return zlib.decompress(blob)
    if codec == "gzip":
        return zlib.decompress(blob, 31)
    raise StoreError(f"unknown codec {codec!r}; codecs: {', '.join(CODECS)}")


_P1, _P2, _M32 = 2654435761, 2246822519, 0xFFFFFFFF


def xxh32x4(data: bytes | bytearray | memoryview) -> str:
    """The fast chunk checksum (reference implementation; the browser computes it in JS, see
    ``js_glue/idb_glue.js``): four xxHash32 lanes over 16-byte stripes of little-endian words,
    the tail zero-padded to a stripe, the length folded into lanes 0 and 1, as 32 hex digits.
    Pure Python: slow (tests and small data); manifests written on CPython carry none."""
    mv = memoryview(data).cast("B")
    n = mv.nbytes
    padded = bytes(mv) + bytes(-n % 16)
    lanes = [0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F]
    words = struct.unpack(f"<{len(padded) // 4}I", padded)
    for i, w in enumerate(words):
        x = (lanes[i % 4] + w * _P2) & _M32
        lanes[i % 4] = ((((x << 13) | (x >> 19)) & _M32) * _P1) & _M32
    lanes[0] ^= n & _M32
    lanes[1] ^= (n >> 32) & _M32
    return "".join(f"{v:08x}" for v in lanes)


class ChunkCheckError(StoreError):
    """Raised by a backend's ``get_chunk`` fast path: the chunk is missing, fails its
    sha-256, will not decode or has the wrong length (*why* says which)."""

    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(why)


# --- the hot-tensor cache ------------------------------------------------------------------------


class HotCache:
    """An in-memory LRU of loaded tensors, bounded in bytes (an item larger than the bound is
    never kept)."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("HotCache max_bytes must be >= 0")
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: Any, default: Any = None) -> Any:
        item = self._items.get(key)
        if item is None:
            return default
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Any, value: Any, nbytes: int) -> None:
        self.pop(key)
        if nbytes > self.max_bytes:
            return
        self._items[key] = (value, nbytes)
        self.nbytes += nbytes
        while self.nbytes > self.max_bytes:
            _, (_, n) = self._items.popitem(last=False)
            self.nbytes -= n

    def pop(self, key: Any) -> Any:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self.nbytes -= item[1]
        return item[0]

    def discard_where(self, pred: Callable[[Any], bool]) -> None:
        for key in [k for k in self._items if pred(k)]:
            self.pop(key)

    def clear(self) -> None:
        self._items.clear()
        self.nbytes = 0


# --- the store -----------------------------------------------------------------------------------


def default_path() -> Path:
    env = os.environ.get("WEBACCEL_STORE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "webaccel" / "store"


Source = Any  # Mapping of tensors | callable returning one (sync or async) | export file path


class Store:
    """Content-addressed, versioned model weights with a byte budget. Open with ``Store.open``."""

    def __init__(
        self,
        backend: Backend,
        *,
        budget: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        compress: bool | str = False,
        keep_versions: int = 1,
        hot_cache_bytes: int = 0,
        allow_small_chunks: bool = False,
        load_check: str = "fast",
    ) -> None:
        if not allow_small_chunks and not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(
                f"chunk_size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes "
                f"(16-64 MiB), not {chunk_size}; allow_small_chunks=True is for tests"
            )
        if chunk_size <= 0 or keep_versions < 1:
            raise ValueError("chunk_size must be > 0 and keep_versions >= 1")
        self.backend = backend
        self.budget = budget
        self.chunk_size = int(chunk_size)
        if compress is True:
            codec = str(getattr(backend, "default_codec", "zlib"))
        elif not compress or compress == "none":
            codec = "none"
        elif compress in CODECS:
            codec = str(compress)
        else:
            raise ValueError(f"compress is a bool or one of {CODECS}, not {compress!r}")
        if load_check not in ("fast", "sha256"):
            raise ValueError(f"load_check is 'fast' or 'sha256', not {load_check!r}")
        # How loads verify chunks: "fast" uses a chunk's xxh32x4 checksum where the manifest
        # has one (written by IDBBackend; ~5x crypto.subtle's SHA-256 in the browser), else its
        # sha-256; "sha256" always re-hashes. verify(), export and repair always use sha-256.
        self.load_check = load_check
        self.codec = codec
        self.compress = codec != "none"
        self.keep_versions = keep_versions
        self.read_ahead = 8  # chunks in flight while loading (bounded memory: 8 x chunk_size)
        self.hot = HotCache(hot_cache_bytes)
        self._manifests: dict[str, dict[str, Any]] = {}
        self._refs: Counter[str] = Counter()
        self._stored: dict[str, int] = {}
        self._pins: Counter[str] = Counter()
        self._seq = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: Any = None
        self._indexed = False

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    async def open_async(
        cls,
        path: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        *,
        backend: Backend | None = None,
        **options: Any,
    ) -> Store:
        """Open (creating) a store, or over the given *backend*.

        CPython: files under *path* (default ``default_path()``). Pyodide: IndexedDB database
        ``webaccel-store`` (or *path*, used as the database name); there, when *budget* is None,
        the budget defaults to the ``navigator.storage.estimate()`` quota.
        """
        if backend is None:
            if _compat.host().in_pyodide:
                from .idb import DB_NAME, IDBBackend, indexeddb_available, quota_estimate

                if not indexeddb_available():
                    raise StoreUnavailableError(
                        "no IndexedDB on this host (Node.js, or a browser that blocks it): "
                        "pass backend=... implementing webaccel.store.Backend"
                    )
                backend = await IDBBackend.open(str(path) if path is not None else DB_NAME)
                if budget is None:
                    budget = await quota_estimate()
            else:
                from .files import FileBackend

                backend = FileBackend(path if path is not None else default_path())
        store = cls(backend, budget=budget, **options)
        async with store._locked():
            await store._collect_orphans()
        return store

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        **options: Any,
    ) -> Store:
        """Sync ``open_async`` (in the browser through JSPI, see ``run_sync``)."""
        return run_sync(cls.open_async(path, budget, **options))

    async def _load_index(self) -> None:
        """Read every manifest (migrating old schemas) and rebuild the chunk refcounts: the
        in-memory index, refreshed under the store lock before every operation, since another
        page or process may have changed the store."""
        previous = {k: m.get("seq") for k, m in self._manifests.items()}
        self._manifests, self._refs, self._stored = {}, Counter(), {}
        items = getattr(self.backend, "items", None)
        if items is not None:  # one round trip (IndexedDB: one transaction), not one per key
            stored = await items("manifests")
        else:
            stored = {
                k: await self.backend.get("manifests", k)
                for k in await self.backend.keys("manifests")
            }
        for key, raw in stored.items():
            if raw is None:
                continue
            manifest = json.loads(raw)
            if int(manifest.get("schema_version", 1)) != SCHEMA_VERSION:
                manifest = migrate(manifest)
                new_key = manifest_key(manifest["name"], manifest["version"])
                await self.backend.put_many("manifests", {new_key: _dump(manifest)})
                if new_key != key:
                    await self.backend.delete_many("manifests", [key])
                key = new_key
            self._index_add(key, manifest)
        # hot tensors of versions that are gone or were re-saved elsewhere are stale
        stale = {k for k, q in previous.items() if (self._manifests.get(k) or {}).get("seq") != q}
        if stale:
            self.hot.discard_where(lambda k: k[0] in stale)

    async def _collect_orphans(self) -> None:
        """Delete chunks no manifest references (left by a save that crashed or whose page
        was closed before its commit). Only under the exclusive lock: a save in flight holds
        it, so its chunks are never taken for orphans."""
        orphans = [k for k in await self.backend.keys("chunks") if k not in self._refs]
        if orphans:
            await self.backend.delete_many("chunks", orphans)
        if await self.backend.get("meta", "store") is None:
            meta = {"format": 1, "schema_version": SCHEMA_VERSION, "created": time.time()}
            await self.backend.put_many("meta", {"store": _dump(meta)})

    @contextlib.asynccontextmanager
    async def _locked(self, exclusive: bool = True) -> AsyncIterator[None]:
        """Hold the store: this Store's own lock, then the backend's cross-page / cross-process
        lock where it has one (IndexedDB: a Web Lock; files: flock), shared for reading and
        exclusive for writing; then refresh the index from the backend."""
        async with self._guard():
            lock = getattr(self.backend, "lock", None)
            if lock is None:
                if not self._indexed:
                    await self._load_index()
                    self._indexed = True
                yield
                return
            async with lock(exclusive=exclusive):
                await self._load_index()
                self._indexed = True
                yield

    def _index_add(self, key: str, manifest: dict[str, Any]) -> None:
        self._manifests[key] = manifest
        for c in {c["key"]: c for c in manifest["chunks"]}.values():
            self._refs[c["key"]] += 1
            self._stored[c["key"]] = int(c["stored"])
        self._seq = max(self._seq, int(manifest.get("seq", 0)), int(manifest.get("used_seq", 0)))

    def _index_remove(self, key: str) -> list[str]:
        """Forget a manifest; the chunk keys now unreferenced."""
        manifest = self._manifests.pop(key)
        freed = []
        for ck in {c["key"] for c in manifest["chunks"]}:
            self._refs[ck] -= 1
            if self._refs[ck] <= 0:
                del self._refs[ck]
                self._stored.pop(ck, None)
                freed.append(ck)
        self.hot.discard_where(lambda k: k[0] == key)
        return freed

    def _tick(self) -> int:
        self._seq += 1
        return self._seq

    def _guard(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    # -- queries (in memory) ---------------------------------------------------------------------
    @property
    def used_bytes(self) -> int:
        """Bytes of stored chunks, each unique chunk counted once."""
        return sum(self._stored.values())

    def _versions(self, name: str) -> list[dict[str, Any]]:
        return sorted(
            (m for m in self._manifests.values() if m["name"] == name), key=lambda m: m["seq"]
        )

    def _find(self, name: str, version: str | None) -> dict[str, Any]:
        versions = self._versions(name)
        if version is not None:
            versions = [m for m in versions if m["version"] == str(version)]
        if not versions:
            what = f"model {name!r}" + (f" version {version!r}" if version is not None else "")
            have = sorted({m["name"] for m in self._manifests.values()})
            raise ModelNotFoundError(f"no {what} in the store; models: {have or 'none'}")
        return versions[-1]

    def list_models(self) -> list[dict[str, Any]]:
        """One summary per model name (its latest version), sorted by name."""
        return [self.info(n) for n in sorted({m["name"] for m in self._manifests.values()})]

    def info(self, name: str) -> dict[str, Any]:
        latest = self._find(name, None)
        versions = self._versions(name)
        return {
            "name": name,
            "version": latest["version"],
            "versions": [m["version"] for m in versions],
            "tensors": len(latest["tensors"]),
            "total_bytes": latest["total_bytes"],
            "stored_bytes": sum(
                c["stored"] for c in {c["key"]: c for c in latest["chunks"]}.values()
            ),
            "chunks": len(latest["chunks"]),
            "created": latest["created"],
            "last_used": max(m["last_used"] for m in versions),
            "source": latest.get("source"),
            "pinned": self._pins[name] > 0,
            "schema_version": latest["schema_version"],
        }

    def manifest(self, name: str, version: str | None = None) -> dict[str, Any]:
        """A copy of a model's manifest (the latest version by default)."""
        return json.loads(_dump(self._find(name, version)))

    def usage(self) -> dict[str, Any]:
        return {
            "used_bytes": self.used_bytes,
            "budget": self.budget,
            "models": len({m["name"] for m in self._manifests.values()}),
            "chunks": len(self._stored),
            "pinned": sorted(n for n, c in self._pins.items() if c > 0),
        }

    # -- pins ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def pin(self, name: str) -> Iterator[None]:
        """While inside, *name* is never evicted nor deleted (nesting is counted)."""
        self._pins[name] += 1
        try:
            yield
        finally:
            self._pins[name] -= 1
            if self._pins[name] <= 0:
                del self._pins[name]

    def pinned(self) -> list[str]:
        return sorted(n for n, c in self._pins.items() if c > 0)

    # -- encoding and hashing (the backend's fast path where it has one) --------------------------
    async def _digest(self, data: memoryview) -> str:
        digest = getattr(self.backend, "digest", None)
        if digest is not None:
            return str(await digest(data))
        return hashlib.sha256(data).hexdigest()

    async def _prepare(self, c: _Chunk, keep: bool, codec: str | None = None) -> None:
        """Encode chunk *c* (compressing it with *codec*, default the store's, where that makes
        it smaller) and set its key (the sha-256 of the stored bytes), stored size and codec."""
        codec = self.codec if codec is None else codec
        encode = getattr(self.backend, "encode_chunk", None)
        check = ""
        if encode is not None:
            blob, key, stored, used, check = await encode(c.raw, codec)
        else:
            if codec == "none":
                blob, used = c.payload(), "none"
            else:
                raw = c.raw_bytes()
                packed = _py_encode(raw, codec)
                blob, used = (packed, codec) if len(packed) < len(raw) else (raw, "none")
            key, stored = hashlib.sha256(blob).hexdigest(), memoryview(blob).nbytes
        c.key, c.stored, c.codec, c.check = str(key), int(stored), str(used), str(check)
        c.blob = blob if keep else None

    async def _prepare_chunks(self, chunks: list[_Chunk]) -> None:
        """Pass 1 of a save, a few chunks at a time (a backend may hash them concurrently)."""
        kept = 0
        for i in range(0, len(chunks), 4):
            group = chunks[i : i + 4]
            await asyncio.gather(*(self._prepare(c, keep=kept < _KEEP_BLOBS) for c in group))
            kept += sum(c.stored for c in group if c.blob is not None)

    # -- save ------------------------------------------------------------------------------------
    async def save_async(
        self,
        name: str,
        tensors: Mapping[str, Any],
        version: str | None = None,
        source: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Store *tensors* as a new version of *name*; returns ``info(name)``.

        Values are webaccel Tensors, NumPy arrays, or ``(bytes_like, dtype, shape)``. Evicts
        least-recently-used unpinned models to fit the budget, or raises QuotaExceededError
        having written nothing. *progress(bytes_done, bytes_total)* is called as chunks land.
        """
        _check_name(name)
        entries = [
            await _as_entry(_check_name(str(k), "tensor name"), v) for k, v in tensors.items()
        ]
        layout, chunks = _plan(entries, self.chunk_size)
        for t, e in zip(layout, entries, strict=True):
            t["sha256"] = await self._digest(e.data)  # the sharing key: load dedups by it
        await self._prepare_chunks(chunks)  # keys and stored sizes: before taking the lock
        async with self._locked():
            return await self._commit(
                name, version, source, layout, chunks, self.chunk_size, progress
            )

    def save(
        self,
        name: str,
        tensors: Mapping[str, Any],
        version: str | None = None,
        source: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        return run_sync(self.save_async(name, tensors, version, source, progress))

    async def _commit(
        self,
        name: str,
        version: str | None,
        source: str | None,
        layout: list[dict[str, Any]],
        chunks: list[_Chunk],
        chunk_size: int,
        progress: Progress | None,
        stored_blobs: Mapping[str, bytes] | None = None,
    ) -> dict[str, Any]:
        # Pass 1 (``_prepare_chunks``, usually done by the caller before locking): the key and
        # stored size of every chunk; encoded bytes are kept up to _KEEP_BLOBS.
        if stored_blobs is None and any(not c.key for c in chunks):
            await self._prepare_chunks(chunks)
        if version is None:
            nums = [int(m["version"]) for m in self._versions(name) if m["version"].isdigit()]
            version = str(max(nums, default=0) + 1)
        version = _check_name(str(version), "version")
        key = manifest_key(name, version)
        if key in self._manifests and self._pins[name] > 0:
            raise StoreError(f"model {name!r} is pinned; cannot overwrite version {version!r}")
        new_keys = {c.key: c.stored for c in chunks if c.key not in self._refs}
        needed = sum(new_keys.values())
        await self._make_room(name, needed, {c.key for c in chunks})

        # Pass 2: write the new chunks (batched), then the manifest: the commit point.
        total = sum(c.size for c in chunks)
        done = 0
        if progress is not None:
            progress(0, total)
        batch: dict[str, bytes] = {}
        batch_bytes = 0
        written: set[str] = set()
        for c in chunks:
            if c.key in new_keys and c.key not in written:
                if stored_blobs is not None:
                    blob = stored_blobs[c.key]
                else:
                    if c.blob is None:  # dropped after pass 1 (memory bound): encode again
                        key = c.key
                        await self._prepare(c, keep=True)
                        if c.key != key:
                            raise StoreError(
                                f"chunk {key}: encoding it again gave other bytes ({c.key}); "
                                f"codec {self.codec!r} is not deterministic here"
                            )
                    blob, c.blob = c.blob, None
                batch[c.key] = blob
                batch_bytes += c.stored
                written.add(c.key)
            done += c.size
            if batch and batch_bytes >= min(_WRITE_BATCH, chunk_size):
                await self.backend.put_many("chunks", batch)
                batch, batch_bytes = {}, 0
            if progress is not None and not batch and c.size:
                progress(done, total)  # only bytes that have landed
        if batch:
            await self.backend.put_many("chunks", batch)
            if progress is not None:
                progress(done, total)
        now = time.time()
        seq = self._tick()
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "name": name,
            "version": version,
            "seq": seq,
            "tensors": layout,
            "chunks": [
                {"key": c.key, "size": c.size, "stored": c.stored, "codec": c.codec}
                | ({"check": c.check} if c.check else {})
                for c in chunks
            ],
            "chunk_size": chunk_size,
            "total_bytes": sum(t["nbytes"] for t in layout),
            "created": now,
            "last_used": now,
            "used_seq": seq,
            "source": source,
        }
        await self.backend.put_many("manifests", {key: _dump(manifest)})
        old = self._manifests.get(key)
        if old is not None:
            self._index_remove(key)  # same version re-saved: its chunks may now be orphans
        self._index_add(key, manifest)
        # Clean-up after the commit: old versions beyond keep_versions, then orphan chunks.
        stale = [manifest_key(name, m["version"]) for m in self._versions(name)]
        stale = stale[: max(0, len(stale) - self.keep_versions)]
        freed = [ck for k in stale for ck in self._index_remove(k)]
        if old is not None:
            freed += [c["key"] for c in old["chunks"] if c["key"] not in self._refs]
        if stale:
            await self.backend.delete_many("manifests", stale)
        if freed:
            await self.backend.delete_many("chunks", sorted(set(freed)))
        return self.info(name)

    async def _make_room(self, name: str, needed: int, keep_chunks: set[str]) -> None:
        """Evict LRU unpinned models (never *name* itself) until *needed* bytes fit."""
        if self.budget is None:
            return
        used = self.used_bytes
        if used + needed <= self.budget:
            return
        candidates = sorted(
            (
                m
                for m in self._manifests.values()
                if m["name"] != name and not self._pins[m["name"]]
            ),
            key=lambda m: m["used_seq"],
        )
        refs = Counter(self._refs)
        evict: list[dict[str, Any]] = []
        freed = 0
        for m in candidates:
            evict.append(m)
            for ck in {c["key"] for c in m["chunks"]}:
                refs[ck] -= 1
                if refs[ck] == 0 and ck not in keep_chunks:
                    freed += self._stored[ck]
            if used - freed + needed <= self.budget:
                break
        if used - freed + needed > self.budget:
            raise QuotaExceededError(name, needed, self.budget, used, freed, self.pinned())
        # Chunks the new model shares with evicted ones stay on disk (they were not counted).
        await self._delete_versions(
            [manifest_key(m["name"], m["version"]) for m in evict], keep=keep_chunks
        )

    # -- load ------------------------------------------------------------------------------------
    async def load_async(
        self,
        name: str,
        device: Any = None,
        progress: Progress | None = None,
        *,
        version: str | None = None,
        source: Source = None,
        share: bool = True,
        model: str | None = None,
        tensors: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """The tensors of *name* (latest version unless *version*) on *device*; with
        *tensors*, only those (a name the model lacks is a KeyError), reading only their chunks.

        Checksums are verified; a corrupt chunk raises CorruptChunkError, or, with *source*,
        is re-fetched (``repair``) and the load retried once. With *share* (the default) each
        tensor goes through ``webaccel.sharing``: one already resident on the device with the
        same content (e.g. another model's embedding table) is reused, not read again, and
        every tensor is attributed to *model* (default: *name*) in ``memory_report()``.
        """
        try:
            return await self._load(name, version, device, progress, share, model, tensors)
        except CorruptChunkError:
            if source is None:
                raise
            await self.repair_async(name, source, version=version)
            return await self._load(name, version, device, progress, share, model, tensors)

    def load(
        self,
        name: str,
        device: Any = None,
        progress: Progress | None = None,
        *,
        version: str | None = None,
        source: Source = None,
        share: bool = True,
        model: str | None = None,
        tensors: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        return run_sync(
            self.load_async(
                name,
                device,
                progress,
                version=version,
                source=source,
                share=share,
                model=model,
                tensors=tensors,
            )
        )

    async def read_async(
        self,
        name: str,
        progress: Progress | None = None,
        *,
        version: str | None = None,
        tensors: Iterable[str] | None = None,
    ) -> dict[str, tuple[bytearray, str, tuple[int, ...]]]:
        """The tensors of *name* (or only *tensors*) as host bytes, verified like ``load``, on
        no device: ``{tensor: (bytearray, dtype, shape)}`` (what ``save`` accepts)."""
        return await self._load(name, version, False, progress, tensors=tensors)

    def read(
        self,
        name: str,
        progress: Progress | None = None,
        *,
        version: str | None = None,
        tensors: Iterable[str] | None = None,
    ) -> dict[str, tuple[bytearray, str, tuple[int, ...]]]:
        return run_sync(self.read_async(name, progress, version=version, tensors=tensors))

    async def _load(
        self,
        name: str,
        version: str | None,
        device: Any,
        progress: Progress | None,
        share: bool = False,
        model: str | None = None,
        tensors: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        from ..device import get_device

        dev = None if device is False else get_device(device)
        wanted = None if tensors is None else _wanted(tensors)
        async with self._locked(exclusive=False):  # no page deletes this version meanwhile
            manifest = self._find(name, version)
            mkey = manifest_key(name, manifest["version"])
            selected = manifest["tensors"]
            if wanted is not None:
                have = {t["name"] for t in selected}
                missing = sorted(wanted - have)
                if missing:
                    raise KeyError(
                        f"model {name!r} version {manifest['version']!r} has no tensor "
                        f"{missing[0]!r}"
                        + (f" (and {len(missing) - 1} more)" if missing[1:] else "")
                    )
                selected = [t for t in selected if t["name"] in wanted]
            # The use is stamped (LRU order) while the chunks are read, not after: a small
            # write of its own that the reads do not wait for (IndexedDB: a readwrite
            # transaction on the manifests beside the readonly one on the chunks). It has
            # landed before the lock is released, as before; a load that fails still counts.
            manifest["last_used"] = time.time()
            manifest["used_seq"] = self._tick()
            stamp = asyncio.ensure_future(self._stamp_use(mkey, manifest))
            try:
                out = await self._load_tensors(
                    manifest, selected, mkey, dev, progress, share, model or name
                )
            except BaseException:
                with contextlib.suppress(Exception):  # landed under the lock; the load's error
                    await stamp  # is the one to raise
                raise
            await stamp
        return out

    async def _stamp_use(self, mkey: str, manifest: dict[str, Any]) -> None:
        # a usage update only (LRU order): no need to wait for the disk
        if getattr(self.backend, "relaxed_puts", False):
            await self.backend.put_many("manifests", {mkey: _dump(manifest)}, durable=False)
        else:
            await self.backend.put_many("manifests", {mkey: _dump(manifest)})

    async def _load_tensors(
        self,
        manifest: dict[str, Any],
        selected: list[dict[str, Any]],
        mkey: str,
        dev: Any,
        progress: Progress | None,
        share: bool,
        owner: str,
    ) -> dict[str, Any]:
        """Hot-cache and sharing hits first (nothing read), then the rest: chunks fetched
        ``read_ahead`` at a time and consumed in first-use order, each chunk's ranges written
        into every tensor that has one (straight to the device, or copied once into the
        tensor's bytearray, uploaded as soon as it is whole)."""
        from ..sharing import REGISTRY, shared_tensor
        from ..tensor import _buffer_tensor, from_buffer

        total = sum(t["nbytes"] for t in selected)
        done = 0
        if progress is not None:
            progress(0, total)
        found: dict[str, Any] = {}
        reads: list[tuple[dict[str, Any], str]] = []
        aliases: list[tuple[dict[str, Any], str]] = []  # same content as a tensor being read
        reading: set[str] = set()
        share = share and dev is not None
        for t in selected:
            hit = None if dev is None else self.hot.get((mkey, t["name"], dev.name))
            key = tensor_key(manifest, t) if share else ""
            if hit is None and share:
                hit = REGISTRY.lookup(key, dev, as_dtype(t["dtype"]), t["shape"], owner)
                if hit is not None:
                    self.hot.put((mkey, t["name"], dev.name), hit, t["nbytes"])
            if hit is not None:
                found[t["name"]] = hit
                done += t["nbytes"]
                if progress is not None and t["nbytes"]:
                    progress(done, total)
            elif share and key in reading:
                aliases.append((t, key))
            else:
                reads.append((t, key))
                reading.add(key)

        # Where each chunk's bytes go: chunk idx -> [(tensor j, offset in it, start, length)],
        # chunks in first-use order. A tensor goes straight from the chunks' JS ArrayBuffers to
        # the device (no copy through Python memory) where the backend hands back JS buffers
        # (IndexedDB), the device can write from them (webgpu) and its ranges are whole words;
        # else its bytes are gathered in a bytearray and uploaded once whole.
        write_from_js = (
            getattr(dev, "write_from_js", None)
            if getattr(self.backend, "js_chunks", False)
            else None
        )
        pieces: dict[int, list[tuple[int, int, int, int]]] = {}
        direct: list[bool] = []
        left: list[int] = []  # ranges still to land, per tensor
        owners: dict[int, str] = {}
        for j, (t, _) in enumerate(reads):
            pos = 0
            for idx, start, length in t["ranges"]:
                pieces.setdefault(idx, []).append((j, pos, start, length))
                owners.setdefault(idx, t["name"])
                pos += length
            direct.append(
                write_from_js is not None
                and as_dtype(t["dtype"]).nbytes(math.prod(t["shape"])) == t["nbytes"]
                and all(start % 4 == 0 == length % 4 for _, start, length in t["ranges"])
            )
            left.append(len(t["ranges"]))
        order = list(pieces)
        tasks: dict[int, asyncio.Future[Any]] = {}
        nxt = 0

        def fetch(idxs: list[int]) -> None:
            for idx, task in zip(idxs, self._read_chunks(manifest, idxs, owners), strict=True):
                task.add_done_callback(_retrieve)  # a read-ahead that fails after an earlier one
                tasks[idx] = task

        async def chunk(idx: int) -> Any:
            """Chunk *idx* (verified), keeping up to ``read_ahead`` chunks in flight."""
            nonlocal nxt
            batch = []
            while nxt < len(order) and len(tasks) + len(batch) < max(1, self.read_ahead):
                batch.append(order[nxt])
                nxt += 1
            if batch:
                fetch(batch)
            return await tasks.pop(idx)

        dests: dict[int, Any] = {}  # tensor j -> its device storage or bytearray, while filling

        def dest(j: int) -> Any:
            if j not in dests:
                t = reads[j][0]
                dtype = as_dtype(t["dtype"])
                if direct[j]:
                    dests[j] = dev.storage(math.prod(t["shape"]), dtype)
                else:
                    dests[j] = bytearray(t["nbytes"])
            return dests[j]

        def finish(j: int) -> None:
            nonlocal done
            t, key = reads[j]
            data = dest(j)
            del dests[j]
            dtype, shape = as_dtype(t["dtype"]), tuple(t["shape"])
            if dev is None:  # read_async: the bytes themselves
                t_out: Any = (data, t["dtype"], shape)
            elif direct[j]:
                t_out = _buffer_tensor(data, shape, dtype)
                if share:  # as shared_tensor does with a fresh upload
                    t_out = REGISTRY.register(t_out, key, owner, adopt=True)
            elif share:
                t_out = shared_tensor(data, dev, key, dtype=dtype, shape=shape, model=owner)
            else:
                t_out = from_buffer(data, shape, dtype, dev)
            if dev is not None:
                self.hot.put((mkey, t["name"], dev.name), t_out, t["nbytes"])
            found[t["name"]] = t_out
            done += t["nbytes"]
            if progress is not None and t["nbytes"]:
                progress(done, total)

        try:
            for j in range(len(reads)):
                if not left[j]:  # no bytes
                    finish(j)
            for idx in order:
                data = await chunk(idx)
                writes = []
                for j, pos, start, length in pieces[idx]:
                    if direct[j]:
                        writes.append((dest(j).handle, pos, start, length))
                    else:
                        buf = memoryview(dest(j))[pos : pos + length]
                        self._copy_range(data, start, length, buf)
                if writes:  # every piece of this chunk at once (one staging write, copies)
                    write_from_js(data, writes)
                del data
                for j, _, _, _ in pieces[idx]:
                    left[j] -= 1
                    if not left[j]:
                        finish(j)
        except BaseException:
            for d in dests.values():  # device storages of tensors never finished
                if not isinstance(d, bytearray):
                    d.release()
            raise
        finally:
            for task in tasks.values():
                task.cancel()
        for t, key in aliases:  # now resident: another holder of the same storage
            hit = REGISTRY.lookup(key, dev, as_dtype(t["dtype"]), t["shape"], owner)
            assert hit is not None, t["name"]
            found[t["name"]] = hit
            done += t["nbytes"]
            if progress is not None and t["nbytes"]:
                progress(done, total)
        return {t["name"]: found[t["name"]] for t in selected}

    def _read_chunks(
        self, manifest: dict[str, Any], idxs: list[int], owners: Mapping[int, str]
    ) -> list[asyncio.Future[Any]]:
        """Start reading chunks *idxs* (verified, decoded): one future each. A backend with
        ``get_chunks`` reads them together (IndexedDB: one transaction)."""
        many = getattr(self.backend, "get_chunks", None)
        if many is None:
            return [asyncio.ensure_future(self._read_chunk(manifest, i, owners[i])) for i in idxs]
        chunks = manifest["chunks"]
        specs = [
            (
                chunks[i]["key"],
                chunks[i]["codec"],
                int(chunks[i]["size"]),
                chunks[i].get("check", "") if self.load_check == "fast" else "",
            )
            for i in idxs
        ]
        return [
            asyncio.ensure_future(self._checked(aw, manifest, i, owners[i]))
            for aw, i in zip(many(specs), idxs, strict=True)
        ]

    async def _checked(self, aw: Any, manifest: dict[str, Any], idx: int, tensor: str) -> Any:
        try:
            return await aw
        except ChunkCheckError as exc:
            c = manifest["chunks"][idx]
            name, version = manifest["name"], manifest["version"]
            raise CorruptChunkError(name, version, tensor, c["key"], exc.why) from None

    def _copy_range(self, data: Any, start: int, length: int, dest: memoryview) -> None:
        if isinstance(data, bytes | bytearray | memoryview):
            dest[:] = memoryview(data)[start : start + length]
        else:  # the backend's own buffer (IndexedDB: a JS ArrayBuffer): one copy into *dest*
            self.backend.copy_range(data, start, length, dest)

    async def _read_chunk(
        self, manifest: dict[str, Any], idx: int, tensor: str, sha256: bool = False
    ) -> Any:
        """Chunk *idx*'s raw bytes, checksum verified and decoded (or CorruptChunkError). The
        backend's ``get_chunk`` does it where it has one (IndexedDB: in JS, hashing with
        ``crypto.subtle``) and returns its own buffer type; else bytes, hashed here."""
        c = manifest["chunks"][idx]
        name, version = manifest["name"], manifest["version"]
        fast = getattr(self.backend, "get_chunk", None)
        if fast is not None:
            try:
                check = c.get("check", "") if self.load_check == "fast" and not sha256 else ""
                return await fast(c["key"], c["codec"], int(c["size"]), check)
            except ChunkCheckError as exc:
                raise CorruptChunkError(name, version, tensor, c["key"], exc.why) from None
        blob = await self.backend.get("chunks", c["key"])
        if blob is None:
            raise CorruptChunkError(name, version, tensor, c["key"], "missing")
        if hashlib.sha256(blob).hexdigest() != c["key"]:
            raise CorruptChunkError(name, version, tensor, c["key"], "sha-256 mismatch")
        raw = blob
        if c["codec"] != "none":
            if c["codec"] not in CODECS:
                raise StoreError(f"chunk {c['key']}: unknown codec {c['codec']!r}")
            try:
                raw = _py_decode(blob, c["codec"])
            except zlib.error as exc:
                raise CorruptChunkError(name, version, tensor, c["key"], str(exc)) from None
        if len(raw) != c["size"]:
            raise CorruptChunkError(name, version, tensor, c["key"], "wrong length")
        return raw

    # -- verify / repair -------------------------------------------------------------------------
    async def verify_async(self, name: str, version: str | None = None) -> list[str]:
        """The keys of this model's chunks that are missing or corrupt (empty: all good)."""
        async with self._locked(exclusive=False):
            return await self._verify(self._find(name, version))

    async def _verify(self, manifest: dict[str, Any]) -> list[str]:
        bad = []
        owner = _chunk_owners(manifest)
        for idx, c in enumerate(manifest["chunks"]):
            try:
                await self._read_chunk(manifest, idx, owner.get(idx, "?"), sha256=True)
            except CorruptChunkError:
                bad.append(c["key"])
        return bad

    def verify(self, name: str, version: str | None = None) -> list[str]:
        return run_sync(self.verify_async(name, version))

    async def repair_async(
        self, name: str, source: Source = None, *, version: str | None = None
    ) -> list[str]:
        """Re-fetch this model's corrupt or missing chunks from *source* (tensors, a callable
        returning them, or an export file; default: the manifest's recorded source path).
        Returns the repaired chunk keys."""
        bad = set(await self.verify_async(name, version))
        manifest = self._find(name, version)
        if not bad:
            return []
        src = source if source is not None else manifest.get("source")
        if src is None:
            raise StoreError(f"model {name!r} has corrupt chunks and no source to repair from")
        tensors = await _resolve_source(src, name)
        by_name = {t["name"]: t for t in manifest["tensors"]}
        entries = []
        for tname in by_name:
            if tname not in tensors:
                raise StoreError(f"repair of {name!r}: the source has no tensor {tname!r}")
            entries.append(await _as_entry(tname, tensors[tname]))
        layout, chunks = _plan(entries, manifest["chunk_size"])
        if [(t["dtype"], t["shape"]) for t in layout] != [
            (by_name[t]["dtype"], by_name[t]["shape"]) for t in by_name
        ]:
            raise StoreError(f"repair of {name!r}: the source's dtypes/shapes differ")
        fixed: dict[str, Any] = {}
        for c, old in zip(chunks, manifest["chunks"], strict=True):
            if old["key"] not in bad or old["key"] in fixed:
                continue
            await self._prepare(c, keep=True, codec=old["codec"])
            if (c.key, c.codec) != (old["key"], old["codec"]):
                raise StoreError(
                    f"repair of {name!r}: the source's bytes for chunk {old['key']} differ from "
                    f"what was stored (a different model, or another {old['codec']} encoder); "
                    f"save it again"
                )
            fixed[old["key"]] = c.blob
        async with self._locked():
            if manifest_key(name, manifest["version"]) not in self._manifests:
                raise ModelNotFoundError(f"model {name!r} version {manifest['version']!r} is gone")
            await self.backend.put_many("chunks", fixed)
        return sorted(fixed)

    def repair(self, name: str, source: Source = None, *, version: str | None = None) -> list[str]:
        return run_sync(self.repair_async(name, source, version=version))

    # -- delete ----------------------------------------------------------------------------------
    async def _delete_versions(self, keys: list[str], keep: set[str] = frozenset()) -> None:
        freed = sorted({ck for k in keys for ck in self._index_remove(k)} - keep)
        await self.backend.delete_many("manifests", keys)  # the commit point of a delete
        if freed:
            await self.backend.delete_many("chunks", freed)

    async def delete_async(self, name: str, version: str | None = None) -> None:
        """Delete a model (every version, or one); pinned models cannot be deleted."""
        if self._pins[name] > 0:
            raise StoreError(f"model {name!r} is pinned (in use); unpin it before deleting")
        async with self._locked():
            versions = [self._find(name, version)] if version is not None else self._versions(name)
            if not versions:
                self._find(name, None)  # raises ModelNotFoundError
            await self._delete_versions([manifest_key(name, m["version"]) for m in versions])

    def delete(self, name: str, version: str | None = None) -> None:
        run_sync(self.delete_async(name, version))

    async def clear_async(self) -> None:
        """Delete every model (refused while any is pinned)."""
        if self.pinned():
            raise StoreError(f"cannot clear the store: pinned models {self.pinned()}")
        async with self._locked():
            await self._delete_versions(list(self._manifests))
            leftovers = await self.backend.keys("chunks")
            if leftovers:
                await self.backend.delete_many("chunks", leftovers)
        self.hot.clear()

    def clear(self) -> None:
        run_sync(self.clear_async())

    # -- export / import -------------------------------------------------------------------------
    async def export_async(
        self,
        name: str,
        path_or_fileobj: str | os.PathLike[str] | BinaryIO,
        version: str | None = None,
    ) -> int:
        """Write one model as a single file; returns its size in bytes.

        Container: ``WASTORE1`` magic, an 8-byte little-endian header length, the UTF-8 JSON
        header ``{"format": "webaccel-store", "format_version": 1, "manifest": ...,
        "chunks": [{"key", "stored"}, ...]}``, every listed chunk's stored bytes in order, then
        the 32-byte sha-256 of everything before it. Import checks the digest and every chunk.
        """
        async with self._locked(exclusive=False):
            return await self._export(self._find(name, version), path_or_fileobj)

    async def _export(
        self, manifest: dict[str, Any], path_or_fileobj: str | os.PathLike[str] | BinaryIO
    ) -> int:
        unique = list({c["key"]: c for c in manifest["chunks"]}.values())
        header = {
            "format": "webaccel-store",
            "format_version": 1,
            "manifest": manifest,
            "chunks": [{"key": c["key"], "stored": c["stored"]} for c in unique],
        }
        head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        owner = _chunk_owners(manifest)
        index = {c["key"]: i for i, c in enumerate(manifest["chunks"])}

        async def write(f: BinaryIO) -> int:
            digest = hashlib.sha256()
            n = 0
            for part in (EXPORT_MAGIC, struct.pack("<Q", len(head)), head):
                f.write(part)
                digest.update(part)
                n += len(part)
            for c in unique:
                i = index[c["key"]]
                await self._read_chunk(manifest, i, owner.get(i, "?"), sha256=True)  # verify
                blob = await self.backend.get("chunks", c["key"])
                assert blob is not None
                f.write(blob)
                digest.update(blob)
                n += len(blob)
            f.write(digest.digest())
            return n + 32

        if isinstance(path_or_fileobj, str | os.PathLike):
            path = Path(path_or_fileobj)
            tmp = path.with_name(path.name + ".part")
            with open(tmp, "wb") as f:
                n = await write(f)
            os.replace(tmp, path)
            return n
        return await write(path_or_fileobj)

    def export(
        self,
        name: str,
        path_or_fileobj: str | os.PathLike[str] | BinaryIO,
        version: str | None = None,
    ) -> int:
        return run_sync(self.export_async(name, path_or_fileobj, version))

    async def import_async(
        self, path_or_fileobj: str | os.PathLike[str] | BinaryIO, *, name: str | None = None
    ) -> dict[str, Any]:
        """Add a model from an ``export`` file (verified first); returns its ``info``."""
        manifest, blobs = _read_export(path_or_fileobj)
        manifest = migrate(manifest)
        model = name or manifest["name"]
        chunks = [
            _Chunk([], int(c["size"]), c["key"], int(c["stored"]), c["codec"], c.get("check", ""))
            for c in manifest["chunks"]
        ]
        source = manifest.get("source")
        if source is None and isinstance(path_or_fileobj, str | os.PathLike):
            source = str(path_or_fileobj)
        async with self._locked():
            return await self._commit(
                model,
                manifest["version"],
                source,
                manifest["tensors"],
                chunks,
                int(manifest["chunk_size"]),
                None,
                stored_blobs=blobs,
            )

    def import_(
        self, path_or_fileobj: str | os.PathLike[str] | BinaryIO, *, name: str | None = None
    ) -> dict[str, Any]:
        return run_sync(self.import_async(path_or_fileobj, name=name))

    async def close_async(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            await close()
        self.hot.clear()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a finished task's exception as seen (its error is raised where it is awaited)."""
    if not task.cancelled():
        task.exception()


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _chunk_owners(manifest: Mapping[str, Any]) -> dict[int, str]:
    owners: dict[int, str] = {}
    for t in manifest["tensors"]:
        for idx, _, _ in t["ranges"]:
            owners.setdefault(idx, t["name"])
    return owners


def _read_export(path_or_fileobj: str | os.PathLike[str] | BinaryIO) -> tuple[dict, dict]:
    if isinstance(path_or_fileobj, str | os.PathLike):
        with open(path_or_fileobj, "rb") as f:
            data = f.read()
    else:
        data = path_or_fileobj.read()
    where = getattr(path_or_fileobj, "name", None) or str(path_or_fileobj)
    if len(data) < len(EXPORT_MAGIC) + 8 + 32 or not data.startswith(EXPORT_MAGIC):
        raise CorruptExportError(f"{where}: not a webaccel store export (bad magic or too short)")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise CorruptExportError(f"{where}: the file's sha-256 does not match (corrupt export)")
    (hlen,) = struct.unpack_from("<Q", data, len(EXPORT_MAGIC))
    start = len(EXPORT_MAGIC) + 8
    try:
        header = json.loads(data[start : start + hlen])
    except ValueError as exc:
        raise CorruptExportError(f"{where}: unreadable header ({exc})") from None
    if header.get("format") != "webaccel-store" or header.get("format_version") != 1:
        raise CorruptExportError(f"{where}: unknown export format {header.get('format')!r}")
    pos = start + hlen
    blobs: dict[str, bytes] = {}
    for c in header["chunks"]:
        blob = bytes(data[pos : pos + int(c["stored"])])
        pos += int(c["stored"])
        if hashlib.sha256(blob).hexdigest() != c["key"]:
            raise CorruptExportError(f"{where}: chunk {c['key']} fails its sha-256")
        blobs[c["key"]] = blob
    if pos != len(body):
        raise CorruptExportError(f"{where}: {len(body) - pos} unexpected trailing bytes")
    manifest = header["manifest"]
    missing = {c["key"] for c in manifest["chunks"]} - set(blobs)
    if missing:
        raise CorruptExportError(f"{where}: chunks missing from the file: {sorted(missing)}")
    return manifest, blobs


async def _resolve_source(source: Source, name: str) -> Mapping[str, Any]:
    if isinstance(source, str | os.PathLike):
        if not os.path.exists(source):
            raise StoreError(
                f"cannot repair {name!r} from {source!r}: not a local export file (fetching "
                f"URLs is up to the caller: pass the tensors or a callable)"
            )
        manifest, blobs = _read_export(source)
        manifest = migrate(manifest)
        scratch = Store(_MemoryBackend(), allow_small_chunks=True)
        chunks = [
            _Chunk([], int(c["size"]), c["key"], int(c["stored"]), c["codec"], c.get("check", ""))
            for c in manifest["chunks"]
        ]
        await scratch._commit(
            name,
            manifest["version"],
            None,
            manifest["tensors"],
            chunks,
            int(manifest["chunk_size"]),
            None,
            stored_blobs=blobs,
        )
        loaded = await scratch._load(name, None, "cpu", None)
        return {k: v for k, v in loaded.items()}
    if callable(source):
        result = source()
        if isinstance(result, Awaitable):
            result = await result
        return result
    if isinstance(source, Mapping):
        return source
    raise TypeError(f"a repair source is tensors, a callable or an export path, not {source!r}")


class _MemoryBackend:
    """A dict-backed Backend (scratch space; also the reference for new backends)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, bytes]] = {"chunks": {}, "manifests": {}, "meta": {}}

    async def get(self, ns: str, key: str) -> bytes | None:
        return self.data[ns].get(key)

    async def put_many(self, ns: str, items: Mapping[str, bytes | bytearray | memoryview]) -> None:
        self.data[ns].update({k: bytes(v) for k, v in items.items()})

    async def delete_many(self, ns: str, keys: Iterable[str]) -> None:
        for k in keys:
            self.data[ns].pop(k, None)

    async def keys(self, ns: str) -> list[str]:
        return sorted(self.data[ns])


MemoryBackend = _MemoryBackend

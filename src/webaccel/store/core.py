"""The model store's logic: chunking, manifests, refcounts, quota/LRU, export/import.

Everything here talks to a ``Backend`` (four async calls over three namespaces), so the same
logic runs over files on CPython and, later, over IndexedDB in the browser.

Save order (crash safety): new chunks first, then the manifest (the commit point), then the
clean-up of versions and chunks that are no longer referenced. A crash before the manifest
leaves orphan chunks only, which ``Store.open`` garbage-collects; the previous version of the
model is never touched before the new one is committed.
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
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .._compat import IN_PYODIDE, WebAccelError, run_sync
from ..dtypes import as_dtype

MiB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 32 * MiB
MIN_CHUNK_SIZE = 16 * MiB
MAX_CHUNK_SIZE = 64 * MiB
SCHEMA_VERSION = 2
EXPORT_MAGIC = b"WASTORE1"
_WRITE_BATCH = 64 * MiB  # bytes of new chunks per put_many (small chunks are batched)

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

    def raw_bytes(self) -> bytes:
        return b"".join(self.raw)


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


def _encode_chunk(raw: bytes, compress: bool) -> tuple[bytes, str]:
    if compress:
        packed = zlib.compress(raw, 6)
        if len(packed) < len(raw):
            return packed, "zlib"
    return raw, "none"


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
        compress: bool = False,
        keep_versions: int = 1,
        hot_cache_bytes: int = 0,
        allow_small_chunks: bool = False,
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
        self.compress = compress
        self.keep_versions = keep_versions
        self.hot = HotCache(hot_cache_bytes)
        self._manifests: dict[str, dict[str, Any]] = {}
        self._refs: Counter[str] = Counter()
        self._stored: dict[str, int] = {}
        self._pins: Counter[str] = Counter()
        self._seq = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: Any = None

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
            if IN_PYODIDE:
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
        await store._load_index()
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
        """Read every manifest (migrating old schemas), rebuild refcounts, GC orphan chunks."""
        for key in await self.backend.keys("manifests"):
            raw = await self.backend.get("manifests", key)
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
        orphans = [k for k in await self.backend.keys("chunks") if k not in self._refs]
        if orphans:
            await self.backend.delete_many("chunks", orphans)
        if await self.backend.get("meta", "store") is None:
            meta = {"format": 1, "schema_version": SCHEMA_VERSION, "created": time.time()}
            await self.backend.put_many("meta", {"store": _dump(meta)})

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
        async with self._guard():
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
        # Pass 1: the key and stored size of every chunk (bytes dropped: memory stays bounded).
        if stored_blobs is None:
            for c in chunks:
                blob, c.codec = _encode_chunk(c.raw_bytes(), self.compress)
                c.key, c.stored = hashlib.sha256(blob).hexdigest(), len(blob)
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
                    blob, _ = _encode_chunk(c.raw_bytes(), self.compress)
                batch[c.key] = blob
                batch_bytes += len(blob)
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
                {"key": c.key, "size": c.size, "stored": c.stored, "codec": c.codec} for c in chunks
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
    ) -> dict[str, Any]:
        """The tensors of *name* (latest version unless *version*) on *device*.

        Checksums are verified; a corrupt chunk raises CorruptChunkError, or, with *source*,
        is re-fetched (``repair``) and the load retried once.
        """
        try:
            return await self._load(name, version, device, progress)
        except CorruptChunkError:
            if source is None:
                raise
            await self.repair_async(name, source, version=version)
            return await self._load(name, version, device, progress)

    def load(
        self,
        name: str,
        device: Any = None,
        progress: Progress | None = None,
        *,
        version: str | None = None,
        source: Source = None,
    ) -> dict[str, Any]:
        return run_sync(self.load_async(name, device, progress, version=version, source=source))

    async def _load(
        self, name: str, version: str | None, device: Any, progress: Progress | None
    ) -> dict[str, Any]:
        from ..devices import get_device
        from ..tensor import from_buffer

        dev = get_device(device)
        manifest = self._find(name, version)
        mkey = manifest_key(name, manifest["version"])
        total = manifest["total_bytes"]
        done = 0
        if progress is not None:
            progress(0, total)
        out: dict[str, Any] = {}
        cached_idx, cached_raw = -1, b""
        for t in manifest["tensors"]:
            hot_key = (mkey, t["name"], dev.name)
            hit = self.hot.get(hot_key)
            if hit is None:
                buf = bytearray(t["nbytes"])
                pos = 0
                for idx, start, length in t["ranges"]:
                    if idx != cached_idx:
                        cached_raw = await self._read_chunk(manifest, idx, t["name"])
                        cached_idx = idx
                    buf[pos : pos + length] = cached_raw[start : start + length]
                    pos += length
                hit = from_buffer(buf, t["shape"], t["dtype"], dev)
                self.hot.put(hot_key, hit, t["nbytes"])
            out[t["name"]] = hit
            done += t["nbytes"]
            if progress is not None and t["nbytes"]:
                progress(done, total)
        manifest["last_used"] = time.time()
        manifest["used_seq"] = self._tick()
        await self.backend.put_many("manifests", {mkey: _dump(manifest)})
        return out

    async def _read_chunk(self, manifest: dict[str, Any], idx: int, tensor: str) -> bytes:
        c = manifest["chunks"][idx]
        name, version = manifest["name"], manifest["version"]
        blob = await self.backend.get("chunks", c["key"])
        if blob is None:
            raise CorruptChunkError(name, version, tensor, c["key"], "missing")
        if hashlib.sha256(blob).hexdigest() != c["key"]:
            raise CorruptChunkError(name, version, tensor, c["key"], "sha-256 mismatch")
        raw = blob
        if c["codec"] == "zlib":
            try:
                raw = zlib.decompress(blob)
            except zlib.error as exc:
                raise CorruptChunkError(name, version, tensor, c["key"], str(exc)) from None
        elif c["codec"] != "none":
            raise StoreError(f"chunk {c['key']}: unknown codec {c['codec']!r}")
        if len(raw) != c["size"]:
            raise CorruptChunkError(name, version, tensor, c["key"], "wrong length")
        return raw

    # -- verify / repair -------------------------------------------------------------------------
    async def verify_async(self, name: str, version: str | None = None) -> list[str]:
        """The keys of this model's chunks that are missing or corrupt (empty: all good)."""
        manifest = self._find(name, version)
        bad = []
        owner = _chunk_owners(manifest)
        for idx, c in enumerate(manifest["chunks"]):
            try:
                await self._read_chunk(manifest, idx, owner.get(idx, "?"))
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
        manifest = self._find(name, version)
        bad = set(await self.verify_async(name, manifest["version"]))
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
        fixed: dict[str, bytes] = {}
        for c, old in zip(chunks, manifest["chunks"], strict=True):
            if old["key"] not in bad or old["key"] in fixed:
                continue
            raw = c.raw_bytes()
            blob = zlib.compress(raw, 6) if old["codec"] == "zlib" else raw
            if hashlib.sha256(blob).hexdigest() != old["key"]:
                raise StoreError(
                    f"repair of {name!r}: the source's bytes for chunk {old['key']} differ from "
                    f"what was stored (a different model, or another zlib); save it again"
                )
            fixed[old["key"]] = blob
        async with self._guard():
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
        versions = [self._find(name, version)] if version is not None else self._versions(name)
        if not versions:
            self._find(name, None)  # raises ModelNotFoundError
        async with self._guard():
            await self._delete_versions([manifest_key(name, m["version"]) for m in versions])

    def delete(self, name: str, version: str | None = None) -> None:
        run_sync(self.delete_async(name, version))

    async def clear_async(self) -> None:
        """Delete every model (refused while any is pinned)."""
        if self.pinned():
            raise StoreError(f"cannot clear the store: pinned models {self.pinned()}")
        async with self._guard():
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
        manifest = self._find(name, version)
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
                await self._read_chunk(manifest, i, owner.get(i, "?"))  # verify before export
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
            _Chunk([], int(c["size"]), c["key"], int(c["stored"]), c["codec"])
            for c in manifest["chunks"]
        ]
        source = manifest.get("source")
        if source is None and isinstance(path_or_fileobj, str | os.PathLike):
            source = str(path_or_fileobj)
        async with self._guard():
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
            _Chunk([], int(c["size"]), c["key"], int(c["stored"]), c["codec"])
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

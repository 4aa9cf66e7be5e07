"""``Store``: content-addressed, versioned model bytes with a byte budget, over a ``Backend``.

Save order (crash safety): new chunks first, then the manifest (the commit point), then the
clean-up of versions and chunks that are no longer referenced. A crash (or a page closed
mid-save) before the manifest leaves orphan chunks only, which ``Store.open`` garbage-collects
under the exclusive lock; the previous version of the model is never touched before the new one
is committed. Every operation runs under the backend's lock (where it has one) and first
re-reads the manifests, since another page or process may have committed meanwhile.

The store moves bytes: ``save`` takes ``(bytes_like, dtype, shape)`` or NumPy arrays, ``read``
gives ``(bytearray, dtype, shape)``. Putting weights on a device (sharing them across models,
a hot cache) is ``webaccel.weights``'s, which reads through ``Store.reading``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from .. import _compat
from .._compat import run_sync, sync_twin
from . import archive, codecs, legacy
from .backends import idb
from .backends.base import Adapted, Backend
from .backends.files import FileBackend
from .backends.memory import MemoryBackend
from .chunks import (
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    Chunk,
    Entry,
    as_entry,
    is_host_value,
    plan,
)
from .errors import (
    CorruptChunkError,
    ModelNotFoundError,
    QuotaExceededError,
    StoreError,
    StoreUnavailableError,
)
from .reading import HostTensor, Progress, Reading, read_chunk
from .schema import (
    SCHEMA_VERSION,
    check_name,
    chunk_owners,
    dump,
    manifest_key,
    migrate,
    select,
)

_WRITE_BATCH = 64 * 1024 * 1024  # bytes of new chunks per put_many (small chunks are batched)
_KEEP_BLOBS = 512 * 1024 * 1024  # encoded chunks kept from pass 1 to pass 2 of a save

# What repair re-fetches from: a Mapping of tensors | a callable returning one (sync or
# async) | an export file path
Source = Any


def default_path() -> Path:
    """Where ``Store.open`` keeps files on CPython: ``$WEBACCEL_STORE_DIR``, else
    ``~/.cache/webaccel/store``."""
    env = os.environ.get("WEBACCEL_STORE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "webaccel" / "store"


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
        if hot_cache_bytes < 0:
            raise ValueError("hot_cache_bytes must be >= 0")
        if not isinstance(backend, Backend):
            legacy.deprecated(
                f"a store backend that does not derive from webaccel.store.Backend "
                f"({type(backend).__name__})",
                "class MyBackend(webaccel.store.Backend)",
                "optional backend capabilities are declared attributes of Backend now",
            )
            backend = Adapted(backend)
        self.backend: Backend = backend
        self.budget = budget
        self.chunk_size = int(chunk_size)
        if compress is True:
            codec = str(backend.default_codec)
        elif not compress or compress == "none":
            codec = "none"
        elif compress in codecs.CODECS:
            codec = str(compress)
        else:
            raise ValueError(f"compress is a bool or one of {codecs.CODECS}, not {compress!r}")
        if load_check not in ("fast", "sha256"):
            raise ValueError(f"load_check is 'fast' or 'sha256', not {load_check!r}")
        # How reads verify chunks: "fast" uses a chunk's xxh32x4 checksum where the manifest
        # has one (written by IDBBackend; ~5x crypto.subtle's SHA-256 in the browser), else its
        # sha-256; "sha256" always re-hashes. verify(), export and repair always use sha-256.
        self.load_check = load_check
        self.codec = codec
        self.compress = codec != "none"
        self.keep_versions = keep_versions
        self.read_ahead = 8  # chunks in flight while reading (bounded memory: 8 x chunk_size)
        # the deprecated Store.load's hot cache (webaccel.weights.HotCache), see ``hot``
        self.hot_cache_bytes = int(hot_cache_bytes)
        self._legacy_hot: Any = None
        self._manifests: dict[str, dict[str, Any]] = {}
        self._refs: Counter[str] = Counter()
        self._stored: dict[str, int] = {}
        self._pins: Counter[str] = Counter()
        self._seq = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: Any = None
        self._indexed = False

    def __repr__(self) -> str:
        return f"<Store over {self.backend!r}: {len(self._manifests)} versions>"

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
                if not idb.indexeddb_available():
                    raise StoreUnavailableError(
                        "no IndexedDB on this host (Node.js, or a browser that blocks it): "
                        "pass backend=... deriving from webaccel.store.Backend"
                    )
                backend = await idb.IDBBackend.open(str(path) if path is not None else idb.DB_NAME)
                if budget is None:
                    budget = await idb.quota_estimate()
            else:
                backend = FileBackend(path if path is not None else default_path())
        store = cls(backend, budget=budget, **options)
        async with store._locked():
            await store._collect_orphans()
        return store

    open = classmethod(sync_twin(open_async.__func__))

    async def _load_index(self) -> None:
        """Read every manifest (migrating old schemas) and rebuild the chunk refcounts: the
        in-memory index, refreshed under the store lock before every operation, since another
        page or process may have changed the store."""
        self._manifests, self._refs, self._stored = {}, Counter(), {}
        if self.backend.items is not None:  # one round trip (IndexedDB: one transaction)
            stored = await self.backend.items("manifests")
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
                await self.backend.put_many("manifests", {new_key: dump(manifest)})
                if new_key != key:
                    await self.backend.delete_many("manifests", [key])
                key = new_key
            self._index_add(key, manifest)

    async def _collect_orphans(self) -> None:
        """Delete chunks no manifest references (left by a save that crashed or whose page
        was closed before its commit). Only under the exclusive lock: a save in flight holds
        it, so its chunks are never taken for orphans."""
        orphans = [k for k in await self.backend.keys("chunks") if k not in self._refs]
        if orphans:
            await self.backend.delete_many("chunks", orphans)
        if await self.backend.get("meta", "store") is None:
            meta = {"format": 1, "schema_version": SCHEMA_VERSION, "created": time.time()}
            await self.backend.put_many("meta", {"store": dump(meta)})

    @contextlib.asynccontextmanager
    async def _locked(self, exclusive: bool = True) -> AsyncIterator[None]:
        """Hold the store: this Store's own lock, then the backend's cross-page / cross-process
        lock where it has one (IndexedDB: a Web Lock; files: flock), shared for reading and
        exclusive for writing; then refresh the index from the backend."""
        async with self._guard():
            if self.backend.lock is None:
                if not self._indexed:
                    await self._load_index()
                    self._indexed = True
                yield
                return
            async with self.backend.lock(exclusive=exclusive):
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
        return json.loads(dump(self._find(name, version)))

    def seq(self, name: str, version: str) -> int | None:
        """The commit number of *name* at *version* as last seen (None: not in the store). A
        version saved again gets a new one, so a cache of what was read from it can tell."""
        manifest = self._manifests.get(manifest_key(name, str(version)))
        return None if manifest is None else int(manifest["seq"])

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
        if self.backend.digest is not None:
            return str(await self.backend.digest(data))
        return hashlib.sha256(data).hexdigest()

    async def _prepare(self, c: Chunk, keep: bool, codec: str | None = None) -> None:
        """Encode chunk *c* (compressing it with *codec*, default the store's, where that makes
        it smaller) and set its key (the sha-256 of the stored bytes), stored size and codec."""
        codec = self.codec if codec is None else codec
        check = ""
        if self.backend.encode_chunk is not None:
            blob, key, stored, used, check = await self.backend.encode_chunk(c.raw, codec)
        else:
            if codec == "none":
                blob, used = c.payload(), "none"
            else:
                raw = c.raw_bytes()
                packed = codecs.encode(raw, codec)
                blob, used = (packed, codec) if len(packed) < len(raw) else (raw, "none")
            key, stored = hashlib.sha256(blob).hexdigest(), memoryview(blob).nbytes
        c.key, c.stored, c.codec, c.check = str(key), int(stored), str(used), str(check)
        c.blob = blob if keep else None

    async def _prepare_chunks(self, chunks: list[Chunk]) -> None:
        """Pass 1 of a save, a few chunks at a time (a backend may hash them concurrently)."""
        kept = 0
        for i in range(0, len(chunks), 4):
            group = chunks[i : i + 4]
            await asyncio.gather(*(self._prepare(c, keep=kept < _KEEP_BLOBS) for c in group))
            kept += sum(c.stored for c in group if c.blob is not None)

    async def _entry(self, name: str, value: Any, caller: str) -> Entry:
        """Tensor *name*'s bytes; a device tensor (deprecated here) through webaccel.weights."""
        if not is_host_value(value):
            up = legacy.upper(caller)
            host = await up.to_host(value)
            if host is not None:
                legacy.deprecated(
                    f"passing device tensors to {caller}",
                    "webaccel.weights.save_async(store, name, tensors) (or repair_async)",
                )
                value = host
        return as_entry(name, value)

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

        Values are ``(bytes_like, dtype, shape)`` or NumPy arrays (device tensors:
        ``webaccel.weights.save_async``). Evicts least-recently-used unpinned models to fit the
        budget, or raises QuotaExceededError having written nothing. *progress(bytes_done,
        bytes_total)* is called as chunks land.
        """
        check_name(name)
        entries = [
            await self._entry(check_name(str(k), "tensor name"), v, "Store.save")
            for k, v in tensors.items()
        ]
        layout, chunks = plan(entries, self.chunk_size)
        for t, e in zip(layout, entries, strict=True):
            t["sha256"] = await self._digest(e.data)  # the sharing key: loads dedup by it
        await self._prepare_chunks(chunks)  # keys and stored sizes: before taking the lock
        async with self._locked():
            return await self._commit(
                name, version, source, layout, chunks, self.chunk_size, progress
            )

    save = sync_twin(save_async)

    async def _commit(
        self,
        name: str,
        version: str | None,
        source: str | None,
        layout: list[dict[str, Any]],
        chunks: list[Chunk],
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
        version = check_name(str(version), "version")
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
        batch: dict[str, Any] = {}
        batch_bytes = 0
        written: set[str] = set()
        for c in chunks:
            if c.key in new_keys and c.key not in written:
                if stored_blobs is not None:
                    blob = stored_blobs[c.key]
                else:
                    if c.blob is None:  # dropped after pass 1 (memory bound): encode again
                        key_before = c.key
                        await self._prepare(c, keep=True)
                        if c.key != key_before:
                            raise StoreError(
                                f"chunk {key_before}: encoding it again gave other bytes "
                                f"({c.key}); codec {self.codec!r} is not deterministic here"
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
        await self.backend.put_many("manifests", {key: dump(manifest)})
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

    # -- read ------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def reading(
        self, name: str, version: str | None = None, tensors: Iterable[str] | None = None
    ) -> AsyncIterator[Reading]:
        """Open *name* (latest version unless *version*) for reading, with its tensors (or only
        *tensors*: a name the version lacks is a KeyError): inside, no page or process deletes
        it (the store's shared lock is held). The use is stamped (LRU order) while the chunks
        are read, not after: a small write of its own that the reads do not wait for
        (IndexedDB: a readwrite transaction on the manifests beside the readonly one on the
        chunks); it has landed before the lock is released, and a read that fails still
        counts."""
        async with self._locked(exclusive=False):
            manifest = self._find(name, version)
            records = select(manifest, tensors)
            mkey = manifest_key(name, manifest["version"])
            manifest["last_used"] = time.time()
            manifest["used_seq"] = self._tick()
            stamp = asyncio.ensure_future(self._stamp_use(mkey, manifest))
            reading = Reading(
                self.backend, manifest, records, read_ahead=self.read_ahead, check=self.load_check
            )
            try:
                yield reading
            except BaseException:
                with contextlib.suppress(Exception):  # landed under the lock; the read's error
                    await stamp  # is the one to raise
                raise
            await stamp

    async def _stamp_use(self, mkey: str, manifest: dict[str, Any]) -> None:
        # a usage update only (LRU order): no need to wait for the disk
        if self.backend.relaxed_puts:
            await self.backend.put_many("manifests", {mkey: dump(manifest)}, durable=False)
        else:
            await self.backend.put_many("manifests", {mkey: dump(manifest)})

    async def read_async(
        self,
        name: str,
        progress: Progress | None = None,
        *,
        version: str | None = None,
        tensors: Iterable[str] | None = None,
    ) -> dict[str, HostTensor]:
        """The tensors of *name* (latest version unless *version*; only *tensors* where given,
        reading only their chunks) as verified host bytes: ``{tensor: (bytearray, dtype,
        shape)}``, what ``save`` accepts. A corrupt chunk raises CorruptChunkError."""
        async with self.reading(name, version, tensors) as reading:
            return await reading.read(progress)

    read = sync_twin(read_async)

    # -- verify / repair -------------------------------------------------------------------------
    async def verify_async(self, name: str, version: str | None = None) -> list[str]:
        """The keys of this model's chunks that are missing or corrupt (empty: all good)."""
        async with self._locked(exclusive=False):
            return await self._verify(self._find(name, version))

    async def _verify(self, manifest: dict[str, Any]) -> list[str]:
        bad = []
        owner = chunk_owners(manifest)
        for idx, c in enumerate(manifest["chunks"]):
            try:
                await read_chunk(self.backend, manifest, idx, owner.get(idx, "?"), "sha256")
            except CorruptChunkError:
                bad.append(c["key"])
        return bad

    verify = sync_twin(verify_async)

    async def repair_async(
        self, name: str, source: Source = None, *, version: str | None = None
    ) -> list[str]:
        """Re-fetch this model's corrupt or missing chunks from *source* (a mapping of
        ``(bytes, dtype, shape)`` or NumPy arrays, a callable returning one, or an export file;
        default: the manifest's recorded source path). Returns the repaired chunk keys."""
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
            entries.append(await self._entry(tname, tensors[tname], "Store.repair"))
        layout, chunks = plan(entries, manifest["chunk_size"])
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

    repair = sync_twin(repair_async)

    # -- delete ----------------------------------------------------------------------------------
    async def _delete_versions(self, keys: list[str], keep: Iterable[str] = frozenset()) -> None:
        freed = sorted({ck for k in keys for ck in self._index_remove(k)} - set(keep))
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

    delete = sync_twin(delete_async)

    async def clear_async(self) -> None:
        """Delete every model (refused while any is pinned)."""
        if self.pinned():
            raise StoreError(f"cannot clear the store: pinned models {self.pinned()}")
        async with self._locked():
            await self._delete_versions(list(self._manifests))
            leftovers = await self.backend.keys("chunks")
            if leftovers:
                await self.backend.delete_many("chunks", leftovers)
        if self._legacy_hot is not None:
            self._legacy_hot.clear()

    clear = sync_twin(clear_async)

    # -- export / import -------------------------------------------------------------------------
    async def export_async(
        self,
        name: str,
        path_or_fileobj: str | os.PathLike[str] | BinaryIO,
        version: str | None = None,
    ) -> int:
        """Write one model version as a single file (``webaccel.store.archive``: every chunk
        verified on the way, a sha-256 over the whole); returns its size in bytes."""
        async with self._locked(exclusive=False):
            manifest = self._find(name, version)
            owner = chunk_owners(manifest)
            index = {c["key"]: i for i, c in enumerate(manifest["chunks"])}

            async def stored_bytes(key: str) -> bytes:
                i = index[key]
                await read_chunk(self.backend, manifest, i, owner.get(i, "?"), "sha256")
                blob = await self.backend.get("chunks", key)
                assert blob is not None  # read_chunk has just checked it
                return blob

            return await archive.write(manifest, path_or_fileobj, stored_bytes)

    export = sync_twin(export_async)

    async def import_async(
        self, path_or_fileobj: str | os.PathLike[str] | BinaryIO, *, name: str | None = None
    ) -> dict[str, Any]:
        """Add a model from an ``export`` file (verified first); returns its ``info``."""
        manifest, blobs = archive.read(path_or_fileobj)
        manifest = migrate(manifest)
        source = manifest.get("source")
        if source is None and isinstance(path_or_fileobj, str | os.PathLike):
            source = str(path_or_fileobj)
        async with self._locked():
            return await self._commit_stored(name or manifest["name"], manifest, blobs, source)

    async def _commit_stored(
        self,
        name: str,
        manifest: Mapping[str, Any],
        blobs: Mapping[str, bytes],
        source: str | None,
    ) -> dict[str, Any]:
        """Commit a version whose chunks are already encoded (an import), under the lock."""
        chunks = [Chunk.stored_as(c) for c in manifest["chunks"]]
        return await self._commit(
            name,
            manifest["version"],
            source,
            manifest["tensors"],
            chunks,
            int(manifest["chunk_size"]),
            None,
            stored_blobs=blobs,
        )

    import_ = sync_twin(import_async)

    async def close_async(self) -> None:
        if self.backend.close is not None:
            await self.backend.close()
        if self._legacy_hot is not None:
            self._legacy_hot.clear()

    # -- deprecated: device tensors (webaccel.weights), one release ------------------------------
    @property
    def hot(self) -> Any:
        """Deprecated: the hot cache of the deprecated ``load`` (``Store(hot_cache_bytes=)``);
        keep a ``webaccel.weights.HotCache`` and pass ``cache=`` to ``weights.load_async``."""
        return legacy.upper("Store.hot").hot(self)

    async def load_async(
        self, name: str, device: Any = None, progress: Progress | None = None, **options: Any
    ) -> dict[str, Any]:
        """Deprecated: ``webaccel.weights.load_async(store, name, device, progress, ...)``
        (the same options: version, source, share, model, tensors)."""
        legacy.deprecated(
            "Store.load_async", "webaccel.weights.load_async(store, name, device, ...)"
        )
        return await legacy.upper("Store.load_async").load(
            self, name, device, progress=progress, **options
        )

    def load(
        self, name: str, device: Any = None, progress: Progress | None = None, **options: Any
    ) -> dict[str, Any]:
        """Deprecated: ``webaccel.weights.load(store, name, device, progress, ...)``."""
        legacy.deprecated("Store.load", "webaccel.weights.load(store, name, device, ...)")
        up = legacy.upper("Store.load")
        return run_sync(up.load(self, name, device, progress=progress, **options))


async def _resolve_source(source: Source, name: str) -> Mapping[str, Any]:
    if isinstance(source, str | os.PathLike):
        if not os.path.exists(source):
            raise StoreError(
                f"cannot repair {name!r} from {source!r}: not a local export file (fetching "
                f"URLs is up to the caller: pass the tensors or a callable)"
            )
        manifest, blobs = archive.read(source)
        scratch = Store(MemoryBackend(), allow_small_chunks=True)
        async with scratch._locked():
            await scratch._commit_stored(name, migrate(manifest), blobs, None)
        return await scratch.read_async(name)
    if callable(source):
        result = source()
        if isinstance(result, Awaitable):
            result = await result
        return result
    if isinstance(source, Mapping):
        return source
    raise TypeError(f"a repair source is tensors, a callable or an export path, not {source!r}")

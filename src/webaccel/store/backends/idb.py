"""``IDBBackend``: the store's key-value interface over IndexedDB (used inside Pyodide).

Layout: database ``webaccel-store`` with one object store per namespace (``chunks``,
``manifests``, ``meta``), created or migrated in ``onupgradeneeded`` (``IDB_SCHEMA_VERSION``).
Keys are strings; values are ArrayBuffers.

Atomicity: ``put_many`` and ``delete_many`` are each ONE ``readwrite`` transaction, resolved on
the transaction's ``complete`` event; an ``abort`` rejects and nothing of it lands. So, as with
``FileBackend``, a commit is all-or-nothing.

Copies: a value goes from Python memory into a fresh ArrayBuffer in one copy, and comes back
into Python bytes with one ``to_bytes``. The promise helpers live in ``js_glue/idb_glue.js``.

The store's fast path (``encode_chunk``, ``get_chunk``, ``digest``, ``copy_range``) keeps chunk
bytes in JS: hashed with ``crypto.subtle`` (~10x Python's hashlib in wasm), checked with the
xxh32x4 checksum (WebAssembly), compressed with the browser's ``CompressionStream``, and when
loading copied once into the tensor's buffer, or (``js_chunks``: onto ``webgpu``) written
straight from the chunk's ArrayBuffer to the device. It needs a secure context (https,
localhost, 127.0.0.1); elsewhere the store hashes in Python.

Reading is done by a few Web Workers per page (``js_glue/idb_worker.js``, the glue
prepended): each reads its chunks in its own readonly transaction, verifies and decodes them
and transfers the ArrayBuffers to the page. Materializing a 32 MiB value and checksumming it
then happen beside each other and beside the page's device uploads instead of one after
another on the page's thread (``webaccel bench store``: load / raw read 0.67 before, ~1.0
after). Where workers cannot be made (``IDBBackend.open(workers=0)``, or a page policy that
refuses them), or one dies, the page's thread reads.

Several pages: ``lock()`` is a Web Lock named after the database (shared for readers, exclusive
for writers); a page that is closed mid-save releases it, and its uncommitted chunks are
collected by the next ``Store.open``.

Compression (``Store(compress="gzip" | "deflate")``, through CompressionStream) is off by
default: fp32 weights barely compress. ``webaccel bench store`` (chromium lane, a 2-CPU machine
shared with other jobs; 90.9 MB of N(0, 0.02) float32 weights in all-MiniLM-L6-v2's shapes,
32 MiB chunks; medians of 3, two runs):

========  ==========  =========  =========
codec     stored/raw  save MB/s  load MB/s
========  ==========  =========  =========
none      1.000       61-82      189-283
gzip      0.928       15-17      49-76
deflate   0.928       14-19      62-76
========  ==========  =========  =========

7% smaller for a 4-5x slower save and a 3-4x slower load: not worth it by default. Weights that
do compress (quantized tables, zero padding) may be saved with ``compress=True`` ("deflate").
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from ... import _compat
from ..._compat import js_get, js_global, navigator, to_js, to_py
from ...resources import read_text
from ..errors import ChunkCheckError
from .base import NAMESPACES, Backend, Value, check_key, check_namespace

DB_NAME = "webaccel-store"
IDB_SCHEMA_VERSION = 1  # bump (and extend onupgradeneeded) when the object stores change


def idb_glue() -> Any:
    """The JS helpers in ``js_glue/idb_glue.js``, evaluated once."""
    return _compat.js_glue("idb_glue.js")


def default_read_workers() -> int:
    """How many chunk-reading workers a page gets: one per core, at least 3, at most 4. A
    worker mostly waits on IndexedDB, so more workers than cores still pays: on a 2-core machine
    (``webaccel bench store``, 3 chunks of 32 MiB) load / raw read was 0.76-0.87 with 2 workers
    and 0.92-1.11 with 3."""
    cores = js_get(navigator(), "hardwareConcurrency") or 2
    return max(3, min(4, int(cores)))


@functools.cache
def _worker_source() -> str:
    glue = read_text("js_glue", "idb_glue.js")
    return f"const glue = {glue};\n" + read_text("js_glue", "idb_worker.js")


def read_workers(n: int) -> int:
    """Start the page's chunk-reading workers (``js_glue/idb_worker.js``; *n* of them, made
    once per page): how many run (0 where the page cannot make workers: loads then read on the
    page's thread)."""
    return int(idb_glue().startWorkers(_worker_source(), n)) if n > 0 else 0


def indexeddb_available() -> bool:
    """True inside Pyodide on a host with ``indexedDB``."""
    return js_global("indexedDB") is not None


async def quota_estimate() -> int | None:
    """``navigator.storage.estimate()``'s quota in bytes, or None where there is none."""
    if not _compat.host().in_pyodide:
        return None
    try:
        quota = await idb_glue().estimateQuota()
    except Exception:
        return None
    return int(quota) if quota is not None else None


class IDBBackend(Backend):
    """Async key-value namespaces over one IndexedDB database. Open with ``IDBBackend.open``."""

    default_codec = "deflate"  # Store(compress=True); see the module's figures
    # get_chunks hands back JS ArrayBuffers: a device with ``write_from_js`` (webgpu) is written
    # straight from them, without a copy into Python memory
    js_chunks = True
    relaxed_puts = True  # put_many(..., durable=False) is understood

    def __init__(self, db: Any, name: str, workers: int | None = None) -> None:
        self._db = db
        self.name = name
        # chunks are read, verified and decoded in this many Web Workers (0: on the page)
        self.workers = read_workers(default_read_workers() if workers is None else workers)
        if not idb_glue().fastPath():  # no WebCrypto here: the store hashes in Python
            self.encode_chunk = self.get_chunk = self.digest = self.get_chunks = None
            self.copy_range = None
            self.js_chunks = False

    def __repr__(self) -> str:
        return f"IDBBackend({self.name!r})"

    @classmethod
    async def open(cls, name: str = DB_NAME, workers: int | None = None) -> IDBBackend:
        """*workers*: chunk-reading Web Workers (``default_read_workers()`` when None; the
        page has one pool, made by the first open; 0 reads on the page's thread)."""
        if not indexeddb_available():
            raise RuntimeError("IDBBackend needs Pyodide on a host with indexedDB")
        db = await idb_glue().open(name, IDB_SCHEMA_VERSION, to_js(list(NAMESPACES)))
        return cls(db, name, workers)

    # -- the backend interface -------------------------------------------------------------------
    async def get(self, ns: str, key: str) -> bytes | None:
        value = await idb_glue().get(self._conn(), check_namespace(ns), check_key(key))
        return None if value is None else value.to_bytes()

    async def put_many(self, ns: str, items: Mapping[str, Value], durable: bool = True) -> None:
        """Store every item or none of them (one readwrite transaction; *durable*: "strict"
        durability, flushed before it completes, else "relaxed")."""
        if not items:
            return
        glue = idb_glue()
        keys = [check_key(k) for k in items]
        buffers = [
            v if _compat.is_js(v) else glue.copyIn(memoryview(v).cast("B")) for v in items.values()
        ]
        await glue.putMany(self._conn(), check_namespace(ns), to_js(keys), to_js(buffers), durable)

    async def delete_many(self, ns: str, keys: Iterable[str]) -> None:
        """Delete every key (missing ones are ignored), all or none."""
        keys = [check_key(k) for k in keys]
        if keys:
            await idb_glue().deleteMany(self._conn(), check_namespace(ns), to_js(keys))

    async def keys(self, ns: str) -> list[str]:
        return sorted(to_py(await idb_glue().keys(self._conn(), check_namespace(ns))))

    async def items(self, ns: str) -> dict[str, bytes]:
        """Every key and value of *ns*, read in one transaction (the index reads the manifests
        this way: one round trip instead of one per manifest)."""
        keys, values = await idb_glue().items(self._conn(), check_namespace(ns))
        return dict(sorted(zip(to_py(keys), [v.to_bytes() for v in values], strict=True)))

    # -- the store's fast path -------------------------------------------------------------------
    async def encode_chunk(self, pieces: Sequence[memoryview], codec: str) -> tuple[Any, ...]:
        """(stored ArrayBuffer, sha-256 hex, stored size, codec used, xxh32x4 checksum) of the
        concatenated *pieces*, compressed with *codec* (CompressionStream) where smaller."""
        glue = idb_glue()
        raw = _to_js_bytes(glue, pieces)
        blob, key, stored, used, check = await glue.encodeChunk(raw, codec)
        return blob, str(key), int(stored), str(used), str(check)

    async def get_chunk(self, key: str, codec: str, size: int, check: str = "") -> Any:
        """Chunk *key* as a JS ArrayBuffer, verified (against *check*, an ``xxh32x4:`` checksum,
        else its sha-256 *key*) and decoded in JS; ChunkCheckError says why not."""
        (one,) = self.get_chunks([(key, codec, size, check)])
        return await one

    def get_chunks(self, specs: Sequence[tuple[str, str, int, str]]) -> list[Any]:
        """``get_chunk`` for each (key, codec, size, check), all read in one transaction: one
        awaitable per chunk, resolving as that chunk arrives and passes its check."""
        glue = idb_glue()
        js_specs = to_js([[check_key(k), c, n, x] for k, c, n, x in specs])
        if self.workers:
            promises = glue.getChunksOff(
                self._conn(), self.name, IDB_SCHEMA_VERSION, to_js(list(NAMESPACES)), js_specs
            )
        else:
            promises = glue.getChunks(self._conn(), js_specs)
        return [_chunk_result(p) for p in promises]

    def copy_range(self, data: Any, start: int, length: int, dest: memoryview) -> None:
        """Copy bytes [start, start+length) of ArrayBuffer *data* into *dest* (one copy)."""
        if length:
            js_global("Uint8Array").new(data, start, length).assign_to(dest)

    async def digest(self, data: memoryview) -> str:
        """The sha-256 hex of *data*, hashed by WebCrypto."""
        glue = idb_glue()
        return str(await glue.sha256(_to_js_bytes(glue, [data])))

    async def compress(self, codec: str, data: bytes | memoryview) -> bytes:
        """*data* through the browser's CompressionStream (``gzip``, ``deflate``/``zlib``)."""
        glue = idb_glue()
        return (await glue.compress(codec, _to_js_bytes(glue, [memoryview(data)]))).to_bytes()

    async def decompress(self, codec: str, data: bytes | memoryview) -> bytes:
        glue = idb_glue()
        return (await glue.decompress(codec, _to_js_bytes(glue, [memoryview(data)]))).to_bytes()

    @contextlib.asynccontextmanager
    async def lock(self, exclusive: bool = True) -> AsyncIterator[None]:
        """The store's Web Lock (``webaccel-store:<database>``), shared or exclusive."""
        release = await idb_glue().lock(f"webaccel-store:{self.name}", exclusive)
        try:
            yield
        finally:
            if release is not None:
                release()

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            if self.workers:
                idb_glue().closeWorkers(self.name)
            self._db = None

    def _conn(self) -> Any:
        if self._db is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._db


async def _chunk_result(promise: Any) -> Any:
    pair = await promise
    value, why = pair[0], str(pair[1])
    if why:
        raise ChunkCheckError(why)
    return value


def _to_js_bytes(glue: Any, pieces: Sequence[memoryview]) -> Any:
    """One fresh JS Uint8Array holding the concatenated *pieces* (one copy each)."""
    views = [memoryview(p).cast("B") for p in pieces]
    out = glue.alloc(sum(v.nbytes for v in views))
    pos = 0
    for v in views:
        if v.nbytes:
            out.subarray(pos, pos + v.nbytes).assign(v)
            pos += v.nbytes
    return out

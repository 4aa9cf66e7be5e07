"""``IDBBackend``: the store's key-value interface over IndexedDB (used inside Pyodide).

Layout: database ``webaccel-store`` with one object store per namespace (``chunks``,
``manifests``, ``meta``), created or migrated in ``onupgradeneeded`` (``IDB_SCHEMA_VERSION``).
Keys are strings; values are ArrayBuffers.

Atomicity: ``put_many`` and ``delete_many`` are each ONE ``readwrite`` transaction, resolved on
the transaction's ``complete`` event; an ``abort`` rejects and nothing of it lands. So, as with
``FileBackend``, a commit is all-or-nothing.

Copies: a value goes from Python memory into a fresh ArrayBuffer in one copy
(``PyProxy.getBuffer``), and comes back into Python bytes with one ``to_bytes``. The promise
helpers live in ``js_glue/idb_glue.js``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from .._compat import IN_PYODIDE, js_get, run_js, to_js, to_py

DB_NAME = "webaccel-store"
IDB_SCHEMA_VERSION = 1  # bump (and extend onupgradeneeded) when the object stores change
NAMESPACES = ("chunks", "manifests", "meta")


@functools.cache
def idb_glue() -> Any:
    """The JS helpers in ``js_glue/idb_glue.js``, evaluated once."""
    from ..resources import read_text

    return run_js(read_text("js_glue", "idb_glue.js"))


def indexeddb_available() -> bool:
    """True inside Pyodide on a host with ``indexedDB``."""
    if not IN_PYODIDE:
        return False
    import js  # type: ignore[import-not-found]

    return js_get(js, "indexedDB") is not None


async def quota_estimate() -> int | None:
    """``navigator.storage.estimate()``'s quota in bytes, or None where there is none."""
    if not IN_PYODIDE:
        return None
    try:
        quota = await idb_glue().estimateQuota()
    except Exception:
        return None
    return int(quota) if quota is not None else None


class IDBBackend:
    """Async key-value namespaces over one IndexedDB database. Open with ``IDBBackend.open``."""

    def __init__(self, db: Any, name: str) -> None:
        self._db = db
        self.name = name

    def __repr__(self) -> str:
        return f"IDBBackend({self.name!r})"

    @classmethod
    async def open(cls, name: str = DB_NAME) -> IDBBackend:
        if not indexeddb_available():
            raise RuntimeError("IDBBackend needs Pyodide on a host with indexedDB")
        db = await idb_glue().open(name, IDB_SCHEMA_VERSION, to_js(list(NAMESPACES)))
        return cls(db, name)

    # -- the backend interface -------------------------------------------------------------------
    async def get(self, ns: str, key: str) -> bytes | None:
        value = await idb_glue().get(self._conn(), _ns(ns), _key(key))
        return None if value is None else value.to_bytes()

    async def put_many(self, ns: str, items: Mapping[str, bytes | bytearray | memoryview]) -> None:
        """Store every item or none of them (one readwrite transaction)."""
        if not items:
            return
        glue = idb_glue()
        keys = [_key(k) for k in items]
        buffers = [glue.copyIn(memoryview(v).cast("B")) for v in items.values()]
        await glue.putMany(self._conn(), _ns(ns), to_js(keys), to_js(buffers))

    async def delete_many(self, ns: str, keys: Iterable[str]) -> None:
        """Delete every key (missing ones are ignored), all or none."""
        keys = [_key(k) for k in keys]
        if keys:
            await idb_glue().deleteMany(self._conn(), _ns(ns), to_js(keys))

    async def keys(self, ns: str) -> list[str]:
        return sorted(to_py(await idb_glue().keys(self._conn(), _ns(ns))))

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _conn(self) -> Any:
        if self._db is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._db


def _ns(ns: str) -> str:
    if ns not in NAMESPACES:
        raise ValueError(f"unknown store namespace {ns!r}; namespaces: {', '.join(NAMESPACES)}")
    return ns


def _key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"a store key must be a non-empty string, not {key!r}")
    return key

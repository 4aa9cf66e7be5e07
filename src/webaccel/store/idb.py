"""One-release alias of ``webaccel.store.backends.idb`` (where the IndexedDB backend lives now)."""

from __future__ import annotations

from . import legacy
from .backends.idb import (
    DB_NAME,
    IDB_SCHEMA_VERSION,
    IDBBackend,
    default_read_workers,
    idb_glue,
    indexeddb_available,
    quota_estimate,
    read_workers,
)

__all__ = [
    "DB_NAME",
    "IDB_SCHEMA_VERSION",
    "IDBBackend",
    "default_read_workers",
    "idb_glue",
    "indexeddb_available",
    "quota_estimate",
    "read_workers",
]

legacy.deprecated("webaccel.store.idb", "webaccel.store.backends.idb", legacy.SPLIT)

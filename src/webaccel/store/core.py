"""One-release alias: ``webaccel.store.core`` was split into ``errors``, ``schema``, ``chunks``,
``codecs``, ``archive``, ``reading``, ``store`` and ``backends``; its public names still import
from here (the hot cache moved to ``webaccel.weights``)."""

from __future__ import annotations

from typing import Any

from . import legacy
from .archive import EXPORT_MAGIC
from .backends.base import Backend
from .backends.memory import MemoryBackend
from .chunks import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, MiB, xxh32x4
from .codecs import CODECS
from .errors import (
    ChunkCheckError,
    CorruptChunkError,
    CorruptExportError,
    ModelNotFoundError,
    QuotaExceededError,
    StoreError,
    StoreUnavailableError,
)
from .reading import Progress
from .schema import MIGRATIONS, SCHEMA_VERSION, manifest_key, migrate, tensor_key
from .store import Source, Store, default_path

__all__ = [
    "CODECS",
    "DEFAULT_CHUNK_SIZE",
    "EXPORT_MAGIC",
    "MAX_CHUNK_SIZE",
    "MIGRATIONS",
    "MIN_CHUNK_SIZE",
    "SCHEMA_VERSION",
    "Backend",
    "ChunkCheckError",
    "CorruptChunkError",
    "CorruptExportError",
    "MemoryBackend",
    "MiB",
    "ModelNotFoundError",
    "Progress",
    "QuotaExceededError",
    "Source",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "default_path",
    "manifest_key",
    "migrate",
    "tensor_key",
    "xxh32x4",
]

legacy.deprecated("webaccel.store.core", "webaccel.store (or its modules)", legacy.SPLIT)


def __getattr__(name: str) -> Any:
    if name == "HotCache":
        legacy.deprecated("webaccel.store.core.HotCache", "webaccel.weights.HotCache")
        return legacy.upper("webaccel.store.core.HotCache").moved[name]
    raise AttributeError(f"module 'webaccel.store.core' has no attribute {name!r}")

"""``webaccel.store``: model weights kept as bytes, content-addressed and versioned.

```python
from webaccel import store, weights

s = store.Store.open(budget=4 << 30)  # files under ~/.cache/webaccel/store (WEBACCEL_STORE_DIR)
s.save("tiny-llm", {"wte": numpy_array, "bias": (raw_bytes, "float16", (768,))}, source=url)
host = s.read("tiny-llm")  # {name: (bytearray, dtype, shape)}, every chunk verified
with s.pin("tiny-llm"):  # never evicted while pinned
    on_gpu = weights.load(s, "tiny-llm", "webgpu", progress=lambda done, total: ...)
```

Weights are split into chunks (32 MiB by default) keyed by the sha-256 of their stored bytes,
so identical chunks are stored once; per model version a JSON manifest lists tensors (dtype,
shape, byte ranges over chunks), sizes, times and source. Saving writes chunks first and the
manifest last (the commit point), so a crash never damages the previous version. A byte budget
evicts least-recently-used unpinned models. Everything goes through a ``Backend``, a tiny async
key-value interface: ``FileBackend`` on CPython, ``IDBBackend`` (``store.backends.idb``) in the
browser, ``MemoryBackend`` for scratch space.

Several pages (or processes) over one store take turns: every operation holds the backend's
lock (IndexedDB: a Web Lock; files: flock) and re-reads the manifests first. Reads verify every
chunk (sha-256, or the faster ``xxh32x4`` checksum IndexedDB chunks carry; ``verify()`` is
always sha-256). Chunks may be compressed (``compress="gzip" | "deflate" | "zlib"``; off by
default: fp32 weights save ~7%, see ``store.backends.idb`` for the figures).

The store is bytes only: it imports nothing about tensors or devices. Loading onto a device,
with weights shared across models and a hot cache, is ``webaccel.weights``.

Modules: ``errors``, ``schema`` (manifest and migrations), ``chunks`` (layout, checksum),
``codecs``, ``archive`` (export / import), ``reading`` (chunk streaming), ``store`` (``Store``),
``backends/`` (``base``, ``memory``, ``files``, ``idb``) and ``legacy`` (the one-release bridge
of the old tensor-level calls).
"""

from __future__ import annotations

from typing import Any

from . import legacy
from .backends import Backend, FileBackend, MemoryBackend
from .chunks import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, xxh32x4
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
from .reading import Reading
from .schema import SCHEMA_VERSION, migrate, tensor_key
from .store import Store, default_path

__all__ = [
    "CODECS",
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "SCHEMA_VERSION",
    "Backend",
    "ChunkCheckError",
    "CorruptChunkError",
    "CorruptExportError",
    "FileBackend",
    "MemoryBackend",
    "ModelNotFoundError",
    "QuotaExceededError",
    "Reading",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "default_path",
    "migrate",
    "tensor_key",
    "xxh32x4",
]


def __getattr__(name: str) -> Any:
    """Names that moved to ``webaccel.weights`` (``HotCache``), for one release."""
    moved = legacy.upper(f"webaccel.store.{name}").moved if name == "HotCache" else {}
    if name not in moved:
        raise AttributeError(f"module 'webaccel.store' has no attribute {name!r}")
    legacy.deprecated(f"webaccel.store.{name}", f"webaccel.weights.{name}")
    return moved[name]

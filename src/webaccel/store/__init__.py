"""``webaccel.store``: model weights kept on the device, content-addressed and versioned.

```python
from webaccel import store

s = store.Store.open(budget=4 << 30)  # files under ~/.cache/webaccel/store (WEBACCEL_STORE_DIR)
s.save("tiny-llm", {"wte": wte_tensor, "bias": (raw_bytes, "float16", (768,))}, source=url)
with s.pin("tiny-llm"):  # never evicted while pinned
    weights = s.load("tiny-llm", device="webgpu", progress=lambda done, total: ...)
```

Weights are split into chunks (32 MiB by default) keyed by the sha-256 of their stored bytes,
so identical chunks are stored once; per model version a JSON manifest lists tensors (dtype,
shape, byte ranges over chunks), sizes, times and source. Saving writes chunks first and the
manifest last (the commit point), so a crash never damages the previous version. A byte budget
evicts least-recently-used unpinned models. Everything goes through ``Backend``, a tiny async
key-value interface: ``FileBackend`` on CPython, ``IDBBackend`` (``store.idb``) in the browser.

Several pages (or processes) over one store take turns: every operation holds the backend's
lock (IndexedDB: a Web Lock; files: flock) and re-reads the manifests first. Loads verify every
chunk (sha-256, or the faster ``xxh32x4`` checksum IndexedDB chunks carry; ``verify()`` is
always sha-256) and go through ``webaccel.sharing``: tensors already resident on the device (the
same content, from any model) are reused, not read. ``read()`` gives the verified bytes without a
device. Chunks may be compressed (``compress="gzip" | "deflate" | "zlib"``; off by default: fp32
weights save ~7%, see ``store.idb`` for the figures).
"""

from __future__ import annotations

from .core import (
    CODECS,
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    SCHEMA_VERSION,
    Backend,
    CorruptChunkError,
    CorruptExportError,
    HotCache,
    MemoryBackend,
    ModelNotFoundError,
    QuotaExceededError,
    Store,
    StoreError,
    StoreUnavailableError,
    default_path,
    migrate,
    tensor_key,
)
from .files import FileBackend

__all__ = [
    "CODECS",
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "SCHEMA_VERSION",
    "Backend",
    "CorruptChunkError",
    "CorruptExportError",
    "FileBackend",
    "HotCache",
    "MemoryBackend",
    "ModelNotFoundError",
    "QuotaExceededError",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "default_path",
    "migrate",
    "tensor_key",
]

"""``webaccel.weights``: model weights on devices, between the store (bytes) and the models.

```python
from webaccel import store, weights

s = await store.Store.open_async()
await weights.save_async(s, "minilm", tensors)  # Tensors, NumPy arrays or (bytes, dtype, shape)
a = await weights.load_async(s, "minilm", "webgpu")  # verified, uploaded, attributed to "minilm"
b = await weights.load_async(s, "minilm-ft", "webgpu")  # shares every identical tensor with `a`
print(weights.memory_report())  # per backend and per model: bytes, shared bytes
```

- ``loader``: ``load`` / ``save`` / ``repair`` over a ``webaccel.store.Store`` (the fast path
  that writes IndexedDB chunks' JS buffers straight to WebGPU included).
- ``sharing``: the refcounted registry of device storages by content hash, shared across
  models (``share``, ``shared_tensor``).
- ``report``: ``memory_report()``, bytes per backend and per model.
- ``hot``: ``HotCache``, loaded tensors kept for the next load.
- ``restore``: ``StoredTensor``, the restore record of a loaded weight: after a device loss it
  is read back from the store (``webaccel.restore``).

Importing this package also answers the store's deprecated tensor-level calls for one release
(``Store.load``, device tensors given to ``Store.save``): see ``webaccel.store.legacy``.
"""

from __future__ import annotations

from . import legacy as _legacy
from .hot import HotCache
from .loader import load, load_async, repair, repair_async, save, save_async, to_host
from .report import (
    BackendMemory,
    MemoryReport,
    ModelMemory,
    human_bytes,
    memory_report,
    resident_bytes,
)
from .restore import StoredTensor
from .sharing import (
    REGISTRY,
    UNNAMED,
    SharingRegistry,
    content_key,
    share,
    share_async,
    shared_models,
    shared_tensor,
)

_legacy.install()

__all__ = [
    "REGISTRY",
    "UNNAMED",
    "BackendMemory",
    "HotCache",
    "MemoryReport",
    "ModelMemory",
    "SharingRegistry",
    "StoredTensor",
    "content_key",
    "human_bytes",
    "load",
    "load_async",
    "memory_report",
    "repair",
    "repair_async",
    "resident_bytes",
    "save",
    "save_async",
    "share",
    "share_async",
    "shared_models",
    "shared_tensor",
    "to_host",
]

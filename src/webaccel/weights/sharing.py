"""Cross-model weight sharing: one device storage per content, held by many models.

Two models that load the same embedding table should hold it once per device. The registry
here maps (device, dtype, content key) to one device ``Storage``; every tensor handed out for
that content is its own buffer node over the shared storage (one ``acquire`` each), attributed
to a model. When the last of those nodes is collected the storage is released as usual and the
entry disappears: the registry never keeps weights alive by itself.

```python
from webaccel import weights

emb = weights.shared_tensor(table, "webgpu", dtype="float32", shape=(30522, 384), model="a")
same = weights.shared_tensor(table, "webgpu", dtype="float32", shape=(30522, 384), model="b")
# one device buffer; `same` is another tensor over it, attributed to model "b"
w = weights.share(some_tensor, model="c")  # register an existing tensor (hashes its bytes)
print(weights.memory_report())  # per backend and per model: bytes, shared bytes
```

The content key is the sha-256 (hex) of the tensor's row-major bytes; callers that already
know it (``webaccel.store`` keeps it in the manifest) pass ``key=`` and nothing is hashed.
``weights.load`` goes through this registry, so a tensor already resident on the device is not
even read from the store again.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from collections.abc import Sequence
from typing import Any

from .. import _compat
from .._compat import sync_twin
from ..device import Device, Storage, get_device
from ..dtypes import DType, as_dtype
from ..errors import WebAccelError
from ..ir import Node
from ..tensor import Tensor, _buffer_tensor, apply

__all__ = [
    "REGISTRY",
    "UNNAMED",
    "SharingRegistry",
    "content_key",
    "share",
    "share_async",
    "shared_models",
    "shared_tensor",
]

UNNAMED = "(unnamed)"  # the model of tensors shared without model=


def content_key(data: Any) -> str:
    """The sharing key of a bytes-like object: the sha-256 of its bytes, in hex."""
    return hashlib.sha256(memoryview(data).cast("B")).hexdigest()


class _Entry:
    """One shared storage and the nodes holding it (each attributed to one model)."""

    __slots__ = ("device", "holders", "key", "slot", "storage")

    def __init__(self, slot: tuple[Any, ...], key: str, storage: Storage) -> None:
        self.slot, self.key, self.storage = slot, key, storage
        self.device: Device = storage.device
        self.holders: dict[int, tuple[str, weakref.ref[Node]]] = {}

    @property
    def alive(self) -> bool:
        """Its storage holds bytes: not freed, and not lost with its device (a lost storage is
        never handed out again; a load reads the tensor afresh)."""
        storage = self.storage
        return storage.refcount > 0 and storage.handle is not None and not storage.lost

    def models(self) -> list[str]:
        return sorted({m for m, _ in self.holders.values()})


class SharingRegistry:
    """(device, dtype, content key) -> one storage, with per-model holders. See the module."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], _Entry] = {}

    def __len__(self) -> int:
        return sum(1 for e in self._entries.values() if e.alive)

    @staticmethod
    def _slot(device: Device, dtype: DType, key: str) -> tuple[Any, ...]:
        return (id(device), dtype.name, key)

    def entries(self) -> list[_Entry]:
        """The live entries (dead ones, e.g. of a lost device, are dropped on the way)."""
        for slot in [s for s, e in self._entries.items() if not e.alive]:
            del self._entries[slot]
        return list(self._entries.values())

    def lookup(
        self,
        key: str,
        device: Device,
        dtype: DType,
        shape: Sequence[int],
        model: str | None = None,
    ) -> Tensor | None:
        """A new tensor over the shared storage for *key*, attributed to *model*, or None."""
        entry = self._entries.get(self._slot(device, dtype, key))
        if entry is None:
            return None
        if not entry.alive:
            del self._entries[entry.slot]
            return None
        numel = math.prod(shape)
        if entry.storage.numel != numel:
            raise WebAccelError(
                f"sharing: key {key[:16]}... names {entry.storage.numel} {dtype.name} elements on "
                f"{device.name}, but {numel} were asked for (shape {tuple(shape)}); a content "
                f"key must identify the bytes"
            )
        return self._holder(entry, tuple(shape), dtype, model)

    def register(
        self, t: Tensor, key: str, model: str | None = None, *, adopt: bool = False
    ) -> Tensor:
        """Share *t*'s storage under *key* and return a tensor attributed to *model*. *t* must
        be realized and cover its whole storage densely. When *key* is already shared on that
        device the result is over the existing storage (and *t* is left alone). *adopt*: *t*
        is a fresh upload nobody else holds, so its own node becomes the holder."""
        storage = t._node.storage
        if storage is None or not _whole(t):
            raise WebAccelError(
                "sharing: register() needs a realized tensor over its whole storage"
            )
        hit = self.lookup(key, storage.device, storage.dtype, t.shape, model)
        if hit is not None:
            return hit if t.dtype == storage.dtype else hit.bitcast(t.dtype)
        entry = _Entry(self._slot(storage.device, storage.dtype, key), key, storage)
        self._entries[entry.slot] = entry
        if adopt and t._node.op == "buffer" and t.dtype == storage.dtype:
            self._hold(entry, t._node, model)
            return t
        held = self._holder(entry, t.shape, storage.dtype, model)
        return held if t.dtype == storage.dtype else held.bitcast(t.dtype)

    def _holder(
        self, entry: _Entry, shape: tuple[int, ...], dtype: DType, model: str | None
    ) -> Tensor:
        t = _buffer_tensor(entry.storage.acquire(), shape, dtype)
        self._hold(entry, t._node, model)
        return t

    def _hold(self, entry: _Entry, node: Node, model: str | None) -> None:
        entries = self._entries

        def dropped(ref: weakref.ref[Node]) -> None:
            entry.holders.pop(id(ref), None)
            if not entry.holders and entries.get(entry.slot) is entry:
                del entries[entry.slot]

        ref = weakref.ref(node, dropped)
        entry.holders[id(ref)] = (model or UNNAMED, ref)

    def clear(self) -> None:
        """Forget every entry (the tensors handed out stay valid; they just stop sharing)."""
        self._entries.clear()


def _whole(t: Tensor) -> bool:
    """*t* is its storage, densely: a contiguous view at offset 0 of every element."""
    storage = t._node.storage
    return (
        storage is not None
        and t._view.is_contiguous()
        and t._view.offset == 0
        and storage.numel == t.numel
        and t.dtype.bits == storage.dtype.bits
    )


REGISTRY = SharingRegistry()


# --- the public calls ----------------------------------------------------------------------------


def _bytes_of(data: Any, dtype: Any, shape: Any) -> tuple[memoryview, DType, tuple[int, ...]]:
    if _compat.is_js(data):  # a JS typed array or ArrayBuffer: one copy
        u8 = _compat.js_global("Uint8Array")
        if str(data.constructor.name) != "ArrayBuffer":
            data = u8.new(data.buffer, data.byteOffset, data.byteLength)
        else:
            data = u8.new(data)
        buf = bytearray(data.byteLength)
        data.assign_to(buf)
        data = buf
    if hasattr(data, "__array_interface__"):
        import numpy as np  # optional: only a NumPy array gets here

        arr = np.ascontiguousarray(data)
        dtype = as_dtype(dtype if dtype is not None else arr.dtype)
        arr = np.ascontiguousarray(arr, dtype=dtype.numpy)
        shape = arr.shape if shape is None else shape
        data = arr.reshape(-1).view(np.uint8)
    mv = memoryview(data).cast("B")
    if dtype is None:
        raise ValueError("shared_tensor: give dtype= for raw bytes")
    d = as_dtype(dtype)
    if shape is None:
        if mv.nbytes % max(d.itemsize, 1):
            raise ValueError(f"shared_tensor: {mv.nbytes} bytes is not a whole number of {d.name}")
        shape = (mv.nbytes // d.itemsize,)
    shape = tuple(int(s) for s in shape)
    if mv.nbytes != d.nbytes(math.prod(shape)):
        raise ValueError(
            f"shared_tensor: {mv.nbytes} bytes for shape {shape} of {d.name}, which needs "
            f"{d.nbytes(math.prod(shape))}"
        )
    return mv, d, shape


def shared_tensor(
    data: Any,
    device: str | Device | None = None,
    key: str | None = None,
    *,
    dtype: Any = None,
    shape: Sequence[int] | None = None,
    model: str | None = None,
) -> Tensor:
    """A tensor of *data* on *device*, sharing storage with any tensor of the same content
    (same *key*, dtype and size) already there; attributed to *model*.

    *data*: bytes-like (give *dtype*; *shape* defaults to 1-D), a NumPy array, a JS typed array
    or a webaccel Tensor (then as ``share``). *key* defaults to ``content_key(data)``; pass it
    when known to skip hashing. On a hit nothing is uploaded.
    """
    if isinstance(data, Tensor):
        return share(data, model=model, key=key, device=device)
    mv, d, shape = _bytes_of(data, dtype, shape)
    dev = get_device(device)
    key = key or content_key(mv)
    hit = REGISTRY.lookup(key, dev, d, shape, model)
    if hit is not None:
        return hit
    t = _buffer_tensor(dev.upload(mv, math.prod(shape), d), shape, d)
    return REGISTRY.register(t, key, model, adopt=True)


async def share_async(
    tensor: Tensor,
    model: str | None = None,
    *,
    key: str | None = None,
    device: str | Device | None = None,
) -> Tensor:
    """Register *tensor* for sharing and attribute it to *model*; returns the tensor to keep.

    If a tensor of the same content is already shared on the device, the result is over that
    storage (drop *tensor*: its own storage is then freed); otherwise the result is over
    *tensor*'s storage. Without *key* the bytes are read back and hashed. A view or a pending
    tensor is first made a dense buffer of its own.
    """
    t = tensor.to(device) if device is not None else tensor
    if key is None:
        key = content_key(await t.read_async())
    t.realize()
    if not _whole(t):  # a slice, a broadcast or a transposed view: a dense copy of its own
        t = apply("contiguous", t).realize()
    return REGISTRY.register(t, key, model)


share = sync_twin(share_async)


def shared_models(tensor: Tensor) -> list[str]:
    """The models holding *tensor*'s storage through the registry (empty: not shared)."""
    storage = tensor._node.storage
    for e in REGISTRY.entries():
        if e.storage is storage:
            return e.models()
    return []

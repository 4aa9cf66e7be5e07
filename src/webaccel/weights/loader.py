"""Stored weights onto a device: ``load`` / ``save`` / ``repair`` over a ``webaccel.store.Store``.

```python
from webaccel import store, weights

s = await store.Store.open_async()
await weights.save_async(s, "minilm", {"emb": emb_tensor, "w": numpy_array})
w = await weights.load_async(s, "minilm", "webgpu")  # {name: Tensor on webgpu}
```

A load reads through ``Store.reading`` (the store's shared lock held, the use stamped) and
takes each tensor from, in order: the hot cache (``cache=``, the same tensor object again), the
sharing registry (``weights.sharing``: a tensor of the same content already on the device, from
any model: nothing is read), or the store's chunks. Chunks stream in first-use order with
``read_ahead`` in flight; each chunk's pieces are written into every tensor that has one: where
the store hands back JS ArrayBuffers (IndexedDB), the device can write from them (webgpu) and a
tensor's pieces are whole words, straight to the device with no copy through Python memory;
otherwise gathered in a bytearray and uploaded once whole.

Every storage a load hands out gets a ``StoredTensor`` restore record (``weights.restore``):
after a device loss it is read back from the store, so no host copy of a weight is kept.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from .._compat import sync_twin
from ..device import Device, get_device, set_restore
from ..dtypes import as_dtype
from ..store import CorruptChunkError, Reading, Store, tensor_key
from ..store.reading import Progress  # the store's progress callback, passed through
from ..tensor import Tensor, _buffer_tensor, from_buffer
from .hot import HotCache
from .restore import StoredTensor
from .sharing import REGISTRY, shared_tensor


async def to_host(value: Any) -> Any:
    """*value* as the store takes it: a device tensor read back as ``(bytes, dtype, shape)``;
    anything else (NumPy arrays, ``(bytes, dtype, shape)``) as it is."""
    if isinstance(value, Tensor):
        data = memoryview(bytes(await value.read_async()))
        return (data, value.dtype.name, tuple(value.shape))
    return value


async def save_async(
    store: Store,
    name: str,
    tensors: Mapping[str, Any],
    version: str | None = None,
    source: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``store.save_async`` that also takes webaccel Tensors (read back from their device);
    returns ``store.info(name)``."""
    host = {k: await to_host(v) for k, v in tensors.items()}
    return await store.save_async(name, host, version, source, progress)


save = sync_twin(save_async)


async def repair_async(
    store: Store, name: str, source: Any = None, *, version: str | None = None
) -> list[str]:
    """``store.repair_async`` whose *source* (tensors, or a callable returning them) may hold
    webaccel Tensors; returns the repaired chunk keys."""
    if source is not None and not isinstance(source, str | os.PathLike):
        tensors = source() if callable(source) else source
        if inspect.isawaitable(tensors):
            tensors = await tensors
        if isinstance(tensors, Mapping):
            source = {k: await to_host(v) for k, v in tensors.items()}
        else:
            source = tensors  # the store names what is wrong with it
    return await store.repair_async(name, source, version=version)


repair = sync_twin(repair_async)


async def load_async(
    store: Store,
    name: str,
    device: str | Device | None = None,
    progress: Progress | None = None,
    *,
    version: str | None = None,
    source: Any = None,
    share: bool = True,
    model: str | None = None,
    tensors: Iterable[str] | None = None,
    cache: HotCache | None = None,
) -> dict[str, Tensor]:
    """The tensors of *name* (latest version unless *version*) on *device*; with *tensors*,
    only those (a name the model lacks is a KeyError), reading only their chunks.

    Checksums are verified; a corrupt chunk raises CorruptChunkError, or, with *source*, is
    re-fetched (``repair``) and the load retried once. With *share* (the default) each tensor
    goes through ``weights.sharing``: one already resident on the device with the same content
    (e.g. another model's embedding table) is reused, not read again, and every tensor is
    attributed to *model* (default: *name*) in ``memory_report()``. *cache*: a ``HotCache``
    that serves tensors loaded through it before. *progress(done, total)* in bytes.
    """
    try:
        return await _load(store, name, version, device, progress, share, model, tensors, cache)
    except CorruptChunkError:
        if source is None:
            raise
        await repair_async(store, name, source, version=version)
        return await _load(store, name, version, device, progress, share, model, tensors, cache)


load = sync_twin(load_async)


async def _load(
    store: Store,
    name: str,
    version: str | None,
    device: str | Device | None,
    progress: Progress | None,
    share: bool,
    model: str | None,
    tensors: Iterable[str] | None,
    cache: HotCache | None,
) -> dict[str, Tensor]:
    dev = get_device(device)
    async with store.reading(name, version, tensors) as reading:
        if cache is not None:  # versions saved again, deleted or evicted are never served
            cache.discard_where(lambda k: _stale(k, store))
        return await _onto_device(store, reading, dev, progress, share, model or name, cache)


def _stale(key: Any, store: Store) -> bool:
    return (
        isinstance(key, tuple)
        and len(key) == 6
        and key[0] is store
        and store.seq(key[1], key[2]) != key[3]
    )


async def _onto_device(
    store: Store,
    reading: Reading,
    dev: Device,
    progress: Progress | None,
    share: bool,
    owner: str,
    cache: HotCache | None,
) -> dict[str, Tensor]:
    """Hot-cache and sharing hits first (nothing read), then the rest from the chunks."""
    selected = reading.tensors
    total = sum(t["nbytes"] for t in selected)
    done = 0
    if progress is not None:
        progress(0, total)

    def hot_key(t: Mapping[str, Any]) -> tuple[Any, ...]:
        return (store, reading.name, reading.version, reading.seq, t["name"], dev.name)

    def restorable(t: Mapping[str, Any], out: Tensor) -> None:
        """Where *out*'s bytes come back from after a device loss: this store tensor."""
        storage = out._node.storage
        if storage is not None and storage.device is dev:
            key = tensor_key(reading.manifest, t)
            set_restore(storage, StoredTensor(store, reading.name, reading.version, t["name"], key))

    found: dict[str, Tensor] = {}
    reads: list[tuple[dict[str, Any], str]] = []
    aliases: list[tuple[dict[str, Any], str]] = []  # same content as a tensor being read
    reading_keys: set[str] = set()
    for t in selected:
        hit = None if cache is None else cache.get(hot_key(t))
        if hit is not None and hit._node.storage is not None and hit._node.storage.lost:
            cache.pop(hot_key(t))  # type: ignore[union-attr]  # lost with its device: read again
            hit = None
        key = tensor_key(reading.manifest, t) if share else ""
        if hit is None and share:
            hit = REGISTRY.lookup(key, dev, as_dtype(t["dtype"]), t["shape"], owner)
            if hit is not None and cache is not None:
                cache.put(hot_key(t), hit, t["nbytes"])
        if hit is not None:
            restorable(t, hit)
            found[t["name"]] = hit
            done += t["nbytes"]
            if progress is not None and t["nbytes"]:
                progress(done, total)
        elif share and key in reading_keys:
            aliases.append((t, key))
        else:
            reads.append((t, key))
            reading_keys.add(key)

    # A tensor goes straight from the chunks' JS ArrayBuffers to the device where the store
    # hands back JS buffers (IndexedDB), the device can write from them (webgpu: an optional
    # Device method) and its ranges are whole words; else its bytes are gathered in a
    # bytearray and uploaded once whole.
    write_from_js = dev.write_from_js if reading.js_chunks else None
    direct = [
        write_from_js is not None
        and as_dtype(t["dtype"]).nbytes(math.prod(t["shape"])) == t["nbytes"]
        and all(start % 4 == 0 == length % 4 for _, start, length in t["ranges"])
        for t, _ in reads
    ]
    left = [len(t["ranges"]) for t, _ in reads]  # ranges still to land, per tensor
    dests: dict[int, Any] = {}  # tensor j -> its device storage or bytearray, while filling

    def dest(j: int) -> Any:
        if j not in dests:
            t = reads[j][0]
            if direct[j]:
                dests[j] = dev.storage(math.prod(t["shape"]), as_dtype(t["dtype"]))
            else:
                dests[j] = bytearray(t["nbytes"])
        return dests[j]

    def finish(j: int) -> None:
        nonlocal done
        t, key = reads[j]
        data = dest(j)
        del dests[j]
        dtype, shape = as_dtype(t["dtype"]), tuple(t["shape"])
        if direct[j]:
            out = _buffer_tensor(data, shape, dtype)
            if share:  # as shared_tensor does with a fresh upload
                out = REGISTRY.register(out, key, owner, adopt=True)
        elif share:
            out = shared_tensor(data, dev, key, dtype=dtype, shape=shape, model=owner)
        else:
            out = from_buffer(data, shape, dtype, dev)
        restorable(t, out)
        if cache is not None:
            cache.put(hot_key(t), out, t["nbytes"])
        found[t["name"]] = out
        done += t["nbytes"]
        if progress is not None and t["nbytes"]:
            progress(done, total)

    try:
        for j in range(len(reads)):
            if not left[j]:  # no bytes
                finish(j)
        async with contextlib.aclosing(reading.chunks([t for t, _ in reads])) as stream:
            async for data, pieces in stream:
                writes = []
                for j, pos, start, length in pieces:
                    if direct[j]:
                        writes.append((dest(j).handle, pos, start, length))
                    else:
                        buf = memoryview(dest(j))[pos : pos + length]
                        reading.copy_range(data, start, length, buf)
                if writes:  # every piece of this chunk at once (one staging write, copies)
                    write_from_js(data, writes)
                del data
                for j, _, _, _ in pieces:
                    left[j] -= 1
                    if not left[j]:
                        finish(j)
    except BaseException:
        for d in dests.values():  # device storages of tensors never finished
            if not isinstance(d, bytearray):
                d.release()
        # and the finished ones: the error's traceback holds this frame, and the event loop may
        # hold the error a while (a failed chunk read's task, until its callbacks have run)
        found.clear()
        raise
    for t, key in aliases:  # now resident: another holder of the same storage
        hit = REGISTRY.lookup(key, dev, as_dtype(t["dtype"]), t["shape"], owner)
        assert hit is not None, t["name"]
        restorable(t, hit)
        found[t["name"]] = hit
        done += t["nbytes"]
        if progress is not None and t["nbytes"]:
            progress(done, total)
    return {t["name"]: found[t["name"]] for t in selected}

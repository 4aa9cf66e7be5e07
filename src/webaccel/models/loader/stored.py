"""Every interaction of the model code with ``webaccel.store`` (bytes) and ``webaccel.weights``
(stored weights onto a device), in one place.

A model is kept as store model *name* at one version (by default the sha-256 of its weights
file): each checkpoint tensor under its file name, and each small file (config, tokenizer)
as a uint8 tensor ``FILE_PREFIX + file name``. Quantized copies are models of their own:
``name + QUANTIZED_SUFFIX[scheme]`` at the same version (weights quantized at load), and
``name + INT4_SUFFIX`` at ``<version>+<sha-256 of the int4 file>`` (the file made ahead of
time). These keys are what stores written by earlier releases hold, so they keep loading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ... import weights
from ...device import Device
from ...store import ModelNotFoundError, Store
from .types import Progress

FILE_PREFIX = "file:"
QUANTIZED_SUFFIX = {"int8": "/int8", "int4": "/int4_g32_rtn"}
INT4_SUFFIX = "/int4_g32"

HostTensor = tuple[Any, str, tuple[int, ...]]  # (bytes, dtype, shape): what save takes


def has(store: Store, name: str, version: str | None) -> bool:
    """Whether *store* holds *name* (at *version*, or at any version)."""
    try:
        store.manifest(name, version)
    except ModelNotFoundError:
        return False
    return True


def latest_version(store: Store, name: str) -> str:
    return store.manifest(name)["version"]


def layout(store: Store, name: str, version: str) -> dict[str, dict[str, Any]]:
    """The checkpoint tensors of *name* at *version*: ``{tensor: {"shape", "nbytes", ...}}``."""
    tensors = store.manifest(name, version)["tensors"]
    return {t["name"]: t for t in tensors if not t["name"].startswith(FILE_PREFIX)}


async def read_files(store: Store, name: str, version: str) -> dict[str, bytes]:
    """The small files kept with *name* at *version*, as bytes."""
    keys = [
        t["name"]
        for t in store.manifest(name, version)["tensors"]
        if t["name"].startswith(FILE_PREFIX)
    ]
    read = await store.read_async(name, version=version, tensors=keys)
    return {k[len(FILE_PREFIX) :]: bytes(data) for k, (data, _, _) in read.items()}


async def save_model(
    store: Store,
    name: str,
    version: str | None,
    tensors: Mapping[str, HostTensor],
    files: Mapping[str, bytes],
    progress: Progress | None,
) -> None:
    """Keep a model's checkpoint tensors and small files as *name* at *version*."""
    entries: dict[str, Any] = dict(tensors)
    for fname, data in files.items():
        entries[FILE_PREFIX + fname] = (data, "uint8", (len(data),))
    await store.save_async(name, entries, version=version, progress=progress)


async def load_tensors(
    store: Store,
    name: str,
    version: str,
    device: Device,
    tensors: Sequence[str],
    progress: Progress | None,
) -> dict[str, Any]:
    """*tensors* of *name* on *device* (shared with other models holding the same bytes)."""
    return await weights.load_async(store, name, device, progress, version=version, tensors=tensors)


async def read_tensors(
    store: Store, name: str, version: str, tensors: Sequence[str], progress: Progress | None
) -> dict[str, HostTensor]:
    """*tensors* of *name* as host bytes (what quantizing at load reads)."""
    return await store.read_async(name, progress, version=version, tensors=tensors)


async def load_quantized(
    store: Store, name: str, version: str | None, scheme: str, device: Device
) -> dict[str, Any] | None:
    """The dense layers quantized with *scheme* at an earlier load (codes, scales, offsets
    by ``<weight>.q`` / ``.scale`` / ``.offset``) on *device*, None if the store has none."""
    key = name + QUANTIZED_SUFFIX[scheme]
    if version is None or not has(store, key, version):
        return None
    return await weights.load_async(store, key, device, version=version)


async def save_quantized(
    store: Store, name: str, version: str | None, scheme: str, entries: Mapping[str, Any]
) -> None:
    """Keep what quantizing at load made, for the next load (see ``load_quantized``)."""
    await store.save_async(name + QUANTIZED_SUFFIX[scheme], dict(entries), version=version)


def find_int4(store: Store, name: str, version: str, digest: str | None) -> str | None:
    """The version of the int4 file kept for *name* at *version*: the one of that file's
    *digest*, or (a lazy source, digest None) the latest one made for *version*."""
    key = name + INT4_SUFFIX
    if digest is not None:
        want = f"{version}+{digest}"
        return want if has(store, key, want) else None
    if not has(store, key, None):
        return None
    ours = [v for v in store.info(key)["versions"] if v.startswith(version + "+")]
    return ours[-1] if ours else None


async def load_int4(store: Store, name: str, held: str, device: Device) -> dict[str, Any]:
    return await weights.load_async(store, name + INT4_SUFFIX, device, version=held)


async def save_int4(
    store: Store, name: str, version: str, digest: str, tensors: Mapping[str, HostTensor]
) -> None:
    """Keep the int4 file's tensors (older versions go, as the store's keep_versions says)."""
    await store.save_async(name + INT4_SUFFIX, dict(tensors), version=f"{version}+{digest}")


async def open_default() -> Store:
    """The default store (IndexedDB ``webaccel-store`` in a page, files on the host)."""
    return await Store.open_async()

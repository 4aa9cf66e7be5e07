"""``Backend``: the store's key-value interface, with its optional capabilities declared.

Four async calls over three namespaces (``chunks``, ``manifests``, ``meta``) are all a backend
must have. ``put_many`` and ``delete_many`` are transactions: all keys or none. ``get`` returns
None for a missing key. An IndexedDB backend maps each namespace to an object store and each
call to one ``readwrite`` transaction.

Everything else is a capability the store uses where present: each is declared here, None or
False when absent, and a backend that has it defines it (as tinygrad's devices declare their
optional parts), so the store reads an attribute instead of probing with ``getattr``:

- ``lock(exclusive)``: an async context manager held around every store operation, across
  pages or processes (IndexedDB: a Web Lock; files: flock). Without it the store assumes it is
  the only user and reads the manifests once.
- ``items(ns)``: every key and value of a namespace in one round trip (the index reload).
- ``relaxed_puts``: ``put_many(..., durable=False)`` is understood (a use stamp needs no flush).
- ``digest(data)``, ``encode_chunk(pieces, codec)``, ``get_chunk(key, codec, size, check)``,
  ``get_chunks(specs)``: hashing, encoding, reading and verifying chunks in the backend's own
  runtime (IndexedDB: JS, WebCrypto, CompressionStream, Web Workers); a failed check raises
  ``ChunkCheckError``.
- ``js_chunks`` and ``copy_range(data, start, length, dest)``: chunks come back as the
  backend's own buffers (JS ArrayBuffers), copied into Python memory by ``copy_range``, or
  written straight to a device that can take them.
- ``default_codec``: the codec ``Store(compress=True)`` picks.
- ``close()``: release the backend's resources.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

NAMESPACES = ("chunks", "manifests", "meta")

Value = bytes | bytearray | memoryview


class Backend:
    """Base class of the store's backends: the four required calls and the optional
    capabilities (declared None / False; see the module)."""

    # -- required --------------------------------------------------------------------------------
    async def get(self, ns: str, key: str) -> bytes | None:
        raise NotImplementedError

    async def put_many(self, ns: str, items: Mapping[str, Value]) -> None:
        raise NotImplementedError

    async def delete_many(self, ns: str, keys: Iterable[str]) -> None:
        raise NotImplementedError

    async def keys(self, ns: str) -> list[str]:
        raise NotImplementedError

    # -- optional capabilities -------------------------------------------------------------------
    default_codec: str = "zlib"
    relaxed_puts: bool = False
    js_chunks: bool = False
    lock: Callable[..., AbstractAsyncContextManager[None]] | None = None
    items: Callable[[str], Awaitable[dict[str, bytes]]] | None = None
    close: Callable[[], Awaitable[None]] | None = None
    digest: Callable[[memoryview], Awaitable[str]] | None = None
    encode_chunk: Callable[[Sequence[memoryview], str], Awaitable[tuple[Any, ...]]] | None = None
    get_chunk: Callable[[str, str, int, str], Awaitable[Any]] | None = None
    get_chunks: Callable[[Sequence[tuple[str, str, int, str]]], list[Awaitable[Any]]] | None = None
    copy_range: Callable[[Any, int, int, memoryview], None] | None = None


_CAPABILITIES = (
    "default_codec",
    "relaxed_puts",
    "js_chunks",
    "lock",
    "items",
    "close",
    "digest",
    "encode_chunk",
    "get_chunk",
    "get_chunks",
    "copy_range",
)


class Adapted(Backend):
    """A backend object that does not derive from ``Backend`` (written when ``Backend`` was a
    bare protocol), wrapped: its four calls forwarded, its optional methods looked up once,
    here, and declared. Kept for one release; derive from ``Backend`` instead."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        for name in _CAPABILITIES:
            value = getattr(inner, name, None)
            if value is not None:
                setattr(self, name, value)

    def __repr__(self) -> str:
        return f"Adapted({self.inner!r})"

    async def get(self, ns: str, key: str) -> bytes | None:
        return await self.inner.get(ns, key)

    async def put_many(self, ns: str, items: Mapping[str, Value], **kw: Any) -> None:
        await self.inner.put_many(ns, items, **kw)

    async def delete_many(self, ns: str, keys: Iterable[str]) -> None:
        await self.inner.delete_many(ns, keys)

    async def keys(self, ns: str) -> list[str]:
        return await self.inner.keys(ns)


def check_namespace(ns: str) -> str:
    if ns not in NAMESPACES:
        raise ValueError(f"unknown store namespace {ns!r}; namespaces: {', '.join(NAMESPACES)}")
    return ns


def check_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"a store key must be a non-empty string, not {key!r}")
    return key

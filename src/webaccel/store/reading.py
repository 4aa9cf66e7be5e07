"""Reading a model version: chunks fetched, verified and decoded, streamed in first-use order.

``Store.reading`` opens a version under the store's shared lock and hands out a ``Reading``;
``Reading.chunks`` streams the chunks some of its tensors use (``read_ahead`` in flight), each
with the pieces of those tensors it holds. The store's own ``read`` copies them into host
bytes (``Reading.read``); ``webaccel.weights`` writes them onto a device.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any

from . import codecs
from .backends.base import Backend
from .errors import ChunkCheckError, CorruptChunkError, StoreError

Progress = Callable[[int, int], Any]
# One tensor's bytes inside a chunk: (tensor j of the records asked for, offset in that
# tensor, start in the chunk, length)
Piece = tuple[int, int, int, int]
HostTensor = tuple[bytearray, str, tuple[int, ...]]


async def read_chunk(
    backend: Backend, manifest: Mapping[str, Any], idx: int, tensor: str, check: str = "fast"
) -> Any:
    """Chunk *idx*'s raw bytes, verified and decoded (or CorruptChunkError naming *tensor*).

    *check*: "fast" uses the chunk's xxh32x4 checksum where the manifest has one, "sha256"
    always re-hashes. The backend's ``get_chunk`` does it where it has one (IndexedDB: in JS)
    and returns its own buffer type; else bytes, hashed here."""
    c = manifest["chunks"][idx]
    name, version = manifest["name"], manifest["version"]
    if backend.get_chunk is not None:
        try:
            fast = c.get("check", "") if check == "fast" else ""
            return await backend.get_chunk(c["key"], c["codec"], int(c["size"]), fast)
        except ChunkCheckError as exc:
            raise CorruptChunkError(name, version, tensor, c["key"], exc.why) from None
    blob = await backend.get("chunks", c["key"])
    if blob is None:
        raise CorruptChunkError(name, version, tensor, c["key"], "missing")
    if hashlib.sha256(blob).hexdigest() != c["key"]:
        raise CorruptChunkError(name, version, tensor, c["key"], "sha-256 mismatch")
    try:
        raw = codecs.decode(blob, codecs.check(c["codec"]))
    except codecs.DecodeError as exc:
        raise CorruptChunkError(name, version, tensor, c["key"], str(exc)) from None
    if len(raw) != c["size"]:
        raise CorruptChunkError(name, version, tensor, c["key"], "wrong length")
    return raw


def read_chunks(
    backend: Backend,
    manifest: Mapping[str, Any],
    idxs: Sequence[int],
    owners: Mapping[int, str],
    check: str = "fast",
) -> list[asyncio.Future[Any]]:
    """Start reading chunks *idxs* (verified, decoded): one future each. A backend with
    ``get_chunks`` reads them together (IndexedDB: one transaction, or its Web Workers)."""
    if backend.get_chunks is None:
        return [
            asyncio.ensure_future(read_chunk(backend, manifest, i, owners[i], check)) for i in idxs
        ]
    chunks = manifest["chunks"]
    specs = [
        (
            chunks[i]["key"],
            chunks[i]["codec"],
            int(chunks[i]["size"]),
            chunks[i].get("check", "") if check == "fast" else "",
        )
        for i in idxs
    ]
    return [
        asyncio.ensure_future(_checked(aw, manifest, i, owners[i]))
        for aw, i in zip(backend.get_chunks(specs), idxs, strict=True)
    ]


async def _checked(aw: Any, manifest: Mapping[str, Any], idx: int, tensor: str) -> Any:
    try:
        return await aw
    except ChunkCheckError as exc:
        c = manifest["chunks"][idx]
        raise CorruptChunkError(
            manifest["name"], manifest["version"], tensor, c["key"], exc.why
        ) from None


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a finished task's exception as seen (its error is raised where it is awaited)."""
    if not task.cancelled():
        task.exception()


class Reading:
    """One model version open for reading (from ``Store.reading``, valid inside its ``async
    with``): the version's manifest, the tensor records asked for, and their chunks."""

    def __init__(
        self,
        backend: Backend,
        manifest: dict[str, Any],
        tensors: list[dict[str, Any]],
        *,
        read_ahead: int,
        check: str,
    ) -> None:
        self.backend = backend
        self.manifest = manifest  # the store's own: read it, never change it
        self.tensors = tensors
        self.read_ahead = read_ahead
        self.check = check

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def seq(self) -> int:
        """The version's commit number: a re-save of it gets another."""
        return int(self.manifest["seq"])

    @property
    def js_chunks(self) -> bool:
        """Chunks come as the backend's JS ArrayBuffers (a device may take them as they are)."""
        return bool(self.backend.js_chunks)

    async def chunks(
        self, records: Sequence[Mapping[str, Any]]
    ) -> AsyncGenerator[tuple[Any, list[Piece]], None]:
        """Each chunk that *records* (manifest tensor records) use, once, in first-use order,
        verified and decoded, with the pieces of *records* it holds; ``read_ahead`` chunks in
        flight (bounded memory). A chunk is bytes, or with ``js_chunks`` a JS ArrayBuffer (copy
        out of either with ``copy_range``). Close it (``aclose``, or ``contextlib.aclosing``) when
        stopping early, so that the reads in flight stop."""
        pieces: dict[int, list[Piece]] = {}
        owners: dict[int, str] = {}
        for j, t in enumerate(records):
            pos = 0
            for idx, start, length in t["ranges"]:
                pieces.setdefault(idx, []).append((j, pos, start, length))
                owners.setdefault(idx, t["name"])
                pos += length
        order = list(pieces)
        tasks: dict[int, asyncio.Future[Any]] = {}
        nxt = 0
        try:
            for idx in order:
                batch = []
                while nxt < len(order) and len(tasks) + len(batch) < max(1, self.read_ahead):
                    batch.append(order[nxt])
                    nxt += 1
                if batch:
                    futures = read_chunks(self.backend, self.manifest, batch, owners, self.check)
                    for i, task in zip(batch, futures, strict=True):
                        task.add_done_callback(_retrieve)  # a read-ahead failing after another
                        tasks[i] = task
                data = await tasks.pop(idx)
                yield data, pieces[idx]
                del data  # not held while the next chunk is awaited
        finally:
            for task in tasks.values():
                task.cancel()

    def copy_range(self, data: Any, start: int, length: int, dest: memoryview) -> None:
        """Copy bytes [start, start+length) of chunk *data* into *dest*."""
        if isinstance(data, bytes | bytearray | memoryview):
            dest[:] = memoryview(data)[start : start + length]
        elif self.backend.copy_range is not None:  # the backend's own buffer: one copy
            self.backend.copy_range(data, start, length, dest)
        else:
            raise StoreError(f"{self.backend!r} returned a {type(data).__name__} chunk")

    async def read(self, progress: Progress | None = None) -> dict[str, HostTensor]:
        """Every tensor asked for as host bytes: ``{name: (bytearray, dtype, shape)}``.
        *progress(done, total)* after each tensor is whole."""
        records = self.tensors
        total = sum(t["nbytes"] for t in records)
        done = 0
        if progress is not None:
            progress(0, total)
        bufs = [bytearray(t["nbytes"]) for t in records]
        left = [len(t["ranges"]) for t in records]
        out: dict[str, HostTensor] = {}

        def finish(j: int) -> None:
            nonlocal done
            t = records[j]
            out[t["name"]] = (bufs[j], t["dtype"], tuple(t["shape"]))
            done += t["nbytes"]
            if progress is not None and t["nbytes"]:
                progress(done, total)

        for j in range(len(records)):
            if not left[j]:  # no bytes
                finish(j)
        async with contextlib.aclosing(self.chunks(records)) as stream:
            async for data, pieces in stream:
                for j, pos, start, length in pieces:
                    self.copy_range(data, start, length, memoryview(bufs[j])[pos : pos + length])
                del data
                for j, _, _, _ in pieces:
                    left[j] -= 1
                    if not left[j]:
                        finish(j)
        return {t["name"]: out[t["name"]] for t in records}

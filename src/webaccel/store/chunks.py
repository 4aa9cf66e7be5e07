"""Tensors in, chunks out: host values as bytes, their layout over chunks, and the fast checksum.

A save lays every tensor's bytes out over chunks of ``chunk_size`` bytes (``plan``): small
tensors share a chunk, a tensor of at least one chunk starts a fresh one, so identical large
tensors in different models land in identical chunks (stored once: chunks are keyed by the
sha-256 of their stored bytes).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from ..dtypes import as_dtype

MiB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 32 * MiB
MIN_CHUNK_SIZE = 16 * MiB
MAX_CHUNK_SIZE = 64 * MiB

HostValue = tuple[Any, Any, Any]  # (bytes-like, dtype, shape): what save() and read() move


@dataclass
class Entry:
    """One tensor to save, as bytes."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    data: memoryview


def is_host_value(value: Any) -> bool:
    """*value* is something the store turns into bytes itself: ``(bytes_like, dtype, shape)``
    or a NumPy array (anything else, a device tensor, is the layer above's to convert)."""
    return (isinstance(value, tuple) and len(value) == 3) or hasattr(value, "__array_interface__")


def as_entry(name: str, value: Any) -> Entry:
    """Tensor *name*'s bytes from ``(bytes_like, dtype, shape)`` or a NumPy array (stored in
    the dtype webaccel would give it: float64 as float32, int64 as int32, row-major)."""
    if isinstance(value, tuple) and len(value) == 3:
        raw, dtype, shape = value
        d = as_dtype(dtype)
        shape = tuple(int(s) for s in shape)
        mv = memoryview(raw).cast("B")
        if mv.nbytes != d.nbytes(math.prod(shape)):
            raise ValueError(
                f"tensor {name!r}: {mv.nbytes} bytes for shape {shape} of {d.name}, "
                f"which needs {d.nbytes(math.prod(shape))}"
            )
        return Entry(name, d.name, shape, mv)
    if hasattr(value, "__array_interface__"):
        import numpy as np  # optional: only a NumPy array gets here

        arr = np.asarray(value)
        d = as_dtype(arr.dtype)
        arr = np.asarray(arr, dtype=d.numpy, order="C")
        data = memoryview(arr.reshape(-1).view(np.uint8)).cast("B")
        return Entry(name, d.name, tuple(int(s) for s in arr.shape), data)
    raise TypeError(
        f"tensor {name!r}: give a NumPy array or (bytes, dtype, shape) (device tensors: "
        f"webaccel.weights.save); got {type(value).__name__}"
    )


@dataclass
class Chunk:
    """One chunk of a save: its raw pieces, then (once encoded) its key and stored form."""

    raw: list[memoryview]  # pieces, concatenated
    size: int
    key: str = ""
    stored: int = 0
    codec: str = "none"
    check: str = ""  # a fast checksum of the stored bytes ("xxh32x4:<hex>"), where computed
    blob: Any = None  # the stored bytes once encoded (kept between the passes of a commit)

    def raw_bytes(self) -> bytes:
        return b"".join(self.raw)

    def payload(self) -> bytes | memoryview:
        """The raw bytes without a copy where the chunk is one piece."""
        return self.raw[0] if len(self.raw) == 1 else self.raw_bytes()

    @classmethod
    def stored_as(cls, record: dict[str, Any]) -> Chunk:
        """A chunk already encoded, from its manifest record (imports: bytes come separately)."""
        return cls(
            [],
            int(record["size"]),
            record["key"],
            int(record["stored"]),
            record["codec"],
            record.get("check", ""),
        )


def plan(entries: list[Entry], chunk_size: int) -> tuple[list[dict[str, Any]], list[Chunk]]:
    """Lay tensors out in chunks: (manifest tensor records, chunks). Small tensors share a
    chunk, a tensor of at least one chunk starts a fresh one (so identical large tensors in
    different models dedup)."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be > 0, not {chunk_size}")
    chunks: list[Chunk] = []
    tensors: list[dict[str, Any]] = []
    cur: Chunk | None = None
    for e in entries:
        n = e.data.nbytes
        if n >= chunk_size and cur is not None and cur.size:
            cur = None
        ranges: list[list[int]] = []
        pos = 0
        while pos < n:
            if cur is None or cur.size >= chunk_size:
                cur = Chunk([], 0)
                chunks.append(cur)
            take = min(chunk_size - cur.size, n - pos)
            ranges.append([len(chunks) - 1, cur.size, take])
            cur.raw.append(e.data[pos : pos + take])
            cur.size += take
            pos += take
        tensors.append(
            {
                "name": e.name,
                "dtype": e.dtype,
                "shape": list(e.shape),
                "nbytes": n,
                "ranges": ranges,
            }
        )
    return tensors, chunks


_P1, _P2, _M32 = 2654435761, 2246822519, 0xFFFFFFFF


def xxh32x4(data: bytes | bytearray | memoryview) -> str:
    """The fast chunk checksum (reference implementation; the browser computes it in JS, see
    ``js_glue/idb_glue.js``): four xxHash32 lanes over 16-byte stripes of little-endian words,
    the tail zero-padded to a stripe, the length folded into lanes 0 and 1, as 32 hex digits.
    Pure Python: slow (tests and small data); manifests written on CPython carry none.

    Written here rather than taken from the ``xxhash`` package: it is not xxHash32 itself (four
    independent lanes, no merge, so the browser's WebAssembly can run them side by side), and
    the store must run in Pyodide without native wheels."""
    mv = memoryview(data).cast("B")
    n = mv.nbytes
    padded = bytes(mv) + bytes(-n % 16)
    lanes = [0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F]
    words = struct.unpack(f"<{len(padded) // 4}I", padded)
    for i, w in enumerate(words):
        x = (lanes[i % 4] + w * _P2) & _M32
        lanes[i % 4] = ((((x << 13) | (x >> 19)) & _M32) * _P1) & _M32
    lanes[0] ^= n & _M32
    lanes[1] ^= (n >> 32) & _M32
    return "".join(f"{v:08x}" for v in lanes)

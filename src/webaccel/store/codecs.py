"""Chunk codecs: what a chunk's stored bytes are compressed with.

"zlib" and "deflate" are one format (RFC 1950: what Python's zlib and the browser's
CompressionStream("deflate") write); "gzip" is RFC 1952. Either side decodes the other's chunks.
Which implementation encodes depends on the backend: ``IDBBackend`` uses the browser's
CompressionStream (``encode_chunk``), the rest Python's zlib (level 6) through ``encode`` here.
"""

from __future__ import annotations

import zlib

from .errors import StoreError

CODECS = ("none", "zlib", "deflate", "gzip")
DecodeError = zlib.error  # what decode raises on bytes that are not of the codec


def check(codec: str) -> str:
    """*codec* if the store knows it, else a StoreError listing the codecs."""
    if codec not in CODECS:
        raise StoreError(f"unknown codec {codec!r}; codecs: {', '.join(CODECS)}")
    return codec


def encode(raw: bytes | memoryview, codec: str) -> bytes:
    """*raw* compressed with *codec* (not "none")."""
    if codec in ("zlib", "deflate"):
        return zlib.compress(raw, 6)
    if codec == "gzip":
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)
        return packer.compress(raw) + packer.flush()
    raise StoreError(f"unknown codec {codec!r}; codecs: {', '.join(CODECS)}")


def decode(blob: bytes, codec: str) -> bytes:
    """*blob*'s raw bytes (``DecodeError`` where they do not decode)."""
    if codec == "none":
        return blob
    if codec in ("zlib", "deflate"):
        return zlib.decompress(blob)
    if codec == "gzip":
        return zlib.decompress(blob, 31)
    raise StoreError(f"unknown codec {codec!r}; codecs: {', '.join(CODECS)}")

"""Export / import: one model version as a single self-checking file.

Container: ``WASTORE1`` magic, an 8-byte little-endian header length, the UTF-8 JSON header
``{"format": "webaccel-store", "format_version": 1, "manifest": ..., "chunks": [{"key",
"stored"}, ...]}``, every listed chunk's stored bytes in order, then the 32-byte sha-256 of
everything before it. Reading checks the digest and every chunk's sha-256 before anything is
handed to the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from .errors import CorruptExportError

EXPORT_MAGIC = b"WASTORE1"
FORMAT = "webaccel-store"
FORMAT_VERSION = 1

PathOrFile = str | os.PathLike[str] | BinaryIO


async def write(
    manifest: Mapping[str, Any],
    path_or_fileobj: PathOrFile,
    stored_bytes: Callable[[str], Awaitable[bytes]],
) -> int:
    """Write *manifest*'s version to *path_or_fileobj* (a path is written through a ``.part``
    file, renamed when whole); *stored_bytes(key)* gives each chunk's verified stored bytes.
    Returns the file's size."""
    unique = list({c["key"]: c for c in manifest["chunks"]}.values())
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "manifest": manifest,
        "chunks": [{"key": c["key"], "stored": c["stored"]} for c in unique],
    }
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()

    async def write_to(f: BinaryIO) -> int:
        digest = hashlib.sha256()
        n = 0
        for part in (EXPORT_MAGIC, struct.pack("<Q", len(head)), head):
            f.write(part)
            digest.update(part)
            n += len(part)
        for c in unique:
            blob = await stored_bytes(c["key"])
            f.write(blob)
            digest.update(blob)
            n += len(blob)
        f.write(digest.digest())
        return n + 32

    if isinstance(path_or_fileobj, str | os.PathLike):
        path = Path(path_or_fileobj)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as f:
            n = await write_to(f)
        os.replace(tmp, path)
        return n
    return await write_to(path_or_fileobj)


def read(path_or_fileobj: PathOrFile) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest as written, {chunk key: stored bytes}) of an export, every byte verified;
    CorruptExportError says what is wrong."""
    if isinstance(path_or_fileobj, str | os.PathLike):
        with open(path_or_fileobj, "rb") as f:
            data = f.read()
    else:
        data = path_or_fileobj.read()
    where = getattr(path_or_fileobj, "name", None) or str(path_or_fileobj)
    if len(data) < len(EXPORT_MAGIC) + 8 + 32 or not data.startswith(EXPORT_MAGIC):
        raise CorruptExportError(f"{where}: not a webaccel store export (bad magic or too short)")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise CorruptExportError(f"{where}: the file's sha-256 does not match (corrupt export)")
    (hlen,) = struct.unpack_from("<Q", data, len(EXPORT_MAGIC))
    start = len(EXPORT_MAGIC) + 8
    try:
        header = json.loads(data[start : start + hlen])
    except ValueError as exc:
        raise CorruptExportError(f"{where}: unreadable header ({exc})") from None
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise CorruptExportError(f"{where}: unknown export format {header.get('format')!r}")
    pos = start + hlen
    blobs: dict[str, bytes] = {}
    for c in header["chunks"]:
        blob = bytes(data[pos : pos + int(c["stored"])])
        pos += int(c["stored"])
        if hashlib.sha256(blob).hexdigest() != c["key"]:
            raise CorruptExportError(f"{where}: chunk {c['key']} fails its sha-256")
        blobs[c["key"]] = blob
    if pos != len(body):
        raise CorruptExportError(f"{where}: {len(body) - pos} unexpected trailing bytes")
    manifest = header["manifest"]
    missing = {c["key"] for c in manifest["chunks"]} - set(blobs)
    if missing:
        raise CorruptExportError(f"{where}: chunks missing from the file: {sorted(missing)}")
    return manifest, blobs

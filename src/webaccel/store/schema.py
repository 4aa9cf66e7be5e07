"""The manifest: one JSON document per model version, and its migrations.

Schema 2 (``SCHEMA_VERSION``)::

    {"schema_version": 2, "name": str, "version": str, "seq": int (commit order),
     "tensors": [{"name", "dtype", "shape", "nbytes", "ranges": [[chunk, start, length], ...],
                  "sha256": hex of the tensor's bytes (the sharing key; absent when migrated)}],
     "chunks": [{"key": sha-256 of the stored bytes, "size": raw bytes, "stored": bytes,
                 "codec": "none" | "zlib" | "deflate" | "gzip", "check": "xxh32x4:<hex>"?}],
     "chunk_size", "total_bytes", "created", "last_used", "used_seq" (LRU order), "source"}

A manifest written by an older webaccel is brought up to date one step at a time
(``MIGRATIONS``) when the store reads it, and written back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import StoreError

SCHEMA_VERSION = 2


def _migrate_1_to_2(old: dict[str, Any]) -> dict[str, Any]:
    """Schema 1: one flat stream, fixed-size uncompressed chunks, tensors by stream offset."""
    size = int(old["chunk_size"])
    chunks = [
        {"key": c["sha256"], "size": int(c["size"]), "stored": int(c["size"]), "codec": "none"}
        for c in old["chunks"]
    ]
    tensors = []
    for t in old["tensors"]:
        start, n = int(t["offset"]), int(t["nbytes"])
        ranges, pos = [], start
        while pos < start + n:
            idx, within = divmod(pos, size)
            take = min(size - within, start + n - pos)
            ranges.append([idx, within, take])
            pos += take
        tensors.append(
            {
                "name": t["name"],
                "dtype": t["dtype"],
                "shape": list(t["shape"]),
                "nbytes": n,
                "ranges": ranges,
            }
        )
    created = float(old.get("created", 0.0))
    return {
        "schema_version": 2,
        "name": old["name"],
        "version": str(old["version"]),
        "seq": int(old.get("seq", 0)),
        "tensors": tensors,
        "chunks": chunks,
        "chunk_size": size,
        "total_bytes": sum(t["nbytes"] for t in tensors),
        "created": created,
        "last_used": created,
        "used_seq": 0,
        "source": old.get("source"),
    }


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _migrate_1_to_2}


def migrate(old_manifest: Mapping[str, Any]) -> dict[str, Any]:
    """An older manifest brought up to ``SCHEMA_VERSION``, one step at a time."""
    manifest = dict(old_manifest)
    version = int(manifest.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"manifest of {manifest.get('name')!r} has schema {version}, newer than this "
            f"webaccel understands ({SCHEMA_VERSION}); upgrade webaccel"
        )
    while version < SCHEMA_VERSION:
        manifest = MIGRATIONS[version](manifest)
        version = int(manifest["schema_version"])
    return manifest


def manifest_key(name: str, version: str) -> str:
    """The backend key of a model version's manifest."""
    return json.dumps([name, version], separators=(",", ":"))


def dump(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces): what manifests are stored as."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def check_name(name: str, what: str = "model name") -> str:
    """*name* if it is a usable model, version or tensor name, else a ValueError saying why."""
    if not isinstance(name, str) or not name or len(name) > 160 or "\x00" in name:
        raise ValueError(f"a {what} is a non-empty string of at most 160 characters, not {name!r}")
    return name


def wanted(tensors: Iterable[str]) -> set[str]:
    """The tensor names of a partial read, checked (a bare string would iterate its letters)."""
    if isinstance(tensors, str | bytes):
        raise TypeError(f"tensors is a list of tensor names, not the string {tensors!r}")
    out = set(tensors)
    bad = [t for t in out if not isinstance(t, str)]
    if bad:
        raise TypeError(f"tensors: tensor names are strings, not {bad[0]!r}")
    return out


def select(manifest: Mapping[str, Any], tensors: Iterable[str] | None) -> list[dict[str, Any]]:
    """The manifest's tensor records named in *tensors* (all when None), in manifest order; a
    name the version lacks is a KeyError naming it."""
    records = list(manifest["tensors"])
    if tensors is None:
        return records
    names = wanted(tensors)
    missing = sorted(names - {t["name"] for t in records})
    if missing:
        raise KeyError(
            f"model {manifest['name']!r} version {manifest['version']!r} has no tensor "
            f"{missing[0]!r}" + (f" (and {len(missing) - 1} more)" if missing[1:] else "")
        )
    return [t for t in records if t["name"] in names]


def chunk_owners(manifest: Mapping[str, Any]) -> dict[int, str]:
    """Chunk index -> the first tensor using it (what a corrupt-chunk error names)."""
    owners: dict[int, str] = {}
    for t in manifest["tensors"]:
        for idx, _, _ in t["ranges"]:
            owners.setdefault(idx, t["name"])
    return owners


def tensor_key(manifest: Mapping[str, Any], t: Mapping[str, Any]) -> str:
    """The content key of manifest tensor *t* (what ``webaccel.weights`` shares tensors by):
    the sha-256 of its bytes (recorded at save), or for manifests without it a key derived
    from its chunks' keys."""
    if t.get("sha256"):
        return str(t["sha256"])
    chunks = manifest["chunks"]
    layout = [t["dtype"], t["nbytes"], [[chunks[i]["key"], a, n] for i, a, n in t["ranges"]]]
    return "layout:" + hashlib.sha256(dump(layout)).hexdigest()

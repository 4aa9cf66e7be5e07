"""``FileBackend``: the store's key-value interface over a directory (used on CPython).

Layout under the root: one folder per namespace (``chunks/``, ``manifests/``, ``meta/``) holding
one file per key (the key percent-encoded), ``tmp/`` for files being written, and
``journal-*.json`` files for multi-key transactions in flight.

Atomicity: every value is written to ``tmp/`` and fsynced first. A one-key transaction is then a
single ``os.replace``. A multi-key transaction writes a redo journal (itself through a temp file
and ``os.replace``, so it exists whole or not at all) listing every rename and delete, applies it,
and removes the journal. Opening the backend replays any journal left by a crash (each step is
idempotent) and empties ``tmp/``: a transaction is all-or-nothing.

Several processes: ``lock()`` is an ``flock`` on ``root/lock`` (shared for readers, exclusive
for writers), held by the store around each operation; recovery at open only runs when no other
process holds the lock (a live writer's temp files are not leftovers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, unquote

from .base import NAMESPACES, Backend, Value, check_key, check_namespace

_MAX_NAME = 240  # bytes; most filesystems allow 255


def _encode(key: str) -> str:
    name = quote(check_key(key), safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]  # never ".", ".." or a hidden file
    if len(name.encode()) > _MAX_NAME:
        raise ValueError(f"store key too long once encoded for a file name ({len(name)} bytes)")
    return name


class FileBackend(Backend):
    """Async key-value namespaces over a directory, with atomic multi-key transactions."""

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.fsync = fsync
        for ns in (*NAMESPACES, "tmp"):
            (self.root / ns).mkdir(parents=True, exist_ok=True)
        fd = self._lock_fd()
        try:
            if _flock(fd, exclusive=True, wait=False):  # else a live process is mid-write
                self.recover()
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"FileBackend({str(self.root)!r})"

    # -- the backend interface -------------------------------------------------------------------
    async def get(self, ns: str, key: str) -> bytes | None:
        try:
            return self._path(ns, key).read_bytes()
        except FileNotFoundError:
            return None

    async def put_many(self, ns: str, items: Mapping[str, Value]) -> None:
        """Store every item or none of them (a crash leaves either the old or the new values)."""
        if not items:
            return
        ops: list[list[str]] = []
        try:
            for key, value in items.items():
                final = self._path(ns, key)
                tmp = self.root / "tmp" / f"{uuid.uuid4().hex}.tmp"
                self._write_synced(tmp, value)
                ops.append(
                    ["put", str(tmp.relative_to(self.root)), str(final.relative_to(self.root))]
                )
        except BaseException:
            for _, tmp_rel, _ in ops:
                with contextlib.suppress(OSError):
                    (self.root / tmp_rel).unlink()
            raise
        self._commit(ops)

    async def delete_many(self, ns: str, keys: Iterable[str]) -> None:
        """Delete every key (missing ones are ignored), all or none."""
        ops = [["del", str(self._path(ns, k).relative_to(self.root))] for k in keys]
        if ops:
            self._commit(ops)

    async def keys(self, ns: str) -> list[str]:
        folder = self._ns_dir(ns)
        return sorted(unquote(p.name) for p in folder.iterdir() if not p.name.startswith("."))

    async def close(self) -> None:
        return None

    @contextlib.asynccontextmanager
    async def lock(self, exclusive: bool = True) -> AsyncIterator[None]:
        """Hold ``root/lock`` (flock): shared or exclusive, across processes (polled, so two
        stores over one directory in one event loop wait for each other instead of
        deadlocking)."""
        fd = self._lock_fd()
        try:
            delay = 0.001
            while not _flock(fd, exclusive, wait=False):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _lock_fd(self) -> int:
        return os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o644)

    # -- crash safety ----------------------------------------------------------------------------
    def recover(self) -> None:
        """Finish transactions whose journal was committed; drop unjournaled temp files."""
        for journal in sorted(self.root.glob("journal-*.json")):
            try:
                ops = json.loads(journal.read_text())
            except (OSError, ValueError):
                ops = []  # cannot happen (journals land by os.replace); drop it
            self._apply(ops)
            journal.unlink()
        self._sync_dir(self.root)
        for leftover in (self.root / "tmp").iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _commit(self, ops: list[list[str]]) -> None:
        if len(ops) == 1:
            self._apply(ops)
            return
        name = f"journal-{uuid.uuid4().hex}.json"
        tmp = self.root / "tmp" / name
        self._write_synced(tmp, json.dumps(ops).encode())
        journal = self.root / name
        os.replace(tmp, journal)
        self._sync_dir(self.root)  # the commit point of a multi-key transaction
        self._apply(ops)
        journal.unlink()
        self._sync_dir(self.root)

    def _apply(self, ops: list[list[str]]) -> None:
        dirs: set[Path] = set()
        for op in ops:
            if op[0] == "put":
                src, dst = self.root / op[1], self.root / op[2]
                if src.exists():  # replayed journals: the rename may already be done
                    os.replace(src, dst)
                dirs.add(dst.parent)
            elif op[0] == "del":
                path = self.root / op[1]
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                dirs.add(path.parent)
        for d in dirs:
            self._sync_dir(d)

    def _write_synced(self, path: Path, data: bytes | bytearray | memoryview) -> None:
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())

    def _sync_dir(self, path: Path) -> None:
        if not self.fsync or os.name == "nt":
            return
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _ns_dir(self, ns: str) -> Path:
        return self.root / check_namespace(ns)

    def _path(self, ns: str, key: str) -> Path:
        return self._ns_dir(ns) / _encode(key)


def _flock(fd: int, exclusive: bool, wait: bool) -> bool:
    """Take an flock on *fd*; False if *wait* is off and another descriptor holds it. Where
    there is no flock (Windows, Pyodide's file system) locking is a no-op."""
    try:
        import fcntl
    except ImportError:
        return True
    flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(fd, flags if wait else flags | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without flock
        return True
    return True

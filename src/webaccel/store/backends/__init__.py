"""The store's backends: ``Backend`` (the interface, with its optional capabilities declared),
``MemoryBackend`` (dicts), ``FileBackend`` (a directory, on CPython) and ``IDBBackend``
(IndexedDB, inside Pyodide: ``webaccel.store.backends.idb``, imported where used)."""

from __future__ import annotations

from .base import NAMESPACES, Backend
from .files import FileBackend
from .memory import MemoryBackend

__all__ = ["NAMESPACES", "Backend", "FileBackend", "MemoryBackend"]

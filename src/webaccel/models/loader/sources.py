"""Where a model's files come from: a ``{name: bytes | fetcher}`` mapping, a directory, or a
URL. ``ModelFiles`` reads (or fetches) each file only when asked for, once."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ... import _compat
from ...io import fetch_bytes

# What a source may be: a mapping of file names to bytes / str / JS buffers / callables
# (sync or async) returning them or None; a directory (str or path); a URL (str).
Source = Mapping[str, Any] | str | os.PathLike[str]


def is_url(text: str) -> bool:
    """Whether *text* names a URL rather than a local path (any str in a page is a URL
    unless a directory of Pyodide's file system has that name)."""
    if "://" in text:
        return True
    return _compat.host().in_pyodide and not Path(text).is_dir()


def url_files(base: str, names: Sequence[str]) -> dict[str, Callable[[], Any]]:
    """A lazy source over the files under URL *base*: ``{name: async fetcher}``, each
    fetched only if asked for (``fetch_bytes``: a missing file is None)."""
    root = base if base.endswith("/") else base + "/"

    def one(name: str) -> Callable[[], Any]:
        async def get() -> bytes | None:
            return await fetch_bytes(root + name)

        return get

    return {name: one(name) for name in names}


class ModelFiles:
    """The files of one model source, each read (or fetched) only when asked for.

    *source*: a mapping (values: bytes, str, a JS ArrayBuffer / Uint8Array, None, or a
    callable returning one of those, sync or async: fetched on first use), a directory, or a
    URL (each file fetched from ``<url>/<name>``). *who* starts the errors
    (``"SentenceEmbedder.load"``).
    """

    def __init__(self, source: Source, who: str = "load") -> None:
        self.url: str | None = None
        if isinstance(source, str) and is_url(source):
            self.url = source if source.endswith("/") else source + "/"
        elif isinstance(source, str | os.PathLike):
            if not Path(source).is_dir():
                raise FileNotFoundError(f"{who}: {os.fspath(source)!r} is not a directory")
        elif not isinstance(source, Mapping):
            raise TypeError(
                f"{who}: the model's files come as a directory, a URL or a dict of file bytes, "
                f"not {type(source).__name__}"
            )
        self.source = source
        self.who = who
        self.reads: list[str] = []  # what was read, in order (tests check the store path)
        self._cache: dict[str, Any] = {}

    def in_memory(self, name: str) -> bool:
        """Whether *name*'s bytes are already at hand (reading it costs nothing)."""
        value = self.source.get(name) if isinstance(self.source, Mapping) else None
        return value is not None and not callable(value)

    async def get(self, name: str, required: bool = True) -> bytes | None:
        if name in self._cache:
            return self._cache[name]
        if isinstance(self.source, Mapping):
            value = self.source.get(name)
            if callable(value):
                value = value()
                if inspect.isawaitable(value):
                    value = await value
        elif self.url is not None:
            value = await fetch_bytes(self.url + name)
        else:
            path = Path(self.source) / name
            value = path.read_bytes() if path.is_file() else None
        if value is None:
            if required:
                raise FileNotFoundError(f"{self.who}: the source has no {name!r}")
            return None
        self.reads.append(name)
        self._cache[name] = as_bytes(value)
        return self._cache[name]

    async def first(self, names: Sequence[str]) -> tuple[str, bytes]:
        """The first of *names* the source has (a file and its alternatives)."""
        for name in names:
            data = await self.get(name, required=False)
            if data is not None:
                return name, data
        listed = " nor ".join(repr(n) for n in names)
        raise FileNotFoundError(f"{self.who}: the source has neither {listed}")


def as_bytes(value: Any) -> Any:
    """File contents as bytes-like: str encoded, JS buffers copied out."""
    if isinstance(value, str):
        return value.encode()
    if _compat.is_js(value):  # ArrayBuffer, Uint8Array
        return value.to_bytes()
    return value

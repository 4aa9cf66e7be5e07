"""What webaccel needs from the host it runs on: the interface each host implements.

Everything outside ``webaccel._compat`` reaches the browser (or Node) through one ``Host``
object: JS globals, conversions between Python and JS values, waiting on a promise, and the
wasm heap. One implementation per host (``PyodideHost`` inside Pyodide, ``CPythonHost``
elsewhere) is chosen once at import; tests hand in their own with ``use_host``.
"""

from __future__ import annotations

import asyncio
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ..resources import read_text

T = TypeVar("T")


class Host(ABC):
    """The host's side of the FFI. Subclasses set the three attributes and the methods."""

    kind: str  # "browser", "node" (Pyodide under Node.js) or "cpython"
    in_pyodide: bool  # values may be JS proxies; browser APIs may exist
    pyodide_version: str | None

    # -- JS values ----------------------------------------------------------------------------
    @abstractmethod
    def js_global(self, name: str) -> Any | None:
        """The JS global *name* (``navigator``, ``GPUBufferUsage``, ``Uint8Array`` ...), or
        None where this host has no such global."""

    @abstractmethod
    def js_namespace(self) -> Any:
        """The JS global scope as one object (``ns.Uint8Array``, ``ns.GPUBufferUsage``), for
        code that reads many globals on a hot path; raises where there is no JS."""

    @abstractmethod
    def create_proxy(self, obj: Any) -> Any:
        """A long-lived JS handle on the Python object *obj* (a callback JS keeps)."""

    @abstractmethod
    def is_js(self, value: Any) -> bool:
        """Is *value* a JS object seen from Python (a typed array, an ArrayBuffer ...)?"""

    @abstractmethod
    def to_js(self, value: Any, **options: Any) -> Any:
        """A JS value for a Python one (lists to arrays ...); identity where there is no JS."""

    @abstractmethod
    def to_py(self, value: Any) -> Any:
        """A plain Python copy of a JS value (objects to dicts, arrays to lists)."""

    @abstractmethod
    def to_js_object(self, value: dict[str, Any]) -> Any:
        """A JS object (not a Map) from a Python dict, as browser APIs expect."""

    @abstractmethod
    def run_js(self, code: str) -> Any:
        """Evaluate JS source and return its value."""

    # -- waiting ------------------------------------------------------------------------------
    @abstractmethod
    def can_run_sync(self) -> bool:
        """May a synchronous call wait on a promise here?"""

    @abstractmethod
    def run_sync(self, awaitable: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        """Run an async call to completion from synchronous code."""

    # -- memory -------------------------------------------------------------------------------
    @abstractmethod
    def wasm_heap(self) -> Any:
        """The Emscripten module whose ``HEAPU8`` is the wasm memory as it is now."""

    @abstractmethod
    def wasm_address(self, obj: Any) -> int | None:
        """Where *obj*'s bytes start in the wasm heap, or None where that cannot be had."""

    # -- derived ------------------------------------------------------------------------------
    def navigator(self) -> Any | None:
        """The JS ``navigator`` object, or None where there is none (CPython, old Node)."""
        return self.js_global("navigator")

    def recall(self, name: str) -> dict[str, Any]:
        """The small JSON object remembered under *name* across sessions (``{}`` when there is
        none or it is unreadable: a broken cache is a cold cache)."""
        try:
            storage = self._local_storage()
            if storage is not None:
                text = storage.getItem(f"webaccel.{name}")
            else:
                path = cache_file(name)
                text = path.read_text() if path.is_file() else None
            value = json.loads(text) if text else {}
            return value if isinstance(value, dict) else {}
        except Exception:
            return {}

    def remember(self, name: str, value: dict[str, Any]) -> None:
        """Keep *value* under *name*: ``localStorage`` in a page, else a file under
        ``$WEBACCEL_CACHE_DIR`` (default ``~/.cache/webaccel``), replaced atomically. Best
        effort: a value that cannot be kept is only not remembered."""
        text = json.dumps(value, indent=1, sort_keys=True)
        try:
            storage = self._local_storage()
            if storage is not None:
                storage.setItem(f"webaccel.{name}", text)
                return
            path = cache_file(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(path)
        except Exception:
            pass

    def _local_storage(self) -> Any | None:
        return self.js_global("localStorage") if self.kind == "browser" else None

    def js_glue(self, name: str) -> Any:
        """The value of ``js_glue/<name>`` (a JS object of helpers), evaluated once per host:
        every JS helper file of the package is read and run through here."""
        cache = self.__dict__.setdefault("_js_glue", {})
        if name not in cache:
            cache[name] = self.run_js(read_text("js_glue", name))
        return cache[name]

    def reset_js_glue(self, name: str) -> None:
        """Evaluate ``js_glue/<name>`` afresh at its next use (new JS state: pools, workers)."""
        self.__dict__.get("_js_glue", {}).pop(name, None)

    @property
    def glue(self) -> Any:
        """The shared helpers of ``js_glue/webaccel_glue.js``."""
        return self.js_glue("webaccel_glue.js")


def cache_file(name: str) -> Path:
    """Where a host without ``localStorage`` keeps what ``Host.remember`` is given."""
    base = os.environ.get("WEBACCEL_CACHE_DIR") or Path.home() / ".cache" / "webaccel"
    return Path(base) / f"{name}.json"


def js_get(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for a JS object, with *default* for undefined/null/missing."""
    try:
        value = getattr(obj, name)
    except AttributeError:
        return default
    return default if value is None else value


def close_unawaited(awaitable: Any) -> None:
    """Close a coroutine that will never run, so Python does not warn it was never awaited."""
    if asyncio.iscoroutine(awaitable):
        awaitable.close()

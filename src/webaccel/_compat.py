"""The one place that knows whether we run inside Pyodide, and wraps what the host gives us.

Everything else in the package is plain Python: it asks this module for the browser's globals,
for a way to wait on a JS promise, and for JS conversions. On CPython the browser pieces are
``None`` and the helpers degrade to their obvious host meaning (the micropip pattern).
"""

from __future__ import annotations

import array
import asyncio
import ctypes  # wasm_address (Pyodide builds it; so does every CPython we support)
import functools
import sys
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

IN_PYODIDE: bool = sys.platform == "emscripten"

if IN_PYODIDE:  # pragma: no cover - exercised in the browser lanes
    import js  # type: ignore[import-not-found]
    import pyodide  # type: ignore[import-not-found]
    import pyodide.ffi  # type: ignore[import-not-found]
    from pyodide.code import run_js  # type: ignore[import-not-found]
    from pyodide.ffi import JsProxy, to_js  # type: ignore[import-not-found]
else:
    js = None
    pyodide = None
    JsProxy = type("JsProxy", (), {})  # never an instance on CPython

    def to_js(obj: Any, **_: Any) -> Any:
        return obj

    def run_js(code: str) -> Any:
        raise RuntimeError("run_js needs Pyodide")


class WebAccelError(RuntimeError):
    """Base class of webaccel's own errors."""


class SyncUnavailableError(WebAccelError):
    """A synchronous call needs JSPI (``run_sync``), and this host cannot suspend."""


def host_kind() -> str:
    """``"browser"``, ``"node"`` (Pyodide under Node.js) or ``"cpython"``."""
    if not IN_PYODIDE:
        return "cpython"
    if getattr(js, "window", None) is not None or hasattr(js, "WorkerGlobalScope"):
        return "browser"
    if getattr(js, "process", None) is not None:
        return "node"
    return "browser"


def pyodide_version() -> str | None:
    return getattr(pyodide, "__version__", None) if IN_PYODIDE else None


def navigator() -> Any | None:
    """The JS ``navigator`` object, or None where there is none (CPython, old Node)."""
    if not IN_PYODIDE:
        return None
    return getattr(js, "navigator", None)


def js_global(name: str) -> Any | None:
    """The JS global *name* (``Uint8Array``, ``indexedDB`` ...), or None where there is none
    (CPython, or a host without it)."""
    if not IN_PYODIDE:
        return None
    return js_get(js, name)


def js_get(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for a JS object, with *default* for undefined/null/missing."""
    try:
        value = getattr(obj, name)
    except AttributeError:
        return default
    return default if value is None else value


def to_py(value: Any) -> Any:
    """A plain Python copy of a JS value (objects to dicts, arrays to lists)."""
    if IN_PYODIDE and isinstance(value, JsProxy):
        return value.to_py()
    return value


def to_js_object(value: Any) -> Any:
    """A JS object (not a Map) from a Python dict, as browser APIs expect."""
    if not IN_PYODIDE:
        return value
    return to_js(value, dict_converter=js.Object.fromEntries)


def can_run_sync() -> bool:
    """True where a sync call may wait on a promise: always on CPython, with JSPI in Pyodide."""
    if not IN_PYODIDE:
        return True
    fn = getattr(pyodide.ffi, "can_run_sync", None)
    try:
        return bool(fn and fn())
    except Exception:
        return False


def run_sync(awaitable: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
    """Run an async call to completion from synchronous code.

    CPython: a fresh event loop. Pyodide: ``pyodide.ffi.run_sync``, which needs JSPI and a
    caller that entered Python through ``runPythonAsync`` (or an async handler).
    """
    if not IN_PYODIDE:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(_as_coroutine(awaitable))
        _close(awaitable)
        raise SyncUnavailableError(
            "a synchronous webaccel call was made inside a running asyncio event loop, "
            "which it cannot block; await the async form instead (e.g. `await detect_async()`)"
        )
    if not can_run_sync():
        _close(awaitable)
        raise SyncUnavailableError(
            "this synchronous call has to wait for the browser, which needs JSPI "
            "(WebAssembly JS Promise Integration) and a caller that entered Python through "
            "runPythonAsync; use the async form instead (e.g. `await detect_async()`)"
        )
    return pyodide.ffi.run_sync(awaitable)


def _close(awaitable: Any) -> None:
    if asyncio.iscoroutine(awaitable):
        awaitable.close()  # never awaited on purpose: no "never awaited" warning


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


@functools.cache
def glue() -> Any:
    """The JS helpers in ``js_glue/webaccel_glue.js``, evaluated once."""
    from .resources import read_text

    return run_js(read_text("js_glue", "webaccel_glue.js"))


def wasm_heap() -> Any:
    """Pyodide's Emscripten module: ``.HEAPU8`` is the wasm memory as it is *now* (a view taken
    before the heap grows detaches, so JS re-reads it after every await)."""
    import pyodide_js  # type: ignore[import-not-found]

    return pyodide_js._module


def wasm_address(obj: Any) -> int | None:
    """Where *obj*'s bytes start in the wasm heap, or None where that cannot be had cheaply.

    JS that is handed an address reads or writes ``HEAPU8`` directly, without a PyProxy and a
    ``getBuffer`` per object (measured in Pyodide: 1.7 µs for ``array.buffer_info``, ~5 µs for
    ctypes' ``c_char.from_buffer``, against tens of µs for a proxy and its buffer). Only
    meaningful in Pyodide; the caller keeps *obj* alive (and unresized) while JS uses it.
    """
    if not IN_PYODIDE:
        return None
    kind = type(obj)
    if kind is array.array:
        return obj.buffer_info()[0]
    if kind is bytearray:  # the common output buffer: no memoryview, no array type
        return ctypes.addressof(ctypes.c_char.from_buffer(obj)) if obj else None
    if kind is bytes:
        return ctypes.cast(ctypes.c_char_p(obj), ctypes.c_void_p).value or None
    try:
        mv = memoryview(obj)
        if mv.readonly or not mv.c_contiguous or not mv.nbytes:
            return None
        return ctypes.addressof((ctypes.c_char * mv.nbytes).from_buffer(mv))
    except (TypeError, ValueError):
        return None

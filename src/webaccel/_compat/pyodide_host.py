"""The host inside Pyodide (a page, a Web Worker, or Node.js): the only module that imports
``js`` and ``pyodide``. Imported only where ``sys.platform == "emscripten"``."""

from __future__ import annotations

import array
import ctypes  # wasm_address (Pyodide builds it)
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import js  # type: ignore[import-not-found]
import pyodide  # type: ignore[import-not-found]
import pyodide.ffi  # type: ignore[import-not-found]
from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import JsProxy, to_js  # type: ignore[import-not-found]

from ..errors import SyncUnavailableError
from .host import Host, close_unawaited, js_get

T = TypeVar("T")


def _kind() -> str:
    if js_get(js, "window") is not None or hasattr(js, "WorkerGlobalScope"):
        return "browser"
    if js_get(js, "process") is not None:
        return "node"
    return "browser"


class PyodideHost(Host):
    in_pyodide = True

    def __init__(self) -> None:
        self.kind = _kind()
        self.pyodide_version = getattr(pyodide, "__version__", None)

    def js_global(self, name: str) -> Any | None:
        return js_get(js, name)

    def js_namespace(self) -> Any:
        return js

    def create_proxy(self, obj: Any) -> Any:
        return pyodide.ffi.create_proxy(obj)

    def is_js(self, value: Any) -> bool:
        return isinstance(value, JsProxy)

    def to_js(self, value: Any, **options: Any) -> Any:
        return to_js(value, **options)

    def to_py(self, value: Any) -> Any:
        return value.to_py() if isinstance(value, JsProxy) else value

    def to_js_object(self, value: dict[str, Any]) -> Any:
        return to_js(value, dict_converter=js.Object.fromEntries)

    def run_js(self, code: str) -> Any:
        return run_js(code)

    def can_run_sync(self) -> bool:
        fn = getattr(pyodide.ffi, "can_run_sync", None)
        try:
            return bool(fn and fn())
        except Exception:
            return False

    def run_sync(self, awaitable: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        """``pyodide.ffi.run_sync``: needs JSPI and a caller that entered Python through
        ``runPythonAsync`` (or an async handler)."""
        if not self.can_run_sync():
            close_unawaited(awaitable)
            raise SyncUnavailableError(
                "this synchronous call has to wait for the browser, which needs JSPI "
                "(WebAssembly JS Promise Integration) and a caller that entered Python through "
                "runPythonAsync; use the async form instead (e.g. `await detect_async()`)"
            )
        return pyodide.ffi.run_sync(awaitable)

    def wasm_heap(self) -> Any:
        """Pyodide's Emscripten module: ``.HEAPU8`` is the wasm memory as it is *now* (a view
        taken before the heap grows detaches, so JS re-reads it after every await)."""
        import pyodide_js  # type: ignore[import-not-found]  # exists only once Pyodide is up

        return pyodide_js._module

    def wasm_address(self, obj: Any) -> int | None:
        """JS that is handed an address reads or writes ``HEAPU8`` directly, without a PyProxy
        and a ``getBuffer`` per object (measured in Pyodide: 1.7 µs for ``array.buffer_info``,
        ~5 µs for ctypes' ``c_char.from_buffer``, against tens of µs for a proxy and its
        buffer). The caller keeps *obj* alive (and unresized) while JS uses it."""
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

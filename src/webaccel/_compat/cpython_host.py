"""The host outside Pyodide: plain CPython (tests, notebooks, the NumPy backend).

There is no JS here: globals are None, conversions are the identity, and a synchronous call
waits on its coroutine in a fresh event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

from ..errors import SyncUnavailableError, WebAccelError
from .host import Host, close_unawaited

T = TypeVar("T")


class CPythonHost(Host):
    kind = "cpython"
    in_pyodide = False
    pyodide_version = None

    def js_global(self, name: str) -> Any | None:
        return None

    def js_namespace(self) -> Any:
        raise WebAccelError("there is no JS on CPython: this needs Pyodide (a browser or Node)")

    def create_proxy(self, obj: Any) -> Any:
        return obj

    def is_js(self, value: Any) -> bool:
        return False

    def to_js(self, value: Any, **options: Any) -> Any:
        return value

    def to_py(self, value: Any) -> Any:
        return value

    def to_js_object(self, value: dict[str, Any]) -> Any:
        return value

    def run_js(self, code: str) -> Any:
        raise RuntimeError("run_js needs Pyodide (a browser or Node.js host)")

    def can_run_sync(self) -> bool:
        return True

    def run_sync(self, awaitable: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(_as_coroutine(awaitable))
        close_unawaited(awaitable)
        raise SyncUnavailableError(
            "a synchronous webaccel call was made inside a running asyncio event loop, "
            "which it cannot block; await the async form instead (e.g. `await detect_async()`)"
        )

    def wasm_heap(self) -> Any:
        raise RuntimeError("the wasm heap exists only under Pyodide")

    def wasm_address(self, obj: Any) -> int | None:
        return None  # addresses mean something in the wasm heap only


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable

"""The one boundary between webaccel and its host (the micropip ``_compat`` pattern).

``host()`` is the ``Host`` chosen once at import: ``PyodideHost`` inside Pyodide (the only
module that imports ``js`` / ``pyodide``), ``CPythonHost`` elsewhere. The rest of the package
asks it for JS globals, conversions, a way to wait on a promise and the wasm heap; the
module-level functions below are shorthands for the current host's methods. Tests swap in a
fake with ``use_host``.
"""

from __future__ import annotations

import contextlib
import functools
import keyword
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar

from ..errors import SyncUnavailableError, WebAccelError
from .host import Host, cache_file, js_get

T = TypeVar("T")
P = ParamSpec("P")

IN_PYODIDE: bool = sys.platform == "emscripten"

if IN_PYODIDE:  # pragma: no cover - exercised in the browser lanes
    from .pyodide_host import PyodideHost as _Chosen
else:
    from .cpython_host import CPythonHost as _Chosen

_HOST: list[Host] = [_Chosen()]


def host() -> Host:
    """The host webaccel runs on (or the one a test put in place)."""
    return _HOST[0]


@contextlib.contextmanager
def use_host(replacement: Host) -> Iterator[Host]:
    """Run the block with *replacement* as the host (for tests: a fake browser)."""
    previous, _HOST[0] = _HOST[0], replacement
    try:
        yield replacement
    finally:
        _HOST[0] = previous


def host_kind() -> str:
    """``"browser"``, ``"node"`` (Pyodide under Node.js) or ``"cpython"``."""
    return host().kind


def pyodide_version() -> str | None:
    return host().pyodide_version


def js_global(name: str) -> Any | None:
    return host().js_global(name)


def recall(name: str) -> dict[str, Any]:
    return host().recall(name)


def remember(name: str, value: dict[str, Any]) -> None:
    host().remember(name, value)


def js_namespace() -> Any:
    return host().js_namespace()


def create_proxy(obj: Any) -> Any:
    return host().create_proxy(obj)


def navigator() -> Any | None:
    return host().navigator()


def is_js(value: Any) -> bool:
    return host().is_js(value)


def to_js(value: Any, **options: Any) -> Any:
    return host().to_js(value, **options)


def to_py(value: Any) -> Any:
    return host().to_py(value)


def to_js_object(value: dict[str, Any]) -> Any:
    return host().to_js_object(value)


def run_js(code: str) -> Any:
    return host().run_js(code)


def glue() -> Any:
    """The JS helpers in ``js_glue/webaccel_glue.js``, evaluated once."""
    return host().glue


def js_glue(name: str) -> Any:
    """The JS helpers of ``js_glue/<name>``, evaluated once (see ``Host.js_glue``)."""
    return host().js_glue(name)


def can_run_sync() -> bool:
    """True where a sync call may wait on a promise: always on CPython, with JSPI in Pyodide."""
    return host().can_run_sync()


def run_sync(awaitable: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
    """Run an async call to completion from synchronous code (see ``Host.run_sync``)."""
    return host().run_sync(awaitable)


def sync_twin(coroutine_function: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """The synchronous form of *coroutine_function*: the same parameters, ``run_sync`` over it.

    ``load = sync_twin(load_async)`` writes the signature once. In a class body the twin is a
    plain function, so it becomes a method (over this very function, not a subclass's
    override); a classmethod: ``open = classmethod(sync_twin(open_async.__func__))``.
    """

    @functools.wraps(coroutine_function)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(coroutine_function(*args, **kwargs))

    name = coroutine_function.__name__
    sync_name = name.removesuffix("_async")
    if keyword.iskeyword(sync_name):  # import_async -> import_
        sync_name += "_"
    twin.__name__ = sync_name
    twin.__qualname__ = twin.__qualname__.removesuffix(name) + sync_name
    twin.__doc__ = f"Sync ``{name}`` (in the browser through JSPI, see ``run_sync``)."
    return twin


def wasm_heap() -> Any:
    return host().wasm_heap()


def wasm_address(obj: Any) -> int | None:
    return host().wasm_address(obj)


__all__ = [
    "IN_PYODIDE",
    "Host",
    "SyncUnavailableError",
    "WebAccelError",
    "cache_file",
    "can_run_sync",
    "create_proxy",
    "glue",
    "host",
    "host_kind",
    "is_js",
    "js_get",
    "js_global",
    "js_glue",
    "js_namespace",
    "navigator",
    "pyodide_version",
    "recall",
    "remember",
    "run_js",
    "run_sync",
    "sync_twin",
    "to_js",
    "to_js_object",
    "to_py",
    "use_host",
    "wasm_address",
    "wasm_heap",
]

"""Helpers shared by the probes behind ``detect()``: a timeout, error text, "not here" sections."""

from __future__ import annotations

import asyncio
import platform
import sys
from collections.abc import Awaitable, Callable
from typing import Any

PROBE_TIMEOUT_S = 30.0


def probe_error(exc: BaseException) -> str:
    """An exception as one line for a report, its type named once."""
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"timed out after {PROBE_TIMEOUT_S:.0f} s"
    text = str(exc).strip() or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


async def guard(probe: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run *probe* with a timeout; a probe that breaks reports why, it never breaks detect()."""
    try:
        return await asyncio.wait_for(probe(), PROBE_TIMEOUT_S)
    except Exception as exc:
        return {"available": False, "error": probe_error(exc)}


def not_in_js(what: str) -> dict[str, Any]:
    """The section of a backend that needs JS, on a host without it."""
    return {
        "available": False,
        "error": f"not running under Pyodide ({sys.implementation.name} "
        f"{platform.python_version()}): {what} needs a browser or Node.js host",
    }


def not_probed() -> dict[str, Any]:
    return {"available": False, "error": "not probed"}

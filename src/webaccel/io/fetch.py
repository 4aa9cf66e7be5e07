"""``fetch_bytes(url)``: a file's bytes from a URL or a path, on every host.

In a page (Pyodide) it is the browser's ``fetch`` (relative URLs resolve against the page);
on CPython ``http(s)://`` and ``file://`` go through ``urllib`` in a worker thread, anything
else is a local path. A missing file (HTTP 404, no such path) is None, so a model's optional
files can simply be absent; any other failure raises ``OSError`` naming the URL.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

from .. import _compat


async def fetch_bytes(url: str) -> bytes | None:
    """The bytes at *url*, or None where there is no such file (HTTP 404, a missing path)."""
    if not isinstance(url, str):
        raise TypeError(f"fetch_bytes takes a URL or path as str, not {type(url).__name__}")
    if _compat.host().in_pyodide:  # pragma: no cover - exercised in the browser lanes
        return await _browser_fetch(url)
    if url.startswith(("http://", "https://", "file://")):
        return await asyncio.to_thread(_urllib_fetch, url)
    path = Path(url)
    return path.read_bytes() if path.is_file() else None


async def _browser_fetch(url: str) -> bytes | None:  # pragma: no cover - browser only
    try:
        response = await _compat.js_global("fetch")(url)
    except Exception as exc:  # a network error rejects the promise (a JsException)
        raise OSError(f"fetching {url}: {exc}") from None
    if response.status == 404:
        return None
    if not response.ok:
        raise OSError(f"fetching {url}: HTTP {response.status} {response.statusText}")
    return (await response.arrayBuffer()).to_bytes()


def _urllib_fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise OSError(f"fetching {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if url.startswith("file://") and isinstance(exc.reason, FileNotFoundError):
            return None
        raise OSError(f"fetching {url}: {exc.reason}") from None

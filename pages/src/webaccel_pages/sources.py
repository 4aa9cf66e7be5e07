"""A model directory on a web server as the embedder's lazy sources: one fetch per file, made
only when the store lacks the model. Used by the embed page and by the bert benchmark."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webaccel.models.sentence_embedder import REQUIRED, SOURCE_FILES


def url_sources(base_url: str, fetched: list[str] | None = None) -> dict[str, Callable[[], Any]]:
    """``{file name: async () -> bytes}`` for every file of ``SOURCE_FILES`` under *base_url*
    (ending in ``/``). A missing optional file (the int4 weights, say) gives None; a missing
    required one raises OSError naming the URL. Each file actually fetched is appended to
    *fetched*, so a caller can tell a store hit (nothing fetched) from a network load."""
    seen = fetched if fetched is not None else []

    def one(name: str) -> Callable[[], Any]:
        async def get() -> Any:
            # Only pages fetch by URL (this module runs in Pyodide); imported here so that the
            # host tools can import the pages' modules on CPython.
            from pyodide.http import pyfetch  # type: ignore[import-not-found]

            response = await pyfetch(base_url + name)
            if not response.ok:
                if name in REQUIRED:
                    raise OSError(f"fetching {base_url + name}: HTTP {response.status}")
                return None
            seen.append(name)
            return await response.bytes()

        return get

    return {name: one(name) for name in SOURCE_FILES}

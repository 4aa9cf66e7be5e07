"""The one-release bridge from the store's old tensor-level calls to ``webaccel.weights``.

Before the store became bytes only, ``Store.load`` / ``load_async`` returned tensors on a device
(through the sharing registry and a hot cache), and ``save`` / ``repair`` took device tensors.
Those calls keep working for one release, each with a DeprecationWarning naming its
replacement, without the store importing anything above it: ``webaccel.weights`` installs an
``Upper`` here when it is imported (``import webaccel`` does, and every import of
``webaccel.store`` runs ``webaccel/__init__`` first).

Why a hook and not a ``Store`` subclass in ``webaccel.weights``: users hold the plain ``Store``
that ``webaccel.store.Store.open`` returns, so the old methods must be on that class; a hook
filled from above keeps the import arrows pointing down, and deleting this module (and the
methods that call it) next release removes the old API in one place.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Protocol

from .errors import StoreError


class Upper(Protocol):
    """What ``webaccel.weights`` provides to the store's deprecated calls."""

    moved: Mapping[str, Any]  # names that left webaccel.store for webaccel.weights

    async def load(self, store: Any, name: str, device: Any, **options: Any) -> dict[str, Any]:
        """``webaccel.weights.load_async`` with the store's own (legacy) hot cache."""
        ...

    async def to_host(self, value: Any) -> tuple[Any, str, tuple[int, ...]] | None:
        """A device tensor's ``(bytes, dtype, shape)``; None for anything else."""
        ...

    def hot(self, store: Any) -> Any:
        """The store's legacy hot cache (``Store(hot_cache_bytes=...)``)."""
        ...


_installed: list[Upper] = []


def install(upper: Upper) -> None:
    """Called once by ``webaccel.weights`` at import."""
    _installed[:] = [upper]


def upper(what: str) -> Upper:
    if not _installed:
        raise StoreError(f"{what} needs webaccel.weights: `import webaccel` (or webaccel.weights)")
    return _installed[0]


BYTES_ONLY = "the store keeps bytes; device tensors live in webaccel.weights"
SPLIT = "webaccel.store was split into one module per idea"


def deprecated(old: str, new: str, why: str = BYTES_ONLY) -> None:
    """Warn that *old* goes next release, and *why*; *new* is what to use instead."""
    warnings.warn(
        f"{old} is deprecated and goes in the next release ({why}): use {new}",
        DeprecationWarning,
        stacklevel=3,
    )

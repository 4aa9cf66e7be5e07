"""The store's errors: each names the model, version, tensor or chunk it is about."""

from __future__ import annotations

from ..errors import WebAccelError


class StoreError(WebAccelError):
    """Base class of the store's errors."""


class StoreUnavailableError(StoreError):
    """No backend for this host yet (IndexedDB inside Pyodide)."""


class ModelNotFoundError(StoreError, LookupError):
    """No such model (or version) in the store."""


class CorruptChunkError(StoreError):
    """A chunk's bytes do not match its sha-256 (or it is missing or will not decompress)."""

    def __init__(self, model: str, version: str, tensor: str, chunk: str, why: str) -> None:
        self.model, self.version, self.tensor, self.chunk = model, version, tensor, chunk
        super().__init__(
            f"model {model!r} version {version!r}: chunk {chunk} of tensor {tensor!r} is "
            f"corrupt ({why}); re-fetch it with store.repair({model!r}, source) or "
            f"load(..., source=...)"
        )


class ChunkCheckError(StoreError):
    """Raised by a backend's ``get_chunk`` fast path: the chunk is missing, fails its
    sha-256, will not decode or has the wrong length (*why* says which). The store turns it
    into a ``CorruptChunkError`` naming the model and tensor."""

    def __init__(self, why: str) -> None:
        self.why = why
        super().__init__(why)


class CorruptExportError(StoreError):
    """An export file failed verification on import."""


class QuotaExceededError(StoreError):
    """A model does not fit in the byte budget even after evicting every unpinned model."""

    def __init__(
        self, model: str, needed: int, budget: int, used: int, freeable: int, pinned: list[str]
    ) -> None:
        self.needed, self.budget, self.used, self.pinned = needed, budget, used, pinned
        self.freeable = freeable
        super().__init__(
            f"cannot store model {model!r}: it needs {needed} new bytes ({human(needed)}) and "
            f"the budget is {budget} bytes ({human(budget)}) with {used} in use; evicting every "
            f"unpinned model would free only {freeable}; pinned: "
            f"{', '.join(pinned) if pinned else 'none'}. Nothing was written."
        )


def human(n: int) -> str:
    """*n* bytes for people: ``512 B``, ``1.5 KiB``, ... ``3.0 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"

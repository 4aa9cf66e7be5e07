"""One-release alias of ``webaccel.store.backends.files`` (where ``FileBackend`` lives now)."""

from __future__ import annotations

from . import legacy
from .backends.files import FileBackend

__all__ = ["FileBackend"]

legacy.deprecated("webaccel.store.files", "webaccel.store.backends.files", legacy.SPLIT)

"""One-release alias: ``webaccel.store.core`` was split into ``errors``, ``schema``, ``chunks``,
``codecs``, ``archive``, ``reading``, ``store`` and ``backends``; its public names still import
from here (the hot cache moved to ``webaccel.weights``)."""

from __future__ import annotations

from typing import Any

from . import *  # noqa: F403 (the package's public names, declared once there)
from . import __all__ as _package_names
from . import legacy
from .archive import EXPORT_MAGIC
from .chunks import MiB
from .reading import Progress
from .schema import MIGRATIONS, manifest_key
from .store import Source

# The package's names that the old module had (FileBackend lived in store.files, Reading is
# new), and the old module's names that the package does not export.
__all__ = [
    *(name for name in _package_names if name not in {"FileBackend", "Reading"}),
    "EXPORT_MAGIC",
    "MIGRATIONS",
    "MiB",
    "Progress",
    "Source",
    "manifest_key",
]

legacy.deprecated("webaccel.store.core", "webaccel.store (or its modules)", legacy.SPLIT)


def __getattr__(name: str) -> Any:
    if name == "HotCache":
        legacy.deprecated("webaccel.store.core.HotCache", "webaccel.weights.HotCache")
        return legacy.upper("webaccel.store.core.HotCache").moved[name]
    raise AttributeError(f"module 'webaccel.store.core' has no attribute {name!r}")

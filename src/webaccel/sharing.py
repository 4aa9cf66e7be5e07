"""One-release alias of ``webaccel.weights.sharing`` and ``webaccel.weights.report`` (sharing
and the memory report moved into ``webaccel.weights``)."""

from __future__ import annotations

from .weights.report import (
    BackendMemory,
    MemoryReport,
    ModelMemory,
    human_bytes,
    memory_report,
    resident_bytes,
)
from .weights.sharing import (
    REGISTRY,
    UNNAMED,
    SharingRegistry,
    content_key,
    share,
    share_async,
    shared_models,
    shared_tensor,
)

__all__ = [
    "REGISTRY",
    "UNNAMED",
    "BackendMemory",
    "MemoryReport",
    "ModelMemory",
    "SharingRegistry",
    "content_key",
    "human_bytes",
    "memory_report",
    "resident_bytes",
    "share",
    "share_async",
    "shared_models",
    "shared_tensor",
]

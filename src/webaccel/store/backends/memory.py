"""``MemoryBackend``: the store's key-value interface over dicts (scratch space, tests, and the
reference for a new backend: the smallest thing that satisfies the contract)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .base import NAMESPACES, Backend, Value, check_key, check_namespace


class MemoryBackend(Backend):
    """Namespaces as dicts of bytes; nothing survives the process."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, bytes]] = {ns: {} for ns in NAMESPACES}

    def __repr__(self) -> str:
        return f"MemoryBackend({sum(len(v) for v in self.data.values())} keys)"

    async def get(self, ns: str, key: str) -> bytes | None:
        return self.data[check_namespace(ns)].get(check_key(key))

    async def put_many(self, ns: str, items: Mapping[str, Value]) -> None:
        """All or none: every value is copied before any lands."""
        copies = {check_key(k): bytes(v) for k, v in items.items()}
        self.data[check_namespace(ns)].update(copies)

    async def delete_many(self, ns: str, keys: Iterable[str]) -> None:
        space = self.data[check_namespace(ns)]
        for k in [check_key(k) for k in keys]:
            space.pop(k, None)

    async def keys(self, ns: str) -> list[str]:
        return sorted(self.data[check_namespace(ns)])

"""The store's deprecated tensor-level calls, answered here (see ``webaccel.store.legacy``).

``Store.load`` / ``load_async`` become ``weights.load_async`` with the store's own hot cache
(``Store(hot_cache_bytes=...)``, kept on the store so that it lives and dies with it), and
device tensors given to ``Store.save`` / ``repair`` are read back to bytes. Installed into the
store when ``webaccel.weights`` is imported; removed with the old calls next release.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..store import Store
from ..store import legacy as bridge
from ..tensor import Tensor
from .hot import HotCache
from .loader import load_async, to_host


class _Upper:
    moved: ClassVar[dict[str, Any]] = {"HotCache": HotCache}

    async def load(self, store: Any, name: str, device: Any, **options: Any) -> dict[str, Any]:
        cache = self.hot(store) if store.hot_cache_bytes else None
        return await load_async(store, name, device, cache=cache, **options)

    async def to_host(self, value: Any) -> Any:
        return await to_host(value) if isinstance(value, Tensor) else None

    def hot(self, store: Store) -> HotCache:
        if store._legacy_hot is None:
            store._legacy_hot = HotCache(store.hot_cache_bytes)
        return store._legacy_hot


def install() -> None:
    bridge.install(_Upper())

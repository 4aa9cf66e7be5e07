"""``HotCache``: loaded device tensors kept for the next load, least recently used first out.

``weights.load_async(store, name, device, cache=HotCache(max_bytes))`` serves a tensor it
loaded before from here (the same object), without touching the store or the sharing registry.
Entries are keyed by the store version's commit number, so a version saved again, deleted or
evicted is never served: its entries are dropped at the next load through the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class HotCache:
    """An in-memory LRU bounded in bytes (an item larger than the bound is never kept)."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("HotCache max_bytes must be >= 0")
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __repr__(self) -> str:
        return f"<HotCache {len(self)} items, {self.nbytes} of {self.max_bytes} bytes>"

    def get(self, key: Any, default: Any = None) -> Any:
        item = self._items.get(key)
        if item is None:
            return default
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Any, value: Any, nbytes: int) -> None:
        self.pop(key)
        if nbytes > self.max_bytes:
            return
        self._items[key] = (value, nbytes)
        self.nbytes += nbytes
        while self.nbytes > self.max_bytes:
            _, (_, n) = self._items.popitem(last=False)
            self.nbytes -= n

    def pop(self, key: Any) -> Any:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self.nbytes -= item[1]
        return item[0]

    def keys(self) -> list[Any]:
        return list(self._items)

    def discard_where(self, pred: Callable[[Any], bool]) -> None:
        for key in [k for k in self._items if pred(k)]:
            self.pop(key)

    def clear(self) -> None:
        self._items.clear()
        self.nbytes = 0

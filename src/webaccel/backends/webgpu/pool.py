"""A size-bucketed pool of GPU buffers (pure Python: buffers are made by a callback).

``bucket_size(n)``: 256 B at least, then powers of two with 4 steps each (1, 1.25, 1.5, 1.75 x
2**k), so a buffer is at most 25 % larger than asked while shape-varying workloads still hit
the same few buckets. ``BufferPool(create, destroy, cap_bytes)`` keeps released buffers per
bucket up to ``cap_bytes`` (the largest go first once over), and counts what it did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MIN_BUCKET = 256
STEPS_PER_OCTAVE = 4


def bucket_size(nbytes: int) -> int:
    if nbytes <= MIN_BUCKET:
        return MIN_BUCKET
    top = 1 << (int(nbytes) - 1).bit_length()  # next power of two >= nbytes
    step = top // (2 * STEPS_PER_OCTAVE)  # finer steps between top/2 and top
    return -(-int(nbytes) // step) * step


class BufferPool:
    """Free lists of buffers keyed by bucket size; counters for leak tests."""

    def __init__(
        self,
        create: Callable[[int], Any],
        destroy: Callable[[Any], None],
        cap_bytes: int,
    ) -> None:
        self._create = create
        self._destroy = destroy
        self.cap_bytes = int(cap_bytes)
        self._free: dict[int, list[Any]] = {}
        self.live_bytes = 0  # bytes of buffers handed out and not yet released
        self.live_buffers = 0
        self.pooled_bytes = 0
        self.created_buffers = 0
        self.destroyed_buffers = 0
        self.reused_buffers = 0

    @property
    def pooled_buffers(self) -> int:
        return sum(len(v) for v in self._free.values())

    def acquire(self, nbytes: int) -> tuple[Any, int]:
        """A buffer of at least *nbytes*, and its size (the bucket)."""
        size = bucket_size(nbytes)
        free = self._free.get(size)
        if free:
            buf = free.pop()
            self.pooled_bytes -= size
            self.reused_buffers += 1
        else:
            buf = self._create(size)
            self.created_buffers += 1
        self.live_bytes += size
        self.live_buffers += 1
        return buf, size

    def give_back(self, buf: Any, size: int) -> None:
        self.live_bytes -= size
        self.live_buffers -= 1
        self._free.setdefault(size, []).append(buf)
        self.pooled_bytes += size
        self._shrink(self.cap_bytes)

    def forget(self, size: int) -> None:
        """A live buffer that was destroyed outside the pool (e.g. the device went away)."""
        self.live_bytes -= size
        self.live_buffers -= 1

    def trim(self, keep_bytes: int = 0) -> None:
        """Destroy pooled buffers until at most *keep_bytes* stay pooled."""
        self._shrink(keep_bytes)

    def _shrink(self, limit: int) -> None:
        while self.pooled_bytes > limit:
            size = max(s for s, v in self._free.items() if v)
            buf = self._free[size].pop()
            if not self._free[size]:
                del self._free[size]
            self.pooled_bytes -= size
            self.destroyed_buffers += 1
            self._destroy(buf)

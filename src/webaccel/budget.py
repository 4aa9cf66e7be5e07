"""A device-memory budget: a limit per device, resident weights evicted least recently used.

``webaccel.set_memory_limit(nbytes, backend=...)`` caps a device's resident storage bytes
(``Device.live_bytes``). An allocation that would pass the cap first evicts, least recently
used first, storages that

- have a restore record that can read their bytes again (``webaccel.restore``: a store
  tensor, the source file, a host copy): the weights of models loaded from a store, a
  directory, a URL or fetchers, and small uploads;
- are not in use: no program reading them is being recorded or run right now
  (``Device.in_use`` pins a program's inputs while it is compiled and run, and a captured
  graph's constants while it replays).

Eviction frees the buffer and keeps the record: the storage's handle becomes ``EVICTED``. Its
next use (a program reading it, a read-back) fills a new buffer from the record, as a lost
device's storages come back, so the answers do not change. A captured graph built over an
evicted storage (a WebGPU replay plan's bind groups, a WebNN graph's constants) is dropped at
once and recompiles on its next call. The clock is per storage: every run touches its inputs,
so a model's weights age together and leave together.

An allocation that does not fit even after evicting all of that raises ``MemoryLimitError``
naming the device, the limit, the request and what holds the memory (per model where the
weights registry knows, in use, computed on the device).

What the limit counts is storages (weights, inputs, results): not the scratch buffers of a
program while it runs, a WebGPU replay plan's intermediates, or the copy of its constants a
WebNN graph keeps (dropped with the graph when they are evicted). Free pooled buffers are
destroyed on eviction (``Device.trim``), so evicted bytes really go back to the browser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from .errors import MemoryLimitError, WebAccelError
from .restore import is_lost


class Evicted:
    """The handle of an evicted storage. Code that uses a handle makes the storage resident
    first (``Device.make_resident``); reaching this one means a path that did not."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        raise WebAccelError(
            "internal: a storage evicted under the memory limit was used without being made "
            "resident first (Device.make_resident)"
        )

    def __repr__(self) -> str:
        return "<evicted>"


EVICTED = Evicted()


def is_evicted(handle: Any) -> bool:
    return handle is EVICTED


def check_limit(nbytes: Any, who: str = "set_memory_limit") -> int | None:
    """*nbytes* as a limit: None (no limit) or an int >= 0 (bool is not a size)."""
    if nbytes is None:
        return None
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(
            f"{who}: the limit must be a number of bytes (an int) or None, not "
            f"{type(nbytes).__name__} {nbytes!r}"
        )
    if nbytes < 0:
        raise ValueError(f"{who}: the limit must be >= 0 bytes, got {nbytes}")
    return nbytes


@dataclass
class BudgetStats:
    """A device's memory-budget figures (``Device.budget_stats()``)."""

    limit: int | None = None
    evictions: int = 0  # storages evicted, in all
    evicted_bytes: int = 0  # their bytes, in all
    readmissions: int = 0  # evicted storages made resident again on use
    readmitted_bytes: int = 0
    invalidated_traces: int = 0  # captured graphs dropped because a constant was evicted
    peak_bytes: int = 0  # the most live bytes seen since the limit was set
    refused: int = 0  # MemoryLimitErrors raised

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evictable(storage: Any) -> bool:
    """Resident, alive, not in use, and with a record that can bring its bytes back."""
    handle = storage.handle
    record = storage.restore
    return (
        storage.refcount > 0
        and storage.pins == 0
        and storage.nbytes > 0
        and handle is not None
        and not is_evicted(handle)
        and not is_lost(handle)
        and record is not None
        and record.restorable
    )


def victims(storages: Iterable[Any], need: int) -> tuple[list[Any], int]:
    """The least recently used evictable storages whose bytes add up to *need* (all of them,
    and their bytes, where they do not)."""
    chosen, freed = [], 0
    for s in sorted((s for s in storages if evictable(s)), key=lambda s: s.last_used):
        if freed >= need:
            break
        chosen.append(s)
        freed += s.nbytes
    return chosen, freed


# Functions naming who holds a device's bytes, as (holder, bytes) rows: ``webaccel.weights``
# registers the models of its sharing registry (this layer cannot import it).
HOLDERS: list[Callable[[Any], list[tuple[str, int]]]] = []


def holders_text(device: Any) -> str:
    """What holds *device*'s resident bytes, for the error: per model (weights registry), in
    use now, other evictable, computed on the device (no record: activations, results)."""
    storages = [
        s
        for s in list(device._storages or ())
        if s.refcount > 0 and s.handle is not None and not is_evicted(s.handle)
    ]
    storages = [s for s in storages if not is_lost(s.handle)]
    pinned = sum(s.nbytes for s in storages if s.pins)
    computed = sum(s.nbytes for s in storages if not s.pins and s.restore is None)
    other = sum(
        s.nbytes
        for s in storages
        if not s.pins and s.restore is not None and not s.restore.restorable
    )
    parts = [
        f"in use by the program being run {pinned} bytes",
        f"computed on the device (nothing to restore them from) {computed} bytes",
        f"host data not kept {other} bytes",
    ]
    for holder in HOLDERS:
        rows = holder(device)
        if rows:
            parts.append("by model: " + ", ".join(f"{name} {n} bytes" for name, n in rows))
    return "; ".join(parts)


def limit_error(device: Any, request: int, what: str, freeable: int) -> MemoryLimitError:
    return MemoryLimitError(
        f"{what} of {request} bytes does not fit the {device.name} device's memory limit of "
        f"{device.memory_limit} bytes: {device.live_bytes} bytes are resident and evicting "
        f"every weight not in use frees only {freeable}. Held: {holders_text(device)}. "
        f"Raise the limit (webaccel.set_memory_limit), release tensors or models, or see "
        "webaccel.memory_report()"
    )

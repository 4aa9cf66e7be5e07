"""How a storage's bytes come back after its device was lost: one restore record per storage.

A browser can take a GPU device (driver reset, ``GPUDevice.destroy()``) or a WebNN context
(``MLContext.destroy()``, its ``lost`` promise) away at any time, and every buffer on it goes
with it. ``Device.recover_async`` (``webaccel.device``) then makes a new context behind the same
``Device`` object and gives each live storage a new buffer, filled from its record:

- ``HostCopy``: bytes kept in Python memory. ``Device.upload`` keeps one for uploads of at
  most ``Device.host_copy_max_bytes`` (64 KiB: inputs, small constants); nothing larger is
  copied by default, so weights cost no host memory (a larger upload gets a ``NoCopy``: where
  it came from, for the message).
- ``Reread``: a callable that reads the bytes again (a file, a URL, a fetcher).
- ``webaccel.weights.StoredTensor``: a tensor of a store model version, read again from the
  store; ``webaccel.models.loader`` records the source file a weight came from.

Records with the same ``group`` are read together (``read_group``: one store read, one
file read). A storage without a record (computed on the device: an activation, a result) or
whose record fails is lost: its handle becomes a ``LostHandle``, and any use of it raises
``DeviceLostError`` naming the storage and why it could not come back.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .errors import DeviceLostError


class Restore:
    """Where a storage's bytes can be read again. Subclasses set ``what`` (for messages) and
    implement ``read_async`` (the storage's whole bytes, a bytes-like object); records of one
    ``group`` are read by one ``read_group`` call."""

    what = "a storage"
    restorable = True  # False: a record of where the bytes came from that cannot read them

    @property
    def group(self) -> Hashable:
        return id(self)

    async def read_async(self) -> Any:
        raise NotImplementedError

    @classmethod
    async def read_group(cls, records: Sequence[Restore]) -> AsyncIterator[tuple[int, Any]]:
        """``(index, bytes)`` for each of *records* (one group, all of this class), one at a
        time so that the restore holds little host memory at once; a record that fails
        raises (the rest of its group is then lost too)."""
        for i, r in enumerate(records):
            yield i, await r.read_async()

    @property
    def holds_bytes(self) -> int:
        """Bytes this record keeps in Python memory (``HostCopy``), for the memory report."""
        return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.what}>"


class HostCopy(Restore):
    """The bytes themselves, kept in Python memory."""

    def __init__(self, data: Any, what: str = "a host copy") -> None:
        self.data, self.what = data, what

    async def read_async(self) -> Any:
        return self.data

    @property
    def holds_bytes(self) -> int:
        return memoryview(self.data).nbytes


class NoCopy(Restore):
    """Where a storage's bytes came from, kept only to say so: they cannot be read again
    (host data too large to copy by default, a ``{name: bytes}`` model source)."""

    restorable = False

    def __init__(self, what: str) -> None:
        self.what = what

    async def read_async(self) -> Any:
        raise LookupError(f"{self.what}: its bytes were not kept")


class Reread(Restore):
    """Bytes read again by *read*, a callable taking no arguments (sync or async)."""

    def __init__(self, read: Any, what: str, group: Hashable | None = None) -> None:
        self._read, self.what, self._group = read, what, group

    @property
    def group(self) -> Hashable:
        return id(self) if self._group is None else self._group

    async def read_async(self) -> Any:
        data = self._read()
        if inspect.isawaitable(data):
            data = await data
        return data


class LostHandle:
    """What a storage's handle becomes when its bytes could not come back after a device
    loss: every attribute a backend reads from a handle raises ``DeviceLostError`` naming the
    storage, so a lost storage fails where it is used (read, bound to a graph), clearly."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __getattr__(self, name: str) -> Any:
        raise DeviceLostError(self.message)

    def __repr__(self) -> str:
        return f"<LostHandle: {self.message}>"


def is_lost(handle: Any) -> bool:
    return type(handle) is LostHandle


@dataclass
class RecoveryStats:
    """A device's loss figures (``Device.recovery_stats()``): the last loss's unless named
    otherwise."""

    losses: int = 0  # losses recovered from, in all
    last_reason: str | None = None
    rebuild_ms: float | None = None  # new context + every storage restored
    recovery_ms: float | None = None  # the call that found the loss -> its result
    restored_storages: int = 0
    restored_bytes: int = 0
    lost_storages: int = 0  # live storages with nothing to restore from
    recompiled_traces: int = 0  # captured signatures recompiled since the loss

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

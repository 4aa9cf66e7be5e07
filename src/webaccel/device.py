"""Devices: the small interface each backend implements, refcounted storages, the backend table.

A backend is one package with a ``Device`` subclass (the tinygrad shape): ``alloc``/``free``
raw buffers, ``copy_in``/``copy_out`` bytes, ``compile`` an ``ir.Program`` and ``run`` it.
Storages are refcounted: views and nodes that share a buffer acquire it; the last release frees
it (a backend may pool it). A finalizer warns (``StorageLeakWarning``, a ResourceWarning)
about storages dropped without release, frees them and counts them in ``Device.leaked_storages``.
Identical weights are shared across models by ``webaccel.weights`` (one storage, many holders).

Device loss: a backend whose context the browser can take away (``losable``: a WebGPU device, a
WebNN context) is rebuilt behind the same ``Device`` object by ``recover_async``, which every
entry point calls first once the loss is known (``ensure_live``): a new context, each live
storage given a new buffer filled from its restore record (``webaccel.restore``: the store, the
source file, a host copy), captured graphs recompiled on their next call (``webaccel.capture``
compares ``Device.generation``). A storage with nothing to restore from (computed on the device)
is lost: using it raises ``DeviceLostError`` naming it. A call in flight at the moment of loss
(its commands went to the dying context) fails with ``DeviceLostError``; the calls that take
host data and give host results redo themselves once on the rebuilt device
(``retry_after_loss_async``: ``Captured.run_async`` and the sentence embedder's ``encode``).
``recovery_stats()`` reports the losses, what came back and how long it took.

Memory budget (``webaccel.budget``): ``set_memory_limit`` caps a device's resident bytes; an
allocation over it evicts the least recently used storages not in use (``in_use``) that have a
restore record, and ``make_resident`` brings one back on its next use from that record.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, TypeVar

from . import _compat
from .budget import EVICTED, BudgetStats, check_limit, is_evicted, limit_error, victims
from .dtypes import DType
from .errors import DeviceLostError, MemoryLimitError, SyncUnavailableError, WebAccelError
from .ir import Program
from .restore import HostCopy, LostHandle, NoCopy, RecoveryStats, Restore, is_lost

T = TypeVar("T")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    runs: int = 0
    compiled: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "runs": self.runs,
            "programs": len(self.compiled),
        }


class StorageLeakWarning(ResourceWarning):
    """A device storage was garbage-collected while still acquired (a missing ``release()``)."""


class Storage:
    """A device buffer of ``numel`` elements of ``dtype``, shared by refcount.

    ``acquire()`` adds a reference and returns the storage; ``release()`` drops one and frees
    the buffer at zero; ``with storage:`` releases on exit (so ``with s.acquire(): ...`` holds it
    for the block). Releasing a freed storage raises (a double free).
    """

    __slots__ = (
        "__weakref__",
        "device",
        "dtype",
        "handle",
        "last_used",
        "nbytes",
        "numel",
        "pins",
        "refcount",
        "restore",
        "watchers",
    )

    def __init__(self, device: Device, handle: Any, numel: int, dtype: DType) -> None:
        nbytes = dtype.nbytes(numel)
        if device.memory_limit is not None:  # the backend allocated it: make room, or give it
            try:  # back (the entry points reserve first, so this rarely evicts)
                device.reserve(nbytes, "an allocation")
            except MemoryLimitError:
                device.free(handle, nbytes)
                raise
        self.device, self.handle, self.numel, self.dtype = device, handle, numel, dtype
        self.nbytes = nbytes
        self.refcount = 1
        # where the bytes come back from if the device is lost or it is evicted
        # (webaccel.restore); None: they were computed on the device and go with it
        self.restore: Restore | None = None
        self.pins = 0  # programs using it now: never evicted meanwhile (Device.in_use)
        self.last_used = device._clock  # the device's LRU clock at its last use
        self.watchers: weakref.WeakSet[Any] | None = None  # told when it is evicted
        device.live_bytes += nbytes
        device.live_storages += 1
        device._storages.add(self)
        if device.live_bytes > device.budget.peak_bytes:
            device.budget.peak_bytes = device.live_bytes

    def acquire(self) -> Storage:
        if self.refcount <= 0:
            raise WebAccelError("acquire() on a storage that was already freed")
        self.refcount += 1
        return self

    def release(self) -> None:
        if self.refcount <= 0:
            raise WebAccelError("release() on a storage that was already freed (double free)")
        self.refcount -= 1
        if self.refcount == 0:
            self.restore = None
            if is_lost(self.handle) or is_evicted(self.handle):  # no buffer: its bytes were
                return  # taken off the counts at the loss or the eviction
            self.device.live_bytes -= self.nbytes
            self.device.live_storages -= 1
            if self.handle is not None:  # None: a restore after a device loss is under way
                self.device.free(self.handle, self.nbytes)
            self.handle = None

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def freed(self) -> bool:
        return self.refcount <= 0

    @property
    def lost(self) -> bool:
        """Its bytes went with a lost device and had nothing to be restored from."""
        return is_lost(self.handle)

    @property
    def evicted(self) -> bool:
        """Its buffer was freed under the memory limit; its restore record brings it back."""
        return is_evicted(self.handle)

    def describe(self) -> str:
        """What it is, for messages: size, dtype, device, and where its bytes come back from."""
        origin = "computed on the device" if self.restore is None else self.restore.what
        return (
            f"a {self.numel}-element {self.dtype.name} storage ({self.nbytes} bytes) on "
            f"{self.device.name}, {origin}"
        )

    def __repr__(self) -> str:
        state = f"refcount {self.refcount}" if self.refcount > 0 else "freed"
        if self.refcount > 0 and self.lost:
            state += ", lost with its device"
        elif self.refcount > 0 and self.evicted:
            state += ", evicted"
        return f"<Storage {self.nbytes} bytes {self.dtype.name} on {self.device.name}, {state}>"

    def __del__(self) -> None:
        if getattr(self, "refcount", 0) > 0 and self.handle is not None:
            self.device.leaked_storages = getattr(self.device, "leaked_storages", 0) + 1
            warnings.warn(
                f"a {self.nbytes}-byte {self.device.name} storage was dropped with refcount "
                f"{self.refcount}: freeing it now (release() it explicitly)",
                StorageLeakWarning,
                stacklevel=2,
            )
            self.refcount = 1
            self.release()


class Device:
    """Base class of backends. Subclasses set ``name``, their op table, and implement the six
    methods of the backend interface.

    The op table: ``ops`` maps every op of ``webaccel.ops.OPS`` this backend runs to its
    implementation (whatever the backend's compiler calls: a NumPy function, a WGSL kernel
    launcher, a WebNN builder); ``unsupported`` maps each other op to the reason it falls back
    (placement moves it to the next backend). A test checks every backend covers ``OPS``.

    Optional capabilities are declared here as ``None`` and overridden by the backends that have
    them (never found with ``getattr``):
    ``compile_captured(program, consts)`` builds captured weights into the compiled program
    (WebNN constants); ``capture_runner(compiled, inputs, sources)`` gives a replay plan that
    runs a captured program with fewer Python steps; ``write_from_js(handle, chunks)`` uploads
    straight from JS buffers (the store's chunks) without a copy through Python.
    """

    name = "abstract"
    ops: ClassVar[Mapping[str, Any]] = {}
    unsupported: ClassVar[Mapping[str, str]] = {}
    compile_captured: Callable[..., Any] | None = None
    capture_runner: Callable[..., Any] | None = None
    write_from_js: Callable[..., Any] | None = None
    # The largest buffer one op's output may take, in bytes (WebGPU's binding limit, WebNN's
    # maxTensorByteLength); None: no limit of the device's own. Ops check their outputs
    # against it when recorded (``arguments.check_fits``), before anything reaches the device.
    max_buffer_bytes: int | None = None
    max_buffer_source: str | None = None  # where that limit comes from, for the error
    # Device loss (see the module docstring): a backend whose context the browser can take
    # away sets ``losable`` and implements ``lost_reason`` and ``_rebuild_async``.
    losable: ClassVar[bool] = False
    # Uploads of at most this many bytes keep a host copy to be restored from after a loss
    # (inputs, small constants); larger ones need a store, a source file or set_restore().
    host_copy_max_bytes = 64 << 10

    def __init__(self) -> None:
        self.cache = CacheStats()
        self.live_bytes = 0
        self.live_storages = 0
        self.leaked_storages = 0  # storages the finalizer had to free (see StorageLeakWarning)
        # the live storages: restored after a loss, evicted under a memory limit
        self._storages: weakref.WeakSet[Storage] = weakref.WeakSet()
        # -- the memory budget (webaccel.budget): the limit, the LRU clock, the figures, and
        # the readmission in progress (calls that need an evicted storage wait for it)
        self.memory_limit: int | None = None
        self._clock = 0
        self.budget = BudgetStats()
        self._readmitting: asyncio.Future[None] | None = None
        # -- device loss: the context's generation (captured graphs compiled for an older one
        # recompile), the rebuild in progress, the figures
        self.generation = 0
        self._recovering: asyncio.Future[None] | None = None
        self._recovery_started: float | None = None  # until the first result after a rebuild
        self.recovery = RecoveryStats()

    # -- the backend interface ----------------------------------------------------------------
    def alloc(self, nbytes: int) -> Any:
        raise NotImplementedError

    def free(self, handle: Any, nbytes: int) -> None:
        raise NotImplementedError

    def copy_in(self, handle: Any, data: memoryview) -> None:
        raise NotImplementedError

    async def copy_out_async(self, handle: Any, nbytes: int, offset: int = 0) -> bytearray:
        raise NotImplementedError

    def compile(self, program: Program) -> Any:
        raise NotImplementedError

    def run(self, compiled: Any, inputs: list[Storage]) -> list[Storage]:
        raise NotImplementedError

    # -- shared helpers -----------------------------------------------------------------------
    def storage(self, numel: int, dtype: DType) -> Storage:
        if self._recovering is not None or self.lost_reason is not None:
            self.recover()
        if self.memory_limit is not None:
            self.reserve(dtype.nbytes(numel), "an allocation")
        return Storage(self, self.alloc(dtype.nbytes(numel)), numel, dtype)

    def upload(self, data: memoryview, numel: int, dtype: DType, *, retry: bool = True) -> Storage:
        storage = self.storage(numel, dtype)
        if data.nbytes:
            try:
                self.copy_in(storage.handle, data)
            except DeviceLostError:
                if not retry or not self.needs_recovery:
                    raise
                storage.release()  # the loss showed only now: upload to the rebuilt device
                self.recover()
                return self.upload(data, numel, dtype, retry=False)
        if self.losable:
            if data.nbytes <= self.host_copy_max_bytes:
                storage.restore = HostCopy(bytes(data), "uploaded (a host copy is kept)")
            else:
                storage.restore = NoCopy(
                    f"uploaded from host data not kept (over host_copy_max_bytes, "
                    f"{self.host_copy_max_bytes})"
                )
        return storage

    def copy_out(self, handle: Any, nbytes: int, offset: int = 0) -> bytearray:
        return _compat.run_sync(self.copy_out_async(handle, nbytes, offset))

    def memory(self) -> dict[str, int]:
        return {"live_bytes": self.live_bytes, "live_storages": self.live_storages}

    def trim(self) -> None:
        """Give the buffers this device keeps for reuse (its pools of freed buffers) back to
        the browser; live storages stay. Backends that pool override it (webgpu, webnn): after
        an eviction, and when a model is closed (``BertModel.close``)."""

    def supports(self, step: Any) -> bool:
        """Can this backend run *step* (an ``ir.Step``: op, attrs, input views/dtypes)? The
        op table first; backends narrow it by dtype, rank and limits in ``_supports``."""
        return step.op in self.ops and self._supports(step)

    def _supports(self, step: Any) -> bool:
        return True

    def transfer(self, storage: Storage) -> Storage:
        """A copy of *storage* (from another device) on this one: read back, then written."""
        storage.device.make_resident([storage])
        data = storage.device.copy_out(storage.handle, storage.nbytes)
        return self.upload(memoryview(data), storage.numel, storage.dtype)

    def __repr__(self) -> str:
        return f"<webaccel device {self.name}>"

    # -- device loss and recovery -------------------------------------------------------------
    @property
    def lost_reason(self) -> str | None:
        """Why this device's context is gone (None: it is not). Backends that can lose it
        override this."""
        return None

    async def _rebuild_async(self) -> None:
        """Backends: replace the lost context by a new one (pools and counters of the old
        one go with it). Only called on a lost device, by ``recover_async``."""
        raise NotImplementedError(f"the {self.name} backend cannot rebuild its context")

    async def _restored_handle_async(self, numel: int, dtype: DType) -> Any:
        """A new buffer for a storage being restored (``storage()``'s, without its checks)."""
        return self.alloc(dtype.nbytes(numel))

    @property
    def needs_recovery(self) -> bool:
        return self._recovering is not None or self.lost_reason is not None

    def ensure_live(self) -> None:
        """Rebuild the device first if it was lost (sync: waits through JSPI in a page)."""
        if self._recovering is not None or self.lost_reason is not None:
            self.recover()

    async def ensure_live_async(self) -> None:
        if self._recovering is not None or self.lost_reason is not None:
            await self.recover_async()

    def recover(self) -> bool:
        """``recover_async`` from synchronous code; where that cannot wait for the browser
        (no JSPI, or inside a running event loop on CPython), ``DeviceLostError`` says so."""
        try:
            return _compat.run_sync(self.recover_async())
        except SyncUnavailableError as exc:
            raise DeviceLostError(
                f"the {self.name} device was lost ({self.lost_reason or 'being rebuilt'}); "
                "rebuilding it waits for the browser, which this synchronous call cannot do "
                f"here ({exc}); `await webaccel.get_device({self.name!r}).recover_async()` or "
                "use the async calls (they rebuild it themselves)"
            ) from exc

    async def recover_async(self) -> bool:
        """Rebuild a lost device behind this same object: a new context, every live storage
        restored from its record (``webaccel.restore``) or marked lost, compiled programs
        dropped, ``generation`` raised. Calls that arrive meanwhile wait for it. True where
        this call did the rebuild; False where the device was live (or another call did)."""
        rebuilt = False
        while self._recovering is not None or self.lost_reason is not None:
            if self._recovering is not None:
                await self._recovering
                continue
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._recovering = done
            try:
                await self._recover_now()
                rebuilt = True
            finally:
                self._recovering = None
                done.set_result(None)
        return rebuilt

    async def _recover_now(self) -> None:
        started = time.perf_counter()
        reason = self.lost_reason
        live = [  # an evicted storage has no buffer to lose: its next use restores it
            s
            for s in list(self._storages)
            if s.refcount > 0 and not is_lost(s.handle) and not is_evicted(s.handle)
        ]
        await self._rebuild_async()
        self.generation += 1
        self.cache = CacheStats()  # programs compiled for the old context
        refill: list[Storage] = []
        lost: list[tuple[Storage, str]] = []
        for s in live:
            s.handle = None  # the old buffer went with the old context
            if s.restore is None or not s.restore.restorable:
                lost.append((s, "there is nothing to restore it from"))
            else:
                refill.append(s)
        restored, restored_bytes, failed = await self._refill_async(refill, readmit=False)
        lost += failed
        lost = [(s, why) for s, why in lost if s.refcount > 0]  # not released meanwhile
        for s, why in lost:
            s.handle = LostHandle(
                f"{s.describe()}, was lost with the {self.name} device ({reason}): {why}. The "
                "device was rebuilt: compute it again, or give what it came from a restore "
                "record (load weights through a store or a source that can be read again, or "
                "webaccel.device.set_restore)"
            )
            self.live_bytes -= s.nbytes
            self.live_storages -= 1
        stats = self.recovery
        stats.losses += 1
        stats.last_reason = reason
        stats.rebuild_ms = (time.perf_counter() - started) * 1e3
        stats.restored_storages, stats.restored_bytes = restored, restored_bytes
        stats.lost_storages = len(lost)
        stats.recompiled_traces = 0
        stats.recovery_ms = None
        self._recovery_started = started

    async def _refill_async(
        self, storages: list[Storage], readmit: bool
    ) -> tuple[int, int, list[tuple[Storage, str]]]:
        """Give each of *storages* a new buffer filled from its restore record, the records
        of one group read together. *readmit*: they were evicted (their bytes are off the
        counts, room is reserved for each, and a record that fails leaves them evicted
        until marked lost by the caller); else they are restored after a loss. Returns the
        storages and bytes restored, and the storages that could not be, with why."""
        groups: dict[tuple[type, Hashable], list[Storage]] = {}
        for s in storages:
            groups.setdefault((type(s.restore), s.restore.group), []).append(s)  # type: ignore[union-attr]
        restored = restored_bytes = 0
        lost: list[tuple[Storage, str]] = []
        for (kind, _), members in groups.items():
            records: list[Restore] = [s.restore for s in members]  # type: ignore[misc]
            why: dict[int, str] = {}
            done: set[int] = set()
            try:
                async for i, data in kind.read_group(records):  # type: ignore[attr-defined]
                    s = members[i]
                    if s.refcount <= 0:  # released while the restore was reading
                        continue
                    if isinstance(data, BaseException):  # this record alone gave nothing
                        why[i] = f"restoring it from {records[i].what} failed: {data}"
                        continue
                    view = memoryview(data).cast("B")
                    if view.nbytes != s.nbytes:
                        why[i] = f"{records[i].what} gave {view.nbytes} bytes for {s.nbytes}"
                        continue
                    if readmit:
                        self.reserve(s.nbytes, "making an evicted storage resident again")
                    handle = await self._restored_handle_async(s.numel, s.dtype)
                    if view.nbytes:
                        self.copy_in(handle, view)
                    if readmit:
                        if s.refcount <= 0:  # released while its buffer was being made
                            self.free(handle, s.nbytes)
                            continue
                        self.live_bytes += s.nbytes
                        self.live_storages += 1
                    s.handle = handle
                    done.add(i)
                    restored += 1
                    restored_bytes += s.nbytes
            except MemoryLimitError:
                raise  # not the record's fault: the storages stay evicted
            except Exception as exc:
                failed = f"restoring it from {records[0].what} failed: {type(exc).__name__}: {exc}"
                why = {i: why.get(i, failed) for i in range(len(members))}
            for i, s in enumerate(members):
                if i not in done and s.refcount > 0:
                    lost.append((s, why.get(i, f"{records[i].what} gave no bytes back")))
        return restored, restored_bytes, lost

    # -- the memory budget (webaccel.budget) ------------------------------------------------
    def set_memory_limit(self, nbytes: int | None) -> None:
        """Cap this device's resident storage bytes at *nbytes* (None: no cap). Where more is
        resident already, storages not in use are evicted now; where that is not enough,
        ``MemoryLimitError`` (and the limit is left as it was)."""
        limit = check_limit(nbytes)
        old, self.memory_limit = self.memory_limit, limit
        try:
            self.reserve(0, "set_memory_limit")
        except MemoryLimitError:
            self.memory_limit = old
            raise
        self.budget.limit = limit
        self.budget.peak_bytes = self.live_bytes

    def reserve(self, nbytes: int, what: str = "an allocation") -> None:
        """Make room for *nbytes* more under the limit: evict the least recently used
        storages not in use that can come back (``budget.victims``), or raise
        ``MemoryLimitError`` (nothing evicted) where even all of them are not enough."""
        limit = self.memory_limit
        if limit is None or self.live_bytes + nbytes <= limit:
            return
        need = self.live_bytes + nbytes - limit
        chosen, freed = victims(self._storages, need)
        if freed < need:
            self.budget.refused += 1
            raise limit_error(self, nbytes, what, freed)
        for s in chosen:
            self._evict(s)
        self.trim()

    def _evict(self, s: Storage) -> None:
        self.free(s.handle, s.nbytes)
        s.handle = EVICTED
        self.live_bytes -= s.nbytes
        self.live_storages -= 1
        self.budget.evictions += 1
        self.budget.evicted_bytes += s.nbytes
        watchers, s.watchers = s.watchers, None
        for w in list(watchers or ()):  # captured graphs built over its old buffer
            w.storage_evicted()

    def watch(self, storage: Storage, watcher: Any) -> None:
        """Call ``watcher.storage_evicted()`` if *storage* is evicted (held weakly)."""
        if storage.watchers is None:
            storage.watchers = weakref.WeakSet()
        storage.watchers.add(watcher)

    @contextlib.contextmanager
    def in_use(self, storages: Sequence[Storage]) -> Iterator[None]:
        """Pin *storages* for the block (a program reads them: never evicted meanwhile) and
        mark them used now on the LRU clock."""
        self._clock += 1
        now = self._clock
        for s in storages:
            s.pins += 1
            s.last_used = now
        try:
            yield
        finally:
            for s in storages:
                s.pins -= 1

    def make_resident(self, storages: Sequence[Storage]) -> None:
        """``make_resident_async`` from synchronous code (through JSPI in a page; on CPython
        inside a running event loop, where records that never wait can still be read)."""
        if self._readmitting is None and not any(_absent(s.handle) for s in storages):
            return
        try:
            _compat.run_sync(self.make_resident_async(storages))
        except SyncUnavailableError as exc:
            coro = self.make_resident_async(storages)
            try:
                coro.send(None)
            except StopIteration:
                return
            coro.close()
            raise WebAccelError(
                f"an evicted storage on {self.name} comes back from a record that waits "
                f"(a store, a fetch), which this synchronous call cannot do here ({exc}); "
                "use the async calls, or raise the memory limit"
            ) from exc

    async def make_resident_async(self, storages: Sequence[Storage]) -> None:
        """Bring the evicted ones among *storages* back from their restore records (the
        others are pinned meanwhile, so that they stay); one whose record fails is lost
        (``DeviceLostError`` names it where it is used)."""
        while self._readmitting is not None:  # another call is bringing storages back
            await self._readmitting
        for s in storages:
            if is_lost(s.handle):  # fail here, clearly, rather than in the backend
                raise DeviceLostError(s.handle.message)
        evicted = [
            s for s in storages if s.device is self and s.refcount > 0 and is_evicted(s.handle)
        ]
        if not evicted:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._readmitting = done
        try:
            with self.in_use(storages):
                restored, restored_bytes, failed = await self._refill_async(evicted, True)
        finally:
            self._readmitting = None
            done.set_result(None)
        self.budget.readmissions += restored
        self.budget.readmitted_bytes += restored_bytes
        for s, why in failed:
            s.handle = LostHandle(
                f"{s.describe()}, was evicted under the {self.name} memory limit and could "
                f"not come back: {why}"
            )
        if failed:
            raise DeviceLostError(failed[0][0].handle.message)

    def budget_stats(self) -> dict[str, Any]:
        """The memory-budget figures: the limit, evictions and bytes evicted, storages made
        resident again, captured graphs dropped, the peak of live bytes, refusals, and the
        storages and bytes evicted now."""
        now = [s for s in list(self._storages) if s.refcount > 0 and is_evicted(s.handle)]
        return {
            **self.budget.as_dict(),
            "live_bytes": self.live_bytes,
            "evicted_now_storages": len(now),
            "evicted_now_bytes": sum(s.nbytes for s in now),
        }

    def note_result(self) -> None:
        """A call produced its result: the first one after a rebuild closes ``recovery_ms``
        (from the call that found the loss until that result)."""
        if self._recovery_started is not None:
            self.recovery.recovery_ms = (time.perf_counter() - self._recovery_started) * 1e3
            self._recovery_started = None

    def recovery_stats(self) -> dict[str, Any]:
        """The device-loss figures: losses, the last reason, ``rebuild_ms`` (new context and
        restored storages), ``recovery_ms`` (from the call that found the loss until its
        result), storages and bytes restored, storages lost, captured traces recompiled."""
        return {**self.recovery.as_dict(), "generation": self.generation}


class Replay:
    """What ``Device.capture_runner`` returns: runs a captured program on new inputs
    (``replay(storages) -> storages``). ``host_call`` is an optional fast path (declared: None
    where a plan has none) that ``Captured.run_async`` calls with host buffers; ``close`` frees
    the plan's device objects now rather than at garbage collection."""

    host_call: Callable[..., Any] | None = None

    def __call__(self, inputs: list[Storage]) -> list[Storage]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Implementation(NamedTuple):
    """What a backend's implementation module provides (its ``IMPLEMENTATION``)."""

    device_class: type[Device]  # its op table is the backend's
    create: Callable[[], Device]  # a device now (may wait through JSPI)
    create_async: Callable[[], Awaitable[Device]]  # a fresh device (adapter, context ...)


@dataclass(frozen=True)
class Backend:
    """One row of the backend table: what placement, ``init()``, ``detect()`` and the lab's
    command line know about a backend, registered by the backend's own package.

    The row is cheap: ``implementation`` imports the backend's device module (for WebGPU, the
    whole WGSL kernel library) the first time a device is made or its op table is read."""

    name: str
    fallback_rank: int  # placement tries running backends by rank, lowest first
    needs: str  # what it runs on, for people ("NumPy", "WebGPU", "WebNN")
    probe_async: Callable[[], Awaitable[dict[str, Any]]]  # detect()'s section for it
    implementation: Callable[[], Implementation]

    @property
    def device_class(self) -> type[Device]:
        return self.implementation().device_class

    def create(self) -> Device:
        return self.implementation().create()

    async def create_async(self) -> Device:
        return await self.implementation().create_async()


def lazy_implementation(package: str) -> Callable[[], Implementation]:
    """The ``IMPLEMENTATION`` of backend package *package*'s ``device`` module, imported the
    first time it is asked for (a backend's row registers without loading its kernels)."""
    return lambda: importlib.import_module(f"{package}.device").IMPLEMENTATION


_BACKENDS: dict[str, Backend] = {}
_DEVICES: dict[str, Device] = {}
_DEFAULT: list[str] = ["cpu"]


def register_backend(backend: Backend) -> Backend:
    _BACKENDS[backend.name] = backend
    return backend


def backends() -> list[Backend]:
    """The registered backends, in fallback order."""
    return sorted(_BACKENDS.values(), key=lambda b: b.fallback_rank)


def backend_names() -> tuple[str, ...]:
    return tuple(b.name for b in backends())


def get_backend(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise WebAccelError(f"unknown backend {name!r}; registered: {sorted(_BACKENDS)}") from None


def check_sync_creation(name: str, runs_in: str) -> None:
    """Raise why backend *name* (which runs in *runs_in*) cannot make a device synchronously
    here: no Pyodide at all, or no JSPI to wait for the browser (the async form can)."""
    if not _compat.host().in_pyodide:
        raise WebAccelError(
            f"the {name} backend runs inside Pyodide ({runs_in}); on CPython use backend='cpu'"
        )
    if not _compat.can_run_sync():
        raise SyncUnavailableError(
            f"creating the {name} device waits for the browser; without JSPI call "
            f"`await webaccel.init_async({name!r})` first"
        )


def get_device(name: str | Device | None = None) -> Device:
    """The device called *name* (created on first use); None gives the default device."""
    if isinstance(name, Device):
        return name
    if name is not None and not isinstance(name, str):
        raise TypeError(f"get_device: give a backend name or a Device, not {type(name).__name__}")
    name = name or _DEFAULT[0]
    if name not in _DEVICES:
        _DEVICES[name] = get_backend(name).create()
    return _DEVICES[name]


async def create_device_async(name: str) -> Device:
    """A ready device of backend *name* (a fresh context for browser backends), made the one
    its name resolves to."""
    return adopt_device(await get_backend(name).create_async())


def set_default_device(name: str) -> Device:
    if not isinstance(name, str):
        raise TypeError(f"set_default_device: give a backend name, not {type(name).__name__}")
    device = get_device(name)
    _DEFAULT[0] = name
    return device


def adopt_device(device: Device) -> Device:
    """Make *device* the instance its name resolves to (e.g. one created asynchronously)."""
    _DEVICES[device.name] = device
    return device


def running_devices() -> dict[str, Device]:
    """The devices created so far (placement only falls back to backends already running)."""
    return dict(_DEVICES)


def forget_device(name: str) -> None:
    """Drop a device instance (e.g. after it was lost) so the next use creates a new one."""
    _DEVICES.pop(name, None)


# -- device loss: restore records, retries, figures ---------------------------------------------


def set_restore(storage: Storage, record: Restore) -> Storage:
    """Say where *storage*'s bytes come back from if its device is lost (a store tensor, a
    source file, ``restore.HostCopy``...). It replaces a host copy made at upload (freeing
    it) or a ``NoCopy``; an existing other record is kept (the first one to know)."""
    current = storage.restore
    if current is None or isinstance(current, HostCopy) or not current.restorable:
        storage.restore = record
    return storage


async def retry_after_loss_async(device: Device, call: Callable[[], Awaitable[T]]) -> T:
    """``await call()``; where it fails because *device* was lost (in flight at the loss, or
    finding it lost), rebuild the device and run it once more. *call* must be able to run
    again from what it was given (host data): a second loss, or a storage of its own that was
    lost, raises ``DeviceLostError``."""
    generation = device.generation
    try:
        return await call()
    except DeviceLostError:
        if not device.needs_recovery and device.generation == generation:
            raise  # the device is fine: something the call was given is what was lost
    await device.recover_async()
    return await call()


def retry_after_loss(device: Device, call: Callable[[], T]) -> T:
    """The synchronous ``retry_after_loss_async`` (the rebuild waits through JSPI)."""
    generation = device.generation
    try:
        return call()
    except DeviceLostError:
        if not device.needs_recovery and device.generation == generation:
            raise
    device.recover()
    return call()


def recovery_stats(name: str | Device | None = None) -> dict[str, Any]:
    """``Device.recovery_stats()`` of device *name* (default: the default device), for
    benchmarks: ``recovery_ms`` is the last loss's time from the call that found it until
    that call's result, ``rebuild_ms`` the new context and the restored storages."""
    return get_device(name).recovery_stats()


def _absent(handle: Any) -> bool:
    """No buffer behind it: evicted (comes back on use) or lost (fails, naming it)."""
    return is_evicted(handle) or is_lost(handle)


def set_memory_limit(nbytes: int | None, backend: str | Device | None = None) -> Device:
    """Cap the resident storage bytes of device *backend* (default: the default device) at
    *nbytes* (None: no cap); see ``webaccel.budget``. Returns the device."""
    check_limit(nbytes)
    if backend is not None and not isinstance(backend, str | Device):
        raise TypeError(
            f"set_memory_limit: backend must be a backend name or a Device, not "
            f"{type(backend).__name__} {backend!r}"
        )
    if isinstance(backend, str) and backend not in _BACKENDS:
        raise ValueError(
            f"set_memory_limit: unknown backend {backend!r}; registered: {sorted(_BACKENDS)}"
        )
    device = get_device(backend)
    device.set_memory_limit(nbytes)
    return device

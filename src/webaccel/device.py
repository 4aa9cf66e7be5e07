"""Devices: the small interface each backend implements, refcounted storages, the backend table.

A backend is one package with a ``Device`` subclass (the tinygrad shape): ``alloc``/``free``
raw buffers, ``copy_in``/``copy_out`` bytes, ``compile`` an ``ir.Program`` and ``run`` it.
Storages are refcounted: views and nodes that share a buffer acquire it; the last release frees
it (a backend may pool it). A finalizer warns (``StorageLeakWarning``, a ResourceWarning)
about storages dropped without release, frees them and counts them in ``Device.leaked_storages``.
Identical weights are shared across models by ``webaccel.weights`` (one storage, many holders).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from . import _compat
from .dtypes import DType
from .errors import SyncUnavailableError, WebAccelError
from .ir import Program


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

    __slots__ = ("__weakref__", "device", "dtype", "handle", "nbytes", "numel", "refcount")

    def __init__(self, device: Device, handle: Any, numel: int, dtype: DType) -> None:
        self.device, self.handle, self.numel, self.dtype = device, handle, numel, dtype
        self.nbytes = dtype.nbytes(numel)
        self.refcount = 1
        device.live_bytes += self.nbytes
        device.live_storages += 1

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
            self.device.live_bytes -= self.nbytes
            self.device.live_storages -= 1
            self.device.free(self.handle, self.nbytes)
            self.handle = None

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def freed(self) -> bool:
        return self.refcount <= 0

    def __repr__(self) -> str:
        state = f"refcount {self.refcount}" if self.refcount > 0 else "freed"
        return f"<Storage {self.nbytes} bytes {self.dtype.name} on {self.device.name}, {state}>"

    def __del__(self) -> None:
        if self.refcount > 0 and self.handle is not None:
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

    def __init__(self) -> None:
        self.cache = CacheStats()
        self.live_bytes = 0
        self.live_storages = 0
        self.leaked_storages = 0  # storages the finalizer had to free (see StorageLeakWarning)

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
        return Storage(self, self.alloc(dtype.nbytes(numel)), numel, dtype)

    def upload(self, data: memoryview, numel: int, dtype: DType) -> Storage:
        storage = self.storage(numel, dtype)
        if data.nbytes:
            self.copy_in(storage.handle, data)
        return storage

    def copy_out(self, handle: Any, nbytes: int, offset: int = 0) -> bytearray:
        return _compat.run_sync(self.copy_out_async(handle, nbytes, offset))

    def memory(self) -> dict[str, int]:
        return {"live_bytes": self.live_bytes, "live_storages": self.live_storages}

    def supports(self, step: Any) -> bool:
        """Can this backend run *step* (an ``ir.Step``: op, attrs, input views/dtypes)? The
        op table first; backends narrow it by dtype, rank and limits in ``_supports``."""
        return step.op in self.ops and self._supports(step)

    def _supports(self, step: Any) -> bool:
        return True

    def transfer(self, storage: Storage) -> Storage:
        """A copy of *storage* (from another device) on this one: read back, then written."""
        data = storage.device.copy_out(storage.handle, storage.nbytes)
        return self.upload(memoryview(data), storage.numel, storage.dtype)

    def __repr__(self) -> str:
        return f"<webaccel device {self.name}>"


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

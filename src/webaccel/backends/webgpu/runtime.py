"""The WebGPU runtime: one ``GPUContext`` per GPUDevice (Pyodide only; imports on CPython).

Public API::

    ctx = await GPUContext.create_async(power_preference=None)  # or GPUContext.create()
    ctx.info: dict; ctx.features: frozenset[str]; ctx.limits: dict[str, int]
    ctx.has_f16 / has_subgroups / has_timestamps / software: bool

    h = ctx.alloc(nbytes) -> GPUBufferHandle   # pooled, STORAGE|COPY_SRC|COPY_DST
    ctx.release(h); ctx.trim()                 # back to the pool; destroy pooled buffers
    ctx.live_bytes, ctx.live_buffers, ctx.pooled_bytes, ctx.created_buffers,
    ctx.destroyed_buffers, ctx.reused_buffers  # counters (storage + staging pools together)
    ctx.uniform_buffers_created                # uniform chunks ever made (flat when steady)

    ctx.write(h, data, offset=0)               # bytes-like -> GPU, no copy on the Python side
    await ctx.read_async(h, nbytes=None, offset=0) -> bytearray   # ctx.read(...) with JSPI

    p = ctx.pipeline(wgsl, entry_point="main") -> Pipeline   # cached by source text
    await ctx.pipeline_async(wgsl, entry_point="main")       # same, raises WGSL errors

    b = ctx.batch(timing=False)                # ONE command encoder + compute pass
    b.dispatch(p, buffers=[h_or_view, ...], uniforms=bytes | None, workgroups=(x, y, z))
    b.release_after(h)                         # release h to the pool once b is submitted
    b.submit()                                 # await b.gpu_time_ns_async() if timing
    ctx.destroy()

Storage buffers bind in the order given (bindings 0..n-1); the uniform slice, if any, binds
at n. Uniforms of a batch are packed into pooled 64 KiB chunks written once at submit, so
steady-state batches create no GPU buffers. Releasing a buffer while a batch is open defers it
to that batch's submit: ``write()`` goes through the queue ahead of unsubmitted commands, so a
buffer reused early could be overwritten before a recorded dispatch reads it.

``write`` pads to 4 bytes (WebGPU's rule) with up to 3 zero bytes past ``len(data)``; offsets
must be multiples of 4. ``read_async`` waits for everything submitted before it.

When the device is lost (``device.destroy()``, a driver reset), every further call raises
``DeviceLostError`` with the reason; ``await GPUContext.create_async()`` makes a fresh one (the
``webgpu`` device does that itself on its next call: ``WebGPUDevice._rebuild_async``). The loss
is known once the device's ``lost`` promise has resolved, a task after ``destroy()``; commands
submitted in between are dropped by the browser without an error, and a read-back of them
fails: ``read_async`` waits briefly for the promise and raises ``DeviceLostError``.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ... import _compat
from ...errors import DeviceLostError as _DeviceLostError
from ...errors import WebAccelError
from .adapter import is_software, request_adapter
from .pool import BufferPool

REQUESTED_LIMITS = (
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupSizeY",
    "maxStorageBuffersPerShaderStage",
)
OPTIONAL_FEATURES = ("shader-f16", "subgroups", "timestamp-query")
UNIFORM_CHUNK = 64 * 1024
DEFAULT_POOL_CAP = 256 << 20


class DeviceLostError(_DeviceLostError):
    """The GPUDevice is gone; a new ``GPUContext`` is needed (``webaccel.DeviceLostError``)."""


class WebGPUError(WebAccelError):
    """WebGPU reported an error (validation, out of memory, WGSL compilation)."""


@dataclass(eq=False)
class GPUBufferHandle:
    """A pooled GPUBuffer: ``size`` is its real (bucket) size, ``nbytes`` what was asked."""

    buffer: Any
    size: int
    nbytes: int
    kind: str = "storage"
    released: bool = False


@dataclass(eq=False)
class Pipeline:
    pipeline: Any
    layout: Any
    source: str
    entry_point: str


def _buffer_of(item: Any) -> Any:
    """The JS GPUBuffer behind a handle or a view (kernels pass views)."""
    handle = getattr(item, "buffer", item)
    if isinstance(handle, GPUBufferHandle):
        if handle.released:
            raise WebAccelError("a released buffer was bound to a dispatch")
        return handle.buffer
    return handle


def _both_pools(counter: str) -> property:
    """A ``BufferPool`` counter of the context's storage and staging pools together."""

    def total(ctx: GPUContext) -> int:
        return int(getattr(ctx._pool, counter) + getattr(ctx._staging, counter))

    return property(total, doc=f"``{counter}`` of the storage and staging pools together")


class GPUContext:
    """One GPUDevice with its buffer pools, pipeline cache and lost-device state."""

    def __init__(self, adapter: Any, device: Any, pool_cap_bytes: int = DEFAULT_POOL_CAP) -> None:
        self._js = _compat.js_namespace()
        self.adapter = adapter
        self.device = device
        self.queue = device.queue
        self._glue = webgpu_glue()
        common = _compat.glue()  # plain()/features() live in js_glue/webaccel_glue.js
        self.info: dict[str, Any] = _compat.to_py(common.plain(adapter.info))
        self.features: frozenset[str] = frozenset(_compat.to_py(common.features(device.features)))
        self.limits: dict[str, int] = _compat.to_py(common.plain(device.limits))
        self.has_f16 = "shader-f16" in self.features
        self.has_subgroups = "subgroups" in self.features
        self.has_timestamps = "timestamp-query" in self.features
        # CPU-emulated adapters want other kernel shapes (see kernels.default_matmul_config).
        self.software = is_software(self.info)
        usage = self._js.GPUBufferUsage
        self._storage_usage = usage.STORAGE | usage.COPY_SRC | usage.COPY_DST
        self._staging_usage = usage.MAP_READ | usage.COPY_DST
        self._uniform_usage = usage.UNIFORM | usage.COPY_DST
        self._pool = BufferPool(
            self._make(self._storage_usage), self._destroy_buffer, pool_cap_bytes
        )
        self._staging = BufferPool(self._make(self._staging_usage), self._destroy_buffer, 64 << 20)
        self._uniform_free: list[Any] = []
        self.uniform_buffers_created = 0
        self._pipelines: dict[tuple[str, str], Pipeline] = {}
        self._open_batches = 0
        self._deferred: list[GPUBufferHandle] = []
        self.lost_reason: str | None = None
        self.errors: list[str] = []
        self._sink = _compat.create_proxy(_Sink(self))
        self._glue.watch(device, self._sink)

    # --- creation -------------------------------------------------------------------------

    @classmethod
    async def create_async(
        cls, power_preference: str | None = None, pool_cap_bytes: int = DEFAULT_POOL_CAP
    ) -> GPUContext:
        """Request an adapter and a device with the adapter's maxima of the key limits."""
        if not _compat.host().in_pyodide:
            raise WebAccelError("the WebGPU runtime needs Pyodide in a browser or Node.js")
        adapter = await request_adapter(power_preference)
        glue = webgpu_glue()
        device = await glue.requestDevice(
            adapter, _compat.to_js(list(REQUESTED_LIMITS)), _compat.to_js(list(OPTIONAL_FEATURES))
        )
        return cls(adapter, device, pool_cap_bytes)

    @classmethod
    def create(cls, power_preference: str | None = None) -> GPUContext:
        return _compat.run_sync(cls.create_async(power_preference))

    def destroy(self) -> None:
        """Destroy the device (and the pooled buffers); later calls raise DeviceLostError."""
        if self.lost_reason is None:
            self.trim()
            self.lost_reason = "destroyed: GPUContext.destroy() was called"
        self.device.destroy()

    # --- state ----------------------------------------------------------------------------

    def check(self) -> None:
        """Raise ``DeviceLostError`` if the device is gone."""
        if self.lost_reason is not None:
            raise DeviceLostError(
                f"the WebGPU device was lost ({self.lost_reason}); its buffers and pipelines "
                "are gone with it: a new GPUContext is needed (`await "
                "GPUContext.create_async()`; the webgpu device makes one on its next call)"
            )

    def _on_lost(self, reason: str, message: str) -> None:
        if self.lost_reason is None:
            self.lost_reason = f"{reason}: {message}" if message else reason

    def _raise_errors(self) -> None:
        if self.errors:
            text = "\n".join(self.errors)
            self.errors.clear()
            raise WebGPUError(f"WebGPU reported: {text}")

    live_bytes = _both_pools("live_bytes")
    live_buffers = _both_pools("live_buffers")
    pooled_bytes = _both_pools("pooled_bytes")
    created_buffers = _both_pools("created_buffers")
    destroyed_buffers = _both_pools("destroyed_buffers")
    reused_buffers = _both_pools("reused_buffers")

    # --- buffers --------------------------------------------------------------------------

    def _make(self, usage: int) -> Any:
        def create(size: int) -> Any:
            return self._glue.createBuffer(self.device, size, usage)

        return create

    @staticmethod
    def _destroy_buffer(buf: Any) -> None:
        buf.destroy()

    def alloc(self, nbytes: int) -> GPUBufferHandle:
        """A storage buffer of at least *nbytes* (STORAGE|COPY_SRC|COPY_DST) from the pool."""
        self.check()
        limit = self.limits.get("maxStorageBufferBindingSize", 128 << 20)
        if nbytes > limit:
            raise WebAccelError(f"{nbytes} bytes exceed maxStorageBufferBindingSize ({limit})")
        buf, size = self._pool.acquire(max(int(nbytes), 4))
        return GPUBufferHandle(buf, size, int(nbytes))

    def release(self, handle: GPUBufferHandle) -> None:
        """Give *handle* back to the pool (deferred to the submit of any open batch)."""
        if handle.released:
            raise WebAccelError("buffer released twice")
        if self._open_batches:
            self._deferred.append(handle)
            handle.released = True
            return
        self._release_now(handle)

    def _release_now(self, handle: GPUBufferHandle) -> None:
        handle.released = True
        pool = self._pool if handle.kind == "storage" else self._staging
        if self.lost_reason is not None:
            pool.forget(handle.size)
            return
        pool.give_back(handle.buffer, handle.size)

    def trim(self) -> None:
        """Destroy every pooled (free) buffer; live ones stay."""
        self._pool.trim()
        self._staging.trim()
        for buf in self._uniform_free:
            buf.destroy()
        self._uniform_free.clear()

    def write(self, handle: GPUBufferHandle, data: Any, offset: int = 0) -> None:
        """Upload a bytes-like object at byte *offset* (a multiple of 4) without copying it."""
        self.check()
        view = memoryview(data)
        if not view.c_contiguous:
            raise ValueError("write() needs C-contiguous data")
        view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        n = view.nbytes
        if offset % 4:
            raise ValueError(f"write offset {offset} is not a multiple of 4")
        if offset + n > handle.size:
            raise ValueError(f"{n} bytes at {offset} overflow a {handle.size}-byte buffer")
        body = n - n % 4
        if body:
            self._glue.write(self.queue, _buffer_of(handle), offset, view, 0, body)
        if n % 4:  # writeBuffer moves whole words: the last 1-3 bytes go padded with zeros
            tail = bytes(view[body:]) + bytes(4 - n % 4)
            self._glue.write(self.queue, _buffer_of(handle), offset + body, tail, 0, 4)

    def write_from_js(
        self, data: Any, pieces: Sequence[tuple[GPUBufferHandle, int, int, int]]
    ) -> None:
        """Write pieces ``(handle, offset, start, length)`` of the JS ArrayBuffer *data*: bytes
        [start, start+length) at byte *offset* of *handle*, straight from JS memory (no copy
        through Python's heap). Offsets, starts and lengths are multiples of 4 (whole words).

        One piece is one ``writeBuffer``. Several: the span they cover is written once into a
        pooled staging buffer and copied into place on the GPU, in one submit. Chromium takes
        ~1 ms of the page's time per writeBuffer of 0.5-2 MB, whereas one large write and the
        copies cost far less (a 91 MB model's 103 tensors: 90-150 ms against 20-27 ms).
        """
        self.check()
        for handle, offset, start, length in pieces:
            if offset % 4 or start % 4 or length % 4:
                raise ValueError(f"write_from_js needs whole words: {offset}, {start}, {length}")
            if offset + length > handle.size:
                raise ValueError(f"{length} bytes at {offset} overflow a {handle.size}-byte buffer")
        pieces = [p for p in pieces if p[3]]
        if len(pieces) <= 1:
            for handle, offset, start, length in pieces:
                self.queue.writeBuffer(_buffer_of(handle), offset, data, start, length)
            return
        lo = min(start for _, _, start, _ in pieces)
        hi = max(start + length for _, _, start, length in pieces)
        staging = self.alloc(hi - lo)
        try:
            self.queue.writeBuffer(staging.buffer, 0, data, lo, hi - lo)
            encoder = self.device.createCommandEncoder()
            for handle, offset, start, length in pieces:
                encoder.copyBufferToBuffer(
                    staging.buffer, start - lo, _buffer_of(handle), offset, length
                )
            self._glue.submit(self.queue, encoder)
        finally:
            self.release(staging)  # reusable at once: later writes are queued after the copies

    async def read_async(
        self, handle: GPUBufferHandle, nbytes: int | None = None, offset: int = 0
    ) -> bytearray:
        """Copy *nbytes* at byte *offset* back into a new bytearray (one memcpy from JS)."""
        self.check()
        self._raise_errors()
        nbytes = handle.nbytes - offset if nbytes is None else int(nbytes)
        if offset % 4:
            raise ValueError(f"read offset {offset} is not a multiple of 4")
        if offset + nbytes > handle.size:
            raise ValueError(f"{nbytes} bytes at {offset} overflow a {handle.size}-byte buffer")
        out = bytearray(nbytes)
        if nbytes == 0:
            return out
        padded = -(-nbytes // 4) * 4
        staging, size = self._staging.acquire(padded)
        try:
            mapped = await self._glue.readback(
                self.device, _buffer_of(handle), offset, staging, padded
            )
        except Exception as exc:
            self._staging.forget(size)
            staging.destroy()
            await self._settle_lost()
            self.check()
            raise WebGPUError(f"readback failed: {exc}") from exc
        try:
            self._js.Uint8Array.new(mapped, 0, nbytes).assign_to(out)
        finally:
            staging.unmap()
            self._staging.give_back(staging, size)
        self._raise_errors()
        return out

    def read(
        self, handle: GPUBufferHandle, nbytes: int | None = None, offset: int = 0
    ) -> bytearray:
        return _compat.run_sync(self.read_async(handle, nbytes, offset))

    async def _settle_lost(self) -> None:
        """Give the device-lost promise a chance to report before deciding what failed."""
        for _ in range(10):
            if self.lost_reason is not None:
                return
            await asyncio.sleep(0.01)

    # --- pipelines ------------------------------------------------------------------------

    def pipeline(self, source: str, entry_point: str = "main") -> Pipeline:
        """A compute pipeline for *source*, compiled once per (source, entry point)."""
        self.check()
        key = (source, entry_point)
        cached = self._pipelines.get(key)
        if cached is None:
            pipe, layout, _ = self._glue.pipeline(self.device, source, entry_point)
            cached = self._pipelines[key] = Pipeline(pipe, layout, source, entry_point)
        return cached

    async def pipeline_async(self, source: str, entry_point: str = "main") -> Pipeline:
        """Like ``pipeline`` but awaits compilation and raises ``WebGPUError`` on WGSL errors."""
        self.check()
        key = (source, entry_point)
        cached = self._pipelines.get(key)
        if cached is None:
            try:
                pipe, layout, _ = await self._glue.pipelineAsync(self.device, source, entry_point)
            except Exception as exc:
                raise WebGPUError(str(exc)) from exc
            cached = self._pipelines[key] = Pipeline(pipe, layout, source, entry_point)
        return cached

    # --- batches --------------------------------------------------------------------------

    def batch(self, timing: bool = False) -> Batch:
        """A command encoder with one compute pass; record dispatches, then ``submit()``."""
        self.check()
        return Batch(self, timing=timing and self.has_timestamps)

    def _uniform_chunk(self) -> Any:
        if self._uniform_free:
            return self._uniform_free.pop()
        self.uniform_buffers_created += 1
        return self._glue.createBuffer(self.device, UNIFORM_CHUNK, self._uniform_usage)

    def _batch_done(self, chunks: list[Any]) -> None:
        # Reusing a chunk right away is safe: its next writeBuffer is queued after this submit.
        self._uniform_free.extend(chunks)
        self._open_batches -= 1
        if not self._open_batches:
            deferred, self._deferred = self._deferred, []
            for handle in deferred:
                self._release_now(handle)


class _Sink:
    """Receives device-lost and uncaptured-error events from the JS glue."""

    def __init__(self, ctx: GPUContext) -> None:
        self._ctx = ctx

    def lost(self, reason: str, message: str) -> None:
        self._ctx._on_lost(reason, message)

    def error(self, message: str) -> None:
        self._ctx.errors.append(message)


class Dispatch(NamedTuple):
    """One dispatch as recorded: the pipeline, the buffers bound 0..n-1 (handles or views),
    the uniform bytes (padded to 16) or None, the workgroup counts."""

    pipeline: Any
    buffers: Sequence[Any]
    uniforms: bytes | None
    groups: tuple[int, int, int]


class BatchBase:
    """The side of a batch kernels see (their ``batch`` argument): ``Batch`` encodes the
    dispatches into a compute pass, ``replay.Recorder`` keeps them for a replay plan."""

    ctx: Any

    def dispatch(
        self,
        pipeline: Pipeline,
        buffers: Sequence[Any],
        uniforms: bytes | None = None,
        workgroups: Sequence[int] = (1, 1, 1),
    ) -> None:
        """Record one dispatch; *buffers* are handles or views, bound 0..n-1 in order, the
        *uniforms* (padded to 16 bytes) after them. A workgroup count of 0 (an empty tensor)
        records nothing."""
        self._check_open()
        x, y, z = ([*list(workgroups), 1, 1])[:3]
        if min(x, y, z) <= 0:
            return
        data = None if uniforms is None else bytes(uniforms) + bytes(-len(uniforms) % 16)
        self._record(Dispatch(pipeline, buffers, data, (int(x), int(y), int(z))))

    def release_after(self, handle: GPUBufferHandle) -> None:
        """Return *handle* to the pool once this batch is submitted."""
        self.ctx.release(handle)

    def _check_open(self) -> None:
        """Raise where no more dispatches may be recorded."""

    def _record(self, dispatch: Dispatch) -> None:
        raise NotImplementedError


@dataclass(eq=False)
class Batch(BatchBase):
    """One command encoder and one compute pass: many dispatches, one submit."""

    ctx: GPUContext
    timing: bool = False
    dispatches: int = 0
    _chunks: list[Any] = field(default_factory=list)
    _uniform_data: list[bytearray] = field(default_factory=list)
    _submitted: bool = False
    _query: Any = None
    _resolve: GPUBufferHandle | None = None

    def __post_init__(self) -> None:
        ctx = self.ctx
        self.encoder = ctx.device.createCommandEncoder()
        if self.timing:
            self._query = ctx.device.createQuerySet(
                _compat.to_js_object({"type": "timestamp", "count": 2})
            )
        self.pass_ = ctx._glue.beginPass(self.encoder, self._query)
        self._align = int(ctx.limits.get("minUniformBufferOffsetAlignment", 256))
        self._used = UNIFORM_CHUNK  # forces a chunk on the first uniform
        ctx._open_batches += 1

    def _uniform_slot(self, data: bytes) -> tuple[Any, int]:
        n = len(data)
        if n > UNIFORM_CHUNK:
            raise ValueError(f"{n} uniform bytes exceed one chunk ({UNIFORM_CHUNK})")
        if self._used + n > UNIFORM_CHUNK:
            self._chunks.append(self.ctx._uniform_chunk())
            self._uniform_data.append(bytearray())
            self._used = 0
        offset = self._used
        chunk = self._uniform_data[-1]
        chunk.extend(data)
        pad = -len(chunk) % self._align
        chunk.extend(bytes(pad))
        self._used = len(chunk)
        return self._chunks[-1], offset

    def _check_open(self) -> None:
        if self._submitted:
            raise WebAccelError("this batch was already submitted")
        self.ctx.check()

    def _record(self, dispatch: Dispatch) -> None:
        ubuf, uoff, usize = None, 0, 0
        if dispatch.uniforms is not None:
            ubuf, uoff = self._uniform_slot(dispatch.uniforms)
            usize = len(dispatch.uniforms)
        js_buffers = _compat.to_js([_buffer_of(b) for b in dispatch.buffers])
        self.ctx._glue.dispatch(
            self.ctx.device,
            self.pass_,
            dispatch.pipeline.pipeline,
            dispatch.pipeline.layout,
            js_buffers,
            ubuf,
            uoff,
            usize,
            *dispatch.groups,
        )
        self.dispatches += 1

    def submit(self) -> None:
        """Write the uniforms, end the pass and submit the one command buffer."""
        if self._submitted:
            raise WebAccelError("this batch was already submitted")
        ctx = self.ctx
        self._submitted = True
        try:
            ctx.check()
            for chunk, data in zip(self._chunks, self._uniform_data, strict=True):
                ctx._glue.write(ctx.queue, chunk, 0, data, 0, len(data))
            self.pass_.end()
            if self._query is not None:
                self._resolve = ctx.alloc(256)
                self._resolve_buf = ctx._glue.createBuffer(
                    ctx.device, 16, self._js_usage("QUERY_RESOLVE", "COPY_SRC")
                )
                self.encoder.resolveQuerySet(self._query, 0, 2, self._resolve_buf, 0)
                self.encoder.copyBufferToBuffer(self._resolve_buf, 0, self._resolve.buffer, 0, 16)
            ctx._glue.submit(ctx.queue, self.encoder)
        finally:
            ctx._batch_done(self._chunks)
            self._chunks = []

    def _js_usage(self, *names: str) -> int:
        usage = self.ctx._js.GPUBufferUsage
        value = 0
        for name in names:
            value |= getattr(usage, name)
        return value

    async def gpu_time_ns_async(self) -> int | None:
        """GPU nanoseconds between the start and the end of the pass (timing batches only)."""
        if self._resolve is None:
            return None
        raw = await self.ctx.read_async(self._resolve, 16)
        self.ctx.release(self._resolve)
        self._resolve = None
        self._resolve_buf.destroy()
        self._query.destroy()
        begin, end = struct.unpack("<QQ", bytes(raw))
        return int(end - begin)


def js_glue(name: str) -> Any:
    """The helpers of ``js_glue/<name>`` (this backend's: ``webgpu_glue.js``,
    ``webgpu_replay.js``), evaluated once."""
    return _compat.js_glue(name)


def webgpu_glue() -> Any:
    """The runtime's helpers, ``js_glue/webgpu_glue.js``."""
    return js_glue("webgpu_glue.js")

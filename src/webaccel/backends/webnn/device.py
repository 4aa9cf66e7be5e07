"""The ``webnn`` device: lowers a lazy-graph ``Program`` to one WebNN ``MLGraph`` and runs it.

Storages are flat 1-D ``MLTensor``s of the storage dtype (readable and writable), pooled by
(data type, elements) when released. ``copy_in`` is ``writeTensor`` straight from Python memory;
``copy_out_async`` is ``readTensor`` into a preallocated bytearray. ``compile`` makes a fresh
``MLGraphBuilder``, one graph input per program input storage, the steps as WebNN ops (see
``lowering.py``, ``builders.py`` and ``views.py``: views become slice/reshape/transpose/reverse/
expand, or one gather), the outputs reshaped to flat 1-D, and waits for ``build()`` (through
JSPI ``run_sync``). ``run`` takes the output tensors from the pool and makes one ``dispatch``.

``opSupportLimits()`` is read once per context: every WebNN call is checked against it, and
``supports(step)`` answers from the same check (a dry lowering without a builder).

Context loss (``webaccel.device``): the context's ``lost`` promise, or a call failing because
the context is lost (``context.lost_error``), marks the device lost and raises
``DeviceLostError``; ``_rebuild_async`` makes a new ``MLContext`` (same options) behind this
device, and the base class restores the live storages. Tensors carry the generation of the
context they were made on, so one of an older context is never pooled into the new one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ... import _compat
from ...device import Device, Implementation, Storage, check_sync_creation
from ...dtypes import DType, as_dtype, uint8
from ...errors import DeviceLostError
from ...ir import Program, Step
from ...view import View
from .builders import LOWERINGS
from .context import (
    WebNNError,
    check_api,
    create_context,
    glue,
    lost_error,
    read_limits,
    watch_lost,
)
from .emitter import BuildError, LimitError, Limits, Unsupported
from .lowering import lower_program
from .replay import ReplayPlan
from .stages import Staged, StagedReplay, run_staged, split

POOL_CAP_BYTES = 256 << 20


class WebNNUnsupportedError(NotImplementedError):
    """A step this WebNN context cannot run (names op, data type and rank)."""


class NNBuffer:
    """One storage: a flat MLTensor (None for zero elements), of context *generation*."""

    __slots__ = ("dtype", "generation", "nbytes", "numel", "tensor")

    def __init__(
        self, tensor: Any, dtype: str, numel: int, nbytes: int, generation: int = 0
    ) -> None:
        self.tensor, self.dtype, self.numel, self.nbytes = tensor, dtype, numel, nbytes
        self.generation = generation

    def __repr__(self) -> str:
        return f"<NNBuffer {self.dtype}[{self.numel}]>"


class JSBuilder:
    """The ``Emitter`` backend over a real ``MLGraphBuilder``."""

    def __init__(self, ctx: Any) -> None:
        js = _compat.js_namespace()
        self.js = js
        self.ctx = ctx
        self.builder = js.MLGraphBuilder.new(ctx)
        self._bytes = js.Map.new()  # MLTensor -> its bytes, for constant_from, this build only

    def constant_from(
        self, tensor: Any, dtype: str, shape: list[int], byte_offset: int, nbytes: int
    ) -> Any:
        """A constant operand holding bytes of a storage's MLTensor (read back once)."""
        promise = glue().constantFrom(
            self.ctx,
            self.builder,
            self._bytes,
            tensor,
            dtype,
            _compat.to_js(shape),
            byte_offset,
            nbytes,
        )
        return _compat.run_sync(promise)

    def _desc(self, dtype: str, shape: list[int]) -> Any:
        return _compat.to_js_object({"dataType": dtype, "shape": shape})

    def input(self, name: str, dtype: str, shape: list[int]) -> Any:
        return self.builder.input(name, self._desc(dtype, shape))

    def constant(self, dtype: str, shape: list[int], data: bytes) -> Any:
        u8 = self.js.Uint8Array.new(len(data))
        u8.assign(data)
        return glue().constant(
            self.builder, dtype, _compat.to_js(shape), u8, as_dtype(dtype).js_array
        )

    def call(self, op: str, args: list[Any], options: dict[str, Any] | None) -> Any:
        js_args = [_compat.to_js(a) if isinstance(a, list) else a for a in args]
        if options is not None:
            js_args.append(_compat.to_js_object(options))
        return getattr(self.builder, op)(*js_args)


@dataclass
class Compiled:
    program: Program
    graph: Any  # MLGraph, or None when every output is empty
    in_slots: list[int]  # program input slots the graph reads, in graph-input order
    in_names: Any  # JS array of their names
    out_names: Any  # JS array of the graph outputs' names
    outputs: list[tuple[int, DType]]  # (elements, dtype) per program output
    in_graph: list[int]  # program output positions the graph writes (others are empty)
    steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class WebNNDevice(Device):
    name = "webnn"
    ops = LOWERINGS  # op -> its builder (builders.py)
    unsupported: ClassVar[Mapping[str, str]] = {}  # every op of OPS lowers; limits decide per step
    losable = True

    def __init__(self, ctx: Any, limits: dict[str, Any] | None = None, ieee: bool = True) -> None:
        super().__init__()
        self.context_options: dict[str, Any] | None = None  # createContext's, for a rebuild
        self._lost: str | None = None
        # NaN/inf guards and accuracy fixes for this browser's WebNN (see ieee.py); False
        # gives the plain WebNN ops (fewer ops, this implementation's special-value answers)
        self.ieee = ieee
        check_api(ctx)
        self.ctx = ctx
        raw = limits if limits is not None else read_limits(ctx)
        self.limits = Limits(raw)
        self.max_buffer_bytes = raw.get("maxTensorByteLength")  # checked by arguments.check_fits
        self.max_buffer_source = "the context's opSupportLimits().maxTensorByteLength"
        self._pool: dict[tuple[str, int], list[Any]] = {}
        self.pooled_bytes = 0
        self.tensor_live = 0  # MLTensors handed out as storages
        self.tensor_live_bytes = 0
        self.created_tensors = 0
        self.destroyed_tensors = 0
        self._watch()

    @classmethod
    async def create_async(cls, options: dict[str, Any] | None = None) -> WebNNDevice:
        device = cls(await create_context(options))
        device.context_options = options
        return device

    @classmethod
    def create(cls, options: dict[str, Any] | None = None) -> WebNNDevice:
        return _compat.run_sync(cls.create_async(options))

    # -- context loss ----------------------------------------------------------------------------
    @property
    def lost_reason(self) -> str | None:
        return self._lost

    def _watch(self) -> None:
        ctx = self.ctx

        def report(message: str) -> None:
            if ctx is self.ctx:  # not a context already replaced
                self.mark_lost(message)

        watch_lost(ctx, report)

    def mark_lost(self, reason: str) -> None:
        if self._lost is None:
            self._lost = reason

    def lost_error(self, exc: BaseException) -> DeviceLostError | None:
        """The ``DeviceLostError`` to raise for *exc* when it says the context is lost (the
        device is then marked lost), else None. An ambiguous message ("Tensor has been
        destroyed or context is lost") is settled by asking the context: making a graph
        builder on a lost one fails at once, unambiguously."""
        kind = lost_error(exc)
        if kind is None and self._lost is None:
            try:
                JSBuilder(self.ctx)
            except Exception as probe:
                kind = lost_error(probe) is True
        if kind:
            self.mark_lost(str(exc))
        if not kind and self._lost is None:
            return None
        return DeviceLostError(
            f"the WebNN context was lost ({self._lost}); its tensors and graphs are gone "
            "with it (the webnn device makes a new context on its next call)"
        )

    async def _rebuild_async(self) -> None:
        """A new MLContext (the same options) behind this device; its pool and counters start
        empty: the old context's tensors went with it."""
        ctx = await create_context(self.context_options)
        self.ctx = ctx
        self.limits = Limits(read_limits(ctx))
        self._pool.clear()
        self.pooled_bytes = self.tensor_live = self.tensor_live_bytes = 0
        self._lost = None
        self._watch()

    async def _restored_handle_async(self, numel: int, dtype: DType) -> NNBuffer:
        return await self._take_async(dtype.webnn, numel, dtype.nbytes(numel))

    # -- tensors -------------------------------------------------------------------------------
    def _take(self, dtype: str, numel: int, nbytes: int) -> NNBuffer:
        if numel == 0:
            return NNBuffer(None, dtype, 0, 0, self.generation)
        free = self._pool.get((dtype, numel))
        if free:
            tensor = free.pop()
            self.pooled_bytes -= nbytes
        else:
            try:
                tensor = _compat.run_sync(self.ctx.createTensor(self._desc(dtype, numel)))
            except Exception as exc:
                lost = self.lost_error(exc)
                if lost is not None:
                    raise lost from exc
                raise
            self.created_tensors += 1
        self.tensor_live += 1
        self.tensor_live_bytes += nbytes
        return NNBuffer(tensor, dtype, numel, nbytes, self.generation)

    async def _take_async(self, dtype: str, numel: int, nbytes: int) -> NNBuffer:
        """``_take`` awaiting the tensor's creation (no JSPI needed)."""
        if numel == 0 or self._pool.get((dtype, numel)):
            return self._take(dtype, numel, nbytes)
        try:
            tensor = await self.ctx.createTensor(self._desc(dtype, numel))
        except Exception as exc:
            lost = self.lost_error(exc)
            if lost is not None:
                raise lost from exc
            raise
        self.created_tensors += 1
        self.tensor_live += 1
        self.tensor_live_bytes += nbytes
        return NNBuffer(tensor, dtype, numel, nbytes, self.generation)

    @staticmethod
    def _desc(dtype: str, numel: int) -> Any:
        desc = {"dataType": dtype, "shape": [numel], "readable": True, "writable": True}
        return _compat.to_js_object(desc)

    def storage(self, numel: int, dtype: DType) -> Storage:
        if dtype.webnn not in self.limits.raw.get("input", {}).get("dataTypes", [dtype.webnn]):
            raise TypeError(f"this WebNN context has no {dtype.name} tensors")
        self.limits.size(f"webnn: a {dtype.name} storage", dtype.webnn, (numel,))
        if self.memory_limit is not None:
            self.reserve(dtype.nbytes(numel), "an allocation")
        return Storage(self, self._take(dtype.webnn, numel, dtype.nbytes(numel)), numel, dtype)

    def alloc(self, nbytes: int) -> NNBuffer:
        self.limits.size("webnn: a byte buffer", "uint8", (nbytes,))
        return self._take("uint8", nbytes, uint8.nbytes(nbytes))

    def free(self, handle: NNBuffer, nbytes: int) -> None:
        if handle.tensor is None:
            return
        if handle.generation != self.generation:  # of a lost context: gone with it
            handle.tensor = None
            return
        self.tensor_live -= 1
        self.tensor_live_bytes -= handle.nbytes
        if self.pooled_bytes + handle.nbytes > POOL_CAP_BYTES:
            handle.tensor.destroy()
            self.destroyed_tensors += 1
        else:
            self._pool.setdefault((handle.dtype, handle.numel), []).append(handle.tensor)
            self.pooled_bytes += handle.nbytes
        handle.tensor = None

    def trim(self) -> None:
        """Destroy every pooled MLTensor."""
        for tensors in self._pool.values():
            for t in tensors:
                t.destroy()
                self.destroyed_tensors += 1
        self._pool.clear()
        self.pooled_bytes = 0

    def copy_in(self, handle: NNBuffer, data: memoryview) -> None:
        if handle.tensor is None:
            return
        if data.nbytes != handle.nbytes:
            raise ValueError(f"copy_in: {data.nbytes} bytes for a {handle.nbytes}-byte tensor")
        try:
            glue().write(self.ctx, handle.tensor, data)
        except Exception as exc:
            lost = self.lost_error(exc)
            if lost is not None:
                raise lost from exc
            raise

    async def copy_out_async(self, handle: NNBuffer, nbytes: int, offset: int = 0) -> bytearray:
        if nbytes == 0 or handle.tensor is None:
            return bytearray()
        data = bytearray(handle.nbytes)
        try:
            await glue().read(self.ctx, handle.tensor, data)
        except Exception as exc:
            lost = self.lost_error(exc)
            if lost is not None:
                raise lost from exc
            raise
        if offset == 0 and nbytes == handle.nbytes:
            return data
        return data[offset : offset + nbytes]

    def memory(self) -> dict[str, int]:
        return {
            **super().memory(),
            "nn_live_tensors": self.tensor_live,
            "nn_live_bytes": self.tensor_live_bytes,
            "nn_pooled_tensors": sum(len(v) for v in self._pool.values()),
            "nn_pooled_bytes": self.pooled_bytes,
            "nn_created_tensors": self.created_tensors,
        }

    # -- what this context can do ----------------------------------------------------------------
    def why_unsupported(self, step: Step | Program) -> str | None:
        """None when *step* (alone, its result stored) or a whole program lowers within this
        context's ``opSupportLimits()``, else why not."""
        program = step if isinstance(step, Program) else _one_step_program(step)
        stages = split(program)  # bitcast reads run as stages (stages.py)
        try:
            for part in [program] if stages is None else [s.program for s in stages]:
                lower_program(part, self.limits, None, self.ieee)
        except Unsupported as exc:
            return str(exc)
        return None

    def _supports(self, step: Step) -> bool:
        """Whether *step* runs here: every WebNN op its lowering uses is in the limits, with
        the input data types allowed and the ranks in range (a dry lowering, no builder)."""
        return self.why_unsupported(step) is None

    # -- graphs --------------------------------------------------------------------------------
    # Captured weights up to this size become graph constants (compile_captured). Constants let
    # the browser pre-pack gemm weights (2.1x faster gemms) and spare dispatch() the copy of
    # bound input tensors into the graph: MiniLM seq 16 took 98 ms with its 47 MB embedding
    # table bound as an input, 42 ms with it a constant (headless shell). The price: every
    # compiled graph (one per captured signature) holds its own copy of its constants.
    CONST_MAX_BYTES = 256 << 20

    def compile_captured(
        self, program: Program, inputs: list[Storage], sources: list[tuple[str, int]]
    ) -> Compiled:
        """``compile`` for ``webaccel.capture``: the captured constants (weights realized
        before the trace, immutable while the replay plan holds them) that fit
        ``CONST_MAX_BYTES`` are built into the graph as constants instead of inputs."""
        consts = {
            slot: storage.handle.tensor
            for slot, ((kind, _), storage) in enumerate(zip(sources, inputs, strict=True))
            if kind == "const"
            and storage.handle is not None
            and storage.handle.tensor is not None
            and 0 < storage.nbytes <= self.CONST_MAX_BYTES
        }
        return self.compile(program, consts)

    def compile(self, program: Program, consts: dict[int, Any] | None = None) -> Compiled | Staged:
        if not _compat.host().in_pyodide:
            raise WebNNError("the webnn backend runs inside Pyodide in a browser")
        stages = split(program)
        if stages is not None:  # bitcast reads: one graph per stage (stages.py)
            return Staged(program, [(s, self.compile(s.program)) for s in stages])
        try:
            return self._compile(program, consts)
        except Exception as exc:
            lost = self.lost_error(exc)
            if lost is not None:
                raise lost from exc
            raise

    def _compile(self, program: Program, consts: dict[int, Any] | None) -> Compiled:
        backend = JSBuilder(self.ctx)
        try:
            low, outs = lower_program(program, self.limits, backend, self.ieee, consts)
        except Unsupported as exc:
            raise WebNNUnsupportedError(str(exc)) from None
        in_graph = [j for j, v in enumerate(outs) if v is not None]
        # Only the inputs the outputs read: build() prunes an input nothing uses (a 0-d
        # placeholder for an absent bias, say), and dispatch() rejects extra tensors.
        used = low.e.reachable_inputs([outs[j] for j in in_graph])  # type: ignore[misc]
        in_slots = sorted(s for s in low.inputs if f"i{s}" in used)
        names = [f"o{j}" for j in in_graph]
        graph = None
        if in_graph:
            operands = [outs[j].js for j in in_graph]  # type: ignore[union-attr]
            promise = glue().build(backend.builder, _compat.to_js(names), _compat.to_js(operands))
            try:
                graph = _compat.run_sync(promise)
            except Exception as exc:  # the browser's own rejection, with the program named
                raise BuildError(
                    f"webnn: build() of a graph of {len(program.steps)} steps "
                    f"({', '.join(sorted({s.op for s in program.steps}))}) failed: {exc}"
                ) from exc
        outputs = [
            (math.prod(program.steps[i].shape), program.steps[i].dtype) for i in program.outputs
        ]
        return Compiled(
            program,
            graph,
            in_slots,
            _compat.to_js([f"i{s}" for s in in_slots]),
            _compat.to_js(names),
            outputs,
            in_graph,
            len(program.steps),
        )

    def run(self, compiled: Compiled | Staged, inputs: list[Storage]) -> list[Storage]:
        if isinstance(compiled, Staged):
            return run_staged(self, compiled, inputs)
        handles = [self._take(d.webnn, n, d.nbytes(n)) for n, d in compiled.outputs]
        if compiled.graph is not None:
            ins = _compat.to_js([inputs[s].handle.tensor for s in compiled.in_slots])
            outs = _compat.to_js([handles[j].tensor for j in compiled.in_graph])
            try:
                glue().dispatch(
                    self.ctx, compiled.graph, compiled.in_names, ins, compiled.out_names, outs
                )
            except Exception as exc:
                lost = self.lost_error(exc)
                if lost is not None:
                    raise lost from exc
                raise
        return [Storage(self, h, n, d) for h, (n, d) in zip(handles, compiled.outputs, strict=True)]

    def capture_runner(
        self, compiled: Compiled | Staged, inputs: list[Storage], sources: list[tuple[str, int]]
    ) -> Any:
        """A replay of *compiled* for ``webaccel.capture``: one JS call per run (replay.py)."""
        if isinstance(compiled, Staged):
            return StagedReplay(lambda ins: run_staged(self, compiled, ins), inputs, sources)
        return ReplayPlan(self, compiled, inputs, sources)


def _one_step_program(step: Step) -> Program:
    """*step* alone, each of its sources an input storage just large enough for its view."""
    inputs, srcs = [], []
    for k, (_, view, dtype) in enumerate(step.srcs):
        _, hi = view.span()
        inputs.append((max(hi + 1, 0), dtype))
        srcs.append((k, view, dtype))
    return Program(tuple(inputs), (step._replace(srcs=tuple(srcs)),), (0,))


def create_device() -> WebNNDevice:
    check_sync_creation("webnn", "a browser with WebNN")
    return WebNNDevice.create()


async def create_device_async(options: dict[str, Any] | None = None) -> WebNNDevice:
    return await WebNNDevice.create_async(options)


IMPLEMENTATION = Implementation(WebNNDevice, create_device, create_device_async)

__all__ = [
    "POOL_CAP_BYTES",
    "BuildError",
    "Compiled",
    "JSBuilder",
    "LimitError",
    "NNBuffer",
    "View",
    "WebNNDevice",
    "WebNNError",
    "WebNNUnsupportedError",
    "check_api",
    "create_device_async",
]

"""The ``webgpu`` device: lowers a lazy-graph ``Program`` to WGSL kernels and runs it.

``compile`` turns the program into a list of launches (``fusion.plan`` merges elementwise
chains into single kernels); ``run`` records them all into ONE command encoder (``Batch``),
allocates each step's output from the runtime's size-bucketed pool, hands intermediates back
to the pool as soon as the batch is submitted, and returns the outputs as refcounted storages.
Inputs are read in place through their views (transposes, slices and broadcasts are strides,
not copies).

Device loss (``webaccel.device``): ``lost_reason`` is the runtime's (the GPUDevice's ``lost``
promise); ``_rebuild_async`` makes a new ``GPUContext`` behind this same device, after which
the base class restores the live storages and captured graphs recompile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...device import Device, Implementation, Storage, check_sync_creation
from ...dtypes import DType
from ...engine import fusion
from ...ir import Program, Step
from ...ops import OPS
from ...shapes import numel
from ...view import View
from . import kernels
from .kernels import expr
from .kernels.launch import new_output
from .replay import ReplayPlan
from .runtime import GPUContext
from .views import GPU_DTYPES, StridedView


def gpu_dtype(dtype: DType) -> str:
    """The kernels' name for *dtype*, which they must compute on (float32, float16, int32)."""
    if dtype.name not in GPU_DTYPES:
        raise TypeError(
            f"the webgpu backend computes on {', '.join(GPU_DTYPES)}, not {dtype.name}; "
            "cast (or dequantize) first"
        )
    return dtype.name


def strided(handle: Any, view: View, dtype: DType) -> StridedView:
    return StridedView.of(handle, view, gpu_dtype(dtype))


# A launch records one kernel: (batch, buffers by slot) -> its contiguous output
Launch = Callable[[Any, list[Any]], StridedView]


@dataclass
class Compiled:
    program: Program
    launches: list[tuple[Launch, tuple[int, ...]]]  # (record fn, (the slot it writes,))
    kernel_count: int
    reads: list[tuple[int, ...]]  # per launch, the slots it reads


# What bounds one op's output: it is bound as a storage buffer (webaccel.arguments.check_fits)
BUFFER_LIMITS = ("maxStorageBufferBindingSize", "maxBufferSize")


class WebGPUDevice(Device):
    name = "webgpu"
    losable = True

    def __init__(self, ctx: GPUContext | None = None) -> None:
        super().__init__()
        self.ctx = ctx if ctx is not None else GPUContext.create()
        self.max_buffer_bytes = min(self.ctx.limits.get(k, 128 << 20) for k in BUFFER_LIMITS)
        self.max_buffer_source = "the device's " + " / ".join(BUFFER_LIMITS)

    @classmethod
    async def create_async(cls) -> WebGPUDevice:
        return cls(await GPUContext.create_async())

    # -- device loss ---------------------------------------------------------------------------
    @property
    def lost_reason(self) -> str | None:
        return self.ctx.lost_reason

    async def _rebuild_async(self) -> None:
        """A new GPUDevice (and pools, pipeline cache) behind this device; the old context's
        buffers, pipelines and replay plans stay bound to the old one and fail if used.

        Every pipeline the old device had is compiled again here, all at once
        (``createComputePipelineAsync``): the browser compiles them in parallel, where the
        graphs recompiled afterwards would ask for them one at a time (SwiftShader: seconds)."""
        old, self.ctx = self.ctx, await GPUContext.create_async()
        keys = list(old._pipelines)
        if keys:
            await asyncio.gather(
                *(self.ctx.pipeline_async(src, entry) for src, entry in keys),
                return_exceptions=True,  # one failing now fails again, clearly, where it is used
            )

    def _supports(self, step: Step) -> bool:
        """Every op of the table, on float32/float16/int32 data (int8/uint8/int4 are weight
        storage here, read only by the dequantizing ops ``linear_q`` and ``dequantize``)."""
        if step.op in QUANT_LOWERINGS:
            return _quant_supported(step)
        return all(d.name in GPU_DTYPES for _, _, d in step.srcs) and step.dtype.name in GPU_DTYPES

    # -- raw buffers ---------------------------------------------------------------------------
    def alloc(self, nbytes: int) -> Any:
        return self.ctx.alloc(max(nbytes, 4))

    def free(self, handle: Any, nbytes: int) -> None:
        self.ctx.release(handle)

    def copy_in(self, handle: Any, data: memoryview) -> None:
        self.ctx.write(handle, data)

    def trim(self) -> None:
        self.ctx.trim()

    def write_from_js(self, data: Any, pieces: list[tuple[Any, int, int, int]]) -> None:
        """Optional device method, used by ``webaccel.store`` when its backend hands back JS
        ArrayBuffers: write pieces ``(handle, offset, start, length)`` of *data* (whole words)
        without a copy through Python memory (``GPUContext.write_from_js``)."""
        self.ctx.write_from_js(data, pieces)

    async def copy_out_async(self, handle: Any, nbytes: int, offset: int = 0) -> bytearray:
        if nbytes == 0:
            return bytearray()
        aligned = offset - offset % 4
        data = await self.ctx.read_async(handle, nbytes + (offset - aligned), aligned)
        return data[offset - aligned :] if offset != aligned else data

    def memory(self) -> dict[str, int]:
        return {
            **super().memory(),
            "gpu_live_bytes": self.ctx.live_bytes,
            "gpu_pooled_bytes": self.ctx.pooled_bytes,
            "gpu_live_buffers": self.ctx.live_buffers,
        }

    # -- graphs --------------------------------------------------------------------------------
    def compile(self, program: Program) -> Compiled:
        launches, reads = [], []
        for item in fusion.plan(program):
            if isinstance(item, fusion.Fused):
                launches.append((_fused_launch(program, item), (program.n_inputs + item.index,)))
                reads.append(tuple(slot for slot, _, _ in item.inputs))
            else:
                step = program.steps[item]
                launches.append((_step_launch(program, item, step), (program.n_inputs + item,)))
                reads.append(tuple(slot for slot, _, _ in step.srcs))
        return Compiled(program, launches, len(launches), reads)

    def capture_runner(
        self, compiled: Compiled, inputs: list[Storage], sources: list[tuple[str, int]]
    ) -> Any:
        """A replay plan for ``webaccel.capture`` (one JS call per run)."""
        return ReplayPlan(self, compiled, inputs, sources)

    def run(self, compiled: Compiled, inputs: list[Storage]) -> list[Storage]:
        program = compiled.program
        n = program.n_inputs
        buffers: list[Any] = [s.handle for s in inputs] + [None] * len(program.steps)
        outputs = {n + i for i in program.outputs}
        batch = self.ctx.batch()
        for launch, (slot,) in compiled.launches:
            buffers[slot] = launch(batch, buffers).buffer
            if slot not in outputs:
                # Back to the pool once this batch is submitted; the graph is recorded in
                # order, so later kernels of the batch may reuse it only after this one ran.
                batch.release_after(buffers[slot])
        batch.submit()
        return [
            Storage(self, buffers[n + i], numel(program.steps[i].shape), program.steps[i].dtype)
            for i in program.outputs
        ]


def _fused_launch(program: Program, item: fusion.Fused) -> Launch:
    out_dtype = gpu_dtype(item.dtype)
    srcs = item.inputs

    def launch(batch: Any, buffers: list[Any]) -> StridedView:
        views = [strided(buffers[slot], view, dtype) for slot, view, dtype in srcs]
        if not views:  # a constant filling a shape: the kernel needs the shape from `out`
            out = new_output(batch, item.shape, out_dtype)
            return kernels.elementwise(batch, item.expr, views, out_dtype=out_dtype, out=out)
        return _fit(kernels.elementwise(batch, item.expr, views, out_dtype=out_dtype), item.shape)

    return launch


def _step_launch(program: Program, index: int, step: Step) -> Launch:
    if step.op in QUANT_LOWERINGS:
        return _quant_launch(step)
    lower = LOWERINGS.get(step.op)
    if lower is None:
        raise NotImplementedError(f"the webgpu backend has no kernel for {step.op!r}")

    want = gpu_dtype(step.dtype)

    def launch(batch: Any, buffers: list[Any]) -> StridedView:
        views = [strided(buffers[slot], view, dtype) for slot, view, dtype in step.srcs]
        if step.op != "contiguous":
            views = [_as_f32(batch, v) for v in views]
        out = _fit(lower(batch, step, views), step.shape)
        if out.dtype != want:  # e.g. a float16 step whose kernel computed and wrote f32
            cast = kernels.copy(batch, out, dtype=want)
            batch.release_after(out.buffer)
            out = cast
        return out

    return launch


def _as_f32(batch: Any, view: StridedView) -> StridedView:
    """float16 storage read as float32 for kernels that compute in f32 (no shader-f16 here)."""
    if view.dtype != "float16":
        return view
    out = kernels.copy(batch, view, dtype="float32")
    batch.release_after(out.buffer)
    return out


def _fit(out: StridedView, shape: tuple[int, ...]) -> StridedView:
    """The kernel's contiguous result, checked against the shape the graph expects."""
    if tuple(out.shape) != tuple(shape):
        if numel(out.shape) != numel(shape) or not out.is_contiguous:
            raise AssertionError(f"kernel returned shape {out.shape}, the graph expects {shape}")
    return out


def _optional(view: StridedView) -> StridedView | None:
    """ops.py passes a 0-d placeholder for an absent weight/bias."""
    return None if len(view.shape) == 0 else view


def _pads_tlbr(pads: tuple[int, ...]) -> tuple[int, int, int, int]:
    """ONNX (begin_h, end_h, begin_w, end_w) -> the kernels' (top, left, bottom, right)."""
    return pads[0], pads[2], pads[1], pads[3]


def _conv(batch: Any, step: Step, v: list[StridedView]) -> StridedView:
    x, w, b = v
    a = dict(step.attrs)
    stride, dilation, pads = a["stride"], a["dilation"], a["padding"]
    if len(stride) == 1:  # conv1d as conv2d over a height of 1
        h_axis = 2 if a["layout"] == "nchw" else 1
        x, w = x.expand_dims(h_axis), w.expand_dims(2)
        stride, dilation, pads = (1, *stride), (1, *dilation), (0, 0, *pads)
    out = kernels.conv2d(
        batch,
        x,
        w,
        _optional(b),
        stride=stride,
        padding=_pads_tlbr(pads),
        dilation=dilation,
        groups=a["groups"],
        layout=a["layout"].upper(),
    )
    if len(a["stride"]) == 1:
        out = out.reshape(step.shape)
    return out


def _pool(kind: str) -> Callable[[Any, Step, list[StridedView]], StridedView]:
    def lower(batch: Any, step: Step, v: list[StridedView]) -> StridedView:
        a = dict(step.attrs)
        return kernels.pool2d(
            batch,
            v[0],
            kind,
            a["kernel"],
            a["stride"],
            _pads_tlbr(a["padding"]),
            layout=a["layout"].upper(),
        )

    return lower


def _reduce(op: str) -> Callable[[Any, Step, list[StridedView]], StridedView]:
    def lower(batch: Any, step: Step, v: list[StridedView]) -> StridedView:
        return kernels.reduce(batch, v[0], op, step.attr("axes"), step.attr("keepdims", False))

    return lower


def _full(batch: Any, step: Step, v: list[StridedView]) -> StridedView:
    dtype = gpu_dtype(step.dtype)
    expr = ("const", step.attr("value"), step.dtype.name)
    out = new_output(batch, step.shape, dtype)
    return kernels.elementwise(batch, expr, [], out_dtype=dtype, out=out)


LOWERINGS: dict[str, Callable[[Any, Step, list[StridedView]], StridedView]] = {
    "contiguous": lambda batch, step, v: kernels.copy(batch, v[0]),
    "full": _full,
    "matmul": lambda batch, step, v: kernels.matmul(batch, v[0], v[1]),
    "linear": lambda batch, step, v: kernels.matmul(
        batch,
        v[0],
        v[1].transpose(-2, -1),
        bias=_optional(v[2]),
        activation=step.attr("activation"),
    ),
    "sum": _reduce("sum"),
    "mean": _reduce("mean"),
    "max": _reduce("max"),
    "min": _reduce("min"),
    "softmax": lambda batch, step, v: kernels.softmax(batch, v[0], step.attr("axis")),
    "layer_norm": lambda batch, step, v: kernels.layer_norm(
        batch,
        v[0],
        _optional(v[1]),
        _optional(v[2]),
        axes=len(step.attr("axes")),
        eps=step.attr("eps"),
    ),
    "batch_norm": lambda batch, step, v: kernels.batch_norm(
        batch, v[0], v[1], v[2], v[3], v[4], eps=step.attr("eps"), axis=step.attr("axis")
    ),
    "conv": _conv,
    "max_pool2d": _pool("max"),
    "avg_pool2d": _pool("avg"),
    "concat": lambda batch, step, v: kernels.concat(batch, v, step.attr("axis")),
    "gather": lambda batch, step, v: kernels.gather(batch, v[0], v[1], step.attr("axis")),
}


# --- weight-only quantized ops: int8/int4 codes read packed by the kernels (matmul_q.py) ------


def _quant_supported(step: Step) -> bool:
    """Codes int8/int4, everything else float32/float16 (the op table checks the rest)."""
    dtypes = [d.name for _, _, d in step.srcs]
    codes = 0 if step.op == "dequantize" else 1
    return (
        dtypes[codes] in ("int8", "int4")
        and all(d in GPU_DTYPES and d != "int32" for i, d in enumerate(dtypes) if i != codes)
        and step.dtype.name == "float32"
    )


def _quant_launch(step: Step) -> Launch:
    lower = QUANT_LOWERINGS[step.op]

    def launch(batch: Any, buffers: list[Any]) -> StridedView:
        views: list[Any] = []
        for slot, view, dtype in step.srcs:
            if dtype.name in ("int8", "int4"):
                views.append(StridedView.of(buffers[slot], view, dtype.name))
            else:
                views.append(_as_f32(batch, strided(buffers[slot], view, dtype)))
        return _fit(lower(batch, step, views), step.shape)

    return launch


QUANT_LOWERINGS: dict[str, Callable[[Any, Step, list[Any]], StridedView]] = {
    "linear_q": lambda batch, step, v: kernels.linear_q(
        batch,
        v[0],
        v[1],
        v[2],
        step.attr("group"),
        bias=_optional(v[3]),
        activation=step.attr("activation"),
    ),
    "dequantize": lambda batch, step, v: kernels.dequantize(batch, v[0], v[1], step.attr("group")),
}


def create_device() -> WebGPUDevice:
    check_sync_creation("webgpu", "a browser, or Node.js with Dawn")
    return WebGPUDevice()


async def create_device_async() -> WebGPUDevice:
    return await WebGPUDevice.create_async()


# The op table. Elementwise ops (and scalar ``full``) compile into fused expression kernels
# (engine.fusion plans them, kernels/expr.py writes their WGSL); every other op has its launcher.
ELEMENTWISE_OPS = frozenset(
    op for op in OPS if op in expr.UNARY or op in expr.BINARY or op in ("where", "cast", "gelu")
)
WebGPUDevice.ops = {
    **dict.fromkeys(ELEMENTWISE_OPS, _fused_launch),
    **LOWERINGS,
    **QUANT_LOWERINGS,
}
WebGPUDevice.unsupported = {}  # every op of OPS has a kernel here

IMPLEMENTATION = Implementation(WebGPUDevice, create_device, create_device_async)

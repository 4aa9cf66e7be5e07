"""The WebGPU backend: a runtime over Pyodide's JS FFI and a library of WGSL kernels.

``device``: ``WebGPUDevice`` and its op table; ``probe``: what ``detect()`` reports.

``runtime``: ``GPUContext`` (device, pooled buffers, pipelines, batches), ``DeviceLostError``,
``IndexOutOfRangeError`` (an out-of-range gather index, raised at the next read).
``kernels``: one module per kernel family with its ``.wgsl`` beside it (see its docstring for
where each op's kernel lives) -- each records into a ``Batch`` and returns a ``StridedView``
(``views``: a buffer paired with a ``webaccel.view.View``).
``tuning`` (the matmul tuning table) is written by ``autotune`` and read by the matmul kernels.
``device``: the ``webgpu`` Device, lowering graph steps to kernels; ``replay``: captured graphs.
"""

from __future__ import annotations

from ...device import Backend, lazy_implementation, register_backend
from ...lazy import lazy_getattr
from .probe import probe_async

# The WGSL kernel library (device.py and below) loads with the first WebGPU device.
BACKEND = register_backend(
    Backend("webgpu", 1, "WebGPU", probe_async, lazy_implementation(__name__))
)

# The runtime and kernel names load on first use (they need none of it to register).
__getattr__ = lazy_getattr(
    __name__,
    {
        "runtime": (
            "Batch DeviceLostError GPUBufferHandle GPUContext IndexOutOfRangeError Pipeline "
            "WebGPUError"
        ).split(),
        "views": ("StridedView",),
        "device": ("WebGPUDevice",),
    },
    modules=("kernels",),
)

__all__ = [
    "BACKEND",
    "Batch",
    "DeviceLostError",
    "GPUBufferHandle",
    "GPUContext",
    "IndexOutOfRangeError",
    "Pipeline",
    "StridedView",
    "WebGPUDevice",
    "WebGPUError",
    "kernels",
]

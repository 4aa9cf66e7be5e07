"""The WebGPU backend: a runtime over Pyodide's JS FFI and a library of WGSL kernels.

``device``: ``WebGPUDevice`` and its op table; ``probe``: what ``detect()`` reports.

``runtime``: ``GPUContext`` (device, pooled buffers, pipelines, batches), ``DeviceLostError``.
``kernels``: one module per kernel family with its ``.wgsl`` beside it (see its docstring for
where each op's kernel lives) -- each records into a ``Batch`` and returns a ``StridedView``
(``views``: a buffer paired with a ``webaccel.view.View``).
``tuning`` (the matmul tuning table) is written by ``autotune`` and read by the matmul kernels.
``device``: the ``webgpu`` Device, lowering graph steps to kernels; ``replay``: captured graphs.
"""

from __future__ import annotations

from ...device import Backend, register_backend
from . import kernels
from .device import WebGPUDevice, create_device, create_device_async
from .probe import probe_async
from .runtime import Batch, DeviceLostError, GPUBufferHandle, GPUContext, Pipeline, WebGPUError
from .views import StridedView

# name, fallback rank, device class, create, create_async, probe, needs
BACKEND = register_backend(
    Backend("webgpu", 1, WebGPUDevice, create_device, create_device_async, probe_async, "WebGPU")
)

__all__ = [
    "BACKEND",
    "Batch",
    "DeviceLostError",
    "GPUBufferHandle",
    "GPUContext",
    "Pipeline",
    "StridedView",
    "WebGPUDevice",
    "WebGPUError",
    "kernels",
]

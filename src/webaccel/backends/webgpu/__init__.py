"""The WebGPU backend: a runtime over Pyodide's JS FFI and a library of WGSL kernels.

``runtime``: ``GPUContext`` (device, pooled buffers, pipelines, batches), ``DeviceLostError``.
``kernels``: one module per kernel family with its ``.wgsl`` beside it (see its docstring for
where each op's kernel lives) -- each records into a ``Batch`` and returns a ``StridedView``
(``views``: a buffer paired with a ``webaccel.view.View``).
``tuning`` (the matmul tuning table) is written by ``autotune`` and read by the matmul kernels.
``device``: the ``webgpu`` Device, lowering graph steps to kernels; ``replay``: captured graphs.
"""

from __future__ import annotations

from . import kernels
from .runtime import Batch, DeviceLostError, GPUBufferHandle, GPUContext, Pipeline, WebGPUError
from .views import StridedView

__all__ = [
    "Batch",
    "DeviceLostError",
    "GPUBufferHandle",
    "GPUContext",
    "Pipeline",
    "StridedView",
    "WebGPUError",
    "kernels",
]

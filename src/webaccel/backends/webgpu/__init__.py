"""The WebGPU backend: a runtime over Pyodide's JS FFI and a library of WGSL kernels.

``runtime``: ``GPUContext`` (device, pooled buffers, pipelines, batches), ``DeviceLostError``.
``kernels``: elementwise (fused), matmul, reductions, softmax, norms, conv2d, pooling, data
movement -- each records into a ``Batch`` and returns a ``StridedView`` (``views``).
``expr`` / ``codegen``: the WGSL generators (pure Python, testable on CPython).
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

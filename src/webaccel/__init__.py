"""webaccel: run neural networks from Python in the browser (WebNN, WebGPU, NumPy fallback).

Pure Python; inside Pyodide it drives the browser's accelerators through the JS FFI, on CPython
it runs the NumPy backend. ``import webaccel`` never needs NumPy.
"""

from __future__ import annotations

from . import backends  # noqa: F401  (each backend registers its row of the backend table)
from ._compat import IN_PYODIDE
from .capabilities import detect, detect_async, format_report
from .capture import capture
from .device import (
    Device,
    StorageLeakWarning,
    get_device,
    set_default_device,
    set_memory_limit,
)
from .dtypes import DType, float16, float32, int4, int8, int32, uint8
from .engine import allow, deny
from .errors import (
    DeviceLostError,
    DTypeError,
    MemoryLimitError,
    ShapeError,
    SyncUnavailableError,
    WebAccelError,
)
from .functional import (
    abs,
    add,
    attention,
    avg_pool2d,
    batch_norm,
    cast,
    concat,
    conv1d,
    conv2d,
    div,
    erf,
    exp,
    expand,
    gather,
    gelu,
    gemm,
    layer_norm,
    linear,
    log,
    matmul,
    max_pool2d,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    reshape,
    rsqrt,
    sigmoid,
    slice_,
    softmax,
    split,
    sqrt,
    sub,
    tanh,
    transpose,
    where,
)
from .lazy import lazy_getattr
from .ops import OPS
from .selection import init, init_async
from .tensor import Tensor, explain, from_buffer, full, ones, set_eager, tensor, zeros

__version__ = "0.1.0"

# The store, the weights and the models load on first use, so a page that only computes does
# not pay for them at `import webaccel`.
__getattr__ = lazy_getattr(
    __name__,
    {
        "weights": ("memory_report", "share", "share_async", "shared_tensor"),
        "pipelines": ("pipeline", "pipeline_async"),
    },
    modules=("store", "weights", "sharing"),
)


def graph_stats(backend: str | None = None) -> dict[str, int]:
    """Compiled-graph cache counters of a backend: hits, misses, runs, programs."""
    return get_device(backend).cache.as_dict()


__all__ = [
    "IN_PYODIDE",
    "OPS",
    "DType",
    "DTypeError",
    "Device",
    "DeviceLostError",
    "MemoryLimitError",
    "ShapeError",
    "StorageLeakWarning",
    "SyncUnavailableError",
    "Tensor",
    "WebAccelError",
    "abs",
    "add",
    "allow",
    "attention",
    "avg_pool2d",
    "batch_norm",
    "capture",
    "cast",
    "concat",
    "conv1d",
    "conv2d",
    "deny",
    "detect",
    "detect_async",
    "div",
    "erf",
    "exp",
    "expand",
    "explain",
    "float16",
    "float32",
    "format_report",
    "from_buffer",
    "full",
    "gather",
    "gelu",
    "gemm",
    "get_device",
    "graph_stats",
    "init",
    "init_async",
    "int4",
    "int8",
    "int32",
    "layer_norm",
    "linear",
    "log",
    "matmul",
    "max_pool2d",
    "maximum",
    "memory_report",
    "minimum",
    "mul",
    "neg",
    "ones",
    "pipeline",
    "pipeline_async",
    "pow",
    "relu",
    "reshape",
    "rsqrt",
    "set_default_device",
    "set_eager",
    "set_memory_limit",
    "share",
    "share_async",
    "shared_tensor",
    "sharing",
    "sigmoid",
    "slice_",
    "softmax",
    "split",
    "sqrt",
    "store",
    "sub",
    "tanh",
    "tensor",
    "transpose",
    "uint8",
    "weights",
    "where",
    "zeros",
]

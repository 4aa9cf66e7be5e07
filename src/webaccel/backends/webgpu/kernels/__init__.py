"""The WGSL kernels, one module per family with its shader beside it.

Every kernel takes the batch first (a ``runtime.Batch``), ``StridedView`` inputs (any strides:
transposed, sliced, broadcast and reversed views need no copy) and returns a new *contiguous*
``StridedView`` on a buffer from ``batch.ctx.alloc`` (the caller releases ``out.buffer``), or
writes into ``out=`` where given. Nothing runs until ``batch.submit()``.

Where each op's kernel lives (module -> shader):

    elementwise.py -> elementwise.wgsl  every unary / binary / comparison / logic op, where,
                                        cast, full, copy (contiguous), concat, batch_norm, and
                                        the fused chains (expressions: expr.py)
    matmul.py      -> picks one of      matmul, linear (x @ W^T + bias, activation)
      matmul_tiled.py / .wgsl           shared-memory tiles (GPUs)
      matmul_direct.py / .wgsl          no shared memory (software adapters, matvec, int32)
      matmul_reg.py / .wgsl             register tiles, double-buffered (autotuned)
      matmul_subgroup.py / .wgsl        subgroup broadcasts (autotuned)
    matmul_q.py    -> matmul_q.wgsl     linear_q (int8 / int4 weights, dequantized in the loop)
                   -> dequantize.wgsl   dequantize
    reduce.py      -> reduce.wgsl       sum, mean, max, min, prod
    rows.py        -> rows.wgsl         softmax, log_softmax, layer_norm, rms_norm
    conv.py        -> conv_im2col.wgsl  conv (1d / 2d, groups, dilation; im2col + matmul)
    pool2d.py      -> pool2d.wgsl       max_pool2d, avg_pool2d
    gather.py      -> gather.wgsl       gather

Shared: ``shader.py`` (WGSL building blocks), ``launch.py`` (output allocation, dim merging,
grid size, dispatch), ``uniforms.py`` (the uniform structs), ``window.py`` (conv's and pool's
sliding window), ``../common.wgsl`` (the ``wa_*`` math every kernel may call).

Each kernel function is re-exported here under its family's name (``kernels.matmul`` is the
function): reach a family's other names with ``from .kernels.matmul import MATMUL_CONFIGS``.

Dtypes: float32 everywhere; int32 (and bool as int32 0/1) in elementwise, copy, where, gather,
reduce and matmul; float16 inputs are read as f32 wherever elementwise ops read them, and
elementwise / copy can write float16; int8 / int4 codes in matmul_q.
"""

from __future__ import annotations

from ..views import RESULT_DTYPES
from .conv import conv2d
from .elementwise import batch_norm, concat, copy, elementwise, full, where
from .gather import gather
from .matmul import (
    HARDWARE_MATMUL_CONFIG,
    INT_MATMUL_CONFIG,
    MATVEC_MATMUL_CONFIG,
    SOFTWARE_MATMUL_CONFIG,
    default_matmul_config,
    load_modes,
    matmul,
)
from .matmul_q import dequantize, linear_q
from .pool2d import pool2d
from .reduce import reduce
from .rows import layer_norm, softmax
from .window import conv_pads

__all__ = [
    "HARDWARE_MATMUL_CONFIG",
    "INT_MATMUL_CONFIG",
    "MATVEC_MATMUL_CONFIG",
    "RESULT_DTYPES",
    "SOFTWARE_MATMUL_CONFIG",
    "batch_norm",
    "concat",
    "conv2d",
    "conv_pads",
    "copy",
    "default_matmul_config",
    "dequantize",
    "elementwise",
    "full",
    "gather",
    "layer_norm",
    "linear_q",
    "load_modes",
    "matmul",
    "pool2d",
    "reduce",
    "softmax",
    "where",
]

"""The matmul family's front end: ``matmul`` picks a kernel and a tile config, packs the
uniforms and records the dispatch. The kernels themselves, each with its shader beside it:

    matmul_tiled.py     shared-memory tiles (GPUs' default)          MATMUL_CONFIGS
    matmul_direct.py    no shared memory (software adapters, matvec,  MATMUL_DIRECT_CONFIGS
                        int32)
    matmul_reg.py       register tiles, double-buffered (autotuned)  MATMUL_REG_CONFIGS
    matmul_subgroup.py  subgroup broadcasts (autotuned)              MATMUL_SUBGROUP_CONFIGS
    matmul_q.py         weight-only int8 / int4 (``linear_q``)       LINEAR_Q_CONFIGS

    matmul(batch, a, b, bias=None, activation=None, out=None, config=None) -> StridedView
        a (..., M, K) @ b (..., K, N), batch dims broadcast; bias broadcasts to the output;
        int32 @ int32 accumulates exactly in i32 (wrapping) and gives int32;
        activation None | "relu" | "gelu" | "gelu_tanh" | "sigmoid" | "tanh"; config: a name
        from the tables above; None takes the tuned choice for this adapter and shape class
        (``tuning.py``, written by ``autotune.py``), else ``default_matmul_config``.

Used by the ``matmul`` and ``linear`` ops and, after im2col, by ``conv2d``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ....shapes import broadcast_shapes, numel
from .. import tuning
from ..views import StridedView
from . import matmul_common as mm
from .elementwise import copy
from .launch import coalesce, new_output, run
from .matmul_direct import MATMUL_DIRECT_CONFIGS, matmul_direct_source
from .matmul_reg import MATMUL_REG_CONFIGS, matmul_reg_source
from .matmul_subgroup import MATMUL_SUBGROUP_CONFIGS, matmul_subgroup_source
from .matmul_tiled import MATMUL_CONFIGS, matmul_source

# Measured on SwiftShader (see the README of this backend): without shared memory and with
# 8x8 outputs per thread, matmul runs 2-3x faster than tiled kernels there (barriers are
# expensive on a CPU); real GPUs get the classic shared-memory tiling.
SOFTWARE_MATMUL_CONFIG = "direct_8x8_8x8"
HARDWARE_MATMUL_CONFIG = "64x64x16_4x4"
MATVEC_MATMUL_CONFIG = "direct_64x1_1x4"
INT_MATMUL_CONFIG = "direct_8x8_4x4"  # int32 matmul (scalar loads, i32 accumulators)
CONFIG_TABLES = (MATMUL_CONFIGS, MATMUL_REG_CONFIGS, MATMUL_DIRECT_CONFIGS, MATMUL_SUBGROUP_CONFIGS)


def default_matmul_config(ctx: Any, m: int, n: int, k: int) -> str:
    """The tile config ``matmul`` uses when none is given and the tuning table has no answer
    for this adapter and shape class, by adapter kind and shape."""
    if m < 8:
        return MATVEC_MATMUL_CONFIG
    return SOFTWARE_MATMUL_CONFIG if getattr(ctx, "software", False) else HARDWARE_MATMUL_CONFIG


def tuned_config(
    ctx: Any, m: int, n: int, k: int, a_mode: str, b_mode: str, batched: bool
) -> str | None:
    """The tuned config for this shape on *ctx*'s adapter, or None (not tuned, a matvec, or a
    name this version has no kernel for)."""
    name = tuning.tuned(ctx, m, n, k, a_mode, b_mode, batched)
    return name if any(name in table for table in CONFIG_TABLES) else None


def _load_mode(
    view_strides: tuple[int, int], extents: tuple[int, int], offset: int, batch: Sequence[int]
) -> str:
    """How to load a 2D operand tile: along axis 0 ("k") or 1 (the other), vec4 if aligned.

    *view_strides* are (stride_k, stride_x) and *extents* (K, X).
    """
    sk, sx = view_strides
    k, x = extents
    aligned = offset % 4 == 0 and all(s % 4 == 0 for s in batch)
    if sk == 1 and (sx % 4 == 0 or x == 1) and k % 4 == 0 and aligned:
        return "k4"
    if sx == 1 and (sk % 4 == 0 or k == 1) and x % 4 == 0 and aligned:
        return "x4"
    return "k" if sk == 1 and sx != 1 else "x"


def load_modes(a: StridedView, b: StridedView) -> tuple[str, str]:
    """The (A, B) load modes ``matmul`` takes for operands of equal batch shape: "k4", "m4"/"n4"
    (vec4 along that axis) or "k", "m"/"n" (scalar loads); the autotuner's shape classes."""
    nb = a.ndim - 2
    a_mode = _load_mode((a.strides[-1], a.strides[-2]), a.shape[::-1][:2], a.offset, a.strides[:nb])
    b_mode = _load_mode((b.strides[-2], b.strides[-1]), b.shape[-2:], b.offset, b.strides[:nb])
    return a_mode.replace("x", "m"), b_mode.replace("x", "n")


def matmul(
    batch: Any,
    a: StridedView,
    b: StridedView,
    bias: StridedView | None = None,
    activation: str | None = None,
    out: StridedView | None = None,
    config: str | None = None,
) -> StridedView:
    """``act(a @ b + bias)`` for float32 views, batch dims broadcast as in ``numpy.matmul``.

    int32 @ int32 (bias int32 too, if any) accumulates exactly in i32 (wrapping, as NumPy's
    int32 matmul) and gives int32; an int32 operand beside float32 ones is converted first.
    """
    operands = [a, b] + ([bias] if bias is not None else [])
    is_int = all(v.dtype == "int32" for v in operands)
    if not is_int and any(v.dtype == "int32" for v in operands):
        conv = []
        for v in operands:
            if v.dtype == "int32":
                v = copy(batch, v, dtype="float32")
                batch.release_after(v.buffer)
            conv.append(v)
        a, b = conv[0], conv[1]
        bias = conv[2] if bias is not None else None
    if is_int and activation not in (None, "relu"):
        raise ValueError(f"int32 matmul takes no {activation!r} activation")
    if a.ndim == 1:
        a = a.expand_dims(0)
    if b.ndim == 1:
        b = b.expand_dims(1)
    *ab, m, k = a.shape
    *bb, k2, n = b.shape
    if k != k2:
        raise ValueError(f"matmul shapes {a.shape} @ {b.shape}: inner dims differ")
    bshape = broadcast_shapes(tuple(ab), tuple(bb))
    oshape = (*bshape, m, n)
    if out is None:
        out = new_output(batch, oshape, "int32" if is_int else "float32")
    elif out.shape != oshape:
        raise ValueError(f"out shape {out.shape} != {oshape}")
    if numel(oshape) == 0:
        return out
    a2 = a.broadcast_to((*bshape, m, k))
    b2 = b.broadcast_to((*bshape, k, n))
    bias2 = bias.broadcast_to(oshape) if bias is not None else None
    nb = len(bshape)
    strides = [a2.strides[:nb], b2.strides[:nb], out.strides[:nb]]
    strides.append(bias2.strides[:nb] if bias2 is not None else (0,) * nb)
    cb, cstrides = coalesce(bshape, strides) if nb else ((1,), [(0,)] * 4)
    nbatch = numel(bshape)
    if nbatch > 65535:
        raise ValueError(f"{nbatch} matrices exceed one dispatch (65535)")
    a_mode = _load_mode((a2.strides[-1], a2.strides[-2]), (k, m), a2.offset, cstrides[0])
    b_mode = _load_mode((b2.strides[-2], b2.strides[-1]), (k, n), b2.offset, cstrides[1])
    b_mode = b_mode.replace("x", "n")
    a_mode = a_mode.replace("x", "m")
    if config is None and not is_int:
        config = tuned_config(batch.ctx, m, n, k, a_mode, b_mode, nbatch > 1)
    name = config or default_matmul_config(batch.ctx, m, n, k)
    if name in MATMUL_SUBGROUP_CONFIGS and (a_mode, b_mode) != ("k4", "n4"):
        name = default_matmul_config(batch.ctx, m, n, k)  # its vec4 loads do not apply
    br = len(cb)
    has_bias = bias2 is not None
    if is_int:  # the direct kernel's scalar loads, i32 accumulators
        if name not in MATMUL_DIRECT_CONFIGS:
            name = MATVEC_MATMUL_CONFIG if m < 8 else INT_MATMUL_CONFIG
        tx, ty, tm, tn = MATMUL_DIRECT_CONFIGS[name]
        source = matmul_direct_source((tx, ty, tm, tn), "scalar", br, has_bias, activation, "i32")
        groups = (-(-n // (tx * tn)), -(-m // (ty * tm)), nbatch)
    elif name in MATMUL_DIRECT_CONFIGS:
        tx, ty, tm, tn = MATMUL_DIRECT_CONFIGS[name]
        mode = "scalar"
        if a_mode == "k4" and b_mode in ("n4", "k4"):
            mode = "vec" if b_mode == "n4" else "dot"
        source = matmul_direct_source((tx, ty, tm, tn), mode, br, has_bias, activation)
        groups = (-(-n // (tx * tn)), -(-m // (ty * tm)), nbatch)
    elif name in MATMUL_SUBGROUP_CONFIGS and (a_mode, b_mode) == ("k4", "n4"):
        tx, _, tm, tn = cfg = MATMUL_SUBGROUP_CONFIGS[name]
        source = matmul_subgroup_source(cfg, br, has_bias, activation)
        groups = (-(-n // (tx * tn)), -(-m // tm), nbatch)
    elif name in MATMUL_REG_CONFIGS:
        cfg = MATMUL_REG_CONFIGS[name]
        aligned = m % cfg[0] == 0 and n % cfg[1] == 0 and k % cfg[2] == 0
        c_vec4 = (
            out.strides[-1] == 1
            and n % 4 == 0
            and (out.offset % 4, out.strides[-2] % 4) == (0, 0)
            and all(s % 4 == 0 for s in cstrides[2])
        )
        source = matmul_reg_source(cfg, a_mode, b_mode, c_vec4, aligned, br, has_bias, activation)
        groups = (-(-n // cfg[1]), -(-m // cfg[0]), nbatch)
    else:
        cfg = MATMUL_CONFIGS[name]
        source = matmul_source(cfg, a_mode, b_mode, br, has_bias, activation)
        groups = (-(-n // cfg[1]), -(-m // cfg[0]), nbatch)
    bias_view = (bias2.offset, *bias2.strides[-2:]) if bias2 is not None else (0, 0, 0)
    uniforms = mm.matmul_params(br).pack(
        m=m,
        n=n,
        k=k,
        a_off=a2.offset,
        a_sm=a2.strides[-2],
        a_sk=a2.strides[-1],
        b_off=b2.offset,
        b_sk=b2.strides[-2],
        b_sn=b2.strides[-1],
        c_off=out.offset,
        c_sm=out.strides[-2],
        c_sn=out.strides[-1],
        bias_off=bias_view[0],
        bias_sm=bias_view[1],
        bias_sn=bias_view[2],
        batch_shape=cb,
        a_batch=cstrides[0],
        b_batch=cstrides[1],
        c_batch=cstrides[2],
        bias_batch=cstrides[3],
    )
    buffers = [a2.buffer, b2.buffer] + ([bias2.buffer] if bias2 is not None else []) + [out.buffer]
    run(batch, source, buffers, uniforms, groups)
    return out

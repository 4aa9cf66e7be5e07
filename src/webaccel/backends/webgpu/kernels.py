"""WGSL kernels that record dispatches into a ``runtime.Batch``.

Every function takes the batch first, ``StridedView`` inputs (any strides: transposed, sliced,
broadcast and reversed views need no copy) and returns a new *contiguous* ``StridedView`` on a
buffer from ``batch.ctx.alloc`` (the caller releases ``out.buffer`` when done) -- or writes into
``out=`` where given. Nothing runs until ``batch.submit()``.

Public API::

    elementwise(batch, expr, inputs, out_dtype=None, out=None) -> StridedView
        expr: see ``expr.py`` -- e.g. ("gelu", ("add", ("in", 0), ("in", 1))). NumPy
        broadcasting, rank <= 8, one kernel for the whole expression.
    copy(batch, x, out=None, dtype=None) -> StridedView        # materialize / cast
    full(batch, shape, value, dtype="float32") -> StridedView
    where(batch, cond, a, b) -> StridedView
    concat(batch, xs, axis) -> StridedView
    gather(batch, data, indices, axis=0) -> StridedView       # int32 indices, negative ok
    matmul(batch, a, b, bias=None, activation=None, out=None, config=None) -> StridedView
        a (..., M, K) @ b (..., K, N), batch dims broadcast; bias broadcasts to the output;
        int32 @ int32 accumulates exactly in i32 (wrapping) and gives int32;
        activation None | "relu" | "gelu" | "gelu_tanh" | "sigmoid" | "tanh"; config: a name
        from codegen.MATMUL_CONFIGS (shared-memory tiles), MATMUL_REG_CONFIGS (big register
        tiles, double-buffered shared memory) or MATMUL_DIRECT_CONFIGS (no shared memory); None
        takes the autotuner's cached choice for this adapter and shape class
        (``autotune.choice``), else ``default_matmul_config`` (adapter and shape).
    reduce(batch, x, op, axes=None, keepdims=False) -> StridedView   # sum mean max min prod
    softmax(batch, x, axis=-1, log=False) -> StridedView
    layer_norm(batch, x, gamma=None, beta=None, axes=1, eps=1e-5, rms=False) -> StridedView
        normalizes over the last ``axes`` dims (gamma/beta of that shape).
    batch_norm(batch, x, mean, var, gamma=None, beta=None, eps=1e-5, axis=1) -> StridedView
    conv2d(batch, x, w, bias=None, stride=1, padding=0, dilation=1, groups=1,
           layout="NCHW", activation=None) -> StridedView
        w is OIHW (Cout, Cin/groups, KH, KW); padding int | (ph, pw) | (top, left, bottom,
        right) | "same" (SAME_UPPER) | "valid"; layout "NHWC" takes and returns NHWC.
    pool2d(batch, x, kind, kernel, stride=None, padding=0, dilation=1, layout="NCHW",
           count_include_pad=False) -> StridedView              # kind "max" | "avg"

Dtypes: float32 everywhere; int32 (and bool as int32 0/1) in elementwise, copy, where, gather,
reduce; float16 inputs are read as f32 everywhere elementwise ops read them, and elementwise /
copy can write float16.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Sequence
from typing import Any

from . import codegen
from .expr import DTYPE_TYPES, Expr, compile_expr
from .views import (
    StridedView,
    broadcast_shapes,
    coalesce,
    contiguous_strides,
    dispatch_1d,
    itemsize,
    numel,
)

RESULT_DTYPES = {"f32": "float32", "i32": "int32", "bool": "bool"}
# Measured on SwiftShader (see the README of this backend): without shared memory and with
# 8x8 outputs per thread, matmul runs 2-3x faster than tiled kernels there (barriers are
# expensive on a CPU); real GPUs get the classic shared-memory tiling.
SOFTWARE_MATMUL_CONFIG = "direct_8x8_8x8"
HARDWARE_MATMUL_CONFIG = "64x64x16_4x4"
MATVEC_MATMUL_CONFIG = "direct_64x1_1x4"
INT_MATMUL_CONFIG = "direct_8x8_4x4"  # int32 matmul (scalar loads, i32 accumulators)


def default_matmul_config(ctx: Any, m: int, n: int, k: int) -> str:
    """The tile config ``matmul`` uses when none is given and the autotuner has no answer for
    this adapter and shape class (``autotune.choice``), by adapter kind and shape."""
    if m < 8:
        return MATVEC_MATMUL_CONFIG
    return SOFTWARE_MATMUL_CONFIG if getattr(ctx, "software", False) else HARDWARE_MATMUL_CONFIG


def _new(batch: Any, shape: Sequence[int], dtype: str) -> StridedView:
    n = max(numel(shape), 1) * itemsize(dtype)
    return StridedView(batch.ctx.alloc(-(-n // 4) * 4), tuple(shape), None, 0, dtype)


def _run(batch: Any, source: str, buffers: list[Any], words: list[int], nwords: int, groups: Any):
    pipe = batch.ctx.pipeline(source)
    batch.dispatch(pipe, buffers, codegen.pack_words(words, nwords), groups)


def _f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _is_contig(strides: Sequence[int], shape: Sequence[int]) -> bool:
    """C-contiguous, whatever the strides of size-1 dims (``coalesce`` gives a one-element
    tensor, a 0-d one included, the shape (1,) with stride 0)."""
    want = contiguous_strides(shape)
    return all(n == 1 or s == c for n, s, c in zip(shape, strides, want, strict=True))


# --- elementwise ----------------------------------------------------------------------------


def _remap(expr: Expr, mapping: dict[int, int]) -> Expr:
    if isinstance(expr, tuple) and expr:
        if expr[0] == "in":
            return ("in", mapping[int(expr[1])])
        if expr[0] in ("const", "cast"):
            return (expr[0], _remap(expr[1], mapping), *expr[2:])
        return (expr[0], *(_remap(a, mapping) for a in expr[1:]))
    return expr


@functools.cache
def _result_type(expr: Expr, types: tuple[str, ...]) -> str:
    return compile_expr(expr, types)[2]


def _used_inputs(expr: Expr, out: set[int]) -> set[int]:
    if isinstance(expr, tuple) and expr:
        if expr[0] == "in":
            out.add(int(expr[1]))
        elif expr[0] != "const":
            for a in expr[1:]:
                _used_inputs(a, out)
    return out


def elementwise(
    batch: Any,
    expr: Expr,
    inputs: Sequence[StridedView],
    out_dtype: str | None = None,
    out: StridedView | None = None,
) -> StridedView:
    """Evaluate *expr* over broadcast *inputs* in one kernel; returns the (contiguous) output."""
    used = sorted(_used_inputs(expr, set()))
    mapping = {k: i for i, k in enumerate(used)}
    expr = _remap(expr, mapping)
    views = [inputs[k] for k in used]
    shape = broadcast_shapes(*(v.shape for v in views)) if views else ()
    if out is not None:
        shape = broadcast_shapes(shape, out.shape)
        if shape != out.shape:
            raise ValueError(f"result shape {shape} does not fit out {out.shape}")
    rtype = _result_type(expr, tuple(DTYPE_TYPES[v.dtype] for v in views))
    out_dtype = out.dtype if out is not None else out_dtype or RESULT_DTYPES[rtype]
    if out is None:
        out = _new(batch, shape, out_dtype)
    n = numel(shape)
    if n == 0:
        return out
    views = [v.broadcast_to(shape) for v in views]
    cshape, cstrides = coalesce(shape, [v.strides for v in views] + [out.strides])
    rank = len(cshape)
    contig = tuple(_is_contig(s, cshape) for s in cstrides)
    if out_dtype == "float16" and not (contig[-1] and out.offset >= 0):
        raise ValueError("a float16 output must be contiguous")
    source = codegen.elementwise_source(
        expr, tuple(v.dtype for v in views), contig[:-1], out_dtype, contig[-1], rank
    )
    if out_dtype == "float16":
        threads = ((out.offset + n - 1) >> 1) - (out.offset >> 1) + 1
    else:
        threads = n
    groups = dispatch_1d(threads, codegen.WORKGROUP)
    words = [n, groups[0] * codegen.WORKGROUP, 0, 0, *cshape]
    for v, s in zip([*views, out], cstrides, strict=True):
        words += [v.offset, *s]
    nwords = codegen.elementwise_words(rank, len(views))
    _run(batch, source, [*(v.buffer for v in views), out.buffer], words, nwords, groups)
    return out


def copy(
    batch: Any, x: StridedView, out: StridedView | None = None, dtype: str | None = None
) -> StridedView:
    """Materialize *x* contiguously (or into *out*), casting to *dtype* if given."""
    expr: Expr = ("in", 0)
    target = out.dtype if out is not None else dtype or x.dtype
    if DTYPE_TYPES[target] != DTYPE_TYPES[x.dtype] or target == "bool":
        expr = ("cast", expr, target)
    return elementwise(batch, expr, [x], out_dtype=target, out=out)


def full(batch: Any, shape: Sequence[int], value: float, dtype: str = "float32") -> StridedView:
    """A new contiguous tensor of *shape* filled with *value*."""
    out = _new(batch, shape, dtype)
    return elementwise(batch, ("const", value, dtype), [], out=out)


def where(batch: Any, cond: StridedView, a: StridedView, b: StridedView) -> StridedView:
    return elementwise(batch, ("where", ("in", 0), ("in", 1), ("in", 2)), [cond, a, b])


def concat(batch: Any, xs: Sequence[StridedView], axis: int) -> StridedView:
    """Concatenate along *axis* by copying each input into its slice of one output."""
    rank = xs[0].ndim
    axis %= rank
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = _new(batch, shape, xs[0].dtype)
    start = 0
    for x in xs:
        stop = start + x.shape[axis]
        copy(batch, x, out=out.slice_axis(axis, start, stop))
        start = stop
    return out


def gather(batch: Any, data: StridedView, indices: StridedView, axis: int = 0) -> StridedView:
    """``numpy.take(data, indices, axis)`` with int32 indices (negative count from the end)."""
    axis %= data.ndim
    if indices.dtype != "int32":
        raise ValueError("gather needs int32 indices")
    shape = data.shape[:axis] + indices.shape + data.shape[axis + 1 :]
    out = _new(batch, shape, "float32" if data.dtype == "float16" else data.dtype)
    if numel(shape) == 0:
        return out
    ni = indices.ndim
    d_strides = data.strides[:axis] + (0,) * ni + data.strides[axis + 1 :]
    i_strides = (0,) * axis + indices.strides + (0,) * (data.ndim - axis - 1)
    cshape, (ds, is_, _) = coalesce(shape, [d_strides, i_strides, contiguous_strides(shape)])
    rank = len(cshape)
    groups = dispatch_1d(numel(shape), codegen.WORKGROUP)
    words = [numel(shape), groups[0] * codegen.WORKGROUP, data.shape[axis], data.strides[axis]]
    words += [*cshape, data.offset, *ds, indices.offset, *is_]
    source = codegen.gather_source(data.dtype, rank)
    buffers = [data.buffer, indices.buffer, out.buffer]
    _run(batch, source, buffers, words, codegen.gather_words(rank), groups)
    return out


# --- matmul ---------------------------------------------------------------------------------


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
        out = _new(batch, oshape, "int32" if is_int else "float32")
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
        from . import autotune

        config = autotune.choice(batch.ctx, m, n, k, a_mode, b_mode, nbatch > 1)
    name = config or default_matmul_config(batch.ctx, m, n, k)
    if name in codegen.MATMUL_SUBGROUP_CONFIGS and (a_mode, b_mode) != ("k4", "n4"):
        name = default_matmul_config(batch.ctx, m, n, k)  # its vec4 loads do not apply
    br = len(cb)
    has_bias = bias2 is not None
    if is_int:  # the direct kernel's scalar loads, i32 accumulators
        if name not in codegen.MATMUL_DIRECT_CONFIGS:
            name = MATVEC_MATMUL_CONFIG if m < 8 else INT_MATMUL_CONFIG
        tx, ty, tm, tn = codegen.MATMUL_DIRECT_CONFIGS[name]
        source = codegen.matmul_direct_source(
            (tx, ty, tm, tn), "scalar", br, has_bias, activation, "i32"
        )
        groups = (-(-n // (tx * tn)), -(-m // (ty * tm)), nbatch)
    elif name in codegen.MATMUL_DIRECT_CONFIGS:
        tx, ty, tm, tn = codegen.MATMUL_DIRECT_CONFIGS[name]
        mode = "scalar"
        if a_mode == "k4" and b_mode in ("n4", "k4"):
            mode = "vec" if b_mode == "n4" else "dot"
        source = codegen.matmul_direct_source((tx, ty, tm, tn), mode, br, has_bias, activation)
        groups = (-(-n // (tx * tn)), -(-m // (ty * tm)), nbatch)
    elif name in codegen.MATMUL_SUBGROUP_CONFIGS and (a_mode, b_mode) == ("k4", "n4"):
        tx, _, tm, tn = cfg = codegen.MATMUL_SUBGROUP_CONFIGS[name]
        source = codegen.matmul_subgroup_source(cfg, br, has_bias, activation)
        groups = (-(-n // (tx * tn)), -(-m // tm), nbatch)
    elif name in codegen.MATMUL_REG_CONFIGS:
        cfg = codegen.MATMUL_REG_CONFIGS[name]
        aligned = m % cfg[0] == 0 and n % cfg[1] == 0 and k % cfg[2] == 0
        c_vec4 = (
            out.strides[-1] == 1
            and n % 4 == 0
            and (out.offset % 4, out.strides[-2] % 4) == (0, 0)
            and all(s % 4 == 0 for s in cstrides[2])
        )
        source = codegen.matmul_reg_source(
            cfg, a_mode, b_mode, c_vec4, aligned, br, has_bias, activation
        )
        groups = (-(-n // cfg[1]), -(-m // cfg[0]), nbatch)
    else:
        cfg = codegen.MATMUL_CONFIGS[name]
        source = codegen.matmul_source(cfg, a_mode, b_mode, br, has_bias, activation)
        groups = (-(-n // cfg[1]), -(-m // cfg[0]), nbatch)
    bias_words = (
        [bias2.offset, bias2.strides[-2], bias2.strides[-1], 0] if bias2 is not None else [0] * 4
    )
    words = [m, n, k, 0, a2.offset, a2.strides[-2], a2.strides[-1], 0]
    words += [b2.offset, b2.strides[-2], b2.strides[-1], 0]
    words += [out.offset, out.strides[-2], out.strides[-1], 0, *bias_words, *cb]
    for s in cstrides:
        words += list(s)
    buffers = [a2.buffer, b2.buffer] + ([bias2.buffer] if bias2 is not None else []) + [out.buffer]
    _run(batch, source, buffers, words, codegen.matmul_words(br), groups)
    return out


# --- reductions and row kernels -------------------------------------------------------------


def _split(view: StridedView, axes: Sequence[int]) -> tuple[StridedView, int]:
    """Permute *axes* to the end (a view, no copy); returns it and the number of kept dims."""
    axes = sorted({a % view.ndim for a in axes})
    kept = [d for d in range(view.ndim) if d not in axes]
    return view.permute(kept + axes), len(kept)


def reduce(
    batch: Any,
    x: StridedView,
    op: str,
    axes: int | Sequence[int] | None = None,
    keepdims: bool = False,
) -> StridedView:
    """sum / mean / max / min / prod over *axes* (all by default) as workgroup reductions."""
    if axes is None:
        axes = range(x.ndim)
    elif isinstance(axes, int):
        axes = [axes]
    axes = sorted({a % x.ndim for a in axes}) if x.ndim else []
    pv, nk = _split(x, axes)
    outer, inner = pv.shape[:nk], pv.shape[nk:]
    oshape, (os_,) = coalesce(outer, [pv.strides[:nk]])
    ishape, (is_,) = coalesce(inner, [pv.strides[nk:]])
    keep_shape = tuple(1 if d in axes else n for d, n in enumerate(x.shape))
    shape = keep_shape if keepdims else tuple(outer)
    acc_int = x.dtype in ("int32", "bool") and op != "mean"
    out = _new(batch, shape, "int32" if acc_int else "float32")
    n_out, r = numel(outer), numel(inner)
    if n_out == 0:
        return out
    mode = "workgroup" if r >= 128 and n_out < 65536 * 4 else "thread"
    source = codegen.reduce_source(op, x.dtype, len(oshape), len(ishape), mode)
    if mode == "workgroup":
        groups = dispatch_1d(n_out, 1)
        per_row = groups[0]
    else:
        groups = dispatch_1d(n_out, codegen.REDUCE_WG)
        per_row = groups[0] * codegen.REDUCE_WG
    scale = _f32_bits(1.0 / r) if r else _f32_bits(math.nan)
    words = [n_out, r, per_row, scale, *oshape, *ishape, pv.offset, *os_, *is_]
    nwords = codegen.reduce_words(len(oshape), len(ishape))
    _run(batch, source, [x.buffer, out.buffer], words, nwords, groups)
    return out


def _rows(
    batch: Any,
    op: str,
    x: StridedView,
    axis: int,
    gamma: StridedView | None = None,
    beta: StridedView | None = None,
    eps: float = 0.0,
) -> StridedView:
    """Run a row kernel over *axis* of *x* (the other dims are rows); output contiguous."""
    out = _new(batch, x.shape, "float32")
    axis %= x.ndim
    if x.size == 0:
        return out
    pv, _ = _split(x, [axis])
    po, _ = _split(out, [axis])
    oshape, (si, so) = coalesce(pv.shape[:-1], [pv.strides[:-1], po.strides[:-1]])
    ro = len(oshape)
    rows, length = numel(oshape), x.shape[axis]
    groups = dispatch_1d(rows, 1)
    words = [rows, length, groups[0], _f32_bits(eps), *oshape]
    words += [pv.offset, *si, pv.strides[-1], po.offset, *so, po.strides[-1]]
    buffers = [x.buffer]
    for p in (gamma, beta):
        if p is not None:
            if p.ndim != 1 or p.shape[0] != length:
                raise ValueError(f"gamma/beta of shape {p.shape} for a row of {length}")
            buffers.append(p.buffer)
            words += [p.offset, p.strides[0]]
        else:
            words += [0, 0]
    buffers.append(out.buffer)
    source = codegen.rows_source(op, x.dtype, ro, gamma is not None, beta is not None)
    _run(batch, source, buffers, words, codegen.rows_words(ro), groups)
    return out


def softmax(batch: Any, x: StridedView, axis: int = -1, log: bool = False) -> StridedView:
    """Numerically stable (log-)softmax over *axis* (any axis: the row walks its stride)."""
    return _rows(batch, "log_softmax" if log else "softmax", x, axis)


def _flatten_last(batch: Any, x: StridedView, k: int) -> StridedView:
    """*x* with its last *k* dims merged into one (a view when strides allow, else a copy)."""
    shape = (*x.shape[: x.ndim - k], numel(x.shape[x.ndim - k :]))
    try:
        return x.reshape(shape)
    except ValueError:
        tmp = copy(batch, x)
        batch.release_after(tmp.buffer)  # reused only by dispatches recorded after this one
        return tmp.reshape(shape)


def layer_norm(
    batch: Any,
    x: StridedView,
    gamma: StridedView | None = None,
    beta: StridedView | None = None,
    axes: int = 1,
    eps: float = 1e-5,
    rms: bool = False,
) -> StridedView:
    """Normalize over the last *axes* dims: two passes (mean, then variance of x - mean)."""
    flat = _flatten_last(batch, x, axes)
    g = _flatten_last(batch, gamma, gamma.ndim) if gamma is not None else None
    b = _flatten_last(batch, beta, beta.ndim) if beta is not None else None
    y = _rows(batch, "rms_norm" if rms else "layer_norm", flat, -1, g, b, eps)
    return StridedView(y.buffer, x.shape, None, 0, "float32")


def batch_norm(
    batch: Any,
    x: StridedView,
    mean: StridedView,
    var: StridedView,
    gamma: StridedView | None = None,
    beta: StridedView | None = None,
    eps: float = 1e-5,
    axis: int = 1,
) -> StridedView:
    """Inference batch norm as one fused elementwise kernel over the channel *axis*."""
    axis %= x.ndim
    c = x.shape[axis]

    def chan(v: StridedView) -> StridedView:
        shape = [1] * x.ndim
        strides = [0] * x.ndim
        shape[axis], strides[axis] = c, v.strides[0]
        return StridedView(v.buffer, tuple(shape), tuple(strides), v.offset, v.dtype)

    inputs = [x, chan(mean), chan(var)]
    expr: Expr = ("mul", ("sub", ("in", 0), ("in", 1)), ("rsqrt", ("add", ("in", 2), eps)))
    if gamma is not None:
        inputs.append(chan(gamma))
        expr = ("mul", expr, ("in", len(inputs) - 1))
    if beta is not None:
        inputs.append(chan(beta))
        expr = ("add", expr, ("in", len(inputs) - 1))
    return elementwise(batch, expr, inputs, out_dtype="float32")


# --- conv2d and pooling ---------------------------------------------------------------------


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_pads(
    padding: Any,
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from an int, a pair, a 4-tuple, "same" or "valid"."""
    if padding == "valid":
        return 0, 0, 0, 0
    if padding in ("same", "same_upper", "same_lower"):
        pads = []
        for n, k, s, d in zip(in_hw, kernel, stride, dilation, strict=True):
            out = -(-n // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
            small, big = total // 2, total - total // 2
            pads.append((big, small) if padding == "same_lower" else (small, big))
        return pads[0][0], pads[1][0], pads[0][1], pads[1][1]
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    return tuple(int(p) for p in padding)  # type: ignore[return-value]


def _out_size(n: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def _nchw(x: StridedView, layout: str) -> StridedView:
    if layout == "NCHW":
        return x
    if layout == "NHWC":
        return x.permute((0, 3, 1, 2))
    raise ValueError(f"layout must be NCHW or NHWC, not {layout!r}")


def conv2d(
    batch: Any,
    x: StridedView,
    w: StridedView,
    bias: StridedView | None = None,
    stride: int | Sequence[int] = 1,
    padding: Any = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    layout: str = "NCHW",
    activation: str | None = None,
) -> StridedView:
    """2D convolution as im2col + the tiled matmul (bias and activation fused in its epilogue).

    The column buffer is released back to the pool at the batch's submit.
    """
    xl = _nchw(x, layout)
    n, c, h, wd = xl.shape
    cout, cg, kh, kw = w.shape
    if c != cg * groups or cout % groups:
        raise ValueError(f"conv2d: {c} input channels, weight {w.shape}, groups={groups}")
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    pt, pl, pb, pr = conv_pads(padding, (h, wd), (kh, kw), (sh, sw), (dh, dw))
    oh, ow = _out_size(h, kh, sh, dh, pt, pb), _out_size(wd, kw, sw, dw, pl, pr)
    g, og, kc, p = groups, cout // groups, cg * kh * kw, oh * ow
    if layout == "NCHW":
        order = ("n", "g", "ci", "kh", "kw", "oh", "ow")
        dims = (n, g, cg, kh, kw, oh, ow)
    else:
        order = ("n", "g", "oh", "ow", "ci", "kh", "kw")
        dims = (n, g, oh, ow, cg, kh, kw)
    col = _new(batch, dims, "float32")
    total = numel(dims)
    grid = dispatch_1d(total, codegen.WORKGROUP)
    words = [total, grid[0] * codegen.WORKGROUP, 0, 0, *dims, 0, sh, sw, pt, pl, dh, dw, h, wd, cg]
    words += [xl.offset, *xl.strides]
    if total:
        _run(batch, codegen.im2col_source(order), [xl.buffer, col.buffer], words, 26, grid)
    wm = _flatten_last(batch, w, 3)  # (Cout, Kc)
    wg = StridedView(
        wm.buffer, (g, og, kc), (og * wm.strides[0], wm.strides[0], wm.strides[1]), wm.offset
    )
    if layout == "NCHW":
        # out[n, g, co, p] = W[g, co, :] @ col[n, g, :, p]
        a = wg.expand_dims(0).broadcast_to((n, g, og, kc))
        b = StridedView(col.buffer, (n, g, kc, p), None, 0)
        out = _new(batch, (n, cout, oh, ow), "float32")
        out4 = StridedView(out.buffer, (n, g, og, p), None, 0)
        bias4 = None
        if bias is not None:
            bias4 = StridedView(
                bias.buffer,
                (1, g, og, 1),
                (0, og * bias.strides[0], bias.strides[0], 0),
                bias.offset,
            )
    else:
        # out[n, p, g, co] = col[n, g, p, :] @ W[g, co, :]^T
        a = StridedView(col.buffer, (n, g, p, kc), None, 0)
        b = wg.transpose(-1, -2).expand_dims(0).broadcast_to((n, g, kc, og))
        out = _new(batch, (n, oh, ow, cout), "float32")
        out4 = StridedView(out.buffer, (n, g, p, og), (p * cout, og, cout, 1), 0)
        bias4 = None
        if bias is not None:
            bias4 = StridedView(
                bias.buffer,
                (1, g, 1, og),
                (0, og * bias.strides[0], 0, bias.strides[0]),
                bias.offset,
            )
    matmul(batch, a, b, bias=bias4, activation=activation, out=out4)
    batch.release_after(col.buffer)
    return out


def pool2d(
    batch: Any,
    x: StridedView,
    kind: str,
    kernel: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: Any = 0,
    dilation: int | Sequence[int] = 1,
    layout: str = "NCHW",
    count_include_pad: bool = False,
) -> StridedView:
    """max / avg pooling; padded taps never count as values (avg divides by the valid taps
    unless *count_include_pad*)."""
    xl = _nchw(x, layout)
    n, c, h, wd = xl.shape
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride if stride is not None else kernel)
    dh, dw = _pair(dilation)
    pt, pl, pb, pr = conv_pads(padding, (h, wd), (kh, kw), (sh, sw), (dh, dw))
    oh, ow = _out_size(h, kh, sh, dh, pt, pb), _out_size(wd, kw, sw, dw, pl, pr)
    if layout == "NCHW":
        order, dims = ("n", "c", "oh", "ow"), (n, c, oh, ow)
    else:
        order, dims = ("n", "oh", "ow", "c"), (n, oh, ow, c)
    out = _new(batch, dims, "float32")
    total = numel(dims)
    if total == 0:
        return out
    grid = dispatch_1d(total, codegen.WORKGROUP)
    words = [total, grid[0] * codegen.WORKGROUP, 0, 0, *dims, kh, kw, sh, sw, pt, pl, dh, dw]
    words += [h, wd, xl.offset, *xl.strides]
    source = codegen.pool2d_source(kind, order, count_include_pad)
    _run(batch, source, [xl.buffer, out.buffer], words, 23, grid)
    return out

"""The CPU backend's op table: NumPy implementations, the reference for every op of ``OPS``.

Each entry takes the step (its attrs and shape) and its input arrays, already in compute dtype
(float16 computed in float32, as on a GPU without shader-f16), and returns the result array.
NumPy is bound on first use (``load_numpy``), so ``import webaccel`` never needs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ...dtypes import DType
from ...ir import Step

np: Any = None  # NumPy, bound on first use


def load_numpy() -> Any:
    global np
    if np is None:
        try:
            import numpy  # optional: bound when a cpu device is made, never at import
        except ImportError as exc:
            raise ImportError(
                "the cpu backend needs NumPy (in Pyodide: `await pyodide.loadPackage('numpy')`)"
            ) from exc
        np = numpy
    return np


# --- op implementations: arrays in, array out (float math in float32) --------------------------

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _erf_series(x64: Any) -> Any:
    """2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)), n <= 6: error < 1e-9 for |x| < 0.5."""
    x2 = x64 * x64
    series = x64 * (
        1
        - x2
        / 3
        * (
            1
            - x2
            * 3
            / 10
            * (1 - x2 * 5 / 21 * (1 - x2 * 7 / 36 * (1 - x2 * 9 / 55 * (1 - x2 * 11 / 78))))
        )
    )
    return series * (2 / math.sqrt(math.pi))


def _erfc_pos(ax: Any) -> Any:
    """erfc for ax >= 0 with fractional error < 1.2e-7 everywhere (Numerical Recipes erfcc),
    so the tail keeps its relative precision (no 1 - erf cancellation)."""
    t = 1.0 / (1.0 + 0.5 * ax)
    poly = -1.26551223 + t * (
        1.00002368
        + t
        * (
            0.37409196
            + t
            * (
                0.09678418
                + t
                * (
                    -0.18628806
                    + t
                    * (
                        0.27886807
                        + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                    )
                )
            )
        )
    )
    with np.errstate(over="ignore", under="ignore"):
        return t * np.exp(-ax * ax + poly)


def erf(x: Any) -> Any:
    """erf without SciPy, to ~1.2e-7 relative: Taylor series near 0, erfc-based elsewhere."""
    x64 = np.asarray(x, dtype=np.float64)
    ax = np.abs(x64)
    with np.errstate(invalid="ignore"):
        tail = np.sign(x64) * (1.0 - _erfc_pos(ax))
    return np.where(ax < 0.5, _erf_series(x64), tail)


def erfc(x: Any) -> Any:
    """1 - erf(x), accurate in relative terms for large positive x too."""
    x64 = np.asarray(x, dtype=np.float64)
    ax = np.abs(x64)
    tail = _erfc_pos(ax)
    return np.where(ax < 0.5, 1.0 - _erf_series(x64), np.where(x64 >= 0, tail, 2.0 - tail))


def _gelu(x: Any, approximate: str = "none") -> Any:
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    # 0.5 x (1 + erf(x / sqrt 2)) == 0.5 x erfc(-x / sqrt 2): no cancellation for x << 0
    return (0.5 * x * erfc(-x / math.sqrt(2.0))).astype(x.dtype)


def _sigmoid(x: Any) -> Any:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _div(a: Any, b: Any) -> Any:
    if a.dtype.kind == "i":  # ONNX integer division truncates toward zero
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.trunc(np.true_divide(a, b))
        return np.nan_to_num(q, nan=0, posinf=0, neginf=0).astype(a.dtype)
    return a / b


def _pow(a: Any, b: Any) -> Any:
    if a.dtype.kind == "i" and b.dtype.kind == "i":  # NumPy refuses negative int exponents
        neg = b < 0
        r = np.power(a, np.where(neg, 0, b).astype(b.dtype))
        if neg.any():  # 1 / a**|b| truncated toward zero: 1, +-1 or 0 (0 for a == 0 too)
            odd = np.where(b % 2 == 0, 1, -1)
            r = np.where(neg, np.where(a == 1, 1, np.where(a == -1, odd, 0)), r)
        return r
    return np.power(a, b)


UNARY = {
    "exp": lambda x: np.exp(x),
    "log": lambda x: np.log(x),
    "sqrt": lambda x: np.sqrt(x),
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "neg": lambda x: -x,
    "abs": lambda x: np.abs(x),
    "relu": lambda x: np.maximum(x, np.zeros((), x.dtype)),
    "sigmoid": _sigmoid,
    "tanh": lambda x: np.tanh(x),
    "erf": lambda x: erf(x).astype(x.dtype),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": _div,
    "pow": _pow,
    "maximum": lambda a, b: np.maximum(a, b),
    "minimum": lambda a, b: np.minimum(a, b),
}


def _reduce(op: str, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    fn = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}[op]
    if op == "mean" and x.dtype.kind == "i":  # truncates toward zero, like integer div
        total = np.sum(x, axis=axes, keepdims=keepdims, dtype=np.int64)
        count = max(1, math.prod(x.shape[a] for a in axes))
        return (np.sign(total) * (np.abs(total) // count)).astype(x.dtype)
    if op == "mean":  # sum / count: an empty axis gives NaN like NumPy, without its warning
        count = math.prod(x.shape[a] for a in axes)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (np.sum(x, axis=axes, keepdims=keepdims) / np.float32(count)).astype(x.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return fn(x, axis=axes, keepdims=keepdims).astype(x.dtype)


def _softmax(x: Any, axis: int) -> Any:
    """``exp(x - max) / sum(exp(x - max))`` in IEEE arithmetic, exactly as written out (the
    definition in ``ops.py``): a row holding +inf, NaN or only -inf is NaN throughout."""
    if x.size == 0:  # a zero-size axis (or batch): nothing to normalize, and no max to take
        return x
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def _layer_norm(x: Any, w: Any, b: Any, axes: tuple[int, ...], eps: float) -> Any:
    """The definition in ``ops.py``: computed in float64 and rounded once, so no intermediate
    overflows for finite inputs ((x - mean)**2 in float32 does beyond |x - mean| ~ 1.8e19)."""
    if x.size == 0:  # nothing to normalize (and no mean of an empty slice)
        return x
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if w.ndim:  # a 0-d placeholder means "no weight" / "no bias"
        y = y * w
    if b.ndim:
        y = y + b
    return y


def _batch_norm(x: Any, mean: Any, var: Any, w: Any, b: Any, axis: int, eps: float) -> Any:
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda p: p.reshape(shape)  # noqa: E731
    return (x - r(mean)) / np.sqrt(r(var) + eps) * r(w) + r(b)


def _pad_spatial(x: Any, pads: tuple[int, ...], value: float) -> Any:
    """Pad the trailing len(pads)//2 axes of an N,C,*spatial array."""
    widths = [(0, 0)] * (x.ndim - len(pads) // 2) + [
        (pads[2 * i], pads[2 * i + 1]) for i in range(len(pads) // 2)
    ]
    return np.pad(x, widths, constant_values=value)


def _windows(
    x: Any, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> Any:
    """N,C,*spatial -> N,C,*out_spatial,*kernel windows (a strided view, no copy)."""
    nd = len(kernel)
    eff = tuple(dilation[i] * (kernel[i] - 1) + 1 for i in range(nd))
    win = np.lib.stride_tricks.sliding_window_view(x, eff, axis=tuple(range(2, 2 + nd)))
    sl = (
        slice(None),
        slice(None),
        *tuple(slice(None, None, s) for s in stride),
        *tuple(slice(None, None, d) for d in dilation),
    )
    return win[sl]


def _conv(
    x: Any,
    w: Any,
    b: Any,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    layout: str,
) -> Any:
    nd = w.ndim - 2
    if layout == "nhwc":
        x = np.moveaxis(x, -1, 1)
    x = _pad_spatial(x, padding, 0.0)
    win = _windows(x, w.shape[2:], stride, dilation)  # N, C, *out, *k
    n, c = x.shape[:2]
    out_sp = win.shape[2 : 2 + nd]
    cg, og = c // groups, w.shape[0] // groups
    outs = []
    for g in range(groups):
        patch = win[:, g * cg : (g + 1) * cg]  # N, cg, *out, *k
        patch = np.moveaxis(patch, 1, 1 + nd)  # N, *out, cg, *k
        cols = patch.reshape(n * math.prod(out_sp), cg * math.prod(w.shape[2:]))
        wg = w[g * og : (g + 1) * og].reshape(og, -1)
        outs.append((cols @ wg.T).reshape(n, *out_sp, og))
    y = np.concatenate(outs, axis=-1)  # N, *out, O
    if b.ndim:
        y = y + b
    return y if layout == "nhwc" else np.moveaxis(y, -1, 1)


def _pool(
    op: str,
    x: Any,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, ...],
    layout: str,
) -> Any:
    if layout == "nhwc":
        x = np.moveaxis(x, -1, 1)
    if op == "max_pool2d":
        win = _windows(_pad_spatial(x, padding, -np.inf), kernel, stride, (1, 1))
        y = win.max(axis=(-2, -1))
    else:
        ones = np.ones((1, 1, *x.shape[2:]), x.dtype)
        total = _windows(_pad_spatial(x, padding, 0.0), kernel, stride, (1, 1)).sum(axis=(-2, -1))
        count = _windows(_pad_spatial(ones, padding, 0.0), kernel, stride, (1, 1)).sum(
            axis=(-2, -1)
        )
        y = total / count
    return y if layout == "nchw" else np.moveaxis(y, 1, -1)


def _gather(x: Any, idx: Any, axis: int) -> Any:
    n = x.shape[axis]
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(
            f"gather: index {int(idx[bad].flat[0])} is out of range for axis {axis} of size {n}"
        )
    return np.take(x, np.where(idx < 0, idx + n, idx), axis=axis)


def dequantize_array(q: Any, scale: Any, group: int) -> Any:
    """Weight-only dequantization (``ops.OPS["dequantize"]``): q (out, in) ints, scale
    (out, ceil(in / group)) -> float32 ``q[o, i] * scale[o, i // group]``."""
    s = np.asarray(scale, np.float32)
    if s.shape[1] != 1:
        s = np.repeat(s, group, axis=1)[:, : q.shape[1]]
    return q.astype(np.float32) * s


def np_dtype(dtype: DType) -> Any:
    """The NumPy dtype a step computes *dtype* in (int4 unpacked to one int8 per element)."""
    return np.dtype(dtype.numpy or "int8")


def unpack_int4(packed: Any, numel: int) -> Any:
    """Packed int4 bytes (low nibble first) -> int8 values in [-8, 7]."""
    nib = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(-1)[:numel].astype(np.int8)
    return (nib ^ 8) - 8


def pack_int4(values: Any) -> Any:
    """int values -> packed int4 bytes (two's complement, wrapping; low nibble first)."""
    nib = (values.reshape(-1).astype(np.int64) & 0xF).astype(np.uint8)
    if nib.size % 2:
        nib = np.concatenate([nib, np.zeros(1, np.uint8)])
    return nib[0::2] | (nib[1::2] << 4)


def _linear(step: Step, args: list[Any]) -> Any:
    y = args[0] @ args[1].T
    y = y + args[2] if args[2].ndim else y
    act = step.attr("activation")  # set by graph passes (engine/passes.py): act(x @ w.T + b)
    if act is None:
        return y
    y = np.asarray(y, np.float32)
    if act in ("gelu", "gelu_tanh"):
        return _gelu(y, "tanh" if act == "gelu_tanh" else "none")
    return UNARY[act](y)


def _linear_q(step: Step, args: list[Any]) -> Any:
    """The reference: dequantize, then the float linear (same attrs)."""
    x, q, scale, bias = args
    return _linear(step, [x, dequantize_array(q, scale, step.attr("group")), bias])


def _unary(fn: Callable[[Any], Any]) -> Impl:
    return lambda step, args: fn(args[0])


def _binary(fn: Callable[[Any, Any], Any]) -> Impl:
    return lambda step, args: fn(args[0], args[1])


def _reduction(op: str) -> Impl:
    return lambda step, args: _reduce(op, args[0], step.attr("axes"), step.attr("keepdims", False))


def _pooling(op: str) -> Impl:
    def run(step: Step, args: list[Any]) -> Any:
        a = dict(step.attrs)
        return _pool(op, args[0], a["kernel"], a["stride"], a["padding"], a["layout"])

    return run


def _conv_step(step: Step, args: list[Any]) -> Any:
    a = dict(step.attrs)
    return _conv(*args, a["stride"], a["padding"], a["dilation"], a["groups"], a["layout"])


Impl = Callable[[Step, list[Any]], Any]

# op -> implementation, for every op of ``ops.OPS`` (the CPU backend is the reference: it has
# them all, so its ``unsupported`` table is empty).
IMPLS: dict[str, Impl] = {
    **{op: _unary(fn) for op, fn in UNARY.items()},
    "gelu": lambda step, args: _gelu(args[0], step.attr("approximate", "none")),
    **{op: _binary(fn) for op, fn in BINARY.items()},
    **{op: _reduction(op) for op in ("sum", "mean", "max", "min")},
    "where": lambda step, args: np.where(args[0] != 0, args[1], args[2]),
    "cast": lambda step, args: args[0],  # the device casts every result to the step's dtype
    "contiguous": lambda step, args: args[0],
    "full": lambda step, args: np.full(step.shape, step.attr("value"), np_dtype(step.dtype)),
    "matmul": lambda step, args: np.matmul(args[0], args[1]),
    "linear": _linear,
    "conv": _conv_step,
    "max_pool2d": _pooling("max_pool2d"),
    "avg_pool2d": _pooling("avg_pool2d"),
    "softmax": lambda step, args: _softmax(args[0], step.attr("axis")),
    "layer_norm": lambda step, args: _layer_norm(*args, step.attr("axes"), step.attr("eps")),
    "batch_norm": lambda step, args: _batch_norm(*args, step.attr("axis"), step.attr("eps")),
    "concat": lambda step, args: np.concatenate(args, axis=step.attr("axis")),
    "gather": lambda step, args: _gather(args[0], args[1], step.attr("axis")),
    "dequantize": lambda step, args: dequantize_array(args[0], args[1], step.attr("group")),
    "linear_q": _linear_q,
}


# Ops whose inputs are converted to the result's dtype before computing (``ops.py``: mixed
# int32 / float operands compute in the float type, as every backend does; NumPy alone would
# promote int32 with float32 to float64 and round twice). ``where`` leaves its condition alone.
_PROMOTED = frozenset((*BINARY, "matmul", "linear", "layer_norm", "batch_norm", "conv"))


def _promote(step: Step, args: list[Any]) -> list[Any]:
    if step.op != "where" and step.op not in _PROMOTED:
        return args
    dtype = np_dtype(step.dtype)
    # float16 computes in float32 (see the module docstring), from operands rounded to float16
    # first: an int32 65520 is inf as a float16 operand
    want = np.dtype(np.float32) if dtype == np.float16 else dtype
    first = 1 if step.op == "where" else 0
    out = args[:first]
    for a in args[first:]:
        if a.dtype.kind != dtype.kind and dtype == np.float16:
            a = a.astype(np.float16)
        out.append(a if a.dtype == want else a.astype(want))
    return out


def execute(step: Step, args: list[Any], table: Mapping[str, Any] = IMPLS) -> Any:
    """Run one program step on NumPy arrays (already in compute dtype) with *table*'s kernel
    (a device's op table: a CPUDevice subclass may replace kernels)."""
    impl = table.get(step.op)
    if impl is None:
        raise NotImplementedError(f"cpu backend has no kernel for {step.op!r}")
    return impl(step, _promote(step, args))

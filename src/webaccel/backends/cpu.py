"""The CPU backend on NumPy: the reference implementation of every op in ``ops.OPS``.

Buffers are flat NumPy byte arrays; a view is ``as_strided`` over them (no copy). float16 is
stored as float16 and computed in float32, as on a GPU without shader-f16. NumPy is imported
only when this device is first used, so ``import webaccel`` never needs it.
"""

from __future__ import annotations

import math
from typing import Any

from ..device import Device, Storage, register_device
from ..dtypes import DType, float32
from ..ir import Program, Step

np: Any = None  # NumPy, bound on first use


def _numpy() -> Any:
    global np
    if np is None:
        try:
            import numpy
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
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # rows of -inf stay finite until the exp
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def _layer_norm(x: Any, w: Any, b: Any, axes: tuple[int, ...], eps: float) -> Any:
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


def execute(step: Step, args: list[Any]) -> Any:
    """Run one program step on NumPy arrays (already in compute dtype)."""
    op, a = step.op, dict(step.attrs)
    if op in UNARY:
        return UNARY[op](args[0])
    if op == "gelu":
        return _gelu(args[0], a.get("approximate", "none"))
    if op in BINARY:
        return BINARY[op](*args)
    if op in ("sum", "mean", "max", "min"):
        return _reduce(op, args[0], a["axes"], a.get("keepdims", False))
    if op == "where":
        return np.where(args[0] != 0, args[1], args[2])
    if op in ("cast", "contiguous"):
        return args[0]
    if op == "full":
        return np.full(step.shape, a["value"], np_dtype(step.dtype))
    if op == "matmul":
        return np.matmul(args[0], args[1])
    if op == "linear":
        y = args[0] @ args[1].T
        y = y + args[2] if args[2].ndim else y
        act = a.get("activation")  # set by graph passes (passes.py): act(x @ w.T + b)
        if act is None:
            return y
        y = np.asarray(y, np.float32)
        if act in ("gelu", "gelu_tanh"):
            return _gelu(y, "tanh" if act == "gelu_tanh" else "none")
        return UNARY[act](y)
    if op == "conv":
        return _conv(*args, a["stride"], a["padding"], a["dilation"], a["groups"], a["layout"])
    if op in ("max_pool2d", "avg_pool2d"):
        return _pool(op, args[0], a["kernel"], a["stride"], a["padding"], a["layout"])
    if op == "softmax":
        return _softmax(args[0], a["axis"])
    if op == "layer_norm":
        return _layer_norm(*args, a["axes"], a["eps"])
    if op == "batch_norm":
        return _batch_norm(*args, a["axis"], a["eps"])
    if op == "concat":
        return np.concatenate(args, axis=a["axis"])
    if op == "gather":
        return _gather(args[0], args[1], a["axis"])
    if op == "dequantize":
        return dequantize_array(args[0], args[1], a["group"])
    if op == "linear_q":  # the reference: dequantize, then the float linear (same attrs)
        x, q, scale, bias = args
        return execute(
            step._replace(op="linear"), [x, dequantize_array(q, scale, a["group"]), bias]
        )
    raise NotImplementedError(f"cpu backend has no kernel for {op!r}")


def dequantize_array(q: Any, scale: Any, group: int) -> Any:
    """Weight-only dequantization (``ops.OPS["dequantize"]``): q (out, in) ints, scale
    (out, ceil(in / group)) -> float32 ``q[o, i] * scale[o, i // group]``."""
    s = np.asarray(scale, np.float32)
    if s.shape[1] != 1:
        s = np.repeat(s, group, axis=1)[:, : q.shape[1]]
    return q.astype(np.float32) * s


# --- the device --------------------------------------------------------------------------------


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


class CPUDevice(Device):
    name = "cpu"

    def __init__(self) -> None:
        super().__init__()
        _numpy()

    def alloc(self, nbytes: int) -> Any:
        return np.empty(nbytes, np.uint8)

    def free(self, handle: Any, nbytes: int) -> None:
        pass  # NumPy's allocator pools for us

    def copy_in(self, handle: Any, data: memoryview) -> None:
        handle[: data.nbytes] = np.frombuffer(data, np.uint8)

    async def copy_out_async(self, handle: Any, nbytes: int, offset: int = 0) -> bytearray:
        return bytearray(handle[offset : offset + nbytes].tobytes())

    def copy_out(self, handle: Any, nbytes: int, offset: int = 0) -> bytearray:
        return bytearray(handle[offset : offset + nbytes].tobytes())

    def array(self, storage: Storage, view: Any, dtype: DType) -> Any:
        """The NumPy view of *storage* through *view* (no copy)."""
        if dtype.bits == 4:
            flat = unpack_int4(storage.handle, storage.numel)
        elif dtype.numpy is None:
            raise TypeError(f"{dtype.name} has no NumPy view; cast it first")
        else:
            flat = storage.handle.view(np_dtype(dtype))
        item = flat.itemsize
        lo, hi = view.span()
        if view.numel and (lo < 0 or hi >= flat.size):
            raise IndexError(f"view {view} reaches outside a {flat.size}-element storage")
        base = flat[view.offset :] if view.numel else flat[:0]
        return np.lib.stride_tricks.as_strided(
            base, view.shape, tuple(s * item for s in view.strides), writeable=False
        )

    def compile(self, program: Program) -> Program:
        return program  # NumPy interprets the steps; nothing to build

    def run(self, program: Program, inputs: list[Storage]) -> list[Storage]:
        values: list[Any] = []
        for storage in inputs:
            values.append(storage)
        n = program.n_inputs
        for step in program.steps:
            args = []
            for slot, view, dtype in step.srcs:
                if slot < n:
                    arr = self.array(values[slot], view, dtype)
                else:
                    src = values[slot]
                    if src.dtype != np_dtype(dtype):  # a bitcast view of an intermediate
                        src = src.reshape(-1).view(np_dtype(dtype))
                    arr = np.lib.stride_tricks.as_strided(
                        src.reshape(-1)[view.offset :] if src.size else src.reshape(-1),
                        view.shape,
                        tuple(s * src.itemsize for s in view.strides),
                        writeable=False,
                    )
                if arr.dtype == np.float16:
                    arr = arr.astype(np.float32)
                args.append(arr)
            with np.errstate(all="ignore"):  # the cast to the step's dtype too (NaN -> int)
                out = execute(step, args)
                out = np.ascontiguousarray(out, dtype=np_dtype(step.dtype)).reshape(step.shape)
            if step.dtype.bits == 4:  # int4 wraps to [-8, 7] already in the graph
                out = (((out.astype(np.int16) + 8) & 0xF) - 8).astype(np.int8)
            values.append(out)
        result = []
        for index in program.outputs:
            arr = values[n + index]
            storage = self.storage(arr.size, program.steps[index].dtype)
            if program.steps[index].dtype.bits == 4:
                storage.handle[:] = pack_int4(arr)
            else:
                storage.handle[:] = arr.reshape(-1).view(np.uint8)  # reshape first: 0-d outputs
            result.append(storage)
        return result


register_device("cpu", CPUDevice)
__all__ = ["CPUDevice", "erf", "float32"]

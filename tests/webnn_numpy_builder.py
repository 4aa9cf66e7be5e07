"""WebNN's ops evaluated by NumPy, for host tests of the lowering's numbers (no browser).

``NumPyBuilder`` is the emitter's backend interface (as ``device.JSBuilder``): each builder
call is computed at once by NumPy as the WebNN spec defines the op, in the operand's data type
(float32 arithmetic rounds like the browser's). It also models the headless shell's own
deviations that the lowering works around, so that the host can check the workaround:
``gemm`` and ``conv2d`` clamp their results to +-FLT_MAX, NaN to +FLT_MAX (as the browser does
where the weight is no graph constant), and int32 ``div`` by 0 or of -2**31 by -1 raises
(the browser's traps: the tab crashes). Ops the host tests do not use raise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from op_cases import r_conv

from webaccel.dtypes import as_dtype

FMAX = np.float32(np.finfo(np.float32).max)
NUMPY = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "int64": np.int64}
NUMPY.update({"uint8": np.uint8, "int8": np.int8, "uint32": np.uint32})


class TrapError(ArithmeticError):
    """What the browser's int32 division does on x / 0 and -2**31 / -1: the tab crashes."""


def clamped(y: np.ndarray) -> np.ndarray:
    """The browser's gemm / conv2d output clamp: NaN and +inf to FLT_MAX, -inf to -FLT_MAX."""
    return np.where(np.isnan(y), FMAX, np.clip(y, -FMAX, FMAX)).astype(np.float32)


class NumPyBuilder:
    def __init__(self, inputs: dict[str, np.ndarray], clamps: bool = True) -> None:
        self.inputs = inputs
        self.clamps = clamps
        self.ops: list[str] = []

    def input(self, name: str, dtype: str, shape: list[int]) -> Any:
        return np.asarray(self.inputs[name], NUMPY[dtype]).reshape(shape)

    def constant(self, dtype: str, shape: list[int], data: bytes) -> Any:
        return np.frombuffer(data, as_dtype(dtype).numpy).reshape(shape).copy()

    def constant_from(self, tensor: Any, dtype: str, shape: list[int], start: int, n: int) -> Any:
        flat = np.asarray(tensor, NUMPY[dtype]).view(np.uint8)[start : start + n]
        return flat.view(NUMPY[dtype]).reshape(shape).copy()

    def call(self, op: str, args: list[Any], options: dict[str, Any] | None) -> Any:
        self.ops.append(op)
        o = options or {}
        with np.errstate(all="ignore"):
            out = getattr(self, f"op_{op}")(*args, **o) if hasattr(self, f"op_{op}") else None
            if out is None:
                out = self._simple(op, args, o)
        return out

    # -- elementwise, comparisons, movement ---------------------------------------------------
    def _simple(self, op: str, args: list[Any], o: dict[str, Any]) -> Any:
        binary = {
            "add": np.add,
            "sub": np.subtract,
            "mul": np.multiply,
            "max": np.fmax,  # the browser's max drops NaN (ieee.nan_binary puts it back)
            "min": np.fmin,
            # the browser's pow is C's (pow(-inf, 0.5) = +inf): arrays, not NumPy's scalar-
            # exponent shortcut (x ** 0.5 as sqrt gives NaN there)
            "pow": lambda a, b: np.power(*np.broadcast_arrays(a, b)),
            "lesser": np.less,
            "greater": np.greater,
            "equal": np.equal,
            "notEqual": np.not_equal,
            "logicalAnd": np.logical_and,
            "logicalOr": np.logical_or,
        }
        unary = {
            "abs": np.abs,
            "sqrt": np.sqrt,
            "isNaN": np.isnan,
            "relu": lambda x: np.where(x > 0, x, x * 0),  # relu(-0) is -0 here too
            "neg": lambda x: x.dtype.type(0) - x,  # and neg(+0) is +0
        }
        if op in binary:
            out = binary[op](args[0], args[1])
            return out.astype(np.uint8) if out.dtype == bool else out.astype(args[0].dtype)
        if op in unary:
            out = unary[op](args[0])
            return out.astype(np.uint8) if out.dtype == bool else out
        raise NotImplementedError(f"NumPyBuilder has no {op}")

    def op_div(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.dtype.kind != "i":
            return np.divide(a, b).astype(a.dtype)
        a, b = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
        if (b == 0).any() or ((a == -(2**31)) & (b == -1)).any():
            raise TrapError("int32 div by 0 or -2**31 / -1: the browser's tab crashes")
        return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(np.int32)

    def op_where(self, c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(c != 0, a, b).astype(a.dtype)

    def op_cast(self, x: np.ndarray, dtype: str) -> np.ndarray:
        return x.astype(NUMPY[dtype])

    def op_identity(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def op_reshape(self, x: np.ndarray, shape: list[int]) -> np.ndarray:
        return x.reshape(shape)

    def op_expand(self, x: np.ndarray, shape: list[int]) -> np.ndarray:
        return np.broadcast_to(x, shape).copy()

    def op_transpose(self, x: np.ndarray, permutation: list[int]) -> np.ndarray:
        return x.transpose(permutation)

    def op_slice(self, x: np.ndarray, starts: list[int], sizes: list[int], strides: Any = None):
        steps = strides or [1] * len(starts)
        return x[tuple(slice(b, b + n, s) for b, n, s in zip(starts, sizes, steps, strict=True))]

    def op_gather(self, x: np.ndarray, idx: np.ndarray, axis: int = 0) -> np.ndarray:
        n = x.shape[axis]
        assert ((idx >= 0) & (idx < n)).all(), f"WebNN gather index out of range: {idx}"
        return np.take(x, idx, axis=axis)

    # -- reductions, products, normalization ---------------------------------------------------
    def _reduce(self, fn: Any, x: np.ndarray, axes: list[int], keepDimensions: bool = False):
        return fn(x, axis=tuple(axes), keepdims=keepDimensions).astype(x.dtype)

    def op_reduceSum(self, x: np.ndarray, **o: Any) -> np.ndarray:
        return self._reduce(np.sum, x, **o)

    def op_reduceMean(self, x: np.ndarray, **o: Any) -> np.ndarray:
        return self._reduce(np.mean, x, **o)  # float32 sum then divide, as the browser

    def op_reduceMax(self, x: np.ndarray, **o: Any) -> np.ndarray:
        return self._reduce(np.nanmax if x.dtype.kind == "f" else np.max, x, **o)

    def op_matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.matmul(a, b).astype(np.float32)

    def op_gemm(self, a: np.ndarray, b: np.ndarray, **o: Any) -> np.ndarray:
        y = a @ (b.T if o.get("bTranspose") else b)
        if "c" in o:
            y = y + o["c"]
        y = y.astype(np.float32)
        return clamped(y) if self.clamps else y

    def op_conv2d(self, x: np.ndarray, w: np.ndarray, **o: Any) -> np.ndarray:
        nhwc = o.get("inputLayout") == "nhwc"
        y = r_conv(
            x.astype(np.float64),
            w.astype(np.float64),
            None if "bias" not in o else o["bias"].astype(np.float64),
            o.get("strides", (1, 1)),
            o.get("padding", (0, 0, 0, 0)),
            o.get("dilations", (1, 1)),
            o.get("groups", 1),
            nhwc,
        ).astype(np.float32)
        return clamped(y) if self.clamps else y

    def op_layerNormalization(self, x: np.ndarray, axes: list[int], **o: Any) -> np.ndarray:
        # as the browser: float32 throughout, the variance of values near 1e20 overflows
        x = x.astype(np.float32)
        mean = x.mean(axis=tuple(axes), keepdims=True, dtype=np.float32)
        var = ((x - mean) ** 2).mean(axis=tuple(axes), keepdims=True, dtype=np.float32)
        var = np.where(np.isinf(var), np.float32(np.nan), var)  # the browser's NaN past ~1e19
        y = (x - mean) / np.sqrt(var + np.float32(o.get("epsilon", 1e-5)))
        y = y * o["scale"] if "scale" in o else y
        return (y + o["bias"] if "bias" in o else y).astype(np.float32)

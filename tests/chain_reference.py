"""The float64 reference of each chain op, its stated tolerance, and the comparison rules.

Each op of a chain (``tests/chains.py``) is computed here in float64 (int64 for integers) from
its operands, each operand first converted to the op's result dtype as webaccel defines it
(``ops.py``: an int32 operand of a float op is rounded to that float type), and the result is
rounded once to the result dtype (so f32 ``exp(100)`` is ``inf``, f16 ``300 * 300`` is ``inf``,
integers wrap). Reductions, matmul and linear sum their products with explicit broadcasting
(never BLAS, which may skip zeros and so lose an ``inf * 0 = NaN``).

Tolerances are the classes of ``tests/op_cases.py``:

* ``EXACT``: movement and views, casts, where, neg/abs/relu, maximum/minimum, max/min
  reductions, and every integer result.
* ``ELEMENTWISE`` (add, sub, mul, div, sqrt: IEEE basic operations, correctly rounded).
* ``TRANSCENDENTAL`` (exp, log, rsqrt, sigmoid, tanh, erf, gelu, pow).
* ``acc(K)`` for sums of K terms (sum, mean, matmul, linear), its absolute part scaled by the
  largest term of each output element (op_cases states it for terms of magnitude ~1).
* ``NORM`` (softmax, layer_norm), layer_norm's absolute part scaled by how much float32
  cancellation in ``x - mean`` can cost (largest |x| over the standard deviation).
* ``F16`` / ``f16_acc(K)`` for float16 results (computed in float32, rounded to float16).

Comparison rules (``compare``): shape and dtype exactly; NaN exactly where the reference has
NaN; infinities exactly (for the transcendental and accumulating classes a value within the
tolerance of the overflow threshold may be either side of it); finite values within
``atol + rtol * |want|``; the sign of a zero exactly for the IEEE basic operations, copies,
views, casts and where. What IEEE leaves open is not compared: an element of a sum whose
float32 partial sums can overflow (the sum of |terms| reaches the dtype's max: the order of
summation, which no backend promises, decides between inf, NaN and a finite value), the sign of
a zero from any other op, and an int32 result beyond the int32 range (cpu and WebGPU wrap,
WebNN may saturate; no standard says which).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from op_cases import ELEMENTWISE, EXACT, F16, NORM, TRANSCENDENTAL, acc, f16_acc

F32_TINY = float(np.finfo(np.float32).tiny)
INT_MAX = 2**31 - 1  # int32 results beyond it are left open: wrap or saturate, IEEE says nothing
MAX = {"float32": float(np.finfo(np.float32).max), "float16": 65504.0}

BASIC = ("add", "sub", "mul", "div", "sqrt", "neg", "abs")  # IEEE: the sign of a zero is defined
_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


@dataclass
class Result:
    """An op's reference: the value (rounded to its dtype) and what is left open."""

    value: np.ndarray
    rtol: float = 0.0
    atol: Any = 0.0  # a scalar or an array of the value's shape
    sign_exact: bool = True  # compare the sign of zeros
    soft_inf: bool = False  # the overflow threshold is within the tolerance
    open: Any = None  # bool mask of elements IEEE leaves open (order-dependent overflow)
    notes: list[str] = field(default_factory=list)


def is_float(dtype: str) -> bool:
    return dtype in ("float32", "float16")


def as64(a: Any) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(np.float64) if a.dtype.kind == "f" else a.astype(np.int64)


def round_to(value: Any, dtype: str) -> np.ndarray:
    """The float64/int64 *value* rounded (floats) or wrapped (ints) to *dtype*."""
    value = np.asarray(value)
    with np.errstate(all="ignore"):  # np.asarray: 0-d results stay arrays, not NumPy scalars
        if is_float(dtype):
            return np.asarray(value.astype(np.float64).astype(dtype))
        if value.dtype.kind == "f":  # trunc toward zero (casts of in-range floats only)
            value = np.asarray(np.trunc(value)).astype(np.int64)
        return np.asarray(value.astype(np.int64).astype(np.int32))


def convert(a: np.ndarray, dtype: str) -> np.ndarray:
    """An operand converted to the op's result dtype, as float64/int64 for computing."""
    if is_float(dtype):
        with np.errstate(all="ignore"):
            return np.asarray(a).astype(dtype).astype(np.float64)
    return np.asarray(a).astype(np.int64)


def tol_class(name: str, dtype: str) -> tuple[float, float]:
    if not is_float(dtype):
        return EXACT
    if dtype == "float16":
        return EXACT if name == "exact" else F16
    return {"exact": EXACT, "elementwise": ELEMENTWISE, "transcendental": TRANSCENDENTAL}[name]


# --- the ops ------------------------------------------------------------------------------------


def r_unary(fn: str, x: np.ndarray, dtype: str) -> Result:
    x = convert(x, dtype)
    with np.errstate(all="ignore"):
        if fn in ("neg", "abs", "relu"):
            v = {"neg": np.negative, "abs": np.abs, "relu": lambda a: np.maximum(a, 0)}[fn](x)
            return Result(round_to(v, dtype), *tol_class("exact", dtype), sign_exact=fn != "relu")
        v = {
            "exp": np.exp,
            "log": np.log,
            "sqrt": np.sqrt,
            "rsqrt": lambda a: 1 / np.sqrt(a),
            "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
            "tanh": np.tanh,
            "erf": _erf,
            "gelu": lambda a: 0.5 * a * _erfc(-a / math.sqrt(2.0)),
            "gelu_tanh": lambda a: (
                0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)))
            ),
        }[fn](x)
    cls = "elementwise" if fn == "sqrt" else "transcendental"
    return Result(
        round_to(v, dtype), *tol_class(cls, dtype), sign_exact=fn == "sqrt", soft_inf=fn != "sqrt"
    )


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX integer Div: truncates toward zero; x / 0 is 0 (webaccel's rule)."""
    a, b = np.broadcast_arrays(a, b)
    q = np.zeros(a.shape, np.int64)
    nz = b != 0
    q[nz] = np.sign(a[nz]) * np.sign(b[nz]) * (np.abs(a[nz]) // np.abs(b[nz]))
    return q


def _int_pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer pow: a negative exponent gives 1 / a**|b| truncated (1, +-1 or 0)."""
    a, b = np.broadcast_arrays(a, b)
    with np.errstate(all="ignore"):
        r = np.power(a, np.where(b < 0, 0, b))  # int64 wraps like int32 does, modulo 2**32
    odd = np.where(b % 2 == 0, 1, -1)
    return np.where(b < 0, np.where(a == 1, 1, np.where(a == -1, odd, 0)), r)


def r_binary(fn: str, a: np.ndarray, b: np.ndarray, dtype: str) -> Result:
    a, b = convert(a, dtype), convert(b, dtype)
    with np.errstate(all="ignore"):
        if not is_float(dtype):
            v = {
                "add": np.add,
                "sub": np.subtract,
                "mul": np.multiply,
                "div": _int_div,
                "pow": _int_pow,
                "maximum": np.maximum,
                "minimum": np.minimum,
            }[fn](a, b)
            wide = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "pow": np.power}
            exact = wide[fn](a.astype(np.float64), b.astype(np.float64)) if fn in wide else v
            if fn == "pow":  # a negative exponent gives 0 or +-1: never out of range
                exact = np.where(b < 0, 0, exact)
            return Result(round_to(v, dtype), open=np.abs(exact) > INT_MAX)
        v = {
            "add": np.add,
            "sub": np.subtract,
            "mul": np.multiply,
            "div": np.divide,
            "pow": np.power,
            "maximum": np.maximum,
            "minimum": np.minimum,
        }[fn](a, b)
    if fn in ("maximum", "minimum"):
        return Result(round_to(v, dtype), *tol_class("exact", dtype), sign_exact=False)
    if fn == "pow":
        return Result(round_to(v, dtype), *tol_class("transcendental", dtype), False, True)
    return Result(round_to(v, dtype), *tol_class("elementwise", dtype))


def r_where(c: np.ndarray, a: np.ndarray, b: np.ndarray, dtype: str) -> Result:
    v = np.where(np.asarray(c) != 0, convert(a, dtype), convert(b, dtype))
    return Result(round_to(v, dtype))


def r_cast(x: np.ndarray, dtype: str) -> Result:
    return Result(round_to(as64(x), dtype))


def _terms_result(
    terms: np.ndarray, axis: tuple[int, ...], dtype: str, count: int | None = None
) -> Result:
    """sum (or mean, with *count*) of *terms* over *axis*, float64, with the acc tolerance and
    the elements whose float32 partial sums can overflow left open."""
    k = max(1, math.prod(terms.shape[a] for a in axis))
    with np.errstate(all="ignore"):
        total = terms.sum(axis=axis)
        finite = np.where(np.isfinite(terms), np.abs(terms), 0.0)
        reach = finite.sum(axis=axis)
        biggest = finite.max(axis=axis, initial=0.0)
    scale = 1.0 if count is None else 1.0 / max(count, 1)
    rtol, atol = f16_acc(k) if dtype == "float16" else acc(k)
    with np.errstate(all="ignore"):  # an empty mean is 0 / 0 = NaN
        value = total if count is None else total / np.float64(count)
    return Result(
        round_to(value, dtype),
        rtol,
        atol * np.maximum(biggest * scale, 1.0),
        sign_exact=False,
        soft_inf=True,
        open=reach >= MAX[dtype],
    )


def r_reduce(fn: str, x: np.ndarray, axes: Any, keepdims: bool, dtype: str) -> Result:
    x = as64(x)
    nd = x.ndim
    ax = tuple(range(nd)) if axes is None else tuple(a % nd for a in np.atleast_1d(axes))
    if not is_float(dtype):
        with np.errstate(all="ignore"):
            total = x.sum(axis=ax, keepdims=keepdims)
            if fn == "mean":
                v = _int_div(total, np.int64(max(1, math.prod(x.shape[a] for a in ax))))
            else:
                v = {"sum": np.sum, "max": np.max, "min": np.min}[fn](x, axis=ax, keepdims=keepdims)
            reach = np.abs(x).sum(axis=ax, keepdims=keepdims)
        return Result(
            round_to(v, dtype), open=reach > INT_MAX if fn != "max" and fn != "min" else None
        )
    if fn in ("max", "min"):
        v = {"max": np.max, "min": np.min}[fn](x, axis=ax, keepdims=keepdims)
        return Result(round_to(v, dtype), sign_exact=False)
    count = math.prod(x.shape[a] for a in ax) if fn == "mean" else None
    r = _terms_result(x, ax, dtype, count)
    if keepdims:
        shape = tuple(1 if i in ax else d for i, d in enumerate(x.shape))
        r.value, r.open = r.value.reshape(shape), np.asarray(r.open).reshape(shape)
        r.atol = np.asarray(r.atol).reshape(shape)
    return r


def _matmul_terms(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """The products a[..., i, k] * b[..., k, j] as (..., i, k, j) (1-D operands promoted)."""
    va, vb = a.ndim == 1, b.ndim == 1
    a2 = a[None, :] if va else a
    b2 = b[:, None] if vb else b
    with np.errstate(all="ignore"):
        return a2[..., :, :, None] * b2[..., None, :, :], va, vb


def r_matmul(a: np.ndarray, b: np.ndarray, dtype: str) -> Result:
    a, b = convert(a, dtype), convert(b, dtype)
    terms, va, vb = _matmul_terms(a, b)
    if not is_float(dtype):
        v = terms.sum(axis=-2)
        r = Result(round_to(v, dtype), open=np.abs(terms).sum(axis=-2) > INT_MAX)
    else:
        r = _terms_result(terms, (terms.ndim - 2,), dtype)
    squeeze = tuple(a for a, flag in ((-1, vb), (-2, va)) if flag)
    if squeeze:
        r.value = r.value.squeeze(squeeze)
        if r.open is not None:
            r.open = r.open.squeeze(squeeze)
        if np.ndim(r.atol):
            r.atol = np.asarray(r.atol).squeeze(squeeze)
    return r


def r_linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, dtype: str) -> Result:
    x, w = convert(x, dtype), convert(w, dtype)
    terms, vx, _ = _matmul_terms(x, w.T)
    if b is not None:  # the bias is one more term of each sum
        bias = np.broadcast_to(convert(b, dtype), (*terms.shape[:-2], 1, terms.shape[-1]))
        terms = np.concatenate([terms, bias], axis=-2)
    r = _terms_result(terms, (terms.ndim - 2,), dtype)
    if vx:
        r.value, r.open, r.atol = (
            r.value.squeeze(-2),
            r.open.squeeze(-2),
            np.asarray(r.atol).squeeze(-2),
        )
    return r


def r_softmax(x: np.ndarray, axis: int, dtype: str) -> Result:
    x = convert(x, dtype)
    if x.size == 0:
        return Result(round_to(x, dtype), sign_exact=False)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        v = e / e.sum(axis=axis, keepdims=True)
    rtol, atol = F16 if dtype == "float16" else NORM
    return Result(round_to(v, dtype), rtol, atol, sign_exact=False)


def r_layer_norm(
    x: np.ndarray, n: int, w: np.ndarray | None, b: np.ndarray | None, eps: float, dtype: str
) -> Result:
    """The layer_norm op's definition (``ops.py``): the float64 normalization rounded once, so
    no intermediate overflows for finite inputs (unlike the float32 written-out expression)."""
    x = convert(x, dtype)
    axes = tuple(range(x.ndim - n, x.ndim))
    k = max(1, math.prod(x.shape[a] for a in axes))
    with np.errstate(all="ignore"):
        mu = x.mean(axis=axes, keepdims=True) if x.size else x.sum(axis=axes, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=axes, keepdims=True) if x.size else mu
        std = np.sqrt(var + eps)
        y = (x - mu) / std
        # float32 cancellation in x - mean: an error of eps * sqrt(K) * max|x|, over the std
        big = np.abs(x).max(axis=axes, keepdims=True, initial=0.0) if x.size else mu
        slack = np.where(np.isfinite(big / std), big / std, 0.0)
        w64 = 1.0 if w is None else convert(w, dtype)
        b64 = 0.0 if b is None else convert(b, dtype)
        v = y * w64 + b64
    rtol, atol = F16 if dtype == "float16" else NORM
    eps_d = 1e-3 if dtype == "float16" else 1.2e-7
    atol_el = (atol + 8 * eps_d * math.sqrt(k) * slack) * np.abs(w64) + eps_d * np.abs(b64)
    atol_el = np.broadcast_to(atol_el + atol, v.shape)
    return Result(round_to(v, dtype), rtol, atol_el, sign_exact=False, soft_inf=True)


def r_view(op: str, x: np.ndarray, attrs: dict, dtype: str) -> Result:
    x = np.asarray(x)
    if op == "reshape":
        v = x.reshape(attrs["shape"])
    elif op == "permute":
        v = x.transpose(attrs["axes"])
    elif op == "slice":
        v = x[tuple(slice(a, b, c) for a, b, c in attrs["slices"])]
    elif op == "expand":
        v = np.broadcast_to(x, attrs["shape"])
    elif op == "unsqueeze":
        v = np.expand_dims(x, attrs["axis"])
    elif op == "squeeze":
        v = np.squeeze(x, attrs["axis"])
    elif op == "bitcast":
        v = np.array(x, order="C").view(attrs["dtype"])
    else:  # contiguous
        v = x
    return Result(np.array(v, dtype=dtype, order="C"))  # (ascontiguousarray makes 0-d 1-d)

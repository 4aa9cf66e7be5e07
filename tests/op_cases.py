"""The op cases as data: every op of ``webaccel.ops.OPS`` and every public function, against an
independent float64 NumPy reference with stated tolerances.

A case is an id, a builder ``fn(*tensors) -> Tensor`` (or a list of tensors) written with the
webaccel API, input arrays from a seeded NumPy generator, a reference ``ref(*arrays)`` computed
in float64 (int64 for integer inputs) and ``rtol``/``atol``. The module needs only NumPy and the
webaccel API (no device is touched at import), so browser lanes can run the same cases:
``run_case(case, device)`` builds and reads the result, ``check_case(case, result)`` compares.

How a result is compared: the float64 reference is rounded once to the result's dtype (so an
f32 ``exp(100)`` must be ``inf``, like IEEE says), then ``|got - want| <= atol + rtol * |want|``
elementwise, NaN where the reference has NaN and nowhere else, infinities exactly; for cases
tagged "sign" (IEEE basic operations, copies, views, casts, where) the sign of every zero too.
Shape and dtype must match exactly.

Tolerances: the table in ``webaccel.ops`` (``EXACT``, ``ELEMENTWISE``, ``TRANSCENDENTAL``,
``acc(K)``, ``NORM``, ``F16``, ``f16_acc(K)``; each op's class is its ``tolerance`` column), the
same table ``webaccel.verify`` compares a device against the cpu reference with. A case that
chains ops states its own, from the table's classes.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import webaccel as wa
from webaccel.ops import ELEMENTWISE, EXACT, F16, NORM, TRANSCENDENTAL, acc, f16_acc


@dataclass(frozen=True)
class OpCase:
    id: str
    fn: Callable[..., Any]
    inputs: tuple[np.ndarray, ...]
    ref: Callable[..., Any]
    rtol: float
    atol: float
    api: tuple[str, ...] = ()  # public functions/methods the case goes through
    dtype: str | None = None  # expected result dtype; None: float32 (or inputs' when int32)
    tags: tuple[str, ...] = field(default=())

    def __repr__(self) -> str:
        return f"OpCase({self.id})"


CASES: list[OpCase] = []


def rng(name: str) -> np.random.Generator:
    """A generator seeded from the case id: inputs stay put when other cases change."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def add(
    id: str,
    fn: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    ref: Callable[..., Any],
    tol: tuple[float, float],
    api: Sequence[str] = (),
    dtype: str | None = None,
    tags: Sequence[str] = (),
) -> None:
    if any(c.id == id for c in CASES):
        raise ValueError(f"duplicate case id {id}")
    CASES.append(OpCase(id, fn, tuple(inputs), ref, tol[0], tol[1], tuple(api), dtype, tuple(tags)))


def randn(name: str, *shape: int, dtype: Any = np.float32, scale: float = 1.0) -> np.ndarray:
    return np.asarray(rng(name).standard_normal(shape) * scale, dtype=dtype)


def uniform(name: str, lo: float, hi: float, *shape: int, dtype: Any = np.float32) -> np.ndarray:
    return np.asarray(rng(name).uniform(lo, hi, shape), dtype=dtype)


def randint(name: str, lo: int, hi: int, *shape: int) -> np.ndarray:
    return np.asarray(rng(name).integers(lo, hi, shape), dtype=np.int32)


# --- running and checking -------------------------------------------------------------------------


def to_ref(a: np.ndarray) -> np.ndarray:
    """The reference's view of an input: float64 for floats, int64 for integers."""
    return a.astype(np.float64) if a.dtype.kind == "f" else a.astype(np.int64)


def expected_dtype(case: OpCase) -> str:
    if case.dtype is not None:
        return case.dtype
    kinds = {a.dtype.name for a in case.inputs}
    return "int32" if kinds == {"int32"} else "float32"


def run_case(case: OpCase, device: str = "cpu") -> list[np.ndarray]:
    """Build the case's tensors on *device*, run it, read every output back as NumPy."""
    tensors = [wa.tensor(a, device=device) for a in case.inputs]
    out = case.fn(*tensors)
    outs = out if isinstance(out, list | tuple) else [out]
    return [np.asarray(t.numpy()) for t in outs]


def reference(case: OpCase) -> list[np.ndarray]:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. NumPy's "Mean of empty slice"
        want = case.ref(*(to_ref(a) for a in case.inputs))
    return [np.asarray(w) for w in (want if isinstance(want, list | tuple) else [want])]


def check_case(case: OpCase, got: list[np.ndarray]) -> None:
    """Raise AssertionError unless *got* matches the reference within the case's tolerance."""
    want = reference(case)
    assert len(got) == len(want), f"{case.id}: {len(got)} outputs, reference has {len(want)}"
    dtype = expected_dtype(case)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        where = f"{case.id}[{i}]"
        assert g.shape == w.shape, f"{where}: shape {g.shape} != reference {w.shape}"
        assert g.dtype.name == dtype, f"{where}: dtype {g.dtype.name} != {dtype}"
        with np.errstate(all="ignore"):
            w_rounded = w.astype(dtype).astype(np.float64)
        np.testing.assert_allclose(
            g.astype(np.float64),
            w_rounded,
            rtol=case.rtol,
            atol=case.atol,
            equal_nan=True,
            err_msg=f"{where} (rtol={case.rtol}, atol={case.atol})",
        )
        if "sign" in case.tags:  # IEEE defines these zeros' sign: compare it too
            zeros = (g == 0) & (w_rounded == 0)
            np.testing.assert_array_equal(
                np.signbit(g[zeros]), np.signbit(w_rounded[zeros]), err_msg=f"{where}: sign of 0"
            )


# --- float64 references ---------------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def r_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def r_gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * _erfc(-x / math.sqrt(2.0))


def r_gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def r_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def r_layer_norm(
    x: np.ndarray, n_axes: int, w: Any = None, b: Any = None, eps: float = 1e-5
) -> np.ndarray:
    axes = tuple(range(x.ndim - n_axes, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def r_batch_norm(x, mean, var, w=None, b=None, axis=1, eps=1e-5):
    shape = [1] * x.ndim
    shape[axis] = -1
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape)
    return y + (0 if b is None else b.reshape(shape))


def r_same(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """ONNX SAME_UPPER, derived independently: output ceil(size/s), the odd pad at the end."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def r_conv(
    x: np.ndarray,
    w: np.ndarray,
    b: Any = None,
    stride: Sequence[int] = (1, 1),
    pads: Any = (0, 0, 0, 0),
    dilation: Sequence[int] = (1, 1),
    groups: int = 1,
    nhwc: bool = False,
) -> np.ndarray:
    """Direct convolution: a loop over kernel taps, each an einsum over a strided slice."""
    nd = w.ndim - 2
    if nhwc:
        x = np.moveaxis(x, -1, 1)
    spatial = x.shape[2:]
    if pads == "same":
        pads = [
            p for i in range(nd) for p in r_same(spatial[i], w.shape[2 + i], stride[i], dilation[i])
        ]
    x = np.pad(x, [(0, 0), (0, 0)] + [(pads[2 * i], pads[2 * i + 1]) for i in range(nd)])
    n, c = x.shape[:2]
    o, k = w.shape[0], w.shape[2:]
    out_sp = [(x.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
    y = np.zeros((n, o, *out_sp))
    cg, og = c // groups, o // groups
    for g in range(groups):
        for tap in np.ndindex(*k):
            sl = tuple(
                slice(
                    tap[i] * dilation[i],
                    tap[i] * dilation[i] + stride[i] * (out_sp[i] - 1) + 1,
                    stride[i],
                )
                for i in range(nd)
            )
            patch = x[(slice(None), slice(g * cg, (g + 1) * cg), *sl)]
            wt = w[(slice(g * og, (g + 1) * og), slice(None), *tap)]
            y[:, g * og : (g + 1) * og] += np.einsum("nc...,oc->no...", patch, wt)
    if b is not None:
        y += b.reshape((1, o) + (1,) * nd)
    return np.moveaxis(y, 1, -1) if nhwc else y


def r_pool(
    x: np.ndarray,
    kind: str,
    k: Sequence[int],
    s: Sequence[int],
    pads: Any = (0, 0, 0, 0),
    nhwc: bool = False,
) -> np.ndarray:
    if nhwc:
        x = np.moveaxis(x, -1, 1)
    if pads == "same":
        pads = [p for i in range(2) for p in r_same(x.shape[2 + i], k[i], s[i], 1)]
    h, w_ = x.shape[2:]
    oh = (h + pads[0] + pads[1] - k[0]) // s[0] + 1
    ow = (w_ + pads[2] + pads[3] - k[1]) // s[1] + 1
    y = np.zeros((*x.shape[:2], oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s[0] - pads[0], j * s[1] - pads[2]
            win = x[:, :, max(r0, 0) : min(r0 + k[0], h), max(c0, 0) : min(c0 + k[1], w_)]
            if kind == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            else:  # count_include_pad=False: the mean of the valid elements
                y[:, :, i, j] = win.mean(axis=(2, 3))
    return np.moveaxis(y, 1, -1) if nhwc else y


def r_attention(q, k, v, mask=None, scale=None):
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        s = s + mask
    return r_softmax(s, -1) @ v


def r_int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX integer Div: truncates toward zero (NumPy's // floors); x / 0 -> 0 here."""
    a, b = np.broadcast_arrays(a, b)
    q = np.zeros(a.shape, np.int64)
    nz = b != 0
    q[nz] = np.sign(a[nz]) * np.sign(b[nz]) * (np.abs(a[nz]) // np.abs(b[nz]))
    return q


# --- elementwise unary ----------------------------------------------------------------------------

SPECIAL = np.array(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -2.5,
        np.inf,
        -np.inf,
        np.nan,
        1e30,
        -1e30,
        88.0,
        89.0,
        100.0,
        -100.0,
        1e-30,
        -1e-30,
        3.4e38,
        1e-45,
    ],
    dtype=np.float32,
)

UNARY_FLOAT = {
    # name: (webaccel fn, reference, input domain (lo, hi), tolerance)
    "exp": (wa.exp, np.exp, (-10, 10), TRANSCENDENTAL),
    "log": (wa.log, np.log, (0.01, 100), TRANSCENDENTAL),
    "sqrt": (wa.sqrt, np.sqrt, (0, 100), ELEMENTWISE),
    "rsqrt": (wa.rsqrt, lambda x: 1 / np.sqrt(x), (0.01, 100), TRANSCENDENTAL),
    "neg": (wa.neg, np.negative, (-10, 10), EXACT),
    "abs": (wa.abs, np.abs, (-10, 10), EXACT),
    "relu": (wa.relu, lambda x: np.maximum(x, 0), (-10, 10), EXACT),
    "sigmoid": (wa.sigmoid, r_sigmoid, (-20, 20), TRANSCENDENTAL),
    "tanh": (wa.tanh, np.tanh, (-10, 10), TRANSCENDENTAL),
    "erf": (wa.erf, _erf, (-5, 5), TRANSCENDENTAL),
    "gelu": (wa.gelu, r_gelu, (-10, 10), TRANSCENDENTAL),
}

for _name, (_fn, _ref, (_lo, _hi), _tol) in UNARY_FLOAT.items():
    for _shape in [(), (1,), (3,), (17,), (33, 65), (2, 0, 3), (1, 127)]:
        _id = f"{_name}-{'x'.join(map(str, _shape)) or 'scalar'}"
        add(_id, _fn, [uniform(_id, _lo, _hi, *_shape)], _ref, _tol, [_name])
    _id = f"{_name}-special"
    add(_id, _fn, [SPECIAL], _ref, _tol, [_name], tags=["special"])
    # non-contiguous inputs: a transpose, a stepped slice, a stride-0 expand
    _x = uniform(f"{_name}-view", _lo, _hi, 6, 9)
    add(
        f"{_name}-transposed",
        lambda x, f=_fn: f(x.T),
        [_x],
        lambda x, r=_ref: r(x.T),
        _tol,
        [_name],
        tags=["view"],
    )
    add(
        f"{_name}-stepped",
        lambda x, f=_fn: f(x[1::2, ::-3]),
        [_x],
        lambda x, r=_ref: r(x[1::2, ::-3]),
        _tol,
        [_name],
        tags=["view"],
    )
    add(
        f"{_name}-expanded",
        lambda x, f=_fn: f(x[:1].expand(4, 9)),
        [_x],
        lambda x, r=_ref: r(np.broadcast_to(x[:1], (4, 9))),
        _tol,
        [_name],
        tags=["view"],
    )
    _id = f"{_name}-f16"
    add(
        _id,
        _fn,
        [uniform(_id, _lo, _hi, 5, 17, dtype=np.float16)],
        _ref,
        F16,
        [_name],
        dtype="float16",
        tags=["f16"],
    )

# gelu's tail, where 1 + erf(x/sqrt2) cancels: relative accuracy, not just absolute
add(
    "gelu-tail",
    wa.gelu,
    [np.linspace(-12, -3, 64, dtype=np.float32)],
    r_gelu,
    (1e-5, 0.0),
    ["gelu"],
    tags=["special"],
)
add("erf-tail", wa.erf, [np.linspace(-6, 6, 121, dtype=np.float32)], _erf, (1e-6, 0.0), ["erf"])
for _shape in [(), (17,), (33, 65), (0, 4)]:
    _id = f"gelu-tanh-{'x'.join(map(str, _shape)) or 'scalar'}"
    add(
        _id,
        lambda x: wa.gelu(x, approximate="tanh"),
        [uniform(_id, -10, 10, *_shape)],
        r_gelu_tanh,
        TRANSCENDENTAL,
        ["gelu"],
    )
add(
    "gelu-tanh-special",
    lambda x: x.gelu("tanh"),
    [SPECIAL],
    r_gelu_tanh,
    TRANSCENDENTAL,
    ["gelu"],
    tags=["special"],
)
add(
    "gelu-tanh-f16",
    lambda x: wa.gelu(x, "tanh"),
    [uniform("g16", -6, 6, 65, dtype=np.float16)],
    r_gelu_tanh,
    F16,
    ["gelu"],
    dtype="float16",
    tags=["f16"],
)
add("neg-op", lambda x: -x, [randn("neg-op", 3, 5)], np.negative, EXACT, ["neg"])
add("abs-op", abs, [randn("abs-op", 3, 5)], np.abs, EXACT, ["abs"])
for _name, _fn, _ref in [
    ("neg", wa.neg, np.negative),
    ("abs", wa.abs, np.abs),
    ("relu", wa.relu, lambda x: np.maximum(x, 0)),
]:
    add(
        f"{_name}-int32",
        _fn,
        [randint(f"{_name}-i", -1000, 1000, 5, 7)],
        _ref,
        EXACT,
        [_name],
        tags=["int32"],
    )

# --- elementwise binary ---------------------------------------------------------------------------

BINARY = {
    "add": (wa.add, np.add, (-10, 10), (-10, 10), ELEMENTWISE),
    "sub": (wa.sub, np.subtract, (-10, 10), (-10, 10), ELEMENTWISE),
    "mul": (wa.mul, np.multiply, (-10, 10), (-10, 10), ELEMENTWISE),
    "div": (wa.div, np.divide, (-10, 10), (0.5, 10), ELEMENTWISE),
    "pow": (wa.pow, np.power, (0.1, 5), (-3, 3), TRANSCENDENTAL),
    "maximum": (wa.maximum, np.maximum, (-10, 10), (-10, 10), EXACT),
    "minimum": (wa.minimum, np.minimum, (-10, 10), (-10, 10), EXACT),
}
BROADCASTS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((2, 1, 5), (3, 1)),
    ((), (17,)),
    ((33, 1), ()),
    ((0, 3), (1, 3)),
    ((1,), (1,)),
    ((2, 3, 1, 65), (1, 1, 7, 1)),
    ((1, 0), (5, 1)),
]
_OPERATOR = {
    "add": "__add__",
    "sub": "__sub__",
    "mul": "__mul__",
    "div": "__truediv__",
    "pow": "__pow__",
}

for _name, (_fn, _ref, _ra, _rb, _tol) in BINARY.items():
    for _sa, _sb in BROADCASTS:
        _id = f"{_name}-{_sa}-{_sb}".replace(" ", "")
        add(
            _id,
            _fn,
            [uniform(_id + "a", *_ra, *_sa), uniform(_id + "b", *_rb, *_sb)],
            _ref,
            _tol,
            [_name],
            tags=["broadcast"],
        )
    # Python scalars on either side, through the function and the operator
    _a = uniform(f"{_name}-s", *_ra, 4, 5)
    _s = 2.5 if _name != "div" else 1.75
    _sl = 1.5 if _name != "pow" else 2.0
    add(
        f"{_name}-scalar-right",
        lambda x, f=_fn, s=_s: f(x, s),
        [_a],
        lambda x, r=_ref, s=_s: r(x, s),
        _tol,
        [_name],
        tags=["scalar"],
    )
    add(
        f"{_name}-scalar-left",
        lambda x, f=_fn, s=_sl: f(s, x),
        [_a],
        lambda x, r=_ref, s=_sl: r(s, x),
        _tol,
        [_name],
        tags=["scalar"],
    )
    if _name in _OPERATOR:
        _op = _OPERATOR[_name]
        _rop = "__r" + _op[2:]
        add(
            f"{_name}-operator",
            lambda x, y, o=_op: getattr(x, o)(y),
            [_a, uniform(f"{_name}-o", *_rb, 5)],
            _ref,
            _tol,
            [_name],
        )
        add(
            f"{_name}-roperator",
            lambda x, o=_rop, s=_sl: getattr(x, o)(s),
            [_a],
            lambda x, r=_ref, s=_sl: r(s, x),
            _tol,
            [_name],
            tags=["scalar"],
        )
    _x = uniform(f"{_name}-v", *_ra, 6, 8)
    _y = uniform(f"{_name}-w", *_rb, 8, 6)
    add(
        f"{_name}-views",
        lambda x, y, f=_fn: f(x[::2, 1:], y.T[::-2, 1:]),
        [_x, _y],
        lambda x, y, r=_ref: r(x[::2, 1:], y.T[::-2, 1:]),
        _tol,
        [_name],
        tags=["view"],
    )
    _id = f"{_name}-f16"
    add(
        _id,
        _fn,
        [
            uniform(_id + "a", *_ra, 7, 9, dtype=np.float16),
            uniform(_id + "b", *_rb, 9, dtype=np.float16),
        ],
        _ref,
        F16,
        [_name],
        dtype="float16",
        tags=["f16"],
    )
    _id = f"{_name}-f16-f32"
    add(
        _id,
        _fn,
        [uniform(_id + "a", *_ra, 3, 9, dtype=np.float16), uniform(_id + "b", *_rb, 9)],
        _ref,
        _tol,
        [_name],
        dtype="float32",
        tags=["f16"],
    )

# NaN / inf / huge values propagate like NumPy
_P = np.array([np.nan, 1.0, np.nan, -np.inf, np.inf, 1e30, -1e30, 3e38, 0.0, -0.0], np.float32)
_Q = np.array([1.0, np.nan, np.nan, 5.0, -np.inf, 1e30, 1e30, 3e38, -0.0, 0.0], np.float32)
for _name in ("add", "sub", "mul", "div", "maximum", "minimum", "pow"):
    _fn, _ref, *_, _tol = BINARY[_name]
    add(f"{_name}-special", _fn, [_P, _Q], _ref, _tol, [_name], tags=["special"])
add(
    "relu-nan-maximum",
    lambda x: wa.maximum(x, 0.0),
    [_P],
    lambda x: np.maximum(x, 0),
    EXACT,
    ["maximum"],
    tags=["special"],
)

# int32 arithmetic
_IA = randint("ia", -1000, 1000, 6, 7)
_IB = randint("ib", -50, 50, 7)
_IB[_IB == 0] = 3
for _name, _fn, _ref in [
    ("add", wa.add, np.add),
    ("sub", wa.sub, np.subtract),
    ("mul", wa.mul, np.multiply),
    ("div", wa.div, r_int_div),
    ("maximum", wa.maximum, np.maximum),
    ("minimum", wa.minimum, np.minimum),
]:
    add(f"{_name}-int32", _fn, [_IA, _IB], _ref, EXACT, [_name], tags=["int32"])
    add(
        f"{_name}-int32-scalar",
        lambda x, f=_fn: f(x, 7),
        [_IA],
        lambda x, r=_ref: r(x, 7),
        EXACT,
        [_name],
        tags=["int32", "scalar"],
    )
    add(
        f"{_name}-int32-rscalar",
        lambda x, f=_fn: f(-7, x),
        [_IB],
        lambda x, r=_ref: r(-7, x),
        EXACT,
        [_name],
        tags=["int32", "scalar"],
    )
add(
    "div-int32-trunc",
    wa.div,
    [
        np.array([7, -7, 7, -7, 0, 1, -1, 2147483647], np.int32),
        np.array([2, 2, -2, -2, 5, 3, 3, -1], np.int32),
    ],
    r_int_div,
    EXACT,
    ["div"],
    tags=["int32"],
)
add(
    "div-int32-by-zero",
    lambda a, b: a / b,
    [np.array([5, -5, 0], np.int32), np.array([0, 0, 0], np.int32)],
    r_int_div,
    EXACT,
    ["div"],
    tags=["int32"],
)
add(
    "pow-int32",
    wa.pow,
    [randint("pa", -5, 6, 4, 5), randint("pb", 0, 6, 5)],
    np.power,
    EXACT,
    ["pow"],
    tags=["int32"],
)
add(
    "pow-int32-negexp",
    wa.pow,
    [np.array([2, 1, -1, -1, 3, 0], np.int32), np.array([-1, -3, -3, -2, 0, 2], np.int32)],
    lambda a, b: np.trunc(a.astype(float) ** b.astype(float)).astype(np.int64),
    EXACT,
    ["pow"],
    tags=["int32"],
)
add(
    "add-int32-float-scalar",
    lambda x: x + 0.5,
    [_IA],
    lambda x: x + 0.5,
    ELEMENTWISE,
    ["add"],
    dtype="float32",
    tags=["int32", "scalar"],
)
add(
    "mul-int32-f32",
    wa.mul,
    [_IB, uniform("if", -2, 2, 3, 7)],
    np.multiply,
    ELEMENTWISE,
    ["mul"],
    dtype="float32",
    tags=["int32"],
)

# --- reductions -----------------------------------------------------------------------------------

_RED = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}
_RSHAPES = [(), (1,), (17,), (3, 4), (2, 3, 5), (4, 1, 33), (2, 65, 3), (127, 2)]


def _axes_for(shape: tuple[int, ...]) -> list[Any]:
    n = len(shape)
    out: list[Any] = [None]
    if n >= 1:
        out += [0, -1]
    if n >= 2:
        out += [(0, 1), 1]
    if n >= 3:
        out += [(0, 2), (-1, -2), (0, 1, 2)]
    return out


for _name, _ref in _RED.items():
    for _shape in _RSHAPES:
        for _axes in _axes_for(_shape):
            for _keep in (False, True):
                _k = (
                    math.prod(_shape)
                    if _axes is None
                    else math.prod(
                        _shape[a] for a in ((_axes,) if isinstance(_axes, int) else _axes)
                    )
                )
                _tol = EXACT if _name in ("max", "min") else acc(_k)
                if _name == "mean":
                    _tol = (1e-5, _tol[1] / max(_k, 1) + 1e-7)
                _id = f"{_name}-{_shape}-{_axes}-{_keep}".replace(" ", "")
                add(
                    _id,
                    lambda x, n=_name, a=_axes, k=_keep: getattr(x, n)(a, keepdims=k),
                    [randn(_id, *_shape)],
                    lambda x, r=_ref, a=_axes, k=_keep: r(x, axis=a, keepdims=k),
                    _tol,
                    [_name],
                )
    _x = randn(f"{_name}-v", 6, 5, 4)
    _tol = EXACT if _name in ("max", "min") else (1e-5, 1e-5)
    add(
        f"{_name}-transposed",
        lambda x, n=_name: getattr(x.permute(2, 0, 1)[:, ::2], n)(-1),
        [_x],
        lambda x, r=_ref: r(x.transpose(2, 0, 1)[:, ::2], axis=-1),
        _tol,
        [_name],
        tags=["view"],
    )
    add(
        f"{_name}-expanded",
        lambda x, n=_name: getattr(x[:, :1].expand(6, 7, 4), n)((1, 2)),
        [_x],
        lambda x, r=_ref: r(np.broadcast_to(x[:, :1], (6, 7, 4)), axis=(1, 2)),
        _tol,
        [_name],
        tags=["view"],
    )
    _id = f"{_name}-f16"
    add(
        _id,
        lambda x, n=_name: getattr(x, n)(1),
        [randn(_id, 5, 33, dtype=np.float16)],
        lambda x, r=_ref: r(x, axis=1),
        f16_acc(33),
        [_name],
        dtype="float16",
        tags=["f16"],
    )
    _ix = randint(f"{_name}-i", -100, 100, 4, 9)
    _iref = (
        (lambda x: r_int_div(x.sum(axis=1), np.int64(9)))
        if _name == "mean"
        else (lambda x, r=_ref: r(x, axis=1))
    )
    add(
        f"{_name}-int32",
        lambda x, n=_name: getattr(x, n)(1),
        [_ix],
        _iref,
        EXACT,
        [_name],
        tags=["int32"],
    )
    _s = np.array([[1.0, np.nan, 3.0], [np.inf, 2.0, -1e30], [-np.inf, 1e30, 0.0]], np.float32)
    add(
        f"{_name}-special",
        lambda x, n=_name: getattr(x, n)(1),
        [_s],
        lambda x, r=_ref: r(x, axis=1),
        EXACT,
        [_name],
        tags=["special"],
    )
for _name in ("sum", "mean"):  # empty axes: sum 0, mean NaN (like NumPy)
    add(
        f"{_name}-empty-axis",
        lambda x, n=_name: getattr(x, n)(0),
        [np.zeros((0, 3), np.float32)],
        lambda x, r=_RED[_name]: r(x, axis=0),
        EXACT,
        [_name],
        tags=["empty"],
    )
    add(
        f"{_name}-empty-kept",
        lambda x, n=_name: getattr(x, n)(1, keepdims=True),
        [np.zeros((0, 3), np.float32)],
        lambda x, r=_RED[_name]: r(x, axis=1, keepdims=True),
        EXACT,
        [_name],
        tags=["empty"],
    )
add(
    "mean-int32-negative",
    lambda x: x.mean(),
    [np.array([-3, 0], np.int32)],
    lambda x: np.int64(-1),
    EXACT,
    ["mean"],
    tags=["int32"],
)
add(
    "max-empty-other-axis",
    lambda x: x.max(1),
    [np.zeros((0, 3), np.float32)],
    lambda x: x.max(axis=1),
    EXACT,
    ["max"],
    tags=["empty"],
)

# --- matmul, linear, gemm -------------------------------------------------------------------------

for _sa, _sb in [
    ((3, 4), (4, 5)),
    ((17, 33), (33, 65)),
    ((1, 127), (127, 1)),
    ((2, 3, 4), (4, 5)),
    ((4, 5), (2, 5, 3)),
    ((2, 1, 3, 4), (5, 4, 6)),
    ((3, 7, 33), (3, 33, 17)),
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((65,), (65,)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 3)),
    ((3, 0), (0, 5)),
    ((0, 4), (4, 5)),
    ((2, 0, 4), (4, 3)),
    ((1, 1), (1, 1)),
]:
    _id = f"matmul-{_sa}-{_sb}".replace(" ", "")
    add(
        _id,
        wa.matmul,
        [randn(_id + "a", *_sa), randn(_id + "b", *_sb)],
        np.matmul,
        acc(_sa[-1]),
        ["matmul"],
    )
_A, _B = randn("mma", 9, 6), randn("mmb", 5, 9)
add(
    "matmul-transposed",
    lambda a, b: a.T @ b.T,
    [_A, _B],
    lambda a, b: a.T @ b.T,
    acc(9),
    ["matmul"],
    tags=["view"],
)
add(
    "matmul-stepped",
    lambda a, b: a[::2, ::2] @ b.T[1::2],
    [randn("mms", 8, 10), randn("mmt", 3, 10)],
    lambda a, b: a[::2, ::2] @ b.T[1::2],
    acc(5),
    ["matmul"],
    tags=["view"],
)
add(
    "matmul-expanded",
    lambda a, b: a[None].expand(3, 9, 6) @ b,
    [_A, randn("mme", 3, 6, 4)],
    lambda a, b: a[None] @ b,
    acc(6),
    ["matmul"],
    tags=["view"],
)
add(
    "matmul-rmatmul",
    lambda a: np.eye(6, dtype=np.float32)[:4] @ a,
    [_A[:6]],
    lambda a: np.eye(6)[:4] @ a,
    acc(6),
    ["matmul"],
)
add(
    "matmul-int32",
    wa.matmul,
    [randint("mi", -9, 9, 5, 7), randint("mj", -9, 9, 7, 3)],
    np.matmul,
    EXACT,
    ["matmul"],
    tags=["int32"],
)
add(
    "matmul-f16",
    wa.matmul,
    [randn("mh", 5, 33, dtype=np.float16), randn("mg", 33, 17, dtype=np.float16)],
    np.matmul,
    f16_acc(33),
    ["matmul"],
    dtype="float16",
    tags=["f16"],
)

_X, _W, _BIAS = randn("lx", 4, 8), randn("lw", 5, 8), randn("lb", 5)
add("linear-bias", wa.linear, [_X, _W, _BIAS], lambda x, w, b: x @ w.T + b, acc(8), ["linear"])
add("linear-nobias", wa.linear, [_X, _W], lambda x, w: x @ w.T, acc(8), ["linear"])
add(
    "linear-3d",
    wa.linear,
    [randn("l3", 2, 3, 33), randn("l3w", 17, 33), randn("l3b", 17)],
    lambda x, w, b: x @ w.T + b,
    acc(33),
    ["linear"],
)
add(
    "linear-1d",
    wa.linear,
    [randn("l1", 8), _W, _BIAS],
    lambda x, w, b: x @ w.T + b,
    acc(8),
    ["linear"],
)
add(
    "linear-transposed-weight",
    lambda x, w, b: wa.linear(x, w.T, b),
    [_X, _W.T.copy(), _BIAS],
    lambda x, w, b: x @ w + b,
    acc(8),
    ["linear"],
    tags=["view"],
)
add(
    "linear-empty-batch",
    wa.linear,
    [np.zeros((0, 8), np.float32), _W, _BIAS],
    lambda x, w, b: x @ w.T + b,
    EXACT,
    ["linear"],
    tags=["empty"],
)
add(
    "linear-f16",
    wa.linear,
    [
        randn("lh", 3, 8, dtype=np.float16),
        randn("lhw", 5, 8, dtype=np.float16),
        randn("lhb", 5, dtype=np.float16),
    ],
    lambda x, w, b: x @ w.T + b,
    f16_acc(8),
    ["linear"],
    dtype="float16",
    tags=["f16"],
)

# --- weight-only quantized linear (webaccel.quant): int8 / int4 codes, float32 scales -----------
# The reference dequantizes exactly (float64 q * scale) and runs the float64 linear; the codes are
# drawn directly (int4 over its whole range, -8 included) and the scales keep |w| ~ 1, so the
# tolerance is the float32 accumulation's: atol 1e-5 * sqrt(K) for terms of magnitude up to ~5.


def q_acc(k: int) -> tuple[float, float]:
    return 1e-5, 1e-5 * math.sqrt(max(k, 1))


def pack_int4(codes: np.ndarray) -> np.ndarray:
    """int4 codes (any shape, values in [-8, 7]) -> packed bytes, low nibble first."""
    nib = (codes.reshape(-1).astype(np.int64) & 0xF).astype(np.uint8)
    if nib.size % 2:
        nib = np.concatenate([nib, np.zeros(1, np.uint8)])
    return nib[0::2] | (nib[1::2] << 4)


def unpack_int4(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    p = np.asarray(packed).astype(np.int64)
    nib = np.stack([p & 0xF, p >> 4], axis=-1).reshape(-1)[: math.prod(shape)]
    return ((nib ^ 8) - 8).reshape(shape)


def r_dequant(q: np.ndarray, s: np.ndarray, group: int) -> np.ndarray:
    s2 = s.reshape(q.shape[0], -1)
    return q * np.repeat(s2, group, axis=1)[:, : q.shape[1]]


def _qweight(q: Any, s: Any, group: int | None, shape: tuple[int, int] | None = None) -> Any:
    """A QuantizedWeight over case tensors; int4 codes arrive as their packed uint8 bytes."""
    from webaccel.quant import QuantizedWeight

    if shape is not None:
        q = wa.from_buffer(q.to_bytes(), shape, "int4", device=q.device)
    return QuantizedWeight(q, s, group)


def _add_linear_q(
    id: str, x_shape: tuple[int, ...], out: int, bits: int, group: int | None, bias: bool = True
) -> None:
    k = x_shape[-1]
    g = group or k
    ng = -(-k // g)
    x = randn(id + "x", *x_shape)
    if bits == 8:
        q = np.asarray(rng(id + "q").integers(-127, 128, (out, k)), np.int8)
        s = uniform(id + "s", 0.5, 1.5, out, dtype=np.float32) / 127
        if group is not None:
            s = uniform(id + "s", 0.5, 1.5, out, ng) / 127
        codes, shape = q, None
    else:
        q = np.asarray(rng(id + "q").integers(-8, 8, (out, k)), np.int8)
        s = uniform(id + "s", 0.05, 0.2, out, ng)
        codes, shape = pack_int4(q), (out, k)
    b = randn(id + "b", out)
    ref_q = q.astype(np.int64)

    def fn(x: Any, c: Any, s: Any, *b: Any) -> Any:
        return wa.linear(x, _qweight(c, s, group, shape), *b)

    def ref(x: Any, c: Any, s: Any, *b: Any) -> Any:
        y = x @ r_dequant(ref_q, s, g).T
        return y + b[0] if b else y

    inputs = [x, codes, s] + ([b] if bias else [])
    add(id, fn, inputs, ref, q_acc(k), ["linear"], tags=["quant"])


_add_linear_q("linear_q-int8-channel-3x5", (3, 5, 37), 11, 8, None)
_add_linear_q("linear_q-int8-matvec-out1", (1, 24), 1, 8, None, bias=False)
_add_linear_q("linear_q-int8-1d", (40,), 6, 8, None)
_add_linear_q("linear_q-int8-vec", (9, 48), 13, 8, None)  # the word-at-a-time loops
_add_linear_q("linear_q-int8-group16", (4, 48), 7, 8, 16)
_add_linear_q("linear_q-int4-g32", (2, 64), 9, 4, 32)
_add_linear_q("linear_q-int4-g32-vec", (10, 96), 12, 4, 32, bias=False)
_add_linear_q("linear_q-int4-partial-group", (4, 40), 5, 4, 16)  # groups of 16, 16, 8
_add_linear_q("linear_q-int4-odd", (3, 7), 3, 4, 32)  # 21 codes: rows cross bytes
_add_linear_q("linear_q-int4-empty-batch", (0, 32), 4, 4, 32)
_QD8 = np.asarray(rng("qd8").integers(-127, 128, (5, 9)), np.int8)
_QD4 = np.asarray(rng("qd4").integers(-8, 8, (3, 40)), np.int8)
add(
    "dequantize-int8",
    lambda q, s: _qweight(q, s, None).dequantize(),
    [_QD8, uniform("qd8s", 0.001, 0.01, 5)],
    lambda q, s: q * s[:, None],
    ELEMENTWISE,
    ["linear"],
    tags=["quant"],
)
add(
    "dequantize-int4-partial-group",
    lambda q, s: _qweight(q, s, 32, (3, 40)).dequantize(),
    [pack_int4(_QD4), uniform("qd4s", 0.05, 0.2, 3, 2)],
    lambda q, s: r_dequant(_QD4.astype(np.int64), s, 32),
    ELEMENTWISE,
    ["linear"],
    tags=["quant"],
)
add(
    "linear-dequantized-gelu",  # passes turn this into one linear_q step with the activation
    lambda x, q, s, b: wa.gelu(wa.linear(x, _qweight(q, s, None).dequantize(), b)),
    [randn("ldx", 6, 32), _QD8[:, :8].repeat(4, axis=1), uniform("lds", 0.01, 0.02, 5), _BIAS],
    lambda x, q, s, b: r_gelu(x @ (q * s[:, None]).T + b),
    q_acc(32),
    ["linear", "gelu"],
    tags=["quant"],
)

_GA, _GB, _GC = randn("ga", 4, 6), randn("gb", 6, 5), randn("gc", 4, 5)
add("gemm", wa.gemm, [_GA, _GB, _GC], lambda a, b, c: a @ b + c, acc(6), ["gemm"])
add(
    "gemm-alpha-beta-trans",
    lambda a, b, c: wa.gemm(a, b, c, 0.5, 2.0, True, True),
    [_GA.T.copy(), _GB.T.copy(), randn("gc1", 5)],
    lambda a, b, c: 0.5 * (a.T @ b.T) + 2.0 * c,
    acc(6),
    ["gemm"],
)
add(
    "gemm-noc",
    lambda a, b: wa.gemm(a, b, alpha=-1.5),
    [_GA, _GB],
    lambda a, b: -1.5 * (a @ b),
    acc(6),
    ["gemm"],
)

# --- convolution ----------------------------------------------------------------------------------


def _conv_case(
    id: str,
    nd: int,
    n: int,
    c: int,
    spatial: Sequence[int],
    o: int,
    k: Sequence[int],
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    bias: bool = True,
    nhwc: bool = False,
    dtype: Any = np.float32,
) -> None:
    x = randn(id + "x", n, c, *spatial, dtype=dtype)
    if nhwc:
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    w = randn(id + "w", o, c // groups, *k, dtype=dtype, scale=0.5)
    inputs = [x, w] + ([randn(id + "b", o, dtype=dtype)] if bias else [])
    fn_name = f"conv{nd}d"
    layout = ("nwc" if nd == 1 else "nhwc") if nhwc else ("ncw" if nd == 1 else "nchw")
    st = (stride,) * nd if isinstance(stride, int) else tuple(stride)
    dl = (dilation,) * nd if isinstance(dilation, int) else tuple(dilation)
    if padding in ("same", "valid"):
        pads: Any = "same" if padding == "same" else (0,) * (2 * nd)
    elif isinstance(padding, int):
        pads = (padding,) * (2 * nd)
    elif len(padding) == nd:
        pads = tuple(p for p in padding for _ in range(2))
    else:
        pads = tuple(padding)

    def fn(x: Any, w: Any, b: Any = None) -> Any:
        return getattr(wa, fn_name)(
            x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups, layout=layout
        )

    def ref(x: Any, w: Any, b: Any = None) -> Any:
        return r_conv(x, w, b, st, pads, dl, groups, nhwc)

    kk = (c // groups) * math.prod(k)
    tol = f16_acc(kk) if dtype == np.float16 else acc(kk)
    add(id, fn, inputs, ref, tol, [fn_name], dtype="float16" if dtype == np.float16 else None)


_conv_case("conv2d-basic", 2, 2, 3, (8, 9), 4, (3, 3))
_conv_case("conv2d-nobias", 2, 1, 3, (5, 5), 2, (3, 3), bias=False)
_conv_case("conv2d-1x1", 2, 2, 17, (3, 5), 33, (1, 1))
_conv_case("conv2d-stride2-pad1", 2, 2, 4, (9, 8), 5, (3, 3), stride=2, padding=1)
_conv_case("conv2d-pad-hw", 2, 1, 3, (7, 6), 2, (3, 5), padding=(1, 2))
_conv_case("conv2d-pad-asym", 2, 1, 2, (6, 7), 3, (2, 3), padding=(0, 2, 1, 0))
_conv_case("conv2d-same", 2, 1, 3, (7, 8), 4, (3, 3), padding="same")
_conv_case("conv2d-same-even-kernel", 2, 1, 2, (6, 5), 3, (4, 2), padding="same")
_conv_case("conv2d-same-stride2", 2, 1, 3, (9, 10), 2, (3, 3), stride=2, padding="same")
_conv_case("conv2d-valid", 2, 1, 3, (6, 6), 2, (3, 3), padding="valid")
_conv_case("conv2d-dilation2", 2, 1, 3, (11, 10), 4, (3, 3), dilation=2, padding=2)
_conv_case("conv2d-dilation-stride", 2, 2, 2, (13, 12), 3, (3, 2), stride=(2, 3), dilation=(2, 1))
_conv_case("conv2d-groups2", 2, 2, 4, (6, 6), 6, (3, 3), groups=2, padding=1)
_conv_case("conv2d-depthwise", 2, 2, 8, (7, 7), 8, (3, 3), groups=8, padding=1)
_conv_case("conv2d-depthwise-mult2", 2, 1, 3, (5, 6), 6, (3, 3), groups=3)
_conv_case("conv2d-odd", 2, 1, 3, (17, 33), 5, (5, 3), stride=(3, 2), padding=(2, 1))
_conv_case("conv2d-kernel-equals-input", 2, 1, 2, (3, 3), 4, (3, 3))
_conv_case("conv2d-nhwc", 2, 2, 3, (8, 9), 4, (3, 3), nhwc=True)
_conv_case("conv2d-nhwc-stride-same", 2, 1, 4, (9, 7), 5, (3, 3), 2, "same", nhwc=True)
_conv_case("conv2d-nhwc-depthwise", 2, 1, 6, (6, 5), 6, (3, 3), padding=1, groups=6, nhwc=True)
_conv_case("conv2d-nhwc-dilation", 2, 1, 2, (9, 9), 3, (3, 3), dilation=2, nhwc=True)
_conv_case("conv2d-f16", 2, 1, 3, (6, 7), 4, (3, 3), padding=1, dtype=np.float16)
_conv_case("conv1d-basic", 1, 2, 3, (17,), 4, (3,))
_conv_case("conv1d-stride-pad", 1, 1, 4, (33,), 2, (5,), stride=2, padding=2)
_conv_case("conv1d-same", 1, 2, 3, (10,), 5, (4,), padding="same")
_conv_case("conv1d-dilation", 1, 1, 2, (20,), 3, (3,), dilation=3, padding=(1, 4))
_conv_case("conv1d-groups", 1, 2, 6, (9,), 4, (3,), groups=2)
_conv_case("conv1d-depthwise", 1, 1, 5, (12,), 5, (3,), groups=5, padding=1, bias=False)
_conv_case("conv1d-nwc", 1, 2, 3, (11,), 4, (3,), stride=2, padding=1, nhwc=True)
_conv_case("conv1d-nwc-same", 1, 1, 4, (8,), 4, (5,), padding="same", groups=2, nhwc=True)
_CX = randn("cvx", 1, 9, 3, 7)  # NCHW data held as N,H,C,W: a permuted (non-contiguous) input
add(
    "conv2d-permuted-input",
    lambda x, w: wa.conv2d(x.permute(0, 2, 1, 3), w, padding=1),
    [_CX, randn("cvw", 2, 3, 3, 3)],
    lambda x, w: r_conv(x.transpose(0, 2, 1, 3), w, None, (1, 1), (1, 1, 1, 1)),
    acc(27),
    ["conv2d"],
    tags=["view"],
)
add(
    "conv2d-empty-batch",
    lambda x, w: wa.conv2d(x, w),
    [np.zeros((0, 2, 5, 5), np.float32), randn("cew", 3, 2, 3, 3)],
    lambda x, w: r_conv(x, w),
    EXACT,
    ["conv2d"],
    tags=["empty"],
)

# --- pooling --------------------------------------------------------------------------------------

for _kind in ("max", "avg"):
    _fname = f"{_kind}_pool2d"
    _fn = getattr(wa, _fname)
    for _id, _shape, _k, _s, _p, _nhwc in [
        ("2x2", (2, 3, 8, 8), 2, None, 0, False),
        ("3x3-s1", (1, 2, 7, 9), 3, 1, 0, False),
        ("3x3-s2-p1", (2, 3, 9, 8), 3, 2, 1, False),
        ("k3x2-s2x1-p", (1, 2, 7, 6), (3, 2), (2, 1), (1, 0), False),
        ("asym-pad", (1, 2, 6, 7), 3, 2, (1, 0, 0, 2), False),
        ("same", (1, 3, 7, 10), 3, 2, "same", False),
        ("odd", (1, 1, 33, 17), (5, 3), (4, 2), (2, 1), False),
        ("global", (2, 4, 5, 5), 5, None, 0, False),
        ("nhwc", (2, 8, 8, 3), 2, None, 0, True),
        ("nhwc-p1", (1, 7, 9, 4), 3, 2, 1, True),
    ]:
        _cid = f"{_fname}-{_id}"
        _st = _k if _s is None else _s
        _kt = (_k, _k) if isinstance(_k, int) else _k
        _stt = (_st, _st) if isinstance(_st, int) else _st
        if _p == "same" or len(_p if isinstance(_p, tuple) else (0,) * 4) == 4:
            _pads: Any = _p if not isinstance(_p, int) else (_p,) * 4
        else:
            _pads = tuple(v for v in _p for _ in range(2))
        add(
            _cid,
            lambda x, f=_fn, k=_k, s=_s, p=_p, n=_nhwc: f(x, k, s, p, "nhwc" if n else "nchw"),
            [randn(_cid, *_shape)],
            lambda x, kind=_kind, k=_kt, s=_stt, p=_pads, n=_nhwc: r_pool(x, kind, k, s, p, n),
            EXACT if _kind == "max" else NORM,
            [_fname],
        )
    _nanx = randn(f"{_kind}-nan", 1, 1, 4, 4)
    _nanx[0, 0, 1, 2] = np.nan
    _nanx[0, 0, 3, 0] = np.inf
    add(
        f"{_fname}-nan",
        lambda x, f=_fn: f(x, 2),
        [_nanx],
        lambda x, kind=_kind: r_pool(x, kind, (2, 2), (2, 2)),
        EXACT if _kind == "max" else NORM,
        [_fname],
        tags=["special"],
    )
    add(
        f"{_fname}-transposed",
        lambda x, f=_fn: f(x.permute(0, 3, 1, 2), 2, 1, 1),
        [randn(f"{_kind}-t", 2, 5, 6, 3)],
        lambda x, kind=_kind: r_pool(x.transpose(0, 3, 1, 2), kind, (2, 2), (1, 1), (1,) * 4),
        EXACT if _kind == "max" else NORM,
        [_fname],
        tags=["view"],
    )
    _id = f"{_fname}-f16"
    add(
        _id,
        lambda x, f=_fn: f(x, 3, 2, 1),
        [randn(_id, 1, 2, 7, 7, dtype=np.float16)],
        lambda x, kind=_kind: r_pool(x, kind, (3, 3), (2, 2), (1,) * 4),
        F16,
        [_fname],
        dtype="float16",
        tags=["f16"],
    )
add(
    "max_pool2d-neg-padded",
    lambda x: wa.max_pool2d(x, 3, 1, 1),
    [-uniform("mpn", 1, 2, 1, 1, 4, 4)],
    lambda x: r_pool(x, "max", (3, 3), (1, 1), (1,) * 4),
    EXACT,
    ["max_pool2d"],
)  # padding must never win a max of negatives

# --- normalization --------------------------------------------------------------------------------

for _shape, _axis in [((4, 5), 1), ((2, 3, 4, 5), 1), ((2, 4, 5, 3), -1), ((1, 17, 1, 1), 1)]:
    _c = _shape[_axis]
    _id = f"batch_norm-{_shape}-{_axis}".replace(" ", "")
    _ins = [
        randn(_id, *_shape),
        randn(_id + "m", _c),
        uniform(_id + "v", 0.1, 2, _c),
        randn(_id + "w", _c),
        randn(_id + "b", _c),
    ]
    add(
        _id,
        lambda x, m, v, w, b, a=_axis: wa.batch_norm(x, m, v, w, b, axis=a),
        _ins,
        lambda x, m, v, w, b, a=_axis: r_batch_norm(x, m, v, w, b, a),
        NORM,
        ["batch_norm"],
    )
    add(
        _id + "-noaffine",
        lambda x, m, v, a=_axis: wa.batch_norm(x, m, v, axis=a, eps=1e-3),
        _ins[:3],
        lambda x, m, v, a=_axis: r_batch_norm(x, m, v, None, None, a, 1e-3),
        NORM,
        ["batch_norm"],
    )
_id = "batch_norm-f16"
add(
    _id,
    wa.batch_norm,
    [
        randn(_id, 2, 3, 4, dtype=np.float16),
        randn(_id + "m", 3, dtype=np.float16),
        uniform(_id + "v", 0.5, 2, 3, dtype=np.float16),
    ],
    lambda x, m, v: r_batch_norm(x, m, v),
    F16,
    ["batch_norm"],
    dtype="float16",
    tags=["f16"],
)

for _shape, _n in [
    ((4, 8), 1),
    ((2, 3, 17), 1),
    ((2, 5, 6), 2),
    ((3, 1), 1),
    ((1, 127), 1),
    ((2, 3, 4, 5), 2),
    ((0, 6), 1),
    ((65,), 1),
]:
    _norm = _shape[len(_shape) - _n :]
    _id = f"layer_norm-{_shape}-{_n}".replace(" ", "")
    _x = randn(_id, *_shape, scale=3.0) + 1.5
    _w, _b = randn(_id + "w", *_norm), randn(_id + "b", *_norm)
    add(
        _id,
        lambda x, s=_norm: wa.layer_norm(x, s),
        [_x],
        lambda x, n=_n: r_layer_norm(x, n),
        NORM,
        ["layer_norm"],
    )
    add(
        _id + "-affine",
        lambda x, w, b, s=_norm: wa.layer_norm(x, s, w, b),
        [_x, _w, _b],
        lambda x, w, b, n=_n: r_layer_norm(x, n, w, b),
        NORM,
        ["layer_norm"],
    )
    add(
        _id + "-weight",
        lambda x, w, s=_norm: wa.layer_norm(x, s, w, eps=1e-3),
        [_x, _w],
        lambda x, w, n=_n: r_layer_norm(x, n, w, eps=1e-3),
        NORM,
        ["layer_norm"],
    )
    add(
        _id + "-bias",
        lambda x, b, s=_norm: wa.layer_norm(x, s, bias=b),
        [_x, _b],
        lambda x, b, n=_n: r_layer_norm(x, n, b=b),
        NORM,
        ["layer_norm"],
    )
add(
    "layer_norm-int-size",
    lambda x: wa.layer_norm(x, 33),
    [randn("lni", 3, 33)],
    lambda x: r_layer_norm(x, 1),
    NORM,
    ["layer_norm"],
)
add(
    "layer_norm-transposed",
    lambda x: wa.layer_norm(x.T, 6),
    [randn("lnt", 6, 5)],
    lambda x: r_layer_norm(x.T, 1),
    NORM,
    ["layer_norm"],
    tags=["view"],
)
add(
    "layer_norm-offset-mean",
    lambda x: wa.layer_norm(x, 64),
    [randn("lno", 4, 64) + 1000.0],
    lambda x: r_layer_norm(x, 1),
    (1e-5, 2e-4),
    ["layer_norm"],
)  # f32 data ~1000: ulp 6e-5
add(
    "layer_norm-f16",
    lambda x: wa.layer_norm(x, 16),
    [randn("lnh", 3, 16, dtype=np.float16)],
    lambda x: r_layer_norm(x, 1),
    F16,
    ["layer_norm"],
    dtype="float16",
    tags=["f16"],
)

for _shape, _axis in [
    ((5,), -1),
    ((3, 17), -1),
    ((3, 17), 0),
    ((2, 33, 4), 1),
    ((4, 1), -1),
    ((1, 127), 1),
    ((2, 3, 65), -1),
    ((0, 5), -1),
    ((2, 3, 4), -3),
]:
    _id = f"softmax-{_shape}-{_axis}".replace(" ", "")
    add(
        _id,
        lambda x, a=_axis: wa.softmax(x, a),
        [randn(_id, *_shape, scale=3.0)],
        lambda x, a=_axis: r_softmax(x, a),
        NORM,
        ["softmax"],
    )
add(
    "softmax-method-default",
    lambda x: x.softmax(),
    [randn("smd", 4, 6)],
    r_softmax,
    NORM,
    ["softmax"],
)
_SM = np.array(
    [
        [-np.inf, 0.0, 1.0, -np.inf],
        [1e30, -1e30, 1e30, 0.0],
        [-1e30, -1e30, -1e30, -1e30],
        [88.0, 89.0, 100.0, -100.0],
        [-np.inf, -np.inf, -np.inf, 2.0],
    ],
    np.float32,
)
add("softmax-special", wa.softmax, [_SM], r_softmax, NORM, ["softmax"], tags=["special"])
add(
    "softmax-all-neg-inf-row",
    wa.softmax,
    [np.full((2, 3), -np.inf, np.float32)],
    r_softmax,
    NORM,
    ["softmax"],
    tags=["special"],
)  # NaN, as the reference (and NumPy/PyTorch) give
add(
    "softmax-transposed",
    lambda x: wa.softmax(x.T[::2], -1),
    [randn("smt", 7, 6)],
    lambda x: r_softmax(x.T[::2], -1),
    NORM,
    ["softmax"],
    tags=["view"],
)
add(
    "softmax-f16",
    lambda x: wa.softmax(x, 1),
    [randn("smh", 3, 33, dtype=np.float16)],
    lambda x: r_softmax(x, 1),
    F16,
    ["softmax"],
    dtype="float16",
    tags=["f16"],
)

# --- attention ------------------------------------------------------------------------------------

_Q, _K, _V = randn("aq", 2, 5, 8), randn("ak", 2, 7, 8), randn("av", 2, 7, 3)
add("attention", wa.attention, [_Q, _K, _V], r_attention, NORM, ["attention"])
_causal = np.triu(np.full((5, 7), -np.inf, np.float32), k=3)
add("attention-causal-mask", wa.attention, [_Q, _K, _V, _causal], r_attention, NORM, ["attention"])
add(
    "attention-mask-scale",
    lambda q, k, v, m: wa.attention(q, k, v, m, scale=0.3),
    [_Q, _K, _V, randn("am", 2, 1, 7)],
    lambda q, k, v, m: r_attention(q, k, v, m, 0.3),
    NORM,
    ["attention"],
)
add(
    "attention-heads",
    wa.attention,
    [
        randn("hq", 1, 4, 17, 16),
        randn("hk", 1, 4, 33, 16),
        randn("hv", 1, 4, 33, 16),
        np.where(rng("hm").random((17, 33)) < 0.3, -1e9, 0.0).astype(np.float32),
    ],
    r_attention,
    NORM,
    ["attention"],
)
add(
    "attention-f16",
    wa.attention,
    [
        randn("fq", 2, 4, 8, dtype=np.float16),
        randn("fk", 2, 6, 8, dtype=np.float16),
        randn("fv", 2, 6, 8, dtype=np.float16),
    ],
    r_attention,
    (2e-3, 2e-3),
    ["attention"],
    dtype="float16",
    tags=["f16"],
)  # 4 roundings to f16

# --- movement ops ---------------------------------------------------------------------------------

_M = randn("mv", 4, 6)
_M3 = randn("mv3", 2, 3, 4)
for _id, _fn, _ref, _api in [
    ("reshape", lambda x: x.reshape(3, 8), lambda x: x.reshape(3, 8), ["reshape"]),
    ("reshape-fn-neg1", lambda x: wa.reshape(x, (-1, 2)), lambda x: x.reshape(-1, 2), ["reshape"]),
    ("reshape-of-transpose", lambda x: x.T.reshape(24), lambda x: x.T.reshape(24), ["reshape"]),
    (
        "reshape-of-slice",
        lambda x: x[:, ::2].reshape(2, 6),
        lambda x: x[:, ::2].reshape(2, 6),
        ["reshape"],
    ),
    (
        "reshape-to-scalar",
        lambda x: x[:1, :1].reshape(()),
        lambda x: x[:1, :1].reshape(()),
        ["reshape"],
    ),
    (
        "reshape-unsqueeze",
        lambda x: x.unsqueeze(1).unsqueeze(-1),
        lambda x: x[:, None, :, None],
        ["reshape"],
    ),
    ("squeeze", lambda x: x[:, :1].squeeze(1), lambda x: x[:, 0], ["reshape"]),
    ("transpose", lambda x: x.transpose(), lambda x: x.T, ["transpose"]),
    ("transpose-fn", lambda x: wa.transpose(x, 0, 1), lambda x: x.T, ["transpose"]),
    ("transpose-T", lambda x: x.T + 0, lambda x: x.T, ["transpose"]),
    (
        "expand",
        lambda x: wa.expand(x[:1], 3, 6),
        lambda x: np.broadcast_to(x[:1], (3, 6)),
        ["expand"],
    ),
    (
        "expand-new-axes",
        lambda x: x.expand(2, 4, 6),
        lambda x: np.broadcast_to(x, (2, 4, 6)),
        ["expand"],
    ),
    (
        "expand-neg1",
        lambda x: x[:, :1].expand(-1, 5),
        lambda x: np.broadcast_to(x[:, :1], (4, 5)),
        ["expand"],
    ),
    ("slice-steps", lambda x: x[1::2, ::-2], lambda x: x[1::2, ::-2], []),
    (
        "slice-onnx",
        lambda x: wa.slice_(x, [1, -1], [4, 0], [0, 1], [2, -2]),
        lambda x: x[1:4:2, -1:0:-2],
        ["slice_"],
    ),
    ("slice-onnx-default", lambda x: wa.slice_(x, [1], [3]), lambda x: x[1:3], ["slice_"]),
    ("slice-empty", lambda x: x[2:2, :], lambda x: x[2:2, :], []),
    ("slice-clamped", lambda x: x[-100:100, 3:], lambda x: x[-100:100, 3:], []),
    ("index-int", lambda x: x[-1], lambda x: x[-1], []),
    ("index-mixed", lambda x: x[None, 1:3, ..., -2], lambda x: x[None, 1:3, ..., -2], []),
    ("index-scalar", lambda x: x[2, 3], lambda x: x[2, 3], []),
    ("contiguous", lambda x: x.T.contiguous(), lambda x: x.T, []),
]:
    add(f"movement-{_id}", _fn, [_M], _ref, EXACT, _api, tags=["view"])
add(
    "transpose-3d",
    lambda x: x.permute(2, 0, 1).reshape(4, 6),
    [_M3],
    lambda x: x.transpose(2, 0, 1).reshape(4, 6),
    EXACT,
    ["transpose", "reshape"],
)
add(
    "transpose-3d-fn",
    lambda x: wa.transpose(x, (1, 2, 0)),
    [_M3],
    lambda x: x.transpose(1, 2, 0),
    EXACT,
    ["transpose"],
)
add(
    "reshape-empty",
    lambda x: x.reshape(0, 5, 2),
    [np.zeros((0, 10), np.float32)],
    lambda x: x.reshape(0, 5, 2),
    EXACT,
    ["reshape"],
    tags=["empty"],
)
add(
    "reshape-int32",
    lambda x: x.T.reshape(-1),
    [_IA],
    lambda x: x.T.reshape(-1),
    EXACT,
    ["reshape"],
    tags=["int32"],
)

for _id, _shapes, _axis in [
    ("axis0", [(2, 3), (4, 3)], 0),
    ("axis1", [(2, 3), (2, 1), (2, 5)], 1),
    ("axis-neg", [(2, 3, 4), (2, 3, 1)], -1),
    ("empty", [(0, 3), (2, 3), (0, 3)], 0),
    ("single", [(3, 17)], 1),
    ("odd", [(1, 33), (1, 65), (1, 127)], 1),
]:
    add(
        f"concat-{_id}",
        lambda *xs, a=_axis: wa.concat(list(xs), a),
        [randn(f"cc{_id}{i}", *s) for i, s in enumerate(_shapes)],
        lambda *xs, a=_axis: np.concatenate(xs, a),
        EXACT,
        ["concat"],
    )
add(
    "concat-views",
    lambda x: wa.concat([x.T, x.T[::-1], x[:2].expand(2, 2, 4)[0].T], 1),
    [randn("ccv", 4, 6)[:, :4].copy()],
    lambda x: np.concatenate([x.T, x.T[::-1], x[:2].T], 1),
    EXACT,
    ["concat"],
    tags=["view"],
)
add(
    "concat-int32",
    lambda a, b: wa.concat([a, b], 0),
    [_IA, _IA[:2]],
    lambda a, b: np.concatenate([a, b]),
    EXACT,
    ["concat"],
    tags=["int32"],
)
add(
    "concat-f16",
    lambda a, b: wa.concat([a, b], -1),
    [randn("c16a", 2, 3, dtype=np.float16), randn("c16b", 2, 2, dtype=np.float16)],
    lambda a, b: np.concatenate([a, b], -1),
    EXACT,
    ["concat"],
    dtype="float16",
    tags=["f16"],
)

for _id, _shape, _sizes, _axis in [
    ("equal", (6, 4), 2, 0),
    ("uneven", (7, 4), 3, 0),
    ("sizes", (3, 10), [1, 4, 5], 1),
    ("neg-axis", (2, 3, 5), [2, 0, 3], -1),
    ("one", (5,), 5, 0),
]:
    _offs = (
        list(np.cumsum(_sizes)[:-1])
        if isinstance(_sizes, list)
        else list(range(_sizes, _shape[_axis], _sizes))
    )
    add(
        f"split-{_id}",
        lambda x, s=_sizes, a=_axis: [t + 0 for t in wa.split(x, s, a)],
        [randn(f"sp{_id}", *_shape)],
        lambda x, o=_offs, a=_axis: np.split(x, list(o), a),
        EXACT,
        ["split"],
    )

_G = randn("gth", 5, 4)
for _id, _idx, _axis in [
    ("axis0", np.array([0, 4, 2, 2], np.int32), 0),
    ("axis1", np.array([3, 0], np.int32), 1),
    ("negative", np.array([-1, -5, 1], np.int32), 0),
    ("negative-axis1", np.array([[-1, 0], [2, -4]], np.int32), -1),
    ("2d-indices", np.array([[1, 2], [3, 4], [0, 0]], np.int32), 0),
    ("scalar-index", np.array(3, np.int32), 0),
    ("empty-indices", np.zeros((0,), np.int32), 1),
]:
    add(
        f"gather-{_id}",
        lambda x, i, a=_axis: wa.gather(x, i, a),
        [_G, _idx],
        lambda x, i, a=_axis: np.take(x, i, axis=a),
        EXACT,
        ["gather"],
    )
add(
    "gather-int32-data",
    lambda x, i: wa.gather(x, i, 1),
    [_IA, np.array([6, -7, 0], np.int32)],
    lambda x, i: np.take(x, i, axis=1),
    EXACT,
    ["gather"],
    tags=["int32"],
)
add(
    "gather-transposed",
    lambda x, i: wa.gather(x.T, i, 0),
    [_G, np.array([1, -1], np.int32)],
    lambda x, i: np.take(x.T, i, axis=0),
    EXACT,
    ["gather"],
    tags=["view"],
)
add(
    "gather-f16",
    lambda x, i: wa.gather(x, i),
    [randn("g16", 4, 3, dtype=np.float16), np.array([3, 1], np.int32)],
    lambda x, i: np.take(x, i, axis=0),
    EXACT,
    ["gather"],
    dtype="float16",
    tags=["f16"],
)

_C = (rng("wc").random((3, 4)) < 0.5).astype(np.float32)
add(
    "where",
    wa.where,
    [_C, randn("wa", 3, 4), randn("wb", 3, 4)],
    lambda c, a, b: np.where(c != 0, a, b),
    EXACT,
    ["where"],
)
add(
    "where-broadcast",
    wa.where,
    [_C[:, :1], randn("wba", 1, 4), randn("wbb", 2, 3, 1)],
    lambda c, a, b: np.where(c != 0, a, b),
    EXACT,
    ["where"],
)
add(
    "where-scalars",
    lambda c, b: wa.where(c, 1.5, b),
    [_C, randn("wsb", 4)],
    lambda c, b: np.where(c != 0, 1.5, b),
    EXACT,
    ["where"],
)
add(
    "where-scalar-both-sides",
    lambda c, a: wa.where(c, a, -2.0),
    [_C.astype(np.int32), randn("wsa", 3, 4)],
    lambda c, a: np.where(c != 0, a, -2.0),
    EXACT,
    ["where"],
)
add(
    "where-int32",
    wa.where,
    [_C.astype(np.uint8), _IA[:3, :4].copy(), np.int32(-1) * _IA[:3, :4]],
    lambda c, a, b: np.where(c != 0, a, b),
    EXACT,
    ["where"],
    dtype="int32",
    tags=["int32"],
)
add(
    "where-nan-cond",
    wa.where,
    [
        np.array([np.nan, 0.0, -0.0, 1.0], np.float32),
        np.ones(4, np.float32),
        np.zeros(4, np.float32),
    ],
    lambda c, a, b: np.where(c != 0, a, b),
    EXACT,
    ["where"],
    tags=["special"],
)
add(
    "where-empty",
    wa.where,
    [np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32), np.zeros((1, 2), np.float32)],
    lambda c, a, b: np.where(c != 0, a, b),
    EXACT,
    ["where"],
    tags=["empty"],
)

_CF = np.array([-2.7, -1.5, -0.5, 0.0, 0.5, 1.5, 2.7, 1000.9, -1000.9, 65504.0], np.float32)
add(
    "cast-f32-int32",
    lambda x: wa.cast(x, "int32"),
    [_CF],
    lambda x: np.trunc(x).astype(np.int64),
    EXACT,
    ["cast"],
    dtype="int32",
)  # ONNX/C: toward zero
add(
    "cast-int32-f32",
    lambda x: x.cast(wa.float32),
    [_IA],
    lambda x: x.astype(np.float64),
    EXACT,
    ["cast"],
    dtype="float32",
)
add(
    "cast-f32-f16",
    lambda x: x.astype("float16"),
    [_CF],
    lambda x: x,
    EXACT,
    ["cast"],
    dtype="float16",
)  # round to nearest f16 (the reference is rounded the same way)
add(
    "cast-f16-f32",
    lambda x: x.cast("float32"),
    [_CF.astype(np.float16)],
    lambda x: x,
    EXACT,
    ["cast"],
    dtype="float32",
)
add("cast-f32-f32", lambda x: x.cast("float32") * 1, [_CF], lambda x: x, EXACT, ["cast"])
add(
    "cast-uint8-f32",
    lambda x: x.cast("float32"),
    [np.arange(0, 256, 15, dtype=np.uint8)],
    lambda x: x.astype(np.float64),
    EXACT,
    ["cast"],
    dtype="float32",
)
add(
    "cast-int8-f32",
    lambda x: x.cast("float32") * 2,
    [np.arange(-128, 128, 17, dtype=np.int8)],
    lambda x: x * 2.0,
    EXACT,
    ["cast"],
    dtype="float32",
)
add(
    "cast-f32-uint8",
    lambda x: x.cast("uint8"),
    [np.array([0, 1.9, 200.5, 255], np.float32)],
    lambda x: np.trunc(x),
    EXACT,
    ["cast"],
    dtype="uint8",
)
add(
    "cast-int4-f32",
    lambda x: wa.from_buffer(x.to_bytes(), (6,), "int4").cast("float32"),
    [np.array([0x21, 0xF3, 0x87], np.uint8)],
    lambda x: np.array([1, 2, 3, -1, 7, -8.0]),
    EXACT,
    ["cast"],
    dtype="float32",
)  # low nibble first, two's complement
add(
    "cast-f32-int4-roundtrip",
    lambda x: x.cast("int4").cast("float32"),
    [np.array([1.0, -3.0, 7.0, -8.0, 9.0, -9.5], np.float32)],
    lambda x: ((np.trunc(x).astype(np.int64) + 8) & 0xF) - 8,
    EXACT,
    ["cast"],
    dtype="float32",
)  # int4 wraps like the other integer casts, inside the graph as in storage
add(
    "cast-transposed",
    lambda x: x.T.cast("int32"),
    [_M * 10],
    lambda x: np.trunc(x.T),
    EXACT,
    ["cast"],
    dtype="int32",
    tags=["view"],
)

add(
    "full",
    lambda x: x + wa.full((2, 3), 1.25),
    [randn("fu", 3)],
    lambda x: x + np.full((2, 3), 1.25),
    ELEMENTWISE,
    ["full"],
)
add(
    "zeros-ones",
    lambda x: wa.zeros((4,)) + wa.ones((3, 1)) * x,
    [randn("zo", 4)],
    lambda x: np.zeros(4) + np.ones((3, 1)) * x,
    ELEMENTWISE,
    ["zeros", "ones"],
)
add(
    "full-int32",
    lambda x: x * wa.full((), 3, "int32"),
    [_IB],
    lambda x: x * 3,
    EXACT,
    ["full"],
    tags=["int32"],
)
add(
    "full-nan-inf",
    lambda x: wa.concat([wa.full((2,), float("nan")), wa.full((1,), -np.inf), x]),
    [randn("fn", 2)],
    lambda x: np.concatenate([[np.nan, np.nan, -np.inf], x]),
    EXACT,
    ["full", "concat"],
    tags=["special"],
)
add(
    "full-empty",
    lambda: wa.full((0, 3), 7.0),
    [],
    lambda: np.full((0, 3), 7.0),
    EXACT,
    ["full"],
    tags=["empty"],
)
add(
    "neg-zero-constant",
    lambda x: x * -0.0,
    [np.array([1.0, 2.0], np.float32)],
    lambda x: x * -0.0,
    EXACT,
    ["mul"],
    tags=["special"],
)

# --- composites / chains: several ops in one program ----------------------------------------------

add(
    "chain-mlp",
    lambda x, w1, b1, w2: wa.gelu(wa.linear(x, w1, b1)) @ w2.T,
    [randn("c1x", 5, 16), randn("c1w", 32, 16, scale=0.3), randn("c1b", 32), randn("c1v", 8, 32)],
    lambda x, w1, b1, w2: r_gelu(x @ w1.T + b1) @ w2.T,
    acc(32, 1e-4),
    ["linear", "gelu", "matmul"],
)
add(
    "chain-block",
    lambda x, w: wa.relu(
        wa.batch_norm(wa.conv2d(x, w, padding=1), wa.zeros((4,)), wa.ones((4,)))
    ).max(1),
    [randn("c2x", 2, 3, 6, 6), randn("c2w", 4, 3, 3, 3)],
    lambda x, w: np.maximum(r_conv(x, w, None, (1, 1), (1,) * 4) / math.sqrt(1 + 1e-5), 0).max(1),
    acc(27),
    ["conv2d", "batch_norm", "relu"],
)

# --- IEEE edges every backend must agree on (issue 15) ----------------------------------------
# Signed zeros where IEEE defines them (tag "sign": check_case compares the sign of zeros),
# overflow to inf in float16, NaN/inf through the composite ops, int32 operands of float ops.

_Z = np.array([0.0, -0.0, 0.0, -0.0], np.float32)
_Z2 = np.array([0.0, 0.0, -0.0, -0.0], np.float32)
for _id, _fn, _ref, _ins in [
    ("neg", lambda x: -x, np.negative, [_Z]),
    ("neg-fn", wa.neg, np.negative, [_Z]),
    ("abs", wa.abs, np.abs, [_Z]),
    ("sqrt", wa.sqrt, np.sqrt, [_Z]),
    ("add", wa.add, np.add, [_Z, _Z2]),
    ("sub", wa.sub, np.subtract, [_Z, _Z2]),
    ("mul", wa.mul, np.multiply, [_Z, np.array([1.0, 1.0, -1.0, -1.0], np.float32)]),
    ("mul-scalar", lambda x: x * -1.0, lambda x: x * -1.0, [_Z]),
    (
        "div",
        wa.div,
        np.divide,
        [np.array([0.0, -0.0, 1.0, -1.0], np.float32), np.array([5, 5, -np.inf, np.inf], "f4")],
    ),
    ("div-by-signed-zero", wa.div, np.divide, [np.ones(4, np.float32), _Z]),
    ("where", lambda c, a: wa.where(c, a, -a), lambda c, a: np.where(c != 0, a, -a), [_Z2, _Z]),
    ("transposed", lambda x: x.reshape(2, 2).T + 0, lambda x: x.reshape(2, 2).T + 0, [_Z]),
    ("contiguous", lambda x: x[::-1].contiguous(), lambda x: x[::-1], [_Z]),
]:
    add(f"signed-zero-{_id}", _fn, _ins, _ref, EXACT, [], tags=["special", "sign"])
add(
    "signed-zero-cast-f16",
    lambda x: x.cast("float16"),
    [_Z],
    lambda x: x,
    EXACT,
    ["cast"],
    dtype="float16",
    tags=["special", "sign", "f16"],
)

# float16 overflows to inf (never NaN, never the max), and keeps infinities in views
_H = np.array([300.0, -300.0, 60000.0, 2.0, 65504.0], np.float16)
_H2 = np.array([300.0, 300.0, 2.0, 32752.0, 1.0], np.float16)
for _name in ("mul", "add"):
    _fn, _ref, *_ = BINARY[_name]
    add(
        f"{_name}-f16-overflow",
        _fn,
        [_H, _H2],
        _ref,
        F16,
        [_name],
        dtype="float16",
        tags=["f16", "special"],
    )
add(
    "exp-f16-overflow",
    wa.exp,
    [np.array([11.1, 12.0, -20.0, 10.0], np.float16)],
    np.exp,
    F16,
    ["exp"],
    dtype="float16",
    tags=["f16", "special"],
)
add(
    "cast-f32-f16-overflow",
    lambda x: x.cast("float16"),
    [np.array([65504.0, 65519.0, 65520.0, 1e5, -1e5, np.inf, np.nan], np.float32)],
    lambda x: x,
    EXACT,
    ["cast"],
    dtype="float16",
    tags=["f16", "special"],
)
add(
    "f16-inf-reversed-view",
    lambda x: x[::-1] + 0,
    [np.array([1.0, np.inf, -np.inf, 2.0], np.float16)],
    lambda x: x[::-1],
    EXACT,
    ["add"],
    dtype="float16",
    tags=["f16", "special", "view"],
)
add(
    "f16-inf-stepped-view",
    lambda x: x[1::2].contiguous(),
    [np.array([1.0, np.inf, -np.inf, -np.inf, 3.0, np.nan], np.float16)],
    lambda x: x[1::2],
    EXACT,
    [],
    dtype="float16",
    tags=["f16", "special", "view"],
)

# int32 operands of a float op are converted first: true division, never truncated
add(
    "div-int32-by-float-scalar",
    lambda x: x / 0.1,
    [np.array([10, -7, 0, 3], np.int32)],
    lambda x: x / np.float64(np.float32(0.1)),
    ELEMENTWISE,
    ["div"],
    dtype="float32",
    tags=["int32", "scalar"],
)
add(
    "div-int32-by-f32",
    wa.div,
    [np.array([3, -7, 5, 0], np.int32), np.array([2.0, 2.0, 0.0, 0.0], np.float32)],
    np.divide,
    ELEMENTWISE,
    ["div"],
    dtype="float32",
    tags=["int32", "special"],
)

add(
    "add-int32-f16-operand-overflow",
    wa.add,
    [np.array([65520, 1, -70000, 2049], np.int32), np.array([-100, 1, 5, 0.5], np.float16)],
    lambda a, b: a.astype(np.float16).astype(np.float64) + b,
    F16,
    ["add"],
    dtype="float16",
    tags=["int32", "f16", "special"],
)  # the int32 operand is converted to float16 first: 65520 is inf there, so is the sum

# composites over NaN / inf / huge values: softmax and layer_norm as defined in ops.py
add(
    "softmax-inf-nan-rows",
    wa.softmax,
    [
        np.array(
            [[1.0, np.inf, 2.0], [np.inf, np.inf, 0.0], [np.nan, 1.0, 2.0], [3e38, -3e38, 0.0]],
            np.float32,
        )
    ],
    r_softmax,
    NORM,
    ["softmax"],
    tags=["special"],
)  # a row holding +inf: inf - inf is NaN, so the whole row is NaN (as written out)
add(
    "softmax-empty-axis",
    lambda x: wa.softmax(x, -1),
    [np.zeros((3, 0), np.float32)],
    lambda x: x,
    EXACT,
    ["softmax"],
    tags=["empty"],
)
add(
    "layer_norm-huge",
    lambda x: wa.layer_norm(x, 4),
    [
        np.array(
            [[1e20, -2e20, 3e20, 5e19], [1e36, -2e36, 3e36, 5e35], [3e38, -3e38, 1e38, 0.0]],
            np.float32,
        )
    ],
    lambda x: r_layer_norm(x, 1),
    NORM,
    ["layer_norm"],
    tags=["special"],
)  # no intermediate overflow: the float32 (x - mean)**2 would be inf here
add(
    "layer_norm-inf-nan",
    lambda x: wa.layer_norm(x, 3),
    [np.array([[1.0, np.inf, 2.0], [np.nan, 0.0, 1.0], [1.0, 2.0, 4.0]], np.float32)],
    lambda x: r_layer_norm(x, 1),
    NORM,
    ["layer_norm"],
    tags=["special"],
)

# linear / matmul: NaN and inf through the sums (no zero skipping), a zero-size inner dimension
add(
    "linear-nan-inf",
    wa.linear,
    [
        np.array([[np.nan, 1.0, 2.0], [np.inf, 0.0, 1.0], [np.inf, 1.0, 1.0]], np.float32),
        np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]], np.float32),
        np.array([0.5, np.nan], np.float32),
    ],
    lambda x, w, b: np.einsum("ik,jk->ijk", x, w).sum(-1) + b,
    acc(3),
    ["linear"],
    tags=["special"],
)  # inf * 0 is NaN inside the sum
add(
    "matmul-bias-nan",
    lambda x, w, b: x @ w + b,
    [
        np.array([[np.nan, 1.0], [1.0, 2.0]], np.float32),
        np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]], np.float32),
        np.array([0.0, 1.0, np.nan], np.float32),
    ],
    lambda x, w, b: np.einsum("ik,kj->ikj", x, w).sum(1) + b,
    acc(2),
    ["matmul", "add"],
    tags=["special"],
)  # the passes make this one linear step: NaN must stay NaN (never the float32 max)
add(
    "linear-empty-inner",
    wa.linear,
    [np.zeros((3, 0), np.float32), np.zeros((4, 0), np.float32), randn("lei", 4)],
    lambda x, w, b: x @ w.T + b,
    EXACT,
    ["linear"],
    tags=["empty"],
)
add(
    "matmul-empty-inner",
    wa.matmul,
    [np.zeros((2, 0), np.float32), np.zeros((0, 3), np.float32)],
    np.matmul,
    EXACT,
    ["matmul"],
    tags=["empty"],
)

# views the issue found failing: expand to a higher rank (bitcast views: in the chains, where
# placement may move them off WebNN, which has no bitcast)
add(
    "expand-higher-rank-size1",
    lambda x: x[:, :1].expand(2, 4, 5) + 0,
    [randn("ehr", 4, 3)],
    lambda x: np.broadcast_to(x[:, :1], (2, 4, 5)),
    EXACT,
    ["expand"],
    tags=["view"],
)
add(
    "expand-1d-to-3d",
    lambda x: wa.expand(x, 2, 3, 5) * 1,
    [randn("e13", 5)],
    lambda x: np.broadcast_to(x, (2, 3, 5)),
    EXACT,
    ["expand"],
    tags=["view"],
)
PUBLIC_FUNCTIONS = sorted(
    {
        "abs",
        "add",
        "attention",
        "avg_pool2d",
        "batch_norm",
        "cast",
        "concat",
        "conv1d",
        "conv2d",
        "div",
        "erf",
        "exp",
        "expand",
        "gather",
        "gelu",
        "gemm",
        "layer_norm",
        "linear",
        "log",
        "matmul",
        "max_pool2d",
        "maximum",
        "minimum",
        "mul",
        "neg",
        "pow",
        "relu",
        "reshape",
        "rsqrt",
        "sigmoid",
        "slice_",
        "softmax",
        "split",
        "sqrt",
        "sub",
        "tanh",
        "transpose",
        "where",
        "full",
        "zeros",
        "ones",
    }
)

__all__ = ["CASES", "PUBLIC_FUNCTIONS", "OpCase", "check_case", "reference", "run_case"]

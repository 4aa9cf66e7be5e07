"""IEEE edge cases for the WebNN lowering: NaN, +-inf, -0.0, float32/float16 overflow, size-0
and size-1 dims, int32 wrap-around, out-of-range indices and bitcast views, each against the
float64 NumPy reference rounded to the result's dtype (``op_cases.check_case``).

``browser/test_ieee_webnn.py`` runs them on the headless shell's WebNN (the only lane with
it); ``test_webnn_lowering.py`` lowers each against the recorded ``opSupportLimits()``. A case
tagged ``"signed-zero"`` is also checked for the sign of every zero, where IEEE (and NumPy)
define it. A case tagged ``"captured"`` runs as ``webaccel.capture`` would: the inputs after
the first are graph constants (weights), the form whose gemm and conv2d this browser computes
with no clamp; the same case untagged runs them as graph inputs.

Inputs are chosen so that each result has one float32 answer whatever the summation order: a
float32 sum whose partial sums overflow where float64's do not (3e38 + 3e38 - 3e38) depends
on the order on every backend; ``DIFFERENCES`` lists that and the other documented ways
WebNN's answer differs from the reference, with the reason.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from op_cases import (
    ELEMENTWISE,
    EXACT,
    NORM,
    TRANSCENDENTAL,
    OpCase,
    acc,
    r_conv,
    r_gelu,
    r_gelu_tanh,
    r_int_div,
    r_layer_norm,
    r_pool,
    r_sigmoid,
    r_softmax,
)

import webaccel as wa

NAN, INF = float("nan"), float("inf")
FMAX = float(np.finfo(np.float32).max)  # 3.4028235e38

# Each value's own edge: NaN, both infinities, both zeros, ones, a half, float32's largest
# finite values, values whose squares or exps overflow, small normal values.
SPECIALS = np.array(
    [NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 0.5, FMAX, -FMAX, 1e20, -1e20, 88.0, -88.0, 1e-20, 3.0],
    np.float32,
)
# For binary ops: every pair of these (14 x 14 elements).
PAIR_VALUES = np.array(
    [NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, FMAX, -FMAX, 1e20, 1e-20, -3.0], np.float32
)
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

CASES: list[OpCase] = []

# case id -> why WebNN's answer differs from the reference there (tests check WebNN's own
# answer, so that a browser that changes is noticed)
DIFFERENCES = {
    "cast-f32-int32-out-of-range": (
        "float32 -> int32 of NaN, +-inf or values beyond int32: WebNN saturates (NaN and +inf "
        "to 2147483647, -inf to -2147483648), NumPy gives whatever the CPU's conversion gives "
        "(-2147483648 on x86); IEEE calls it an invalid operation with no defined result"
    ),
    "pow-int32-overflow": (
        "an int32 pow whose exact result is beyond int32: this browser computes it in floating "
        "point and gives -2147483648; NumPy wraps modulo 2**32. Wrapping would take a square-"
        "and-multiply loop of ~190 WebNN ops per pow"
    ),
    "summation-order": (
        "a float32 sum (sum, mean, matmul, linear, conv) whose partial sums overflow where the "
        "float64 reference's do not (3e38 + 3e38 - 3e38) gives inf or NaN in an order that "
        "depends on the implementation, on every backend; not a case here"
    ),
    "subnormals": (
        "this browser's WebNN flushes subnormal float32 inputs and results to zero of either "
        "sign (browser/recorded_ops.py flushes both sides before comparing)"
    ),
}


def add(
    id: str,
    fn: Any,
    inputs: list[np.ndarray],
    ref: Any,
    tol: tuple[float, float],
    dtype: str | None = None,
    tags: tuple[str, ...] = (),
) -> None:
    assert all(c.id != id for c in CASES), id
    CASES.append(OpCase(id, fn, tuple(inputs), ref, tol[0], tol[1], (), dtype, tags))


def signed_zero_ok(case: OpCase, got: list[np.ndarray], want: list[np.ndarray]) -> list[str]:
    """Where the reference (rounded to the result's dtype) is a zero, its sign: the
    mismatches as text (empty when every zero has the reference's sign)."""
    bad = []
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        with np.errstate(all="ignore"):
            w = np.asarray(w).astype(g.dtype)
        zeros = (w == 0) & (g == 0)
        wrong = zeros & (np.signbit(g) != np.signbit(w))
        if wrong.any():
            bad.append(f"{case.id}[{k}]: zero of the wrong sign at {np.argwhere(wrong)[:4]}")
    return bad


def f32(values: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    a = np.asarray(values, np.float32)
    return a.reshape(shape) if shape is not None else a


# --- elementwise ----------------------------------------------------------------------------------

UNARY = {
    "exp": (wa.exp, np.exp, TRANSCENDENTAL),
    "log": (wa.log, np.log, TRANSCENDENTAL),
    "sqrt": (wa.sqrt, np.sqrt, ELEMENTWISE),
    "rsqrt": (wa.rsqrt, lambda x: 1 / np.sqrt(x), TRANSCENDENTAL),
    "neg": (wa.neg, np.negative, EXACT),
    "abs": (wa.abs, np.abs, EXACT),
    "relu": (wa.relu, lambda x: np.maximum(x, 0.0), EXACT),
    "sigmoid": (wa.sigmoid, r_sigmoid, TRANSCENDENTAL),
    "tanh": (wa.tanh, np.tanh, TRANSCENDENTAL),
    "erf": (wa.erf, np.vectorize(math.erf, otypes=[np.float64]), TRANSCENDENTAL),
    "gelu": (wa.gelu, r_gelu, TRANSCENDENTAL),
    "gelu_tanh": (lambda x: wa.gelu(x, "tanh"), r_gelu_tanh, TRANSCENDENTAL),
}
for name, (fn, ref, tol) in UNARY.items():
    add(f"{name}-specials", fn, [SPECIALS], ref, tol, tags=("signed-zero",))
# neg of a computed value (not of a graph input) and of an int
add(
    "neg-of-result-zero",
    lambda x: -(x * 1.0),
    [f32([0.0, -0.0, NAN])],
    lambda x: -x,
    EXACT,
    tags=("signed-zero",),
)
add(
    "neg-int32-min",
    lambda x: -x,
    [np.array([INT_MIN, 0, 7], np.int32)],
    lambda x: (-x + 2**31) % 2**32 - 2**31,
    EXACT,
)
add(
    "abs-int32-min",
    wa.abs,
    [np.array([INT_MIN, -7], np.int32)],
    lambda x: (np.abs(x) + 2**31) % 2**32 - 2**31,
    EXACT,
)

_A = np.repeat(PAIR_VALUES, PAIR_VALUES.size)
_B = np.tile(PAIR_VALUES, PAIR_VALUES.size)
BINARY = {
    "add": (wa.add, np.add, ELEMENTWISE),
    "sub": (wa.sub, np.subtract, ELEMENTWISE),
    "mul": (wa.mul, np.multiply, ELEMENTWISE),
    "div": (wa.div, np.divide, ELEMENTWISE),
    "maximum": (wa.maximum, np.maximum, EXACT),
    "minimum": (wa.minimum, np.minimum, EXACT),
    "pow": (wa.pow, np.power, TRANSCENDENTAL),
}
for name, (fn, ref, tol) in BINARY.items():
    add(f"{name}-pairs", fn, [_A, _B], ref, tol, tags=("signed-zero",))
add(
    "where-special-conditions",
    lambda c, a, b: wa.where(c, a, b),
    [f32([NAN, 0.0, -0.0, INF, 1e-20]), f32([1, 1, 1, 1, 1]), f32([2, 2, 2, 2, 2])],
    lambda c, a, b: np.where(c != 0, a, b),
    EXACT,
)

# --- float16 --------------------------------------------------------------------------------------

_F16_IN = f32([65504.0, 65519.0, 65520.0, 70000.0, -70000.0, 1e-3, NAN, INF, -INF, -0.0, 3e38])
add(
    "cast-f32-f16-overflow",
    lambda x: x.cast("float16"),
    [_F16_IN],
    lambda x: x,
    EXACT,
    dtype="float16",
    tags=("signed-zero",),
)
add(
    "f16-add-overflow",
    lambda x: x.cast("float16") + x.cast("float16"),
    [f32([60000.0, -60000.0, 1.0, -0.0, NAN, INF])],
    lambda x: x.astype(np.float16) + x.astype(np.float16),
    EXACT,
    dtype="float16",
    tags=("signed-zero",),
)
add(
    "f16-exp-overflow",
    lambda x: wa.exp(x.cast("float16")),
    [f32([12.0, -20.0, NAN, 0.0])],
    lambda x: np.exp(x.astype(np.float16).astype(np.float64)),
    (1e-3, 1e-3),
    dtype="float16",
)
add(
    "f16-matmul-overflow",
    lambda a, b: a.cast("float16") @ b.cast("float16"),
    [f32([300.0, 300.0, 1.0, 2.0], (2, 2)), f32([300.0, 1.0, 300.0, -1.0], (2, 2))],
    lambda a, b: a @ b,
    (1e-3, 1e-3),
    dtype="float16",
)

# --- casts ----------------------------------------------------------------------------------------

add(
    "cast-f32-int32-truncates",
    lambda x: x.cast("int32"),
    [f32([2.7, -2.7, -0.0, 0.5, -0.5, 2147483520.0, -2147483648.0, 16777217.0])],
    lambda x: np.trunc(x).astype(np.int64),
    EXACT,
    dtype="int32",
)
add(
    "cast-int32-f32-rounds",
    lambda x: x.cast("float32"),
    [np.array([INT_MAX, INT_MIN, 16777217, -16777217, 0], np.int32)],
    lambda x: x,
    EXACT,
    dtype="float32",
)
add(
    "cast-f16-f32-specials",
    lambda x: x.cast("float16").cast("float32"),
    [f32([INF, -INF, NAN, -0.0, 65504.0])],
    lambda x: x,
    EXACT,
    tags=("signed-zero",),
)

# --- int32 ----------------------------------------------------------------------------------------


def _wrap(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, np.int64) + 2**31) % 2**32 - 2**31


_I = np.array([INT_MAX, INT_MIN, INT_MIN, 7, -7, 0, 65536, 2**30], np.int32)
_J = np.array([1, -1, 1, 0, 2, 0, 65536, 4], np.int32)
add("int32-add-wraps", wa.add, [_I, _J], lambda a, b: _wrap(a + b), EXACT)
add("int32-sub-wraps", wa.sub, [_I, _J], lambda a, b: _wrap(a - b), EXACT)
add("int32-mul-wraps", wa.mul, [_I, _J], lambda a, b: _wrap(a * b), EXACT)
# -2**31 / -1 wraps to -2**31 (the browser's own int32 div traps there: the tab crashed)
add("int32-div-min-by-minus-one", wa.div, [_I, _J], lambda a, b: _wrap(r_int_div(a, b)), EXACT)
add(
    "int32-pow-in-range",
    wa.pow,
    [
        np.array([3, 7, 2, -3, 5, -7, 0, 1, -1, 2], np.int32),
        np.array([19, 11, 30, 19, 13, 11, 0, -5, -3, -1], np.int32),
    ],
    lambda a, b: np.where(
        b >= 0,
        a ** np.maximum(b, 0),
        np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 0, 1, -1), 0)),
    ),
    EXACT,
)
add(
    "int32-sum-wraps",
    lambda x: x.sum(1),
    [np.array([[INT_MAX, 1], [INT_MIN, -1]], np.int32)],
    lambda x: _wrap(x.sum(1)),
    EXACT,
)

# --- reductions -----------------------------------------------------------------------------------

_ROWS = f32(
    [[NAN, 1], [INF, 1], [INF, -INF], [-INF, -INF], [3e38, 3e38], [-3e38, -3e38], [1, 2], [-0.0, 5]]
)
_REDUCE = {
    "sum": (lambda x: x.sum(1), lambda x: x.sum(1), acc(2)),
    "mean": (lambda x: x.mean(1), lambda x: x.mean(1), acc(2)),
    "max": (lambda x: x.max(1), lambda x: x.max(1), EXACT),
    "min": (lambda x: x.min(1), lambda x: x.min(1), EXACT),
}
for name, (fn, ref, tol) in _REDUCE.items():
    add(f"{name}-special-rows", fn, [_ROWS], ref, tol)
add(
    "mean-near-max-over-three",
    lambda x: x.mean(-1),
    [f32([3e38, 3e38, 3e38, -3e38, 1, 2], (2, 3))],
    lambda x: x.mean(-1),
    acc(3),
)
add("sum-over-empty-axis", lambda x: x.sum(1), [f32([], (3, 0))], lambda x: x.sum(1), EXACT)
add(
    "mean-over-empty-axis",
    lambda x: x.mean(1),
    [f32([], (3, 0))],
    lambda x: np.full(3, np.nan),
    EXACT,
)

# --- matmul, linear, conv: NaN, inf and overflow come out, not 3.4e38 -------------------------

_X = f32([[NAN, 1], [INF, 1], [3e38, 3e38], [INF, -INF], [1, 2], [-0.0, 0.0]])
_W_OUT_IN = f32([[1, 1], [0.5, -0.5], [0, 1]])  # (out, in): the last row meets inf with 0
_BIAS = f32([0.0, -INF, NAN])
add(
    "matmul-specials",
    lambda a, b: a @ b,
    [_X, np.ascontiguousarray(_W_OUT_IN.T)],
    lambda a, b: a @ b,
    acc(2),
)
for tags in ((), ("captured",)):
    suffix = "-captured" if tags else ""
    add(
        f"linear-specials{suffix}",
        lambda x, w: wa.linear(x, w),
        [_X, _W_OUT_IN],
        lambda x, w: x @ w.T,
        acc(2),
        tags=tags,
    )
    add(
        f"linear-bias-specials{suffix}",
        lambda x, w, b: wa.linear(x, w, b),
        [_X, _W_OUT_IN, _BIAS],
        lambda x, w, b: x @ w.T + b,
        acc(2),
        tags=tags,
    )
    # the linear pass makes x @ W + b (W stored (in, out)) one linear step
    add(
        f"matmul-add-pass-specials{suffix}",
        lambda x, w, b: x @ w + b,
        [_X, np.ascontiguousarray(_W_OUT_IN.T), _BIAS],
        lambda x, w, b: x @ w + b,
        acc(2),
        tags=tags,
    )
    add(
        f"linear-relu-specials{suffix}",
        lambda x, w, b: wa.relu(wa.linear(x, w, b)),
        [_X, _W_OUT_IN, f32([0.0, -0.0, 1.0])],  # no small bias beside 1.5e38 - 1.5e38
        lambda x, w, b: np.maximum(x @ w.T + b, 0.0),
        acc(2),
        tags=(*tags, "signed-zero"),
    )

# conv2d: each window meets at most one special value (no order-dependent overflow)
_IMG = f32([NAN, 1, 2, 3, INF, 3e38, -0.0, 5, 6, -INF, 1e30, 2, 3, 4, 5, -3e38], (1, 1, 4, 4))
_IMG2 = np.concatenate([_IMG, _IMG * -1], axis=1)  # two channels
for tags in ((), ("captured",)):
    suffix = "-captured" if tags else ""
    add(
        f"conv2d-1x1-specials{suffix}",
        lambda x, w, b: wa.conv2d(x, w, b),
        [_IMG, f32([2.0, -1.0], (2, 1, 1, 1)), f32([0.0, -INF])],
        lambda x, w, b: r_conv(x, w, b),
        acc(1),
        tags=tags,
    )
    add(
        f"conv2d-3x3-pad-specials{suffix}",
        lambda x, w: wa.conv2d(x, w, padding=1),
        [
            f32([0, 0, 0, 0, 0, 3e38, 0, 0, 0, 0, NAN, 0, 0, 0, 0, 0], (1, 1, 4, 4)),
            f32([1.0] * 9, (1, 1, 3, 3)),
        ],
        lambda x, w: r_conv(x, w, pads=(1, 1, 1, 1)),
        acc(9),
        tags=tags,
    )
    add(
        f"conv2d-groups-stride-dilation-specials{suffix}",
        lambda x, w: wa.conv2d(x, w, stride=2, dilation=(1, 2), padding=(0, 0, 1, 1), groups=2),
        [_IMG2, f32([1.0, 2.0, -1.0, 0.5], (2, 1, 1, 2))],
        lambda x, w: r_conv(x, w, stride=(2, 2), pads=(0, 0, 1, 1), dilation=(1, 2), groups=2),
        acc(2),
        tags=tags,
    )
    add(
        f"conv2d-nhwc-specials{suffix}",
        lambda x, w: wa.conv2d(x, w, layout="nhwc"),
        [np.ascontiguousarray(np.moveaxis(_IMG2, 1, -1)), f32([1.0, 1.0, 2.0, -2.0], (2, 2, 1, 1))],
        lambda x, w: r_conv(x, w, nhwc=True),
        acc(2),
        tags=tags,
    )
    add(
        f"conv1d-specials{suffix}",
        lambda x, w: wa.conv1d(x, w),
        [f32([NAN, 1, 3e38, 3e38, 1, INF], (1, 1, 6)), f32([1.0, 1.0], (1, 1, 2))],
        lambda x, w: r_conv(x, w, stride=(1,), pads=(0, 0), dilation=(1,)),
        acc(2),
        tags=tags,
    )

_POOL_IN = f32([NAN, 1, 3e38, 3e38, 3e38, 3e38, INF, 1, 2, 3, -INF, 4, 5, 6, 7, 8], (1, 1, 4, 4))
add(
    "max-pool-specials",
    lambda x: wa.max_pool2d(x, 2),
    [_POOL_IN],
    lambda x: r_pool(x, "max", (2, 2), (2, 2)),
    EXACT,
)
add(
    "avg-pool-specials",
    lambda x: wa.avg_pool2d(x, 2),
    [_POOL_IN],
    lambda x: r_pool(x, "avg", (2, 2), (2, 2)),
    acc(4),
)
add(
    "avg-pool-padded-near-max",
    lambda x: wa.avg_pool2d(x, 3, 1, 1),
    [f32([3e38] * 9, (1, 1, 3, 3))],
    lambda x: r_pool(x, "avg", (3, 3), (1, 1), (1, 1, 1, 1)),
    acc(9),
)

# --- normalization ----------------------------------------------------------------------------

_SOFT = f32([[INF, 1], [-INF, -INF], [NAN, 1], [3e38, -3e38], [-INF, 1], [1e30, 1e30], [-0.0, 0.0]])
add("softmax-special-rows", lambda x: x.softmax(-1), [_SOFT], r_softmax, NORM)
add(
    "softmax-size-1-axis",
    lambda x: x.softmax(-1),
    [f32([INF, -INF, NAN, 3e38, -0.0], (5, 1))],
    r_softmax,
    NORM,
)
add("softmax-empty-axis", lambda x: x.softmax(-1), [f32([], (3, 0))], lambda x: x, EXACT)
_LN = f32(
    [
        [1e36, 2e36, 3e36, -1e36],
        [3e38, 3e38, -3e38, 1.0],
        [1e19, 2e19, 3e19, 4e19],
        [INF, 1, 2, 3],
        [NAN, 1, 2, 3],
        [1e36, 1e36, 1e36, 1e36],
        [1e-20, 2e-20, 3e-20, 4e-20],
        [1e4 + 1, 1e4 + 2, 1e4 + 3, 1e4 + 4],
    ]
)
add(
    "layer-norm-special-rows",
    lambda x: wa.layer_norm(x, 4),
    [_LN],
    lambda x: r_layer_norm(x, 1),
    NORM,
)
add(
    "layer-norm-weight-bias-big",
    lambda x, w, b: wa.layer_norm(x, 4, w, b),
    [_LN, f32([1, -2, 0.5, 0]), f32([0, 1, -1, INF])],
    lambda x, w, b: r_layer_norm(x, 1, w, b),
    NORM,
)
add(
    "layer-norm-two-axes-rank3",
    lambda x: wa.layer_norm(x, (2, 2)),
    [_LN.reshape(2, 4, 2, 2)[0]],
    lambda x: r_layer_norm(x, 2),
    NORM,
)
add(
    "layer-norm-size-1-axis",
    lambda x: wa.layer_norm(x, 1),
    [f32([INF, NAN, 3e38, 2.0], (4, 1))],
    lambda x: r_layer_norm(x, 1),
    NORM,
)
add(
    "batch-norm-specials",
    lambda x, m, v: wa.batch_norm(x, m, v),
    [f32([NAN, INF, 1, 2, 3e38, -3e38, 1, 2], (1, 2, 2, 2)), f32([0.0, 1.0]), f32([1e-30, 4.0])],
    lambda x, m, v: (x - m.reshape(1, 2, 1, 1)) / np.sqrt(v.reshape(1, 2, 1, 1) + 1e-5),
    NORM,
)

# --- size-0 and size-1 dims -------------------------------------------------------------------

add(
    "linear-empty-inner-dim",
    lambda x, w, b: wa.linear(x, w, b),
    [f32([], (2, 0)), f32([], (3, 0)), f32([1.0, -0.0, INF])],
    lambda x, w, b: x @ w.T + b,
    EXACT,
    tags=("signed-zero",),
)
add(
    "linear-empty-inner-dim-no-bias",
    lambda x, w: wa.linear(x, w),
    [f32([], (2, 0)), f32([], (3, 0))],
    lambda x, w: x @ w.T,
    EXACT,
)
add(
    "matmul-empty-inner-dim",
    lambda a, b: a @ b,
    [f32([], (2, 0)), f32([], (0, 3))],
    lambda a, b: a @ b,
    EXACT,
)
add(
    "conv2d-no-input-channels",
    lambda x, w, b: wa.conv2d(x, w, b),
    [f32([], (1, 0, 2, 2)), f32([], (3, 0, 1, 1)), f32([1.0, -0.0, NAN])],
    lambda x, w, b: np.zeros((1, 3, 2, 2)) + b.reshape(1, 3, 1, 1),
    EXACT,
)
add(
    "linear-size-1",
    lambda x, w, b: wa.linear(x, w, b),
    [f32([[INF]]), f32([[-1.0]]), f32([1.0])],
    lambda x, w, b: x @ w.T + b,
    EXACT,
)
add("matmul-size-1", lambda a, b: a @ b, [f32([[-0.0]]), f32([[1.0]])], lambda a, b: a @ b, EXACT)

# --- index and movement -----------------------------------------------------------------------


def r_gather_clamped(x: np.ndarray, idx: np.ndarray, axis: int = 0) -> np.ndarray:
    """WebNN's documented gather: indices in [-n, n) as NumPy's, others clamped to the ends."""
    n = x.shape[axis]
    return np.take(x, np.clip(np.where(idx < 0, idx + n, idx), 0, n - 1), axis=axis)


add(
    "gather-out-of-range-clamps",
    lambda x, i: wa.gather(x, i),
    [f32([10, 20, 30]), np.array([0, 5, -1, -7, -3, 2, INT_MAX, INT_MIN], np.int32)],
    r_gather_clamped,
    EXACT,
)
add(
    "gather-out-of-range-axis1",
    lambda x, i: wa.gather(x, i, axis=1),
    [f32(np.arange(6), (2, 3)), np.array([[3, -4], [1, 9]], np.int32)],
    lambda x, i: r_gather_clamped(x, i, 1),
    EXACT,
)
add(
    "expand-to-higher-rank",
    lambda x: x.expand(2, 3) + 0,
    [f32([1, 2, 3])],
    lambda x: np.broadcast_to(x, (2, 3)) + 0,
    EXACT,
)
add(
    "expand-size-1-to-rank-3",
    lambda x: x.expand(2, 2, 3) * 1,
    [f32([[5.0]])],
    lambda x: np.broadcast_to(x, (2, 2, 3)) * 1,
    EXACT,
)
add(
    "expand-result-to-higher-rank",
    lambda x: (x * 2).reshape(3, 1).expand(2, 3, 4) + 0,
    [f32([1, 2, 3])],
    lambda x: np.broadcast_to((x * 2).reshape(3, 1), (2, 3, 4)) + 0,
    EXACT,
)
add(
    "expand-int32-to-higher-rank",
    lambda x: x.expand(2, 3).sum(0),
    [np.array([1, -2, INT_MAX], np.int32)],
    lambda x: _wrap(np.broadcast_to(x, (2, 3)).sum(0)),
    EXACT,
)
add(
    "bitcast-f32-int32",
    lambda x: x.bitcast("int32") + 0,
    [f32([1.0, -0.0, INF, -2.5])],
    lambda x: x.astype(np.float32).view(np.int32).astype(np.int64),
    EXACT,
    dtype="int32",
)
add(
    "bitcast-of-a-result",
    lambda x: (x * 2).bitcast("int32") + 1,
    [f32([1.0, -0.0, 3.0])],
    lambda x: (x * 2).astype(np.float32).view(np.int32).astype(np.int64) + 1,
    EXACT,
    dtype="int32",
)
add(
    "bitcast-int32-f32-and-back",
    lambda x: ((x + 1).bitcast("float32") * 1).bitcast("int32") + 0,
    [np.array([1065353215, -1082130433, 1073741823], np.int32)],
    lambda x: (x + 1).astype(np.int32).view(np.float32).view(np.int32).astype(np.int64),
    EXACT,
)

"""IEEE edge cases of every op on WebGPU, as data: run by ``test_ieee_webgpu.py`` (chromium,
SwiftShader) and ``tests/node/test_ieee_node.py`` (Dawn on lavapipe).

Each case is an ``op_cases.OpCase`` (built here, not added to ``op_cases.CASES``) over inputs
full of NaN, +-inf, -0.0, values near the float32 and float16 limits and float16 subnormals,
with a float64 NumPy reference. ``check`` is stricter than ``op_cases.check_case``: after the
reference is rounded once to the result's dtype (so a float16 ``60000 * 2`` must be ``inf``),

* NaN exactly where the reference has NaN, +-inf exactly where it has +-inf (same sign), and
  every other value within the case's stated ``rtol``/``atol`` (``op_cases``' tolerances);
* for cases tagged ``signed-zero`` (every elementwise, movement and cast case), a zero result
  has the sign the reference's zero has: IEEE defines it there (``-(+0.0)``, ``0.0 * -1``,
  ``-0.0 + -0.0``, ``sqrt(-0.0)``, ``(-0.0) ** 3``) and NumPy gives it. Reductions and matmul
  are not tagged: NumPy's own sums start from +0.0 (``np.sum([-0.0, -0.0])`` is +0.0), so the
  sign of a zero sum is the accumulator's, not IEEE's.

As in the other WebGPU lanes, subnormal float32 inputs are flushed to signed zeros (SwiftShader
and WGSL may flush them); float16 subnormals are kept: WebGPU reads them as normal float32.

``ERRORS`` lists the cases that must fail with a clear error (an out-of-range ``gather`` index:
the device reports it when results are read; see ``kernels/gather.py``); ``DIFFERENCES`` the
cases whose reference is WebGPU's documented behaviour rather than NumPy's, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from recorded_ops import flush, flush_subnormals, op_cases

import webaccel as wa

OpCase = op_cases.OpCase
EXACT, ELEMENTWISE, TRANSCENDENTAL = op_cases.EXACT, op_cases.ELEMENTWISE, op_cases.TRANSCENDENTAL
NORM, F16 = op_cases.NORM, op_cases.F16
SIGNED = "signed-zero"
inf, nan = math.inf, math.nan

_erf = np.vectorize(math.erf, otypes=[np.float64])

# float32 edge values: zeros of both signs, specials, the overflow and underflow edges of exp,
# the float32 and float16 limits (1e-30 is a normal float32; 1e-40 is subnormal: flushed).
V32 = np.array(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -2.5,
        3.0,
        inf,
        -inf,
        nan,
        1e30,
        -1e30,
        3.4e38,
        -3.4e38,
        1e-30,
        -1e-30,
        88.7,
        89.0,
        -104.0,
        65504.0,
        65520.0,
        7e4,
        1e-40,
    ],
    np.float32,
)
# float16 edge values: its max, its smallest normal and subnormal, exp's f16 overflow edge.
V16 = np.array(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -2.5,
        inf,
        -inf,
        nan,
        65504.0,
        -65504.0,
        6.104e-5,
        6e-8,
        -6e-8,
        3e-5,
        11.0,
        12.0,
        300.0,
        -300.0,
        1000.0,
        2049.0,
    ],
    np.float16,
)
# operands of the binary grids (a[:, None] op b[None, :], so broadcasting too)
B32 = np.array(
    [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, inf, -inf, nan, 3e38, -3e38, 1e-30, 1e30, 0.5], np.float32
)
B16 = np.array(
    [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, inf, -inf, nan, 65504.0, -65504.0, 300.0, 6e-5, 3e-7],
    np.float16,
)

CASES: list[OpCase] = []
ERRORS: dict[str, str] = {}  # case id -> regex the error must match
DIFFERENCES: dict[str, str] = {}  # case id -> why WebGPU differs from NumPy there


def add(
    id: str,
    fn: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    ref: Callable[..., Any],
    tol: tuple[float, float],
    dtype: str | None = None,
    signed: bool = False,
    api: Sequence[str] = (),
) -> None:
    if any(c.id == id for c in CASES):
        raise ValueError(f"duplicate case id {id}")
    tags = ("special", SIGNED) if signed else ("special",)
    CASES.append(OpCase(id, fn, tuple(inputs), ref, tol[0], tol[1], tuple(api), dtype, tags))


def f16(case_tol: tuple[float, float]) -> tuple[float, float]:
    """float16 results: one f16 ulp (F16), or the case's own where that is looser."""
    return max(case_tol[0], F16[0]), max(case_tol[1], F16[1])


# --- unary ops ----------------------------------------------------------------------------------

UNARY = {
    "exp": (wa.exp, np.exp, TRANSCENDENTAL),
    "log": (wa.log, np.log, TRANSCENDENTAL),
    "sqrt": (wa.sqrt, np.sqrt, ELEMENTWISE),
    "rsqrt": (wa.rsqrt, lambda x: 1.0 / np.sqrt(x), TRANSCENDENTAL),
    "neg": (wa.neg, np.negative, EXACT),
    "abs": (wa.abs, np.abs, EXACT),
    "relu": (wa.relu, lambda x: np.maximum(x, 0.0), EXACT),
    "sigmoid": (wa.sigmoid, op_cases.r_sigmoid, TRANSCENDENTAL),
    "tanh": (wa.tanh, np.tanh, TRANSCENDENTAL),
    "erf": (wa.erf, _erf, TRANSCENDENTAL),
    "gelu": (wa.gelu, op_cases.r_gelu, TRANSCENDENTAL),
    "gelu_tanh": (lambda x: wa.gelu(x, "tanh"), op_cases.r_gelu_tanh, TRANSCENDENTAL),
}
for _name, (_fn, _ref, _tol) in UNARY.items():
    add(f"{_name}-f32", _fn, [V32], _ref, _tol, signed=True)
    add(f"{_name}-f16", _fn, [V16], _ref, f16(_tol), "float16", signed=True)
    # a reversed float16 view: every read takes the other half of a packed word, whose
    # neighbour is inf or NaN
    add(
        f"{_name}-f16-reversed",
        lambda x, f=_fn: f(x[::-1]),
        [V16],
        lambda x, r=_ref: r(x[::-1]),
        f16(_tol),
        "float16",
        signed=True,
    )

# --- binary ops, every pair of edge values ------------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, np.add, ELEMENTWISE),
    "sub": (lambda a, b: a - b, np.subtract, ELEMENTWISE),
    "mul": (lambda a, b: a * b, np.multiply, ELEMENTWISE),
    "div": (lambda a, b: a / b, np.divide, ELEMENTWISE),
    "pow": (lambda a, b: a**b, np.power, TRANSCENDENTAL),
    "maximum": (wa.maximum, np.maximum, EXACT),  # ties (+-0) give b, as NumPy's
    "minimum": (wa.minimum, np.minimum, EXACT),
}
for _name, (_fn, _ref, _tol) in BINARY.items():
    add(
        f"{_name}-grid-f32",
        lambda a, b, f=_fn: f(a[:, None], b),
        [B32, B32],
        lambda a, b, r=_ref: r(a[:, None], b),
        _tol,
        signed=True,
    )
    add(
        f"{_name}-grid-f16",
        lambda a, b, f=_fn: f(a[:, None], b),
        [B16, B16],
        lambda a, b, r=_ref: r(a[:, None], b),
        f16(_tol),
        "float16",
        signed=True,
    )

# Python scalars (weak: the tensor's dtype) on either side
SCALAR = {
    "plus-zero": (lambda x: x + 0.0, lambda x: x + 0.0, ELEMENTWISE),
    "minus-zero": (lambda x: x - 0.0, lambda x: x - 0.0, ELEMENTWISE),
    "zero-minus": (lambda x: 0.0 - x, lambda x: 0.0 - x, ELEMENTWISE),
    "times-minus-one": (lambda x: x * -1.0, lambda x: x * -1.0, ELEMENTWISE),
    "times-zero": (lambda x: x * 0.0, lambda x: x * 0.0, ELEMENTWISE),
    "over-minus-two": (lambda x: x / -2.0, lambda x: x / -2.0, ELEMENTWISE),
    "one-over": (lambda x: 1.0 / x, lambda x: 1.0 / x, ELEMENTWISE),
    "times-ten": (lambda x: x * 10.0, lambda x: x * 10.0, ELEMENTWISE),
    "square": (lambda x: x**2, lambda x: np.power(x, 2.0), ELEMENTWISE),
    "cube": (lambda x: x**3, lambda x: np.power(x, 3.0), ELEMENTWISE),
    "pow-half": (lambda x: x**0.5, lambda x: np.power(x, 0.5), TRANSCENDENTAL),
    "pow-minus-half": (lambda x: x**-0.5, lambda x: np.power(x, -0.5), TRANSCENDENTAL),
    "pow-minus-three": (lambda x: x**-3, lambda x: np.power(x, -3.0), TRANSCENDENTAL),
    "two-pow": (lambda x: 2.0**x, lambda x: np.power(2.0, x), TRANSCENDENTAL),
    "minus-two-pow": (lambda x: (-2.0) ** x, lambda x: np.power(-2.0, x), TRANSCENDENTAL),
    "zero-pow": (lambda x: 0.0**x, lambda x: np.power(0.0, x), TRANSCENDENTAL),
    "one-pow": (lambda x: 1.0**x, lambda x: np.power(1.0, x), TRANSCENDENTAL),
}
for _name, (_fn, _ref, _tol) in SCALAR.items():
    add(f"scalar-{_name}-f32", _fn, [V32], _ref, _tol, signed=True)
    add(f"scalar-{_name}-f16", _fn, [V16], _ref, f16(_tol), "float16", signed=True)

# --- casts, where, full, concat, gather: values move bit for bit -------------------------------

# float32 -> float16 rounds to nearest even, overflows to +-inf above the f16 max (65520 is the
# first value that rounds up to inf), keeps -0.0 and NaN, rounds into f16 subnormals
_TO_F16 = np.array(
    [
        65504.0,
        65519.0,
        65520.0,
        -65520.0,
        7e4,
        -7e4,
        3e38,
        2049.0,
        2051.0,
        2.9e-8,
        3.1e-8,
        8.9e-8,
        -8.9e-8,
        6.1e-5,
        1e-8,
        0.0,
        -0.0,
        inf,
        -inf,
        nan,
        1.0009765625,
        1.00048828125,
    ],
    np.float32,
)
add("cast-f32-to-f16", lambda x: x.cast("float16"), [_TO_F16], lambda x: x, EXACT, "float16", True)
add("cast-f16-to-f32", lambda x: x.cast("float32"), [V16], lambda x: x, EXACT, "float32", True)
# a cast to float16 inside a fused float32 chain rounds there (65520 -> inf, 2049 -> 2048)
add(
    "cast-f16-inside-a-chain",
    lambda x: x.cast("float16").cast("float32") * 2.0,
    [_TO_F16],
    lambda x: x.astype(np.float16).astype(np.float64) * 2.0,
    EXACT,
    "float32",
    True,
)
add(
    "cast-f32-to-int32-finite",
    lambda x: x.cast("int32"),
    [np.array([0.0, -0.0, 2.9, -2.9, 1e9, -1e9, 0.5, -0.5], np.float32)],
    np.trunc,
    EXACT,
    "int32",
)
add("contiguous-f16-reversed", lambda x: x[::-1] + 0, [V16], lambda x: x[::-1], EXACT, "float16")
add(
    "f16-odd-offset-view",
    lambda x: -x[1:-2],
    [V16],
    lambda x: -x[1:-2],
    EXACT,
    "float16",
    True,
)
_COND = np.array([0.0, -0.0, nan, 1.0, inf, 0.0, 1.0, 0.0, 1.0, -1.0], np.float32)
for _dt, _np in (("f32", np.float32), ("f16", np.float16)):
    _a = np.array([-0.0, 1.0, inf, -inf, nan, 2.0, -0.0, 0.0, 65504.0, -0.0], _np)
    _b = np.array([7.0, -0.0, 3.0, 4.0, 5.0, nan, -inf, -0.0, 1.0, inf], _np)
    add(
        f"where-{_dt}",
        wa.where,
        [_COND, _a, _b],
        lambda c, a, b: np.where(c != 0, a, b),
        EXACT,
        None if _dt == "f32" else "float16",
        True,
    )
for _value in (inf, -inf, nan, -0.0, 7e4, 65519.0):
    add(
        f"full-f16-{_value}",
        lambda v=_value: wa.full((3,), v, "float16"),
        [],
        lambda v=_value: np.full((3,), v),
        EXACT,
        "float16",
        True,
    )
    add(
        f"full-f32-{_value}",
        lambda v=_value: wa.full((2, 3), v),
        [],
        lambda v=_value: np.full((2, 3), v),
        EXACT,
        "float32",
        True,
    )
# float16 concat: odd lengths put the pieces at odd offsets, so words are written in halves
# next to infinities and NaNs
_H1 = np.array([1.0, 2.0, inf], np.float16)
_H2 = np.array([-inf, nan, -0.0, 65504.0], np.float16)
_H3 = np.array([-0.0], np.float16)
add(
    "concat-f16-odd",
    lambda a, b, c: wa.concat([a, b, c, b[::-1], a]),
    [_H1, _H2, _H3],
    lambda a, b, c: np.concatenate([a, b, c, b[::-1], a]),
    EXACT,
    "float16",
    True,
)
add(
    "concat-f32-special",
    lambda a, b: wa.concat([a, b[::-2]], 0),
    [V32, B32],
    lambda a, b: np.concatenate([a, b[::-2]]),
    EXACT,
    None,
    True,
)
_GI = np.array([0, -1, 7, -23, 9, 8, 13, 1], np.int32)
add(
    "gather-f32-special",
    lambda x, i: wa.gather(x, i),
    [V32, _GI],
    lambda x, i: np.take(x, i),
    EXACT,
    None,
    True,
)
add(
    "gather-f16-special",
    lambda x, i: wa.gather(x, i),
    [V16, np.array([6, 7, 8, 1, -1, 0, 9, 13], np.int32)],
    lambda x, i: np.take(x, i),
    EXACT,
    "float16",
    True,
)
# out-of-range indices: an error naming the op, the index and the axis size, at the read
_GD = np.arange(12, dtype=np.float32).reshape(3, 4)
for _id, _idx, _axis in [
    ("past-end", np.array([0, 3], np.int32), 0),
    ("before-start", np.array([1, -5], np.int32), 1),
    ("huge", np.array([2**31 - 1], np.int32), 1),
]:
    add(
        f"gather-out-of-range-{_id}",
        lambda x, i, a=_axis: wa.gather(x, i, a),
        [_GD, _idx],
        lambda x, i: x,
        EXACT,
    )
    ERRORS[f"gather-out-of-range-{_id}"] = rf"gather: index {_idx[-1]} is out of range"
# the next program after a reported error runs normally
add(
    "gather-after-error",
    lambda x, i: wa.gather(x, i, 1),
    [_GD, np.array([-4, 3], np.int32)],
    lambda x, i: np.take(x, i, axis=1),
    EXACT,
)

# --- reductions ---------------------------------------------------------------------------------


def _rows(length: int, dtype: Any, big: float) -> np.ndarray:
    """Rows of *length* holding one kind of edge each (the rest ones)."""
    rows = np.ones((8, length), np.float64)
    rows[1, 1] = nan
    rows[2, 2] = inf
    rows[3, 0] = -inf
    rows[4, [0, -1]] = (inf, -inf)
    rows[5, :2] = big  # a sum past the dtype's max: inf; the mean stays finite
    rows[6, :] = -big / 2
    rows[7, :] = np.linspace(-3, 3, length)
    return rows.astype(dtype)


for _length in (5, 300):  # one thread per output / one workgroup per output
    for _name in ("sum", "mean", "max", "min"):
        _ref = getattr(np, _name)
        add(
            f"{_name}-rows-{_length}-f32",
            lambda x, n=_name: getattr(x, n)(1),
            [_rows(_length, np.float32, 3e38)],
            lambda x, r=_ref: r(x, axis=1),
            op_cases.acc(_length),
        )
        add(
            f"{_name}-rows-{_length}-f16",
            lambda x, n=_name: getattr(x, n)(1),
            [_rows(_length, np.float16, 60000.0)],
            lambda x, r=_ref: r(x, axis=1),
            op_cases.f16_acc(_length),
            "float16",
        )
        add(
            f"{_name}-columns-{_length}-f32",
            lambda x, n=_name: getattr(x, n)(0),
            [_rows(_length, np.float32, 3e38).T.copy()],
            lambda x, r=_ref: r(x, axis=0),
            op_cases.acc(_length),
        )

# --- matmul, linear -----------------------------------------------------------------------------


def _with_specials(a: np.ndarray, spots: dict[tuple[int, ...], float]) -> np.ndarray:
    a = a.copy()
    for where, value in spots.items():
        a[where] = value
    return a


_rng = np.random.default_rng(15)
for _m, _k, _n in [(3, 5, 4), (1, 33, 7), (17, 33, 65), (5, 1, 3)]:
    _a = _with_specials(
        _rng.standard_normal((_m, _k)).astype(np.float32), {(0, 0): nan, (_m - 1, _k - 1): inf}
    )
    _b = _with_specials(
        _rng.standard_normal((_k, _n)).astype(np.float32), {(_k // 2, _n - 1): -inf}
    )
    add(f"matmul-special-{_m}x{_k}x{_n}", lambda a, b: a @ b, [_a, _b], np.matmul, op_cases.acc(_k))
    _bias = _rng.standard_normal(_m).astype(np.float32)
    _bias[0] = inf
    _bias[-1] = nan if _m > 1 else _bias[-1]
    add(  # x (n, k) @ w (m, k)^T + bias (m)
        f"linear-special-{_m}x{_k}x{_n}",
        wa.linear,
        [_b.T.copy(), _a, _bias],
        lambda x, w, b: x @ w.T + b,
        op_cases.acc(_k),
    )
add(
    "matmul-overflow-f32",
    lambda a, b: a @ b,
    [np.array([[3e38, 3e38], [1e20, 0.0]], np.float32), np.array([[1.0], [1.0]], np.float32)],
    np.matmul,
    EXACT,
)
add(
    "matmul-overflow-f16",
    lambda a, b: a @ b,
    [np.array([[300.0, 300.0], [1.0, 2.0]], np.float16), np.array([[300.0], [-2.0]], np.float16)],
    np.matmul,
    F16,
    "float16",
)
add(
    "relu-linear-nan",
    lambda x, w, b: wa.relu(wa.linear(x, w, b)),
    [
        np.array([[nan, 1.0], [-1.0, 2.0]], np.float32),
        np.eye(2, dtype=np.float32),
        np.zeros(2, np.float32),
    ],
    lambda x, w, b: np.maximum(x @ w.T + b, 0.0),
    op_cases.acc(2),
)

# int8 weight codes: NaN / inf in the activations and NaN in the scales propagate (an infinite
# scale: a documented difference, below)
_Q8 = np.asarray(_rng.integers(-127, 128, (5, 8)), np.int8)
_QS = np.array([0.01, 0.05, 0.02, nan, 0.03], np.float32)
_QX = _with_specials(_rng.standard_normal((3, 8)).astype(np.float32), {(0, 1): nan, (2, 7): -inf})
add(
    "linear_q-int8-special",
    lambda x, q, s: wa.linear(x, op_cases._qweight(q, s, None)),
    [_QX, _Q8, _QS],
    lambda x, q, s: x @ (q * s[:, None]).T,
    op_cases.acc(8),
)
add(
    "dequantize-int8-special",
    lambda q, s: op_cases._qweight(q, s, None).dequantize(),
    [_Q8, np.array([0.01, inf, 0.02, nan, -inf], np.float32)],
    lambda q, s: q * s[:, None],
    ELEMENTWISE,
)

# --- softmax, layer_norm, batch_norm ------------------------------------------------------------

_SOFT = np.array(
    [
        [1.0, inf, 2.0, 3.0],
        [nan, 1.0, 2.0, 3.0],
        [-inf, -inf, -inf, -inf],
        [-inf, 0.0, -inf, 1.0],
        [3e38, -3e38, 0.0, 1.0],
        [1e30, 1e30, -1e30, 0.0],
        [88.0, 89.0, 100.0, -100.0],
        [-0.0, 0.0, -0.0, 0.0],
    ],
    np.float32,
)
add("softmax-rows-special", lambda x: wa.softmax(x, -1), [_SOFT], op_cases.r_softmax, NORM)
add(
    "softmax-columns-special",
    lambda x: wa.softmax(x, 0),
    [_SOFT.T.copy()],
    lambda x: op_cases.r_softmax(x, 0),
    NORM,
)
_LONG = np.tile(np.linspace(-2, 2, 100, dtype=np.float32), (3, 1))
_LONG[0, 37], _LONG[1, 99] = inf, nan
add("softmax-long-rows-special", wa.softmax, [_LONG], op_cases.r_softmax, NORM)
add(
    "softmax-f16-special",
    wa.softmax,
    [_SOFT[:4].astype(np.float16)],
    op_cases.r_softmax,
    F16,
    "float16",
)

_LN = np.array(
    [
        [inf, 1.0, 2.0, 3.0],
        [nan, 1.0, 2.0, 3.0],
        [1e20, -1e20, 1e20, -1e20],  # a variance of 1e40: past float32, the result is +-1
        [3e38, -3e38, 3e38, -3e38],  # x - mean itself past float32
        [3e38, 3e38, 3e38, 3e38],  # constant: zeros
        [1e36, 1e36, 1e36, -1e36],
        [1.0, 2.0, 3.0, 4.0],
        [-0.0, 0.0, -0.0, 0.0],
    ],
    np.float32,
)
add(
    "layer_norm-special",
    lambda x: wa.layer_norm(x, 4),
    [_LN],
    lambda x: op_cases.r_layer_norm(x, 1),
    NORM,
)
add(
    "layer_norm-special-affine",
    lambda x, w, b: wa.layer_norm(x, 4, w, b),
    [_LN, np.array([1.0, inf, 0.5, 2.0], np.float32), np.array([0.0, 1.0, nan, -1.0], np.float32)],
    lambda x, w, b: op_cases.r_layer_norm(x, 1, w, b),
    NORM,
)
_LNL = np.tile(np.linspace(-1e20, 1e20, 100, dtype=np.float32), (3, 1))
_LNL[1, 50] = inf
_LNL[2] = np.linspace(3e38, -3e38, 100, dtype=np.float32)
add(
    "layer_norm-long-special",
    lambda x: wa.layer_norm(x, 100),
    [_LNL],
    lambda x: op_cases.r_layer_norm(x, 1),
    NORM,
)
add(
    "layer_norm-f16-special",
    lambda x: wa.layer_norm(x, 4),
    [np.array([[inf, 1, 2, 3], [60000, -60000, 60000, -60000], [1, 2, 3, 4]], np.float16)],
    lambda x: op_cases.r_layer_norm(x, 1),
    F16,
    "float16",
)
add(
    "batch_norm-special",
    lambda x, m, v: wa.batch_norm(x, m, v),
    [
        np.array([[inf, 1.0, nan, -0.0], [-inf, 1e30, 2.0, 3.0]], np.float32),
        np.array([0.0, inf, 1.0, 0.0], np.float32),
        np.array([1.0, 1.0, 0.0, inf], np.float32),
    ],
    op_cases.r_batch_norm,
    NORM,
)

# --- conv, pools --------------------------------------------------------------------------------

_IMG = _rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
_IMG[0, 0, 1, 1], _IMG[0, 0, 3, 4], _IMG[0, 1, 2, 2], _IMG[0, 1, 4, 0] = nan, inf, -inf, -inf
_IMG[0, 1, 0, :] = -inf
_W = _rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
add(
    "conv2d-special",
    lambda x, w: wa.conv2d(x, w, padding=1),
    [_IMG, _W],
    lambda x, w: op_cases.r_conv(x, w, pads=(1, 1, 1, 1)),
    op_cases.acc(18),
)
add(
    "conv2d-special-weight",
    lambda x, w: wa.conv2d(x, w),
    [
        _rng.standard_normal((1, 2, 4, 4)).astype(np.float32),
        _with_specials(_W, {(1, 0, 1, 1): inf}),
    ],
    lambda x, w: op_cases.r_conv(x, w),
    op_cases.acc(18),
)
for _kind in ("max", "avg"):
    add(
        f"{_kind}_pool2d-special",
        lambda x, k=_kind: getattr(wa, f"{k}_pool2d")(x, 3, 1, 1),
        [_IMG],
        lambda x, k=_kind: op_cases.r_pool(x, k, (3, 3), (1, 1), (1,) * 4),
        NORM,
    )
add(
    "avg_pool2d-overflow",
    lambda x: wa.avg_pool2d(x, 2, 2),
    [np.full((1, 1, 2, 4), 3e38, np.float32)],
    lambda x: op_cases.r_pool(x, "avg", (2, 2), (2, 2)),
    NORM,
)

# --- documented differences from NumPy ----------------------------------------------------------

# A float -> int32 cast of NaN, +-inf or a value out of int32's range is an IEEE invalid
# operation; NumPy returns INT_MIN (x86) with a RuntimeWarning. WebGPU saturates (WGSL's rule for
# out-of-range values) and gives 0 for NaN (WGSL leaves NaN open; kernels/expr.py pins it).
add(
    "cast-f32-to-int32-invalid",
    lambda x: x.cast("int32"),
    [np.array([nan, inf, -inf, 3e9, -3e9, 3e38], np.float32)],
    lambda x: np.array([0, 2**31 - 1, -(2**31), 2**31 - 1, -(2**31), 2**31 - 1]),
    EXACT,
    "int32",
)
DIFFERENCES["cast-f32-to-int32-invalid"] = (
    "float -> int32 of NaN/inf/out-of-range values: saturates, NaN gives 0 (NumPy: INT_MIN)"
)
# Sums accumulate in float32, as NumPy's float32 sum does: a partial sum past the float32 max is
# inf even where the exact total would fit (the float64 reference says 3e38 here).
add(
    "sum-intermediate-overflow",
    lambda x: x.sum(),
    [np.array([3e38, 3e38, -3e38], np.float32)],
    lambda x: np.float64(inf),
    EXACT,
)
DIFFERENCES["sum-intermediate-overflow"] = (
    "float32 accumulation (as NumPy's float32 sum): an intermediate overflow stays inf"
)


# linear_q takes each group's scale out of its dot product (s * sum(x q), one multiply per group
# instead of one per weight): with an infinite scale that is +-inf where dequantizing first
# (the reference) gives NaN for mixed-sign products. Quantization scales are finite in practice.
add(
    "linear_q-int8-infinite-scale",
    lambda x, q, s: wa.linear(x, op_cases._qweight(q, s, None)),
    [np.ones((1, 8), np.float32), _Q8, np.array([0.01, inf, 0.02, 0.5, -inf], np.float32)],
    lambda x, q, s: (x @ q.T) * s,
    op_cases.acc(8),
)
DIFFERENCES["linear_q-int8-infinite-scale"] = (
    "linear_q applies a group's scale after its dot product: an infinite scale gives +-inf"
)


def lane_cases() -> list[OpCase]:
    """The cases with subnormal float32 inputs flushed (as in the other WebGPU lanes)."""
    return [flush_subnormals(c) for c in CASES]


# --- checking -----------------------------------------------------------------------------------


def _mismatch(where: str, g: np.ndarray, w: np.ndarray, bad: np.ndarray, what: str) -> str:
    idx = [tuple(int(v) for v in i) for i in np.argwhere(bad)[:6]]
    pairs = ", ".join(f"{i}: got {g[i]!r} want {w[i]!r}" for i in idx)
    return f"{where}: {int(bad.sum())}/{bad.size} {what} ({pairs})"


def check(case: OpCase, result: tuple) -> None:
    """Raise AssertionError unless the device's *result* (status, output bytes; output meta)
    agrees with the reference as the module docstring says, or fails as ``ERRORS`` says."""
    (status, value), meta = result
    expected_error = ERRORS.get(case.id)
    if expected_error is not None:
        import re

        assert status == "error", f"{case.id}: ran without the error {expected_error!r}"
        assert re.search(expected_error, value), f"{case.id}: {value!r} !~ {expected_error!r}"
        return
    assert status == "ok", f"{case.id}: {value}"
    got = [
        flush(np.frombuffer(data, dtype=dtype).reshape(shape))
        for data, (shape, dtype) in zip(value, meta, strict=True)
    ]
    want = op_cases.reference(case)
    dtype = op_cases.expected_dtype(case)
    problems = []
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        where = f"{case.id}[{k}]"
        assert g.shape == w.shape, f"{where}: shape {g.shape} != reference {w.shape}"
        assert g.dtype.name == dtype, f"{where}: dtype {g.dtype.name} != {dtype}"
        with np.errstate(all="ignore"):
            w = w.astype(dtype).astype(np.float64)
        g = g.astype(np.float64)
        nan_w, nan_g = np.isnan(w), np.isnan(g)
        if (nan_w != nan_g).any():
            problems.append(
                _mismatch(
                    where, g, w, nan_w != nan_g, "NaN where the reference has none or the reverse"
                )
            )
        inf_w = np.isinf(w)
        wrong_inf = (inf_w | np.isinf(g)) & ~nan_w & ~nan_g & (g != w)
        if wrong_inf.any():
            problems.append(_mismatch(where, g, w, wrong_inf, "infinities that differ"))
        finite = np.isfinite(w) & np.isfinite(g)
        with np.errstate(all="ignore"):
            far = finite & (np.abs(g - w) > case.atol + case.rtol * np.abs(w))
        if far.any():
            problems.append(
                _mismatch(where, g, w, far, f"beyond rtol={case.rtol} atol={case.atol}")
            )
        if SIGNED in case.tags:
            zeros = (w == 0) & (g == 0)
            sign = zeros & (np.signbit(w) != np.signbit(g))
            if sign.any():
                problems.append(_mismatch(where, g, w, sign, "zeros of the wrong sign"))
    assert not problems, "\n".join(problems)

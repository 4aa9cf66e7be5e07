"""The IEEE guards: NaN/inf and accuracy fixes around this browser's WebNN ops (one place).

The headless shell's WebNN (TFLite/XNNPACK on CPU) answers exp(NaN) = 0, log(inf) and
log(x >= ~2.3e38) = 88.38, log(NaN) = finite, sqrt(inf) = NaN, sqrt(3.4e38) 50 % off, erf with
1.3e-6 relative error near |x| = 0.1, max/min (binary, reduce, pool) that drop NaN, and an
average pool that turns NaN into -inf. neg(+0) is +0 and relu(-0) is -0 (IEEE: -0 and +0).
gemm and conv2d whose weight is no graph constant clamp their result to +-3.4028235e38, NaN
and inf included (with constant weights they do not). layerNormalization overflows its
variance (NaN) once |x - mean| passes ~2**63. The guards give IEEE/libm answers with a few
cheap ops (gemm is replaced by matmul where it would clamp: ``builders._dot``). Means and
average pools of values near 3.4e38 overflow their float32 sums: they average x / 2**k.

The builders call these only when the device was made with ``ieee=True`` (the default) and the
value is float32; ``WebNNDevice(ctx, ieee=False)`` gives the plain ops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .emitter import Emitter, Shape, Val

_ERF_SERIES = [
    (-1) ** n / (math.factorial(n) * (2 * n + 1)) * 2 / math.sqrt(math.pi) for n in range(7)
]


def _keep_nan(e: Emitter, x: Val, y: Val) -> Val:
    return e.where(e.unary("isNaN", x), x, y)


def _exp(e: Emitter, x: Val) -> Val:
    return _keep_nan(e, x, e.unary("exp", x))


def _log(e: Emitter, x: Val) -> Val:
    y = e.unary("log", x)
    big = e.binary("greater", x, e.scalar(2.0**64, "float32"))
    scaled = e.unary("log", e.binary("mul", x, e.scalar(2.0**-64, "float32")))
    y = e.where(big, e.binary("add", scaled, e.scalar(64 * math.log(2), "float32")), y)
    y = e.where(e.binary("equal", x, e.scalar(math.inf, "float32")), x, y)
    return _keep_nan(e, x, y)


def _sqrt(e: Emitter, x: Val) -> Val:
    y = e.unary("sqrt", x)
    big = e.binary("greater", x, e.scalar(2.0**100, "float32"))
    scaled = e.unary("sqrt", e.binary("mul", x, e.scalar(2.0**-64, "float32")))
    y = e.where(big, e.binary("mul", scaled, e.scalar(2.0**32, "float32")), y)
    return e.where(e.binary("equal", x, e.scalar(math.inf, "float32")), x, y)


def _neg(e: Emitter, x: Val) -> Val:
    return e.binary("mul", x, e.scalar(-1.0, "float32"))  # flips the sign bit of 0 too


def _relu(e: Emitter, x: Val) -> Val:
    return e.binary("add", e.unary("relu", x), e.scalar(0.0, "float32"))  # -0 + 0 is +0


def _rsqrt(e: Emitter, x: Val) -> Val:
    return e.unary("reciprocal", _sqrt(e, x))


def _erf(e: Emitter, x: Val) -> Val:
    """erf's Taylor series for |x| < 0.5 (error < 1e-9 there), the native erf elsewhere."""
    x2 = e.binary("mul", x, x)
    p = e.scalar(_ERF_SERIES[-1], "float32")
    for coef in reversed(_ERF_SERIES[:-1]):
        p = e.binary("add", e.binary("mul", p, x2), e.scalar(coef, "float32"))
    small = e.binary("lesser", e.unary("abs", x), e.scalar(0.5, "float32"))
    return e.where(small, e.binary("mul", x, p), e.unary("erf", x))


# webaccel op -> its guarded float32 lowering
UNARY: dict[str, Callable[[Emitter, Val], Val]] = {
    "exp": _exp,
    "log": _log,
    "sqrt": _sqrt,
    "rsqrt": _rsqrt,
    "erf": _erf,
    "neg": _neg,
    "relu": _relu,
}


def nan_binary(e: Emitter, a: Val, b: Val, out: Val) -> Val:
    """*out* (a binary max/min of *a* and *b*) with NaN wherever either operand is NaN."""
    nan = e.binary("logicalOr", e.unary("isNaN", a), e.unary("isNaN", b))
    return e.where(nan, e.binary("add", a, b), out)


def nan_reduce(e: Emitter, x: Val, out: Val, shape: Shape, options: dict[str, Any]) -> Val:
    """*out* (a max/min reduction of *x* with *options*) with NaN where a reduced element is."""
    m = e.cast(e.unary("isNaN", x), "float32")
    m = e.call("reduceMax", "float32", shape, {"input": m}, [m], options)
    nan = e.binary("greater", m, e.scalar(0.0, "float32"))
    return e.where(nan, e.scalar(float("nan"), "float32"), out)


def nan_pool(e: Emitter, x: Val, out: Val, options: dict[str, Any]) -> Val:
    """*out* (a 2-D pool of *x*) with NaN where a window holds a NaN; *options* are the pool's
    own, padding included (a padded element is 0 in the NaN mask: not NaN)."""
    m = e.cast(e.unary("isNaN", x), "float32")
    m = e.call("maxPool2d", "float32", out.shape, {"input": m}, [m], options)
    nan = e.binary("greater", m, e.scalar(0.0, "float32"))
    return e.where(nan, e.scalar(float("nan"), "float32"), out)


def unclamped(e: Emitter, half: Val, neg_half: Val) -> Val:
    """The IEEE result of a linear op that clamps its output to +-FLT_MAX (NaN too), from
    the op run on x / 2 (*half*) and on -x / 2 (*neg_half*). For any answer but NaN the two
    are exact negatives (the clamp is symmetric, halving is exact), and twice *half*
    overflows to +-inf exactly where the answer does; a NaN answer comes out the same
    (clamped or NaN) in both, so they differ from negatives there."""
    nan = e.binary("notEqual", half, e.binary("mul", neg_half, e.scalar(-1.0, "float32")))
    doubled = e.binary("mul", half, e.scalar(2.0, "float32"))
    return e.where(nan, e.scalar(float("nan"), "float32"), doubled)


# Rows of layer_norm whose largest magnitude is above this are scaled to it first:
# layerNormalization squares x - mean in float32 (NaN once that passes ~2**63; measured at
# 1e19), and 2**40 leaves room for squares summed over 2**40 elements.
NORM_SAFE_MAX = 2.0**40


def norm_rows(e: Emitter, x: Val, axes: list[int]) -> Val:
    """*x* with each normalized row whose magnitude passes ``NORM_SAFE_MAX`` scaled down to
    it. layer_norm(x * s) == layer_norm(x) but for eps, which weighs eps / s**2 against the
    variance instead: below float32's resolution for such rows (an exactly constant row
    still gives 0). Other rows are multiplied by exactly 1. A row holding inf becomes NaN
    (inf * 0), as the reference's is; NaN stays NaN."""
    a = e.unary("abs", x)
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    opts = {"axes": axes, "keepDimensions": True}
    m = e.call("reduceMax", "float32", shape, {"input": a}, [a], opts)
    safe = e.scalar(NORM_SAFE_MAX, "float32")
    big = e.binary("greater", m, safe)
    factor = e.where(big, e.binary("div", safe, m), e.scalar(1.0, "float32"))
    return e.binary("mul", x, factor)


def scaled_down(e: Emitter, x: Val, count: int) -> tuple[Val, float]:
    """*x* times 2**-k for the least 2**k >= *count*, and 2**k: an average of *count* such
    values never overflows float32 (WebNN's mean and average pool sum first), and a power
    of two scales exactly (values below ~1e-38 * 2**k flush to zero, as subnormals do)."""
    scale = 2.0 ** math.ceil(math.log2(count)) if count > 1 else 1.0
    if scale == 1.0:
        return x, scale
    return e.binary("mul", x, e.scalar(1.0 / scale, "float32")), scale


def scaled_up(e: Emitter, y: Val, scale: float) -> Val:
    """The average of values scaled by ``scaled_down``, scaled back (exact)."""
    return y if scale == 1.0 else e.binary("mul", y, e.scalar(scale, "float32"))

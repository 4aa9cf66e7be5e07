"""The graph passes keep the written expression's results at the float32 edges.

Each pattern the passes rewrite (``engine/passes``: softmax, gelu in its erf and tanh forms,
matmul + bias + activation -> linear) is built from primitives over edge values (NaN, +-inf,
-0.0, values near the float32 max, tiny ones, rows mixing them), lowered to its program and run
on the cpu device twice: as written (no passes) and rewritten (``passes.optimize``). The two
must agree: NaN in the same places, the same infinities, the same sign of zero where the
written expression's is IEEE-defined, finite values within the fused op's stated tolerance.
Patterns whose written form overflows where the op does not (gelu halved last, layer_norm) are
not rewritten: ``test_passes.py`` checks that.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from op_cases import NORM, TRANSCENDENTAL, acc
from test_passes import lowered, ops_of, run

import webaccel as wa
from webaccel.engine import passes

CPU = wa.get_device("cpu")
INF, NAN = np.inf, np.nan
EDGES = np.array(
    [3.4028235e38, -3.4028235e38, 3e38, -3e38, 1.7e38, -1.7e38, 1e20, -1e20, 7e12, -2e13,
     INF, -INF, NAN, 0.0, -0.0, 1e-30, -1e-30, 1e-45, -6.0, -30.0, 88.0, -100.0, 2.5, -0.5],
    np.float32,
)  # fmt: skip


def written_and_rewritten(y: wa.Tensor, want_op: str) -> tuple[np.ndarray, np.ndarray]:
    """*y*'s program as written and as the passes rewrite it (which must contain *want_op*)."""
    program, inputs = lowered(y)
    fused = passes.optimize(program, CPU)
    assert want_op in ops_of(fused) and len(fused.steps) < len(program.steps), ops_of(fused)
    (plain,) = run(program, inputs)
    (got,) = run(fused, inputs)
    np.testing.assert_array_equal(y.numpy(), got)  # realize runs the rewritten program
    return plain, got


def assert_same(got: np.ndarray, plain: np.ndarray, tol: tuple[float, float]) -> None:
    """Same NaN positions, same infinities (assert_allclose checks both), values within *tol*."""
    np.testing.assert_allclose(got, plain, rtol=tol[0], atol=tol[1], equal_nan=True)


# --- softmax: exp(x - max) / sum, IEEE --------------------------------------------------------

SOFTMAX_ROWS = np.array(
    [
        [1.0, INF, 2.0, -1.0],  # +inf: inf - inf is NaN, the whole row is NaN
        [INF, INF, 0.0, 1.0],
        [NAN, 1.0, 2.0, 3.0],  # NaN: the max is NaN, so is every exp
        [-INF, -INF, -INF, -INF],  # -inf - -inf: NaN
        [-INF, 0.0, 1.0, -INF],  # -inf elements: exactly 0
        [3e38, -3e38, 3e38, 0.0],  # x - max overflows to -inf: exp gives 0
        [3.4028235e38, 3.4028235e38, 3.4028235e38, 3.4028235e38],
        [1e-45, -0.0, 0.0, -1e-45],
        [88.0, 89.0, 100.0, -100.0],
        [-1e30, -1e30, -1e30, -1e30],
    ],
    np.float32,
)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_rewrite_keeps_edge_results(axis: int) -> None:
    x = wa.tensor(SOFTMAX_ROWS)
    e = (x - x.max(axis, keepdims=True)).exp()
    y = e / e.sum(axis, keepdims=True)
    del e
    plain, got = written_and_rewritten(y, "softmax")
    assert_same(got, plain, NORM)
    if axis == -1:
        assert np.isnan(plain[:4]).all() and not np.isnan(plain[4:]).any()


def test_softmax_op_is_the_written_expression() -> None:
    """wa.softmax itself (not only the rewrite): a row holding +inf is NaN, as written."""
    got = wa.softmax(wa.tensor(SOFTMAX_ROWS), -1).numpy()
    x = SOFTMAX_ROWS.astype(np.float64)
    with np.errstate(all="ignore"):
        e = np.exp(x - x.max(-1, keepdims=True))
        want = e / e.sum(-1, keepdims=True)
    assert_same(got, want.astype(np.float32), NORM)


# --- gelu: the forms that halve before the product ---------------------------------------------

GELU: dict[str, Callable[[wa.Tensor], wa.Tensor]] = {
    "erf": lambda x: 0.5 * x * (1 + wa.erf(x / math.sqrt(2))),
    "erf-mul": lambda x: x * 0.5 * (wa.erf(x * (1 / math.sqrt(2))) + 1.0),
    "erf-half-inside": lambda x: x * ((1 + wa.erf(x / math.sqrt(2))) * 0.5),
    "tanh": lambda x: 0.5 * x * (1 + wa.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "tanh-products": lambda x: (
        x * 0.5 * (1 + wa.tanh((x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)))
    ),
}


@pytest.mark.parametrize("form", list(GELU))
def test_gelu_rewrite_keeps_edge_results(form: str) -> None:
    plain, got = written_and_rewritten(GELU[form](wa.tensor(EDGES)), "gelu")
    assert_same(got, plain, TRANSCENDENTAL)
    # gelu(3e38) is finite both ways; gelu(-inf) is NaN (-inf * 0) both ways
    assert np.isfinite(got[:10]).all() and np.isnan(got[11]) and got[10] == INF


def test_gelu_halved_last_would_overflow() -> None:
    """Why ``x * (1 + erf(x / sqrt 2)) / 2`` is left alone: it is inf at 3e38, gelu is not."""
    x = wa.tensor(EDGES[:3])
    written = (x * (1 + wa.erf(x / math.sqrt(2))) / 2).numpy()
    assert np.isinf(written[0]) and np.isfinite(wa.gelu(x).numpy()).all()


# --- matmul + bias + activation -> linear ------------------------------------------------------

X = np.array(
    [[1.0, 2.0, -1.0], [NAN, 1.0, 0.0], [INF, 1.0, 1.0], [INF, 0.0, 1.0], [3e38, 3e38, 0.0],
     [-0.0, -0.0, -0.0], [1e-30, 1e-30, 1e-30]],
    np.float32,
)  # fmt: skip
W = np.array([[1.0, 0.0], [2.0, -1.0], [0.5, 0.0]], np.float32)  # (in, out): x @ W
BIASES = {
    "plain": np.array([0.5, -0.25], np.float32),
    "nan": np.array([NAN, 0.0], np.float32),
    "inf": np.array([-INF, INF], np.float32),
    "zero": np.array([-0.0, -0.0], np.float32),
}


@pytest.mark.parametrize("bias", list(BIASES))
@pytest.mark.parametrize("act", ["none", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"])
def test_linear_rewrite_keeps_edge_results(act: str, bias: str) -> None:
    h = wa.tensor(X) @ wa.tensor(W) + wa.tensor(BIASES[bias])
    y = h if act == "none" else h.gelu("tanh") if act == "gelu_tanh" else getattr(h, act)()
    del h
    plain, got = written_and_rewritten(y, "linear")
    tol = acc(3) if act in ("none", "relu") else TRANSCENDENTAL
    assert_same(got, plain, tol)
    if act == "none":  # IEEE defines these zeros' sign: (-0 * w) sums to -0, + (-0) stays -0
        assert np.array_equal(np.signbit(got[got == 0]), np.signbit(plain[plain == 0]))


def test_linear_rewrite_keeps_nan_and_inf_of_the_products() -> None:
    """inf * 0 is NaN inside the sum, written out and rewritten alike (no zero skipping)."""
    h = wa.tensor(X) @ wa.tensor(W) + wa.tensor(BIASES["plain"])
    plain, got = written_and_rewritten(h, "linear")
    assert np.isnan(plain[3, 1]) and np.isnan(got[3, 1])  # inf * 0 + 0 * -1 + 1 * 0
    assert np.isnan(got[1]).all() and np.isinf(got[2, 0])

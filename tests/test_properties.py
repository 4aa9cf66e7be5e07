"""Property-based tests (hypothesis): random shapes incl. 0 and 1 dims, broadcasting, reductions,
view chains, all checked against NumPy on the cpu device."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import webaccel as wa

FAST = settings(max_examples=80, deadline=None)
F32 = st.floats(-1e3, 1e3, width=32, allow_nan=False)

BINARY = {
    "add": (wa.add, np.add),
    "sub": (wa.sub, np.subtract),
    "mul": (wa.mul, np.multiply),
    "div": (wa.div, np.divide),
    "maximum": (wa.maximum, np.maximum),
    "minimum": (wa.minimum, np.minimum),
}


@st.composite
def broadcast_pair(draw: Any) -> tuple[np.ndarray, np.ndarray]:
    shapes = draw(
        hnp.mutually_broadcastable_shapes(
            num_shapes=2, min_dims=0, max_dims=4, min_side=0, max_side=5
        )
    )
    a = draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=F32))
    b = draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=F32))
    return a, b


@FAST
@given(broadcast_pair(), st.sampled_from(sorted(BINARY)))
def test_binary_broadcasting(pair: tuple[np.ndarray, np.ndarray], name: str) -> None:
    """IEEE add/sub/mul/div/max/min are correctly rounded: bit-for-bit NumPy's float32 result."""
    a, b = pair
    fn, ref = BINARY[name]
    got = fn(wa.tensor(a), wa.tensor(b)).numpy()
    with np.errstate(all="ignore"):
        want = ref(a, b)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


@FAST
@given(broadcast_pair(), st.sampled_from(["add", "sub", "mul", "maximum"]))
def test_binary_int32(pair: tuple[np.ndarray, np.ndarray], name: str) -> None:
    a, b = (x.astype(np.int32) for x in pair)
    fn, ref = BINARY[name]
    got = fn(wa.tensor(a), wa.tensor(b)).numpy()
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref(a, b))


@st.composite
def reduction(draw: Any) -> tuple[np.ndarray, Any, bool]:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))
    x = draw(hnp.arrays(np.float32, shape, elements=st.floats(-10, 10, width=32)))
    axes: Any
    if shape and draw(st.booleans()):
        axes = tuple(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1)))
        axes = tuple(a - len(shape) if draw(st.booleans()) else a for a in axes)
        if len(axes) == 1 and draw(st.booleans()):
            axes = axes[0]
    else:
        axes = None
    return x, axes, draw(st.booleans())


@FAST
@given(reduction(), st.sampled_from(["sum", "mean", "max", "min"]))
def test_reductions(r: tuple[np.ndarray, Any, bool], name: str) -> None:
    x, axes, keep = r
    ax = tuple(range(x.ndim)) if axes is None else (axes if isinstance(axes, tuple) else (axes,))
    k = math.prod(x.shape[a] for a in ax)
    t = wa.tensor(x)
    if name in ("max", "min") and k == 0:
        try:
            getattr(t, name)(axes, keepdims=keep)
        except wa.ShapeError:
            return
        raise AssertionError("max/min over an empty axis must raise ShapeError")
    got = getattr(t, name)(axes, keepdims=keep).numpy()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "Mean of empty slice"
        want = getattr(np, name)(x.astype(np.float64), axis=axes, keepdims=keep)
    assert got.shape == np.shape(want) and got.dtype == np.float32
    atol = 1e-5 * 10 * math.sqrt(max(k, 1))  # |x| <= 10: float32 accumulation error
    if name == "mean":
        atol /= max(k, 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol, equal_nan=True)


@st.composite
def view_chain(draw: Any) -> tuple[tuple[int, ...], list[tuple[str, Any]]]:
    """A start shape and a chain of view ops (transpose, slice, reshape, expand, index)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    chain: list[tuple[str, Any]] = []
    cur = shape
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["transpose", "slice", "reshape", "expand", "index"]))
        if kind == "transpose" and cur:
            perm = tuple(draw(st.permutations(range(len(cur)))))
            chain.append((kind, perm))
            cur = tuple(cur[p] for p in perm)
        elif kind == "slice" and cur:
            key = tuple(
                slice(
                    draw(st.integers(-d - 1, d + 1)),
                    draw(st.integers(-d - 1, d + 1)),
                    draw(st.sampled_from([1, 2, -1, -3])),
                )
                for d in cur
            )
            chain.append((kind, key))
            cur = np.empty(cur)[key].shape
        elif kind == "reshape":
            n = math.prod(cur)
            divisors = [d for d in range(1, n + 1) if n % d == 0] or [0]
            d = draw(st.sampled_from(divisors))
            new = (d, n // d) if d else (0, draw(st.integers(0, 3)))
            if draw(st.booleans()):
                new = (1, *new)
            chain.append((kind, new))
            cur = new
        elif kind == "expand":
            lead = draw(st.integers(0, 3))
            target = (lead, *(draw(st.integers(0, 3)) if d == 1 else d for d in cur))
            chain.append((kind, target))
            cur = target
        elif kind == "index" and cur:
            if cur[0] == 0:
                continue
            i = draw(st.integers(-cur[0], cur[0] - 1))
            chain.append((kind, (i, None)))
            cur = (1, *cur[1:])
    return shape, chain


def _apply(x: Any, chain: list[tuple[str, Any]], is_np: bool) -> Any:
    for kind, arg in chain:
        if kind == "transpose":
            x = x.transpose(arg) if is_np else x.permute(arg)
        elif kind in ("slice", "index"):
            x = x[arg]
        elif kind == "reshape":
            x = x.reshape(arg)
        elif kind == "expand":
            x = np.broadcast_to(x, arg) if is_np else x.expand(arg)
    return x


@settings(max_examples=150, deadline=None)
@given(view_chain())
def test_view_chains(chain_case: tuple[tuple[int, ...], list[tuple[str, Any]]]) -> None:
    shape, chain = chain_case
    a = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    t = wa.tensor(a)
    want = _apply(a, chain, True)
    storages = wa.get_device("cpu").live_storages
    got = _apply(t, chain, False)
    assert wa.get_device("cpu").live_storages == storages  # views and pending copies only
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal((got + 0).numpy(), want)  # as a program input too
    if all(k != "reshape" for k, _ in chain):
        assert got._node is t._node  # no reshape fallback: pure views of the same node


@FAST
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9),
        elements=st.floats(-30, 30, width=32),
    ),
    st.integers(-1, 0),
)
def test_softmax_rows_sum_to_one(x: np.ndarray, axis: int) -> None:
    got = wa.softmax(wa.tensor(x), axis).numpy().astype(np.float64)
    e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(axis=axis, keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-5)


@FAST
@given(
    st.integers(1, 9),
    st.integers(0, 5),
    st.integers(1, 9),
    st.integers(0, 2),
    st.booleans(),
    st.booleans(),
)
def test_matmul_random(m: int, k: int, n: int, batch: int, ta: bool, tb: bool) -> None:
    rng = np.random.default_rng(m * 1000 + k * 100 + n * 10 + batch)
    bs = (batch,) if batch else ()
    a = rng.standard_normal((*bs, k, m) if ta else (*bs, m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    ta_, tb_ = wa.tensor(a), wa.tensor(b)
    got = ((ta_.transpose(-1, -2) if ta else ta_) @ (tb_.T if tb else tb_)).numpy()
    a64 = np.swapaxes(a, -1, -2) if ta else a
    want = a64.astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * math.sqrt(max(k, 1)))

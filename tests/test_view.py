"""``View``: reshape against NumPy's no-copy reshape rule (randomized), slicing, permute, expand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from webaccel.view import View, contiguous_strides, normalize_slice

BASE = np.arange(4096, dtype=np.int64)


def materialize(view: View, base: np.ndarray = BASE) -> np.ndarray:
    """The elements *view* sees in *base* (strides in elements)."""
    if view.numel == 0:
        return np.zeros(view.shape, base.dtype)
    lo, hi = view.span()
    assert 0 <= lo and hi < base.size, (view, lo, hi)
    return np.lib.stride_tricks.as_strided(
        base[view.offset :], view.shape, tuple(s * base.itemsize for s in view.strides)
    ).copy()


def as_view(a: np.ndarray) -> View:
    """The View of a NumPy view *a* of BASE."""
    off = (a.__array_interface__["data"][0] - BASE.__array_interface__["data"][0]) // 8
    return View(a.shape, tuple(s // 8 for s in a.strides), off if a.size else 0)


def random_view(rng: np.random.Generator) -> np.ndarray:
    """A NumPy view of BASE: random shape, permutation and stepped slices (some negative)."""
    ndim = int(rng.integers(1, 5))
    shape = tuple(int(d) for d in rng.integers(1, 6, ndim))
    a = BASE[: math.prod(shape)].reshape(shape)
    a = a.transpose(rng.permutation(ndim))
    index = []
    for d in a.shape:
        step = int(rng.choice([1, 1, 2, -1, 3]))
        start = int(rng.integers(0, d))
        if step > 0:
            index.append(slice(int(rng.integers(0, start + 1)), None, step))
        else:
            index.append(slice(start, None, step))
    return a[tuple(index)]


def random_shape(rng: np.random.Generator, numel: int) -> tuple[int, ...]:
    """A random shape with *numel* elements (random factorization, random unit axes)."""
    factors, n, p = [], numel, 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    rng.shuffle(factors)
    dims: list[int] = []
    for f in factors:
        if dims and rng.random() < 0.5:
            dims[-1] *= f
        else:
            dims.append(f)
    for _ in range(int(rng.integers(0, 3))):
        dims.insert(int(rng.integers(0, len(dims) + 1)), 1)
    return tuple(dims) or ((1,) if rng.random() < 0.5 else ())


def numpy_nocopy_reshape(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    try:
        return np.reshape(a, shape, copy=False)
    except ValueError:
        return None


def test_reshape_matches_numpy_nocopy_rule_randomized() -> None:
    rng = np.random.default_rng(1234)
    views = copies = 0
    for _ in range(3000):
        a = random_view(rng)
        v = as_view(a)
        np.testing.assert_array_equal(materialize(v), a)
        shape = random_shape(rng, a.size)
        got = v.reshape(shape)
        want = numpy_nocopy_reshape(a, shape)
        if want is None:
            assert got is None, f"{v} -> {shape}: NumPy needs a copy, View made {got}"
            copies += 1
        else:
            assert got is not None, f"{v} -> {shape}: NumPy reshapes without a copy"
            assert got.shape == shape
            np.testing.assert_array_equal(materialize(got), want, err_msg=f"{v} -> {shape}")
            views += 1
    assert views > 500 and copies > 500  # both branches really exercised


@pytest.mark.parametrize(
    ("shape", "perm", "new", "ok"),
    [
        ((3, 4), (1, 0), (12,), False),
        ((3, 4), (1, 0), (4, 3, 1), True),
        ((3, 4), (1, 0), (2, 2, 3), True),  # splitting the outer axis is fine
        ((3, 4), (1, 0), (4, 1, 3), True),
        ((2, 3, 4), (0, 2, 1), (2, 12), False),
        ((2, 3, 4), (1, 0, 2), (3, 8), False),
        ((2, 3, 4), (1, 0, 2), (3, 2, 2, 2), True),
        ((1, 5), (1, 0), (5,), True),
    ],
)
def test_reshape_known(shape: tuple, perm: tuple, new: tuple, ok: bool) -> None:
    a = BASE[: math.prod(shape)].reshape(shape).transpose(perm)
    got = as_view(a).reshape(new)
    assert (got is not None) == ok
    if ok:
        np.testing.assert_array_equal(materialize(got), a.reshape(new))


def test_reshape_empty_and_scalar() -> None:
    e = View.contiguous((0, 3)).reshape((3, 0, 5))
    assert e is not None and e.shape == (3, 0, 5) and e.numel == 0 and materialize(e).size == 0
    v = View.contiguous((1,)).reshape(())
    assert v is not None and v.shape == () and v.numel == 1
    t = View((2, 0), (1, 7), 3)  # an empty non-contiguous view reshapes freely
    assert t.reshape((0, 4)) is not None


def test_slice_permute_expand_against_numpy() -> None:
    rng = np.random.default_rng(7)
    for _ in range(500):
        a = random_view(rng)
        v = as_view(a)
        perm = tuple(int(p) for p in rng.permutation(a.ndim))
        np.testing.assert_array_equal(materialize(v.permute(perm)), a.transpose(perm))
        starts, stops, steps, key = [], [], [], []
        for d in a.shape:
            s = slice(int(rng.integers(-d - 1, d + 2)), int(rng.integers(-d - 1, d + 2)),
                      int(rng.choice([1, 2, -1, -2])))  # fmt: skip
            b, e, st = normalize_slice(s, d)
            starts.append(b), stops.append(e), steps.append(st), key.append(s)
        sl = v.slice(tuple(starts), tuple(stops), tuple(steps))
        np.testing.assert_array_equal(materialize(sl), a[tuple(key)])
        target = tuple(int(rng.integers(1, 4)) for _ in range(int(rng.integers(0, 2)))) + tuple(
            int(rng.integers(1, 4)) if d == 1 else d for d in a.shape
        )
        np.testing.assert_array_equal(materialize(v.expand(target)), np.broadcast_to(a, target))


def test_contiguity_and_span() -> None:
    assert contiguous_strides((2, 3, 4)) == (12, 4, 1)
    assert contiguous_strides((2, 0, 4)) == (4, 4, 1)
    assert View.contiguous((2, 3)).is_contiguous()
    assert View((2, 1, 3), (3, 99, 1), 5).is_contiguous()  # unit axes may have any stride
    assert not View((3, 2), (1, 3), 0).is_contiguous()
    assert not View((3,), (0,), 0).is_contiguous()  # expanded
    assert View((3, 4), (-4, 1), 8).span() == (0, 11)
    assert View((0, 4), (4, 1), 3).span() == (3, 2)  # touches nothing
    assert View.contiguous(()).numel == 1 and View.contiguous(()).ndim == 0


def test_expand_dims_against_numpy() -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        a = random_view(rng)
        v = as_view(a)
        axis = int(rng.integers(0, a.ndim + 1))
        e = v.expand_dims(axis)
        assert e.strides[axis] == 0 and e.offset == v.offset
        np.testing.assert_array_equal(materialize(e), np.expand_dims(a, axis))


def test_empty_contiguous_views_are_contiguous() -> None:
    # contiguous_strides counts a zero-size axis as 1; is_contiguous agrees with it
    for shape in [(2, 0, 4), (0,), (3, 0), (0, 5, 1)]:
        assert View.contiguous(shape).is_contiguous(), shape

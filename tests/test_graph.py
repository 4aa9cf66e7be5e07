"""The lazy graph: laziness, one program per realize, the structural cache, kept intermediates,
eager mode, and storages returning to baseline."""

from __future__ import annotations

import gc
import sys
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

import webaccel as wa

CPU = wa.get_device("cpu")


def stats() -> dict[str, int]:
    return wa.graph_stats("cpu")


def delta(before: dict[str, int]) -> dict[str, int]:
    now = stats()
    return {k: now[k] - before[k] for k in now}


@pytest.fixture
def clean() -> Iterator[None]:
    """Storage counters before and after a test are equal (nothing leaks)."""
    gc.collect()
    bytes0, storages0 = CPU.live_bytes, CPU.live_storages
    yield
    gc.collect()
    assert (CPU.live_bytes, CPU.live_storages) == (bytes0, storages0)


def test_ops_are_lazy(clean: None) -> None:
    a = wa.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    storages = CPU.live_storages
    before = stats()
    b = wa.relu(a * 2 - 3).sum(1) @ wa.ones((2,))
    assert CPU.live_storages == storages, "recording an op allocated a storage"
    assert b._node.storage is None and not b._node.realized
    assert delta(before)["runs"] == 0
    assert b.item() == 16.0
    assert delta(before)["runs"] == 1
    assert b._node.realized


def test_one_program_per_realize(clean: None) -> None:
    x = wa.tensor(np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32))
    w = wa.tensor(np.ones((3, 8), np.float32))
    y = wa.softmax(wa.gelu(wa.linear(x, w)) + 1.0, -1).max(0)
    before = stats()
    y.numpy()
    assert delta(before)["runs"] == 1
    y.numpy()  # already realized: no new program
    y.tolist()
    assert delta(before)["runs"] == 1


def _build(n: int, value: float = 2.0) -> wa.Tensor:
    a = wa.tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    return (a * value + 1).sum(0)


def test_structural_cache_hits_and_misses(clean: None) -> None:
    _build(5).numpy()  # warm: this structure is compiled once
    before = stats()
    r1 = _build(5).numpy()
    d = delta(before)
    assert (d["hits"], d["misses"], d["programs"]) == (1, 0, 0)
    r2 = _build(5).numpy()  # new storages, same structure: a hit, and right
    np.testing.assert_array_equal(r1, r2)
    before = stats()
    _build(7).numpy()  # another shape: a miss
    d = delta(before)
    assert (d["hits"], d["misses"], d["programs"]) == (0, 1, 1)
    before = stats()
    got = _build(5, 3.0).numpy()  # another constant: another program, and its own answer
    assert delta(before)["misses"] == 1
    np.testing.assert_array_equal(
        got, (np.arange(15, dtype=np.float32).reshape(5, 3) * 3 + 1).sum(0)
    )


def test_cache_tells_signed_zero_and_nan_constants_apart() -> None:
    x = wa.tensor([1.0, -2.0])
    assert np.signbit((x * 0.0).numpy()).tolist() == [False, True]
    assert np.signbit((x * -0.0).numpy()).tolist() == [True, False]  # not the 0.0 program
    (x + float("nan")).numpy()
    before = stats()
    got = (x + float("nan")).numpy()  # another NaN object, same program: a hit
    assert np.isnan(got).all() and delta(before)["hits"] == 1


def test_cache_tells_views_apart() -> None:
    a = wa.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    b = wa.tensor(np.arange(6, dtype=np.float32).reshape(3, 2))
    (a + 1).numpy()
    np.testing.assert_array_equal((b.reshape(2, 3) + 1).numpy(), np.arange(6).reshape(2, 3) + 1)
    np.testing.assert_array_equal((b.T + 1).numpy(), np.arange(6).reshape(3, 2).T + 1)


def test_live_intermediates_are_outputs(clean: None) -> None:
    a = wa.tensor([1.0, 2.0, 3.0])
    b = a + 1  # held by a live tensor: kept
    c = (b * 2).sum()
    tmp = wa.exp(a)
    d = tmp - 1
    del tmp  # dead before the realize: not kept
    before = stats()
    assert c.item() == 18.0
    assert b._node.realized
    assert b.tolist() == [2.0, 3.0, 4.0]
    assert delta(before)["runs"] == 1
    d.numpy()
    # a view of a pending node keeps the node alive and it comes back too
    e = (a * 3)[::2]
    f = e.sum()
    assert f.item() == 12.0
    assert e._node.realized and e.tolist() == [3.0, 9.0]


def test_pending_nodes_shared_between_graphs() -> None:
    a = wa.tensor([1.0, 2.0])
    b = a * 2
    c, d = b + 1, b - 1
    assert c.tolist() == [3.0, 5.0]
    assert d.tolist() == [1.0, 3.0]  # b was kept (live), d is computed from it


def test_eager_mode_same_numbers() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    w = rng.standard_normal((6, 5)).astype(np.float32)

    def model(t: wa.Tensor, wt: wa.Tensor) -> wa.Tensor:
        h = wa.layer_norm(wa.linear(t, wt), 6)
        return wa.attention(h, h, h).softmax(1).mean((0, 2))

    lazy = model(wa.tensor(x), wa.tensor(w)).numpy()
    previous = wa.set_eager(True)
    try:
        t = wa.tensor(x)
        y = t * 2
        assert y._node.realized, "eager mode realizes every op"
        eager = model(t, wa.tensor(w)).numpy()
    finally:
        wa.set_eager(previous)
    np.testing.assert_array_equal(eager, lazy)


def test_storages_return_to_baseline() -> None:
    gc.collect()
    bytes0, storages0 = CPU.live_bytes, CPU.live_storages
    a = wa.tensor(np.ones((64, 64), np.float32))
    assert CPU.live_bytes == bytes0 + 64 * 64 * 4
    b = a @ a
    c = wa.relu(b).T[::2]
    c.numpy()
    views = [b.reshape(-1), b[1:], b.T]
    assert CPU.live_storages > storages0
    del a, b, c, views
    gc.collect()
    assert (CPU.live_bytes, CPU.live_storages) == (bytes0, storages0)


def test_tensors_in_reference_cycles_free_cleanly() -> None:
    """A GC cycle may finalize a node's storage before the node: no double free, no leak."""
    gc.collect()
    bytes0 = CPU.live_bytes
    errors: list[BaseException | None] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: errors.append(u.exc_value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            for _ in range(20):
                holder: dict[str, object] = {}
                holder["self"] = holder
                t = (wa.tensor([1.0, 2.0]) + 1).realize()
                holder["t"] = [t, t.T, t * 2]
                del holder, t
            gc.collect()
    finally:
        sys.unraisablehook = hook
    assert errors == []
    assert CPU.live_bytes == bytes0


def test_failed_realize_leaks_nothing(clean: None) -> None:
    x = wa.zeros((3,))
    bad = wa.gather(x, wa.tensor([5])) + 1
    with pytest.raises(IndexError):
        bad.numpy()
    with pytest.raises(IndexError):  # still pending, fails the same way
        bad.numpy()
    del bad


def test_read_async_matches_read() -> None:
    import asyncio

    t = wa.tensor([[1.0, 2.0], [3.0, 4.0]]).T * 2
    assert asyncio.run(t.tolist_async()) == t.tolist()
    np.testing.assert_array_equal(asyncio.run(t.numpy_async()), t.numpy())

"""webaccel.capture on the cpu device: trace once per signature, replay, same numbers."""

from __future__ import annotations

import array
import asyncio
import gc

import numpy as np
import pytest

import webaccel as wa

RNG = np.random.default_rng(7)
W = RNG.standard_normal((8, 5)).astype(np.float32)


def block(x: wa.Tensor) -> wa.Tensor:
    w = wa.tensor(W)  # a constant of the captured graph
    return wa.layer_norm((x @ w).gelu() * 0.5 + 1.0, 5)


def test_replay_matches_the_lazy_graph_and_traces_once():
    f = wa.capture(block)
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((4, 8)).astype(np.float32)
        got = f(wa.tensor(x)).numpy()
        np.testing.assert_allclose(got, block(wa.tensor(x)).numpy(), rtol=1e-6, atol=1e-6)
    (trace,) = f.traces.values()
    assert trace.runs == 3 and len(trace.const_nodes) == 1


def test_new_signature_traces_again_and_views_come_back():
    f = wa.capture(lambda a, b: [(a + b).T, a * 2.0])
    x, y = f(wa.tensor(np.ones((2, 3), np.float32)), wa.tensor(np.ones((2, 3), np.float32)))
    assert x.shape == (3, 2) and x.numpy().tolist() == [[2.0, 2.0]] * 3
    assert y.numpy().tolist() == [[2.0] * 3] * 2
    f(wa.tensor(np.ones((4, 3), np.float32)), wa.tensor(np.ones((4, 3), np.float32)))
    assert len(f.traces) == 2


def test_returning_an_argument_gives_a_copy():
    f = wa.capture(lambda a: a)
    a = wa.tensor(np.arange(3, dtype=np.float32))
    b = f(a)
    assert b._node is not a._node and b.numpy().tolist() == [0.0, 1.0, 2.0]


def test_captured_functions_take_tensors():
    with pytest.raises(TypeError, match="take Tensors"):
        wa.capture(block)(np.ones((4, 8), np.float32))


def test_storages_return_to_baseline():
    dev = wa.get_device("cpu")
    f = wa.capture(block)
    x = wa.tensor(np.ones((4, 8), np.float32))
    f(x)
    base = dev.live_bytes
    for _ in range(20):
        y = f(x)
        del y
    assert dev.live_bytes == base


def test_run_takes_host_bytes_and_matches_the_call():
    f = wa.capture(block)
    x0 = np.ones((4, 8), np.float32)
    f(wa.tensor(x0))  # traces
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((4, 8)).astype(np.float32)
        want = f(wa.tensor(x)).numpy()
        got = f.run(x.tobytes())
        assert isinstance(got, bytearray) and len(got) == want.nbytes
        np.testing.assert_array_equal(np.frombuffer(got, np.float32).reshape(4, 5), want)
        out = bytearray(want.nbytes)
        assert f.run(memoryview(x).cast("B"), out=[out]) is out
        np.testing.assert_array_equal(np.frombuffer(out, np.float32).reshape(4, 5), want)
        t = f.run(wa.tensor(x))  # a Tensor input works too
        np.testing.assert_array_equal(np.frombuffer(t, np.float32).reshape(4, 5), want)


def test_run_async_with_several_results_and_views():
    import asyncio

    f = wa.capture(lambda a, b: [(a + b).T, a * 2.0])
    ones = np.ones((2, 3), np.float32)
    f(wa.tensor(ones), wa.tensor(ones))
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    outs = [bytearray(24), memoryview(bytearray(24))]
    got = asyncio.run(f.run_async(a.tobytes(), ones.tobytes(), out=outs))
    assert got[0] is outs[0] and got[1] is outs[1]
    np.testing.assert_array_equal(np.frombuffer(got[0], np.float32).reshape(3, 2), (a + 1).T)
    np.testing.assert_array_equal(np.frombuffer(got[1], np.float32).reshape(2, 3), a * 2)


def test_run_errors_name_the_signature():
    f = wa.capture(block)
    with pytest.raises(RuntimeError, match="nothing traced yet"):
        f.run(bytes(128))
    f(wa.tensor(np.ones((4, 8), np.float32)))
    with pytest.raises(ValueError, match=r"shape \(4, 8\) float32 = 128 bytes"):
        f.run(bytes(100))
    with pytest.raises(ValueError, match="match no traced signature"):
        f.run(bytes(128), bytes(128))
    with pytest.raises(ValueError, match="writable buffer of 80 bytes"):
        f.run(bytes(128), out=[bytearray(8)])
    with pytest.raises(ValueError, match="writable buffer of 80 bytes"):
        f.run(bytes(128), out=[bytes(80)])
    with pytest.raises(TypeError, match="bytes-like object or a Tensor"):
        f.run([1.0] * 32)


def test_run_storages_return_to_baseline():
    dev = wa.get_device("cpu")
    f = wa.capture(block)
    f(wa.tensor(np.ones((4, 8), np.float32)))
    data, out = np.ones((4, 8), np.float32).tobytes(), [bytearray(80)]
    for _ in range(2):
        f.run(data, out=out)
    gc.collect()
    base = dev.live_bytes
    for _ in range(20):
        f.run(data, out=out)
    gc.collect()
    assert dev.live_bytes == base


def test_run_async_refuses_bytes_that_fit_two_traced_shapes():
    """(2, 8) and (4, 4) float32 are both 64 bytes: bytes alone cannot choose the trace."""
    f = wa.capture(lambda x: x.sum(-1))
    f(wa.zeros((2, 8)))
    f(wa.zeros((4, 4)))
    with pytest.raises(ValueError, match="fit 2 traced signatures"):
        asyncio.run(f.run_async(array.array("f", [1.0] * 16)))
    got = asyncio.run(f.run_async(wa.ones((4, 4))))  # a Tensor's shape chooses
    assert array.array("f", bytes(got)).tolist() == [4.0] * 4
    g = wa.capture(lambda x: x * 2)
    g(wa.zeros((2, 8)))
    got = asyncio.run(g.run_async(array.array("f", [1.0] * 16)))  # one fit: no ambiguity
    assert array.array("f", bytes(got)).tolist() == [2.0] * 16


def test_max_traces_drops_the_least_recently_used_signature():
    calls = []

    def fn(a):
        calls.append(a.shape)
        return a * 2.0

    f = wa.capture(fn, max_traces=2)
    ones = {n: wa.tensor(np.ones((n, 3), np.float32)) for n in (1, 2, 3)}
    f(ones[1]), f(ones[2])
    f(ones[1])  # 1 is now the most recent: 2 goes first
    f(ones[3])
    assert [k[0][1].shape for k in f.traces] == [(1, 3), (3, 3)] and f.evicted == 1
    assert f(ones[2]).numpy().tolist() == [[2.0] * 3] * 2  # traced again, right answer
    assert calls == [(1, 3), (2, 3), (3, 3), (2, 3)] and len(f.traces) == 2
    assert [k[0][1].shape for k in f.traces] == [(3, 3), (2, 3)]
    got = asyncio.run(f.run_async(np.ones((3, 3), np.float32).tobytes()))  # a use, too
    assert np.frombuffer(got, np.float32).tolist() == [2.0] * 9
    assert [k[0][1].shape for k in f.traces] == [(2, 3), (3, 3)]


def test_evicted_traces_free_their_storages():
    dev = wa.get_device("cpu")
    f = wa.capture(block, max_traces=1)
    f(wa.tensor(np.ones((4, 8), np.float32)))
    gc.collect()
    base = dev.live_bytes
    for n in (1, 2, 3, 4) * 3:
        y = f(wa.tensor(np.ones((n, 8), np.float32)))
        del y
    gc.collect()
    assert len(f.traces) == 1 and f.evicted == 12
    assert dev.live_bytes == base


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_max_traces_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="max_traces"):
        wa.capture(block, max_traces=bad)

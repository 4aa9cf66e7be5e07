"""webaccel.capture on the webnn device: a replay is one JS call (backends/webnn/replay.py),
gives the lazy graph's answer, and gives every storage back."""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = pytest.mark.lanes("headless-shell")


@run_in_pyodide(packages=["webaccel"])
def test_capture_on_webnn_equals_lazy_and_memory_returns(selenium):
    import array

    import webaccel as wa
    from webaccel.backends.webnn.replay import ReplayPlan

    dev = wa.get_device("webnn")

    def vals(n, seed):
        return array.array(
            "f", [((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5 for i in range(n)]
        )

    w = wa.tensor(vals(16 * 16, 1), device=dev, shape=(16, 16)).realize()
    g = wa.tensor(vals(16, 2), device=dev, shape=(16,)).realize()

    def block(x, y):
        h = wa.layer_norm(x @ w + y, 16, g)
        return wa.softmax(h.reshape(4, 2, 8).transpose(1, 0, 2), -1).gelu(), h.sum(-1)

    fn = wa.capture(block)
    x = wa.tensor(vals(64, 3), device=dev, shape=(8, 8)).reshape(4, 16)  # a reshaped argument
    y = wa.tensor(vals(16, 4), device=dev, shape=(16,))

    def flat(values):
        return [v for item in values for v in (flat(item) if isinstance(item, list) else [item])]

    def close(got, want):  # the lazy graph may split into other MLGraphs: 1-ulp sums
        a, b = flat([t.tolist() for t in got]), flat([t.tolist() for t in want])
        if len(a) != len(b):
            return False
        return all(abs(p - q) <= 1e-6 * (1 + abs(q)) for p, q in zip(a, b, strict=True))

    lazy = block(x, y)
    assert close(fn(x, y), lazy)
    (trace,) = fn.traces.values()
    assert isinstance(trace.runner, ReplayPlan)
    assert trace.runner.arg_order  # the arguments are dispatched directly
    # new values through the same trace
    x2 = wa.tensor(vals(64, 5), device=dev, shape=(4, 16))
    assert close(fn(x2, y), block(x2, y))

    for _ in range(3):  # fill the pool
        a, s = fn(x2, y)
        a.tolist()
        del a, s
    base = dev.memory()
    for i in range(100):
        xi = wa.tensor(vals(64, i), device=dev, shape=(4, 16))
        a, s = fn(xi, y)
        if i % 25 == 0:
            assert close([a, s], block(xi, y))
        else:
            a.tolist()
        del xi, a, s
    after = dev.memory()
    for key in ("live_bytes", "live_storages", "nn_live_tensors", "nn_live_bytes"):
        assert after[key] == base[key], (key, base, after)
    assert after["nn_created_tensors"] - base["nn_created_tensors"] <= 8, (base, after)
    assert trace.runs >= 105

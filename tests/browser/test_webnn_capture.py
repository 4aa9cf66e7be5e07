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


@run_in_pyodide(packages=["webaccel"])
async def test_run_async_from_host_memory_on_webnn(selenium):
    import array

    import pytest

    import webaccel as wa

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
    with pytest.raises(RuntimeError, match="nothing traced yet"):
        await fn.run_async(vals(64, 3), vals(16, 4))
    x = wa.tensor(vals(64, 3), device=dev, shape=(4, 16))
    y = wa.tensor(vals(16, 4), device=dev, shape=(16,))
    fn(x, y)  # traces
    (trace,) = fn.traces.values()
    assert hasattr(trace.runner, "run_host_async") and trace.plain_results

    def as_f32(buf):
        return array.array("f", bytes(buf)).tolist()

    def flat(values):
        return [v for item in values for v in (flat(item) if isinstance(item, list) else [item])]

    for seed in (5, 6):
        xs, ys = vals(64, seed), vals(16, seed + 1)
        a, s = fn(wa.tensor(xs, device=dev, shape=(4, 16)), wa.tensor(ys, device=dev, shape=(16,)))
        got = await fn.run_async(xs, ys)
        assert [as_f32(b) for b in got] == [flat(a.tolist()), s.tolist()]  # the same graph
        outs = [bytearray(4 * 64), bytearray(4 * 4)]
        again = await fn.run_async(memoryview(xs).cast("B"), bytes(ys), out=outs)
        assert again[0] is outs[0] and again[1] is outs[1]
        assert [as_f32(b) for b in outs] == [as_f32(b) for b in got]
        assert fn.run(xs, ys) == got or [as_f32(b) for b in fn.run(xs, ys)] == [
            as_f32(b) for b in got
        ]

    with pytest.raises(ValueError, match=r"shape \(4, 16\) float32 = 256 bytes"):
        await fn.run_async(vals(60, 3), vals(16, 4))
    with pytest.raises(ValueError, match="writable buffer of 256 bytes"):
        await fn.run_async(vals(64, 3), vals(16, 4), out=[bytearray(8), bytearray(16)])

    outs = [bytearray(4 * 64), bytearray(4 * 4)]
    xs, ys = vals(64, 9), vals(16, 10)
    for _ in range(3):
        await fn.run_async(xs, ys, out=outs)
    base = dev.memory()
    runs = trace.runs
    for i in range(100):
        await fn.run_async(vals(64, i) if i % 25 == 0 else xs, ys, out=outs)
    after = dev.memory()
    for key in ("live_bytes", "live_storages", "nn_live_tensors", "nn_live_bytes"):
        assert after[key] == base[key], (key, base, after)
    assert after["nn_created_tensors"] == base["nn_created_tensors"], (base, after)
    assert trace.runs == runs + 100
    a, s = fn(wa.tensor(xs, device=dev, shape=(4, 16)), wa.tensor(ys, device=dev, shape=(16,)))
    assert as_f32(outs[0]) == flat(a.tolist())


@run_in_pyodide(packages=["webaccel"])
def test_captured_weights_become_graph_constants(selenium):
    """A captured weight (realized before the trace, at most CONST_MAX_BYTES) is built into
    the MLGraph as a constant: the graph's inputs are the arguments alone, and the answer is
    the lazy graph's, where the same weights are bound as inputs."""
    import array

    import webaccel as wa

    dev = wa.get_device("webnn")
    vals = array.array("f", [((i * 37) % 101) / 101 - 0.5 for i in range(24 * 8)])
    w = wa.tensor(vals, device=dev, shape=(24, 8)).realize()  # linear weight (out, in)
    b = wa.tensor(vals[:24], device=dev, shape=(24,)).realize()
    m = wa.tensor(vals, device=dev, shape=(24, 8)).realize()
    t = wa.tensor(vals[:64], device=dev, shape=(8, 8)).realize()  # read transposed: an input

    def f(x):
        return wa.linear(x, w, b).gelu() @ m + x @ t.T

    x = wa.tensor(vals[:40], device=dev, shape=(5, 8))
    want = f(x).tolist()
    captured = wa.capture(f)
    got = captured(x).tolist()
    (trace,) = captured.traces.values()
    kinds = sorted(trace.slot_sources[s][0] for s in trace.compiled.in_slots)
    assert kinds == ["arg", "const"], kinds  # w, b, m are constants; t.T is no contiguous read
    diffs = [abs(p - q) for r, s in zip(got, want, strict=True) for p, q in zip(r, s, strict=True)]
    assert max(diffs) < 1e-5
    previous, dev.CONST_MAX_BYTES = dev.CONST_MAX_BYTES, 0  # weights stay graph inputs
    try:
        again = wa.capture(f)
        # weights as graph inputs: the same ops as the lazy graph (matmul, not gemm), its bits
        assert again(x).tolist() == want
        (trace,) = again.traces.values()
        kinds = sorted(trace.slot_sources[s][0] for s in trace.compiled.in_slots)
        assert kinds == ["arg", "const", "const", "const", "const"], kinds
    finally:
        dev.CONST_MAX_BYTES = previous


@run_in_pyodide(packages=["webaccel"])
async def test_evicted_webnn_traces_release_their_graphs(selenium):
    """capture(max_traces=1) alternating two shapes: every switch traces again and closes the
    previous plan (MLGraph destroyed, plan tensors back to the device); answers stay right."""
    import array

    import webaccel as wa

    dev = wa.get_device("webnn")
    w = wa.tensor(array.array("f", [(i % 7) / 7 for i in range(64)]), device=dev, shape=(8, 8))
    w.realize()
    fn = wa.capture(lambda x: (x @ w).gelu(), max_traces=1)

    def want(rows):
        x = wa.tensor(array.array("f", [0.25] * rows * 8), device=dev, shape=(rows, 8))
        return (x @ w).gelu().tolist()

    plans = []
    for rows in (2, 3) * 3:
        data = array.array("f", [0.25] * rows * 8)
        x = wa.tensor(data, device=dev, shape=(rows, 8))
        assert fn(x).tolist() == want(rows)
        out = await fn.run_async(data)  # the host path makes plan-owned tensors too
        assert array.array("f", bytes(out)).tolist() == [v for row in want(rows) for v in row]
        (trace,) = fn.traces.values()
        plans.append(trace.runner)
    assert fn.evicted == 5
    assert all(p.closed and p.graph is None and p.plan is None for p in plans[:-1])
    assert not plans[-1].closed
    base = dev.memory()["nn_live_tensors"]
    plans[-1].close()
    assert dev.memory()["nn_live_tensors"] < base  # its argument/output tensors came back
    try:
        await plans[-1].run_host_async([bytes(24)], [0], [bytearray(24)])
    except RuntimeError as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("a closed plan ran")

"""The webgpu device end to end: lazy graphs lowered to WGSL kernels, one batch per run."""

from __future__ import annotations

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["webaccel"])
def test_graph_runs_on_webgpu(selenium):
    import array

    import webaccel as wa

    dev = wa.get_device("webgpu")
    a = wa.tensor(array.array("f", range(12)), device="webgpu").reshape(3, 4)
    b = wa.tensor([[1.0, 2.0, 3.0, 4.0]], device="webgpu")
    c = ((a + b) * 2.0 - 1.0).relu()
    got = c.tolist()
    want = [[max(0.0, (i * 4 + j + (j + 1)) * 2 - 1) for j in range(4)] for i in range(3)]
    assert got == want, got
    assert dev.cache.misses >= 1
    m = a @ a.T
    assert m.tolist()[0] == [14.0, 38.0, 62.0]
    s = wa.softmax(a, -1).sum(-1)
    assert all(abs(v - 1) < 1e-6 for v in s.tolist())


@run_in_pyodide(packages=["webaccel"])
def test_thousand_create_compute_free_cycles_return_to_baseline(selenium):
    import array

    import webaccel as wa

    dev = wa.get_device("webgpu")
    w = wa.tensor(array.array("f", [0.5] * 256), device="webgpu").reshape(16, 16)
    w.realize()
    base = dev.memory()
    for i in range(1000):
        x = wa.tensor(array.array("f", [float(i)] * 64), device="webgpu").reshape(4, 16)
        y = ((x @ w).relu() + 1.0).realize()  # computes every cycle
        if i % 100 == 0:
            assert y.tolist()[0][0] == i * 8.0 + 1.0
        del x, y
    after = dev.memory()
    assert after["live_bytes"] == base["live_bytes"], (base, after)
    assert after["live_storages"] == base["live_storages"], (base, after)
    assert after["gpu_live_bytes"] == base["gpu_live_bytes"], (base, after)
    assert after["gpu_live_buffers"] == base["gpu_live_buffers"], (base, after)
    # The graph was compiled once and then served from the cache.
    assert dev.cache.hits >= 999


@run_in_pyodide(packages=["webaccel"])
async def test_tensors_from_js_typed_arrays_and_async_reads(selenium):
    import js
    from pyodide.ffi import to_js

    import webaccel as wa

    f32 = js.Float32Array.new(to_js([1.5, -2.0, 3.25, 4.0]))
    t = wa.tensor(f32, device="webgpu").reshape(2, 2)
    assert await t.T.tolist_async() == [[1.5, 3.25], [-2.0, 4.0]]
    i32 = wa.tensor(js.Int32Array.new(to_js([7, -8, 9])), device="webgpu")
    assert i32.dtype == wa.int32 and i32.tolist() == [7, -8, 9]
    buf = js.Float32Array.new(to_js([1.0, 2.0])).buffer  # a bare ArrayBuffer needs a dtype
    assert wa.tensor(buf, dtype="float32", device="webgpu").tolist() == [1.0, 2.0]
    data = await (t * 2.0).read_async()
    assert len(data) == 16


@run_in_pyodide(packages=["webaccel"])
async def test_views_share_the_gpu_buffer(selenium):
    import array

    import webaccel as wa

    dev = wa.get_device("webgpu")
    x = wa.tensor(array.array("f", range(24)), device="webgpu").reshape(2, 3, 4)
    x.realize()
    before = dev.ctx.created_buffers
    views = [x.T, x[:, 1:, ::2], x.reshape(6, 4), x[0].expand(5, 3, 4), x.bitcast("int32")]
    assert all(v._node is x._node for v in views)
    assert dev.ctx.created_buffers == before  # no device buffer was made for any view
    assert views[1].tolist() == [[[4, 6], [8, 10]], [[16, 18], [20, 22]]]


@run_in_pyodide(packages=["webaccel"])
async def test_device_lost_gives_a_clear_error_and_reinit_works(selenium):
    import array

    import pytest

    import webaccel as wa
    from webaccel.backends.webgpu.runtime import DeviceLostError

    dev = wa.get_device("webgpu")
    x = wa.tensor(array.array("f", [1, 2, 3]), device="webgpu")
    dev.ctx.device.destroy()
    with pytest.raises(DeviceLostError, match="create_async"):
        (x + 1.0).tolist()
    fresh = await wa.init_async("webgpu")
    assert fresh is not dev and wa.get_device("webgpu") is fresh
    y = wa.tensor(array.array("f", [1, 2, 3]), device="webgpu")
    assert (y * 2.0).tolist() == [2.0, 4.0, 6.0]


@run_in_pyodide(packages=["webaccel"])
def test_captured_graph_replays_in_one_call_with_the_same_numbers(selenium):
    import array

    import webaccel as wa

    dev = wa.get_device("webgpu")
    w = wa.tensor(array.array("f", [((i * 7) % 5 - 2) / 4 for i in range(40)]), device="webgpu")
    w = w.reshape(8, 5)

    def block(x):
        return wa.layer_norm((x @ w).gelu() * 0.5 + 1.0, 5).softmax(-1)

    f = wa.capture(block)
    x = wa.tensor(array.array("f", [i / 10 for i in range(32)]), device="webgpu").reshape(4, 8)
    lazy = block(x).tolist()
    first = f(x).tolist()
    base = dev.memory()
    for _ in range(50):
        out = f(x)
        del out
    again = f(x).tolist()
    for a, b, c in zip(lazy, first, again, strict=True):
        assert all(abs(p - q) < 1e-6 and q == r for p, q, r in zip(a, b, c, strict=True))
    (trace,) = f.traces.values()
    assert trace.runner.dispatches <= 6  # matmul, fused elementwise, layer_norm, softmax
    after = dev.memory()
    assert after["gpu_live_buffers"] == base["gpu_live_buffers"]
    assert after["live_bytes"] == base["live_bytes"]

"""The webnn device end to end: lazy graphs lowered to one MLGraph each, MLTensor storages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = pytest.mark.lanes("headless-shell")

# The host lane's copy of this browser's opSupportLimits() (tests/test_webnn_lowering.py).
RECORDED_LIMITS = Path(__file__).parents[1] / "fixtures" / "webnn_op_support_limits.json"


@run_in_pyodide(packages=["webaccel"])
def test_graph_runs_on_webnn(selenium):
    import array

    import webaccel as wa

    dev = wa.get_device("webnn")
    a = wa.tensor(array.array("f", range(12)), device="webnn").reshape(3, 4)
    b = wa.tensor([[1.0, 2.0, 3.0, 4.0]], device="webnn")
    c = ((a + b) * 2.0 - 1.0).relu()
    want = [[max(0.0, (i * 4 + j + (j + 1)) * 2 - 1) for j in range(4)] for i in range(3)]
    assert c.tolist() == want
    assert dev.cache.misses >= 1
    assert (a @ a.T).tolist()[0] == [14.0, 38.0, 62.0]
    s = wa.softmax(a, -1).sum(-1)
    assert all(abs(v - 1) < 1e-6 for v in s.tolist())
    # views of a storage inside the graph: transpose, stepped slice, expand
    assert (a.T[::2] + 0).tolist() == [[0.0, 4.0, 8.0], [2.0, 6.0, 10.0]]
    assert (a[1:, ::-2] * 1).tolist() == [[7.0, 5.0], [11.0, 9.0]]
    assert (a[:1].expand(2, 4) + 0).tolist() == [[0.0, 1.0, 2.0, 3.0]] * 2
    # int8 / uint8 / int4 storage, cast in the graph
    q = wa.from_buffer(bytes([0x21, 0xF3]), (4,), "int4", device="webnn")
    assert q.cast("float32").tolist() == [1.0, 2.0, 3.0, -1.0]
    u = wa.from_buffer(bytes([0, 7, 255]), (3,), "uint8", device="webnn")
    assert (u.cast("float32") * 2.0).tolist() == [0.0, 14.0, 510.0]
    h = wa.tensor(array.array("f", [1.5, -2.0]), device="webnn").cast("float16")
    assert h.dtype == wa.float16 and (h * 2.0).cast("float32").tolist() == [3.0, -4.0]
    # a view whose every axis is broadcast (stride 0): one element, expanded
    one = wa.tensor(array.array("f", [5.0]), device="webnn")
    assert (one.expand(3) + 1.0).tolist() == [6.0, 6.0, 6.0]
    assert (a[1:2, 2:3].expand(2, 3) * 1.0).tolist() == [[6.0] * 3] * 2


@run_in_pyodide(packages=["webaccel"])
async def test_async_reads(selenium):
    import array

    import webaccel as wa

    t = wa.tensor(array.array("f", [1.5, -2.0, 3.25, 4.0]), device="webnn").reshape(2, 2)
    assert await t.T.tolist_async() == [[1.5, 3.25], [-2.0, 4.0]]
    data = await (t * 2.0).read_async()
    assert len(data) == 16


@run_in_pyodide(packages=["webaccel"])
def test_200_create_compute_free_cycles_return_to_baseline(selenium):
    import array

    import webaccel as wa

    dev = wa.get_device("webnn")
    w = wa.tensor(array.array("f", [0.5] * 256), device="webnn").reshape(16, 16)
    w.realize()
    warm = wa.tensor(array.array("f", [0.0] * 64), device="webnn").reshape(4, 16)
    ((warm @ w).relu() + 1.0).tolist()  # fill the pool once
    del warm
    base = dev.memory()
    for i in range(200):
        x = wa.tensor(array.array("f", [float(i)] * 64), device="webnn").reshape(4, 16)
        y = ((x @ w).relu() + 1.0).realize()  # computes every cycle
        if i % 50 == 0:
            assert y.tolist()[0][0] == i * 8.0 + 1.0
        del x, y
    after = dev.memory()
    for key in ("live_bytes", "live_storages", "nn_live_tensors", "nn_live_bytes"):
        assert after[key] == base[key], (key, base, after)
    # storages were reused from the pool, not made anew each cycle
    assert after["nn_created_tensors"] - base["nn_created_tensors"] <= 4, (base, after)
    assert after["nn_pooled_bytes"] <= base["nn_pooled_bytes"] + 1024, (base, after)
    assert dev.cache.hits >= 199


@run_in_pyodide(packages=["webaccel"])
def test_supports_follows_the_real_limits(selenium):
    import array

    import pytest

    import webaccel as wa
    from webaccel import ir

    dev = wa.get_device("webnn")
    limits = dev.limits.raw

    def step_of(t):
        nodes = ir.pending_nodes([t._node])
        program, _, _ = ir.lower(nodes, {t._node.id})
        return program.steps[-1]

    f = wa.tensor(array.array("f", range(6)), device="webnn").reshape(2, 3)
    i = wa.tensor(array.array("i", range(6)), device="webnn").reshape(2, 3)
    checks = {
        "matmul-f32": (step_of(f @ f.T), "float32" in limits["matmul"]["a"]["dataTypes"]),
        "matmul-i32": (step_of(i @ i.T), "int32" in limits["matmul"]["a"]["dataTypes"]),
        "gelu-f32": (step_of(f.gelu()), "float32" in limits["gelu"]["input"]["dataTypes"]),
        "sum-i32": (step_of(i.sum(1)), "int32" in limits["reduceSum"]["input"]["dataTypes"]),
        "softmax-rank7": (
            step_of(f.reshape(1, 1, 1, 1, 1, 2, 3).softmax(-1)),
            limits["softmax"]["input"]["rankRange"]["max"] >= 7,
        ),
        "div-rank6": (
            step_of(f.reshape(1, 1, 1, 1, 2, 3) / 2.0),
            limits["div"]["a"]["rankRange"]["max"] >= 6,
        ),
    }
    for name, (step, want) in checks.items():
        assert dev.supports(step) is want, (name, dev.why_unsupported(step))
    reason = dev.why_unsupported(checks["matmul-i32"][0])
    assert "matmul" in reason and "int32" in reason and "rank 2" in reason, reason
    # compile gives the same answer as a clear error naming op, data type and rank
    # (WebNNUnsupportedError is a NotImplementedError; a placement layer may wrap it)
    from webaccel.backends.webnn.device import WebNNUnsupportedError

    with pytest.raises(WebNNUnsupportedError, match=r"matmul.*int32.*rank"):
        dev.compile(ir.lower(ir.pending_nodes([(i @ i.T)._node]), set())[0])
    try:
        (i @ i.T).tolist()
    except NotImplementedError as exc:
        assert "matmul" in str(exc) and "int32" in str(exc) and "rank" in str(exc), exc
    else:
        raise AssertionError("int32 matmul ran on a context whose limits refuse it")


@run_in_pyodide(packages=["webaccel"])
def test_older_api_shape_gives_a_clear_error(selenium):
    import pytest
    from pyodide.code import run_js

    from webaccel.backends.webnn.device import WebNNDevice, WebNNError, check_api

    old = run_js(
        "({createTensor() {}, writeTensor() {}, opSupportLimits() { return {}; }, compute() {}})"
    )
    with pytest.raises(WebNNError, match="older WebNN API shape") as info:
        check_api(old)
    assert "dispatch" in str(info.value) and "readTensor" in str(info.value)
    with pytest.raises(WebNNError, match="dispatch"):
        WebNNDevice(old)


@run_in_pyodide(packages=["webaccel"])
def live_limits(selenium):
    import json

    import webaccel as wa
    from webaccel import _compat

    limits = wa.get_device("webnn").limits.raw
    return json.dumps({"userAgent": str(_compat.navigator().userAgent), "limits": limits})


def test_recorded_limits_are_this_browsers(selenium):
    """The host lane lowers against a recording of this browser's ``opSupportLimits()``; after
    a browser update, ``WEBACCEL_RECORD_WEBNN_LIMITS=1`` and this test re-record it."""
    live = json.loads(live_limits(selenium))
    if os.environ.get("WEBACCEL_RECORD_WEBNN_LIMITS") == "1":
        note = "opSupportLimits() of the lab's headless shell (re-record: see test_webnn_device.py)"
        text = json.dumps({"_recorded": note, **live}, indent=1, sort_keys=True)
        RECORDED_LIMITS.write_text(text + "\n")
    recorded = json.loads(RECORDED_LIMITS.read_text())
    changed = sorted(
        k
        for k in set(live["limits"]) | set(recorded["limits"])
        if live["limits"].get(k) != recorded["limits"].get(k)
    )
    assert not changed, (
        f"this browser ({live['userAgent']}) is not the one recorded "
        f"({recorded['userAgent']}): limits differ for {changed}; re-record with "
        "WEBACCEL_RECORD_WEBNN_LIMITS=1 pytest --lane headless-shell "
        "tests/browser/test_webnn_device.py -k recorded_limits"
    )

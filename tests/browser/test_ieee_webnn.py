"""IEEE agreement and malformed calls on the headless shell's WebNN (the only lane with WebNN).

Part one runs the edge cases of ``tests/webnn_ieee_cases.py`` (NaN, +-inf, -0.0, float32 and
float16 overflow, size-0 and size-1 dims, int32 wrap-around, out-of-range gather indices,
bitcast views) as ``realize`` would: each case's graph is lowered on the host, shipped into
Pyodide, optimized by the graph passes for the webnn device and compiled there (``captured``
cases through ``compile_captured``, their weights graph constants), and its outputs are checked
on the host against the float64 NumPy reference rounded to the dtype, zeros' signs included
for cases tagged ``signed-zero``.

Part two checks, through the public API in the page, the documented differences (what WebNN
gives instead, with the reason in ``webnn_ieee_cases.DIFFERENCES``) and a table of malformed
calls: each fails with a clear ``ValueError``/``TypeError`` naming the op, the shape, the
dtype and the rule, or gives the documented answer; never a raw JS error, an IndexError, a
RecursionError or a crashed tab.
"""

from __future__ import annotations

import pickle

import numpy as np
import op_cases
import pytest
from pytest_pyodide import run_in_pyodide
from recorded_ops import check, flush, flush_subnormals, record
from webnn_ieee_cases import CASES as RAW_CASES
from webnn_ieee_cases import DIFFERENCES, signed_zero_ok

import webaccel as wa

pytestmark = pytest.mark.lanes("headless-shell")

CASES = [flush_subnormals(c) for c in RAW_CASES]


def const_slots(case: op_cases.OpCase) -> list[int]:
    """The program input slots of a ``captured`` case's weights (every input but the first),
    as ``record`` lowers the case."""
    if "captured" not in case.tags:
        return []
    tensors = [wa.tensor(a) for a in case.inputs]
    out = case.fn(*tensors)
    from webaccel import ir
    from webaccel.tensor import apply

    dense = apply("contiguous", out)
    _, input_nodes, _ = ir.lower(ir.pending_nodes([dense._node]), {dense._node.id})
    return [input_nodes.index(t._node) for t in tensors[1:] if t._node in input_nodes]


@run_in_pyodide(packages=["webaccel"])
def run_programs(selenium, payload):
    import pickle

    import webaccel as wa
    from webaccel.dtypes import DTYPES
    from webaccel.engine.passes import optimize

    device = wa.get_device("webnn")
    results = []
    for program, inputs, positions, consts in pickle.loads(payload):
        storages = []
        try:
            storages = [
                device.upload(memoryview(data), numel, DTYPES[dtype])
                for data, numel, dtype in inputs
            ]
            optimized = optimize(program, device)  # the passes realize would run
            if consts:
                sources = [("const" if s in consts else "arg", s) for s in range(len(storages))]
                compiled = device.compile_captured(optimized, storages, sources)
            else:
                compiled = device.compile(optimized)
            outs = device.run(compiled, storages)
            storages += outs
            results.append(
                ("ok", [bytes(device.copy_out(outs[p].handle, outs[p].nbytes)) for p in positions])
            )
        except Exception as exc:
            results.append(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            for s in storages:
                s.release()
    return pickle.dumps(results)


@pytest.fixture(scope="module")
def ieee_results(selenium_module_scope) -> dict[str, tuple]:
    recorded = {c.id: (*record(c), const_slots(c)) for c in CASES}
    results = {}
    ids = list(recorded)
    for start in range(0, len(ids), 40):
        part = ids[start : start + 40]
        payload = pickle.dumps([(*recorded[i][:3], recorded[i][4]) for i in part])
        answers = pickle.loads(run_programs(selenium_module_scope, payload))
        for case_id, answer in zip(part, answers, strict=True):
            results[case_id] = (answer, recorded[case_id][3])
    return results


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ieee_case_on_webnn(case, ieee_results):
    check(case, ieee_results[case.id])
    if "signed-zero" in case.tags:
        (_, data), meta = ieee_results[case.id]
        got = [
            flush(np.frombuffer(d, dtype=dt).reshape(shape))
            for d, (shape, dt) in zip(data, meta, strict=True)
        ]
        assert not signed_zero_ok(case, got, op_cases.reference(case))


def test_every_difference_is_documented_with_its_reason():
    assert set(DIFFERENCES) == {
        "cast-f32-int32-out-of-range",
        "pow-int32-overflow",
        "summation-order",
        "subnormals",
    }
    assert all(len(reason) > 80 for reason in DIFFERENCES.values())


@run_in_pyodide(packages=["webaccel"])
def test_documented_differences_give_what_they_say(selenium):
    import array

    import webaccel as wa

    nan, inf = float("nan"), float("inf")
    x = wa.tensor(array.array("f", [nan, inf, -inf, 3e9, -3e9, 2.5]), device="webnn")
    # float32 -> int32 saturates (NumPy on x86: -2147483648 for each of the first five)
    saturated = [2147483647, 2147483647, -2147483648, 2147483647, -2147483648, 2]
    assert x.cast("int32").tolist() == saturated
    # an int32 pow beyond int32 gives -2**31 (NumPy wraps: 3**20 -> -808182895)
    b = wa.tensor(array.array("i", [3, 46341, 3]), device="webnn")
    e = wa.tensor(array.array("i", [20, 2, 19]), device="webnn")
    assert wa.pow(b, e).tolist() == [-(2**31), -(2**31), 1162261467]


@run_in_pyodide(packages=["webaccel"])
def test_malformed_calls_fail_clearly_on_webnn(selenium):
    import array

    import webaccel as wa
    from webaccel.backends.webnn.device import LimitError

    dev = wa.get_device("webnn")
    y = wa.tensor(array.array("f", [1.0, 2.0, 3.0]), device="webnn")
    base = dev.memory()

    def error_of(call):
        try:
            call()
        except Exception as exc:  # what a user would see
            return exc
        return None

    def clear(exc, *words):
        """A ValueError/TypeError (never a JS error, IndexError, RecursionError) whose
        message names each of *words*."""
        assert exc is not None, "no error"
        name = type(exc).__name__
        assert isinstance(exc, ValueError | TypeError), f"{name}: {exc}"
        assert not isinstance(exc, IndexError | RecursionError | ZeroDivisionError), name
        assert "JsException" not in name and "pyodide" not in type(exc).__module__, name
        for word in words:
            assert word in str(exc), (word, str(exc))

    # sizes beyond the context's limits: refused before anything is built, op/shape/dtype named
    limit = str(dev.limits.max_tensor_bytes)
    huge = error_of(lambda: (wa.zeros((2**29,), device="webnn") + 1).realize())
    # refused at the call (arguments.check_fits), before any graph is built: the op the user
    # called is named
    clear(huge, "zeros", "(536870912,)", "float32", "maxTensorByteLength", limit)
    assert isinstance(huge, LimitError)
    clear(error_of(lambda: wa.zeros((2**40,), device="webnn").realize()), "zeros", "1099511627776")
    clear(error_of(lambda: wa.zeros((-1, 2), device="webnn").realize()), "-1")
    clear(error_of(lambda: dev.storage(2**31, wa.float32)), "float32", limit)
    clear(error_of(lambda: wa.ones((2**16, 2**16), device="webnn").sum().realize()), limit)
    clear(error_of(lambda: y.reshape(-3)), "reshape")
    # valid calls that raised before: an expand to a higher rank, bitcast views, an empty
    # inner dimension, -2**31 / -1 (the browser's int32 div trapped: the tab crashed)
    assert (y.expand(2, 3) + 0).tolist() == [[1.0, 2.0, 3.0]] * 2
    assert (y.reshape(3, 1).expand(2, 3, 2) * 1).tolist()[1][2] == [3.0, 3.0]
    assert (y.bitcast("int32") + 0).tolist() == [1065353216, 1073741824, 1077936128]
    assert ((y * 2).bitcast("int32") + 0).tolist() == [1073741824, 1082130432, 1086324736]
    empty = wa.zeros((2, 0), device="webnn")
    assert wa.linear(empty, wa.zeros((3, 0), device="webnn"), y).tolist() == [[1.0, 2.0, 3.0]] * 2
    i = wa.tensor(array.array("i", [-(2**31), 7]), device="webnn")
    m = wa.tensor(array.array("i", [-1, 0]), device="webnn")
    assert (i / m).tolist() == [-(2**31), 0]
    # an out-of-range gather index is data: clamped to the nearest end, as documented
    idx = wa.tensor(array.array("i", [5, -7, -1]), device="webnn")
    assert wa.gather(y, idx).tolist() == [3.0, 1.0, 3.0]
    # nothing leaked on the way
    after = dev.memory()
    for key in ("live_storages", "nn_live_tensors"):
        assert after[key] <= base[key] + 12, (key, base, after)


@run_in_pyodide(packages=["webaccel"])
def test_ieee_guards_off_give_this_browsers_plain_ops(selenium):
    """Why the guards exist: with ``ieee=False`` the same calls give the plain WebNN answers
    (gemm and conv2d with non-constant weights clamp NaN/inf to 3.4e38, neg(+0) is +0, a
    layer_norm near 1e19 is NaN), so a fixed browser would be noticed here."""
    import array
    import math

    import webaccel as wa
    from webaccel.backends.webnn.device import WebNNDevice

    plain = WebNNDevice(wa.get_device("webnn").ctx, ieee=False)
    nan = float("nan")
    x = wa.tensor(array.array("f", [nan, 1.0]), device=plain, shape=(1, 2))
    w = wa.tensor(array.array("f", [1.0, 1.0]), device=plain, shape=(1, 2))
    assert wa.linear(x, w).tolist() == [[3.4028234663852886e38]]
    img = wa.tensor(array.array("f", [nan]), device=plain, shape=(1, 1, 1, 1))
    filt = wa.tensor(array.array("f", [2.0]), device=plain, shape=(1, 1, 1, 1))
    assert wa.conv2d(img, filt).tolist() == [[[[3.4028234663852886e38]]]]
    zero = wa.tensor(array.array("f", [0.0]), device=plain)
    assert math.copysign(1, (-zero).tolist()[0]) == 1.0
    big = wa.tensor(array.array("f", [1e20, 2e20, 3e20]), device=plain, shape=(1, 3))
    assert all(math.isnan(v) for v in wa.layer_norm(big, 3).tolist()[0])


@run_in_pyodide(packages=["webaccel"])
def test_float16_constants_and_a_half_power_on_webnn(selenium):
    """float16 graph constants are made in JS (a Float16Array handed to Python is a proxy
    Pyodide cannot make); x ** 0.5 is sqrt as ops.py defines it (NaN at -inf, -0.0 at -0.0)."""
    import math

    import webaccel as wa

    vals = [-3.0, -65504.0, float("-inf"), -0.0, 4.0, float("inf")]
    for dtype in ("float16", "float32"):
        x = wa.tensor(vals, dtype, device="webnn")
        got = (x**0.5).tolist()
        assert all(math.isnan(v) for v in got[:3]), got
        assert got[3] == 0.0 and math.copysign(1.0, got[3]) == -1.0, got
        assert got[4:] == [2.0, float("inf")], got
        arrays = wa.pow(x, wa.tensor([0.5] * 6, dtype, device="webnn")).tolist()
        assert arrays[2] == float("inf") and arrays[3] == 0.0, arrays  # C's pow of two arrays
    h = wa.tensor([float(i) for i in range(18)], "float16", device="webnn", shape=(1, 1, 6, 3))
    y = (h.contiguous()[:, :, ::2, 1:] * 0.5 + 0.25).cast("float32")
    assert y.tolist() == [[[[0.75, 1.25], [3.75, 4.25], [6.75, 7.25]]]]

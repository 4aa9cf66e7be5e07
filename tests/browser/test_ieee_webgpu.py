"""IEEE edge cases of every op on the webgpu device in the browser (SwiftShader in the chromium
lane): NaN/inf positions, signed zeros, overflow to inf in float32 and float16, float16 storage
of infinities, out-of-range ``gather`` indices. The cases and the checks: ``ieee_cases.py``
(shared with the node lane); how cases are recorded and shipped: ``recorded_ops.py``.
"""

from __future__ import annotations

import ieee_cases
import pytest
from pytest_pyodide import run_in_pyodide
from recorded_ops import ops_used, run_cases

import webaccel as wa

CASES = ieee_cases.lane_cases()
CHUNK = 60  # programs per browser call


@run_in_pyodide(packages=["webaccel"])
def run_programs(selenium, device_name, payload):
    import pickle

    import webaccel as wa
    from webaccel.dtypes import DTYPES

    device = wa.get_device(device_name)
    results = []
    for program, inputs, positions in pickle.loads(payload):
        storages = []
        try:
            storages = [
                device.upload(memoryview(data), numel, DTYPES[dtype])
                for data, numel, dtype in inputs
            ]
            outs = device.run(device.compile(program), storages)
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
def webgpu_results(selenium_module_scope) -> dict[str, tuple]:
    return run_cases(selenium_module_scope, run_programs, "webgpu", CASES, CHUNK)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ieee_case_on_webgpu(case, webgpu_results):
    ieee_cases.check(case, webgpu_results[case.id])


def test_errors_and_differences_name_cases():
    ids = {c.id for c in CASES}
    assert set(ieee_cases.ERRORS) <= ids and set(ieee_cases.DIFFERENCES) <= ids
    assert all(reason for reason in ieee_cases.DIFFERENCES.values())


def test_every_op_has_an_ieee_case():
    missing = set(wa.OPS) - ops_used(CASES)
    assert not missing, f"ops without an IEEE case: {sorted(missing)}"


@run_in_pyodide(packages=["webaccel"])
def test_out_of_range_gather_index_raises_when_read(selenium):
    """Eager and captured: the read raises once, naming the index, the axis and its size;
    everything after it runs normally."""
    import pytest

    import webaccel as wa
    from webaccel.backends.webgpu import IndexOutOfRangeError

    data = wa.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device="webgpu")
    good = wa.tensor([2, -3], dtype="int32", device="webgpu")
    bad = wa.tensor([0, 3], dtype="int32", device="webgpu")
    rule = r"gather: index 3 is out of range for axis 1 of size 3"
    with pytest.raises(IndexOutOfRangeError, match=rule):
        wa.gather(data, bad, 1).tolist()
    assert wa.gather(data, good, 1).tolist() == [[3.0, 1.0], [6.0, 4.0]]
    with pytest.raises(IndexError, match=r"index -3 is out of range for axis 0 of size 2"):
        wa.gather(data, wa.tensor([-3, 1, 9], dtype="int32", device="webgpu")).tolist()

    f = wa.capture(lambda d, i: wa.gather(d, i, 1) * 2.0)
    assert f(data, good).tolist() == [[6.0, 2.0], [12.0, 8.0]]
    with pytest.raises(IndexOutOfRangeError, match=rule):
        f(data, bad).tolist()
    assert f(data, good).tolist() == [[6.0, 2.0], [12.0, 8.0]]
    assert (data + 1.0).tolist() == [[2.0, 3.0, 4.0], [5.0, 6.0, 7.0]]


@pytest.mark.lanes("chromium")  # the WGSL does not depend on the Pyodide: one lane is enough
@pytest.mark.driver_timeout(900)  # SwiftShader compiles the big tiled kernels slowly
def test_every_float_matmul_kernel_keeps_nan_and_inf(selenium):
    """Each shared-memory tile config, direct and register-tiled ones, at odd sizes (bounds
    checks, zero-filled tile edges: a clamped load meeting an inf would make NaN): NaN and inf
    exactly where float64 NumPy has them."""
    import numpy as np
    from test_webgpu_kernels import Cases, _mm_tol, f32

    from webaccel.backends.webgpu.kernels.matmul_direct import MATMUL_DIRECT_CONFIGS
    from webaccel.backends.webgpu.kernels.matmul_reg import MATMUL_REG_CONFIGS
    from webaccel.backends.webgpu.kernels.matmul_tiled import MATMUL_CONFIGS

    a, b = f32(37, 29), f32(29, 41)
    a[0, 0], a[5, 28], a[36, 3], a[20, :] = np.nan, np.inf, -np.inf, 0.0
    b[28, 40], b[3, 7], b[0, 1] = np.inf, np.nan, -np.inf
    c = Cases()
    sa, va = c.dense(a)
    sb, vb = c.dense(b)
    # every tiled config; a square, a tall and a matvec direct one (SwiftShader compiles slowly)
    direct = ["direct_8x8_4x4", "direct_8x8_8x16", "direct_64x1_1x4"]
    assert set(direct) <= set(MATMUL_DIRECT_CONFIGS)
    configs = [*MATMUL_CONFIGS, *direct, next(iter(MATMUL_REG_CONFIGS))]
    with np.errstate(invalid="ignore"):
        want = va.astype(np.float64) @ vb
    for cfg in configs:
        c.add(f"{cfg} special", "matmul", {"a": sa, "b": sb}, ["@a", "@b"], {"config": cfg},
              want, *_mm_tol(29))  # fmt: skip
    c.check(selenium)

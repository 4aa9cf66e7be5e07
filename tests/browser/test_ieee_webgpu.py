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


def test_every_op_has_an_ieee_case():
    missing = set(wa.OPS) - ops_used(CASES) - {"linear_q", "dequantize"}
    assert not missing, f"ops without an IEEE case: {sorted(missing)}"

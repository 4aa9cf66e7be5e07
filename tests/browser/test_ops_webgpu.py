"""The host op-set suite (``tests/op_cases.py``), run on the webgpu device in the browser.

How cases are recorded, shipped and checked: ``recorded_ops.py`` (shared with the WebNN lane).

Cases on uint8/int8/int4 data are not sent: on WebGPU those dtypes are weight storage, read only
by the dequantizing kernels (``linear_q``, ``dequantize``: the cases tagged "quant" run);
``test_weight_storage_dtypes_are_refused`` checks that computing on them otherwise gives a clear
error instead.
"""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide
from recorded_ops import check, flush_subnormals, op_cases, ops_used, run_cases

import webaccel as wa

STORAGE_ONLY = ("uint8", "int8", "int4")
CHUNK = 60  # programs per browser call


def _uses_storage_dtypes(case: op_cases.OpCase) -> bool:
    if "quant" in case.tags:  # int8/int4 codes read by the dequantizing kernels: they run
        return False
    if case.dtype in STORAGE_ONLY or any(a.dtype.name in STORAGE_ONLY for a in case.inputs):
        return True
    return any(name in case.id for name in STORAGE_ONLY)


CASES = [flush_subnormals(c) for c in op_cases.CASES if not _uses_storage_dtypes(c)]


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
def test_op_case_on_webgpu(case, webgpu_results):
    check(case, webgpu_results[case.id])


def test_every_op_is_covered_on_webgpu():
    missing = set(wa.OPS) - ops_used(CASES)
    assert not missing, f"ops without a webgpu case: {sorted(missing)}"


@run_in_pyodide(packages=["webaccel"])
def test_weight_storage_dtypes_are_refused(selenium):
    import pytest

    import webaccel as wa

    w = wa.from_buffer(bytes(range(8)), (8,), "int8", device="webgpu")
    # No NumPy in this Pyodide, so no cpu backend to fall back to: a clear refusal.
    with pytest.raises(NotImplementedError, match=r"webgpu does not support cast\(int8"):
        w.cast("float32").tolist()

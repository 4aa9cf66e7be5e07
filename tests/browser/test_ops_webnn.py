"""The host op-set suite (``tests/op_cases.py``), run on the webnn device in the headless shell.

As in ``test_ops_webgpu.py``: each case's graph is built on the host, lowered to its
``Program`` and shipped with its input bytes into Pyodide, where the webnn device compiles it to
one ``MLGraph`` and dispatches it exactly as ``realize`` would; the outputs come back as bytes and
are checked here against the float64 NumPy reference with the case's tolerance.

This browser's WebNN (TFLite/XNNPACK on the CPU) flushes subnormal float32 values to zero, so,
as in the WebGPU lane, subnormal inputs are replaced by signed zeros before a case runs (on both
sides) and subnormal results count as zero; everything else is compared as on the host.

Unlike WebGPU, WebNN takes uint8/int8/int4 storage (``cast`` and ``dequantizeLinear``), so those
cases run too. No case is dropped silently: ``EXCLUDED`` (``tests/webnn_exclusions.py``, shared
with the host lane's check against the recorded limits) lists every case that does not run here,
with its reason, and ``test_exclusions_are_real`` checks each one against the browser: a
``"limits"`` exclusion must be refused by ``supports()`` from the real ``opSupportLimits()``, a
``"spec"`` exclusion must really give a different answer (so a fixed browser un-excludes it).
"""

from __future__ import annotations

import pickle

import pytest
from pytest_pyodide import run_in_pyodide
from recorded_ops import check, flush_subnormals, op_cases, ops_used, record, run_cases
from webnn_exclusions import EXCLUDED  # importable: recorded_ops put tests/ on sys.path

import webaccel as wa

pytestmark = pytest.mark.lanes("headless-shell")

CHUNK = 80  # programs per browser call

CASES = [flush_subnormals(c) for c in op_cases.CASES]
RUN = [c for c in CASES if c.id not in EXCLUDED]


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
def webnn_results(selenium_module_scope) -> dict[str, tuple]:
    return run_cases(selenium_module_scope, run_programs, "webnn", RUN, CHUNK)


@pytest.mark.parametrize("case", RUN, ids=[c.id for c in RUN])
def test_op_case_on_webnn(case, webnn_results):
    check(case, webnn_results[case.id])


def test_every_op_is_covered_on_webnn():
    missing = set(wa.OPS) - ops_used(RUN)
    assert not missing, f"ops without a webnn case: {sorted(missing)}"


@run_in_pyodide(packages=["webaccel"])
def why_unsupported(selenium, payload):
    import pickle

    import webaccel as wa

    device = wa.get_device("webnn")
    out = []
    for program in pickle.loads(payload):
        out.append([device.why_unsupported(program)])
    return pickle.dumps((out, device.limits.raw))


def test_exclusions_are_real(selenium_module_scope):
    by_id = {c.id: c for c in CASES}
    assert set(EXCLUDED) <= set(by_id), sorted(set(EXCLUDED) - set(by_id))
    limited = [i for i, (kind, _) in EXCLUDED.items() if kind == "limits"]
    spec = [i for i, (kind, _) in EXCLUDED.items() if kind == "spec"]
    assert set(limited) | set(spec) == set(EXCLUDED), "kinds are 'limits' or 'spec'"
    payload = pickle.dumps([record(by_id[i])[0] for i in limited])
    reasons, limits = pickle.loads(why_unsupported(selenium_module_scope, payload))
    for case_id, per_step in zip(limited, reasons, strict=True):
        refused = [r for r in per_step if r is not None]
        assert refused, f"{case_id} is excluded for the limits, but its program is supported"
        # the refusal names an op of the real limits object and a data type it does not allow
        for reason in refused:
            op = reason.split("WebNN ", 1)[1].split(":", 1)[0] if "WebNN " in reason else None
            assert op is None or op not in limits or "not supported" in reason, reason
    results = run_cases(selenium_module_scope, run_programs, "webnn", [by_id[i] for i in spec])
    for case_id in spec:
        with pytest.raises(AssertionError):
            check(by_id[case_id], results[case_id])


def test_unexcluded_cases_are_supported_by_the_limits(selenium_module_scope):
    """The limits check agrees with what runs: no case outside EXCLUDED is refused."""
    payload = pickle.dumps([record(c)[0] for c in RUN])
    reasons, _ = pickle.loads(why_unsupported(selenium_module_scope, payload))
    refused = {c.id: [r for r in per_step if r] for c, per_step in zip(RUN, reasons, strict=True)}
    refused = {k: v for k, v in refused.items() if v}
    assert not refused, refused

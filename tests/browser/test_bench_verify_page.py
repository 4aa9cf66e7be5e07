"""`webaccel bench verify`'s page in the pyodide-0.27 lane (NumPy in the page, the cpu
reference): all-MiniLM-L6-v2 on WebGPU, one short case, few samples. Every figure is measured,
the on side's first calls are checked, verify leaves the embeddings unchanged and finds no
disagreement (the figures themselves come from the command, not from a test)."""

from __future__ import annotations

import pytest

from webaccel_lab.benchmarks import verify_runner

pytestmark = pytest.mark.lanes("pyodide-0.27")


def test_bench_verify_page(lane):
    config = {"cases": [[16, 1]], "first_samples": 1, "samples": 2, "min_samples": 2}
    result = verify_runner.run_verify(lane.name, config, timeout=600)
    assert result["errors"] == {}, result["errors"]
    assert result["device"] == "webgpu" and result["pyodide"].startswith("0.27")
    (case,) = result["cases"]
    assert (case["seq"], case["batch"]) == (16, 1)
    for key in verify_runner.CASE_KEYS:
        assert case[key] > 0, key
    assert case["first_ratio"] == pytest.approx(case["on_first_ms"] / case["off_first_ms"])
    assert case["steady_ratio"] == pytest.approx(case["on_ms"] / case["off_ms"])
    assert case["programs_checked"] >= 1 and case["reference_ms"] > 0
    assert case["bytes_read"] > 80e6  # the first check reads the weights back (90 MB)
    assert case["steady_checks"] == 0 and case["outputs_equal"] is True
    assert result["disagreements"] == 0, result["disagreement_details"]
    assert result["programs_checked"] >= 1 and result["reference_ms"] > 0
    assert verify_runner.complete(result)

"""`webaccel bench ops --backend webnn`: the WebNN page at small sizes, in the headless shell."""

from __future__ import annotations

import pytest

from webaccel_lab.benchmarks import runner

pytestmark = pytest.mark.lanes("headless-shell")

SMALL = {
    "matmul": [64],
    "conv2d": {"height": 8, "width": 8, "in_channels": 4, "out_channels": 8},
    "rows": [16, 64],
    "block": {"seq": 8, "width": 32, "heads": 4, "mlp": 64},
    "warmup": 2,
    "warmup_ms": 20,
    "sample_ms": 5,
    "samples": 3,
    "case_budget_ms": 500,
    "compare_samples": 5,
    "compare_budget_ms": 1000,
}


def test_bench_webnn_page(lane):
    result = runner.run_webnn(lane.name, SMALL, timeout=300)
    assert result["backend"] == "webnn" and result["lane"] == lane.name
    assert result["errors"] == {}, result["errors"]
    assert [r["op"].split()[0] for r in result["ops"]] == [
        "matmul",
        "conv2d",
        "softmax",
        "layer_norm",
        "gelu",
        "add",
    ]
    for row in result["ops"]:
        assert row["ms"] > 0 and row["webgpu_ms"] > 0, row
        assert row["cpu_ms"] is None  # no NumPy in Pyodide 314
        assert row["max_abs_diff"]["webgpu"] < 1e-4, row  # webgpu agrees with webnn
    assert result["block_ms"]["webnn"] > 0 and result["block_ms"]["webgpu"] > 0
    assert result["block_ms"]["cpu"] is None and "NumPy" in result["cpu_reason"]
    assert result["block_max_abs_diff"]["webgpu"] < 1e-4
    cmp_ = result["vs_plain_js"]
    assert result["vs_plain_js_ratio"] > 0
    assert cmp_["webaccel_ms"] > 0 and cmp_["plain_js_ms"] > 0 and cmp_["plain_js_inner_ms"] > 0
    assert cmp_["max_abs_diff"] < 1e-5  # the same graph on both sides
    assert runner.complete_webnn(result)
    table = runner.format_webnn_table(result)
    assert "block seq 8 width 32 heads 4 mlp 64" in table and "ratio" in table

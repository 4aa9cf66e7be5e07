"""`webaccel bench bert`'s page in the headless shell: webaccel and onnxruntime-web run the same
model on the same token ids and agree; every requested pair is timed (a short config here: the
figures themselves come from the command, not from a test)."""

from __future__ import annotations

import pytest

from webaccel_lab.benchmarks import runner

pytestmark = pytest.mark.lanes("headless-shell")


def test_bench_bert_page_compares_with_onnxruntime_web(lane):
    config = {
        "cases": [[16, 2]],
        "pairs": [["webnn", "webnn"], ["webnn", "wasm"], ["webgpu", "webgpu"]],
        "samples": 3,
        "case_budget_ms": 3000.0,
    }
    result = runner.run_bert(lane.name, config, timeout=600)
    assert result["errors"] == {}, result["errors"]
    pairs = {(r["backend"], r["ep"]) for r in result["rows"]}
    assert pairs == {("webnn", "webnn"), ("webnn", "wasm"), ("webgpu", "webgpu")}
    for row in result["rows"]:
        assert "error" not in row, row
        assert row["seq"] == 16 and row["batch"] == 2
        assert row["ours_ms"] > 0 and row["ort_ms"] > 0
        assert row["ratio"] == pytest.approx(row["ours_ms"] / row["ort_ms"])
        assert row["max_abs_diff"] < 1e-4  # same weights, same ids: the same embeddings
    assert set(result["median_ratio"]) >= {"webnn/webnn", "webnn/wasm", "cpu-side/wasm"}

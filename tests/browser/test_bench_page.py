"""The benchmark page (`webaccel bench ops`): TF.js's WebGPU backend and webaccel in one page.

Small sizes and short budgets keep it fast; the numbers only have to be real and positive.
The webaccel side must measure on the webgpu device once the package registers one (asked
through the public API on the host); until then the page must report the missing device
cleanly and still measure TF.js.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import webaccel
from webaccel_lab.benchmarks import runner

SMALL = {
    "sizes": [64, 128],
    "conv2d": {"height": 16, "width": 16, "in_channels": 8, "out_channels": 16},
    "warmup_ms": 50,
    "sample_ms": 20,
    "budget_ms": 400,
    "min_samples": 3,
    "max_samples": 5,
    "overhead": {"chain": [1, 4, 8], "runs": 5, "samples": 3},
}


def webgpu_registered() -> bool:
    """Whether the package registers a webgpu device (creating it fails on the host)."""
    try:
        webaccel.get_device("webgpu")
    except Exception as exc:
        return "unknown backend 'webgpu'" not in str(exc)
    return True


def assert_tfjs_side(result):
    assert result["tfjs"]["backend"] == "webgpu"
    assert result["tfjs"]["version"] == "4.22.0"
    assert [row["n"] for row in result["matmul"]] == [64, 128]
    for row in [*result["matmul"], result["conv2d"]]:
        assert row["tfjs_gflops"] > 0, row
        assert row["tfjs_ms"] > 0, row
    assert "tfjs" not in result["errors"]


def assert_webaccel_side(result):
    for row in [*result["matmul"], result["conv2d"]]:
        assert row["gflops"] > 0, row
        assert row["check_max_abs_err"] < 1e-3, row  # the results were right
        assert row["ratio"] == pytest.approx(row["gflops"] / row["tfjs_gflops"])
    overhead = result["overhead_us"]
    for key in ("eager_per_op", "graph_per_run", "graph_per_op"):
        assert isinstance(overhead[key], float), overhead
    assert overhead["eager_per_op"] > 0
    # every timed graph run hit the structural cache
    runs = SMALL["overhead"]["runs"] * SMALL["overhead"]["samples"]
    assert set(overhead["graph_cache_hits"].values()) == {runs}
    assert result["errors"] == {}
    assert runner.complete(result)


@pytest.mark.lanes("chromium", "headless-shell")
def test_bench_page_webgpu(lane):
    result = runner.shape_result(runner.run_page(lane.name, SMALL, timeout=600), lane.name)
    assert result["lane"] == lane.name
    assert result["device"]["available"] is True
    assert result["device"]["architecture"] == "swiftshader"
    assert result["device"]["webaccel_device"] == "webgpu"
    assert result["config"]["sizes"] == SMALL["sizes"]
    assert_tfjs_side(result)
    if webgpu_registered():
        assert_webaccel_side(result)
    else:  # the harness ran and reported the missing device by name
        assert "unknown backend 'webgpu'" in result["errors"]["webaccel"]
        assert all(row["gflops"] is None for row in result["matmul"])
        assert not runner.complete(result)


@pytest.mark.lanes("pyodide-0.27")
def test_bench_page_harness_on_cpu(lane):
    """The whole harness in the browser on the cpu device (NumPy in this lane)."""
    result = runner.shape_result(
        runner.run_page(lane.name, {**SMALL, "device": "cpu"}, timeout=600), lane.name
    )
    assert result["device"]["webaccel_device"] == "cpu"
    assert result["python"].startswith("3.12")
    assert_tfjs_side(result)
    assert_webaccel_side(result)


@pytest.mark.lanes("chromium")
def test_bench_cli_json(lane):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "webaccel_lab",
            "bench",
            "ops",
            "--json",
            "--lane",
            lane.name,
            "--sizes",
            "64",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == (0 if webgpu_registered() else 1), out.stderr
    result = json.loads(out.stdout)
    assert {"matmul", "conv2d", "overhead_us", "device", "lane"} <= set(result)
    (row,) = result["matmul"]
    assert {"n", "gflops", "tfjs_gflops", "ratio"} <= set(row)
    assert row["n"] == 64 and row["tfjs_gflops"] > 0
    assert {"eager_per_op", "graph_per_run", "graph_per_op"} <= set(result["overhead_us"])
    assert result["device"]["vendor"] == "google"

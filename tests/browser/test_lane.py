"""Each browser lane has what it must have; a lane without it fails here (never skips)."""

from __future__ import annotations

import json

import pytest
from pytest_pyodide import run_in_pyodide

from webaccel_lab import lab


@run_in_pyodide(packages=["webaccel"])
async def detect_in_pyodide(selenium):
    import json

    import webaccel

    return json.dumps(await webaccel.detect_async())


@pytest.fixture(scope="module")
def report(selenium_module_scope, lane) -> dict:
    if lane.packages:  # what the lane loads before webaccel (NumPy in pyodide-0.27)
        selenium_module_scope.load_package(list(lane.packages))
    return json.loads(detect_in_pyodide(selenium_module_scope))


def test_lane_has_its_requirements(report, lane):
    assert report["host"] == "browser"
    assert report["pyodide"] == lane.pyodide
    assert lab.unmet_requirements(lane, report) == []


def test_webgpu_adapter_really_computes(report):
    gpu = report["webgpu"]
    assert gpu["available"], gpu["error"]
    assert gpu["compute_ok"] is True
    assert gpu["limits"]["maxStorageBufferBindingSize"] >= 128 << 20
    assert gpu["limits"]["maxComputeInvocationsPerWorkgroup"] >= 256


@pytest.mark.lanes("chromium", "pyodide-0.27")
def test_debian_chromium_has_swiftshader_and_no_webnn_backend(report):
    gpu = report["webgpu"]
    assert (gpu["vendor"], gpu["architecture"], gpu["is_fallback"]) == (
        "google",
        "swiftshader",
        True,
    )
    assert gpu["software"] is True
    # navigator.ml exists with the feature flag, but no WebNN backend is compiled in.
    assert report["webnn"]["available"] is False
    assert "NotSupportedError" in report["webnn"]["error"]
    assert report["tier"] == "software-gpu"


@pytest.mark.lanes("headless-shell")
def test_headless_shell_has_webnn(report):
    nn = report["webnn"]
    assert nn["available"], nn["error"]
    assert nn["op_count"] >= 90
    assert nn["dispatch_ok"] is True
    assert nn["preferred_layout"] == "nhwc"
    assert {"float32", "float16", "int8", "int4"} <= set(nn["data_types"])
    assert {"matmul", "conv2d", "softmax", "gelu", "layerNormalization"} <= set(nn["ops"])
    assert report["tier"] == "webnn"


@pytest.mark.lanes("pyodide-0.27")
def test_pyodide_027_has_numpy(report):
    assert report["python"].startswith("3.12.")
    assert report["numpy"] == "2.0.2"


@pytest.mark.lanes("pyodide-0.27")
@run_in_pyodide(packages=["numpy"])
def test_numpy_computes_in_pyodide(selenium):
    import numpy as np

    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert (a @ a.T).tolist() == [[14.0, 38.0, 62.0], [38.0, 126.0, 214.0], [62.0, 214.0, 366.0]]


def test_storage_probe(report):
    storage = report["storage"]
    assert storage["indexeddb"] is True, storage["error"]
    assert storage["quota"] > 0

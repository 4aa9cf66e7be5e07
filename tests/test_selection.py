"""Backend choice on the host (only the cpu backend exists on CPython)."""

from __future__ import annotations

import pytest

import webaccel as wa
from webaccel import selection


def test_auto_on_cpython_is_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBACCEL_CACHE_DIR", str(tmp_path))
    assert wa.init("auto").name == "cpu"
    assert wa.init("cpu").name == "cpu"


def test_unavailable_backend_names_what_is(monkeypatch):
    with pytest.raises(wa.WebAccelError) as err:
        wa.init("webgpu")
    text = str(err.value)
    assert "backend 'webgpu' is not available here" in text
    assert "not running under Pyodide" in text and "available: cpu" in text
    with pytest.raises(ValueError, match="backend must be"):
        wa.init("tpu")


REPORTS = {
    "hardware-gpu": ({"available": True}, {"available": True}, "2.0", ["webgpu", "webnn", "cpu"]),
    "webnn": ({"available": True}, {"available": True}, None, ["webnn", "webgpu"]),
    "software-gpu": (
        {"available": True},
        {"available": False, "error": "x"},
        "2",
        ["webgpu", "cpu"],
    ),
    "cpu-only": (
        {"available": False, "error": "y"},
        {"available": False, "error": "x"},
        "2",
        ["cpu"],
    ),
}


@pytest.mark.parametrize("tier", list(REPORTS))
def test_candidates_follow_the_tier(tier):
    gpu, nn, numpy, want = REPORTS[tier]
    cpu = {"available": True, "error": None} if numpy else {"available": False, "error": "z"}
    report = {"tier": tier, "webgpu": gpu, "webnn": nn, "cpu": cpu, "numpy": numpy}
    assert selection.candidates(report) == want


def test_calibration_is_cached_per_host(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBACCEL_CACHE_DIR", str(tmp_path))
    ms = selection.calibration_ms_async  # real timing on the cpu device
    import asyncio

    assert asyncio.run(ms(wa.get_device("cpu"), size=32)) > 0
    selection._save_cache({"host": {"choice": "cpu", "ms": {"cpu": 1.0}}})
    assert selection._load_cache()["host"]["choice"] == "cpu"
    (tmp_path / "calibration.json").write_text("{not json")
    assert selection._load_cache() == {}

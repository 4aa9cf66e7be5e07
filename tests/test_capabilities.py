"""detect() on CPython, and the tier/recommendation rules it applies to what it found."""

from __future__ import annotations

import json

import pytest

import webaccel
from webaccel import capabilities as capabilities


def test_detect_on_cpython_reports_cpu_only():
    report = webaccel.detect()
    json.dumps(report)  # JSON-ready
    assert report["host"] == "cpython"
    assert report["pyodide"] is None
    assert report["jspi"] is False
    assert report["webgpu"]["available"] is False
    assert "not running under Pyodide" in report["webgpu"]["error"]
    assert report["webnn"]["available"] is False
    assert report["storage"]["indexeddb"] is False
    assert report["tier"] == "cpu-only"
    assert report["recommendations"][0].startswith("No accelerator works here")


@pytest.mark.asyncio
async def test_detect_async_on_cpython_and_sync_inside_a_loop_is_refused():
    assert (await webaccel.detect_async())["tier"] == "cpu-only"
    with pytest.raises(webaccel.SyncUnavailableError, match="await detect_async"):
        webaccel.detect()


def _report(gpu: dict | None = None, nn: dict | None = None, **extra) -> dict:
    base = {
        "host": "browser",
        "jspi": True,
        "numpy": "2.0.2",
        "webgpu": {"available": False, "error": "navigator.gpu is missing"},
        "webnn": {"available": False, "error": "NotSupportedError: no backend"},
        "storage": {"indexeddb": True},
    }
    if gpu is not None:
        base["webgpu"] = {"available": True, "error": None, **gpu}
    if nn is not None:
        base["webnn"] = {"available": True, "error": None, **nn}
    return {**base, **extra}


SWIFTSHADER = {
    "vendor": "google",
    "architecture": "swiftshader",
    "is_fallback": True,
    "software": True,
    "shader_f16": False,
}
NVIDIA = {
    "vendor": "nvidia",
    "architecture": "hopper",
    "is_fallback": False,
    "software": False,
    "shader_f16": False,
}
WEBNN = {"op_count": 95, "devices": ["cpu"], "preferred_layout": "nhwc"}


@pytest.mark.parametrize(
    ("gpu", "nn", "tier"),
    [
        (NVIDIA, None, "hardware-gpu"),
        (NVIDIA, WEBNN, "hardware-gpu"),
        (SWIFTSHADER, WEBNN, "webnn"),
        (None, WEBNN, "webnn"),
        (SWIFTSHADER, None, "software-gpu"),
        (None, None, "cpu-only"),
    ],
)
def test_tier_ranks_real_gpu_then_webnn_then_software(gpu, nn, tier):
    assert capabilities.tier_of(_report(gpu, nn)) == tier


def test_recommendations_say_why_in_plain_words():
    advice = capabilities.recommendations(_report(SWIFTSHADER, WEBNN, numpy=None, jspi=False))
    text = "\n".join(advice)
    assert "backend='webnn'" in text
    assert "software emulation" in text
    assert "NumPy is not installed" in text
    assert "No JSPI" in text
    hw = "\n".join(capabilities.recommendations(_report(NVIDIA)))
    assert "backend='webgpu'" in hw and "No shader-f16" in hw
    cpu = "\n".join(capabilities.recommendations(_report()))
    assert "navigator.gpu is missing" in cpu and "NotSupportedError" in cpu


def test_format_report_is_readable():
    text = webaccel.format_report(webaccel.detect())
    assert "tier      cpu-only" in text

"""`webaccel footprint` in the headless shell: the runtime wheel's size and a real, timed cold
`import webaccel` from the footprint page."""

from __future__ import annotations

import pytest

from webaccel_lab import footprint, wheels

pytestmark = pytest.mark.lanes("headless-shell")


def test_footprint_measures_the_wheels_and_the_import(lane):
    runtime, pages = wheels.build_page_wheels()
    result = footprint.measure(lane.name, loads=2, timeout=240)
    assert result["wheel"] == runtime.name and result["wheel_bytes"] == runtime.stat().st_size
    assert result["pages_wheel"] == pages.name
    assert result["pages_wheel_bytes"] == pages.stat().st_size
    assert result["pyodide"] == lane.pyodide
    assert len(result["import_ms_runs"]) == 2 and all(ms > 0 for ms in result["import_ms_runs"])
    assert min(result["import_ms_runs"]) <= result["import_ms"] <= max(result["import_ms_runs"])
    assert result["install_ms"] > 0
    assert result["webaccel_modules"] >= 10  # the package and its submodules really imported

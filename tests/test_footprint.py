"""`webaccel footprint`'s arguments, checks and text; the measurement itself runs in the
headless shell (tests/browser/test_footprint_page.py)."""

from __future__ import annotations

import pytest

from webaccel_lab import cli, footprint, lab

RESULT = {
    "lane": "headless-shell",
    "pyodide": "314.0.7",
    "wheel": "webaccel-0.1.0-py3-none-any.whl",
    "wheel_bytes": 242652,
    "pages_wheel": "webaccel_pages-0.1.0-py3-none-any.whl",
    "pages_wheel_bytes": 29246,
    "import_ms": 498.2,
    "import_ms_runs": [569.0, 498.2, 480.0],
    "install_ms": 121.0,
    "webaccel_modules": 34,
    "loads": 3,
}


def test_format_text_names_both_wheels_and_the_median():
    text = footprint.format_text(RESULT)
    assert "runtime wheel  webaccel-0.1.0-py3-none-any.whl: 242,652 bytes (237.0 KiB)" in text
    assert "pages wheel    webaccel_pages-0.1.0-py3-none-any.whl: 29,246 bytes" in text
    assert "import webaccel in Pyodide 314.0.7 (headless-shell): 498 ms, median of 3" in text
    assert "(569, 498, 480 ms)" in text
    other = footprint.format_text({**RESULT, "pages_wheel": None, "pages_wheel_bytes": None})
    assert "pages wheel" not in other


def test_measure_rejects_what_it_cannot_measure(tmp_path):
    with pytest.raises(ValueError, match="loads: at least 1"):
        footprint.measure(loads=0)
    with pytest.raises(lab.LabError, match="browser lane, not 'host'"):
        footprint.measure("host")
    with pytest.raises(lab.LabError, match="no wheel at"):
        footprint.measure(wheel=tmp_path / "missing.whl")


def test_cli_footprint_arguments():
    args = cli.build_parser().parse_args(["footprint", "--json", "--loads", "3", "--wheel", "w"])
    assert args.func is cli.cmd_footprint
    assert (args.json, args.loads, args.wheel, args.lane) == (True, 3, "w", "headless-shell")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["footprint", "--lane", "host"])

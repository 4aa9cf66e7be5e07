"""``webaccel footprint``: what the runtime costs a page. The runtime wheel's bytes (and the
pages wheel's), and the cold ``import webaccel`` inside Pyodide: ``static_site/footprint.html``
installs the wheel with micropip, then times ``runPythonAsync("import webaccel")`` with
``performance.now()``; each load is a fresh page (a fresh Pyodide, nothing compiled yet), and the
figure is the median over ``loads`` of them.

``--wheel PATH`` measures another runtime wheel the same way (an older commit's, to compare).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from . import lab, wheels
from .benchmarks.runner import page_url, read_bench_result
from .serve import serving

PAGE = "footprint.html"


def measure(
    lane_name: str = "headless-shell",
    wheel: Path | None = None,
    pages_wheel: Path | None = None,
    loads: int = 5,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """The figures (see the module). Without *wheel* both wheels are built from the checkout;
    with it, the pages wheel is reported only when *pages_wheel* is given."""
    if loads < 1:
        raise ValueError(f"loads: at least 1, not {loads}")
    lane = lab.LANES[lane_name]
    if lane.browser not in ("chromium", "headless-shell"):
        raise lab.LabError(f"footprint runs in a browser lane, not {lane_name!r}")
    if wheel is None:
        wheel, pages_wheel = wheels.build_page_wheels()
    for path in (wheel, pages_wheel):
        if path is not None and not path.is_file():
            raise lab.LabError(f"no wheel at {path}")
    runs = []
    with serving(pyodide_version=lane.pyodide, wheel=wheel, pages_wheel=pages_wheel) as base:
        driver = lab.start_driver(lane)
        try:
            for _ in range(loads):
                driver.get(page_url(base, lane, None, PAGE))
                runs.append(read_bench_result(driver, timeout))
        finally:
            driver.quit()
    return {
        "lane": lane.name,
        "pyodide": runs[0]["pyodide"],
        "wheel": wheel.name,
        "wheel_bytes": wheel.stat().st_size,
        "pages_wheel": pages_wheel.name if pages_wheel else None,
        "pages_wheel_bytes": pages_wheel.stat().st_size if pages_wheel else None,
        "import_ms": statistics.median(r["import_ms"] for r in runs),
        "import_ms_runs": [r["import_ms"] for r in runs],
        "install_ms": statistics.median(r["install_ms"] for r in runs),
        "webaccel_modules": runs[0]["webaccel_modules"],
        "loads": loads,
    }


def format_text(result: dict[str, Any]) -> str:
    """The figures for people."""
    runs = ", ".join(f"{ms:.0f}" for ms in result["import_ms_runs"])
    lines = [
        f"runtime wheel  {result['wheel']}: {result['wheel_bytes']:,} bytes "
        f"({result['wheel_bytes'] / 1024:.1f} KiB)",
    ]
    if result["pages_wheel"]:
        lines.append(
            f"pages wheel    {result['pages_wheel']}: {result['pages_wheel_bytes']:,} bytes "
            f"({result['pages_wheel_bytes'] / 1024:.1f} KiB)"
        )
    lines.append(
        f"import webaccel in Pyodide {result['pyodide']} ({result['lane']}): "
        f"{result['import_ms']:.0f} ms, median of {result['loads']} fresh page loads ({runs} ms); "
        f"{result['webaccel_modules']} webaccel modules imported; "
        f"micropip install {result['install_ms']:.0f} ms"
    )
    return "\n".join(lines)

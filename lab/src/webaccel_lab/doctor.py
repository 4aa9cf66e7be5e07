"""``webaccel doctor``: ``detect()`` in each lane (CPython, the headless browsers, Node + Dawn)
and each lane's verdict: does it have what its tests need (``Lane.requires``)?"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from webaccel.capabilities import detect

from . import lab, wheels
from .serve import serving
from .text import columns


def detect_in_lane(lane: lab.Lane, base_url: str | None = None) -> dict[str, Any]:
    """Run ``detect()`` in *lane* and return its report with a ``lane`` key.

    Browser lanes open the static page (served here if *base_url* is None) in the lane's
    headless browser and read the report the page shows.
    """
    if lane.browser is None:
        return {"lane": lane.name, **detect()}
    if lane.browser == "node":
        code = "import json, webaccel\nprint('REPORT ' + json.dumps(await webaccel.detect_async()))"
        out = lab.run_node(lane, ["-c", code], timeout=300, wheel=wheels.build_wheel())
        lines = [line for line in out.stdout.splitlines() if line.startswith("REPORT ")]
        if out.returncode or not lines:
            raise lab.LabError(f"detect() under Node failed: {(out.stderr or out.stdout)[-2000:]}")
        return {"lane": lane.name, **json.loads(lines[-1][len("REPORT ") :])}
    if base_url is None:
        with serving() as url:
            return detect_in_lane(lane, url)
    driver = lab.start_driver(lane)
    try:
        driver.get(lab.page_url(base_url, lane))
        return {"lane": lane.name, **lab.read_page_report(driver)}
    finally:
        driver.quit()


def _cell_webgpu(report: dict[str, Any]) -> str:
    gpu = report.get("webgpu") or {}
    if not gpu.get("available"):
        return "no"
    fallback = " (fallback)" if gpu.get("is_fallback") else ""
    return f"{gpu.get('vendor')}/{gpu.get('architecture')}{fallback}"


def _cell_webnn(report: dict[str, Any]) -> str:
    nn = report.get("webnn") or {}
    if not nn.get("available"):
        return "no"
    return f"{nn.get('op_count')} ops, {nn.get('preferred_layout')}"


def format_table(reports: list[dict[str, Any]]) -> str:
    """The doctor's table for people: one row per lane, then each lane's verdict."""
    header = ("lane", "pyodide", "python", "jspi", "numpy", "webgpu", "webnn", "idb", "tier")
    rows = [header]
    for r in reports:
        if "error" in r and "tier" not in r:
            rows.append((r["lane"], "-", "-", "-", "-", "-", "-", "-", "FAILED"))
            continue
        rows.append(
            (
                r["lane"],
                r.get("pyodide") or "-",
                r.get("python") or "-",
                "yes" if r.get("jspi") else "no",
                r.get("numpy") or "no",
                _cell_webgpu(r),
                _cell_webnn(r),
                "yes" if (r.get("storage") or {}).get("indexeddb") else "no",
                r.get("tier") or "-",
            )
        )
    lines = columns(rows, numbers=False)
    lines.append("")
    for r in reports:
        lane = lab.LANES[r["lane"]]
        problems = (
            [r["error"]] if "error" in r and "tier" not in r else lab.unmet_requirements(lane, r)
        )
        verdict = "ok" if not problems else "MISSING " + "; ".join(problems)
        lines.append(f"{r['lane']:<15} needs {', '.join(lane.requires) or 'nothing'}: {verdict}")
    return "\n".join(lines)


def failed(report: dict[str, Any]) -> bool:
    """Whether *report*'s lane could not run or lacks what it needs."""
    if "error" in report and "tier" not in report:
        return True
    return bool(lab.unmet_requirements(lab.LANES[report["lane"]], report))


def run_doctor(names: list[str]) -> list[dict[str, Any]]:
    """The report of each lane in *names* (one server for the browser lanes); a lane that
    cannot run has ``{"lane", "error"}`` instead."""
    reports = []
    with contextlib.ExitStack() as stack:
        needs_server = any(name in lab.BROWSER_LANES for name in names)
        base_url = stack.enter_context(serving()) if needs_server else None
        for name in names:
            try:
                reports.append(detect_in_lane(lab.LANES[name], base_url))
            except Exception as exc:  # a lane that cannot run is reported, and fails the doctor
                reports.append({"lane": name, "error": f"{type(exc).__name__}: {exc}"})
    return reports

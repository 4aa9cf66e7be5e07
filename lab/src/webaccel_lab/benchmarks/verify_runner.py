"""``webaccel bench verify``, host side: run ``static_site/bench_verify.html`` in a lane's browser
(as ``runner.run_page`` does, keeping the cases measured when the page runs out of time; the
default lane, pyodide-0.27, has NumPy in the page, which verify's reference needs) and shape its
result as JSON or a table for people.

``shape_result``, ``complete`` and ``format_table`` are pure functions over the page's result.
"""

from __future__ import annotations

import json
from typing import Any

from .. import lab
from ..serve import serving
from ..text import columns, last_line
from .runner import DEFAULT_TIMEOUT, page_url, read_bench_result

PAGE = "bench_verify.html"
DEFAULT_LANE = "pyodide-0.27"
CASE_KEYS = (
    "seq",
    "batch",
    "off_first_ms",
    "on_first_ms",
    "first_ratio",
    "off_ms",
    "on_ms",
    "steady_ratio",
)
SPLIT_KEYS = ("readback_ms", "reference_ms", "compare_ms", "bisect_ms", "total_ms")
CHECK_KEYS = ("programs_checked", "bytes_read", "disagreements", "steady_checks", "outputs_equal")


def run_verify(
    lane: str = DEFAULT_LANE,
    config: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    device: str | None = None,
    cases: list[list[int]] | None = None,
) -> dict[str, Any]:
    """``webaccel bench verify``: run the page in *lane* and return the shaped result.
    *device* and *cases* (``[[seq, batch], ...]``) override *config*'s."""
    config = dict(config or {})
    if device:
        config["device"] = device
    if cases:
        config["cases"] = cases
    lane_ = lab.LANES[lane]
    with serving(pyodide_version=lane_.pyodide) as base_url:
        driver = lab.start_driver(lane_)
        try:
            driver.get(page_url(base_url, lane_, config, PAGE))
            try:
                page = read_bench_result(driver, timeout)
            except lab.LabError as exc:  # out of time: the cases measured so far still count
                rows = driver.execute_script("return JSON.stringify(window.benchRows || [])")
                page = {
                    "config": config,
                    "webaccel": {"cases": json.loads(rows)},
                    "webaccel_error": str(exc).split(": http")[0],
                }
        finally:
            driver.quit()
    return shape_result(page, lane)


def shape_case(row: dict[str, Any]) -> dict[str, Any]:
    """One case of the page as the command's JSON: ``CASE_KEYS`` first, then the on side's
    first check split (``SPLIT_KEYS``), its counts (``CHECK_KEYS``), the samples, any error."""
    out = {k: row.get(k) for k in CASE_KEYS}
    out.update({k: row.get(k) for k in SPLIT_KEYS + CHECK_KEYS})
    out["first_samples_ms"] = row.get("first_samples_ms")
    out["samples_ms"] = row.get("samples_ms")
    if row.get("error"):
        out["error"] = row["error"]
    return out


def shape_result(page: dict[str, Any], lane: str) -> dict[str, Any]:
    """The page's raw result as the command's JSON: per case ``CASE_KEYS`` (and the check's
    split), then the whole run's ``programs_checked``, ``disagreements`` (a count; the
    findings under ``disagreement_details``) and ``reference_ms``."""
    ours = page.get("webaccel") or {}
    report = ours.get("report") or {}
    errors: dict[str, str] = {}
    if page.get("webaccel_error"):
        errors["webaccel"] = last_line(page["webaccel_error"]) or "failed"
    cases = [shape_case(row) for row in ours.get("cases") or []]
    for case in cases:
        if case.get("error"):
            errors[f"{case['seq']}x{case['batch']}"] = case["error"]
    return {
        "lane": lane,
        "device": ours.get("device") or (page.get("config") or {}).get("device"),
        "pyodide": page.get("pyodide") or ours.get("pyodide"),
        "python": ours.get("python"),
        "cases": cases,
        "programs_checked": ours.get("programs_checked"),
        "disagreements": ours.get("disagreements"),
        "reference_ms": ours.get("reference_ms"),
        "readback_ms": report.get("readback_ms"),
        "compare_ms": report.get("compare_ms"),
        "total_ms": report.get("total_ms"),
        "bytes_read": report.get("bytes_read"),
        "disagreement_details": report.get("disagreements") or [],
        "drifts": report.get("drifts") or [],
        "notes": report.get("notes") or [],
        "printed": ours.get("printed"),
        "config": ours.get("config") or page.get("config"),
        "errors": errors,
        "raw": page,
    }


def complete(result: dict[str, Any]) -> bool:
    """Every case measured (positive times and ratios), each on-side first call checked one
    program or more and no program during the steady runs, outputs unchanged by verify,
    something checked, no disagreement and nothing failed."""
    cases = result["cases"]
    measured = all(
        all((case.get(k) or 0) > 0 for k in CASE_KEYS)
        and (case.get("programs_checked") or 0) >= 1
        and case.get("steady_checks") == 0
        and case.get("outputs_equal") is True
        for case in cases
    )
    return bool(
        cases
        and measured
        and (result.get("programs_checked") or 0) > 0
        and (result.get("reference_ms") or 0) > 0
        and result.get("disagreements") == 0
        and not result["errors"]
    )


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _count(samples: dict[str, list[float]] | None) -> str:
    """Samples per side (the same on both sides)."""
    return str(len((samples or {}).get("on") or [])) if samples else "-"


def format_table(result: dict[str, Any]) -> str:
    """The result for people: one row per case (first call and steady state, off / on, the
    check's split), then what the whole run checked and found."""
    lines = [
        f"webaccel bench verify  lane {result['lane']}  device {result.get('device') or '-'}  "
        f"pyodide {result.get('pyodide') or '-'}  python {result.get('python') or '-'}",
        "all-MiniLM-L6-v2; first: a fresh capture's first call (trace, compile, run, read; on: "
        "+ the check, as right after verify(True)); steady: the captured encode once checked; "
        "medians, ms; readback includes waiting for the device's run",
        "",
    ]
    rows: list[tuple[str, ...]] = [
        (
            "seq x batch",
            "first off",
            "first on",
            "on/off",
            "steady off",
            "steady on",
            "on/off",
            "readback",
            "reference",
            "compare",
            "n first/steady",
        )
    ]
    failed = []
    for c in result["cases"]:
        name = f"{c.get('seq')} x {c.get('batch')}"
        if c.get("error"):
            failed.append(f"ERROR {name}: {c['error']}")
            continue
        rows.append(
            (
                name,
                _num(c.get("off_first_ms")),
                _num(c.get("on_first_ms")),
                _num(c.get("first_ratio"), 2),
                _num(c.get("off_ms")),
                _num(c.get("on_ms")),
                _num(c.get("steady_ratio"), 3),
                _num(c.get("readback_ms")),
                _num(c.get("reference_ms")),
                _num(c.get("compare_ms"), 2),
                f"{_count(c.get('first_samples_ms'))}/{_count(c.get('samples_ms'))}",
            )
        )
    lines += columns(rows)
    lines.append("")
    mb = (result.get("bytes_read") or 0) / 1e6
    lines.append(
        f"the whole run: {result.get('programs_checked')} program(s) checked, cpu reference "
        f"{_num(result.get('reference_ms'))} ms, read back {mb:.1f} MB in "
        f"{_num(result.get('readback_ms'))} ms, compare {_num(result.get('compare_ms'), 2)} ms"
    )
    found = result.get("disagreements")
    lines.append(f"disagreements with the cpu reference: {found if found is not None else '-'}")
    lines += [f"- {d}" for d in result.get("disagreement_details") or []]
    lines += [f"- drift: {d}" for d in result.get("drifts") or []]
    lines += [f"- note: {n}" for n in result.get("notes") or []]
    unchanged = [c for c in result["cases"] if c.get("outputs_equal") is False]
    lines += [
        f"ERROR {c['seq']} x {c['batch']}: verify on changed the embeddings" for c in unchanged
    ]
    lines += failed
    for side, message in (result.get("errors") or {}).items():
        if side == "webaccel":
            lines.append(f"ERROR {side}: {message}")
    return "\n".join(lines)

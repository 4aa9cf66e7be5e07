"""``webaccel bench ops``, host side: serve the site, open ``bench.html`` in a lane's browser, wait
for its result, and shape it as a table for people or as JSON.

The page times TF.js's WebGPU backend and runs ``webaccel.benchmarks.ops.run_async`` on the same
adapter; this module only drives the browser and formats (``shape_result``, ``format_table`` are
pure functions over the page's result).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from .. import lab

DEFAULT_TIMEOUT = 900.0


def page_url(base_url: str, lane: lab.Lane, config: dict[str, Any] | None = None) -> str:
    """``bench.html`` loading *lane*'s Pyodide and packages, with *config* for both sides."""
    query = f"bench.html?source=local&pyodide={lane.pyodide}"
    if lane.packages:
        query += "&packages=" + ",".join(lane.packages)
    if config:
        query += "&config=" + quote(json.dumps(config, separators=(",", ":")))
    return base_url + query


def read_bench_result(driver: Any, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Wait for the page to finish; its result, or LabError with the page's own message."""
    deadline = time.monotonic() + timeout
    state = "loading"
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.body && document.body.dataset.state")
        if state in ("done", "error"):
            break
        time.sleep(0.5)
    if state != "done":
        error = driver.execute_script("return window.benchError || null")
        status = driver.execute_script(
            "const s = document.querySelector('#status'); return s ? s.textContent : null"
        )
        raise lab.LabError(
            f"the benchmark page did not finish (state {state!r}, status {status!r}): "
            f"{error or _console_tail(driver)}"
        )
    return json.loads(driver.execute_script("return JSON.stringify(window.benchResult)"))


def _console_tail(driver: Any, lines: int = 5) -> str:
    try:
        logs = driver.get_log("browser")
    except Exception:  # not every driver keeps logs
        return "no error from the page"
    return " | ".join(entry.get("message", "") for entry in logs[-lines:]) or "no console output"


def run_page(
    lane_name: str, config: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Any]:
    """Serve the site, run ``bench.html`` in *lane_name*'s browser and return the page's result."""
    lane = lab.LANES[lane_name]
    if lane.browser is None:
        raise lab.LabError(f"bench ops runs in a browser lane, not {lane_name!r}")
    from ..serve import serving

    with serving(pyodide_version=lane.pyodide) as base_url:
        driver = lab.start_driver(lane)
        try:
            driver.get(page_url(base_url, lane, config))
            return read_bench_result(driver, timeout)
        finally:
            driver.quit()


# --- shaping -------------------------------------------------------------------------------------


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours and theirs else None


def _last_line(text: str | None) -> str | None:
    if not text:
        return None
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def _pair(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "gflops": ours.get("gflops"),
        "tfjs_gflops": theirs.get("gflops"),
        "ratio": _ratio(ours.get("gflops"), theirs.get("gflops")),
        "ms": ours.get("median_ms"),
        "tfjs_ms": theirs.get("median_ms"),
    }
    if ours.get("check_max_abs_err") is not None:
        row["check_max_abs_err"] = ours["check_max_abs_err"]  # ours vs exact sums
    for key in ("gpu_gflops", "gpu_ms"):
        if ours.get(key) is not None:
            row[key] = ours[key]
        if theirs.get(key) is not None:
            row[f"tfjs_{key}"] = theirs[key]
    if ours.get("error"):
        row["error"] = ours["error"]
    if theirs.get("error"):
        row["tfjs_error"] = theirs["error"]
    return row


def shape_result(page: dict[str, Any], lane: str) -> dict[str, Any]:
    """The page's raw result as the command's JSON: matmul rows with ratios, conv2d, overhead."""
    ours = page.get("webaccel") or {}
    theirs = page.get("tfjs") or {}
    config = page.get("config") or {}
    by_n_ours = {m["n"]: m for m in ours.get("matmul", [])}
    by_n_theirs = {m["n"]: m for m in theirs.get("matmul", [])}
    sizes = config.get("sizes") or sorted(set(by_n_ours) | set(by_n_theirs))
    matmul = [{"n": n, **_pair(by_n_ours.get(n, {}), by_n_theirs.get(n, {}))} for n in sizes]
    conv2d: dict[str, Any] = {}
    if config.get("conv2d") or ours.get("conv2d") or theirs.get("conv2d"):
        conv2d = {
            "shape": config.get("conv2d"),
            **_pair(ours.get("conv2d") or {}, theirs.get("conv2d") or {}),
        }
    overhead = ours.get("overhead_us") or {}
    keys = ("eager_per_op", "graph_per_run", "graph_per_op")
    errors = {
        "webaccel": _last_line(page.get("webaccel_error")),
        "tfjs": _last_line(page.get("tfjs_error")),
    }
    if overhead.get("error"):
        errors["overhead"] = overhead["error"]
    return {
        "lane": lane,
        "device": {
            **(page.get("adapter") or {}),
            "webaccel_device": (ours.get("device") or {}).get("name") or config.get("device"),
        },
        "matmul": matmul,
        "conv2d": conv2d,
        "overhead_us": {
            **{k: overhead.get(k) for k in keys},
            **{k: v for k, v in overhead.items() if k not in keys and k != "error"},
        },
        "tfjs": {k: theirs.get(k) for k in ("version", "backend", "sync", "timestamp_query")},
        "pyodide": page.get("pyodide"),
        "python": ours.get("python"),
        "timer_resolution_us": ours.get("timer_resolution_us"),
        "cross_origin_isolated": page.get("cross_origin_isolated"),
        "config": config,
        "errors": {k: v for k, v in errors.items() if v},
        "raw": page,
    }


def complete(result: dict[str, Any]) -> bool:
    """Both sides measured every case, and the overhead was measured."""
    rows = [*result["matmul"], *([result["conv2d"]] if result["conv2d"] else [])]
    sides_ok = all(
        r.get("gflops") and r.get("tfjs_gflops") and not (r.get("error") or r.get("tfjs_error"))
        for r in rows
    )
    overhead_ok = all(
        result["overhead_us"].get(k) is not None
        for k in ("eager_per_op", "graph_per_run", "graph_per_op")
    )
    return bool(rows) and sides_ok and overhead_ok and not result["errors"]


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            (c.ljust(w) if i == 0 else c.rjust(w))
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_table(result: dict[str, Any]) -> str:
    """The result for people: one row per case, then the Python overhead, then any errors."""
    dev = result["device"]
    adapter = (
        f"{dev.get('vendor')}/{dev.get('architecture')}"
        + (" (fallback)" if dev.get("is_fallback") else "")
        if dev.get("available")
        else f"none ({dev.get('error')})"
    )
    tfjs = result.get("tfjs") or {}
    lines = [
        f"webaccel bench ops  lane {result['lane']}  adapter {adapter}  "
        f"webaccel device {dev.get('webaccel_device')}  TF.js {tfjs.get('version') or '-'} "
        f"({tfjs.get('backend') or '-'})",
        "",
    ]
    header = ("case", "webaccel GFLOP/s", "TF.js GFLOP/s", "ours/TF.js", "webaccel ms", "TF.js ms")
    rows: list[tuple[str, ...]] = [header]
    cases = [(f"matmul {r['n']}", r) for r in result["matmul"]]
    if result.get("conv2d"):
        c = result["conv2d"].get("shape") or {}
        name = (
            f"conv2d {c.get('batch')}x{c.get('height')}x{c.get('width')}x{c.get('in_channels')}"
            f" k{c.get('kernel')} ->{c.get('out_channels')}"
            if c
            else "conv2d"
        )
        cases.append((name, result["conv2d"]))
    for name, r in cases:
        rows.append(
            (
                name,
                _num(r.get("gflops")),
                _num(r.get("tfjs_gflops")),
                _num(r.get("ratio"), 3),
                _num(r.get("ms")),
                _num(r.get("tfjs_ms")),
            )
        )
    lines += _columns(rows)
    gpu_rows = [(n, r) for n, r in cases if r.get("gpu_gflops") or r.get("tfjs_gpu_gflops")]
    if gpu_rows:
        lines.append("")
        lines.append(
            "GPU timestamps: "
            + "; ".join(
                f"{n}: webaccel {_num(r.get('gpu_gflops'))}, TF.js {_num(r.get('tfjs_gpu_gflops'))}"
                " GFLOP/s"
                for n, r in gpu_rows
            )
        )
    ov = result.get("overhead_us") or {}
    lines.append("")
    numel = ov.get("numel")
    lines += _columns(
        [
            (
                "python overhead (us)",
                "eager per op",
                "graph per run",
                "graph per op",
                "captured per run",
                "captured per op",
            ),
            (
                f"elementwise chain, {numel} elements" if numel else "elementwise chain",
                _num(ov.get("eager_per_op"), 1),
                _num(ov.get("graph_per_run"), 1),
                _num(ov.get("graph_per_op"), 1),
                _num(ov.get("captured_per_run"), 1),
                _num(ov.get("captured_per_op"), 1),
            ),
        ]
    )
    if ov.get("eager_us") and ov.get("graph_us"):
        points = ", ".join(
            f"k={k}: eager {ov['eager_us'][k]:.0f} / graph {ov['graph_us'][k]:.0f}"
            + (f" / captured {ov['captured_us'][k]:.0f}" if ov.get("captured_us") else "")
            for k in ov["graph_us"]
        )
        lines.append(f"(us per chain of k ops: {points})")
    if result.get("errors"):
        lines.append("")
        for side, message in result["errors"].items():
            lines.append(f"ERROR {side}: {message}")
    for name, r in cases:
        for key in ("error", "tfjs_error"):
            if r.get(key):
                lines.append(
                    f"ERROR {name} ({'TF.js' if key == 'tfjs_error' else 'webaccel'}): "
                    f"{_last_line(r[key])}"
                )
    return "\n".join(lines)


def run_ops(
    lane: str = "chromium",
    sizes: list[int] | None = None,
    device: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """``webaccel bench ops``: run the page in *lane* and return the shaped result."""
    config: dict[str, Any] = {}
    if sizes:
        config["sizes"] = list(sizes)
    if device:
        config["device"] = device
    return shape_result(run_page(lane, config, timeout), lane)

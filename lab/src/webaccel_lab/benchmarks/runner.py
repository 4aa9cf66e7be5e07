"""``webaccel bench ops`` (and ``--backend webnn``, ``bench bert``), host side: serve the site,
open the page in a lane's browser, wait for its result, and shape it as a table for people or as
JSON. ``run_page`` drives any page that leaves its result in ``window.benchResult`` (the embed
page too).

The page times TF.js's WebGPU backend and runs ``webaccel_pages.benchmarks.ops.run_async`` on the
same adapter; this module only drives the browser and formats (``shape_result``, ``format_table``
are pure functions over the page's result).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from webaccel_pages.benchmarks import bert

from .. import lab
from ..serve import serving
from ..text import columns, last_line

DEFAULT_TIMEOUT = 900.0


def page_url(
    base_url: str,
    lane: lab.Lane,
    config: dict[str, Any] | None = None,
    page: str = "bench.html",
) -> str:
    """*page* (``bench.html``) loading *lane*'s Pyodide and packages, with *config*."""
    query = f"{page}?source=local&pyodide={lane.pyodide}"
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
    lane_name: str,
    config: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    page: str = "bench.html",
) -> dict[str, Any]:
    """Serve the site, run *page* in *lane_name*'s browser and return the page's result."""
    lane = lab.LANES[lane_name]
    if lane.browser is None:
        raise lab.LabError(f"bench ops runs in a browser lane, not {lane_name!r}")
    with serving(pyodide_version=lane.pyodide) as base_url:
        driver = lab.start_driver(lane)
        try:
            driver.get(page_url(base_url, lane, config, page))
            return read_bench_result(driver, timeout)
        finally:
            driver.quit()


# --- shaping -------------------------------------------------------------------------------------


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours and theirs else None


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
        "webaccel": last_line(page.get("webaccel_error")),
        "tfjs": last_line(page.get("tfjs_error")),
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
    lines += columns(rows)
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
    lines += columns(
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
                    f"{last_line(r[key])}"
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


# --- bench ops --backend webnn ---------------------------------------------------------------

WEBNN_PAGE = "bench_webnn.html"
TARGET_RATIO = 1.05  # our captured block on webnn / the same graph from plain JS
AGREE_ABS = 1e-4  # outputs of the sides and backends must agree within this


def run_webnn(
    lane: str = "headless-shell",
    config: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """``webaccel bench ops --backend webnn``: run ``bench_webnn.html`` in *lane*, shaped."""
    return shape_webnn_result(run_page(lane, config or {}, timeout, WEBNN_PAGE), lane)


def shape_webnn_result(page: dict[str, Any], lane: str) -> dict[str, Any]:
    """The WebNN page's raw result as the command's JSON: per-op ms (webnn, with webgpu and
    cpu beside it), the block per backend, the plain-JS ratio, why a backend did not run."""
    ours = page.get("webaccel") or {}
    unavailable = ours.get("unavailable") or {}
    ops_rows = []
    for r in ours.get("ops") or []:
        ms = r.get("ms") or {}
        row: dict[str, Any] = {
            "op": r.get("op"),
            "ms": ms.get("webnn"),
            "webgpu_ms": ms.get("webgpu"),
            "cpu_ms": ms.get("cpu"),
            "shape": r.get("shape"),
        }
        if r.get("max_abs_diff"):
            row["max_abs_diff"] = r["max_abs_diff"]
        if r.get("errors"):
            row["errors"] = r["errors"]
        ops_rows.append(row)
    block = ours.get("block") or {}
    block_ms = {name: (block.get("ms") or {}).get(name) for name in ("webnn", "webgpu", "cpu")}
    compare = block.get("vs_plain_js") or {}
    errors: dict[str, str] = {}
    if page.get("webaccel_error"):
        errors["webaccel"] = last_line(page["webaccel_error"]) or "failed"
    for name, message in (block.get("errors") or {}).items():
        errors[f"block {name}"] = message
    result: dict[str, Any] = {
        "backend": "webnn",
        "lane": lane,
        "ops": ops_rows,
        "block_ms": block_ms,
        "block": block.get("config"),
        "block_max_abs_diff": block.get("max_abs_diff"),
        "vs_plain_js_ratio": compare.get("ratio"),
        "vs_plain_js": {k: v for k, v in compare.items() if k != "timing"},
        "target_ratio": TARGET_RATIO,
        "unavailable": unavailable,
        "per_run": ours.get("per_run"),
        "pyodide": page.get("pyodide"),
        "python": ours.get("python"),
        "cross_origin_isolated": page.get("cross_origin_isolated"),
        "config": page.get("config"),
        "errors": errors,
        "raw": page,
    }
    if block_ms["cpu"] is None:
        result["cpu_reason"] = unavailable.get("cpu") or (block.get("errors") or {}).get("cpu")
    return result


def complete_webnn(result: dict[str, Any]) -> bool:
    """Every op and the block measured on webnn and webgpu, the plain-JS ratio measured, and
    the outputs agree (backends with each other, our block with the plain-JS one)."""
    rows = result["ops"]
    measured = all(r.get("ms") and r.get("webgpu_ms") for r in rows)
    block = result["block_ms"]
    diffs = [v for r in rows for v in (r.get("max_abs_diff") or {}).values()]
    diffs += list((result.get("block_max_abs_diff") or {}).values())
    plain_diff = (result.get("vs_plain_js") or {}).get("max_abs_diff")
    agree = all(d <= AGREE_ABS for d in diffs) and plain_diff is not None
    agree = agree and plain_diff <= AGREE_ABS
    return bool(
        rows
        and measured
        and block.get("webnn")
        and block.get("webgpu")
        and result.get("vs_plain_js_ratio")
        and agree
        and not result["errors"]
    )


def format_webnn_table(result: dict[str, Any]) -> str:
    """The WebNN result for people: ops x backends, the block, the plain-JS ratio, reasons."""
    lines = [
        f"webaccel bench ops --backend webnn  lane {result['lane']}  "
        f"pyodide {result.get('pyodide') or '-'}  python {result.get('python') or '-'}",
        f"ms per run ({result.get('per_run') or 'write input, run, read output'}); "
        "median of interleaved samples",
        "",
    ]
    rows: list[tuple[str, ...]] = [("op", "webnn ms", "webgpu ms", "cpu ms", "webgpu/webnn")]
    for r in result["ops"]:
        rows.append(
            (
                str(r.get("op")),
                _num(r.get("ms"), 3),
                _num(r.get("webgpu_ms"), 3),
                _num(r.get("cpu_ms"), 3),
                _num(_ratio(r.get("webgpu_ms"), r.get("ms")), 1),
            )
        )
    b = result.get("block") or {}
    bm = result["block_ms"]
    name = (
        f"block seq {b.get('seq')} width {b.get('width')} heads {b.get('heads')} mlp {b.get('mlp')}"
        if b
        else "block"
    )
    rows.append(
        (
            name,
            _num(bm.get("webnn"), 3),
            _num(bm.get("webgpu"), 3),
            _num(bm.get("cpu"), 3),
            _num(_ratio(bm.get("webgpu"), bm.get("webnn")), 1),
        )
    )
    lines += columns(rows)
    lines.append("")
    cmp_ = result.get("vs_plain_js") or {}
    ratio = result.get("vs_plain_js_ratio")
    if ratio is not None:
        verdict = "met" if ratio <= result["target_ratio"] else "NOT met"
        lines.append(
            f"block on webnn, webaccel.capture vs the same graph in plain JS (raw WebNN API, "
            f"same MLContext): {_num(cmp_.get('webaccel_ms'), 3)} ms vs "
            f"{_num(cmp_.get('plain_js_ms'), 3)} ms, ratio {ratio:.3f} "
            f"(target <= {result['target_ratio']:.2f}: {verdict})"
        )
        lines.append(
            f"  ratio: median of {cmp_.get('pairs')} "
            f"back-to-back pairs; ratio of the medians {_num(cmp_.get('ratio_of_medians'), 3)}"
        )
        lines.append(
            f"  plain JS timed inside JS: {_num(cmp_.get('plain_js_inner_ms'), 3)} ms; outputs "
            f"max |diff| {cmp_.get('max_abs_diff')}; {cmp_.get('graph')}"
        )
        guards = cmp_.get("ieee_guards") or {}
        if guards.get("ms") is not None:
            lines.append(
                f"  with webaccel's default IEEE guards on: {_num(guards['ms'], 3)} ms, "
                f"ratio {guards['ratio']:.3f}"
            )
    else:
        lines.append("block vs plain JS: not measured")
    if bm.get("cpu") is None and result.get("cpu_reason"):
        lines.append(f"cpu: unavailable: {result['cpu_reason']}")
    for side, message in (result.get("errors") or {}).items():
        lines.append(f"ERROR {side}: {message}")
    for r in result["ops"]:
        for backend, message in (r.get("errors") or {}).items():
            if backend in (result.get("unavailable") or {}):
                continue
            lines.append(f"ERROR {r.get('op')} ({backend}): {last_line(message)}")
    return "\n".join(lines)


# --- bench bert: webaccel's MiniLM vs onnxruntime-web ---------------------------------------------

BERT_PAGE = "bench_bert.html"
BERT_TARGETS = {"webnn/webnn": 0.8, "webgpu/webgpu": 0.8, "cpu-side/wasm": 1.0}


def run_bert(
    lane: str = "headless-shell",
    config: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """``webaccel bench bert``: run ``bench_bert.html`` in *lane*, shaped. A page that runs
    out of *timeout* still gives the rows it measured, with the timeout under ``errors``."""
    lane_ = lab.LANES[lane]
    with serving(pyodide_version=lane_.pyodide) as base_url:
        driver = lab.start_driver(lane_)
        try:
            driver.get(page_url(base_url, lane_, config or {}, BERT_PAGE))
            try:
                page = read_bench_result(driver, timeout)
            except lab.LabError as exc:
                rows = driver.execute_script("return JSON.stringify(window.benchRows || [])")
                page = {"rows": json.loads(rows), "webaccel_error": str(exc).split(": http")[0]}
        finally:
            driver.quit()
    return shape_bert_result(page, lane)


def shape_bert_result(page: dict[str, Any], lane: str) -> dict[str, Any]:
    """The page's rows as the command's JSON, with the median ratio per pair and the best
    CPU-side ratio (webnn or cpu against ORT's wasm EP, per case) beside the targets."""
    rows = page.get("rows") or []
    summary = bert.summary(rows)
    cpu_side = []
    for seq, batch in {(r["seq"], r["batch"]) for r in rows if r.get("ep") == "wasm"}:
        ratios = [
            r["ratio"]
            for r in rows
            if r.get("ep") == "wasm" and (r["seq"], r["batch"]) == (seq, batch) and r.get("ratio")
        ]
        if ratios:
            cpu_side.append(min(ratios))
    if cpu_side:
        summary["cpu-side/wasm"] = sorted(cpu_side)[len(cpu_side) // 2]
    return {
        "lane": lane,
        "pyodide": page.get("pyodide"),
        "user_agent": page.get("user_agent"),
        "rows": rows,
        "median_ratio": summary,
        "targets": BERT_TARGETS,
        "errors": {**(page.get("errors") or {}), **_page_error(page)},
    }


def _page_error(page: dict[str, Any]) -> dict[str, str]:
    return {"page": page["webaccel_error"]} if page.get("webaccel_error") else {}


def format_bert_table(result: dict[str, Any]) -> str:
    header = ("ours", "ort-web EP", "seq", "batch", "ours ms", "ort ms", "ratio", "max |diff|")
    table, failed = [header], []
    for r in result["rows"]:
        case = (r["backend"], r["ep"], str(r["seq"]), str(r["batch"]))
        if "error" in r:
            failed.append(f"{' '.join(case)}: {r['error']}")
            continue
        diff = r.get("max_abs_diff")
        table.append(
            (
                *case,
                _num(r.get("ours_ms"), 1),
                _num(r.get("ort_ms"), 1),
                _num(r.get("ratio"), 2),
                "-" if diff is None else f"{diff:.1e}",
            )
        )
    lines = columns(table)
    lines.append("")
    for pair, ratio in result["median_ratio"].items():
        target = result["targets"].get(pair)
        met = "met" if target and ratio <= target else "NOT met"
        verdict = f" (target <= {target}: {met})" if target else ""
        lines.append(f"median ratio {pair}: {ratio:.2f}{verdict}")
    lines.extend(failed)
    for what, why in result["errors"].items():
        lines.append(f"{what}: not measured: {why}")
    return "\n".join(lines)

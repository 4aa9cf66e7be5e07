"""``webaccel bench store``, host side: run ``static_site/bench_store.html`` in a lane's browser
(``runner.run_page``) and shape its result as JSON or a table for people.

``shape_result``, ``complete`` and ``format_table`` are pure functions over the page's result.
"""

from __future__ import annotations

from typing import Any

from ..text import columns, last_line
from .runner import DEFAULT_TIMEOUT, run_page

PAGE = "bench_store.html"
TARGET_LOAD_RATIO = 0.8  # our load MB/s / the raw IndexedDB read's, at least
TARGET_RESIDENT_OVER_UNIQUE = 1.05  # two models sharing weights: resident / unique bytes, at most


def run_store(
    lane: str = "chromium",
    config: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """``webaccel bench store``: run the page in *lane* and return the shaped result."""
    return shape_result(run_page(lane, config or {}, timeout, PAGE), lane)


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def shape_result(page: dict[str, Any], lane: str) -> dict[str, Any]:
    """The page's raw result as the command's JSON: the headline figures at the top level
    (``save_mb_s``, ``load_mb_s``, ``raw_load_mb_s``, ``load_ratio``, ``resident_bytes_shared``,
    ``resident_bytes_unshared``, ``unique_bytes``, ``resident_over_unique``), then details."""
    ours = page.get("webaccel") or {}
    save = (ours.get("save") or {}).get("mb_s")
    load = (ours.get("load") or {}).get("mb_s")
    raw = (ours.get("raw_load") or {}).get("mb_s")
    load_sha = (ours.get("load_sha256") or {}).get("mb_s")
    read = (ours.get("read") or {}).get("mb_s")
    sharing = ours.get("sharing") or {}
    shared = sharing.get("resident_bytes_shared")
    unshared = sharing.get("resident_bytes_unshared")
    unique = sharing.get("unique_bytes")
    model = ours.get("model") or {}
    codecs: dict[str, Any] = {
        "none": {"ratio": 1.0 if save else None, "save_mb_s": save, "load_mb_s": load}
    }
    for name, c in (ours.get("codecs") or {}).items():
        codecs[name] = {
            k: c.get(k)
            for k in ("ratio", "save_mb_s", "load_mb_s", "stored_bytes", "chunk_codecs", "error")
            if c.get(k) is not None
        }
    errors: dict[str, str] = {}
    if page.get("webaccel_error"):
        errors["webaccel"] = last_line(page["webaccel_error"]) or "failed"
    for name, c in codecs.items():
        if c.get("error"):
            errors[f"codec {name}"] = c["error"]
    return {
        "lane": lane,
        "device": ours.get("device") or (page.get("config") or {}).get("device"),
        "pyodide": page.get("pyodide") or ours.get("pyodide"),
        "python": ours.get("python"),
        "model_bytes": model.get("total_bytes"),
        "model": model,
        "chunk_size": (ours.get("store") or {}).get("chunk_size"),
        "backend": (ours.get("store") or {}).get("backend"),
        "save_mb_s": save,
        "load_mb_s": load,
        "raw_load_mb_s": raw,
        "load_ratio": _div(load, raw),
        "target_load_ratio": TARGET_LOAD_RATIO,
        "load_checks": (ours.get("load") or {}).get("checks"),
        "load_sha256_mb_s": load_sha,
        "load_sha256_ratio": _div(load_sha, raw),
        "read_mb_s": read,
        "read_ratio": _div(read, raw),
        "resident_bytes_shared": shared,
        "resident_bytes_unshared": unshared,
        "unique_bytes": unique,
        "resident_over_unique": _div(shared, unique),
        "unshared_over_unique": _div(unshared, unique),
        "target_resident_over_unique": TARGET_RESIDENT_OVER_UNIQUE,
        "model_bytes_each": sharing.get("model_bytes"),
        "codecs": codecs,
        "timings_ms": {
            k: (ours.get(k) or {}).get("ms")
            for k in ("save", "load", "load_sha256", "read", "raw_load")
        },
        "memory_report": sharing.get("memory_report"),
        "config": page.get("config") or ours.get("config"),
        "errors": errors,
        "raw": page,
    }


def complete(result: dict[str, Any]) -> bool:
    """Every headline figure was measured (positive) and nothing failed."""
    keys = (
        "save_mb_s",
        "load_mb_s",
        "raw_load_mb_s",
        "load_ratio",
        "resident_bytes_shared",
        "resident_bytes_unshared",
        "unique_bytes",
        "resident_over_unique",
    )
    return all((result.get(k) or 0) > 0 for k in keys) and not result["errors"]


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "NOT met")


def format_table(result: dict[str, Any]) -> str:
    """The result for people: throughput, codecs, sharing, the two ratios against targets."""
    lines = [
        f"webaccel bench store  lane {result['lane']}  device {result.get('device') or '-'}  "
        f"pyodide {result.get('pyodide') or '-'}  python {result.get('python') or '-'}",
        f"model {_mb(result.get('model_bytes'))} ({(result.get('model') or {}).get('tensors')} "
        f"float32 tensors, {(result.get('model') or {}).get('chunks')} chunks of "
        f"{(result.get('chunk_size') or 0) / (1 << 20):g} MiB, {result.get('backend') or '-'}); "
        "MB = 10^6 bytes; medians",
        "",
    ]
    rows: list[tuple[str, ...]] = [("codec", "stored/raw", "save MB/s", "load MB/s")]
    for name, c in result["codecs"].items():
        rows.append(
            (
                name,
                _num(c.get("ratio"), 3),
                _num(c.get("save_mb_s")),
                _num(c.get("load_mb_s")) if not c.get("error") else "error",
            )
        )
    rows.append(("none, sha-256 verified", "1.000", "-", _num(result.get("load_sha256_mb_s"))))
    rows.append(("none, read to host memory", "1.000", "-", _num(result.get("read_mb_s"))))
    raw_name = "raw read of the chunk files" if result.get("backend") == "FileBackend" else None
    rows.append((raw_name or "raw IndexedDB read", "-", "-", _num(result.get("raw_load_mb_s"))))
    lines += columns(rows)
    lines.append("")
    ratio = result.get("load_ratio")
    target = result["target_load_ratio"]
    checks = ", ".join(result.get("load_checks") or []) or "-"
    lines.append(
        f"load / raw read: {_num(ratio, 3)} (target >= {target:.2f}: "
        f"{_verdict(None if ratio is None else ratio >= target)}; chunks checked by {checks}, "
        f"uploaded to {result.get('device') or '-'})"
    )
    lines.append(
        f"  with sha-256 verification: {_num(result.get('load_sha256_ratio'), 3)}; "
        f"read into host memory (no device upload): {_num(result.get('read_ratio'), 3)}"
    )
    rou = result.get("resident_over_unique")
    rtarget = result["target_resident_over_unique"]
    lines.append(
        f"two models sharing weights: resident {_mb(result.get('resident_bytes_shared'))} with "
        f"sharing, {_mb(result.get('resident_bytes_unshared'))} without; unique weights "
        f"{_mb(result.get('unique_bytes'))}"
    )
    lines.append(
        f"resident / unique: {_num(rou, 3)} with sharing (target <= {rtarget:.2f}: "
        f"{_verdict(None if rou is None else rou <= rtarget)}), "
        f"{_num(result.get('unshared_over_unique'), 3)} without"
    )
    for side, message in (result.get("errors") or {}).items():
        lines.append(f"ERROR {side}: {message}")
    return "\n".join(lines)

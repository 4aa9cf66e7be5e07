"""``webaccel bench soak``, host side: run ``static_site/bench_soak.html`` in a lane's browser
(``runner.run_page``) and shape its result as JSON or a table for people.

The JSON's headline keys (other tools read them): ``device_bytes_start``, ``device_bytes_end``,
``js_heap_start``, ``js_heap_end``, ``storages_start``, ``storages_end``, ``encodes``,
``loads``, ``recovery_ms``; then ``curve`` (one sample per ``sample_every`` encodes), the
verdicts against ``TOLERANCE`` and the page's raw result.
"""

from __future__ import annotations

from typing import Any

from ..text import columns, last_line
from .runner import DEFAULT_TIMEOUT, run_page

PAGE = "bench_soak.html"
TOLERANCE = 0.01  # end within 1% of start: device bytes, JS heap, storages
# The JS heap is held to "no more than 1% above its start", not "within 1% either way": V8
# frees in batches (measured on webnn: a slow rise of ~75 bytes per encode, then a release of
# ~370 KB every ~1,000 encodes), so a settled heap may end below its start (-1.3% and -1.6% in
# two full runs) without anything of ours having been freed that should have stayed. An end
# below the start is no growth; device bytes and storages are exact counts, held both ways.
ONE_SIDED = frozenset({"js_heap"})
# the same model on the same device gives the same embeddings: a loaded copy, and the
# resident model after a device loss (its weights restored, its graphs compiled again)
SAME_ANSWER = 1e-5
HEADLINE = (
    "device_bytes_start",
    "device_bytes_end",
    "js_heap_start",
    "js_heap_end",
    "storages_start",
    "storages_end",
    "encodes",
    "loads",
    "recovery_ms",
)


def page_config(
    *,
    encodes: int | None = None,
    loads: int | None = None,
    device: str | None = None,
    sample_every: int | None = None,
) -> dict[str, Any]:
    """The page's config from the command's options: only those given (the page's
    ``webaccel_pages.benchmarks.soak.DEFAULT_CONFIG`` holds the rest: 2,000 encodes, 100
    loads, webnn)."""
    given = {"encodes": encodes, "loads": loads, "device": device, "sample_every": sample_every}
    return {key: value for key, value in given.items() if value is not None}


def run_soak(
    lane: str = "headless-shell",
    config: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """``webaccel bench soak``: run the page in *lane* and return the shaped result."""
    return shape_result(run_page(lane, config or {}, timeout, PAGE), lane)


def back_to_baseline(
    start: float | None, end: float | None, one_sided: bool = False
) -> bool | None:
    """End within ``TOLERANCE`` of start (*one_sided*: at most ``TOLERANCE`` above it; None:
    not measured here)."""
    if start is None or end is None:
        return None
    slack = TOLERANCE * max(abs(start), 1)
    return end - start <= slack if one_sided else abs(end - start) <= slack


def _change(start: float | None, end: float | None) -> float | None:
    return (end - start) / start if start and end is not None else None


def shape_result(page: dict[str, Any], lane: str) -> dict[str, Any]:
    """The page's raw result as the command's JSON: ``HEADLINE`` keys first, then details."""
    ours = page.get("webaccel") or {}
    result: dict[str, Any] = {key: ours.get(key) for key in HEADLINE}
    result.update(
        lane=lane,
        device=ours.get("device") or (page.get("config") or {}).get("device"),
        pyodide=page.get("pyodide"),
        load_ms=ours.get("load_ms"),
        encode_ms_median=ours.get("encode_ms_median"),
        load_ms_median=ours.get("load_ms_median"),
        loads_from_store=ours.get("loads_from_store"),
        loads_max_abs_diff=ours.get("loads_max_abs_diff"),
        soak_s=ours.get("soak_s"),
        signatures=ours.get("signatures"),
        traced_again=ours.get("traced_again"),
        recovery=ours.get("recovery"),
        baseline={
            what: back_to_baseline(
                result[f"{what}_start"], result[f"{what}_end"], what in ONE_SIDED
            )
            for what in ("device_bytes", "js_heap", "storages")
        },
        change={
            what: _change(result[f"{what}_start"], result[f"{what}_end"])
            for what in ("device_bytes", "js_heap", "storages")
        },
        js_heap_peak=max(
            (s["js_heap"] for s in ours.get("curve") or [] if s.get("js_heap") is not None),
            default=None,
        ),
        tolerance=TOLERANCE,
        curve=ours.get("curve") or [],
        config=ours.get("config") or page.get("config"),
        errors={"webaccel": last_line(page["webaccel_error"])}
        if page.get("webaccel_error")
        else {},
        raw=page,
    )
    return result


def complete(result: dict[str, Any]) -> bool:
    """Everything ran, nothing failed, what was measured came back to its baseline, and the
    answers held: the loaded copies' and those after each device loss equal the resident
    model's (within ``SAME_ANSWER``)."""
    measured = [ok for ok in result["baseline"].values() if ok is not None]
    recovery = result.get("recovery") or {}
    recovered = recovery.get("skipped") is not None or (
        recovery.get("max_abs_diff", 1.0) <= SAME_ANSWER
    )
    return (
        not result["errors"]
        and result.get("encodes") is not None
        and bool(measured)
        and all(measured)
        and recovered
        and (result.get("loads_max_abs_diff") or 0.0) <= SAME_ANSWER
    )


def _n(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.1f}"


def _skipped(why: str | None) -> str:
    return f"; not measured: {why}" if why else ""


def format_table(result: dict[str, Any]) -> str:
    """The result for people: start/end of each measure with its verdict, then the curve."""
    lines = [
        f"webaccel bench soak  lane {result['lane']}  device {result.get('device') or '-'}  "
        f"pyodide {result.get('pyodide') or '-'}",
        f"{_n(result.get('encodes'))} encodes, {_n(result.get('loads'))} model loads/unloads "
        f"({_n(result.get('loads_from_store'))} from the store) in {_n(result.get('soak_s'))} s; "
        f"encode median {_n(result.get('encode_ms_median'))} ms, load median "
        f"{_n(result.get('load_ms_median'))} ms",
        f"recovery after a device loss: {_n(result.get('recovery_ms'))} ms (median of the first "
        "call after the loss minus a normal call)"
        + _skipped((result.get("recovery") or {}).get("skipped")),
        "",
    ]
    rows: list[tuple[str, ...]] = [("measure", "start", "end", "change", f"within {TOLERANCE:.0%}")]
    for what in ("device_bytes", "js_heap", "storages"):
        ok = result["baseline"][what]
        verdict = "-" if ok is None else ("yes" if ok else "NO")
        if what in ONE_SIDED and ok is not None:
            verdict += " (no growth)"
        change = result["change"][what]
        rows.append(
            (
                what,
                _n(result[f"{what}_start"]),
                _n(result[f"{what}_end"]),
                "-" if change is None else f"{change:+.2%}",
                verdict,
            )
        )
    lines += columns(rows)
    lines += ["", "curve:"]
    curve_rows: list[tuple[str, ...]] = [("step", "phase", "device_bytes", "storages", "js_heap")]
    for s in result["curve"]:
        curve_rows.append(
            (str(s["step"]), s["phase"], _n(s["device_bytes"]), _n(s["storages"]), _n(s["js_heap"]))
        )
    lines += columns(curve_rows)
    for side, message in result["errors"].items():
        lines.append(f"ERROR {side}: {message}")
    return "\n".join(lines)

"""`webaccel bench verify` on the host: result shaping, the completeness rule and the table (over
a made-up page), the CLI wiring, the interleaving (verify set before each sample, outside its
timing), and the harness itself run for real on CPython (all-MiniLM-L6-v2 on the cpu device,
whose programs verify checks where the graph passes rewrote them)."""

from __future__ import annotations

import asyncio
import json

import pytest

import webaccel as wa
from webaccel.engine import hooks
from webaccel_lab import cli
from webaccel_lab.benchmarks import verify_runner
from webaccel_pages.benchmarks import verify


@pytest.fixture(autouse=True)
def verify_off_after():
    yield
    wa.verify(False)
    wa.verify_report(reset=True)


def case(seq: int, batch: int, **changes) -> dict:
    """A case as the page leaves it (the numbers are made up)."""
    row = {
        "seq": seq,
        "batch": batch,
        "off_first_ms": 200.0,
        "on_first_ms": 1200.0,
        "first_ratio": 6.0,
        "off_ms": 40.0,
        "on_ms": 41.0,
        "steady_ratio": 1.025,
        "readback_ms": 600.0,
        "reference_ms": 350.0,
        "compare_ms": 0.5,
        "bisect_ms": 0.0,
        "total_ms": 950.5,
        "programs_checked": 1,
        "bytes_read": 90_263_168,
        "disagreements": 0,
        "steady_checks": 0,
        "outputs_equal": True,
        "first_samples_ms": {"off": [210.0, 200.0, 190.0], "on": [1300.0, 1200.0, 1100.0]},
        "samples_ms": {"off": [40.0] * 7, "on": [41.0] * 7},
    }
    return {**row, **changes}


def page(*cases: dict, disagreements: list[str] | None = None) -> dict:
    found = disagreements or []
    return {
        "config": verify.resolve_config({"device": "webgpu"}),
        "pyodide": "0.27.7",
        "webaccel": {
            "python": "3.12.7",
            "device": "webgpu",
            "cases": list(cases) or [case(16, 1), case(128, 8, on_first_ms=3000.0)],
            "programs_checked": 7,
            "disagreements": len(found),
            "reference_ms": 2100.0,
            "report": {
                "programs_checked": 7,
                "reference_ms": 2100.0,
                "readback_ms": 3600.0,
                "compare_ms": 3.0,
                "total_ms": 5703.0,
                "bytes_read": 541_578_000,
                "disagreements": found,
                "drifts": [],
                "notes": [],
            },
        },
    }


def test_resolve_config():
    c = verify.resolve_config('{"cases": [[32, 2]], "samples": 3}')
    assert c["cases"] == [[32, 2]] and c["samples"] == 3 and c["first_samples"] == 3
    assert c["device"] == "cpu"  # on CPython
    with pytest.raises(ValueError, match="unknown keys"):
        verify.resolve_config({"sample": 3})
    with pytest.raises(ValueError, match="first_samples must be at least 1"):
        verify.resolve_config({"first_samples": 0})


def test_sample_count_keeps_to_the_budget():
    cfg = verify.resolve_config({"samples": 7, "min_samples": 3, "case_budget_ms": 1000.0})
    assert verify.sample_count(cfg, 10.0) == 7  # 100 rounds fit: the most asked for
    assert verify.sample_count(cfg, 200.0) == 5
    assert verify.sample_count(cfg, 5000.0) == 3  # none fits: the fewest asked for
    assert verify.sample_count(cfg, 0.0) == 7


def test_shape_result_and_complete():
    r = verify_runner.shape_result(page(), "pyodide-0.27")
    assert r["lane"] == "pyodide-0.27" and r["device"] == "webgpu" and r["pyodide"] == "0.27.7"
    assert [(c["seq"], c["batch"]) for c in r["cases"]] == [(16, 1), (128, 8)]
    first = r["cases"][0]
    assert list(first)[: len(verify_runner.CASE_KEYS)] == list(verify_runner.CASE_KEYS)
    assert first["first_ratio"] == 6.0 and first["steady_ratio"] == 1.025
    assert first["reference_ms"] == 350.0 and first["readback_ms"] == 600.0
    assert r["programs_checked"] == 7 and r["disagreements"] == 0 and r["reference_ms"] == 2100
    assert r["errors"] == {}
    assert verify_runner.complete(r)


@pytest.mark.parametrize(
    "bad",
    [
        {"disagreements": ["softmax((float32 (8, 128, 128)),) on webgpu disagrees ..."]},
        {"case": {"steady_checks": 1}},  # a check inside the steady timing
        {"case": {"outputs_equal": False}},  # verify changed what the device returned
        {"case": {"programs_checked": 0}},  # the first call on the on side checked nothing
        {"case": {"on_ms": None}},
        {"case": {"error": "RuntimeError: lost"}},
    ],
)
def test_incomplete(bad):
    cases = [case(16, 1, **bad.get("case", {}))]
    r = verify_runner.shape_result(page(*cases, disagreements=bad.get("disagreements")), "x")
    assert not verify_runner.complete(r)
    if "error" in bad.get("case", {}):
        assert r["errors"] == {"16x1": "RuntimeError: lost"}


def test_a_failed_page():
    failed = {"webaccel_error": "Traceback ...\nRuntimeError: webaccel.verify needs NumPy\n"}
    r = verify_runner.shape_result(failed, "chromium")
    assert r["errors"] == {"webaccel": "RuntimeError: webaccel.verify needs NumPy"}
    assert r["cases"] == [] and not verify_runner.complete(r)
    assert "ERROR webaccel: RuntimeError: webaccel.verify needs NumPy" in (
        verify_runner.format_table(r)
    )


def test_format_table():
    found = ["softmax(float32 (8, 128, 128)) on webgpu disagrees with the cpu reference: ..."]
    text = verify_runner.format_table(
        verify_runner.shape_result(page(disagreements=found), "pyodide-0.27")
    )
    lines = text.splitlines()
    assert lines[0].startswith("webaccel bench verify  lane pyodide-0.27  device webgpu")
    row = next(line for line in lines if line.startswith("16 x 1 "))
    assert row.split()[3:] == "200.0 1200.0 6.00 40.0 41.0 1.025 600.0 350.0 0.50 3/7".split()
    assert "7 program(s) checked, cpu reference 2100.0 ms, read back 541.6 MB" in text
    assert "disagreements with the cpu reference: 1" in text
    assert f"- {found[0]}" in text


def test_cli_bench_verify(monkeypatch, capsys):
    calls = []

    def fake_run_verify(lane, config, timeout, *, device=None, cases=None):
        calls.append((lane, device, cases))
        return verify_runner.shape_result(page(), lane)

    monkeypatch.setattr(verify_runner, "run_verify", fake_run_verify)
    assert cli.main(["bench", "verify", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert calls[-1] == ("pyodide-0.27", None, None)
    for c in out["cases"]:
        assert set(verify_runner.CASE_KEYS) <= set(c)
    assert out["disagreements"] == 0 and out["programs_checked"] == 7
    args = ["bench", "verify", "--lane", "chromium", "--device", "cpu", "--cases", "16x1"]
    assert cli.main(args) == 0
    assert calls[-1] == ("chromium", "cpu", [[16, 1]])
    assert "disagreements with the cpu reference: 0" in capsys.readouterr().out


def test_interleaved_sets_verify_before_each_sample():
    """Each side runs with verify as it names it (the hook installed only when on), the order
    alternates, and verify is off afterwards."""
    ran: list[tuple[bool, bool]] = []

    def side(name: bool):
        async def run() -> None:
            ran.append((name, hooks.after_run is not None))

        return run

    ticks = iter(range(100))
    times = asyncio.run(
        verify.interleaved({False: side(False), True: side(True)}, 3, lambda: next(ticks))
    )
    off, on = (False, False), (True, True)  # (side, hook installed)
    assert ran == [off, on, on, off, off, on]
    assert times == {False: [1000.0] * 3, True: [1000.0] * 3}  # one tick per timed run
    assert hooks.after_run is None


def test_harness_on_the_host():
    """The benchmark for real on CPython, small: all-MiniLM-L6-v2 on the cpu device, one case;
    the shaped result is complete and verify found nothing."""
    config = {"cases": [[16, 1]], "first_samples": 1, "samples": 2, "min_samples": 2}
    raw = json.loads(verify.run(config))
    r = verify_runner.shape_result({"webaccel": raw, "config": raw["config"]}, "host")
    assert verify_runner.complete(r), (r["errors"], r["cases"])
    (c,) = r["cases"]
    assert (c["seq"], c["batch"]) == (16, 1) and r["device"] == "cpu"
    assert c["first_ratio"] == pytest.approx(c["on_first_ms"] / c["off_first_ms"])
    assert c["steady_ratio"] == pytest.approx(c["on_ms"] / c["off_ms"])
    assert len(c["samples_ms"]["on"]) == 2 and len(c["first_samples_ms"]["off"]) == 1
    assert c["reference_ms"] > 0 and c["bytes_read"] > 80e6  # the weights were read back
    assert r["disagreements"] == 0 and r["disagreement_details"] == []
    assert hooks.after_run is None  # verify is off again

"""The soak benchmark's parts that run on the host: the page's protocol
(``webaccel_pages.benchmarks.soak.run_async``) on the cpu device with a small BERT checkpoint,
its device losses on ``test_recovery``'s losable stand-in, and the lab's side
(``webaccel_lab.benchmarks.soak_runner``: the JSON's keys, the verdicts, the table; the
``bench soak`` options). The browser runs it in ``tests/browser/test_soak_browser.py``."""

from __future__ import annotations

import asyncio
import json
import statistics
import warnings

import pytest
import tiny_bert as tb
from test_recovery import LosableCPU

from webaccel_lab import cli
from webaccel_lab.benchmarks import soak_runner
from webaccel_pages.benchmarks import soak

SHORT = {"encodes": 60, "loads": 5, "sample_every": 20, "batches": [1, 2], "max_words": 2}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = tb.write_checkpoint(tmp_path_factory.mktemp("soak"), tb.VARIANTS["uncased_mean"])
    return str(folder)


def page_result(checkpoint: str, device=None, **config) -> dict:
    """What the page leaves in ``window.benchResult``, from the same code on CPython."""
    cfg = {**SHORT, "model_dir": checkpoint, **config}
    return {"config": cfg, "webaccel": json.loads(asyncio.run(soak.run_async(cfg, device=device)))}


def test_a_short_soak_returns_to_baseline_on_cpu(checkpoint):
    result = soak_runner.shape_result(page_result(checkpoint), "host")
    for key in soak_runner.HEADLINE:
        assert key in result, key
    for key in ("device_bytes", "storages"):
        start, end = result[f"{key}_start"], result[f"{key}_end"]
        assert isinstance(start, int) and isinstance(end, int) and start > 0
        assert abs(end - start) <= 0.01 * start, (key, start, end)
        assert result["baseline"][key] is True
    assert result["js_heap_start"] is None and result["baseline"]["js_heap"] is None  # no JS
    assert (result["encodes"], result["loads"]) == (60, 5)
    assert result["loads_from_store"] == 5 and result["loads_max_abs_diff"] == 0.0
    assert result["signatures"] == len(SHORT["batches"]) * 2 and result["traced_again"] == 0
    assert result["recovery_ms"] is None and "not lost" in result["recovery"]["skipped"]
    steps = [(s["step"], s["phase"]) for s in result["curve"]]
    assert steps == [(0, "start"), (20, "soak"), (40, "soak"), (60, "soak"), (60, "end")]
    assert soak_runner.complete(result) and result["errors"] == {}
    table = soak_runner.format_table(result)
    assert "60 encodes, 5 model loads/unloads (5 from the store)" in table
    assert "not measured: the cpu device is not lost" in table
    curve = table.split("curve:")[1]
    assert curve.count(" soak ") == 3 and curve.count(" end ") == 1
    json.dumps(result)  # the --json form


def test_losses_are_recovered_and_timed(checkpoint):
    dev = LosableCPU()
    result = soak_runner.shape_result(
        page_result(checkpoint, dev, encodes=10, loads=1, losses=2, sample_every=5), "host"
    )
    rec = result["recovery"]
    assert rec["losses"] == 2 and rec["max_abs_diff"] == 0.0
    assert dev.rebuilds == 2 and dev.recovery.losses == 2
    assert len(rec["first_call_ms"]) == len(rec["normal_call_ms"]) == len(rec["ms"]) == 2
    assert result["recovery_ms"] == statistics.median(rec["ms"])
    assert all(ms > 0 for ms in rec["rebuild_ms"])
    assert all(b > 100_000 for b in rec["restored_bytes"])  # the weights, from the store
    assert rec["lost_storages"] == [0, 0] and all(n >= 1 for n in rec["recompiled_traces"])
    assert result["curve"][-1]["phase"] == "recovered"
    assert result["baseline"]["storages"] and result["baseline"]["device_bytes"]
    assert soak_runner.complete(result)


def test_complete_needs_baseline_answers_and_no_errors():
    def shaped(**ours):
        page = {
            "device_bytes_start": 1000,
            "device_bytes_end": 1010,
            "storages_start": 100,
            "storages_end": 100,
            "js_heap_start": None,
            "js_heap_end": None,
            "encodes": 5,
            "loads": 1,
            "recovery_ms": 3.0,
            "recovery": {"losses": 1, "max_abs_diff": 0.0, "median_ms": 3.0},
            "loads_max_abs_diff": 0.0,
            "curve": [],
            **ours,
        }
        return soak_runner.shape_result({"webaccel": page}, "headless-shell")

    assert soak_runner.complete(shaped())  # 1010 is within 1% of 1000
    assert not soak_runner.complete(shaped(device_bytes_end=1011))
    assert not soak_runner.complete(shaped(storages_end=102))
    assert soak_runner.complete(shaped(js_heap_start=10_000_000, js_heap_end=10_090_000))
    assert not soak_runner.complete(shaped(js_heap_start=10_000_000, js_heap_end=10_200_000))
    # the JS heap: no growth beyond 1%; V8 releasing in batches may leave it below its start
    below = shaped(js_heap_start=10_000_000, js_heap_end=9_840_000)
    assert soak_runner.complete(below) and below["change"]["js_heap"] == -0.016
    assert not soak_runner.complete(shaped(device_bytes_end=980))  # exact counts: both ways
    assert not soak_runner.complete(shaped(loads_max_abs_diff=1e-3))
    assert not soak_runner.complete(shaped(recovery={"losses": 1, "max_abs_diff": 0.5}))
    errors = soak_runner.shape_result({"webaccel_error": "Traceback\nValueError: bad"}, "x")
    assert errors["errors"] == {"webaccel": "ValueError: bad"} and not soak_runner.complete(errors)
    for key in soak_runner.HEADLINE:
        assert errors[key] is None  # every key is there, with nothing measured


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"encodes": -1}, "encodes must be a non-negative integer"),
        ({"loads": 2.5}, "loads must be a non-negative integer"),
        ({"batches": []}, "batches must be a list of positive integers"),
        ({"batches": [0, 2]}, "batches must be a list of positive integers"),
        ({"encodes": 3, "loads": 4}, r"at most encodes \(3\)"),
        ({"sample_every": 0}, "at least 1"),
        ({"bogus": 1}, "unknown keys"),
    ],
)
def test_page_config_is_checked(config, match):
    with pytest.raises(ValueError, match=match):
        soak.resolve_config(config)


def test_defaults_are_the_issues_numbers():
    cfg = soak.resolve_config(None)
    assert (cfg["encodes"], cfg["loads"], cfg["device"]) == (2000, 100, "cpu")  # cpu: CPython
    assert soak_runner.page_config() == {}  # the page's defaults, not the command's
    args = cli.build_parser().parse_args(["bench", "soak", "--json"])
    assert (args.encodes, args.loads, args.sample_every, args.json) == (None, None, None, True)


def test_bench_soak_options():
    args = cli.build_parser().parse_args(
        ["bench", "soak", "--json", "--encodes", "60", "--loads", "5", "--device", "webgpu"]
    )
    assert (args.target, args.json, args.lane) == ("soak", True, None)
    config = soak_runner.page_config(
        encodes=args.encodes, loads=args.loads, device=args.device, sample_every=args.sample_every
    )
    assert config == {"encodes": 60, "loads": 5, "device": "webgpu"}
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["bench", "soak", "--encodes", "-5"])
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["bench", "soak", "--lane", "host"])

"""`webaccel bench ops` on the host: config, timing helpers, result shaping and the table; the
webaccel side of the harness run for real on the cpu device (NumPy)."""

from __future__ import annotations

import array
import asyncio
import json
import statistics
from urllib.parse import parse_qs, urlsplit

import pytest

from webaccel_lab import cli, lab
from webaccel_lab.benchmarks import runner
from webaccel_pages.benchmarks import ops


def page(ours=True, theirs=True):
    """A page result as bench.js leaves it (the numbers are made up)."""
    out = {
        "config": ops.resolve_config({"sizes": [256, 512]}),
        "adapter": {
            "available": True,
            "vendor": "google",
            "architecture": "swiftshader",
            "is_fallback": True,
        },
        "pyodide": "314.0.7",
        "cross_origin_isolated": False,
    }
    if ours:
        out["webaccel"] = {
            "device": {"name": "webgpu"},
            "python": "3.14.2",
            "timer_resolution_us": 100.0,
            "matmul": [
                {"n": 256, "median_ms": 10.0, "gflops": 3.0, "gpu_ms": 8.0, "gpu_gflops": 4.0},
                {"n": 512, "error": "ShapeError: boom"},
            ],
            "conv2d": {"median_ms": 20.0, "gflops": 7.5},
            "overhead_us": {
                "eager_per_op": 120.0,
                "eager_per_run": 5.0,
                "graph_per_run": 300.0,
                "graph_per_op": 12.0,
                "captured_per_run": 40.0,
                "captured_per_op": 0.5,
                "captured_us": {"1": 41.0, "8": 44.0},
                "eager_us": {"1": 125.0, "8": 965.0},
                "graph_us": {"1": 312.0, "8": 396.0},
                "numel": 1024,
            },
        }
    else:
        out["webaccel_error"] = (
            "Traceback (most recent call last):\n  ...\n"
            "webaccel._compat.WebAccelError: unknown backend 'webgpu'; registered: ['cpu']\n"
        )
    if theirs:
        out["tfjs"] = {
            "version": "4.22.0",
            "backend": "webgpu",
            "sync": "submitQueue + queue.onSubmittedWorkDone",
            "matmul": [
                {"n": 256, "median_ms": 5.0, "gflops": 6.0},
                {"n": 512, "median_ms": 40.0, "gflops": 6.7},
            ],
            "conv2d": {"median_ms": 10.0, "gflops": 15.0},
        }
    else:
        out["tfjs_error"] = "Error: TF.js or its WebGPU backend did not load"
    return out


def test_shape_result_pairs_sides_and_computes_ratios():
    result = runner.shape_result(page(), "chromium")
    assert result["lane"] == "chromium"
    assert result["device"]["vendor"] == "google"
    assert result["device"]["webaccel_device"] == "webgpu"
    first, second = result["matmul"]
    assert first == {
        "n": 256,
        "gflops": 3.0,
        "tfjs_gflops": 6.0,
        "ratio": 0.5,
        "ms": 10.0,
        "tfjs_ms": 5.0,
        "gpu_gflops": 4.0,
        "gpu_ms": 8.0,
    }
    assert second["n"] == 512 and second["gflops"] is None and second["ratio"] is None
    assert second["tfjs_gflops"] == 6.7 and second["error"] == "ShapeError: boom"
    assert result["conv2d"]["ratio"] == pytest.approx(0.5)
    assert result["conv2d"]["shape"]["out_channels"] == 64
    assert result["overhead_us"]["eager_per_op"] == 120.0
    assert result["overhead_us"]["graph_per_run"] == 300.0
    assert result["overhead_us"]["graph_per_op"] == 12.0
    assert result["errors"] == {}
    assert not runner.complete(result)  # one matmul failed
    json.dumps(result)  # all JSON


def test_complete_when_every_case_has_both_sides():
    p = page()
    p["webaccel"]["matmul"][1] = {"n": 512, "median_ms": 50.0, "gflops": 5.4}
    assert runner.complete(runner.shape_result(p, "chromium"))


def test_missing_webaccel_device_is_an_error_row():
    result = runner.shape_result(page(ours=False), "chromium")
    assert result["errors"] == {
        "webaccel": "webaccel._compat.WebAccelError: unknown backend 'webgpu'; registered: ['cpu']"
    }
    assert [r["tfjs_gflops"] for r in result["matmul"]] == [6.0, 6.7]
    assert all(r["gflops"] is None and r["ratio"] is None for r in result["matmul"])
    assert result["overhead_us"] == {
        "eager_per_op": None,
        "graph_per_run": None,
        "graph_per_op": None,
    }
    assert result["device"]["webaccel_device"] == "webgpu"  # from the config
    assert not runner.complete(result)
    table = runner.format_table(result)
    assert "ERROR webaccel: webaccel._compat.WebAccelError: unknown backend 'webgpu'" in table


def test_format_table_rows():
    table = runner.format_table(runner.shape_result(page(), "chromium"))
    lines = table.splitlines()
    assert lines[0].startswith("webaccel bench ops  lane chromium  adapter google/swiftshader")
    assert "TF.js 4.22.0 (webgpu)" in lines[0]
    header = next(line for line in lines if line.startswith("case"))
    assert header.split("  ")[0] == "case"
    assert "ours/TF.js" in header
    row256 = next(line for line in lines if line.startswith("matmul 256"))
    assert row256.split() == ["matmul", "256", "3.00", "6.00", "0.500", "10.00", "5.00"]
    row512 = next(line for line in lines if line.startswith("matmul 512"))
    assert row512.split() == ["matmul", "512", "-", "6.70", "-", "-", "40.00"]
    assert any(line.startswith("conv2d 1x64x64x32 k3 ->64") for line in lines)
    overhead = next(line for line in lines if line.startswith("elementwise chain"))
    assert overhead.split()[-5:] == ["120.0", "300.0", "12.0", "40.0", "0.5"]
    assert "GPU timestamps: matmul 256: webaccel 4.00, TF.js - GFLOP/s" in table
    assert "ERROR matmul 512 (webaccel): ShapeError: boom" in table


def test_format_table_without_tfjs():
    result = runner.shape_result(page(theirs=False), "headless-shell")
    table = runner.format_table(result)
    assert "ERROR tfjs: Error: TF.js or its WebGPU backend did not load" in table
    assert "TF.js - (-)" in table.splitlines()[0]


def test_page_url_carries_lane_and_config():
    lane = lab.LANES["pyodide-0.27"]
    url = runner.page_url("http://127.0.0.1:1/", lane, {"sizes": [64], "device": "cpu"})
    parts = urlsplit(url)
    assert parts.path == "/bench.html"
    query = parse_qs(parts.query)
    assert query["pyodide"] == ["0.27.7"] and query["packages"] == ["numpy"]
    assert json.loads(query["config"][0]) == {"sizes": [64], "device": "cpu"}


def test_run_page_refuses_the_host_lane():
    with pytest.raises(lab.LabError, match="browser lane"):
        runner.run_page("host")


def test_cli_bench_parser():
    args = cli.build_parser().parse_args(["bench", "ops", "--sizes", "64,128", "--json"])
    assert (args.target, args.lane, args.sizes, args.json) == ("ops", None, [64, 128], True)
    assert args.func is cli.cmd_bench
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["bench", "ops", "--lane", "host"])
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["bench", "ops", "--sizes", "a,b"])


def test_resolve_config():
    cfg = ops.resolve_config('{"sizes": ["64"], "overhead": {"runs": 3}}')
    assert cfg["device"] == "webgpu" and cfg["sizes"] == [64]
    assert cfg["overhead"] == {**ops.DEFAULT_CONFIG["overhead"], "runs": 3}
    assert ops.resolve_config(None) == ops.resolve_config("") == ops.DEFAULT_CONFIG
    assert ops.DEFAULT_CONFIG["sizes"] == [256, 512, 1024]  # not mutated
    with pytest.raises(ValueError, match="unknown keys"):
        ops.resolve_config({"size": [1]})
    assert json.loads(ops.resolve_config_json({"device": "cpu"}))["device"] == "cpu"


def test_fit_line_and_gflops():
    intercept, slope = ops.fit_line([1, 8, 32], [12.0, 40.0, 136.0])
    assert intercept == pytest.approx(8.0) and slope == pytest.approx(4.0)
    with pytest.raises(ValueError):
        ops.fit_line([8, 8], [1.0, 2.0])
    assert ops.gflops(2 * 512**3, 100.0) == pytest.approx(2.68435456)
    assert ops.gflops(1.0, None) is None
    assert ops.conv2d_flop(ops.DEFAULT_CONFIG["conv2d"]) == 2 * 64 * 64 * 64 * 32 * 9


def test_time_runs_protocol_with_a_fake_clock():
    now = [0.0]
    events = []

    def clock():
        return now[0]

    def run():
        now[0] += 0.010  # every run takes 10 ms
        events.append("run")
        return len(events)

    async def sync(handle):
        events.append("sync")

    cfg = {**ops.DEFAULT_CONFIG, "warmup": 2, "warmup_ms": 30, "sample_ms": 25, "budget_ms": 150}
    timing = asyncio.run(ops.time_runs(run, sync, cfg, clock))
    assert timing["warmup_runs"] == 3  # 2 runs, then until 30 ms
    assert timing["reps"] == 3  # ceil(25 / 10)
    assert timing["samples"] == 5  # 150 ms / 30 ms per sample
    assert timing["median_ms"] == pytest.approx(10.0)
    samples = events[6:]
    assert samples == ["run", "run", "run", "sync"] * 5  # one sync per sample


def test_run_async_on_the_cpu_device():
    small = {
        "device": "cpu",
        "sizes": [16, 32],
        "conv2d": {"height": 8, "width": 8, "in_channels": 4, "out_channels": 8},
        "warmup_ms": 5,
        "sample_ms": 2,
        "budget_ms": 20,
        "overhead": {"chain": [1, 2, 4], "runs": 3, "samples": 2},
    }
    result = json.loads(asyncio.run(ops.run_async(small)))
    assert result["device"]["name"] == "cpu"
    assert [m["n"] for m in result["matmul"]] == [16, 32]
    for case in [*result["matmul"], result["conv2d"]]:
        assert case["gflops"] > 0 and case["median_ms"] > 0, case
        assert case["check_points"] == 3 and case["check_max_abs_err"] < 1e-4, case
        assert "error" not in case
    assert result["conv2d"]["weight_oihw"] == [8, 4, 3, 3]
    overhead = result["overhead_us"]
    assert overhead["eager_per_op"] > 0
    assert set(overhead["graph_cache_hits"].values()) == {6}  # every timed run hit the cache
    assert set(overhead) >= {"eager_per_op", "graph_per_run", "graph_per_op"}
    import webaccel

    assert webaccel.set_eager(False) is False  # restored


def test_run_async_names_a_missing_device():
    with pytest.raises(Exception, match="unknown backend 'nope'"):
        asyncio.run(ops.run_async({"device": "nope"}))


def test_timestamp_runs_stay_within_the_budget():
    cfg = {**ops.DEFAULT_CONFIG, "gpu_timestamp_runs": 3, "budget_ms": 3000}
    assert ops.timestamp_runs(cfg, 10.0) == 3
    assert ops.timestamp_runs(cfg, 1500.0) == 2
    assert ops.timestamp_runs(cfg, 11000.0) == 1
    assert ops.timestamp_runs({**cfg, "gpu_timestamp_runs": 0}, 10.0) == 0


def test_gpu_timestamps_are_reported_when_the_device_has_them():
    import webaccel

    cpu = webaccel.get_device("cpu")
    asked = []

    class TimedDevice:  # the cpu device, plus GPU timestamps of 2 ms per run
        name = "cpu"

        async def gpu_time_ns_async(self):
            asked.append(1)
            return 2_000_000

    x = webaccel.tensor(array.array("f", [1.0] * 16), device=cpu, shape=(4, 4))
    cfg = {**ops.DEFAULT_CONFIG, "warmup_ms": 1, "sample_ms": 1, "budget_ms": 5}
    out = asyncio.run(ops._case(TimedDevice(), 1e6, lambda: (x @ x).realize(), cfg))
    assert out["gpu_ms"] == 2.0 and out["gpu_gflops"] == pytest.approx(0.5)
    assert len(asked) == ops.timestamp_runs(cfg, out["median_ms"])


def test_check_flags_wrong_results():
    import webaccel

    t = webaccel.tensor(array.array("f", [1.0, 2.0, 3.0]), device="cpu")
    good = asyncio.run(ops._check(t, {0: (1.0, 1.0), 2: (3.0, 3.0)}))
    assert good == {"check_points": 2, "check_max_abs_err": 0.0}
    bad = asyncio.run(ops._check(t, {1: (2.5, 2.5)}))
    assert bad["error"].startswith("wrong results: max abs error 0.5")


# --- bench ops --backend webnn --------------------------------------------------------------


def webnn_page(ratio_ms=(1.8, 1.4), cpu_reason="ImportError: the cpu backend needs NumPy"):
    """A result as bench_webnn.js leaves it (made-up numbers)."""
    ours, plain = ratio_ms
    return {
        "config": {"backends": ["webnn", "webgpu", "cpu"]},
        "pyodide": "314.0.7",
        "cross_origin_isolated": False,
        "webaccel": {
            "python": "3.14.2",
            "backends": ["webnn", "webgpu"],
            "unavailable": {"cpu": cpu_reason},
            "per_run": "write the input, run the captured graph, read the whole output back",
            "ops": [
                {
                    "op": "matmul 256",
                    "shape": [256, 256],
                    "ms": {"webnn": 4.0, "webgpu": 36.0},
                    "max_abs_diff": {"webgpu": 2e-6},
                },
                {
                    "op": "gelu 256x512",
                    "shape": [256, 512],
                    "ms": {"webnn": 5.0},
                    "errors": {"webgpu": "RuntimeError: boom\nsecond line"},
                },
            ],
            "block": {
                "config": {"seq": 64, "width": 128, "heads": 4, "mlp": 512},
                "ms": {"webnn": 1.9, "webgpu": 99.7},
                "errors": {},
                "max_abs_diff": {"webgpu": 3e-7},
                "vs_plain_js": {
                    "webaccel_ms": ours,
                    "plain_js_ms": plain,
                    "ratio": ours / plain,
                    "plain_js_inner_ms": 1.1,
                    "max_abs_diff": 0.0,
                    "timing": {"webaccel": {}, "plain_js": {}},
                    "graph": "weights as graph inputs",
                },
            },
        },
    }


def test_shape_webnn_result_has_the_documented_keys():
    result = runner.shape_webnn_result(webnn_page(), "headless-shell")
    assert result["backend"] == "webnn" and result["lane"] == "headless-shell"
    first, second = result["ops"]
    assert (first["op"], first["ms"], first["webgpu_ms"], first["cpu_ms"]) == (
        "matmul 256",
        4.0,
        36.0,
        None,
    )
    assert second["webgpu_ms"] is None and "webgpu" in second["errors"]
    assert result["block_ms"] == {"webnn": 1.9, "webgpu": 99.7, "cpu": None}
    assert result["cpu_reason"] == "ImportError: the cpu backend needs NumPy"
    assert result["vs_plain_js_ratio"] == pytest.approx(1.8 / 1.4)
    assert "timing" not in result["vs_plain_js"]
    assert result["target_ratio"] == 1.05
    assert not runner.complete_webnn(result)  # gelu has no webgpu figure
    json.dumps(result)


def test_complete_webnn_needs_agreement_and_the_ratio():
    page = webnn_page()
    page["webaccel"]["ops"] = page["webaccel"]["ops"][:1]
    assert runner.complete_webnn(runner.shape_webnn_result(page, "headless-shell"))
    page["webaccel"]["block"]["vs_plain_js"]["max_abs_diff"] = 0.5  # the sides disagree
    assert not runner.complete_webnn(runner.shape_webnn_result(page, "headless-shell"))
    del page["webaccel"]["block"]["vs_plain_js"]
    assert not runner.complete_webnn(runner.shape_webnn_result(page, "headless-shell"))
    failed = runner.shape_webnn_result({"webaccel_error": "Traceback\nValueError: x\n"}, "h")
    assert failed["errors"] == {"webaccel": "ValueError: x"}
    assert failed["ops"] == [] and failed["vs_plain_js_ratio"] is None
    assert not runner.complete_webnn(failed)


def test_format_webnn_table():
    table = runner.format_webnn_table(runner.shape_webnn_result(webnn_page(), "headless-shell"))
    lines = table.splitlines()
    assert lines[0].startswith("webaccel bench ops --backend webnn  lane headless-shell")
    header = next(line for line in lines if line.startswith("op "))
    assert header.split() == ["op", "webnn", "ms", "webgpu", "ms", "cpu", "ms", "webgpu/webnn"]
    row = next(line for line in lines if line.startswith("matmul 256"))
    assert row.split() == ["matmul", "256", "4.000", "36.000", "-", "9.0"]
    block = next(line for line in lines if line.startswith("block seq 64"))
    assert block.split()[-4:] == ["1.900", "99.700", "-", "52.5"]
    assert "ratio 1.286 (target <= 1.05: NOT met)" in table
    assert "cpu: unavailable: ImportError: the cpu backend needs NumPy" in table
    assert "ERROR gelu 256x512 (webgpu): second line" in table
    met = runner.format_webnn_table(
        runner.shape_webnn_result(webnn_page(ratio_ms=(1.0, 1.0)), "headless-shell")
    )
    assert "ratio 1.000 (target <= 1.05: met)" in met


def test_cli_bench_backend_flag():
    args = cli.build_parser().parse_args(["bench", "ops", "--backend", "webnn", "--json"])
    assert args.backend == "webnn" and args.lane is None and args.json  # chromium for ops
    assert cli.build_parser().parse_args(["bench", "ops"]).backend is None
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["bench", "ops", "--backend", "tpu"])


def test_cli_bench_webnn_picks_a_webnn_lane(monkeypatch, capsys):
    calls = []

    def fake_run_webnn(lane, config, timeout):
        calls.append((lane, config))
        return runner.shape_webnn_result(webnn_page(), lane)

    monkeypatch.setattr(runner, "run_webnn", fake_run_webnn)
    code = cli.main(["bench", "ops", "--backend", "webnn", "--json", "--sizes", "64"])
    out = json.loads(capsys.readouterr().out)
    assert calls == [("headless-shell", {"matmul": [64]})]  # chromium has no WebNN
    assert out["backend"] == "webnn" and out["ops"][0]["op"] == "matmul 256"
    assert code == 1  # incomplete (the made-up gelu row has no webgpu figure)


def test_webnn_page_url():
    url = runner.page_url(
        "http://127.0.0.1:1/", lab.LANES["headless-shell"], None, "bench_webnn.html"
    )
    assert urlsplit(url).path == "/bench_webnn.html"


def test_time_interleaved_alternates_sides_with_a_fake_clock():
    from webaccel_pages.benchmarks import webnn

    now = [0.0]
    events = []

    def side(name, ms):
        async def run():
            now[0] += ms / 1e3
            events.append(name)

        return run

    cfg = {**webnn.DEFAULT_CONFIG, "warmup": 2, "warmup_ms": 0, "sample_ms": 4, "min_samples": 3}
    timing = asyncio.run(
        webnn.time_interleaved(
            {"a": side("a", 2.0), "b": side("b", 4.0)}, cfg, samples=4, clock=lambda: now[0]
        )
    )
    assert timing["a"]["ms"] == pytest.approx(2.0) and timing["b"]["ms"] == pytest.approx(4.0)
    assert (timing["a"]["reps"], timing["b"]["reps"]) == (2, 1)
    assert timing["a"]["samples"] == 4
    # after 2 warm-up runs each: samples A B, then B A, ...
    assert events[4:] == ["a", "a", "b", "b", "a", "a", "a", "a", "b", "b", "a", "a"]


def test_paired_ratio_cancels_drift_that_a_ratio_of_medians_keeps():
    from webaccel_pages.benchmarks import webnn

    # side a is 5% slower than b in every round, while the machine slows down 3x over the run
    # and the b samples happen to land more in the slow part
    drift = [1.0, 1.0, 1.0, 3.0, 3.0]
    b = [1.0 * d for d in drift]
    a = [1.05 * d for d in [1.0, 1.0, 1.0, 3.0, 3.0]]
    b[2] = 3.0  # one b sample caught a slow moment that its a partner did not
    timing = {"a": {"samples_ms": a}, "b": {"samples_ms": b}}
    assert webnn.paired_ratio(timing, "a", "b") == pytest.approx(1.05)
    assert statistics.median(a) / statistics.median(b) == pytest.approx(1.05 / 3.0)
    with pytest.raises(ValueError):  # sides of different lengths are not pairs
        webnn.paired_ratio({"a": {"samples_ms": [1.0]}, "b": {"samples_ms": []}}, "a", "b")


def test_webnn_bench_on_the_cpu_device():
    """The harness on CPython: only the cpu backend runs here; the others say why not."""
    from webaccel_pages.benchmarks import webnn

    small = {
        "backends": ["cpu", "webnn"],
        "matmul": [16],
        "conv2d": {"height": 6, "width": 6, "in_channels": 4, "out_channels": 4},
        "rows": [4, 16],
        "block": {"seq": 4, "width": 16, "heads": 2, "mlp": 32},
        "warmup": 1,
        "warmup_ms": 0,
        "sample_ms": 1,
        "samples": 3,
    }
    result = json.loads(asyncio.run(webnn.run_async(small)))
    assert result["backends"] == ["cpu"]
    assert "webnn" in result["unavailable"]
    assert len(result["ops"]) == 6
    for row in result["ops"]:
        assert row["ms"]["cpu"] > 0, row
    assert result["block"]["ms"]["cpu"] > 0
    assert "vs_plain_js" not in result["block"]
    with pytest.raises(ValueError, match="unknown keys"):
        webnn.resolve_config({"sizes": [1]})

"""Op benchmarks through webaccel's public API: matmul and conv2d GFLOP/s, Python overhead per op.

Runs wherever webaccel runs: in Pyodide (``static_site/bench.html`` calls ``run_async``, with the
``webgpu`` device by default) or on CPython (``device="cpu"``, NumPy). Results are one JSON string.

Timing protocol (``static_site/bench.js`` applies the same one to TF.js, from the same config):

- warm up: at least ``warmup`` runs and ``warmup_ms`` of running (compiles, fills caches, and
  lets a real GPU clock up); each warm-up run waits for completion;
- choose ``reps`` so that one sample lasts at least ``sample_ms`` (the browser's clock is coarse:
  ~100 us outside cross-origin isolation) and the number of samples so that a case takes about
  ``budget_ms`` (clamped to ``min_samples``..``max_samples``);
- a sample launches ``reps`` runs back to back and waits once for the last to complete (reading
  back a 4-byte slice: a read waits for all submitted work); the sample's time / ``reps`` is one
  run; the case reports the median (and min) over samples, and GFLOP/s from the median.
- If the device has ``gpu_time_ns_async`` (assumed: ``await device.gpu_time_ns_async()`` gives
  the GPU nanoseconds of its last submission, or None), a few more single runs report the GPU
  time as well.
- After timing, a few output elements are compared with exact sums computed in Python (a case
  with wrong results reports an ``error``).

Overhead: chains of k elementwise ops (``x * 1.0001`` and ``x + 0.5`` alternating, Python scalars,
on a small tensor) timed on the CPU side only: the time until ``realize()`` returns (the
submission), ``runs`` chains per timed region, with one sync after the region. Eager mode
(``set_eager(True)``: every op realizes) and the lazy graph after its first, compiling run (the
structural cache hits, which ``graph_stats`` confirms). A least-squares line over k gives the per
op cost (slope) and the per run cost (intercept), in microseconds.
"""

from __future__ import annotations

import array
import functools
import json
import math
import random
import statistics
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import webaccel

from ..config import merge_config

DEFAULT_CONFIG: dict[str, Any] = {
    "device": "webgpu",
    "sizes": [256, 512, 1024],
    # batch 1, 64x64x32 NHWC input, 3x3 kernel, 64 output channels, padding "same"
    "conv2d": {
        "batch": 1,
        "height": 64,
        "width": 64,
        "in_channels": 32,
        "out_channels": 64,
        "kernel": 3,
    },
    "warmup": 1,
    "warmup_ms": 300.0,
    "sample_ms": 50.0,
    "budget_ms": 3000.0,
    "min_samples": 3,
    "max_samples": 10,
    "gpu_timestamp_runs": 3,
    "overhead": {"chain": [1, 8, 32], "numel": 1024, "runs": 20, "samples": 5},
}

Clock = Callable[[], float]


def resolve_config(config: Any = None) -> dict[str, Any]:
    """*config* (None, a dict, a JSON string or a JS object) over ``DEFAULT_CONFIG``."""
    out = merge_config(config, DEFAULT_CONFIG)
    out["sizes"] = [int(n) for n in out["sizes"]]
    return out


def resolve_config_json(config: Any = None) -> str:
    """``resolve_config`` as JSON: the page reads the same numbers for the TF.js side."""
    return json.dumps(resolve_config(config))


# --- timing ----------------------------------------------------------------------------------


async def time_runs(
    run: Callable[[], Any],
    sync: Callable[[Any], Awaitable[Any]],
    cfg: dict[str, Any],
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Time ``run()`` (launches one run, returns a handle) with ``await sync(handle)`` waiting
    for completion, by the protocol of this module's docstring. Times in ms."""
    warm_start = clock()
    warmups = 0
    last = 0.0
    while warmups < max(1, int(cfg["warmup"])) or (clock() - warm_start) * 1e3 < cfg["warmup_ms"]:
        t0 = clock()
        await sync(run())
        last = clock() - t0
        warmups += 1
    est = max(last, 1e-6)
    reps = max(1, math.ceil(cfg["sample_ms"] / 1e3 / est))
    samples = int(cfg["budget_ms"] / 1e3 / (reps * est))
    samples = min(max(samples, int(cfg["min_samples"])), int(cfg["max_samples"]))
    times = []
    for _ in range(samples):
        t0 = clock()
        handle = None
        for _ in range(reps):
            handle = run()
        await sync(handle)
        times.append((clock() - t0) / reps)
    return {
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "samples": samples,
        "reps": reps,
        "warmup_runs": warmups,
    }


def gflops(flop: float, ms: float | None) -> float | None:
    return flop / (ms * 1e-3) / 1e9 if ms else None


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = intercept + slope * x``; returns (intercept, slope)."""
    n = len(xs)
    if n < 2 or len(set(xs)) < 2:
        raise ValueError("fit_line: needs at least two distinct x values")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - slope * mx, slope


def timer_resolution_us(clock: Clock = time.perf_counter, tries: int = 20) -> float:
    """The smallest step the clock takes (the browser coarsens ``performance.now()``)."""
    steps = []
    for _ in range(tries):
        t0 = clock()
        t1 = clock()
        while t1 == t0:
            t1 = clock()
        steps.append(t1 - t0)
    return min(steps) * 1e6


# --- cases ---------------------------------------------------------------------------------------


def _floats(count: int, seed: int) -> array.array:
    """*count* float32 values in [-0.5, 0.5): a random block repeated (values do not matter)."""
    rng = random.Random(seed)
    block = array.array("f", [rng.random() - 0.5 for _ in range(4099)])
    return (block * (count // len(block) + 1))[:count]


def _tensor(count: int, shape: tuple[int, ...], device: Any, seed: int) -> Any:
    return webaccel.tensor(_floats(count, seed), device=device, shape=shape)


async def _sync(t: Any) -> None:
    """Wait until *t* is computed: read back its first element (a read waits for the queue)."""
    await t.reshape(-1)[:1].read_async()


def timestamp_runs(cfg: dict[str, Any], median_ms: float) -> int:
    """How many extra runs to read GPU timestamps from: up to ``gpu_timestamp_runs``, within
    ``budget_ms`` (at least one)."""
    wanted = int(cfg["gpu_timestamp_runs"])
    if wanted <= 0:
        return 0
    return min(wanted, max(1, int(cfg["budget_ms"] / max(median_ms, 1e-3))))


async def _gpu_time_ms(
    device: Any, run: Callable[[], Any], cfg: dict[str, Any], median_ms: float
) -> float | None:
    fn = getattr(device, "gpu_time_ns_async", None)
    if fn is None:
        return None
    values = []
    for _ in range(timestamp_runs(cfg, median_ms)):
        await _sync(run())
        ns = await fn()
        if ns:
            values.append(ns / 1e6)
    return statistics.median(values) if values else None


async def _case(
    device: Any, flop: float, run: Callable[[], Any], cfg: dict[str, Any]
) -> dict[str, Any]:
    timing = await time_runs(run, _sync, cfg)
    out: dict[str, Any] = {"flop": flop, **timing, "gflops": gflops(flop, timing["median_ms"])}
    gpu_ms = await _gpu_time_ms(device, run, cfg, timing["median_ms"])
    if gpu_ms is not None:
        out["gpu_ms"] = gpu_ms
        out["gpu_gflops"] = gflops(flop, gpu_ms)
    return out


async def _check(out: Any, expected: dict[int, tuple[float, float]]) -> dict[str, Any]:
    """Compare elements of *out* (flat index -> (exact value, sum of |terms|)) with the exact
    values: a benchmark of wrong results is no benchmark. Tolerance: 1e-3 of the |terms|."""
    flat = out.reshape(-1)
    worst = 0.0
    ok = True
    for index, (value, scale) in expected.items():
        got = struct.unpack("<f", bytes(await flat[index : index + 1].read_async()))[0]
        err = abs(got - value)
        worst = max(worst, err)
        ok = ok and err <= 1e-3 * scale + 1e-6
    result: dict[str, Any] = {"check_points": len(expected), "check_max_abs_err": worst}
    if not ok:
        result["error"] = f"wrong results: max abs error {worst:g} at the checked elements"
    return result


async def bench_matmul(device: Any, n: int, cfg: dict[str, Any]) -> dict[str, Any]:
    a_host, b_host = _floats(n * n, seed=1), _floats(n * n, seed=2)
    a = webaccel.tensor(a_host, device=device, shape=(n, n))
    b = webaccel.tensor(b_host, device=device, shape=(n, n))

    def run() -> Any:
        return (a @ b).realize()

    out = {"n": n, **await _case(device, 2.0 * n**3, run, cfg)}
    expected = {}
    for i, j in {(0, 0), (n // 2, n - 1), (n - 1, 1 % n)}:
        terms = [a_host[i * n + k] * b_host[k * n + j] for k in range(n)]
        expected[i * n + j] = (math.fsum(terms), math.fsum(abs(t) for t in terms))
    out.update(await _check(run(), expected))
    return out


def conv2d_flop(c: dict[str, Any]) -> float:
    """Multiply-adds x 2 of a stride-1 "same" conv2d (output spatial size = input's)."""
    return (
        2.0
        * c["batch"]
        * c["height"]
        * c["width"]
        * c["out_channels"]
        * c["in_channels"]
        * c["kernel"] ** 2
    )


async def bench_conv2d(device: Any, c: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    x_shape = (c["batch"], c["height"], c["width"], c["in_channels"])
    w_shape = (c["out_channels"], c["in_channels"], c["kernel"], c["kernel"])  # OIHW
    x_host = _floats(math.prod(x_shape), seed=3)
    w_host = _floats(math.prod(w_shape), seed=4)
    x = webaccel.tensor(x_host, device=device, shape=x_shape)
    w = webaccel.tensor(w_host, device=device, shape=w_shape)

    def run() -> Any:
        return webaccel.conv2d(x, w, padding="same", layout="nhwc").realize()

    out = {
        "input_nhwc": list(x_shape),
        "weight_oihw": list(w_shape),
        **await _case(device, conv2d_flop(c), run, cfg),
    }
    n_, h_, w_, ci = x_shape
    co, _, k, _ = w_shape
    pad = (k - 1) // 2  # "same", stride 1: (k - 1) // 2 before (ONNX SAME_UPPER)
    expected = {}
    for b, y, xx, o in {(0, 0, 0, 0), (n_ - 1, h_ // 2, w_ // 2, co - 1), (0, h_ - 1, w_ - 1, 1)}:
        o %= co
        terms = [
            x_host[((b * h_ + y + dy - pad) * w_ + xx + dx - pad) * ci + ch]
            * w_host[((o * ci + ch) * k + dy) * k + dx]
            for ch in range(ci)
            for dy in range(k)
            for dx in range(k)
            if 0 <= y + dy - pad < h_ and 0 <= xx + dx - pad < w_
        ]
        expected[((b * h_ + y) * w_ + xx) * co + o] = (
            math.fsum(terms),
            math.fsum(abs(t) for t in terms),
        )
    out.update(await _check(run(), expected))
    return out


def _chain(x: Any, k: int) -> Any:
    for i in range(k):
        x = x * 1.0001 if i % 2 == 0 else x + 0.5
    return x


async def bench_overhead(device: Any, o: dict[str, Any]) -> dict[str, Any]:
    """CPU-side time per chain of k elementwise ops, eager vs the cached lazy graph (us)."""
    x0 = _tensor(int(o["numel"]), (int(o["numel"]),), device, seed=5).realize()
    chains = [int(k) for k in o["chain"]]
    runs, samples = int(o["runs"]), int(o["samples"])
    points: dict[str, dict[int, float]] = {"eager": {}, "graph": {}, "captured": {}}
    cache_hits: dict[int, int] = {}
    previous = webaccel.set_eager(False)
    try:
        for mode in ("eager", "graph"):
            webaccel.set_eager(mode == "eager")
            for k in chains:
                await _sync(_chain(x0, k).realize())  # the first run compiles
                stats0 = webaccel.graph_stats(device.name)
                per_run = []
                for _ in range(samples):
                    y = None
                    t0 = time.perf_counter()
                    for _ in range(runs):
                        y = _chain(x0, k).realize()
                    per_run.append((time.perf_counter() - t0) / runs)
                    await _sync(y)  # outside the timed region
                stats1 = webaccel.graph_stats(device.name)
                points[mode][k] = statistics.median(per_run) * 1e6
                if mode == "graph":
                    cache_hits[k] = stats1["hits"] - stats0["hits"]
                    if stats1["misses"] != stats0["misses"]:
                        raise RuntimeError(
                            f"overhead: the graph of {k} ops compiled again on a repeated run "
                            f"(cache misses {stats0['misses']} -> {stats1['misses']})"
                        )
        # webaccel.capture: traced once, then each run replays the compiled graph.
        for k in chains:
            fn = webaccel.capture(functools.partial(_chain, k=k))
            await _sync(fn(x0))  # the first call traces and compiles
            per_run = []
            for _ in range(samples):
                y = None
                t0 = time.perf_counter()
                for _ in range(runs):
                    y = fn(x0)
                per_run.append((time.perf_counter() - t0) / runs)
                await _sync(y)
            points["captured"][k] = statistics.median(per_run) * 1e6
    finally:
        webaccel.set_eager(previous)
    eager_run, eager_op = fit_line(chains, [points["eager"][k] for k in chains])
    graph_run, graph_op = fit_line(chains, [points["graph"][k] for k in chains])
    captured_run, captured_op = fit_line(chains, [points["captured"][k] for k in chains])
    return {
        "eager_per_op": eager_op,
        "eager_per_run": eager_run,
        "graph_per_run": graph_run,
        "graph_per_op": graph_op,
        "captured_per_run": captured_run,
        "captured_per_op": captured_op,
        "captured_us": {str(k): v for k, v in points["captured"].items()},
        "eager_us": {str(k): v for k, v in points["eager"].items()},
        "graph_us": {str(k): v for k, v in points["graph"].items()},
        "graph_cache_hits": {str(k): v for k, v in cache_hits.items()},
        "runs_per_sample": runs,
        "samples": samples,
        "numel": int(o["numel"]),
    }


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": f"{type(exc).__name__}: {exc}"}


def _device_info(device: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"name": device.name}
    extra = getattr(device, "info", None)
    if isinstance(extra, dict):
        try:
            info["info"] = json.loads(json.dumps(extra, default=str))
        except (TypeError, ValueError):
            pass
    info["gpu_timestamps"] = getattr(device, "gpu_time_ns_async", None) is not None
    return info


async def run_async(config: Any = None) -> str:
    """Run the benchmarks on ``config["device"]`` and return the results as a JSON string.

    A case that fails reports ``{"error": ...}`` in its place; a device that cannot be had
    raises (``get_device`` names the registered backends).
    """
    cfg = resolve_config(config)
    device = webaccel.get_device(cfg["device"])
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        "device": _device_info(device),
        "python": sys.version.split()[0],
        "webaccel": webaccel.__version__,
        "timer_resolution_us": timer_resolution_us(),
        "config": cfg,
        "matmul": [],
    }
    for n in cfg["sizes"]:
        try:
            result["matmul"].append(await bench_matmul(device, n, cfg))
        except Exception as exc:
            result["matmul"].append({"n": n, **_error(exc)})
    if cfg["conv2d"]:
        try:
            result["conv2d"] = await bench_conv2d(device, cfg["conv2d"], cfg)
        except Exception as exc:
            result["conv2d"] = _error(exc)
    if cfg["overhead"]:
        try:
            result["overhead_us"] = await bench_overhead(device, cfg["overhead"])
        except Exception as exc:
            result["overhead_us"] = _error(exc)
    result["graph_stats"] = webaccel.graph_stats(device.name)
    result["seconds"] = time.perf_counter() - t_start
    return json.dumps(result)

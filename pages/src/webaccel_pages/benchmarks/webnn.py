"""Per-op and transformer-block latency on WebNN vs WebGPU vs CPU, and webaccel's cached-graph
run on WebNN vs the same graph written in plain JavaScript with the raw WebNN API.

Runs in Pyodide (``static_site/bench_webnn.html`` calls ``run_async`` with the page's plain-JS
side) or on CPython (only the ``cpu`` backend; no plain-JS side). Results are one JSON string.

What one run is, on every backend and on both sides of the comparison: write the input from
host memory to the device, run the graph, read the whole output back to host memory. Our side
is ``webaccel.tensor(host, device=...)``, a ``webaccel.capture``d function (traced once; on
webnn and webgpu a replay is one JS call), ``await y.read_async()``. The plain-JS side
(``static_site/bench_webnn.js``) is ``writeTensor``, ``dispatch``, ``await readTensor``.
Weights and constants stay on the device on both sides.

Timing protocol (``time_interleaved``): each side is warmed up (``warmup`` runs and at least
``warmup_ms``); a sample is ``reps`` back-to-back complete runs (so that it lasts at least
``sample_ms``: the browser's clock is coarse), timed with ``time.perf_counter`` around awaited
runs; samples alternate between the sides (A B, then B A, ...) so drift hits both; a case
reports each side's median ms per run over the samples. The plain-JS ratio is the median of
the per-round ratios (``paired_ratio``: each pair ran back to back), beside the ratio of the
two medians (``ratio_of_medians``).
"""

from __future__ import annotations

import array
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import webaccel
from webaccel import _compat

from ..config import merge_config

DEFAULT_CONFIG: dict[str, Any] = {
    "backends": ["webnn", "webgpu", "cpu"],
    "matmul": [256, 512],
    # NHWC input, OIHW weight, stride 1, padding "same"
    "conv2d": {
        "batch": 1,
        "height": 32,
        "width": 32,
        "in_channels": 32,
        "out_channels": 32,
        "kernel": 3,
    },
    "rows": [256, 512],  # softmax / layer_norm / gelu / add operate on this shape
    "block": {"seq": 64, "width": 128, "heads": 4, "mlp": 512},
    "warmup": 3,
    "warmup_ms": 200.0,
    "sample_ms": 20.0,
    "samples": 9,  # per side and case (fewer when a case would pass case_budget_ms)
    "min_samples": 3,
    "case_budget_ms": 4000.0,
    "compare_samples": 101,  # the plain-JS pair's samples per side (~4 s)
    "compare_budget_ms": 15000.0,
}

CPU_REASON_314 = (
    "the cpu device needs NumPy, which Pyodide {pyodide} (this lane) does not have; the "
    "pyodide-0.27 lane has NumPy but no WebNN, and a CPU figure from another runtime is not "
    "what this benchmark compares, so it is not measured there either"
)

Run = Callable[[], Awaitable[Any]]


def resolve_config(config: Any = None, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """*config* (None, a dict, a JSON string or a JS object) over *defaults* (``DEFAULT_CONFIG``);
    nested dicts merge, unknown keys are an error naming the known ones."""
    return merge_config(config, DEFAULT_CONFIG if defaults is None else defaults)


def resolve_config_json(config: Any = None) -> str:
    return json.dumps(resolve_config(config))


# --- timing --------------------------------------------------------------------------------------


async def time_interleaved(
    sides: dict[str, Run],
    cfg: dict[str, Any],
    samples: int | None = None,
    budget_ms: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, dict[str, Any]]:
    """Median ms per complete run of each side, samples interleaved (see the module docstring)."""
    est: dict[str, float] = {}
    warm: dict[str, int] = {}
    for name, run in sides.items():
        t_start = clock()
        n = 0
        last = 0.0
        while n < max(1, int(cfg["warmup"])) or (clock() - t_start) * 1e3 < cfg["warmup_ms"]:
            t0 = clock()
            await run()
            last = clock() - t0
            n += 1
        est[name], warm[name] = max(last, 1e-6), n
    reps = {name: max(1, math.ceil(cfg["sample_ms"] / 1e3 / e)) for name, e in est.items()}
    per_round = sum(reps[n] * est[n] for n in sides) * 1e3
    wanted = int(samples if samples is not None else cfg["samples"])
    budget = float(budget_ms if budget_ms is not None else cfg["case_budget_ms"])
    count = max(int(cfg["min_samples"]), min(wanted, int(budget / max(per_round, 1e-3))))
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for s in range(count):
        for name in order if s % 2 == 0 else reversed(order):
            run = sides[name]
            t0 = clock()
            for _ in range(reps[name]):
                await run()
            times[name].append((clock() - t0) / reps[name] * 1e3)
    return {
        name: {
            "ms": statistics.median(times[name]),
            "min_ms": min(times[name]),
            "samples": count,
            "reps": reps[name],
            "warmup_runs": warm[name],
            "samples_ms": [round(t, 4) for t in times[name]],
        }
        for name in sides
    }


def paired_ratio(timing: dict[str, dict[str, Any]], a: str, b: str) -> float:
    """Median over rounds of side *a*'s sample / side *b*'s sample of the same round (the two
    ran back to back): drift that lasts longer than a round, which shifts a ratio of medians
    either way on a shared machine, cancels in each pair."""
    pairs = zip(timing[a]["samples_ms"], timing[b]["samples_ms"], strict=True)
    return statistics.median(x / y for x, y in pairs)


# --- cases ---------------------------------------------------------------------------------------


def floats(count: int, seed: int, scale: float = 1.0) -> array.array:
    """*count* float32 values in [-scale/2, scale/2): a random block repeated."""
    rng = random.Random(seed)
    block = array.array("f", [(rng.random() - 0.5) * scale for _ in range(4099)])
    return (block * (count // len(block) + 1))[:count]


def _ones_ish(count: int, seed: int) -> array.array:
    return array.array("f", [1.0 + v for v in floats(count, seed, 0.2)])


def op_cases(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Each case: name, input shape, and ``make(device) -> fn(x)`` with its other operands made
    once on the device (they become constants of the captured graph)."""
    cases: list[dict[str, Any]] = []

    def on(dev: Any, count: int, seed: int, shape: tuple[int, ...], ones: bool = False) -> Any:
        data = _ones_ish(count, seed) if ones else floats(count, seed)
        return webaccel.tensor(data, device=dev, shape=shape).realize()

    for n in cfg["matmul"]:
        n = int(n)

        def make_mm(dev: Any, n: int = n) -> Callable[[Any], Any]:
            w = on(dev, n * n, 2, (n, n))
            return lambda x: x @ w

        cases.append({"op": f"matmul {n}", "shape": (n, n), "make": make_mm})
    c = cfg["conv2d"]
    if c:
        x_shape = (c["batch"], c["height"], c["width"], c["in_channels"])
        w_shape = (c["out_channels"], c["in_channels"], c["kernel"], c["kernel"])

        def make_conv(dev: Any) -> Callable[[Any], Any]:
            w = on(dev, math.prod(w_shape), 4, w_shape)
            return lambda x: webaccel.conv2d(x, w, padding="same", layout="nhwc")

        name = f"conv2d {'x'.join(str(d) for d in x_shape)} k{c['kernel']} ->{c['out_channels']}"
        cases.append({"op": name, "shape": x_shape, "make": make_conv})
    rows, cols = (int(d) for d in cfg["rows"])
    shape = (rows, cols)
    tag = f"{rows}x{cols}"

    def make_softmax(dev: Any) -> Callable[[Any], Any]:
        return lambda x: webaccel.softmax(x, -1)

    def make_ln(dev: Any) -> Callable[[Any], Any]:
        g, b = on(dev, cols, 6, (cols,), ones=True), on(dev, cols, 7, (cols,))
        return lambda x: webaccel.layer_norm(x, cols, g, b)

    def make_gelu(dev: Any) -> Callable[[Any], Any]:
        return lambda x: x.gelu()

    def make_add(dev: Any) -> Callable[[Any], Any]:
        y = on(dev, rows * cols, 8, shape)
        return lambda x: x + y

    for op, make in (
        ("softmax", make_softmax),
        ("layer_norm", make_ln),
        ("gelu", make_gelu),
        ("add", make_add),
    ):
        cases.append({"op": f"{op} {tag}", "shape": shape, "make": make})
    return cases


def block_weights(b: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], array.array]]:
    """The transformer block's weights (name -> (shape, float32 values)); the plain-JS side
    gets the same values."""
    d, m = int(b["width"]), int(b["mlp"])
    s = 1.0 / math.sqrt(d)
    return {
        "ln1_g": ((d,), _ones_ish(d, 11)),
        "ln1_b": ((d,), floats(d, 12, 0.2)),
        "wq": ((d, d), floats(d * d, 13, 2 * s)),
        "wk": ((d, d), floats(d * d, 14, 2 * s)),
        "wv": ((d, d), floats(d * d, 15, 2 * s)),
        "wo": ((d, d), floats(d * d, 16, 2 * s)),
        "ln2_g": ((d,), _ones_ish(d, 17)),
        "ln2_b": ((d,), floats(d, 18, 0.2)),
        "w1": ((d, m), floats(d * m, 19, 2 * s)),
        "w2": ((m, d), floats(m * d, 20, 2 / math.sqrt(m))),
    }


def make_block(dev: Any, b: dict[str, Any]) -> Callable[[Any], Any]:
    """Pre-LN transformer block on (seq, width): heads by reshape/transpose, GELU MLP."""
    seq, d, heads = int(b["seq"]), int(b["width"]), int(b["heads"])
    dh = d // heads
    w = {
        k: webaccel.tensor(v, device=dev, shape=shape).realize()
        for k, (shape, v) in block_weights(b).items()
    }
    scale = 1.0 / math.sqrt(dh)

    def heads_of(t: Any) -> Any:  # (seq, d) -> (heads, seq, dh)
        return t.reshape(seq, heads, dh).transpose(1, 0, 2)

    def block(x: Any) -> Any:
        h = webaccel.layer_norm(x, d, w["ln1_g"], w["ln1_b"])
        q, k, v = heads_of(h @ w["wq"]), heads_of(h @ w["wk"]), heads_of(h @ w["wv"])
        p = webaccel.softmax((q @ k.transpose(0, 2, 1)) * scale, -1)
        a = (p @ v).transpose(1, 0, 2).reshape(seq, d)
        x = x + a @ w["wo"]
        h = webaccel.layer_norm(x, d, w["ln2_g"], w["ln2_b"])
        return x + (h @ w["w1"]).gelu() @ w["w2"]

    return block


def _ours(dev: Any, fn: Callable[[Any], Any], host: array.array, shape: tuple[int, ...]) -> Run:
    """One complete run on our side: ``Captured.run_async`` writes the input from host memory,
    runs the captured fn and reads the whole output into preallocated host memory (on webnn
    one JS call; elsewhere upload, replay, read). The first call traces through Tensors."""
    captured = webaccel.capture(fn)
    out: list[bytearray] = []

    async def first() -> bytearray:
        x = webaccel.tensor(host, device=dev, shape=shape)
        out.append(bytearray(len(await captured(x).read_async())))
        return await captured.run_async(host, out=out)

    def run() -> Awaitable[Any]:
        # a plain function handing back run_async's coroutine: between the timing loop and
        # JS there is one Python coroutine on our side, as on the plain-JS side (js_run)
        return captured.run_async(host, out=out) if captured.traces else first()

    run.captured = captured  # type: ignore[attr-defined]
    return run


def _via_tensors(
    dev: Any, fn: Callable[[Any], Any], host: array.array, shape: tuple[int, ...]
) -> Run:
    """The same run through Tensors: ``webaccel.tensor``, the captured fn, ``read_async``."""
    captured = webaccel.capture(fn)

    async def run() -> bytearray:
        x = webaccel.tensor(host, device=dev, shape=shape)
        return await captured(x).read_async()

    run.captured = captured  # type: ignore[attr-defined]
    return run


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def _open_devices(names: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The backends that run here (a tiny op proves it), and why the others do not."""
    devices, reasons = {}, {}
    for name in names:
        try:
            dev = webaccel.get_device(name)
            probe = webaccel.tensor(array.array("f", [1.0, 2.0]), device=dev) + 1.0
            got = array.array("f", bytes(await probe.read_async()))
            if list(got) != [2.0, 3.0]:
                raise RuntimeError(f"a probe add gave {list(got)}")
            devices[name] = dev
        except Exception as exc:
            reason = _error(exc)
            if name == "cpu" and "NumPy" in reason:
                pyodide = sys.modules.get("pyodide")
                version = getattr(pyodide, "__version__", None)
                if version:
                    reason = CPU_REASON_314.format(pyodide=version) + f" ({reason})"
            reasons[name] = reason
    return devices, reasons


def _max_abs_diff(a: bytes | bytearray, b: bytes | bytearray) -> float:
    x, y = array.array("f", bytes(a)), array.array("f", bytes(b))
    if len(x) != len(y):
        return math.inf
    return max((abs(p - q) for p, q in zip(x, y, strict=True)), default=0.0)


async def bench_ops(cfg: dict[str, Any], devices: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for case in op_cases(cfg):
        host = floats(math.prod(case["shape"]), 1)
        row: dict[str, Any] = {"op": case["op"], "shape": list(case["shape"]), "ms": {}}
        sides: dict[str, Run] = {}
        outputs: dict[str, bytes] = {}
        for name, dev in devices.items():
            try:
                run = _ours(dev, case["make"](dev), host, case["shape"])
                outputs[name] = bytes(await run())  # traces and compiles
                sides[name] = run
            except Exception as exc:
                row.setdefault("errors", {})[name] = _error(exc)
        if sides:
            timing = await time_interleaved(sides, cfg)
            row["ms"] = {name: t["ms"] for name, t in timing.items()}
            row["timing"] = timing
        if len(outputs) > 1:  # the backends agree (against webnn, or the first one)
            ref = "webnn" if "webnn" in outputs else next(iter(outputs))
            row["reference"] = ref
            row["max_abs_diff"] = {
                n: _max_abs_diff(outputs[ref], o) for n, o in outputs.items() if n != ref
            }
        rows.append(row)
    return rows


async def bench_block(
    cfg: dict[str, Any], devices: dict[str, Any], plain: Any = None
) -> dict[str, Any]:
    b = cfg["block"]
    seq, d = int(b["seq"]), int(b["width"])
    host = floats(seq * d, 21)
    out: dict[str, Any] = {"config": b, "ms": {}, "errors": {}}
    sides: dict[str, Run] = {}
    outputs: dict[str, bytes] = {}
    for name, dev in devices.items():
        try:
            run = _ours(dev, make_block(dev, b), host, (seq, d))
            outputs[name] = bytes(await run())
            sides[name] = run
        except Exception as exc:
            out["errors"][name] = _error(exc)
    if sides:
        timing = await time_interleaved(sides, cfg)
        out["ms"] = {name: t["ms"] for name, t in timing.items()}
        out["timing"] = timing
    if len(outputs) > 1:
        ref = "webnn" if "webnn" in outputs else next(iter(outputs))
        out["reference"] = ref
        out["max_abs_diff"] = {
            n: _max_abs_diff(outputs[ref], o) for n, o in outputs.items() if n != ref
        }
    if plain is not None and "webnn" in sides:
        dev = devices["webnn"]
        # The plain-JS graph has no IEEE guards (webaccel's webnn lowering adds isNaN/where ops
        # around exp/log/max/... by default, see backends/webnn/lower.py), so the comparison of
        # the *same graph* traces ours with the guards off; the guarded run is timed beside it.
        previous, dev.ieee = dev.ieee, False
        try:
            same = _ours(dev, make_block(dev, b), host, (seq, d))
            same_out = bytes(await same())  # traced and compiled while the guards are off
        finally:
            dev.ieee = previous
        via = _via_tensors(dev, sides["webnn"].captured.fn, host, (seq, d))  # type: ignore[attr-defined]
        out["vs_plain_js"] = await compare_plain_js(
            cfg, dev, same, plain, host, same_out, via, guarded=sides["webnn"]
        )
    return out


async def compare_plain_js(
    cfg: dict[str, Any],
    dev: Any,
    ours: Run,
    plain: Any,
    host: array.array,
    ours_out: bytes,
    via_tensors: Run | None = None,
    guarded: Run | None = None,
) -> dict[str, Any]:
    """Our captured block on webnn vs the plain-JS WebNN block, interleaved A/B, same MLContext.
    With *via_tensors* (the same block run through Tensors: ``webaccel.tensor``, the captured
    call, ``read_async``) that is timed too, as a third interleaved side.

    *plain* is the page's JS object: ``setup(ctx, spec, input_u8, names, shapes, weights_u8)``
    builds the graph (weights as graph constants: the same graph webaccel's capture builds)
    and returns a handle with ``run()`` (writeTensor, dispatch, await readTensor), ``output()``
    (the last output's bytes) and ``inner_ms`` (its own clock)."""
    b = cfg["block"]
    weights = block_weights(b)
    spec = {k: int(v) for k, v in b.items()}
    names = list(weights)
    handle = await plain.setup(
        dev.ctx,
        _compat.to_js_object(spec),
        _compat.to_js(memoryview(host).cast("B")),
        _compat.to_js(names),
        _compat.to_js([list(weights[k][0]) for k in names]),
        _compat.to_js([memoryview(weights[k][1]).cast("B") for k in names]),
    )

    async def js_run() -> Any:
        return await handle.run()

    await js_run()
    js_out = bytes(handle.output().to_py())
    diff = _max_abs_diff(ours_out, js_out)
    # The pair that makes the ratio is timed on its own (A B, B A, ...); the extra sides, which
    # allocate Tensors (via_tensors) and so stir the GC for whatever runs next to them, are
    # timed in a second interleaved run with the plain-JS side again as their reference.
    samples, budget = int(cfg["compare_samples"]), float(cfg["compare_budget_ms"])
    handle.reset_inner()
    timing = await time_interleaved(
        {"webaccel": ours, "plain_js": js_run}, cfg, samples=samples, budget_ms=budget
    )
    inner = handle.inner_stats().to_py()
    ratio = paired_ratio(timing, "webaccel", "plain_js")
    result = {
        "webaccel_ms": timing["webaccel"]["ms"],
        "plain_js_ms": timing["plain_js"]["ms"],
        "ratio": ratio,
        "ratio_of_medians": timing["webaccel"]["ms"] / timing["plain_js"]["ms"],
        "pairs": timing["webaccel"]["samples"],
        "plain_js_inner_ms": inner.get("median_ms"),
        "timing": timing,
        "max_abs_diff": diff,
        "ops": {"plain_js": int(handle.op_count)},
        "graph": "weights as graph constants (as webaccel's capture builds it); "
        "webaccel's IEEE guards off, as the plain-JS graph has none",
        "webaccel_side": "Captured.run_async(host bytes, out=preallocated)",
    }
    extra: dict[str, Run] = {}
    if via_tensors is not None:
        extra["webaccel_via_tensors"] = via_tensors
    if guarded is not None:
        extra["webaccel_ieee_guards"] = guarded
    if extra:
        more = await time_interleaved(
            {**extra, "plain_js": js_run}, cfg, samples=samples // 2, budget_ms=budget / 2
        )
        result["extra_timing"] = more
    if via_tensors is not None:
        via_ms = more["webaccel_via_tensors"]["ms"]
        result["via_tensors"] = {
            "side": "webaccel.tensor + captured call + read_async",
            "ms": via_ms,
            "ratio": paired_ratio(more, "webaccel_via_tensors", "plain_js"),
            "max_abs_diff": _max_abs_diff(bytes(await via_tensors()), js_out),
        }
    if guarded is not None:
        guarded_ms = more["webaccel_ieee_guards"]["ms"]
        result["ieee_guards"] = {
            "side": "the same captured block with webaccel's default IEEE guards on",
            "ms": guarded_ms,
            "ratio": paired_ratio(more, "webaccel_ieee_guards", "plain_js"),
        }
    captured = getattr(ours, "captured", None)
    traces = list(captured.traces.values()) if captured is not None else []
    if traces:
        result["ops"]["webaccel_program_steps"] = len(traces[0].program.steps)
    handle.destroy()
    return result


async def run_async(config: Any = None, plain: Any = None) -> str:
    """Run the cases on ``config["backends"]``; with *plain* (the page's JS side), compare the
    webnn block with it. Returns the results as a JSON string."""
    cfg = resolve_config(config)
    t_start = time.perf_counter()
    devices, reasons = await _open_devices(list(cfg["backends"]))
    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "webaccel": webaccel.__version__,
        "config": cfg,
        "backends": list(devices),
        "unavailable": reasons,
        "per_run": "write the input, run the captured graph, read the whole output back",
    }
    result["ops"] = await bench_ops(cfg, devices)
    result["block"] = await bench_block(cfg, devices, plain)
    if "webnn" in devices:
        result["webnn_memory"] = devices["webnn"].memory()
    result["seconds"] = time.perf_counter() - t_start
    return json.dumps(result)

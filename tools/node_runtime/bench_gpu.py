# webaccel's WebGPU backend on one adapter (run through run.mjs), timed with GPU timestamps:
# fp32 matmul TFLOP/s at each N with the autotuner's choice (tuned here first, every candidate's
# time kept), then conv2d, softmax, layer_norm and attention. Writes OUT.json.
#   run.mjs bench_gpu.py OUT.json [SIZES=1024,2048,4096,8192] [SCALE=1]
# SCALE < 1 shrinks the non-matmul cases (a quick run on a software adapter).
# Each case: compile, warm >= 300 ms and until the time settles (a real GPU clocks down within
# ~0.5 s idle and takes up to ~1 s to clock up again), then RUNS timed batches, each repeating
# the case to fill ~5 ms of GPU time; the median time per case is reported.
import json
import statistics
import sys
import time

from webaccel.backends.webgpu import GPUContext, StridedView, autotune, kernels

out_path = sys.argv[1]
sizes = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "1024,2048,4096,8192").split(",")]
scale = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
RUNS, WARM_MS = 10, 300.0

# A big pool: each timed batch then reuses the previous batch's outputs instead of creating
# (and zero-filling) fresh GPU buffers while the GPU waits, clocking down.
ctx = await GPUContext.create_async(power_preference="high-performance", pool_cap_bytes=24 << 30)
info = {k: ctx.info.get(k) for k in (*autotune.ADAPTER_FIELDS, "isFallbackAdapter")}
print("adapter:", info, "subgroups:", ctx.has_subgroups, "timestamps:", ctx.has_timestamps)


def tensor(shape, seed):
    n = 1
    for d in shape:
        n *= d
    rows = shape[-1] if len(shape) > 1 else n
    return StridedView(autotune._upload(ctx, n // rows, rows, seed), tuple(shape))


async def measure(record):
    """Median GPU ms of one *record*ed case, timed in batches that repeat it to fill ~5 ms of
    GPU time (with one short case per batch the GPU idles through Python's submit-and-read
    round trips and clocks down: 1980 -> 600 MHz seen on the H100), after a warm-up of at least
    300 ms that lasts until the time has settled (autotune.warm_async)."""
    first = await autotune.time_us(ctx, record, 1)  # compiles
    reps = autotune.batch_reps(first, 5.0)
    await autotune.warm_async(ctx, record, reps, WARM_MS)
    times = [await autotune.time_us(ctx, record, reps) for _ in range(RUNS)]
    ctx.trim()  # the pooled outputs of this case
    return statistics.median(times) / 1e3


def released(record):
    """*record*, giving each kernel's output back to the pool when the batch is submitted."""

    def run(batch):
        out = record(batch)
        for v in out if isinstance(out, tuple) else (out,):
            batch.release_after(v.buffer)

    return run


result = {"adapter": info, "runs": RUNS, "warm_ms": WARM_MS, "matmul": []}
for n in sizes:
    t0 = time.perf_counter()
    entry = await autotune.tune_async(ctx, n, n, n)
    a, b = tensor((n, n), 1), tensor((n, n), 2)
    out = StridedView(ctx.alloc(4 * n * n), (n, n))
    ms = await measure(lambda batch: kernels.matmul(batch, a, b, out=out))
    rec = {
        "n": n,
        "tflops": 2 * n**3 / ms / 1e9,
        "gpu_ms": ms,
        "config": entry["config"],
        "by_config_tflops": {c: round(2 * n**3 / us / 1e6, 2) for c, us in entry["us"].items()},
        "rejected": entry["rejected"],
        "tune_s": time.perf_counter() - t0,
    }
    print(json.dumps(rec), flush=True)
    result["matmul"].append(rec)
    for v in (a, b, out):
        ctx.release(v.buffer)
    ctx.trim()


def s(x):
    return max(1, int(x * scale))


# conv2d: NCHW 3x3, stride 1, pad 1 (im2col + the tuned batched matmul)
cn, cc, hw, co = s(16), 128, s(56), 128
x, w = tensor((cn, cc, hw, hw), 3), tensor((co, cc, 3, 3), 4)
await autotune.tune_async(ctx, co, hw * hw, cc * 9, batch=cn)
ms = await measure(released(lambda batch: kernels.conv2d(batch, x, w, padding=1)))
flop = 2 * cn * co * hw * hw * cc * 9
result["conv2d"] = {
    "shape": f"x {cn}x{cc}x{hw}x{hw}, w {co}x{cc}x3x3, pad 1",
    "gpu_ms": ms,
    "tflops": flop / ms / 1e9,
}
print("conv2d", result["conv2d"], flush=True)
for v in (x, w):
    ctx.release(v.buffer)

# softmax and layer_norm over rows: memory-bound, reported as GB/s (read + write once)
rows, cols = s(8192), 4096
x = tensor((rows, cols), 5)
gamma, beta = tensor((cols,), 6), tensor((cols,), 7)
for name, record in [
    ("softmax", lambda batch: kernels.softmax(batch, x, -1)),
    ("layer_norm", lambda batch: kernels.layer_norm(batch, x, gamma, beta)),
]:
    ms = await measure(released(record))
    result[name] = {"shape": f"{rows}x{cols}", "gpu_ms": ms, "gbps": 2 * 4 * rows * cols / ms / 1e6}
    print(name, result[name], flush=True)
for v in (x, gamma, beta):
    ctx.release(v.buffer)

# attention: softmax(q @ k^T / sqrt(d)) @ v, batch x heads folded; q, k, v (BH, S, D)
bh, seq, d = s(16) * 12, 512, 64
q, k, v = tensor((bh, seq, d), 8), tensor((bh, seq, d), 9), tensor((bh, seq, d), 10)
await autotune.tune_async(ctx, seq, seq, d, b_transposed=True, batch=bh)
await autotune.tune_async(ctx, seq, d, seq, batch=bh)


def attention(batch):
    scores = kernels.matmul(batch, q, k.transpose(-1, -2))
    scaled = kernels.elementwise(batch, ("mul", ("in", 0), 1.0 / d**0.5), [scores])
    p = kernels.softmax(batch, scaled, -1)
    out = kernels.matmul(batch, p, v)
    for t in (scores, scaled, p):
        batch.release_after(t.buffer)
    return out


ms = await measure(released(attention))
flop = 4 * bh * seq * seq * d
result["attention"] = {
    "shape": f"(batch x heads) {bh}, seq {seq}, head dim {d}; q@k^T, scale, softmax, @v",
    "gpu_ms": ms,
    "tflops": flop / ms / 1e9,
}
print("attention", result["attention"], flush=True)
for t in (q, k, v):
    ctx.release(t.buffer)
with open(out_path, "w") as f:
    json.dump(result, f, indent=1)
print("wrote", out_path, "live buffers:", ctx.live_buffers)

# fp32 matmul TFLOP/s of webaccel's WGSL kernels, timed with GPU timestamps (run through run.mjs).
#   run.mjs bench_matmul.py OUT.json [SIZES=1024,2048,4096] [CONFIGS=64x64x16_4x4,...]
# Per (config, n): compile, warm ~300 ms (lets a real GPU clock up), then RUNS single-dispatch
# timed batches (median of the pass's GPU time) and one batch of CHAIN dispatches (per-dispatch
# mean); a few output elements are checked exactly against Python sums (data: k/8 values, exact).
import array
import json
import random
import statistics
import sys
import time

from webaccel.backends.webgpu import kernels
from webaccel.backends.webgpu.runtime import GPUContext
from webaccel.backends.webgpu.views import StridedView

out_path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench_matmul.json"
sizes = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "1024,2048,4096").split(",")]
configs = (
    sys.argv[3]
    if len(sys.argv) > 3
    else "64x64x16_4x4,64x64x8_8x8,32x32x16_4x4,direct_16x16_8x8,direct_8x8_8x8"
).split(",")
RUNS, CHAIN, WARM_MS = 10, 10, 300.0

ctx = await GPUContext.create_async(power_preference="high-performance")
info = {
    k: ctx.info.get(k)
    for k in ("vendor", "architecture", "device", "description", "isFallbackAdapter")
}
print(
    "adapter:",
    info,
    "timestamps:",
    ctx.has_timestamps,
    "subgroups:",
    ctx.has_subgroups,
    "f16:",
    ctx.has_f16,
)
rng = random.Random(1)
POOL = 61  # distinct rows; row i is POOL row i % 61


def matrix(n):
    rows = [array.array("f", [rng.randint(-8, 8) / 8 for _ in range(n)]) for _ in range(POOL)]
    blob = b"".join(rows[i % POOL].tobytes() for i in range(n))
    h = ctx.alloc(len(blob))
    ctx.write(h, blob)
    return StridedView(h, (n, n)), rows


async def gpu_ns(fn):
    batch = ctx.batch(timing=True)
    fn(batch)
    batch.submit()
    return await batch.gpu_time_ns_async()


results = []
for n in sizes:
    a, arows = matrix(n)
    b, brows = matrix(n)
    out = StridedView(ctx.alloc(4 * n * n), (n, n))
    flop = 2.0 * n**3
    for name in configs:
        rec = {"n": n, "config": name}
        try:

            def one(batch):
                return kernels.matmul(batch, a, b, out=out, config=name)

            await gpu_ns(one)  # compile + first run
            t0, warm = time.perf_counter(), 0
            while (time.perf_counter() - t0) * 1e3 < WARM_MS:
                await gpu_ns(one)
                warm += 1
            ts = [await gpu_ns(one) for _ in range(RUNS)]
            chain = await gpu_ns(lambda batch: [one(batch) for _ in range(CHAIN)])
            med = statistics.median(ts)
            # exact check of a few elements
            raw = bytes(await ctx.read_async(out.buffer, 4 * n * n))
            got = array.array("f", raw)
            bad = 0
            for i, j in [(0, 0), (n - 1, n - 1), (n // 2, 3), (7, n - 5)]:
                ar = arows[i % POOL]
                ref = sum(ar[k] * brows[k % POOL][j] for k in range(n))
                bad += got[i * n + j] != ref
            rec.update(
                warm_runs=warm,
                gpu_ms_median=med / 1e6,
                gpu_ms_min=min(ts) / 1e6,
                tflops=flop / med / 1e3,
                tflops_best=flop / min(ts) / 1e3,
                chain_tflops=flop * CHAIN / chain / 1e3,
                check_ok=bad == 0,
            )
        except Exception as exc:  # keep going: one config failing must not lose the rest
            rec["error"] = f"{type(exc).__name__}: {exc}"[:500]
        print(json.dumps(rec), flush=True)
        results.append(rec)
    for v in (a, b, out):
        ctx.release(v.buffer)
    ctx.trim()

with open(out_path, "w") as f:
    json.dump(
        {"adapter": info, "runs": RUNS, "chain": CHAIN, "warm_ms": WARM_MS, "results": results},
        f,
        indent=1,
    )
print("wrote", out_path)

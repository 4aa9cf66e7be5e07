# Smoke test of webaccel's WebGPU backend in Pyodide under Node (run through run.mjs):
# matmul 64x64 (every config) vs a Python reference, and one fused elementwise kernel.
import array
import math
import random

from webaccel import _compat
from webaccel.backends.webgpu import kernels
from webaccel.backends.webgpu.kernels.matmul_direct import MATMUL_DIRECT_CONFIGS
from webaccel.backends.webgpu.kernels.matmul_tiled import MATMUL_CONFIGS
from webaccel.backends.webgpu.runtime import GPUContext
from webaccel.backends.webgpu.views import StridedView

print("host_kind:", _compat.host_kind())
ctx = await GPUContext.create_async()
print(
    "adapter:",
    ctx.info.get("vendor"),
    ctx.info.get("architecture"),
    ctx.info.get("description"),
    "software:",
    ctx.software,
    "timestamps:",
    ctx.has_timestamps,
)


def upload(vals, shape):
    h = ctx.alloc(4 * len(vals))
    ctx.write(h, array.array("f", vals).tobytes())
    return StridedView(h, shape)


async def download(v):
    raw = await ctx.read_async(v.buffer, 4 * v.size)
    return array.array("f", bytes(raw)).tolist()


rng = random.Random(7)
n = 64
A = [rng.randint(-8, 8) / 8 for _ in range(n * n)]
B = [rng.randint(-8, 8) / 8 for _ in range(n * n)]
ref = [sum(A[i * n + k] * B[k * n + j] for k in range(n)) for i in range(n) for j in range(n)]
a, b = upload(A, (n, n)), upload(B, (n, n))
fails = 0
for name in [*MATMUL_CONFIGS, *MATMUL_DIRECT_CONFIGS, None]:
    batch = ctx.batch(timing=True)
    out = kernels.matmul(batch, a, b, config=name)
    batch.submit()
    ns = await batch.gpu_time_ns_async()
    got = await download(out)
    err = max(abs(x - y) for x, y in zip(got, ref, strict=False))
    fails += err != 0
    print(f"matmul 64x64 {name or 'default'}: max|err| = {err}  gpu {ns} ns")
    ctx.release(out.buffer)

# elementwise: gelu(x + y) * 2 against math.erf
X = [rng.uniform(-3, 3) for _ in range(1000)]
Y = [rng.uniform(-1, 1) for _ in range(1000)]
x, y = upload(X, (1000,)), upload(Y, (1000,))
batch = ctx.batch()
out = kernels.elementwise(batch, ("mul", ("gelu", ("add", ("in", 0), ("in", 1))), 2.0), [x, y])
batch.submit()
got = await download(out)


def gelu(v):
    return 0.5 * v * (1 + math.erf(v / math.sqrt(2)))


xf = array.array("f", X)
yf = array.array("f", Y)
err = max(
    abs(g - 2 * gelu(float(array.array("f", [a_ + b_])[0])))
    for g, a_, b_ in zip(got, xf, yf, strict=False)
)
print(f"elementwise 2*gelu(x+y) n=1000: max|err| = {err:.2e}")
fails += err > 1e-5
print("SMOKE", "OK" if not fails else f"FAILED ({fails})")

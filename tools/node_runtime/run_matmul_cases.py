# Runs inside Pyodide under Node + Dawn (run.mjs), for the node lane (tests/node): every matmul
# kernel variant on the cases of PAYLOAD, then the autotuner once.
#   run.mjs run_matmul_cases.py PAYLOAD.pickle RESULTS.pickle
# PAYLOAD: {"cases": [(config, {name: (bytes, shape, strides, offset)}, activation)],
#   "tune": (m, n, k)}: inputs "a", "b" and optionally "bias"; each output read back as bytes.
# RESULTS: {"usable": [config names this adapter runs], "results": [("ok", bytes, shape) |
#   ("error", message)], "tune": tune_async's entry, "choice": what matmul takes afterwards,
#   "reloaded": the choice after reading the cache again (WEBACCEL_CACHE_DIR)}.
import pickle
import sys
import time

from webaccel.backends.webgpu import GPUContext, StridedView, autotune, kernels
from webaccel.backends.webgpu.kernels.matmul import CONFIG_TABLES

payload_path, results_path = sys.argv[1], sys.argv[2]
with open(payload_path, "rb") as f:
    payload = pickle.load(f)
ctx = await GPUContext.create_async()
every = [name for table in CONFIG_TABLES for name in table]
usable = [name for name in every if autotune.usable(ctx, name)]
results = []
for config, inputs, activation in payload["cases"]:
    views, handles = {}, []
    t0 = time.perf_counter()
    try:
        for name, (data, shape, strides, offset) in inputs.items():
            h = ctx.alloc(len(data))
            ctx.write(h, data)
            handles.append(h)
            views[name] = StridedView(h, tuple(shape), tuple(strides), offset)
        batch = ctx.batch()
        out = kernels.matmul(
            batch, views["a"], views["b"], views.get("bias"), activation, config=config
        )
        batch.submit()
        handles.append(out.buffer)
        data = await ctx.read_async(out.buffer, out.nbytes)
        results.append(("ok", bytes(data), out.shape))
        print(f"{config} {out.shape}: {time.perf_counter() - t0:.2f} s", flush=True)
    except Exception as exc:
        results.append(("error", f"{type(exc).__name__}: {exc}"))
    for h in handles:
        ctx.release(h)

m, n, k = payload["tune"]
entry = await autotune.tune_async(ctx, m, n, k, warm_ms=0.0)
a_mode, b_mode = "k4", "n4"
choice = autotune.choice(ctx, m, n, k, a_mode, b_mode, False)
ctx._matmul_tuning = None  # forget the in-memory table: read the cache again
reloaded = autotune.choice(ctx, m + 1, n, k, a_mode, b_mode, False)  # same class
with open(results_path, "wb") as f:
    pickle.dump(
        {
            "usable": usable,
            "results": results,
            "tune": entry,
            "choice": choice,
            "reloaded": reloaded,
            "live_buffers": ctx.live_buffers,
        },
        f,
    )
print(f"{len(results)} matmul cases; tuned {entry['class']}: {entry['config']}", flush=True)

# cuBLAS fp32 (TF32 off) matmul TFLOP/s through PyTorch, for comparison with bench_matmul.py.
#   python3 cublas_bench.py OUT.json [SIZES=1024,2048,4096]
import json
import statistics
import sys
import time

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
try:
    torch.backends.cuda.matmul.fp32_precision = "ieee"
except Exception:
    pass
out_path = sys.argv[1]
sizes = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "1024,2048,4096").split(",")]
dev = torch.device("cuda")
res = {
    "torch": torch.__version__,
    "gpu": torch.cuda.get_device_name(0),
    "allow_tf32": torch.backends.cuda.matmul.allow_tf32,
    "results": [],
}
for n in sizes:
    g = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, device=dev, generator=g)
    b = torch.randn(n, n, device=dev, generator=g)
    c = torch.empty(n, n, device=dev)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        torch.mm(a, b, out=c)
        torch.cuda.synchronize()
    ts = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        torch.mm(a, b, out=c)
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e))
    med = statistics.median(ts)
    err = (c - (a.double() @ b.double()).float()).abs().max().item()
    rec = {
        "n": n,
        "ms_median": med,
        "ms_min": min(ts),
        "tflops": 2 * n**3 / med / 1e9,
        "tflops_best": 2 * n**3 / min(ts) / 1e9,
        "max_abs_err_vs_fp64": err,
    }
    print(json.dumps(rec), flush=True)
    res["results"].append(rec)
json.dump(res, open(out_path, "w"), indent=1)

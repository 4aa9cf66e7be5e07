# PyTorch CUDA fp32 (TF32 off: cuBLAS / cuDNN in full fp32) on the cases of bench_gpu.py, for
# ratios against webaccel's WebGPU backend on the same GPU.
#   python3 cublas_bench.py OUT.json [SIZES=1024,2048,4096,8192]
# Timed with CUDA events, one call at a time (median of 20), after the same warm-up as
# bench_gpu.py: >= 300 ms, until the time has settled.
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
try:
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"
except Exception:
    pass
out_path = sys.argv[1]
sizes = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "1024,2048,4096,8192").split(",")]
dev = torch.device("cuda")
g = torch.Generator(device=dev).manual_seed(0)
res = {
    "torch": torch.__version__,
    "gpu": torch.cuda.get_device_name(0),
    "allow_tf32": torch.backends.cuda.matmul.allow_tf32,
    "matmul": [],
}


def _batch_ms(fn, reps):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(reps):
        fn()
    e.record()
    e.synchronize()
    return s.elapsed_time(e) / reps


def ms_of(fn):
    """Median ms of one *fn* (CUDA events around each call; 20 calls), after >= 300 ms of
    warm-up in batches of ~5 ms of GPU work that lasts until the time has settled, as
    bench_gpu.py warms. For matmul, ``looped_tflops`` also times ~5 ms of calls between one
    pair of events (bench_gpu.py's batches): the two differ by up to 20% at 1024."""
    reps = max(1, min(200, round(5.0 / max(_batch_ms(fn, 1), 1e-3))))
    t0, best, calm = time.perf_counter(), float("inf"), 0
    while True:
        t = _batch_ms(fn, reps)
        calm = 0 if t < 0.98 * best else calm + 1
        best = min(best, t)
        elapsed = time.perf_counter() - t0
        if (elapsed >= 0.3 and calm >= 5) or elapsed >= 3.0:
            break
    return statistics.median(_batch_ms(fn, 1) for _ in range(20))


def randn(*shape):
    return torch.randn(*shape, device=dev, generator=g)


for n in sizes:
    a, b, c = randn(n, n), randn(n, n), torch.empty(n, n, device=dev)
    ms = ms_of(lambda a=a, b=b, c=c: torch.mm(a, b, out=c))
    err = (c - (a.double() @ b.double()).float()).abs().max().item()
    rec = {"n": n, "ms": ms, "tflops": 2 * n**3 / ms / 1e9, "max_abs_err_vs_fp64": err}
    looped = _batch_ms(lambda a=a, b=b, c=c: torch.mm(a, b, out=c), max(1, round(5.0 / ms)))
    rec["looped_tflops"] = 2 * n**3 / looped / 1e9  # one event pair around ~5 ms of calls
    print(json.dumps(rec), flush=True)
    res["matmul"].append(rec)
    del a, b, c

x, w = randn(16, 128, 56, 56), randn(128, 128, 3, 3)
ms = ms_of(lambda: F.conv2d(x, w, padding=1))
res["conv2d"] = {"ms": ms, "tflops": 2 * 16 * 128 * 56 * 56 * 128 * 9 / ms / 1e9}
x = randn(8192, 4096)
gamma, beta = randn(4096), randn(4096)
for name, fn in [
    ("softmax", lambda: torch.softmax(x, -1)),
    ("layer_norm", lambda: F.layer_norm(x, (4096,), gamma, beta)),
]:
    ms = ms_of(fn)
    res[name] = {"ms": ms, "gbps": 2 * 4 * x.numel() / ms / 1e6}
q, k, v = randn(16, 12, 512, 64), randn(16, 12, 512, 64), randn(16, 12, 512, 64)
ms = ms_of(lambda: F.scaled_dot_product_attention(q, k, v))
res["attention"] = {"ms": ms, "tflops": 4 * 192 * 512 * 512 * 64 / ms / 1e9, "op": "sdpa"}
ms = ms_of(lambda: torch.softmax(q @ k.transpose(-1, -2) / 8.0, -1) @ v)
res["attention_plain"] = {"ms": ms, "tflops": 4 * 192 * 512 * 512 * 64 / ms / 1e9}
# all-MiniLM-L6-v2's encoder (transformers' BertModel, random weights as bench_minilm.py),
# batch 64 x 128 tokens, + mean pooling and L2 normalization
try:
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536, max_position_embeddings=512, layer_norm_eps=1e-12,
    )  # fmt: skip
    bert = BertModel(cfg, add_pooling_layer=False).to(dev).eval()
    ids = torch.randint(1000, 30522, (64, 128), device=dev, generator=g)
    mask = torch.ones(64, 128, dtype=torch.long, device=dev)

    @torch.inference_mode()
    def encode():
        x = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        return F.normalize((x * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)

    gpu_ms = ms_of(encode)
    walls = []  # end to end per call, as bench_minilm.py times webaccel: call, wait, next call
    for _ in range(20):
        t = time.perf_counter()
        encode()
        torch.cuda.synchronize()
        walls.append((time.perf_counter() - t) * 1e3)
    ms = statistics.median(walls)
    res["minilm"] = {"batch": 64, "seq": 128, "ms": ms, "sentences_per_s": 64 / ms * 1e3}
    res["minilm"]["gpu_ms_batched"] = gpu_ms
    res["minilm"]["attn_implementation"] = getattr(bert.config, "_attn_implementation", None)
except Exception as exc:
    res["minilm"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
for key in ("conv2d", "softmax", "layer_norm", "attention", "attention_plain", "minilm"):
    print(key, res[key], flush=True)
json.dump(res, open(out_path, "w"), indent=1)

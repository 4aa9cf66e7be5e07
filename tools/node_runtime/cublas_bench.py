# PyTorch CUDA fp32 (TF32 off: cuBLAS / cuDNN in full fp32) on the cases of bench_gpu.py, for
# ratios against webaccel's WebGPU backend on the same GPU.
#   python3 cublas_bench.py OUT.json [SIZES=1024,2048,4096,8192]
# Timed with CUDA events after ~300 ms of warm-up per case; median of 20 runs.
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


def ms_of(fn):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        fn()
        torch.cuda.synchronize()
    ts = []
    for _ in range(20):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e))
    return statistics.median(ts)


def randn(*shape):
    return torch.randn(*shape, device=dev, generator=g)


for n in sizes:
    a, b, c = randn(n, n), randn(n, n), torch.empty(n, n, device=dev)
    ms = ms_of(lambda a=a, b=b, c=c: torch.mm(a, b, out=c))
    err = (c - (a.double() @ b.double()).float()).abs().max().item()
    rec = {"n": n, "ms": ms, "tflops": 2 * n**3 / ms / 1e9, "max_abs_err_vs_fp64": err}
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

    ms = ms_of(encode)
    res["minilm"] = {"batch": 64, "seq": 128, "ms": ms, "sentences_per_s": 64 / ms * 1e3}
    res["minilm"]["attn_implementation"] = getattr(bert.config, "_attn_implementation", None)
except Exception as exc:
    res["minilm"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
for key in ("conv2d", "softmax", "layer_norm", "attention", "attention_plain", "minilm"):
    print(key, res[key], flush=True)
json.dump(res, open(out_path, "w"), indent=1)

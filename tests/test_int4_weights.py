"""``tools/int4_weights.py`` (host, PyTorch): its GPTQ lowers a layer's output error below
round to nearest, and the file format it writes decodes in ``webaccel.quant`` to exactly the
weights it computed. (The model-level figure, min cosine >= 0.98, is checked on the file the
repository keeps: ``test_models_bert.py`` on the host, ``test_embed_page.py`` in the browsers.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import webaccel as wa
from webaccel.quant import QuantizedWeight

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("int4_weights", ROOT / "tools" / "int4_weights.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def _layer(out: int, n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(out, n, generator=g, dtype=torch.float64) * 0.05
    # correlated inputs with a few large channels, as a transformer's are
    x = torch.randn(512, n, generator=g, dtype=torch.float64) @ (
        torch.eye(n, dtype=torch.float64)
        + 0.3 * torch.randn(n, n, generator=g, dtype=torch.float64)
    )
    x[:, :3] *= 8
    return w, x


def _dequantized(codes, scale, zero) -> torch.Tensor:
    n = codes.shape[1]
    s = scale.double().repeat_interleave(tool.GROUP, 1)[:, :n]
    z = zero.double().repeat_interleave(tool.GROUP, 1)[:, :n]
    return (codes.double() - z) * s


@pytest.mark.parametrize(("out", "n"), [(16, 64), (5, 96), (3, 40)])  # 40: a partial last group
def test_gptq_beats_round_to_nearest_on_the_layer_output(out, n):
    w, x = _layer(out, n)
    codes, scale, zero = tool.gptq(w.float(), x.T @ x / len(x))
    assert codes.dtype == torch.uint8 and int(codes.max()) <= 15
    assert scale.shape == zero.shape == (out, -(-n // tool.GROUP))
    rtn = torch.zeros_like(w)
    for g0 in range(0, n, tool.GROUP):
        grp = w[:, g0 : g0 + tool.GROUP]
        s, z = tool.group_params(grp, search=False)
        c = torch.clamp(torch.round(grp / s[:, None]) + z[:, None], 0, 15)
        rtn[:, g0 : g0 + tool.GROUP] = (c - z[:, None]) * s[:, None]
    err_gptq = float(((x @ (w - _dequantized(codes, scale, zero)).T) ** 2).mean())
    err_rtn = float(((x @ (w - rtn).T) ** 2).mean())
    print(f"\n{out}x{n}: output MSE gptq {err_gptq:.3g}, round to nearest {err_rtn:.3g}")
    assert err_gptq < 0.8 * err_rtn


def test_group_params_search_never_does_worse_than_the_full_range():
    w, _ = _layer(64, 32, seed=1)

    def error(search: bool) -> torch.Tensor:
        s, z = tool.group_params(w, search=search)
        c = torch.clamp(torch.round(w / s[:, None]) + z[:, None], 0, 15)
        return (((c - z[:, None]) * s[:, None] - w) ** 2).sum(1)

    full, searched = error(False), error(True)
    assert bool((searched <= full).all()) and float(searched.sum()) < 0.95 * float(full.sum())


@pytest.mark.parametrize(("out", "n"), [(4, 64), (3, 40), (1, 32)])
def test_the_file_format_decodes_to_the_same_weights_in_webaccel(out, n):
    w, x = _layer(out, n, seed=2)
    codes, scale, zero = tool.gptq(w.float(), x.T @ x / len(x))
    packed, s, offset = tool.to_webaccel(codes, scale, zero)
    assert packed.dtype == np.uint8 and s.dtype == offset.dtype == np.float32
    qw = QuantizedWeight(
        wa.from_buffer(packed, (out, n), wa.int4), wa.tensor(s), tool.GROUP, wa.tensor(offset)
    )
    got = qw.dequantize().numpy().astype(np.float64)
    want = _dequantized(codes, scale, zero).numpy()
    # offset = (8 - zero) * scale is rounded once to float32: ~1 ulp of the group's range
    np.testing.assert_allclose(got, want, rtol=0, atol=float(np.abs(want).max()) * 2e-7 + 1e-12)

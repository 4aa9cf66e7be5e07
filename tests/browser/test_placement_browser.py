"""A transformer block split across WebNN and WebGPU gives the reference answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = pytest.mark.lanes("headless-shell")

S, D, H = 6, 16, 32  # tokens, model width, hidden width


def values(n: int, seed: int) -> list[float]:
    return [((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5 for i in range(n)]


def reference() -> np.ndarray:
    x = np.array(values(S * D, 1), np.float64).reshape(S, D)
    wq, wk, wv = (np.array(values(D * D, s), np.float64).reshape(D, D) for s in (2, 3, 4))
    w1 = np.array(values(D * H, 5), np.float64).reshape(D, H)
    w2 = np.array(values(H * D, 6), np.float64).reshape(H, D)
    mask = np.where(np.arange(S)[None, :] > np.arange(S)[:, None], -1e9, 0.0)

    def ln(t):
        m = t.mean(-1, keepdims=True)
        return (t - m) / np.sqrt(((t - m) ** 2).mean(-1, keepdims=True) + 1e-5)

    q, k, v = x @ wq, x @ wk, x @ wv
    s = q @ k.T / math.sqrt(D) + mask
    p = np.exp(s - s.max(-1, keepdims=True))
    h = ln(x + (p / p.sum(-1, keepdims=True)) @ v)
    erf = np.vectorize(math.erf)
    g = h @ w1
    return ln(h + (0.5 * g * (1 + erf(g / math.sqrt(2)))) @ w2)


@run_in_pyodide(packages=["webaccel"])
def run_block(selenium, deny_on_webnn, S, D, H):
    import array
    import json

    import webaccel as wa

    wa.get_device("webgpu")
    wa.init("webnn")
    wa.allow()
    for op in deny_on_webnn:
        wa.deny(op, "webnn")

    def values(n, seed):
        return [((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5 for i in range(n)]

    def t(n, seed, shape):
        return wa.tensor(array.array("f", values(n, seed)), device="webnn").reshape(*shape)

    x = t(S * D, 1, (S, D))
    wq, wk, wv = (t(D * D, s, (D, D)) for s in (2, 3, 4))
    w1, w2 = t(D * H, 5, (D, H)), t(H * D, 6, (H, D))
    mask_values = [(-1e9 if j > i else 0.0) for i in range(S) for j in range(S)]
    mask = wa.tensor(array.array("f", mask_values), device="webnn").reshape(S, S)
    a = wa.attention(x @ wq, x @ wk, x @ wv, mask)
    h = wa.layer_norm(x + a, D)
    y = wa.layer_norm(h + (h @ w1).gelu() @ w2, D)
    text = wa.explain(y)
    out = y.tolist()
    wa.allow()
    return json.dumps({"out": out, "explain": text})


@pytest.mark.parametrize(
    "deny",
    [(), ("softmax", "layer_norm"), ("matmul",), ("gelu", "add")],
    ids=["all-webnn", "norms-on-webgpu", "matmul-on-webgpu", "gelu-add-on-webgpu"],
)
def test_transformer_block_split_across_backends(selenium_module_scope, deny):
    import json

    result = json.loads(run_block(selenium_module_scope, list(deny), S, D, H))
    got = np.array(result["out"])
    np.testing.assert_allclose(got, reference(), rtol=1e-4, atol=1e-4)
    text = result["explain"]
    if deny:
        assert "partition 1" in text and "webgpu" in text
        for op in deny:
            assert f"{op} is denied on webnn" in text
    else:
        assert "partition 1" not in text

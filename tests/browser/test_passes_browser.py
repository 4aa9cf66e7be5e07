"""Graph passes in the browser: a block written from primitives (matmul + bias + gelu in its erf
form, layer norm from means, softmax from max/exp/sum, a contiguous copy of a transposed weight)
runs rewritten, with fewer kernel launches on WebGPU, and gives the float64 host reference.
On WebNN (headless-shell) the same block runs rewritten too (gemm + gelu for linear). The
written-out layer norm stays written out (its float32 squares overflow where the op does not:
``engine/passes/normalization.py``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pytest_pyodide import run_in_pyodide

S, D, H = 5, 8, 12  # tokens, width, hidden width


def values(n: int, seed: int) -> list[float]:
    return [((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5 for i in range(n)]


def arrays() -> dict[str, np.ndarray]:
    return {
        "x": np.array(values(S * D, 1), np.float32).reshape(S, D),
        "w1": np.array(values(D * H, 2), np.float32).reshape(D, H),
        "b1": np.array(values(H, 3), np.float32),
        "gamma": np.array(values(H, 4), np.float32) + 1,
        "beta": np.array(values(H, 5), np.float32),
        "w2": np.array(values(D * H, 6), np.float32).reshape(D, H),  # (out, in)
    }


def reference() -> np.ndarray:
    a = {k: v.astype(np.float64) for k, v in arrays().items()}
    erf = np.vectorize(math.erf)
    h = a["x"] @ a["w1"] + a["b1"]
    g = 0.5 * h * (1 + erf(h / math.sqrt(2)))
    m = g.mean(-1, keepdims=True)
    ln = (g - m) / np.sqrt(((g - m) ** 2).mean(-1, keepdims=True) + 1e-5)
    s = (ln * a["gamma"] + a["beta"]) @ a["w2"].T * 4
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@run_in_pyodide(packages=["webaccel"])
def run_block(selenium, backend, inputs, shapes):
    import array
    import json
    import math

    import webaccel as wa
    from webaccel import ir

    if backend == "webnn":
        wa.init("webnn")
    dev = wa.get_device(backend)
    t = {
        k: wa.tensor(array.array("f", v), device=backend).reshape(*shapes[k])
        for k, v in inputs.items()
    }

    def block():
        h = t["x"] @ t["w1"] + t["b1"]
        g = 0.5 * h * (1 + wa.erf(h / math.sqrt(2)))
        m = g.mean(-1, keepdims=True)
        ln = (g - m) / (((g - m) ** 2).mean(-1, keepdims=True) + 1e-5).sqrt()
        s = (ln * t["gamma"] + t["beta"]) @ t["w2"].T.contiguous() * 4
        e = (s - s.max(-1, keepdims=True)).exp()
        return e / e.sum(-1, keepdims=True)

    y = block()
    nodes = ir.pending_nodes([y._node])
    program, _, _ = ir.lower(nodes, {y._node.id})
    out = y.tolist()
    compiled = dev.cache.compiled[program]  # cached under the program as recorded
    info = {
        "out": out,
        "steps": [s.op for s in program.steps],
        "fused_steps": [s.op for s in compiled.program.steps],
        "activations": [s.attr("activation") for s in compiled.program.steps],
    }
    if backend == "webgpu":
        info["fused_kernels"] = compiled.kernel_count
        info["plain_kernels"] = dev.compile(program).kernel_count  # the passes skipped
    return json.dumps(info)


def _payload() -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    a = arrays()
    return {k: v.reshape(-1).tolist() for k, v in a.items()}, {
        k: list(v.shape) for k, v in a.items()
    }


@pytest.mark.lanes("chromium", "headless-shell", "pyodide-0.27")
def test_fused_block_on_webgpu(selenium_module_scope):
    inputs, shapes = _payload()
    info = json.loads(run_block(selenium_module_scope, "webgpu", inputs, shapes))
    got = np.array(info["out"], np.float64)
    np.testing.assert_allclose(got, reference(), rtol=2e-4, atol=2e-6)
    fused = info["fused_steps"]
    assert "contiguous" not in fused and "erf" not in fused and "exp" not in fused, fused
    assert fused.count("linear") == 1 and "softmax" in fused, fused
    # layer_norm written out stays written out (engine/passes/normalization.py says why)
    assert "layer_norm" not in fused and "mean" in fused, fused
    assert "gelu" in info["activations"], info["activations"]
    assert len(fused) < len(info["steps"])
    assert info["fused_kernels"] < info["plain_kernels"], info


@pytest.mark.lanes("headless-shell")
def test_fused_block_on_webnn(selenium_module_scope):
    inputs, shapes = _payload()
    info = json.loads(run_block(selenium_module_scope, "webnn", inputs, shapes))
    got = np.array(info["out"], np.float64)
    np.testing.assert_allclose(got, reference(), rtol=2e-4, atol=2e-6)
    fused = info["fused_steps"]
    assert "linear" in fused and "softmax" in fused, fused
    assert "layer_norm" not in fused and "mean" in fused, fused
    assert "gelu" in info["activations"], info["activations"]
    assert len(fused) < len(info["steps"])

"""Every matmul kernel variant and the autotuner on WebGPU under Node + Dawn on lavapipe.

The register-tiled and subgroup configs (``kernels/matmul_reg.py``, ``kernels/matmul_subgroup.py``)
run (see ``_cases`` for which and on which paths); outputs are checked on the host against
float64 NumPy.
Then ``autotune.tune_async`` runs once: its choice must be correct, remembered in the cache file
and taken by ``matmul`` (also after reading the file again).
"""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

from webaccel_lab import lab

RNG = np.random.default_rng(77)
TUNE = (96, 64, 80)


def _wire(base: np.ndarray, shape, strides, offset=0):
    return (base.astype(np.float32).tobytes(), tuple(shape), tuple(strides), offset)


def _dense(a: np.ndarray):
    a = np.ascontiguousarray(a, dtype=np.float32)
    return _wire(a.reshape(-1), a.shape, [s // 4 for s in a.strides])


def _cases():
    """(id, config, inputs, activation, float64 reference).

    lavapipe compiles each big register-tiled kernel through LLVM in 2-15 s, so the lane runs
    a spread of configs (64-256 threads, 4x4 / 8x4 / 4x8 / 8x8 / 16x8 / 8x16 per thread, BK 8
    and 16, 32 KiB of shared memory, several loads per thread) through each path once: the fast
    path (tile-aligned, vec4 loads and stores, no bounds checks), bounds checks with scalar loads,
    with vec4 loads (batched, bias, relu), transposed operands (m4 / k4 loads). The older
    shared-memory and direct configs are checked on SwiftShader (test_webgpu_kernels.py), the
    new ones there too (test_matmul_variants_browser.py), and the autotuner checks the bits of
    each candidate on the adapter it tunes for before taking it (here: the software list).
    """
    cases = []
    a, b = RNG.standard_normal((256, 32)), RNG.standard_normal((32, 256))
    aligned = {"a": _dense(a), "b": _dense(b)}
    fast = ("r64x64x8_8x8", "r128x64x16_8x4", "r128x128x8_16x8", "r256x128x8_16x8")
    for cfg in [*fast, "r128x256x8_8x16", "sg64_8x8"]:
        cases.append((f"{cfg}-aligned", cfg, aligned, None, a @ b))
    a2, b2 = RNG.standard_normal((37, 29)), RNG.standard_normal((29, 41))
    odd = {"a": _dense(a2), "b": _dense(b2)}
    for cfg in ("r128x128x16_8x8", "r64x64x16_4x4"):
        cases.append((f"{cfg}-odd", cfg, odd, None, a2 @ b2))
    at = RNG.standard_normal((36, 68))  # A^T stored: A is (68 x 36), m4 loads
    w = RNG.standard_normal((44, 36))  # B = W^T (linear's weight): k4 loads
    inputs = {"a": _wire(at, (68, 36), (1, 68)), "b": _wire(w, (36, 44), (1, 36))}
    cases.append(("r128x128x8_8x8-transposed", "r128x128x8_8x8", inputs, None, at.T @ w.T))
    a3, b3 = RNG.standard_normal((3, 70, 24)), RNG.standard_normal((24, 52))
    bias = RNG.standard_normal(52)
    inputs = {"a": _dense(a3), "b": _dense(b3), "bias": _dense(bias)}
    want = np.maximum(a3 @ b3 + bias, 0)
    cases.append(("r64x128x16_4x8-batch-bias-relu", "r64x128x16_4x8", inputs, "relu", want))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def node_run(lane, wheel, tmp_path_factory):
    work = tmp_path_factory.mktemp("matmul")
    cache = work / "cache"
    payload = {"cases": [c[1:4] for c in CASES], "tune": TUNE}
    (work / "payload.pickle").write_bytes(pickle.dumps(payload))
    script = lab.repo_root() / "tools" / "node_runtime" / "run_matmul_cases.py"
    args = ["--cache", str(cache), str(script), str(work / "payload.pickle")]
    args.append(str(work / "results.pickle"))
    out = lab.run_node(lane, args, mounts=(work,), timeout=1200, wheel=wheel)
    print(out.stdout)
    assert out.returncode == 0, f"Node run failed ({out.returncode}):\n{out.stderr[-4000:]}"
    run = pickle.loads((work / "results.pickle").read_bytes())
    run["cache_file"] = cache / "matmul_tuning.json"
    return run


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matmul_variant(case, node_run):
    name, cfg, _, _, want = case
    assert cfg in node_run["usable"], f"{cfg} cannot run on this adapter"
    status, *rest = node_run["results"][CASES.index(case)]
    assert status == "ok", f"{name}: {rest[0]}"
    data, shape = rest
    got = np.frombuffer(data, np.float32).reshape(shape)
    k = CASES[CASES.index(case)][2]["a"][1][-1]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=3e-4 * math.sqrt(k), err_msg=name)


def test_subgroup_kernels_need_wide_enough_subgroups(node_run):
    # lavapipe (256-bit LLVM vectors) has 8-lane subgroups: TM = 16 rows cannot be broadcast
    assert "sg64_8x8" in node_run["usable"]
    assert "sg64_16x4" not in node_run["usable"]


def test_autotuner_choice_is_cached_and_taken(node_run):
    entry = node_run["tune"]
    assert entry["class"] == "m128n64k64/k4,n4"
    assert entry["config"] in entry["us"] and entry["us"]
    assert entry["config"] == min(entry["us"], key=entry["us"].get)
    assert not entry["rejected"], entry["rejected"]
    assert node_run["choice"] == entry["config"] == node_run["reloaded"]
    cached = json.loads(node_run["cache_file"].read_text())
    (adapter,) = cached
    assert "llvmpipe" in adapter
    assert cached[adapter][entry["class"]]["config"] == entry["config"]
    assert node_run["live_buffers"] == 0

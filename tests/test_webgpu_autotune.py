"""The matmul autotuner's pure-Python side (no GPU): shape classes, candidates within an
adapter's limits, the per-adapter cache and the choice the matmul lowering takes; and the WGSL
of the new kernels. The tuning itself runs in the node-lavapipe lane (tests/node)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from webaccel.backends.webgpu import autotune, kernels, tuning
from webaccel.backends.webgpu.kernels.matmul_reg import (
    MATMUL_REG_CONFIGS,
    matmul_reg_shared_bytes,
    matmul_reg_source,
)
from webaccel.backends.webgpu.kernels.matmul_subgroup import (
    MATMUL_SUBGROUP_CONFIGS,
    matmul_subgroup_source,
)
from webaccel.backends.webgpu.views import StridedView

NVIDIA = {"vendor": "nvidia", "device": "h100", "subgroupMinSize": 32, "subgroupMaxSize": 32}
LIMITS = {"maxComputeInvocationsPerWorkgroup": 1024, "maxComputeWorkgroupStorageSize": 49152}


def ctx(info=NVIDIA, limits=LIMITS, software=False, subgroups=True):
    return SimpleNamespace(info=info, limits=limits, software=software, has_subgroups=subgroups)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBACCEL_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_shape_classes_round_to_powers_of_two():
    assert tuning.size_class(1000) == 1024
    assert tuning.size_class(1500) == 2048  # log2 1500 = 10.55
    assert tuning.size_class(3) == 16 and tuning.size_class(10**6) == 8192
    key = tuning.shape_class(4096, 4000, 384, "k4", "n4", False)
    assert key == "m4096n4096k512/k4,n4"
    assert tuning.shape_class(512, 512, 64, "k4", "k4", True) == "m512n512k64b/k4,k4"


def test_candidates_respect_the_adapter():
    gpu = autotune.candidates(ctx(), "k4", "n4")
    assert set(MATMUL_REG_CONFIGS) <= set(gpu)
    assert set(MATMUL_SUBGROUP_CONFIGS) <= set(gpu)
    # subgroup kernels need vec4 loads of A along K and B along N, and the feature
    assert not set(MATMUL_SUBGROUP_CONFIGS) & set(autotune.candidates(ctx(), "k4", "k4"))
    no_sg = autotune.candidates(ctx(subgroups=False), "k4", "n4")
    assert not set(MATMUL_SUBGROUP_CONFIGS) & set(no_sg)
    # 8-lane subgroups cannot broadcast 16 rows
    narrow = autotune.candidates(ctx(info={**NVIDIA, "subgroupMinSize": 8}), "k4", "n4")
    assert "sg64_8x8" in narrow and "sg64_16x4" not in narrow
    # WebGPU's default limits: 256 invocations, 16 KiB of workgroup memory
    small = autotune.candidates(ctx(limits={}), "k4", "n4")
    assert "r128x128x16_8x8" not in small  # 32 KiB
    assert "r128x128x8_8x8" in small  # 16 KiB, 256 threads
    assert all(autotune.config_cost(n)[0] <= 256 for n in small)
    assert autotune.candidates(ctx(software=True), "k4", "n4") == list(autotune.SOFTWARE_CANDIDATES)


def test_choice_comes_from_the_cache_of_this_adapter(cache_dir):
    c = ctx()
    assert autotune.choice(c, 4096, 4096, 4096, "k4", "n4", False) is None
    key = tuning.shape_class(4096, 4096, 4096, "k4", "n4", False)
    other = {**NVIDIA, "device": "a100"}
    data = {
        tuning.adapter_key(NVIDIA): {key: {"config": "r128x128x8_16x8"}},
        tuning.adapter_key(other): {key: {"config": "64x64x16_4x4"}},
    }
    (cache_dir / tuning.CACHE_FILE).write_text(json.dumps(data))
    c = ctx()
    assert autotune.choice(c, 4096, 4096, 4096, "k4", "n4", False) == "r128x128x8_16x8"
    assert autotune.choice(c, 3500, 4500, 4000, "k4", "n4", False) == "r128x128x8_16x8"
    assert autotune.choice(c, 4096, 4096, 4096, "k4", "k4", False) is None  # other layout
    assert autotune.choice(c, 4096, 4096, 4096, "k4", "n4", True) is None  # batched
    assert autotune.choice(c, 4, 4096, 4096, "k4", "n4", False) is None  # matvec
    assert autotune.choice(ctx(info=other), 4096, 4096, 4096, "k4", "n4", False) == "64x64x16_4x4"


def test_unknown_or_broken_cache_entries_are_ignored(cache_dir):
    key = tuning.shape_class(64, 64, 64, "k4", "n4", False)
    data = {tuning.adapter_key(NVIDIA): {key: {"config": "no_such_kernel"}}}
    (cache_dir / tuning.CACHE_FILE).write_text(json.dumps(data))
    assert autotune.choice(ctx(), 64, 64, 64, "k4", "n4", False) is None
    (cache_dir / tuning.CACHE_FILE).write_text("{not json")
    assert tuning.load_cache() == {}
    assert autotune.choice(ctx(), 64, 64, 64, "k4", "n4", False) is None


def test_save_and_load_round_trip(cache_dir):
    tuning.save_cache({"a": {"m64n64k64/k4,n4": {"config": "r64x64x8_8x8"}}})
    assert tuning.load_cache() == {"a": {"m64n64k64/k4,n4": {"config": "r64x64x8_8x8"}}}
    assert not list(cache_dir.glob("*.tmp"))


def test_load_modes_name_the_layouts():
    a, b = StridedView(None, (64, 32)), StridedView(None, (32, 48))
    assert kernels.load_modes(a, b) == ("k4", "n4")
    w = StridedView(None, (48, 32)).transpose(-1, -2)  # linear: x @ W^T
    assert kernels.load_modes(a, w) == ("k4", "k4")
    at = StridedView(None, (32, 64)).transpose(-1, -2)
    assert kernels.load_modes(at, b) == ("m4", "n4")
    odd = kernels.load_modes(StridedView(None, (5, 7)), StridedView(None, (7, 3)))
    assert odd == ("k", "n")  # scalar loads along the contiguous axis


@pytest.mark.parametrize("name", list(MATMUL_REG_CONFIGS))
def test_register_tiled_wgsl(name):
    cfg = MATMUL_REG_CONFIGS[name]
    bm, bn, bk, tm, tn = cfg
    fast = matmul_reg_source(cfg, "k4", "n4", True, True, 0, False, None)
    assert f"@workgroup_size({bn // tn}, {bm // tm}, 1)" in fast
    assert f"array<array<array<vec4<f32>, {bm // 4}>, {bk}>, 2>" in fast
    assert "var<storage, read_write> C: array<vec4<f32>>" in fast
    assert "< M" not in fast and "< N" not in fast  # the aligned path checks no bounds
    assert fast.count("workgroupBarrier()") == 2  # the first tile, then one per tile
    assert matmul_reg_shared_bytes(cfg) == 2 * (bm + bn) * bk * 4
    guarded = matmul_reg_source(cfg, "k", "n", False, False, 2, True, "gelu")
    assert "gm < M" in guarded and "gn < N" in guarded and "k0 + " in guarded
    assert "wa_gelu" in guarded and "bias[" in guarded


def test_subgroup_wgsl():
    src = matmul_subgroup_source(MATMUL_SUBGROUP_CONFIGS["sg64_8x8"], 0, True, None)
    assert src.splitlines()[8] == "enable subgroups;"
    assert src.count("subgroupBroadcast(av,") == 8
    assert "workgroupBarrier" not in src


def _imports(path: Path, package: str) -> set[str]:
    """Every module *path* imports, at any depth (function-local imports too), absolute."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_the_tuning_table_sits_between_autotune_and_the_kernels():
    """autotune -> kernels -> tuning: the kernels never import the autotuner, the table neither."""
    root = Path(autotune.__file__).parent
    pkg = "webaccel.backends.webgpu"
    table = _imports(root / "tuning.py", pkg)
    assert not {m for m in table if m.startswith((f"{pkg}.kernels", f"{pkg}.autotune"))}, table
    for path in (root / "kernels").glob("*.py"):
        found = _imports(path, f"{pkg}.kernels")
        assert f"{pkg}.autotune" not in found, path.name
    assert f"{pkg}.tuning" in _imports(root / "kernels" / "matmul.py", f"{pkg}.kernels")

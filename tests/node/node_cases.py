"""Which op cases the ``node-lavapipe`` lane runs, and why.

Mesa lavapipe compiles every new WGSL pipeline to native code through LLVM (0.1-10 s each on
these 2-core machines; Mesa's shader cache in ``~/.cache/mesa_shader_cache_db`` makes a second
run fast). The whole op-set suite (~880 WebGPU cases) takes 2.5 min cold on an idle machine and
more under load, so the lane runs one case per *class*: the set of ops its program uses (the
op under test, with the ``contiguous``/``full`` helpers left out) and its tags (views,
broadcasting, int32, float16, special values, quantized, scalars...). That is every op of
``webaccel.ops.OPS`` in every flavour the suite has, at about a fifth of the cases. The
SwiftShader lanes run the whole suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from recorded_ops import flush_subnormals, op_cases, record

STORAGE_ONLY = ("uint8", "int8", "int4")
HELPERS = frozenset({"contiguous", "full"})


def runs_on_webgpu(case: op_cases.OpCase) -> bool:
    """False for cases computing on int8/uint8/int4 data: weight storage on WebGPU, read only
    by the dequantizing ops (the "quant" cases run); as in tests/browser/test_ops_webgpu.py."""
    if "quant" in case.tags:
        return True
    if case.dtype in STORAGE_ONLY or any(a.dtype.name in STORAGE_ONLY for a in case.inputs):
        return False
    return not any(name in case.id for name in STORAGE_ONLY)


def case_class(case: op_cases.OpCase) -> tuple[frozenset[str], tuple[str, ...]]:
    """(ops the case's program uses, helpers left out unless alone; the case's tags)."""
    ops = frozenset(step.op for step in record(case)[0].steps)
    return (ops - HELPERS or ops), tuple(sorted(case.tags))


def representative(cases: list[op_cases.OpCase]) -> list[op_cases.OpCase]:
    """The first case of each class, in suite order."""
    seen: set[tuple[frozenset[str], tuple[str, ...]]] = set()
    chosen = []
    for case in cases:
        key = case_class(case)
        if key not in seen:
            seen.add(key)
            chosen.append(case)
    return chosen


def lane_cases() -> list[op_cases.OpCase]:
    """The node lane's cases, subnormal inputs flushed (as in the other WebGPU lanes)."""
    return [flush_subnormals(c) for c in representative(op_cases.CASES) if runs_on_webgpu(c)]

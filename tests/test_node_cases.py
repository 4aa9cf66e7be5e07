"""The node-lavapipe lane's choice of op cases (tests/node/node_cases.py), checked on the host."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "node"))
import node_cases
from recorded_ops import ops_used

import webaccel as wa


def test_one_case_per_class_covering_every_op():
    chosen = node_cases.lane_cases()
    assert set(wa.OPS) <= ops_used(chosen)
    classes = [node_cases.case_class(c) for c in chosen]
    assert len(classes) == len(set(classes))  # one case per class
    every = {node_cases.case_class(c) for c in node_cases.op_cases.CASES}
    runnable = {
        node_cases.case_class(c) for c in node_cases.op_cases.CASES if node_cases.runs_on_webgpu(c)
    }
    assert set(classes) == runnable and runnable <= every
    assert len(chosen) < len(node_cases.op_cases.CASES) / 3  # the point: far fewer compiles


def test_flavours_are_kept_and_storage_dtypes_left_out():
    chosen = node_cases.lane_cases()
    tags = {t for c in chosen for t in c.tags}
    assert {"view", "broadcast", "int32", "f16", "special", "quant"} <= tags
    assert not any(
        a.dtype.name in node_cases.STORAGE_ONLY
        for c in chosen
        if "quant" not in c.tags
        for a in c.inputs
    )

"""Every op case of ``op_cases`` on the cpu device, against its float64 reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from op_cases import CASES, PUBLIC_FUNCTIONS, check_case, run_case

import webaccel as wa


def recorded_ops(out: Any) -> set[str]:
    """The op names in the pending graph behind *out* (a tensor or a list of tensors)."""
    seen: set[int] = set()
    names: set[str] = set()
    stack = [t._node for t in (out if isinstance(out, list | tuple) else [out])]
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        names.add(node.op)
        stack.extend(ref.node for ref in node.srcs)
    return names


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Any) -> None:
    check_case(case, run_case(case, "cpu"))


@pytest.mark.parametrize("case", [c for c in CASES if "f16" not in c.tags][::7], ids=lambda c: c.id)
def test_case_eager(case: Any) -> None:
    """Eager mode (realize after every op) gives the same numbers as one lazy program."""
    previous = wa.set_eager(True)
    try:
        got = run_case(case, "cpu")
    finally:
        wa.set_eager(previous)
    lazy = run_case(case, "cpu")
    for g, w in zip(got, lazy, strict=True):
        np.testing.assert_array_equal(g, w)


def test_every_op_is_covered() -> None:
    """Each op of ops.OPS is recorded by some case's graph; each public function is used."""
    seen: set[str] = set()
    for case in CASES:
        tensors = [wa.tensor(a) for a in case.inputs]
        seen |= recorded_ops(case.fn(*tensors))
    missing = set(wa.OPS) - seen
    assert not missing, f"ops without a case: {sorted(missing)}"
    used = {name for case in CASES for name in case.api}
    assert not set(PUBLIC_FUNCTIONS) - used, sorted(set(PUBLIC_FUNCTIONS) - used)
    public = {n for n in wa.__all__ if callable(getattr(wa, n)) and n in dir(wa.functional)}
    public -= {"Tensor", "annotations"}
    assert public <= set(PUBLIC_FUNCTIONS), sorted(public - set(PUBLIC_FUNCTIONS))


def test_case_ids_unique_and_tolerances_stated() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    for c in CASES:
        assert c.rtol >= 0 and c.atol >= 0
        assert all(isinstance(a, np.ndarray) for a in c.inputs)
        assert all(a.dtype != np.float64 for a in c.inputs), c.id


def test_tags_cover_the_edge_cases() -> None:
    tags = {t for c in CASES for t in c.tags}
    assert {"f16", "int32", "view", "special", "empty", "broadcast", "scalar"} <= tags

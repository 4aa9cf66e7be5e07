"""Random chains of public ops on the cpu device against the float64 reference (Hypothesis).

The generators, the reference and the comparison rules are in ``chains.py`` and
``chain_reference.py``; the browser lanes run the same checks on webgpu and webnn
(``tests/browser/test_chains_browser.py``, ``tests/node/test_chains_node.py``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from chains import Chain, chain_exec, chains, check_chain, collect, report
from hypothesis import HealthCheck, given, settings

import webaccel as wa

# Derandomized so the suite is the same on every run; WEBACCEL_CHAIN_EXAMPLES raises the count
# (and WEBACCEL_CHAIN_RANDOM=1 draws new chains) when hunting for new disagreements.
EXAMPLES = int(os.environ.get("WEBACCEL_CHAIN_EXAMPLES", "400"))
HOST = settings(
    max_examples=EXAMPLES,
    derandomize=os.environ.get("WEBACCEL_CHAIN_RANDOM") != "1",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def run_on_cpu(chain: Chain) -> list[str]:
    stepwise, whole = chain_exec.run_chains(wa, [chain.payload], "cpu")[0]
    return check_chain(chain, stepwise, whole)


@HOST
@given(chains())
def test_chain_on_cpu(chain: Chain) -> None:
    problems = run_on_cpu(chain)
    assert not problems, report(chain, problems)


def test_collected_chains_are_the_same_every_time() -> None:
    """The browser lanes' chains: derandomized, so every run ships the same ones."""
    first, second = collect(12), collect(12)
    assert len(first) == 12
    for a, b in zip(first, second, strict=True):
        assert a.steps == b.steps
        pairs = zip(a.inputs, b.inputs, strict=True)
        assert all(np.array_equal(x, y, equal_nan=True) for x, y in pairs)


def test_collected_chains_cover_the_op_families_and_edges() -> None:
    """Enough variety in what the browsers run: every op family, every dtype, size-0 and
    size-1 dims, non-contiguous views, and each kind of special value in some input."""
    sample = collect(120)
    ops = {op for c in sample for op, _, _ in c.steps}
    assert {"unary", "binary", "where", "cast", "reduce", "matmul", "linear", "softmax"} <= ops
    assert {"layer_norm", "slice", "permute", "reshape", "expand", "bitcast"} <= ops
    dtypes = {a.dtype.name for c in sample for a in c.inputs}
    assert dtypes == {"float32", "float16", "int32"}
    dims = {d for c in sample for a in c.inputs for d in a.shape}
    assert {0, 1} <= dims and any(d % 2 for d in dims if d > 1)
    values = np.concatenate([a.ravel() for c in sample for a in c.inputs if a.dtype.kind == "f"])
    assert np.isnan(values).any() and np.isposinf(values).any() and np.isneginf(values).any()
    assert (np.signbit(values) & (values == 0)).any()
    assert (np.abs(values[np.isfinite(values)]) > 1e38).any()
    assert ((np.abs(values) < 1e-29) & (values != 0)).any()


@pytest.mark.parametrize(
    "chain_id", range(3), ids=["int-by-float-scalar", "int-by-float", "softmax-empty-axis"]
)
def test_known_cpu_disagreements_stay_fixed(chain_id: int) -> None:
    """The issue's cpu findings, as chains: int32 / float truncated; an empty softmax failed."""
    f32 = np.float32
    found = [
        Chain(
            (np.array([10], np.int32),),
            (("binary", (("v", 0), ("s", 0.1)), {"fn": "div"}),),
        ),
        Chain(
            (np.array([3, -7, 5], np.int32), np.array([2.0, 2.0, 0.0], f32)),
            (("binary", (("v", 0), ("v", 1)), {"fn": "div"}),),
        ),
        Chain((np.zeros((3, 0), f32),), (("softmax", (("v", 0),), {"axis": -1}),)),
    ][chain_id]
    problems = run_on_cpu(found)
    assert not problems, report(found, problems)

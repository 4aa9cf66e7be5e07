"""The op-set suite on WebGPU in Pyodide under Node 24 + Dawn, on Mesa lavapipe.

The cases (``node_cases.lane_cases``: one per op-and-flavour class) are recorded on the host
exactly as in the browser lanes (``tests/browser/recorded_ops.py``), shipped in one pickle to
``tools/node_runtime/run_programs.py`` in ONE Node process (one Pyodide start; pipelines shared
between cases), and each result is checked here against the float64 NumPy reference with the
case's tolerance. No adapter, a failed start, or a missing piece of the runtime fails every
test: the lane never skips.
"""

from __future__ import annotations

import pickle
import time

import node_cases
import pytest
from recorded_ops import check, ops_used, record

import webaccel as wa
from webaccel_lab import lab

CASES = node_cases.lane_cases()
TIMEOUT = 1200.0  # s; ~1 min cold on an idle 2-core machine


@pytest.fixture(scope="module")
def node_run(lane: lab.Lane, wheel, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("node-ops")
    recorded = [record(case) for case in CASES]
    (work / "payload.pickle").write_bytes(pickle.dumps([r[:3] for r in recorded]))
    script = lab.repo_root() / "tools" / "node_runtime" / "run_programs.py"
    args = [str(script), str(work / "payload.pickle"), str(work / "results.pickle")]
    t0 = time.perf_counter()
    out = lab.run_node(lane, args, mounts=(work,), timeout=TIMEOUT, wheel=wheel)
    seconds = time.perf_counter() - t0
    print(out.stdout)
    assert out.returncode == 0, f"Node run failed ({out.returncode}):\n{out.stderr[-4000:]}"
    run = pickle.loads((work / "results.pickle").read_bytes())
    run["wall_seconds"] = seconds
    run["meta"] = {case.id: r[3] for case, r in zip(CASES, recorded, strict=True)}
    run["by_id"] = dict(zip([c.id for c in CASES], run["results"], strict=True))
    return run


def test_lavapipe_adapter_is_the_one_in_use(node_run):
    info = node_run["adapter"]
    text = " ".join(str(info.get(k, "")) for k in ("vendor", "architecture", "description"))
    assert "llvmpipe" in text.lower(), f"expected Mesa lavapipe (llvmpipe), got {info}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_case_on_node_webgpu(case, node_run):
    check(case, (node_run["by_id"][case.id], node_run["meta"][case.id]))


def test_every_op_is_covered_on_node():
    missing = set(wa.OPS) - ops_used(CASES)
    assert not missing, f"ops without a case in the node lane: {sorted(missing)}"

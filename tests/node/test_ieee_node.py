"""IEEE edge cases of every op on WebGPU in Pyodide under Node + Dawn, on Mesa lavapipe: the
cases and checks of ``tests/browser/ieee_cases.py`` (the chromium lane runs the same ones on
SwiftShader), shipped in one pickle to ``tools/node_runtime/run_programs.py`` in one Node
process, as ``test_ops_node.py`` does with the op-set suite.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
import ieee_cases
from recorded_ops import ops_used, record

import webaccel as wa
from webaccel_lab import lab

CASES = ieee_cases.lane_cases()
TIMEOUT = 1200.0  # s: each case is a new pipeline, compiled by LLVM (slow cold, on 2 cores)


@pytest.fixture(scope="module")
def node_run(lane: lab.Lane, wheel, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("node-ieee")
    recorded = [record(case) for case in CASES]
    (work / "payload.pickle").write_bytes(pickle.dumps([r[:3] for r in recorded]))
    script = lab.repo_root() / "tools" / "node_runtime" / "run_programs.py"
    args = [str(script), str(work / "payload.pickle"), str(work / "results.pickle")]
    out = lab.run_node(lane, args, mounts=(work,), timeout=TIMEOUT, wheel=wheel)
    print(out.stdout)
    assert out.returncode == 0, f"Node run failed ({out.returncode}):\n{out.stderr[-4000:]}"
    run = pickle.loads((work / "results.pickle").read_bytes())
    run["meta"] = {case.id: r[3] for case, r in zip(CASES, recorded, strict=True)}
    run["by_id"] = dict(zip([c.id for c in CASES], run["results"], strict=True))
    return run


def test_lavapipe_adapter_is_the_one_in_use(node_run):
    info = node_run["adapter"]
    text = " ".join(str(info.get(k, "")) for k in ("vendor", "architecture", "description"))
    assert "llvmpipe" in text.lower(), f"expected Mesa lavapipe (llvmpipe), got {info}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_ieee_case_on_node_webgpu(case, node_run):
    ieee_cases.check(case, (node_run["by_id"][case.id], node_run["meta"][case.id]))


def test_errors_and_differences_name_cases_on_node():
    ids = {c.id for c in CASES}
    assert set(ieee_cases.ERRORS) <= ids and set(ieee_cases.DIFFERENCES) <= ids
    assert all(reason for reason in ieee_cases.DIFFERENCES.values())


def test_every_op_has_an_ieee_case_on_node():
    missing = set(wa.OPS) - ops_used(CASES)
    assert not missing, f"ops without an IEEE case in the node lane: {sorted(missing)}"

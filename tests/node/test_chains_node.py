"""Random op chains (``tests/chains.py``) on WebGPU in Pyodide under Node 24 + Dawn, on Mesa
lavapipe, against the float64 reference.

As in the browser lanes (``tests/browser/test_chains_browser.py``): the chains are generated on
the host, the same ones every run, shipped as plain data with ``chain_exec.py``'s source to
``tools/node_runtime/run_chains.py`` in ONE Node process, run there through the public API
(stepwise and whole), and checked here. Lavapipe compiles each new pipeline through LLVM, so the
lane runs fewer chains than the SwiftShader lanes (the first ones of the same list).
"""

from __future__ import annotations

import inspect
import pickle
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import chain_exec
from chains import check_chain, collect, report

from webaccel_lab import lab

N_CHAINS = 150  # about a minute on lavapipe with a warm shader cache
CHAINS = collect(N_CHAINS)
TIMEOUT = 1200.0  # s


@pytest.fixture(scope="module")
def node_run(lane: lab.Lane, wheel, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("node-chains")
    payload = {"source": inspect.getsource(chain_exec), "chains": [c.payload for c in CHAINS]}
    (work / "payload.pickle").write_bytes(pickle.dumps(payload))
    script = lab.repo_root() / "tools" / "node_runtime" / "run_chains.py"
    args = [str(script), str(work / "payload.pickle"), str(work / "results.pickle")]
    t0 = time.perf_counter()
    out = lab.run_node(lane, args, mounts=(work,), timeout=TIMEOUT, wheel=wheel)
    print(out.stdout, f"wall {time.perf_counter() - t0:.1f} s")
    assert out.returncode == 0, f"Node run failed ({out.returncode}):\n{out.stderr[-4000:]}"
    return pickle.loads((work / "results.pickle").read_bytes())


def test_lavapipe_adapter_runs_the_chains(node_run):
    text = " ".join(str(node_run["adapter"].get(k, "")) for k in ("vendor", "description"))
    assert "llvmpipe" in text.lower(), node_run["adapter"]
    assert len(node_run["results"]) == N_CHAINS


@pytest.mark.parametrize("index", range(N_CHAINS))
def test_chain_on_node_webgpu(index: int, node_run: dict) -> None:
    chain = CHAINS[index]
    problems = check_chain(chain, *node_run["results"][index], ftz=True)
    assert not problems, report(chain, problems)

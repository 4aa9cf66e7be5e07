"""Random op chains (``tests/chains.py``) on WebGPU (chromium, headless shell) and WebNN
(headless shell), against the float64 reference.

Browsers have no Hypothesis: the chains are generated on the host, the same ones every run
(``chains.collect``, derandomized), and shipped as plain data (ops, attributes, input bytes)
with the source of ``chain_exec.py``, which the page ``exec``s and runs each chain with through
the public API, as a user's code would (uploads, lazy ops, ``realize`` with placement, graph
passes, fusion): once with every step's value read (stepwise) and once with only the last one
(the whole chain fused). Results come back as bytes and are checked here with the host's rules
(``chains.check_chain``), subnormal float32 values allowed to flush to zero as browsers do.

A disagreement is a failing test named by its chain index; its message prints the chain.
"""

from __future__ import annotations

import inspect
import pickle
import sys
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import chain_exec
from chains import check_chain, collect, report

pytestmark = pytest.mark.lanes("chromium", "headless-shell")

N_CHAINS = 400  # each runs twice: about 1.5 min per backend on SwiftShader
CHUNK = 30  # chains per call into the page
CHAINS = collect(N_CHAINS)


@run_in_pyodide(packages=["webaccel"])
def run_in_page(selenium, device_name, source, payload):
    import pickle

    import webaccel as wa

    namespace = {}
    exec(source, namespace)  # chain_exec.py, shipped from the host
    return pickle.dumps(namespace["run_chains"](wa, pickle.loads(payload), device_name))


def run_all(selenium, device_name: str) -> list[tuple]:
    source = inspect.getsource(chain_exec)
    out: list[tuple] = []
    for start in range(0, len(CHAINS), CHUNK):
        part = [c.payload for c in CHAINS[start : start + CHUNK]]
        out += pickle.loads(run_in_page(selenium, device_name, source, pickle.dumps(part)))
    return out


@pytest.fixture(scope="module")
def webgpu_runs(selenium_module_scope) -> list[tuple]:
    return run_all(selenium_module_scope, "webgpu")


@pytest.fixture(scope="module")
def webnn_runs(selenium_module_scope) -> list[tuple]:
    return run_all(selenium_module_scope, "webnn")


@pytest.mark.parametrize("index", range(N_CHAINS))
def test_chain_on_webgpu(index: int, webgpu_runs: list[tuple]) -> None:
    chain = CHAINS[index]
    problems = check_chain(chain, *webgpu_runs[index], ftz=True)
    assert not problems, report(chain, problems)


@pytest.mark.lanes("headless-shell")
@pytest.mark.parametrize("index", range(N_CHAINS))
def test_chain_on_webnn(index: int, webnn_runs: list[tuple]) -> None:
    chain = CHAINS[index]
    problems = check_chain(chain, *webnn_runs[index], ftz=True)
    assert not problems, report(chain, problems)

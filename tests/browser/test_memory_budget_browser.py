"""The device-memory budget in the browser (``webaccel.budget``), on the real devices.

Three sentence embedders (``tests/tiny_bert.py``'s three checkpoints: BERT, hidden 96, 3
layers, each with weights of its own, about 1 MB each), loaded from directories of the page's
file system or from a store (IndexedDB), are used in turn under a memory limit of three
quarters of their weights: two fit, not three. Each call gives the embeddings of the unlimited
run, and the device's resident bytes are never above the limit (checked after every call, and
the peak at every allocation). The evictions and returns are printed.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tiny_bert as tb  # tests/, beside the host tests

pytestmark = pytest.mark.lanes("headless-shell")

VARIANTS = ("uncased_mean", "cased_cls", "mean_max")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            tb.files_of(tb.write_checkpoint(tmp_path_factory.mktemp(v), tb.VARIANTS[v], seed=k))
            for k, v in enumerate(VARIANTS)
        ]


@run_in_pyodide(packages=["webaccel"])
async def _three_models(selenium, checkpoints, sentences, device, source):
    import gc
    import time
    from pathlib import Path

    import webaccel as wa
    from webaccel.models import SentenceEmbedder
    from webaccel.store import Store

    dev = wa.get_device(device)
    gc.collect()  # an earlier test's models (cycles: captured closures) go now
    base = dev.live_bytes  # the page's device lives across tests: what is left counts too
    before = dev.budget_stats()
    store = None
    if source == "store":
        store = await Store.open_async(f"webaccel-budget-{device}")
        await store.clear_async()
    models = []
    for k, files in enumerate(checkpoints):
        if store is not None:
            src = files
        else:  # a directory of the page's file system: read again when a weight comes back
            src = Path(f"/tmp/budget-{device}-{k}")
            for name, data in files.items():
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                (src / name).write_bytes(data)
            src = str(src)
        models.append(
            await SentenceEmbedder.load_async(src, device=dev, store=store, name=f"model{k}")
        )
    want = [await m.encode_async(sentences, batch_size=4) for m in models]
    weights = dev.live_bytes - base
    limit = base + weights * 3 // 4
    figures = {"weights": weights, "limit": limit, "calls": []}
    try:
        wa.set_memory_limit(limit, backend=dev)
        assert dev.live_bytes <= limit
        for k in (0, 1, 2, 0, 2, 1, 1, 0):
            t0 = time.perf_counter()
            got = await models[k].encode_async(sentences, batch_size=4)
            ms = (time.perf_counter() - t0) * 1e3
            assert got == want[k], k
            assert dev.live_bytes <= limit, (k, dev.live_bytes, limit)
            figures["calls"].append((k, round(ms, 1), dev.live_bytes))
        stats = dev.budget_stats()  # the device's counters, since it was made: this test's
        for k in ("evictions", "evicted_bytes", "readmissions", "readmitted_bytes"):
            stats[k] -= before[k]
        for k in ("invalidated_traces", "refused"):
            stats[k] -= before[k]
        figures["stats"] = stats  # (peak_bytes restarts at set_memory_limit)
        report = wa.memory_report([device])
        figures["report_limit"] = report.backend(device).limit
        figures["report"] = str(report)
    finally:
        wa.set_memory_limit(None, backend=dev)
        if store is not None:
            await store.clear_async()
        del models
        gc.collect()
    return figures


@pytest.mark.parametrize("source", ["directory", "store"])
@pytest.mark.parametrize("device", ["webgpu", "webnn"])
def test_three_models_over_a_budget_give_the_same_answers(
    selenium, lane, checkpoints, device, source
):
    # SwiftShader compiles the graph's WGSL pipelines once per signature: seconds
    selenium.set_script_timeout(300)
    f = _three_models(selenium, checkpoints, tb.SENTENCES, device, source)
    stats = f["stats"]
    print(
        f"\n{lane.name} {device} from a {source}: weights {f['weights']} bytes under a limit of "
        f"{f['limit']}; per call (model, ms, live bytes): {f['calls']}"
    )
    print(json.dumps(stats))
    print(f["report"])
    assert stats["peak_bytes"] <= f["limit"] and stats["refused"] == 0
    assert stats["evictions"] > 0 and stats["readmissions"] > 0
    assert stats["invalidated_traces"] > 0  # captured graphs over evicted weights recompiled
    assert f["report_limit"] == f["limit"]

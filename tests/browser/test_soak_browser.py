"""The soak in the browser: the benchmark page (``static_site/bench_soak.html``, what
``webaccel bench soak`` runs) for a shorter while, through the same page code, on webgpu and
webnn; and ``close()`` on the real devices (weights and captured graphs released, shared
weights kept for the other model, calls afterwards refused).

The short soak: all-MiniLM-L6-v2 from the lab's model directory, 60 encodes, 5 loads and
unloads from IndexedDB, one forced device loss; device bytes, the JS heap
(``performance.memory``, exact under the lab's ``--enable-precise-memory-info``) and the live
storages must end within 1% of where they started.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

from webaccel_lab.benchmarks import soak_runner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tiny_bert as tb  # tests/, beside the host tests

pytestmark = pytest.mark.lanes("chromium", "headless-shell")
# webgpu runs in both browser lanes, webnn in the headless shell only (chromium has none)
DEVICES = ["webgpu", pytest.param("webnn", marks=pytest.mark.lanes("headless-shell"))]
SHORT = {"encodes": 60, "loads": 5, "sample_every": 20, "losses": 1}


@pytest.mark.parametrize("device", DEVICES)
def test_a_short_soak_returns_to_baseline(lane, device):
    result = soak_runner.shape_result(
        soak_runner.run_page(lane.name, {**SHORT, "device": device}, 900, soak_runner.PAGE),
        lane.name,
    )
    print(f"\n{soak_runner.format_table(result)}")
    assert result["errors"] == {}, result["errors"]
    assert result["device"] == device
    for key in soak_runner.HEADLINE:
        value = result[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
    assert (result["encodes"], result["loads"]) == (60, 5)
    assert result["loads_from_store"] == 5  # IndexedDB, after the resident's load
    for what in ("device_bytes", "js_heap", "storages"):
        start, end = result[f"{what}_start"], result[f"{what}_end"]
        assert start > 0 and abs(end - start) <= 0.01 * start, (what, start, end)
        assert result["baseline"][what] is True
    assert result["device_bytes_start"] > 80_000_000  # MiniLM's weights are on the device
    assert result["traced_again"] == 0 and result["signatures"] == 8
    assert result["loads_max_abs_diff"] <= soak_runner.SAME_ANSWER
    recovery = result["recovery"]
    assert recovery["losses"] == 1 and recovery["max_abs_diff"] <= soak_runner.SAME_ANSWER
    assert recovery["restored_bytes"][0] > 80_000_000 and recovery["lost_storages"] == [0]
    assert result["recovery_ms"] > 0  # the first call after a loss rebuilds: it is slower
    phases = [s["phase"] for s in result["curve"]]
    assert phases == ["start", "soak", "soak", "soak", "end", "recovered"]
    assert soak_runner.complete(result)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = tb.write_checkpoint(tmp_path_factory.mktemp("close"), tb.VARIANTS["uncased_mean"])
    return tb.files_of(folder)


@run_in_pyodide(packages=["webaccel"])
async def _close(selenium, files, sentences, device):
    import gc

    import pytest

    import webaccel as wa
    from webaccel.errors import ClosedError
    from webaccel.models import SentenceEmbedder
    from webaccel.store import Store

    dev = wa.get_device(device)

    def held():
        gc.collect()
        m = dev.memory()
        return m["live_bytes"], m["live_storages"]

    base = held()
    emb = await SentenceEmbedder.load_async(files, device=dev)
    want = await emb.encode_async(sentences)
    await emb.features_async(sentences, pooling="cls")  # a second captured head
    weights = [t._node.storage for t in emb.model.weights.values()]
    assert held()[0] - base[0] >= sum(s.nbytes for s in weights) > 100_000
    emb.close()
    assert all(s.freed for s in weights) and held() == base
    pooled = "gpu_pooled_bytes" if device == "webgpu" else "nn_pooled_bytes"
    assert dev.memory()[pooled] == 0  # given back to the browser, not kept for reuse
    emb.close()  # idempotent
    with pytest.raises(ClosedError, match=r"SentenceEmbedder\.encode_async: this embedder was"):
        await emb.encode_async(sentences)
    with pytest.raises(ClosedError, match=f"closed .* on {device}"):
        emb.encode(sentences)

    # two models from one IndexedDB store share their weights: closing one keeps them
    store = await Store.open_async(f"webaccel-close-{device}")
    await store.clear_async()
    (await SentenceEmbedder.load_async(files, device=dev, store=store, name="t")).close()
    a = await SentenceEmbedder.load_async(files, device=dev, store=store, name="t")
    b = await SentenceEmbedder.load_async(files, device=dev, store=store, name="t")
    shared = [t._node.storage for t in a.model.weights.values()]
    assert all(s.refcount == 2 for s in shared)
    async with a:
        assert await a.encode_async(sentences) == want
    assert all(s.refcount == 1 for s in shared)
    assert await b.encode_async(sentences) == want  # b runs on the weights a let go of
    with b:
        pass
    assert all(s.freed for s in shared) and held() == base
    await store.clear_async()
    await store.close_async()


@pytest.mark.parametrize("device", DEVICES)
def test_close_releases_the_model_on_the_device(selenium, lane, files, device):
    selenium.set_script_timeout(300)
    _close(selenium, files, tb.SENTENCES[:4], device)

"""Device loss and concurrent callers in the browser, on the real contexts.

A sentence embedder (``tests/tiny_bert.py``'s checkpoint: BERT, hidden 96, 3 layers, captured)
survives three losses in a row on webgpu (``GPUDevice.destroy()``) and on webnn
(``MLContext.destroy()``), giving the same embeddings each time, with its weights loaded from
a store (IndexedDB: they come back from it) or from a directory (read again). The losses come
three ways: a sync ``encode`` right after ``destroy()`` (the loss not yet reported: the call is
in flight and runs once more), an ``encode_async`` once the ``lost`` promise has resolved (the
call finds the device lost and rebuilds first), and an ``encode_async`` right after. The time
from that first call to its result is printed, with ``recovery_stats()``.

Concurrent callers: 50 overlapping ``run_async`` calls (``asyncio.gather``) with different
inputs on one captured graph, each checked against its own float64 reference, on webgpu and on
webnn (there the host fast path: each call on a host slot of its own), and 50 overlapping
``encode_async`` calls on one embedder against the same texts encoded one at a time; and a loss
in the middle of such a batch of calls.
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

pytestmark = pytest.mark.lanes("chromium", "headless-shell")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = tb.write_checkpoint(tmp_path_factory.mktemp("mean"), tb.VARIANTS["uncased_mean"])
    return tb.files_of(folder)


# webgpu runs in both browser lanes, webnn in the headless shell only (chromium has none)
DEVICES = ["webgpu", pytest.param("webnn", marks=pytest.mark.lanes("headless-shell"))]


@run_in_pyodide(packages=["webaccel"])
async def _three_losses(selenium, files, sentences, device, source):
    import asyncio
    import time
    from pathlib import Path

    import webaccel as wa
    from webaccel.models import SentenceEmbedder
    from webaccel.store import Store

    dev = wa.get_device(device)
    store = None
    if source == "store":
        store = await Store.open_async(f"webaccel-recovery-{device}")
        await store.clear_async()
        src = files
    else:  # a directory of the page's file system: read again after a loss
        root = Path(f"/tmp/recovery-{device}")
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        src = str(root)
    emb = await SentenceEmbedder.load_async(src, device=dev, store=store, name="tiny")
    assert emb.device is dev
    want = await emb.encode_async(sentences, batch_size=3)

    def destroy():
        if device == "webgpu":
            dev.ctx.device.destroy()
        else:
            dev.ctx.destroy()

    figures = []
    before = dev.recovery_stats()["losses"]  # the page's device lives across tests
    for how in ("sync, right after destroy()", "async, loss reported", "async, right after"):
        destroy()
        if how == "async, loss reported":
            for _ in range(100):  # the lost promise resolves a task or more after destroy()
                await asyncio.sleep(0.01)
                if dev.lost_reason is not None:
                    break
            assert dev.lost_reason is not None
        t0 = time.perf_counter()
        if how.startswith("sync"):
            got = emb.encode(sentences, batch_size=3)
        else:
            got = await emb.encode_async(sentences, batch_size=3)
        call_ms = (time.perf_counter() - t0) * 1e3
        assert got == want, how
        stats = dev.recovery_stats()
        figures.append(
            {"how": how, "call_ms": call_ms, **stats, "losses": stats["losses"] - before}
        )
    assert emb.device is dev and dev.lost_reason is None
    if store is not None:
        await store.clear_async()
    return figures


@pytest.mark.parametrize("source", ["store", "directory"])
@pytest.mark.parametrize("device", DEVICES)
def test_an_embedder_survives_three_losses_in_a_row(selenium, lane, files, device, source):
    # SwiftShader compiles the graph's ~20 WGSL pipelines again on every new device: seconds
    selenium.set_script_timeout(300)
    figures = _three_losses(selenium, files, tb.SENTENCES, device, source)
    for f in figures:
        print(
            f"\n{lane.name} {device} from the {source}, {f['how']}: first call "
            f"{f['call_ms']:.1f} ms, recovery_ms {f['recovery_ms']:.1f}, rebuild_ms "
            f"{f['rebuild_ms']:.1f}, restored {f['restored_storages']} storages "
            f"({f['restored_bytes']} bytes), lost {f['lost_storages']}, recompiled "
            f"{f['recompiled_traces']} traces"
        )
        print(json.dumps(f))
    assert [f["losses"] for f in figures] == [1, 2, 3]
    for f in figures:
        assert f["restored_bytes"] > 100_000 and f["recompiled_traces"] >= 1
        assert f["recovery_ms"] is not None and 0 < f["recovery_ms"] <= f["call_ms"] + 1


@run_in_pyodide(packages=["webaccel"])
async def _lost_storage(selenium, device):
    import array
    import asyncio

    import pytest

    import webaccel as wa

    dev = wa.get_device(device)
    x = wa.tensor(array.array("f", [1, 2, 3]), device=dev).realize()  # a host copy is kept
    y = (x * 2.0).realize()  # computed on the device: nothing to restore it from
    y.tolist()
    if device == "webgpu":
        dev.ctx.device.destroy()
    else:
        dev.ctx.destroy()
    while dev.lost_reason is None:  # the loss is reported: the next computation rebuilds first
        await asyncio.sleep(0.01)
    assert (await (x + 1.0).tolist_async()) == [2.0, 3.0, 4.0]
    with pytest.raises(wa.DeviceLostError) as info:
        await y.tolist_async()
    text = str(info.value)
    assert f"3-element float32 storage (12 bytes) on {device}, computed on the device" in text
    assert "was lost" in text and "compute it again" in text
    assert (await (x * 2.0).tolist_async()) == [2.0, 4.0, 6.0]


@pytest.mark.parametrize("device", DEVICES)
def test_a_computed_storage_is_lost_and_named(selenium, lane, device):
    selenium.set_script_timeout(120)
    _lost_storage(selenium, device)


@run_in_pyodide(packages=["webaccel"])
async def _overlapping_calls(selenium, device, n_calls, lose_at):
    import array
    import asyncio
    import math

    import webaccel as wa

    dev = wa.get_device(device)

    def vals(n, seed):
        return array.array(
            "f", [((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5 for i in range(n)]
        )

    wv, bv = vals(96, 1), vals(8, 2)
    w = wa.tensor(wv, device=dev, shape=(12, 8)).realize()
    b = wa.tensor(bv, device=dev, shape=(8,)).realize()
    fn = wa.capture(lambda x: wa.softmax(x @ w + b, -1))
    fn(wa.tensor(vals(36, 3), device=dev, shape=(3, 12)))
    inputs = [vals(36, 100 + i) for i in range(n_calls)]

    def reference(x):  # float64 in plain Python: this lane's Pyodide has no NumPy
        out = []
        for r in range(3):
            z = [sum(x[r * 12 + k] * wv[k * 8 + c] for k in range(12)) + bv[c] for c in range(8)]
            m = max(z)
            e = [math.exp(v - m) for v in z]
            out += [v / sum(e) for v in e]
        return out

    async def one(i):
        if i == lose_at:  # the loss lands while the earlier calls are in flight
            if device == "webgpu":
                dev.ctx.device.destroy()
            else:
                dev.ctx.destroy()
        return await fn.run_async(inputs[i])

    before = dev.recovery_stats()["losses"]  # the page's device lives across tests
    results = await asyncio.gather(*(one(i) for i in range(n_calls)))
    worst = 0.0
    for i, out in enumerate(results):
        got = array.array("f", bytes(out)).tolist()
        want = reference(inputs[i])
        worst = max(worst, max(abs(p - q) for p, q in zip(got, want, strict=True)))
    (trace,) = fn.traces.values()
    return worst, dev.recovery_stats()["losses"] - before, type(trace.runner).__module__


@pytest.mark.parametrize("device", DEVICES)
def test_fifty_overlapping_run_async_calls_each_get_their_own_answer(selenium, lane, device):
    worst, losses, runner = _overlapping_calls(selenium, device, 50, None)
    print(f"\n{lane.name} {device}: 50 overlapping run_async, max abs error {worst:.3g}")
    assert runner.endswith(f"{device}.replay")
    assert worst <= 2e-6  # float32 matmul + softmax of values in [-0.5, 0.5]: ~1e-7 measured
    assert losses == 0


@pytest.mark.parametrize("device", DEVICES)
def test_overlapping_calls_through_a_loss(selenium, lane, device):
    selenium.set_script_timeout(120)
    worst, losses, _ = _overlapping_calls(selenium, device, 24, 9)
    print(f"\n{lane.name} {device}: 24 overlapping run_async through a loss, max abs {worst:.3g}")
    assert worst <= 2e-6 and losses >= 1


@run_in_pyodide(packages=["webaccel"])
async def _overlapping_encodes(selenium, files, sentences, device):
    import asyncio

    import webaccel as wa
    from webaccel.models import SentenceEmbedder

    dev = wa.get_device(device)
    emb = await SentenceEmbedder.load_async(files, device=dev)
    calls = [
        [sentences[i % len(sentences)], sentences[(i * 3 + 1) % len(sentences)]][: 1 + i % 2]
        for i in range(50)
    ]
    want = {}
    for c in calls:
        if tuple(c) not in want:
            want[tuple(c)] = await emb.encode_async(c)
    got = await asyncio.gather(*(emb.encode_async(c) for c in calls))
    return [g == want[tuple(c)] for c, g in zip(calls, got, strict=True)]


@pytest.mark.parametrize("device", DEVICES)
def test_fifty_overlapping_encodes_on_one_embedder(selenium, lane, files, device):
    selenium.set_script_timeout(120)
    assert all(_overlapping_encodes(selenium, files, tb.SENTENCES, device))

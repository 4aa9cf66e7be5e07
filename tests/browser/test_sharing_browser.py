"""webaccel.weights.sharing in the browser: two models from IndexedDB sharing weights on the webgpu
device, the memory report, and a refcount stress test (live bytes back to the baseline)."""

from __future__ import annotations

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["webaccel"])
async def test_two_models_from_indexeddb_share_weights_on_webgpu(selenium):
    import gc
    import random
    import xml.etree.ElementTree as ET

    from pyodide.code import run_js

    import webaccel as wa
    from webaccel import weights
    from webaccel.store import Store
    from webaccel.weights import sharing

    await run_js("(n) => new Promise((r) => { indexedDB.deleteDatabase(n).onsuccess = r; })")(
        "wa-sharing"
    )
    rng = random.Random(7)
    emb = rng.randbytes(6000)
    layers = {m: {f"l{i}": rng.randbytes(1024) for i in range(3)} for m in ("enc", "dec")}

    def model(m):
        out = {"emb": (emb, "float32", (1500,))}
        out.update({k: (v, "float32", (16, 16)) for k, v in layers[m].items()})
        return out

    s = await Store.open_async("wa-sharing", allow_small_chunks=True, chunk_size=1024)
    await s.save_async("enc", model("enc"))
    await s.save_async("dec", model("dec"))
    dev = wa.get_device("webgpu")
    gc.collect()
    base = dev.memory()
    enc = await weights.load_async(s, "enc", "webgpu")
    dec = await weights.load_async(s, "dec", "webgpu")
    unique = len(emb) + 6 * 1024
    assert dev.live_bytes - base["live_bytes"] == unique
    assert enc["emb"]._node.storage is dec["emb"]._node.storage
    assert bytes(await dec["emb"].read_async()) == emb
    assert bytes(await dec["l2"].read_async()) == layers["dec"]["l2"]
    r = wa.memory_report(["webgpu"])
    assert r.backend("webgpu").shared_bytes == len(emb)
    assert r.model("enc").bytes == r.model("dec").bytes == len(emb) + 3 * 1024
    assert r.model("dec").own_bytes == 3 * 1024
    assert r.backend("webgpu").details["gpu_live_bytes"] >= unique
    assert "enc" in str(r) and "webgpu" in str(r)
    assert ET.fromstring(r.svg()).tag.endswith("svg")
    # without sharing each model holds its own copy
    private = await weights.load_async(s, "enc", "webgpu", share=False)
    assert dev.live_bytes - base["live_bytes"] == unique + len(emb) + 3 * 1024
    assert sharing.shared_models(private["emb"]) == []
    del enc, dec, private, r
    gc.collect()
    assert dev.memory()["live_bytes"] == base["live_bytes"]
    assert dev.memory()["gpu_live_bytes"] == base["gpu_live_bytes"]
    assert [e for e in sharing.REGISTRY.entries() if e.device is dev] == []
    await s.clear_async()
    await s.close_async()


@run_in_pyodide(packages=["webaccel"])
async def test_refcount_stress_on_webgpu(selenium):
    """10k acquire/release and 10k create/free cycles (shared tensors, views, scratch
    storages): live bytes, storages and the GPU pool's live bytes back to the baseline."""
    import gc
    import random

    import webaccel as wa
    from webaccel.weights import sharing

    dev = wa.get_device("webgpu")
    gc.collect()
    base = dev.memory()
    s = dev.storage(1024, wa.float32)
    for _ in range(10_000):
        s.acquire()
        s.release()
    assert s.refcount == 1
    s.release()
    assert s.freed and dev.live_bytes == base["live_bytes"]

    data = [random.Random(i).randbytes(512) for i in range(4)]
    for i in range(10_000):
        t = wa.shared_tensor(data[i % 4], dev, dtype="float32", model=f"m{i % 3}")
        v = t.reshape(8, 16)[1:3]
        if i % 1000 == 0:
            assert bytes(await v.read_async()) == data[i % 4][64:192]
            assert sharing.shared_models(t) == [f"m{i % 3}"]
        with dev.storage(8, wa.uint8) as scratch:
            scratch.acquire().release()
        del t, v
    gc.collect()
    after = dev.memory()
    assert after["live_bytes"] == base["live_bytes"], (base, after)
    assert after["live_storages"] == base["live_storages"], (base, after)
    assert after["gpu_live_bytes"] == base["gpu_live_bytes"], (base, after)
    assert dev.leaked_storages == 0
    assert [e for e in sharing.REGISTRY.entries() if e.device is dev] == []

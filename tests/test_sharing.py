"""Refcounted storages, cross-model sharing (webaccel.weights.sharing) and the memory report, on
the host's cpu device; loading from the store (webaccel.weights.load) deduplicating weights
across models."""

from __future__ import annotations

import gc
import hashlib
import random
import warnings
import xml.etree.ElementTree as ET

import pytest

import webaccel as wa
from webaccel import weights
from webaccel.store import Store, tensor_key
from webaccel.weights import sharing

CPU = wa.get_device("cpu")


def blob(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.fixture
def baseline():
    """Live cpu bytes/storages before the test; the test must give them all back."""
    gc.collect()
    before = (CPU.live_bytes, CPU.live_storages)
    entries = {id(e) for e in sharing.REGISTRY.entries()}
    yield before
    gc.collect()
    assert (CPU.live_bytes, CPU.live_storages) == before
    assert {id(e) for e in sharing.REGISTRY.entries()} == entries


def test_storage_refcount_and_context_manager(baseline):
    s = CPU.storage(16, wa.float32)
    assert CPU.live_bytes == baseline[0] + 64 and s.refcount == 1
    assert s.acquire() is s and s.refcount == 2
    with s.acquire():
        assert s.refcount == 3
    assert s.refcount == 2
    s.release()
    with s:  # the last reference: freed on exit
        assert not s.freed
    assert s.freed and s.handle is None and CPU.live_bytes == baseline[0]
    with pytest.raises(wa.WebAccelError, match="double free"):
        s.release()
    with pytest.raises(wa.WebAccelError, match="already freed"):
        s.acquire()
    assert "freed" in repr(s)


def test_leaked_storage_warns_and_is_freed(baseline):
    leaked = CPU.leaked_storages
    s = CPU.storage(8, wa.int32)
    s.acquire()
    with pytest.warns(
        wa.StorageLeakWarning, match="32-byte cpu storage was dropped with refcount 2"
    ):
        del s
        gc.collect()
    assert issubclass(wa.StorageLeakWarning, ResourceWarning)
    assert CPU.leaked_storages == leaked + 1
    # tensors release their storage when collected: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        t = wa.tensor([1.0, 2.0]) * 3
        t.realize()
        del t
        gc.collect()


def test_two_models_share_one_storage(baseline):
    table = blob(4096, 1)
    a = wa.shared_tensor(table, "cpu", dtype="float32", shape=(32, 32), model="model-a")
    live = CPU.live_bytes
    b = wa.shared_tensor(table, "cpu", dtype="float32", shape=(32, 32), model="model-b")
    assert CPU.live_bytes == live  # nothing uploaded for b
    assert b is not a and b._node is not a._node and b._node.storage is a._node.storage
    assert a._node.storage.refcount == 2
    assert b.to_bytes() == table and b.shape == (32, 32)
    assert sharing.shared_models(a) == ["model-a", "model-b"]
    # another shape over the same bytes is the same storage; another dtype is not
    flat = wa.shared_tensor(table, "cpu", dtype="float32", model="model-c")
    assert flat.shape == (1024,) and flat._node.storage is a._node.storage
    other = wa.shared_tensor(table, "cpu", dtype="int32", model="model-c")
    assert other._node.storage is not a._node.storage
    r = wa.memory_report(["cpu"])
    row = r.backend("cpu")
    assert row.registered_bytes == 2 * 4096 and row.shared_bytes == 4096
    assert row.saved_bytes == 2 * 4096  # b and flat would each have had a copy
    assert r.model("model-a").bytes == 4096 and r.model("model-a").shared_bytes == 4096
    assert r.model("model-c").bytes == 2 * 4096 and r.model("model-c").shared_bytes == 4096
    assert r.model("model-c").own_bytes == 4096 and r.model("model-c").tensors == 2
    # dropping one model keeps the storage for the others
    del a, flat, other
    gc.collect()
    assert b.to_bytes() == table
    assert sharing.shared_models(b) == ["model-b"]
    r = wa.memory_report(["cpu"])
    assert r.model("model-b").shared_bytes == 0 and r.backend("cpu").shared_bytes == 0
    del b


def test_views_of_a_shared_tensor_keep_it_alive(baseline):
    data = blob(256, 2)
    t = wa.shared_tensor(data, "cpu", dtype="float32", shape=(8, 8), model="m")
    storage = t._node.storage
    views = [t.T, t[2:4], t.reshape(64), t.bitcast("int32")]
    del t
    gc.collect()
    assert not storage.freed and len(sharing.REGISTRY) >= 1
    assert views[2].to_bytes() == data
    again = wa.shared_tensor(data, "cpu", dtype="float32", shape=(8, 8), model="n")
    assert again._node.storage is storage  # still registered while the views live
    del views, again
    gc.collect()
    assert storage.freed


def test_share_existing_tensors(baseline):
    x = wa.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    shared = wa.share(x, model="first")
    assert shared._node.storage is x._node.storage and sharing.shared_models(x) == ["first"]
    # the same content from elsewhere: the registered storage is reused
    y = wa.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    y_shared = wa.share(y, model="second")
    assert y_shared._node.storage is x._node.storage and y_shared.tolist() == y.tolist()
    # a known key skips hashing; a view becomes a dense copy of its own first
    key = hashlib.sha256(x[:, 1:].to_bytes()).hexdigest()
    cols = wa.share(x[:, 1:], model="third", key=key)
    assert cols.shape == (2, 2) and cols.tolist() == [[2.0, 3.0], [5.0, 6.0]]
    assert cols._node.storage is not x._node.storage and cols.is_contiguous
    # a pending result is realized first; bytes of the same content land on its storage
    z = wa.share(x * 1.0, model="fourth")
    assert z._node.storage is x._node.storage
    rep = wa.memory_report(["cpu"])
    assert rep.model("first").shared_bytes == 24 and rep.model("third").own_bytes == 16
    # the same key for a different size is a caller error, named
    with pytest.raises(wa.WebAccelError, match="must identify the bytes"):
        wa.shared_tensor(b"\0" * 8, "cpu", key=key, dtype="float32", model="bad")
    del x, shared, y, y_shared, cols, z


def test_memory_report_text_svg_html(baseline):
    t1 = wa.shared_tensor(blob(3000, 3), "cpu", dtype="uint8", model="<enc> & co")
    t2 = wa.shared_tensor(blob(3000, 3), "cpu", dtype="uint8", model="dec")
    t3 = wa.shared_tensor(blob(1000, 4), "cpu", dtype="uint8", model="dec")
    extra = (wa.tensor([1.0, 2.0]) + 1).realize()  # live but not in the registry
    r = wa.memory_report(["cpu"])
    text = str(r)
    assert "webaccel memory by backend" in text and "by model" in text
    lines = text.splitlines()
    cpu_line = next(line for line in lines if line.startswith("cpu "))
    assert "2.9 KiB" in cpu_line  # shared: the 3000-byte table
    dec = next(line for line in lines if line.startswith("dec "))
    assert dec.split()[2:4] == ["3.9", "KiB"] and "1000 B" in dec  # bytes, and own
    assert r.backend("cpu").unattributed_bytes == r.backend("cpu").live_bytes - 4000 >= 8
    d = r.to_dict()
    assert {m["model"] for m in d["models"]} == {"<enc> & co", "dec"}
    assert d["backends"][0]["registered_bytes"] == 4000
    svg = r.svg()
    root = ET.fromstring(svg)  # well-formed XML, names escaped
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    rects = root.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) >= 5  # bars and legend
    assert "&lt;enc&gt; &amp; co" in svg
    page = r._repr_html_()
    assert page.startswith("<div>") and "<table>" in page and "<svg" in page
    assert "&lt;enc&gt; &amp; co" in page and "<enc>" not in page
    assert "MemoryReport" in repr(r)
    del t1, t2, t3, extra


def test_refcount_stress_returns_to_baseline(baseline):
    """10k acquire/release cycles and 10k create/free cycles of shared and plain tensors."""
    s = CPU.storage(256, wa.float32)
    for _ in range(10_000):
        s.acquire()
        s.release()
    assert s.refcount == 1
    s.release()
    data = [blob(512, i) for i in range(4)]
    entries = len(sharing.REGISTRY.entries())
    keep = wa.shared_tensor(data[0], "cpu", dtype="float32", model="keeper")
    live = CPU.live_bytes
    for i in range(10_000):
        t = wa.shared_tensor(data[i % 4], "cpu", dtype="float32", model=f"m{i % 3}")
        v = t.reshape(8, 16)[1:3]
        if i % 100 == 0:
            assert bytes(v.read()) == data[i % 4][64:192]
        with CPU.storage(32, wa.uint8) as scratch:
            scratch.acquire().release()
        del t, v
    gc.collect()
    assert CPU.live_bytes == live
    assert len(sharing.REGISTRY.entries()) == entries + 1
    assert sharing.shared_models(keep) == ["keeper"]
    del keep


def model_weights(seed: int, shared_emb: bytes) -> dict:
    return {
        "emb": (shared_emb, "float32", (len(shared_emb) // 4,)),
        "w1": (blob(2048, seed), "float32", (16, 32)),
        "b1": (blob(64, seed + 100), "float32", (16,)),
        "tied": (shared_emb, "float32", (len(shared_emb) // 4,)),  # within one model too
    }


def test_store_load_shares_across_models(tmp_path, baseline):
    s = Store.open(tmp_path, allow_small_chunks=True, chunk_size=1024)
    emb = blob(5000, 9)
    s.save("a", model_weights(1, emb))
    s.save("b", model_weights(2, emb))
    assert all(len(t["sha256"]) == 64 for t in s.manifest("a")["tensors"])
    unique = len(emb) + 2 * (2048 + 64)

    reads: list[str] = []
    get = s.backend.get

    async def counting_get(ns, key):
        if ns == "chunks":
            reads.append(key)
        return await get(ns, key)

    s.backend.get = counting_get
    live0 = CPU.live_bytes
    a = weights.load(s, "a", "cpu")
    first_reads = len(reads)
    b = weights.load(s, "b", "cpu")
    assert CPU.live_bytes - live0 == unique  # emb once, for both models and both names
    assert a["emb"]._node.storage is b["emb"]._node.storage is b["tied"]._node.storage
    assert b["emb"].to_bytes() == emb and b["w1"].to_bytes() == blob(2048, 2)
    mb = s.manifest("b")
    emb_chunks = {mb["chunks"][i]["key"] for i, _, _ in mb["tensors"][0]["ranges"]}
    assert not emb_chunks & set(reads[first_reads:])  # b's embedding was not read again
    r = wa.memory_report(["cpu"])
    assert r.model("a").bytes == r.model("b").bytes == unique - (2048 + 64)
    assert r.model("a").shared_bytes == len(emb) and r.model("a").tensors == 4
    assert r.backend("cpu").saved_bytes == 3 * len(emb)

    # share=False: private copies, nothing registered
    c = weights.load(s, "a", "cpu", share=False)
    assert c["emb"]._node.storage is not a["emb"]._node.storage
    assert sharing.shared_models(c["emb"]) == []
    # model= attributes to another name
    d = weights.load(s, "b", "cpu", model="b-again")
    assert "b-again" in sharing.shared_models(d["w1"])
    del a, b, c, d


def test_store_layout_key_without_sha256(tmp_path, baseline):
    """Manifests saved before the content key (migrated ones) still dedup by chunk layout."""
    s = Store.open(tmp_path, allow_small_chunks=True, chunk_size=1024)
    emb = blob(3072, 5)
    s.save("a", {"emb": (emb, "uint8", (3072,))})
    s.save("b", {"emb": (emb, "uint8", (3072,))})
    for name in ("a", "b"):
        m = s._find(name, None)
        for t in m["tensors"]:
            del t["sha256"]
    ma, mb = s.manifest("a"), s.manifest("b")
    assert tensor_key(ma, ma["tensors"][0]).startswith("layout:")
    assert tensor_key(ma, ma["tensors"][0]) == tensor_key(mb, mb["tensors"][0])
    a, b = weights.load(s, "a", "cpu"), weights.load(s, "b", "cpu")
    assert a["emb"]._node.storage is b["emb"]._node.storage
    del a, b

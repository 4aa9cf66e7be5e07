"""webaccel.weights over a store on the host: device tensors in (save, repair), tensors out on a
device (load: sharing, the hot cache, repair from a source), on the cpu device. The sharing
registry itself and the memory report: tests/test_sharing.py."""

from __future__ import annotations

import asyncio
import random

import pytest

import webaccel as wa
from webaccel import weights
from webaccel.store import CorruptChunkError, Store


def blob(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def open_store(path) -> Store:
    return Store.open(path, allow_small_chunks=True, chunk_size=256)


def test_save_takes_tensors_arrays_and_bytes(tmp_path):
    np = pytest.importorskip("numpy")
    s = open_store(tmp_path)
    t = wa.tensor([[1.0, 2.0], [3.0, 4.0]]) * 2  # a pending result: realized, read back
    arr = np.arange(5, dtype=np.int64)
    info = weights.save(
        s, "m", {"t": t, "a": arr, "b": (b"\x07" * 3, "uint8", (3,))}, source="here"
    )
    assert info["tensors"] == 3 and info["source"] == "here"
    host = s.read("m")
    assert host["t"] == (
        bytearray(np.array([[2, 4], [6, 8]], np.float32).tobytes()),
        "float32",
        (2, 2),
    )
    assert host["a"] == (bytearray(arr.astype(np.int32).tobytes()), "int32", (5,))
    assert host["b"] == (bytearray(b"\x07" * 3), "uint8", (3,))
    out = weights.load(s, "m", "cpu")
    assert out["t"].tolist() == [[2.0, 4.0], [6.0, 8.0]] and out["a"].tolist() == [0, 1, 2, 3, 4]
    assert out["t"].device.name == "cpu"


def test_repair_and_load_from_a_source_of_tensors(tmp_path):
    s = open_store(tmp_path)
    raw = blob(1000, 1)
    weights.save(s, "m", {"w": wa.from_buffer(raw, (250,), "float32")})
    key = s.manifest("m")["chunks"][1]["key"]
    (tmp_path / "chunks" / key).write_bytes(b"broken")
    with pytest.raises(CorruptChunkError):
        weights.load(s, "m", "cpu", share=False)

    async def fetch():  # an async source, as a page fetching the file again would be
        return {"w": wa.from_buffer(raw, (250,), "float32")}

    out = weights.load(s, "m", "cpu", source=fetch, share=False)  # repaired, then loaded
    assert out["w"].to_bytes() == raw and s.verify("m") == []
    (tmp_path / "chunks" / key).write_bytes(b"broken again")
    assert weights.repair(s, "m", {"w": wa.from_buffer(raw, (250,), "float32")}) == [key]
    with pytest.raises(TypeError, match="a repair source is tensors"):
        (tmp_path / "chunks" / key).write_bytes(b"and again")
        weights.repair(s, "m", 42)


def test_progress_counts_hits_and_reads(tmp_path):
    s = open_store(tmp_path)
    shared = blob(600, 2)
    s.save("a", {"emb": (shared, "uint8", (600,))})
    s.save("b", {"emb": (shared, "uint8", (600,)), "own": (blob(100, 3), "uint8", (100,))})
    a = weights.load(s, "a", "cpu")
    seen: list[tuple[int, int]] = []
    b = weights.load(s, "b", "cpu", lambda d, t: seen.append((d, t)))
    assert seen == [(0, 700), (600, 700), (700, 700)]  # the shared table first: not read
    assert b["emb"]._node.storage is a["emb"]._node.storage
    del a, b


def test_a_hot_cache_serves_only_its_own_store(tmp_path):
    """Two stores may hold a model under the same name, version and commit number: a cache
    shared between them never hands one store's tensor to the other."""
    hot = weights.HotCache(1 << 20)
    one, two = open_store(tmp_path / "one"), open_store(tmp_path / "two")
    one.save("m", {"w": (b"\x01" * 8, "uint8", (8,))}, version="1")
    two.save("m", {"w": (b"\x02" * 8, "uint8", (8,))}, version="1")
    assert one.seq("m", "1") == two.seq("m", "1") and one.seq("m", "2") is None
    first = weights.load(one, "m", "cpu", cache=hot, share=False)
    other = weights.load(two, "m", "cpu", cache=hot, share=False)
    assert other["w"].to_bytes() == b"\x02" * 8 and len(hot) == 2
    assert weights.load(one, "m", "cpu", cache=hot)["w"] is first["w"]
    one.delete("m")
    one.save("n", {"x": (b"\x03", "uint8", (1,))})
    weights.load(one, "n", "cpu", cache=hot)  # one's stale entry is dropped on the way
    assert len(hot) == 2 and all(k[0] is two or k[1] == "n" for k in hot.keys())


def test_load_inside_a_running_loop(tmp_path):
    s = open_store(tmp_path)
    s.save("m", {"w": (b"\x05" * 4, "uint8", (4,))})

    async def main():
        out = await weights.load_async(s, "m", "cpu", tensors=["w"])
        with pytest.raises(wa.SyncUnavailableError):
            weights.load(s, "m", "cpu")  # the sync form cannot block a running loop
        return out["w"].to_bytes()

    assert asyncio.run(main()) == b"\x05" * 4

"""Device loss, on the host: the recovery machinery of ``webaccel.device`` / ``webaccel.restore``
(restore records, rebuild behind the same Device, captured graphs recompiled, calls retried
once) and concurrent callers of one model.

The browser lanes lose real contexts (``tests/browser/test_recovery_browser.py``: WebGPU's
``GPUDevice.destroy()``, WebNN's ``MLContext.destroy()``). Here a test backend stands in, in the
manner of ``test_backends.HalfCPU``: the NumPy device whose "context" can be lost. Buffers carry
the generation of the context they were made on, and using one of a lost context raises
``DeviceLostError``, as a browser's does; ``lose_on_read`` loses it in the middle of a read, as a
GPU reset during a call would.
"""

from __future__ import annotations

import array
import asyncio
import math
import warnings

import numpy as np
import pytest
import tiny_bert as tb

import webaccel as wa
from webaccel import device as device_mod
from webaccel.backends.cpu.device import CPUDevice
from webaccel.errors import DeviceLostError
from webaccel.models import SentenceEmbedder
from webaccel.restore import Reread
from webaccel.store import Store


class _GenArray(np.ndarray):
    """A buffer stamped with the generation of the context that made it (views keep it)."""

    generation: int | None = None

    def __array_finalize__(self, obj: object) -> None:
        self.generation = getattr(obj, "generation", None)


class LosableCPU(CPUDevice):
    """The NumPy device with a context that ``lose()`` takes away."""

    name = "losablecpu"
    losable = True

    def __init__(self) -> None:
        super().__init__()
        self._lost: str | None = None
        self.rebuilds = 0
        self.lose_on_read = False  # the next read finds the context gone (in flight)

    @property
    def lost_reason(self) -> str | None:
        return self._lost

    def lose(self, reason: str = "lose() was called") -> None:
        self._lost = reason

    async def _rebuild_async(self) -> None:
        await asyncio.sleep(0)  # a browser's context comes back through a promise
        self._lost = None
        self.rebuilds += 1

    def _check(self, handle: object) -> None:
        if self._lost is not None or getattr(handle, "generation", None) != self.generation:
            raise DeviceLostError(f"the test context was lost ({self._lost or 'earlier'})")

    def alloc(self, nbytes: int) -> object:
        buf = np.empty(nbytes, np.uint8).view(_GenArray)
        buf.generation = self.generation
        return buf

    def copy_in(self, handle: object, data: memoryview) -> None:
        self._check(handle)
        super().copy_in(handle, data)

    async def copy_out_async(self, handle: object, nbytes: int, offset: int = 0) -> bytearray:
        if self.lose_on_read:
            self.lose_on_read = False
            self.lose("lost during a read")
        self._check(handle)
        return await super().copy_out_async(handle, nbytes, offset)

    def copy_out(self, handle: object, nbytes: int, offset: int = 0) -> bytearray:
        if self.lose_on_read:
            self.lose_on_read = False
            self.lose("lost during a read")
        self._check(handle)
        return super().copy_out(handle, nbytes, offset)

    def array(self, storage: device_mod.Storage, view: object, dtype: object) -> object:
        self._check(storage.handle)
        return super().array(storage, view, dtype)


@pytest.fixture
def dev():
    async def probe() -> dict:
        return {"available": True, "error": None}

    async def create_async() -> LosableCPU:
        return LosableCPU()

    impl = device_mod.Implementation(LosableCPU, LosableCPU, create_async)
    row = device_mod.Backend("losablecpu", 98, "NumPy", probe, lambda: impl)
    device_mod.register_backend(row)
    try:
        yield wa.get_device("losablecpu")
    finally:
        device_mod._BACKENDS.pop("losablecpu")
        device_mod.forget_device("losablecpu")


def vals(n: int, seed: int) -> array.array:
    return array.array("f", [((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5 for i in range(n)])


# -- storages: restored, or lost with a clear error -------------------------------------------


def test_small_uploads_keep_a_host_copy_and_come_back(dev):
    x = wa.tensor([1.0, 2.0, 3.0], device=dev).realize()
    dev.lose()
    assert (x + 1.0).tolist() == [2.0, 3.0, 4.0]  # the next call rebuilt the device
    assert dev.rebuilds == 1 and dev.generation == 1
    stats = device_mod.recovery_stats(dev)
    assert stats["losses"] == 1 and stats["restored_storages"] >= 1
    assert stats["last_reason"] == "lose() was called" and stats["rebuild_ms"] >= 0


def test_a_computed_storage_is_lost_and_says_so(dev):
    x = wa.tensor([1.0, 2.0, 3.0], device=dev)
    y = (x * 2.0).realize()  # computed on the device: nothing to restore it from
    dev.lose()
    dev.recover()
    assert y._node.storage.lost
    with pytest.raises(DeviceLostError) as info:
        y.tolist()
    text = str(info.value)
    assert "3-element float32 storage (12 bytes) on losablecpu" in text
    assert "computed on the device" in text and "lose() was called" in text
    with pytest.raises(DeviceLostError, match="computed on the device"):
        (y + 1.0).tolist()  # a graph reading it fails the same way
    assert (x * 2.0).tolist() == [2.0, 4.0, 6.0]  # computing it again works
    # its bytes were taken off the device's counts at the loss; releasing it is no double free
    live = dev.live_storages
    del y
    assert dev.live_storages == live


def test_a_large_upload_is_not_copied_and_says_how_to_keep_it(dev):
    n = dev.host_copy_max_bytes // 4 + 1
    big = wa.tensor(vals(n, 1), device=dev).realize()
    assert big._node.storage.restore.restorable is False  # no host copy of a weight's size
    dev.lose()
    with pytest.raises(DeviceLostError, match=r"not kept .*host_copy_max_bytes.*set_restore"):
        big.sum().tolist()


def test_set_restore_makes_any_storage_restorable(dev):
    n = dev.host_copy_max_bytes // 4 + 1
    data = vals(n, 2)
    big = wa.tensor(data, device=dev).realize()
    calls = []

    async def read():
        calls.append(1)
        return data

    device_mod.set_restore(big._node.storage, Reread(read, "the test's array"))
    dev.lose()
    assert math.isclose(big.sum().item(), sum(data), rel_tol=1e-5)
    assert calls == [1]


def test_a_failing_record_loses_its_storage_with_the_reason(dev):
    n = dev.host_copy_max_bytes // 4 + 1
    big = wa.tensor(vals(n, 3), device=dev).realize()

    def read():
        raise OSError("the file is gone")

    device_mod.set_restore(big._node.storage, Reread(read, "a file"))
    dev.lose()
    dev.recover()
    with pytest.raises(DeviceLostError, match=r"restoring it from a file failed: .*file is gone"):
        big.tolist()


# -- weights from a store and from a source file --------------------------------------------------


def test_weights_loaded_from_a_store_come_back_from_it(dev, tmp_path):
    async def main():
        store = await Store.open_async(tmp_path / "store")
        tensors = {
            "w": (np.asarray(vals(300 * 64, 4), np.float32).reshape(300, 64)),
            "b": np.asarray(vals(64, 5), np.float32),
        }
        await wa.weights.save_async(store, "m", tensors)
        loaded = await wa.weights.load_async(store, "m", dev)
        w, b = loaded["w"], loaded["b"]
        assert isinstance(w._node.storage.restore, wa.weights.StoredTensor)
        want = await (w.sum(0) + b).tolist_async()
        for _ in range(3):  # three losses in a row
            dev.lose()
            await dev.recover_async()
            assert await (w.sum(0) + b).tolist_async() == want
        stats = dev.recovery_stats()
        assert stats["losses"] == 3 and stats["lost_storages"] == 0
        assert stats["restored_bytes"] >= 300 * 64 * 4 + 64 * 4
        # a version gone from the store takes its tensors with it, with the reason
        await store.delete_async("m")
        dev.lose()
        await dev.recover_async()
        with pytest.raises(DeviceLostError, match="no longer holds 'm'"):
            await w.tolist_async()

    asyncio.run(main())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = tb.write_checkpoint(tmp_path_factory.mktemp("mean"), tb.VARIANTS["uncased_mean"])
    return folder


def test_an_embedder_survives_three_losses_in_a_row(dev, checkpoint):
    """From a directory: the weights are read again from its file; the captured graph is
    recompiled; the same vectors each time (sync encode: the rebuild waits inline)."""
    emb = SentenceEmbedder.load(checkpoint, device=dev)
    want = emb.encode(tb.SENTENCES, batch_size=3)
    for k in range(3):
        dev.lose(f"loss {k}")
        got = emb.encode(tb.SENTENCES, batch_size=3)
        assert got == want
        stats = dev.recovery_stats()
        assert stats["losses"] == k + 1 and stats["lost_storages"] == 0
        assert stats["recompiled_traces"] >= 1 and stats["recovery_ms"] is not None
    assert emb.device is dev and dev.rebuilds == 3


def test_a_batch_in_flight_at_the_loss_runs_once_more(dev, checkpoint):
    async def main():
        emb = await SentenceEmbedder.load_async(checkpoint, device=dev)
        want = await emb.encode_async(tb.SENTENCES, batch_size=4)
        dev.lose_on_read = True  # the loss lands while the first batch reads its result
        got = await emb.encode_async(tb.SENTENCES, batch_size=4)
        assert got == want and dev.rebuilds == 1
        assert dev.recovery_stats()["recovery_ms"] > 0

    asyncio.run(main())


def test_weights_of_a_mapping_of_bytes_are_lost_and_named(dev, checkpoint):
    """A ``{name: bytes}`` source is not kept alive for a restore: its large weights are lost,
    and the error names the weight and what to do; from fetchers they come back."""
    files = tb.files_of(checkpoint)
    emb = SentenceEmbedder.load(files, device=dev)
    want = emb.encode(tb.SENTENCES[:2])
    dev.lose()
    with pytest.raises(DeviceLostError) as info:
        emb.encode(tb.SENTENCES[:2])
    text = str(info.value)
    assert "model.safetensors" in text and "mapping of bytes" in text and "store" in text

    fetchers = {name: (lambda data=data: data) for name, data in files.items()}
    emb = SentenceEmbedder.load(fetchers, device=dev)
    assert emb.encode(tb.SENTENCES[:2]) == want
    dev.lose()
    assert emb.encode(tb.SENTENCES[:2]) == want


# -- captured graphs and run_async ----------------------------------------------------------------


def test_a_captured_graph_recompiles_after_a_loss(dev):
    w = wa.tensor(vals(64, 6), device=dev, shape=(8, 8)).realize()
    fn = wa.capture(lambda x: (x @ w).gelu())
    x = wa.tensor(vals(16, 7), device=dev, shape=(2, 8))
    want = fn(x).tolist()
    (trace,) = fn.traces.values()
    dev.lose()
    assert fn(x).tolist() == want  # x and w came back from their host copies
    assert trace.generation == dev.generation == 1
    assert dev.recovery_stats()["recompiled_traces"] == 1


def test_a_captured_constant_that_was_lost_is_named(dev):
    w = (wa.tensor(vals(64, 8), device=dev, shape=(8, 8)) * 2.0).realize()  # computed
    fn = wa.capture(lambda x: x @ w)
    x = wa.tensor(vals(16, 9), device=dev, shape=(2, 8))
    fn(x)
    dev.lose()
    with pytest.raises(DeviceLostError, match="a constant of this captured graph"):
        fn(x)


def test_run_async_in_flight_at_a_loss_is_retried_once(dev):
    w = wa.tensor(vals(64, 10), device=dev, shape=(8, 8)).realize()
    fn = wa.capture(lambda x: (x @ w).tanh())
    fn(wa.tensor(vals(16, 11), device=dev, shape=(2, 8)))
    data = vals(16, 12)
    want = fn(wa.tensor(data, device=dev, shape=(2, 8))).tolist()

    async def main():
        dev.lose_on_read = True
        got = array.array("f", bytes(await fn.run_async(data))).tolist()
        assert np.allclose(got, np.ravel(want), rtol=0, atol=0)
        assert dev.rebuilds == 1
        assert dev.recovery_stats()["recovery_ms"] is not None

    asyncio.run(main())


def test_a_sync_call_inside_an_event_loop_says_how_to_rebuild(dev):
    x = wa.tensor([1.0], device=dev).realize()
    dev.lose()

    async def main():
        with pytest.raises(DeviceLostError, match="recover_async"):
            (x + 1.0).realize()
        await dev.recover_async()
        return (x + 1.0).tolist()

    assert asyncio.run(main()) == [2.0]


# -- concurrent callers ---------------------------------------------------------------------------


def _overlapping_run_async(device, n_calls: int, lose_at: int | None = None) -> None:
    w = wa.tensor(vals(96, 13), device=device, shape=(12, 8)).realize()
    b = wa.tensor(vals(8, 14), device=device, shape=(8,)).realize()
    fn = wa.capture(lambda x: wa.softmax(x @ w + b, -1))
    fn(wa.tensor(vals(36, 15), device=device, shape=(3, 12)))
    inputs = [vals(36, 100 + i) for i in range(n_calls)]
    ref_w = np.asarray(vals(96, 13), np.float64).reshape(12, 8)
    ref_b = np.asarray(vals(8, 14), np.float64)

    def reference(data):
        z = np.asarray(data, np.float64).reshape(3, 12) @ ref_w + ref_b
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    async def one(i):
        if i == lose_at:
            device.lose_on_read = True
        return i, await fn.run_async(inputs[i])

    async def main():
        return await asyncio.gather(*(one(i) for i in range(n_calls)))

    for i, out in asyncio.run(main()):
        got = np.frombuffer(bytes(out), np.float32).reshape(3, 8)
        np.testing.assert_allclose(got, reference(inputs[i]), rtol=1e-5, atol=1e-6)


def test_fifty_overlapping_run_async_calls_each_get_their_own_answer():
    _overlapping_run_async(wa.get_device("cpu"), 50)


def test_overlapping_calls_through_a_loss_rebuild_once(dev):
    _overlapping_run_async(dev, 20, lose_at=7)
    assert dev.rebuilds == 1 and dev.recovery_stats()["losses"] == 1


def test_fifty_overlapping_encodes_on_one_embedder(checkpoint):
    emb = SentenceEmbedder.load(checkpoint, device="cpu")
    texts = [[s, tb.SENTENCES[(i * 3) % len(tb.SENTENCES)]] for i, s in enumerate(tb.SENTENCES)]
    calls = [texts[i % len(texts)][: 1 + i % 2] for i in range(50)]
    want = {tuple(c): emb.encode(c) for c in calls}

    async def main():
        return await asyncio.gather(*(emb.encode_async(c) for c in calls))

    for c, got in zip(calls, asyncio.run(main()), strict=True):
        assert got == want[tuple(c)]

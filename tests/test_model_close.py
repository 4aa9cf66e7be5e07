"""``close()`` on the host's cpu device: ``SentenceEmbedder`` (and the feature-extraction
pipeline, ``BertModel``, ``capture``'s ``Captured``) releases its captured graphs and its hold
on each weight at once, not at garbage collection; a weight shared with another model stays
for that one; a second close does nothing; calls afterwards raise ``ClosedError``."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
import tiny_bert as tb

import webaccel as wa
from webaccel.errors import ClosedError, WebAccelError
from webaccel.models import SentenceEmbedder
from webaccel.pipelines.feature_extraction import FeatureExtractionPipeline
from webaccel.store import Store
from webaccel.weights import sharing

CPU = wa.get_device("cpu")
TEXTS = tb.SENTENCES[:4]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tb.write_checkpoint(tmp_path_factory.mktemp("close"), tb.VARIANTS["uncased_mean"])


@pytest.fixture
def baseline():
    """Live cpu bytes/storages before the test; the test must give them all back."""
    gc.collect()
    before = (CPU.live_bytes, CPU.live_storages)
    yield before
    gc.collect()
    assert (CPU.live_bytes, CPU.live_storages) == before


def weight_storages(emb: SentenceEmbedder) -> list:
    return [t._node.storage for t in emb.model.weights.values()]


def test_close_releases_weights_and_graphs_at_once(checkpoint, baseline):
    emb = SentenceEmbedder.load(checkpoint, device="cpu")
    want = emb.encode(TEXTS)
    feats = emb.features(TEXTS, pooling="cls")  # a second captured head
    assert len(emb.model._heads) == 2 and emb.model._encode.traces
    weight_bytes = sum(s.nbytes for s in weight_storages(emb))
    assert weight_bytes > 100_000 and CPU.live_bytes - baseline[0] >= weight_bytes
    storages = weight_storages(emb)
    encode = emb.model._encode
    emb.close()
    # no gc.collect(): the bytes come back when close() returns
    assert (CPU.live_bytes, CPU.live_storages) == baseline
    assert all(s.freed for s in storages)
    assert not encode.traces and not emb.model._heads and not emb.model.weights
    assert emb.closed and emb.device is CPU  # still names its device, for messages
    emb.close()  # idempotent
    assert (CPU.live_bytes, CPU.live_storages) == baseline
    assert len(want) == len(feats) == len(TEXTS)


def test_calls_after_close_raise_a_clear_error(checkpoint, baseline):
    emb = SentenceEmbedder.load(checkpoint, device="cpu")
    emb.close()
    for call, run in (
        ("encode", lambda: emb.encode(TEXTS)),
        ("encode_async", lambda: asyncio.run(emb.encode_async(TEXTS))),
        ("features", lambda: emb.features(TEXTS)),
        ("encode", lambda: emb.encode([])),  # before any work, for an empty list too
    ):
        with pytest.raises(ClosedError, match="load it again") as info:
            run()
        assert f"SentenceEmbedder.{call}: this embedder was closed" in str(info.value)
        assert "cpu" in str(info.value)
    assert issubclass(ClosedError, WebAccelError)
    with pytest.raises(ClosedError, match=r"BertModel\.encode: this model was closed"):
        emb.model.encode(wa.tensor([[2, 3]], dtype="int32"), wa.tensor([[1, 1]], dtype="int32"))


def test_close_keeps_weights_another_model_shares(checkpoint, tmp_path, baseline):
    store = Store.open(tmp_path)
    # the first load reads the files (and keeps them in the store); loads from the store
    # share their weights through webaccel.weights
    SentenceEmbedder.load(checkpoint, device="cpu", store=store, name="tiny").close()
    a = SentenceEmbedder.load(checkpoint, device="cpu", store=store, name="tiny")
    assert a.source_reads == []
    after_a = CPU.live_bytes
    b = SentenceEmbedder.load(checkpoint, device="cpu", store=store, name="tiny")
    assert b.source_reads == []  # from the store
    shared = weight_storages(a)
    assert [s.refcount for s in shared] == [2] * len(shared)  # one storage, two holders
    assert CPU.live_bytes == after_a  # b holds a's storages: no new bytes
    want = a.encode(TEXTS)
    a.close()
    assert [s.refcount for s in shared] == [1] * len(shared)  # b's hold is left
    assert CPU.live_bytes > baseline[0] + 100_000
    assert b.encode(TEXTS) == want  # b runs on the shared weights
    assert any(e.storage is shared[0] for e in sharing.REGISTRY.entries())
    b.close()
    assert all(s.freed for s in shared)
    assert (CPU.live_bytes, CPU.live_storages) == baseline
    asyncio.run(store.close_async())


def test_context_managers_close(checkpoint, baseline):
    with SentenceEmbedder.load(checkpoint, device="cpu") as emb:
        emb.encode(TEXTS)
    assert emb.closed
    assert (CPU.live_bytes, CPU.live_storages) == baseline

    async def use() -> SentenceEmbedder:
        async with await SentenceEmbedder.load_async(checkpoint, device="cpu") as emb:
            await emb.encode_async(TEXTS)
        return emb

    assert asyncio.run(use()).closed
    assert (CPU.live_bytes, CPU.live_storages) == baseline


def test_pipeline_close(checkpoint, baseline):
    with wa.pipeline("feature-extraction", model=str(checkpoint), device="cpu") as pipe:
        assert isinstance(pipe, FeatureExtractionPipeline)
        assert len(pipe("a cat", pooling="mean")) == 96
    assert pipe.closed and pipe.embedder.closed
    pipe.close()  # idempotent
    assert (CPU.live_bytes, CPU.live_storages) == baseline
    with pytest.raises(ClosedError, match="FeatureExtractionPipeline: this pipeline was closed"):
        pipe("a cat")


def test_captured_close_releases_its_traces(baseline):
    # a tensor made inside the function becomes a constant that only the trace keeps
    fn = wa.capture(lambda x: x * wa.tensor([10.0, 20.0]))
    assert fn(wa.tensor([[1.0, 2.0]])).tolist() == [[10.0, 40.0]]
    (trace,) = fn.traces.values()
    (const,) = [n.storage for n in trace.const_nodes]
    assert const.refcount == 1
    fn.close()
    assert not fn.traces and const.freed  # at once, not at garbage collection
    fn.close()  # idempotent
    assert (CPU.live_bytes, CPU.live_storages) == baseline
    assert fn(wa.tensor([[0.5, 1.0]])).tolist() == [[5.0, 20.0]]  # a later call traces again
    fn.close()

"""all-MiniLM-L6-v2 with webaccel ops (cpu device) against sentence-transformers on torch CPU:
token ids, hidden states, pooled embeddings, batching/padding, capture, async, the store."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from threadpoolctl import threadpool_limits

import webaccel as wa
from webaccel.models import BertModel, SentenceEmbedder
from webaccel.models.bert import INT4_WEIGHTS, MASK_VALUE, dense_layers, needed_weights
from webaccel.models.loader import FILE_PREFIX, INT4_SUFFIX, QUANTIZED_SUFFIX
from webaccel.models.sentence_embedder import MODEL_NAME, default_model_dir
from webaccel.models.sentence_transformers import FILES as ST_FILES
from webaccel.models.spec import WEIGHTS
from webaccel.store import Store

MODEL_DIR = default_model_dir()
# int4 made ahead of time (tools/int4_weights.py), kept in the repository
INT4_FILE = Path(__file__).resolve().parents[1] / "models" / MODEL_NAME / INT4_WEIGHTS
SENTENCES = [
    "The cat sits on the mat.",
    "A man is playing a guitar on stage while the crowd sings along loudly.",
    "Hi",  # one token between [CLS] and [SEP]
    "",  # [CLS] [SEP] only
    "Café naïve résumé: déjà vu, ÜBER-straße!",
    "東京は日本の首都です。",
    "GPU kernels ran 3.5x faster than 2023's baseline (p < 0.01) on 1,024 tokens.",
    "Sentence embeddings map text to vectors, so similar meanings land close together. " * 30,
    "🙂 emoji, ‽ and other rare symbols",
    "Paris is the capital of France.",
]
LONG = 7  # the sentence truncated to max_seq_length (256)


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """NumPy's OpenBLAS and torch each start a thread per core and spin-wait; sharing a small
    (often busy) host they slow each other down 2-3x. One thread each keeps the module quick."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def reference() -> SentenceTransformer:
    return SentenceTransformer(str(MODEL_DIR), device="cpu")


@pytest.fixture(scope="module")
def ref_vectors(reference: SentenceTransformer) -> np.ndarray:
    return reference.encode(SENTENCES, batch_size=32, convert_to_numpy=True)


@pytest.fixture(scope="module")
def emb() -> SentenceEmbedder:
    return SentenceEmbedder.load(device="cpu")


def _figures(got: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, float]:
    cos = (got * want).sum(-1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(want, axis=-1))
    return cos, float(np.abs(got - want).max())


def test_text_to_embeddings_match_sentence_transformers(emb, ref_vectors):
    got = np.asarray(emb.encode(SENTENCES, batch_size=4))  # 3 batches of different lengths
    assert got.shape == (len(SENTENCES), 384)
    cos, diff = _figures(got, ref_vectors)
    print(f"\nfp32 vs sentence-transformers: min cosine {cos.min():.9f}, max abs diff {diff:.3g}")
    assert cos.min() >= 0.9999, cos
    assert diff < 2e-6
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, atol=1e-6)


def test_token_ids_match_the_reference_tokenizer(emb, reference):
    ours = emb.tokenizer(SENTENCES, max_length=emb.max_length, padding=False)
    theirs = reference.tokenizer(SENTENCES, truncation=True, max_length=reference.max_seq_length)
    assert emb.max_length == reference.max_seq_length == 256
    assert ours.input_ids == theirs["input_ids"]
    assert ours.lengths[2] == 3 and ours.lengths[3] == 2 and ours.lengths[LONG] == 256


def test_token_id_path_hidden_states_and_pooling(emb, reference):
    """Same ids in (the reference tokenizer's, padded by it): hidden states and embeddings."""
    texts = SENTENCES[:LONG] + SENTENCES[LONG + 1 :]  # short rows: hidden_states runs uncaptured
    batch = reference.tokenizer(texts, truncation=True, max_length=256, padding=True)
    ids = np.array(batch["input_ids"], np.int32)
    mask = np.array(batch["attention_mask"], np.int32)
    with torch.no_grad():
        hf = reference[0].auto_model(
            input_ids=torch.from_numpy(ids).long(), attention_mask=torch.from_numpy(mask).long()
        )
        want = reference(
            {
                "input_ids": torch.from_numpy(ids).long(),
                "attention_mask": torch.from_numpy(mask).long(),
            }
        )
    model: BertModel = emb.model
    states = model.hidden_states(wa.tensor(ids), wa.tensor(mask)).numpy()
    real = mask.astype(bool)
    state_diff = np.abs(states[real] - hf.last_hidden_state.numpy()[real]).max()
    got = model.encode(wa.tensor(ids), wa.tensor(mask)).numpy()
    cos, diff = _figures(got, want["sentence_embedding"].numpy())
    print(
        f"\nsame ids: hidden states max abs diff {state_diff:.3g}; embeddings min cosine "
        f"{cos.min():.9f}, max abs diff {diff:.3g}"
    )
    assert state_diff < 5e-5, state_diff
    assert cos.min() >= 0.9999 and diff < 2e-6, (cos, diff)


def test_batch_size_and_padding_do_not_change_results(emb):
    texts = SENTENCES[:LONG] + SENTENCES[LONG + 1 :]  # (the long one is in the test above)
    alone = np.asarray(emb.encode(texts, batch_size=1))
    together = np.asarray(emb.encode(texts, batch_size=32))  # padded to the longest
    np.testing.assert_allclose(alone, together, atol=1e-6)
    assert emb.encode([]) == []


def test_capture_traces_once_per_signature_and_replays(emb):
    texts = ["one short sentence", "and another, a bit longer one"]
    first = emb.encode(texts)
    traces = emb.model._encode.traces
    runs = {key: trace.runs for key, trace in traces.items()}
    again = emb.encode(list(reversed(texts)))
    assert traces.keys() == runs.keys()  # no new trace: the (2, 16) signature was replayed
    replayed = [key for key, trace in traces.items() if trace.runs == runs[key] + 1]
    assert [key[0][1].shape for key in replayed] == [(2, 16)]
    assert again == list(reversed(first))  # bit-identical through the replay


def test_explicit_token_type_ids_and_the_mask_value(emb):
    ids = wa.tensor([[101, 7592, 2088, 102, 0, 0, 0, 0]], dtype="int32")
    mask = wa.tensor([[1, 1, 1, 1, 0, 0, 0, 0]], dtype="int32")
    types = wa.zeros((1, 8), "int32")
    a = emb.model.encode(ids, mask).numpy()
    b = emb.model.encode(ids, mask, types).numpy()
    np.testing.assert_array_equal(a, b)
    short = emb.model.encode(
        wa.tensor([[101, 7592, 2088, 102]], dtype="int32"), wa.tensor([[1, 1, 1, 1]], dtype="int32")
    ).numpy()
    np.testing.assert_allclose(a, short, atol=1e-6)  # padded keys get exp(MASK_VALUE) == 0
    assert math.exp(MASK_VALUE) == 0.0 and np.float16(MASK_VALUE) == MASK_VALUE


def test_encode_async_matches_encode(emb):
    texts = SENTENCES[:4]
    assert asyncio.run(emb.encode_async(texts, batch_size=3)) == emb.encode(texts, batch_size=3)


def test_every_dense_layer_goes_through_one_helper(emb):
    config = emb.model.config
    names = dense_layers(config)
    assert len(names) == 36 and len(needed_weights(config)) == 101
    calls: list[str] = []
    model = BertModel(config, emb.model.weights)

    def counting(x, weight, bias):
        calls.append(next(n for n in names if emb.model.weights[f"{n}.weight"] is weight))
        return wa.linear(x, weight, bias)

    model.linear_fn = counting
    ids = wa.tensor([[101, 7592, 102]], dtype="int32")
    mask = wa.tensor([[1, 1, 1]], dtype="int32")
    out = model.encode(ids, mask).numpy()
    assert calls == names  # traced once: each layer once, in order
    model.encode(ids, mask)
    assert len(calls) == 36  # replayed without calling back into Python
    np.testing.assert_allclose(out, emb.model.encode(ids, mask).numpy(), atol=1e-6)


def test_store_saves_once_then_loads_without_reading_the_source(tmp_path: Path, emb):
    files = [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ]
    fetched: list[str] = []

    def fetcher(name: str):
        async def fetch() -> bytes:  # the browser's fetch, counted
            fetched.append(name)
            return (MODEL_DIR / name).read_bytes()

        return fetch

    source = {name: fetcher(name) for name in files}
    progress: list[tuple[int, int]] = []
    first = SentenceEmbedder.load(
        source, store=Store.open(tmp_path), progress=lambda d, t: progress.append((d, t))
    )
    sha = hashlib.sha256((MODEL_DIR / "model.safetensors").read_bytes()).hexdigest()
    assert first.version == sha and sorted(fetched) == sorted(files)
    assert progress[-1][0] == progress[-1][1] > 90_000_000
    store = Store.open(tmp_path)  # a fresh process would see this
    info = store.info(MODEL_NAME)
    assert info["version"] == sha and info["tensors"] == 104 + len(files) - 1
    assert FILE_PREFIX + "tokenizer.json" in {
        t["name"] for t in store.manifest(MODEL_NAME)["tensors"]
    }

    fetched.clear()
    second = SentenceEmbedder.load(source, store=store)
    assert fetched == [] and second.source_reads == [] and second.version == sha
    third = SentenceEmbedder.load(MODEL_DIR, store=store)  # a directory is lazy too
    assert third.source_reads == []
    vectors = emb.encode(SENTENCES[:3])
    assert second.encode(SENTENCES[:3]) == vectors == third.encode(SENTENCES[:3])

    # bytes already in memory are hashed; the store still serves the tensors
    in_memory = {name: (MODEL_DIR / name).read_bytes() for name in files}
    fourth = SentenceEmbedder.load(in_memory, store=store)
    assert fourth.source_reads == ["model.safetensors"] and fourth.version == sha


def test_load_errors(tmp_path: Path, emb):
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json"):
        SentenceEmbedder.load(
            {
                "model.safetensors": (MODEL_DIR / "model.safetensors").read_bytes(),
                "config.json": (MODEL_DIR / "config.json").read_bytes(),
            }
        )
    with pytest.raises(TypeError, match="list of strings"):
        emb.encode("not a list")
    with pytest.raises(KeyError, match="lack"):
        BertModel(emb.model.config, {})


def test_without_normalize_the_mean_pooled_vector_comes_back(emb):
    ids = wa.tensor([[101, 7592, 2088, 102]], dtype="int32")
    mask = wa.tensor([[1, 1, 1, 1]], dtype="int32")
    raw = BertModel(emb.model.config, emb.model.weights, normalize=False).encode(ids, mask)
    states = emb.model.hidden_states(ids, mask).numpy()
    np.testing.assert_allclose(raw.numpy(), states.mean(1), atol=1e-6)
    unit = emb.model.encode(ids, mask).numpy()
    assert abs(float(np.linalg.norm(raw.numpy())) - 1.0) > 0.1
    np.testing.assert_allclose(unit, raw.numpy() / np.linalg.norm(raw.numpy()), atol=1e-6)


def test_weight_only_quantization_plugs_into_the_dense_layers(tmp_path: Path, emb):
    texts = SENTENCES[:3] + SENTENCES[-1:]
    want = np.asarray(emb.encode(texts))
    int8 = SentenceEmbedder.load(quantize="int8")  # from the file's bytes
    w = int8.model.weights["encoder.layer.0.attention.self.query.weight"]
    assert type(w).__name__ == "QuantizedWeight" and w.q.dtype == wa.int8
    cos8, _ = _figures(np.asarray(int8.encode(texts)), want)
    store = Store.open(tmp_path)
    SentenceEmbedder.load(store=store)
    int4 = SentenceEmbedder.load(store=store, quantize="int4")  # from the store's floats
    assert int4.source_reads == [] and int4.quantized_by == "load"  # the package has no int4 file
    cos4, _ = _figures(np.asarray(int4.encode(texts)), want)
    print(f"\nint8 min cosine {cos8.min():.5f}, int4 (g=32) min cosine {cos4.min():.5f}")
    assert cos8.min() > 0.995 and cos4.min() > 0.9
    with pytest.raises(ValueError, match="int2"):
        SentenceEmbedder.load(quantize="int2")


@contextlib.contextmanager
def reads_of(store: Store) -> Iterator[list[tuple[str, list[str] | None]]]:
    """What *store* is asked to read meanwhile: (model, its tensors named, or None: all)."""
    asked: list[tuple[str, list[str] | None]] = []
    real = store.reading  # every read, to host bytes or onto a device, opens one

    def spy(name, version=None, tensors=None):
        asked.append((name, None if tensors is None else list(tensors)))
        return real(name, version, tensors)

    store.reading = spy
    try:
        yield asked
    finally:
        del store.reading


def test_weights_quantized_at_load_are_kept_in_the_store(tmp_path: Path):
    """The first quantized load keeps the codes and scales in the store (model name + "/int8"
    or "/int4_g32_rtn", at the float weights' version); the next one reads them back and never
    reads the dense layers' floats: the same embeddings, without quantizing again."""
    texts = SENTENCES[:2]
    store = Store.open(tmp_path)
    for scheme, suffix in QUANTIZED_SUFFIX.items():
        first = SentenceEmbedder.load(store=store, quantize=scheme)
        assert store.info(MODEL_NAME + suffix)["versions"] == [first.version]
        dense = [k for k, w in first.model.weights.items() if type(w).__name__ == "QuantizedWeight"]
        assert len(dense) == 36
        with reads_of(store) as asked:
            second = SentenceEmbedder.load(store=store, quantize=scheme)
        assert second.quantized_by == "load" and second.source_reads == []
        read = {t for name, tensors in asked if name == MODEL_NAME for t in tensors}
        assert read and not read & set(dense), sorted(read & set(dense))
        assert (MODEL_NAME + suffix, None) in asked
        w = second.model.weights[dense[0]]
        assert w.q.dtype == (wa.int8 if scheme == "int8" else wa.int4)
        np.testing.assert_array_equal(first.encode(texts), second.encode(texts))
    # a kept copy that does not fit the model is named, not run
    key = MODEL_NAME + QUANTIZED_SUFFIX["int8"]
    kept = store.read(key)
    data, dtype, shape = kept["encoder.layer.2.output.dense.weight.scale"]
    kept["encoder.layer.2.output.dense.weight.scale"] = (data[:-4], dtype, (shape[0] - 1,))
    data, dtype, shape = kept["encoder.layer.2.output.dense.weight.q"]
    kept["encoder.layer.2.output.dense.weight.q"] = (
        data[: -shape[1]],
        dtype,
        (shape[0] - 1, shape[1]),
    )
    store.delete(key)
    store.save(key, kept, version=first.version)
    with pytest.raises(ValueError, match=r"encoder\.layer\.2\.output\.dense\.weight"):
        SentenceEmbedder.load(store=store, quantize="int8")


def test_int4_weights_made_ahead_of_time_reach_the_target(tmp_path: Path, ref_vectors):
    """The repository's int4 file (GPTQ + distillation, groups of 32): min cosine to
    sentence-transformers >= 0.98 over every test sentence (the issue's int4 target); a store
    keeps it, so the second load reads neither it nor the float weights from the source."""
    names = [WEIGHTS, "config.json", "tokenizer.json", *ST_FILES, INT4_WEIGHTS]
    paths = {n: (INT4_FILE if n == INT4_WEIGHTS else MODEL_DIR / n) for n in names}
    source = {n: (lambda p=p: p.read_bytes() if p.is_file() else None) for n, p in paths.items()}
    store = Store.open(tmp_path)
    first = SentenceEmbedder.load(source, store=store, quantize="int4")
    assert INT4_WEIGHTS in first.source_reads and first.quantized_by == INT4_WEIGHTS
    w = first.model.weights["encoder.layer.5.output.dense.weight"]
    assert w.q.dtype == wa.int4 and w.q.shape == (384, 1536) and w.scale.shape == (384, 48)
    assert w.offset is not None and w.offset.shape == (384, 48)
    assert {m["name"] for m in store.list_models()} == {MODEL_NAME, MODEL_NAME + INT4_SUFFIX}
    with reads_of(store) as asked:
        second = SentenceEmbedder.load(source, store=store, quantize="int4")
    assert second.source_reads == [] and second.quantized_by == INT4_WEIGHTS
    # the float weights the int4 file replaces (the whole encoder: its dense layers, and the
    # biases and LayerNorms trained with them) are not read from the store at all
    read = [t for name, tensors in asked if name == MODEL_NAME for t in tensors]
    assert "embeddings.word_embeddings.weight" in read
    assert not [t for t in read if "encoder." in t], read
    assert (MODEL_NAME + INT4_SUFFIX, None) in asked
    for emb in (first, second):
        cos, _ = _figures(np.asarray(emb.encode(SENTENCES)), ref_vectors)
        print(f"\nint4 made ahead of time: min cosine {cos.min():.5f}, mean {cos.mean():.5f}")
        assert cos.min() >= 0.98, cos
    # new bytes in memory: a new store version, and the old one goes
    from safetensors.numpy import load, save

    tensors = load(INT4_FILE.read_bytes())
    tensors["encoder.layer.0.output.dense.weight.scale"][0, 0] *= 1.01
    changed = {**source, INT4_WEIGHTS: save(tensors)}
    third = SentenceEmbedder.load(changed, store=store, quantize="int4")
    assert third.source_reads == [INT4_WEIGHTS]
    (version,) = store.info(MODEL_NAME + INT4_SUFFIX)["versions"]
    assert version.startswith(first.version + "+") and version.endswith(
        hashlib.sha256(changed[INT4_WEIGHTS]).hexdigest()
    )
    # a file that does not fit the model is named, not run
    bad = dict(tensors)
    bad["encoder.layer.0.output.dense.weight.scale"] = bad[
        "encoder.layer.0.output.dense.weight.scale"
    ][:, :-1].copy()
    with pytest.raises(ValueError, match=r"encoder\.layer\.0\.output\.dense\.weight"):
        SentenceEmbedder.load({**source, INT4_WEIGHTS: save(bad)}, quantize="int4")
    bad = dict(tensors)
    bad["encoder.layer.1.output.dense.weight.q"] = np.zeros((384, 1536), np.float32)
    with pytest.raises(ValueError, match="not uint8"):
        SentenceEmbedder.load({**source, INT4_WEIGHTS: save(bad)}, quantize="int4")
    # no file: round to nearest at load, as before
    del source[INT4_WEIGHTS]
    rtn = SentenceEmbedder.load(source, quantize="int4")
    assert rtn.quantized_by == "load"

"""Any BERT-family sentence-transformers checkpoint from its files, not only all-MiniLM-L6-v2:
the small checkpoints of ``tiny_bert.py`` (hidden 96, 3 layers, 4 heads, intermediate 200, a
vocabulary built by the test, random weights written as safetensors) through
``SentenceEmbedder`` and ``webaccel.pipeline("feature-extraction")`` on the cpu device, against
PyTorch (transformers' BertModel in float64 + sentence-transformers' pooling).

Tolerance: float32 here against float64 there, max abs error <= 2e-5 and min cosine >= 0.99999
(measured: ~1e-7 to 3e-6); the reference itself matches sentence-transformers' own reading of
the files (float32) to 1e-5.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import inspect
import json
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import tiny_bert as tb
from threadpoolctl import threadpool_limits

import webaccel
from webaccel.models import SentenceEmbedder
from webaccel.models.loader import QUANTIZED_SUFFIX
from webaccel.store import Store

MAX_ABS, MIN_COS = 2e-5, 0.99999


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1):  # see test_models_bert.py: a small, shared host
        yield


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_bert")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # transformers' notes on the tokenizer it saves
        return {name: tb.write_checkpoint(root / name, v) for name, v in tb.VARIANTS.items()}


@pytest.fixture(scope="module")
def references(checkpoints) -> dict[str, tb.Reference]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            name: tb.reference(checkpoints[name], tb.VARIANTS[name], tb.SENTENCES)
            for name in tb.VARIANTS
        }


def _check(got, want, what: str) -> None:
    err, cos = tb.figures(got, want)
    print(f"\n{what}: max abs error {err:.3g}, min cosine {cos:.12f}")
    assert err <= MAX_ABS and cos >= MIN_COS, (what, err, cos)


def test_the_reference_is_sentence_transformers_reading_of_the_files(checkpoints, references):
    from sentence_transformers import SentenceTransformer

    for name, variant in tb.VARIANTS.items():
        model = SentenceTransformer(str(checkpoints[name]), device="cpu")
        assert model.max_seq_length == variant.max_length
        got = model.encode(tb.SENTENCES, convert_to_numpy=True)
        err, cos = tb.figures(got, references[name].pooled(variant.pooling, variant.normalize))
        assert err < 1e-5 and cos > 0.99999, (name, err, cos)


@pytest.mark.parametrize("name", list(tb.VARIANTS))
def test_embedder_reads_the_checkpoint_and_matches_pytorch(name, checkpoints, references):
    variant, ref = tb.VARIANTS[name], references[name]
    emb = SentenceEmbedder.load(checkpoints[name], device="cpu")
    config = emb.model.config
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (96, 3, 4)
    assert (config.intermediate_size, config.vocab_size) == (200, len(tb.VOCAB))
    assert config.max_position_embeddings == variant.config["max_position_embeddings"]
    assert emb.max_length == variant.max_length
    modes = variant.pooling
    assert emb.model.pooling == (modes[0] if len(modes) == 1 else modes)
    assert emb.model.normalize is variant.normalize
    assert emb.dim == 96 * len(variant.pooling)
    assert emb.tokenizer.lowercase is variant.lowercase
    ids = emb.tokenizer(tb.SENTENCES, max_length=emb.max_length, padding=False).input_ids
    assert ids == ref.input_ids  # the truncated long one included
    got = np.asarray(emb.encode(tb.SENTENCES, batch_size=3))
    assert got.shape == (len(tb.SENTENCES), emb.dim)
    _check(got, ref.pooled(variant.pooling, variant.normalize), f"{name} SentenceEmbedder")
    again = asyncio.run(emb.encode_async(tb.SENTENCES, batch_size=8))
    np.testing.assert_allclose(again, got, atol=1e-5)  # other batches: other padding


def test_files_dict_store_and_quantized_copy(checkpoints, references, tmp_path):
    """The same loader paths as MiniLM's (store save, store hit without reading the source,
    int8 kept in the store) for a second architecture size."""
    name, variant = "uncased_mean", tb.VARIANTS["uncased_mean"]
    want = references[name].pooled(variant.pooling, variant.normalize)
    files = tb.files_of(checkpoints[name])
    store = Store.open(tmp_path)
    first = SentenceEmbedder.load(files, device="cpu", store=store, name="tiny")
    _check(np.asarray(first.encode(tb.SENTENCES)), want, "from a files dict, saved to the store")
    kept = {t["name"] for t in store.manifest("tiny")["tensors"] if t["name"].startswith("file:")}
    assert kept == {
        "file:" + f
        for f in (
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "sentence_bert_config.json",
            "1_Pooling/config.json",
            "modules.json",
        )
    }
    lazy = {n: (lambda n=n: files[n]) for n in files}
    second = SentenceEmbedder.load(lazy, device="cpu", store=store, name="tiny")
    assert second.source_reads == [] and second.version == first.version
    np.testing.assert_array_equal(second.encode(tb.SENTENCES), first.encode(tb.SENTENCES))
    int8 = SentenceEmbedder.load(lazy, device="cpu", store=store, name="tiny", quantize="int8")
    assert store.info("tiny" + QUANTIZED_SUFFIX["int8"])["versions"] == [first.version]
    dense = [k for k, w in int8.model.weights.items() if type(w).__name__ == "QuantizedWeight"]
    assert len(dense) == 3 * 6
    err, cos = tb.figures(np.asarray(int8.encode(tb.SENTENCES)), want)
    print(f"\nint8 (tiny, random weights): max abs error {err:.3g}, min cosine {cos:.6f}")
    assert cos > 0.99, cos
    int4 = SentenceEmbedder.load(lazy, device="cpu", store=store, name="tiny", quantize="int4")
    assert int4.quantized_by == "load"  # no int4 file: rounded at load


@pytest.mark.parametrize("name", list(tb.VARIANTS))
def test_pipeline_feature_extraction_matches_pytorch(name, checkpoints, references):
    ref = references[name]
    extractor = webaccel.pipeline(
        "feature-extraction", model=str(checkpoints[name]) + "/", device="cpu"
    )
    # the defaults are transformers.js': no pooling, no normalization -> token vectors
    tokens = extractor(tb.SENTENCES, batch_size=4)
    assert [len(t) for t in tokens] == [len(i) for i in ref.input_ids]
    got = np.concatenate([np.asarray(t) for t in tokens])
    _check(got, np.concatenate(ref.states), f"{name} pipeline pooling='none'")
    for pooling in ("mean", "cls", "max", "mean_sqrt_len_tokens"):
        for normalize in (False, True):
            got = extractor(tb.SENTENCES, pooling=pooling, normalize=normalize)
            want = ref.pooled((pooling,), normalize)
            _check(got, want, f"{name} pipeline pooling={pooling!r} normalize={normalize}")
    one = extractor(tb.SENTENCES[0], pooling="mean", normalize=True)  # a str: one vector
    assert isinstance(one[0], float) and len(one) == 96
    np.testing.assert_allclose(one, ref.pooled(("mean",), True)[0], atol=MAX_ABS)
    assert extractor([], pooling="cls") == []


def test_pipeline_models_from_a_files_dict_and_from_the_store(checkpoints, references, tmp_path):
    name, variant = "cased_cls", tb.VARIANTS["cased_cls"]
    want = references[name].pooled(("cls",), False)
    files = tb.files_of(checkpoints[name])
    extractor = webaccel.pipeline("feature-extraction", model=files, device="cpu")
    _check(extractor(tb.SENTENCES, pooling="cls"), want, "pipeline over a files dict")
    store = Store.open(tmp_path)
    from_dir = webaccel.pipeline(
        "feature-extraction", model=checkpoints[name], device="cpu", store=store
    )  # a path: kept in the store under the directory's name
    assert [m["name"] for m in store.list_models()] == [name]
    from_store = asyncio.run(
        webaccel.pipeline_async("feature-extraction", model=name, device="cpu", store=store)
    )
    assert from_store.embedder.source_reads == []
    got = asyncio.run(from_store.call_async(tb.SENTENCES, pooling="cls"))
    np.testing.assert_array_equal(got, from_dir(tb.SENTENCES, pooling="cls"))
    _check(got, want, "pipeline from a store name")
    assert variant.normalize is False


def test_pipeline_passes_the_embedders_load_options(checkpoints):
    """The pipeline declares only what it reads itself (model, store, name); every other
    option is ``SentenceEmbedder.load_async``'s, passed through (its tokenizer= too)."""
    files = tb.files_of(checkpoints["cased_cls"])
    tokenizer = webaccel.tokenizers.from_files(files)
    extractor = webaccel.pipeline(
        "feature-extraction", model=files, device="cpu", max_length=8, tokenizer=tokenizer
    )
    assert extractor.tokenizer is tokenizer and extractor.embedder.max_length == 8
    with pytest.raises(TypeError, match="unexpected keyword argument 'pooling'"):
        webaccel.pipeline("feature-extraction", model=files, device="cpu", pooling="mean")


def test_sync_forms_take_the_async_forms_parameters():
    """``load`` / ``features`` / the pipeline's call are the async forms run to completion,
    with the same signature (one declaration)."""
    from webaccel.pipelines.feature_extraction import FeatureExtractionPipeline

    for sync, asynchronous in (
        (SentenceEmbedder.load, SentenceEmbedder.load_async),
        (SentenceEmbedder.features, SentenceEmbedder.features_async),
        (FeatureExtractionPipeline.__call__, FeatureExtractionPipeline.call_async),
    ):
        assert inspect.signature(sync) == inspect.signature(asynchronous)
        assert not inspect.iscoroutinefunction(sync)


@contextlib.contextmanager
def serving(root: Path):
    """An HTTP server over *root* (the standard library's), on a free local port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *_: None  # quiet
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_pipeline_over_http_and_fetch_bytes(checkpoints, references, tmp_path):
    """A model directory's URL: each file fetched when needed (a missing optional one is a
    404, None), kept in the store under the directory's name; the next load fetches nothing."""
    from webaccel.io import fetch_bytes

    name = "mean_max"
    want = references[name].pooled(("mean",), True)
    root = checkpoints[name].parent
    store = Store.open(tmp_path)
    with serving(root) as base:
        config = asyncio.run(fetch_bytes(f"{base}{name}/config.json"))
        assert config == (root / name / "config.json").read_bytes()
        assert asyncio.run(fetch_bytes(f"{base}{name}/no-such-file.json")) is None
        assert asyncio.run(fetch_bytes(str(root / name / "config.json"))) == config
        assert asyncio.run(fetch_bytes((root / name / "config.json").as_uri())) == config
        assert asyncio.run(fetch_bytes((root / name / "missing.json").as_uri())) is None
        extractor = webaccel.pipeline(
            "feature-extraction", model=f"{base}{name}/", device="cpu", store=store
        )
        reads = extractor.embedder.source_reads
        assert reads[0] == "model.safetensors" and "tokenizer.json" in reads
        assert "vocab.txt" not in reads  # tokenizer.json was there: its alternative is not read
        _check(extractor(tb.SENTENCES, pooling="mean", normalize=True), want, "over HTTP")
    assert [m["name"] for m in store.list_models()] == [name]
    again = webaccel.pipeline(
        "feature-extraction", model=f"{base}{name}/", device="cpu", store=store
    )  # the server is gone: only the store can give it
    assert again.embedder.source_reads == []


def test_pipeline_errors(checkpoints, tmp_path):
    with pytest.raises(ValueError, match=r"unknown task 'text-generation'.*feature-extraction"):
        webaccel.pipeline("text-generation", model=checkpoints["cased_cls"])
    extractor = webaccel.pipeline("feature-extraction", model=checkpoints["cased_cls"])
    with pytest.raises(ValueError, match=r"pooling 'eos' is not supported.*none, mean, cls"):
        extractor("a text", pooling="eos")
    with pytest.raises(TypeError, match="str or a list of str"):
        extractor(b"bytes")
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        extractor(["a", 2])
    store = Store.open(tmp_path)
    with pytest.raises(FileNotFoundError, match="'no-such-model' is not a model in the store"):
        webaccel.pipeline("feature-extraction", model="no-such-model", store=store)
    with pytest.raises(ValueError, match="give name="):
        webaccel.pipeline("feature-extraction", model={"config.json": b"{}"}, store=store)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        webaccel.pipeline("feature-extraction", model=tmp_path / "missing")


def _edited(folder: Path, edit: dict) -> dict[str, bytes]:
    """The checkpoint's files with *edit*: a file to None is removed, config.json is updated
    (the rest of the BERT config stays), any other file replaced."""
    files = tb.files_of(folder)
    for fname, change in edit.items():
        if change is None:
            files.pop(fname)
        elif fname == "config.json":
            files[fname] = json.dumps({**json.loads(files[fname]), **change}).encode()
        else:
            files[fname] = json.dumps(change).encode()
    return files


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        ({"config.json": {"model_type": "roberta"}}, NotImplementedError, "'roberta'.*read: bert"),
        (
            {"1_Pooling/config.json": {"pooling_mode": "lasttoken"}},
            NotImplementedError,
            "pooling mode \\('lasttoken',\\) is not supported",
        ),
        (
            {
                "modules.json": [
                    {"path": "", "type": "sentence_transformers.models.Transformer"},
                    {"path": "2_Dense", "type": "sentence_transformers.models.Dense"},
                ]
            },
            NotImplementedError,
            r"\['Dense'\] are not supported",
        ),
        (
            {"tokenizer.json": None, "vocab.txt": None},
            FileNotFoundError,
            "neither 'tokenizer.json' nor 'vocab.txt'",
        ),
        ({"model.safetensors": None}, FileNotFoundError, "no 'model.safetensors'"),
    ],
)
def test_checkpoints_that_cannot_be_read_are_named(checkpoints, edit, error, match):
    files = _edited(checkpoints["uncased_mean"], edit)
    with pytest.raises(error, match=match):
        SentenceEmbedder.load(files, device="cpu")


def test_tokenizer_factory_picks_by_model_type(checkpoints):
    from webaccel import tokenizers

    folder = checkpoints["uncased_mean"]
    tok = tokenizers.from_tokenizer_json((folder / "tokenizer.json").read_bytes())
    assert isinstance(tok, tokenizers.WordPieceTokenizer)
    assert isinstance(tok, tokenizers.Tokenizer)
    ids = tok.encode("The cat sits.")
    assert tok.decode(ids) == "the cat sits."
    batch = tok.encode_batch(["the cat", "a"])
    assert batch.input_ids[1][-1] == tok.pad_id == 0 and tok.unk_id == 1
    assert tok.special_ids == {0, 1, 2, 3, 4}
    bpe = {"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}
    with pytest.raises(NotImplementedError, match="BPE tokenizers are not supported yet"):
        tokenizers.from_tokenizer_json(bpe)
    with pytest.raises(NotImplementedError, match="BPE tokenizers are not supported yet"):
        tokenizers.from_files({"tokenizer.json": json.dumps(bpe)})
    with pytest.raises(NotImplementedError, match="'Unigram' tokenizers are not supported"):
        tokenizers.from_tokenizer_json({"model": {"type": "Unigram", "vocab": []}})
    cased = tokenizers.from_files(tb.files_of(checkpoints["cased_cls"]))  # vocab.txt
    assert cased.lowercase is False and cased.encode("The")[1] == tb.VOCAB.index("The")
    with pytest.raises(FileNotFoundError, match=r"neither tokenizer\.json nor vocab\.txt"):
        tokenizers.from_files({"config.json": b"{}"})


def test_old_import_paths_still_work_with_a_deprecation_warning():
    code = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as caught:
            from webaccel.models import safetensors as old_st
            from webaccel.models.tokenizer import WordPieceTokenizer as OldTok
            from webaccel.models.embedder import MODEL_NAME, SentenceEmbedder as OldEmb
            import webaccel.models as models
            models.safetensors, models.tokenizer, models.embedder
        from webaccel.io import safetensors
        from webaccel.models import SentenceEmbedder
        from webaccel.models.bert import BertConfig, BertModel, dense_layers, needed_weights
        from webaccel.tokenizers import WordPieceTokenizer
        assert old_st is safetensors and OldTok is WordPieceTokenizer
        assert OldEmb is SentenceEmbedder and MODEL_NAME == "all-MiniLM-L6-v2"
        print(sorted({str(w.message).split()[0] for w in caught
                      if w.category is DeprecationWarning}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
    assert out.stdout.strip() == (
        "['webaccel.models.embedder', 'webaccel.models.safetensors', 'webaccel.models.tokenizer']"
    )


def test_import_webaccel_does_not_load_the_models():
    code = (
        "import sys, webaccel; webaccel.pipeline; "
        "print(sorted(m for m in sys.modules if m.startswith(('webaccel.models', "
        "'webaccel.tokenizers', 'webaccel.pipelines.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
    assert out.stdout.strip() == "[]"

"""A second BERT size in the browser: a small sentence-transformers checkpoint the test writes
(``tests/tiny_bert.py``: hidden 96, 3 layers, 4 heads, intermediate 200, random weights) loaded
from its files in the page on webgpu and on webnn, through ``SentenceEmbedder`` and
``webaccel.pipeline_async("feature-extraction")``, against PyTorch's numbers computed on the
host (transformers' BertModel, float64). Also ``io.fetch_bytes``' browser branch.

Tolerance: max abs error <= 2e-5 and min cosine >= 0.99999 (float32 on the GPU and WebNN;
measured 1e-7 to 2.5e-6)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from pytest_pyodide import run_in_pyodide

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tiny_bert as tb  # tests/, beside the host tests

pytestmark = pytest.mark.lanes("headless-shell")
MAX_ABS, MIN_COS = 2e-5, 0.99999


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The ``cased_cls`` and ``mean_max`` variants' files and PyTorch's results for them."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("cased_cls", "mean_max"):
            variant = tb.VARIANTS[name]
            folder = tb.write_checkpoint(tmp_path_factory.mktemp(name), variant)
            ref = tb.reference(folder, variant, tb.SENTENCES)
            out[name] = (tb.files_of(folder), ref, variant)
    return out


@run_in_pyodide(packages=["webaccel"])
async def _run_in_page(selenium, files, sentences, device):
    import webaccel
    from webaccel.models import SentenceEmbedder

    emb = await SentenceEmbedder.load_async(files, device=device)
    assert emb.device.name == device
    vectors = await emb.encode_async(sentences, batch_size=3)
    extractor = await webaccel.pipeline_async("feature-extraction", model=files, device=device)
    tokens = await extractor.call_async(sentences)
    mean = await extractor.call_async(sentences, pooling="mean", normalize=True)
    one = await extractor.call_async(sentences[0], pooling="max")
    return vectors, tokens, mean, one


@pytest.mark.parametrize("device", ["webgpu", "webnn"])
@pytest.mark.parametrize("name", ["cased_cls", "mean_max"])
def test_small_bert_from_its_files_matches_pytorch(selenium, checkpoint, device, name):
    files, ref, variant = checkpoint[name]
    vectors, tokens, mean, one = _run_in_page(selenium, files, tb.SENTENCES, device)
    figures = {
        "SentenceEmbedder": tb.figures(vectors, ref.pooled(variant.pooling, variant.normalize)),
        "pipeline none": tb.figures(
            np.concatenate([np.asarray(t) for t in tokens]), np.concatenate(ref.states)
        ),
        "pipeline mean": tb.figures(mean, ref.pooled(("mean",), True)),
        "pipeline max (one text)": tb.figures([one], ref.pooled(("max",), False)[:1]),
    }
    for what, (err, cos) in figures.items():
        print(f"\n{name} on {device}, {what}: max abs error {err:.3g}, min cosine {cos:.9f}")
    assert [len(t) for t in tokens] == [len(i) for i in ref.input_ids]
    assert np.asarray(vectors).shape == (len(tb.SENTENCES), 96 * len(variant.pooling))
    for what, (err, cos) in figures.items():
        assert err <= MAX_ABS and cos >= MIN_COS, (what, err, cos)


@run_in_pyodide(packages=["webaccel"])
async def test_fetch_bytes_in_the_page(selenium):
    from pyodide.code import run_js

    from webaccel.io import fetch_bytes

    data = bytes(range(256)) * 3
    url = run_js("(b) => URL.createObjectURL(new Blob([b.toJs()]))")(data)
    assert await fetch_bytes(url) == data
    assert await fetch_bytes("no-such-file-in-the-dist.bin") is None

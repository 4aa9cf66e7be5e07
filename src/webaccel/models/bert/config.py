"""``BertConfig``: the fields of a Hugging Face BERT ``config.json`` the encoder reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# config.json model_type values whose checkpoints are plain BERT (absolute positions, the
# BertModel tensor names). RoBERTa, DistilBERT, MPNet... differ and are not read as BERT.
MODEL_TYPES = ("bert",)
GELUS = ("gelu", "gelu_new", "gelu_pytorch_tanh")


@dataclass(frozen=True)
class BertConfig:
    """The encoder's sizes and settings. Defaults are transformers' ``BertConfig`` defaults
    (bert-base), used only where a ``config.json`` leaves a field out."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BertConfig:
        kind = data.get("model_type", "bert")
        if kind not in MODEL_TYPES:
            raise ValueError(
                f"BertConfig: model_type {kind!r} is not BERT (read: {', '.join(MODEL_TYPES)})"
            )
        position = data.get("position_embedding_type", "absolute")
        if position != "absolute":
            raise ValueError(
                f"BertConfig: position_embedding_type {position!r} is not supported "
                f"(only 'absolute')"
            )
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in data.items() if k in known and v is not None})
        if cfg.hidden_act not in GELUS:
            raise ValueError(f"BertConfig: hidden_act {cfg.hidden_act!r} is not supported")
        if cfg.hidden_size % cfg.num_attention_heads:
            raise ValueError(
                f"BertConfig: hidden_size {cfg.hidden_size} is not a multiple of "
                f"num_attention_heads {cfg.num_attention_heads}"
            )
        return cfg

    @classmethod
    def from_json(cls, text: str | bytes) -> BertConfig:
        return cls.from_dict(json.loads(text))

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

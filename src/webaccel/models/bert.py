"""A BERT encoder (all-MiniLM-L6-v2 and kin) from webaccel ops, with mean pooling.

``BertModel(config, weights)`` takes the checkpoint's tensors by their Hugging Face names
(``bert.`` prefixes dropped). ``encode(input_ids, attention_mask)`` runs a captured forward
pass (``webaccel.capture``): traced once per (batch, seq) signature, replayed after, so Python
builds the graph (~120 steps for 6 layers) only once per shape.

Every dense layer goes through ``_linear``, the one place weight-only quantization plugs in:
replace ``weights[name + ".weight"]`` for the names of ``dense_layers(config)`` by
``webaccel.quant.QuantizedWeight``s (``webaccel.linear`` runs them), or pass another
``linear_fn``. Do it before the first ``encode``: a trace keeps its weights as constants.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from .. import functional as F
from ..capture import capture
from ..device import Device
from ..tensor import Tensor

# Added to the attention scores of padded keys. HF adds finfo(dtype).min; anything this
# negative gives those keys exp(-1e4 - max) == 0 in float32 as well, and -1e4 also fits
# float16 (finfo(float32).min would become -inf there, and -inf - -inf is NaN).
MASK_VALUE = -1e4

LinearFn = Callable[[Tensor, Any, Any], Tensor]  # (x, weight, bias) -> x @ weight.T + bias


@dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face ``config.json`` that the encoder reads."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BertConfig:
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in data.items() if k in known})
        if cfg.hidden_act not in ("gelu", "gelu_new", "gelu_pytorch_tanh"):
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
    """The names of every dense layer ``_linear`` runs (what a quantizer would convert)."""
    parts = (
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    )
    return [f"encoder.layer.{i}.{p}" for i in range(config.num_hidden_layers) for p in parts]


class BertModel:
    """BERT encoder + attention-masked mean pooling + L2 normalization (sentence-transformers'
    ``Transformer -> Pooling(mean) -> Normalize``)."""

    # Captured (batch, seq) shapes kept; the least recently used is dropped beyond this. On
    # WebNN each captured graph holds its own copy of the weights (~90 MB for MiniLM in fp32).
    MAX_TRACES = 8

    def __init__(
        self,
        config: BertConfig,
        weights: Mapping[str, Any],
        *,
        linear_fn: LinearFn | None = None,
        normalize: bool = True,
    ) -> None:
        self.config = config
        self.normalize = normalize  # sentence-transformers' Normalize module (L2)
        self.weights = {checkpoint_name(k): v for k, v in weights.items()}
        missing = [n for n in needed_weights(config) if n not in self.weights]
        if missing:
            raise KeyError(f"BertModel: the weights lack {missing[:4]} ({len(missing)} missing)")
        self.linear_fn: LinearFn = linear_fn or F.linear
        self._gelu = "none" if config.hidden_act == "gelu" else "tanh"
        self._encode = capture(self.forward, max_traces=self.MAX_TRACES)

    @property
    def device(self) -> Device:
        return self.weights["embeddings.word_embeddings.weight"].device

    def _linear(self, x: Tensor, name: str) -> Tensor:
        """Every dense layer: ``x @ W.T + b`` for weight ``{name}.weight`` (out, in)."""
        return self.linear_fn(x, self.weights[f"{name}.weight"], self.weights[f"{name}.bias"])

    def _layer_norm(self, x: Tensor, name: str) -> Tensor:
        w = self.weights
        eps = self.config.layer_norm_eps
        return F.layer_norm(x, x.shape[-1], w[f"{name}.weight"], w[f"{name}.bias"], eps)

    # -- the forward pass ----------------------------------------------------------------------
    def embeddings(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """Word + position + token-type embeddings, layer-normed: (B, S) -> (B, S, H)."""
        w = self.weights
        seq = input_ids.shape[1]
        if seq > self.config.max_position_embeddings:
            raise ValueError(
                f"BertModel: {seq} tokens exceed max_position_embeddings "
                f"{self.config.max_position_embeddings}; truncate the input"
            )
        x = F.gather(w["embeddings.word_embeddings.weight"], input_ids, 0)
        x = x + w["embeddings.position_embeddings.weight"][:seq]  # a view: positions 0..S-1
        types = w["embeddings.token_type_embeddings.weight"]
        x = x + (types[0] if token_type_ids is None else F.gather(types, token_type_ids, 0))
        return self._layer_norm(x, "embeddings.LayerNorm")

    def layer(self, x: Tensor, mask: Tensor, i: int) -> Tensor:
        """One encoder layer over the tokens *x* (B*S, H); *mask* is additive, (B, 1, 1, S).

        Tokens stay 2-D between layers so every dense layer is one plain (B*S, in) x (in, out)
        product (NumPy runs a 3-D @ 2-D matmul as B smaller ones, 1.3-2.4x slower)."""
        p = f"encoder.layer.{i}."
        b, s = mask.shape[0], mask.shape[-1]
        nh, hd = self.config.num_attention_heads, self.config.head_dim

        def heads(t: Tensor) -> Tensor:  # (B*S, H) -> (B, nh, S, hd), a view
            return t.reshape(b, s, nh, hd).permute(0, 2, 1, 3)

        q = heads(self._linear(x, p + "attention.self.query"))
        k = heads(self._linear(x, p + "attention.self.key"))
        v = heads(self._linear(x, p + "attention.self.value"))
        ctx = F.attention(q, k, v, mask, 1.0 / math.sqrt(hd))
        ctx = ctx.permute(0, 2, 1, 3).reshape(b * s, nh * hd)
        x = self._layer_norm(
            self._linear(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm"
        )
        inner = self._linear(x, p + "intermediate.dense").gelu(self._gelu)
        return self._layer_norm(self._linear(inner, p + "output.dense") + x, p + "output.LayerNorm")

    def hidden_states(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """The last layer's token states (B, S, H)."""
        b, s = input_ids.shape
        keep = attention_mask.cast("float32")
        additive = ((keep - 1.0) * -MASK_VALUE).reshape(b, 1, 1, s)
        x = self.embeddings(input_ids, token_type_ids).reshape(b * s, -1)
        for i in range(self.config.num_hidden_layers):
            x = self.layer(x, additive, i)
        return x.reshape(b, s, -1)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """Sentence embeddings (B, H): mean of the unmasked token states, L2-normalized
        (unless ``normalize`` is off)."""
        x = self.hidden_states(input_ids, attention_mask, token_type_ids)
        keep = attention_mask.cast("float32")
        summed = (x * keep.reshape(*keep.shape, 1)).sum(1)
        mean = summed / F.maximum(keep.sum(1, keepdims=True), 1e-9)  # torch.clamp(min=1e-9)
        if not self.normalize:
            return mean
        norm = (mean * mean).sum(-1, keepdims=True).sqrt()
        return mean / F.maximum(norm, 1e-12)  # torch.nn.functional.normalize's eps

    def encode(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """``forward`` through ``webaccel.capture``: traced per (B, S) signature, replayed."""
        if token_type_ids is None:
            return self._encode(input_ids, attention_mask)
        return self._encode(input_ids, attention_mask, token_type_ids)

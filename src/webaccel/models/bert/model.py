"""A BERT encoder from webaccel ops, with the pooling of a sentence-transformers checkpoint.

``BertModel(config, weights)`` takes the checkpoint's tensors by their Hugging Face names
(``bert.`` prefixes dropped). ``encode(input_ids, attention_mask)`` runs a captured forward
pass (``webaccel.capture``): traced once per (batch, seq) signature, replayed after, so Python
builds the graph (~120 steps for 6 layers) only once per shape. ``features`` does the same
with another pooling (or none: the token states), each pooling captured on its own.

Every dense layer goes through ``_linear``, the one place weight-only quantization plugs in:
replace ``weights[name + ".weight"]`` for the names of ``dense_layers(config)`` by
``webaccel.quant.QuantizedWeight``s (``webaccel.linear`` runs them), or pass another
``linear_fn``. Do it before the first ``encode``: a trace keeps its weights as constants.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ... import functional as F
from ...capture import Captured, capture
from ...device import Device
from ...errors import ClosedError
from ...tensor import Tensor
from ..pooling import Pooling, check_pooling, l2_normalize, pool, pooled_width
from .config import BertConfig
from .names import checkpoint_name, needed_weights

# Added to the attention scores of padded keys. HF adds finfo(dtype).min; anything this
# negative gives those keys exp(-1e4 - max) == 0 in float32 as well, and -1e4 also fits
# float16 (finfo(float32).min would become -inf there, and -inf - -inf is NaN).
MASK_VALUE = -1e4

LinearFn = Callable[[Tensor, Any, Any], Tensor]  # (x, weight, bias) -> x @ weight.T + bias


class BertModel:
    """BERT encoder + attention-masked pooling (mean by default) + L2 normalization
    (sentence-transformers' ``Transformer -> Pooling -> Normalize``)."""

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
        pooling: str | Sequence[str] = "mean",
    ) -> None:
        self.config = config
        self.normalize = normalize  # sentence-transformers' Normalize module (L2)
        self.pooling: Pooling = check_pooling(pooling)  # its Pooling module's mode(s)
        self.weights = {checkpoint_name(k): v for k, v in weights.items()}
        missing = [n for n in needed_weights(config) if n not in self.weights]
        if missing:
            raise KeyError(f"BertModel: the weights lack {missing[:4]} ({len(missing)} missing)")
        self.linear_fn: LinearFn = linear_fn or F.linear
        self._gelu = "none" if config.hidden_act == "gelu" else "tanh"
        self._encode = capture(self.forward, max_traces=self.MAX_TRACES)
        # features() with another pooling / normalize than the model's: one capture each
        self._heads: dict[tuple[Pooling, bool], Captured] = {
            (self.pooling, self.normalize): self._encode
        }
        self._device: Device = self.weights["embeddings.word_embeddings.weight"].device
        self.closed = False

    @property
    def device(self) -> Device:
        return self._device

    def close(self) -> None:
        """Release the model's device memory now: every captured graph (its replay plan, and
        on WebNN its copy of the weights) and this model's hold on each weight. A weight
        shared with another model (``webaccel.weights``) stays for that model: only the last
        holder's release frees a storage. The device's pools of free buffers are emptied
        too (``Device.trim``), so that the freed memory goes back to the browser rather than
        waiting for reuse. Idempotent; ``encode`` / ``features`` raise ``ClosedError``
        afterwards."""
        if self.closed:
            return
        self.closed = True
        for head in self._heads.values():
            head.close()
        self._heads.clear()
        # dropping the dict's tensors releases their storages at once (refcounting: nothing
        # else in the model refers to them once the traces' constants are gone)
        self.weights.clear()
        # the freed weights would wait in the device's pools (up to 256 MB) for a buffer of
        # their size: an unloaded model gives its memory back to the browser instead
        self._device.trim()

    def _check_open(self, call: str) -> None:
        if self.closed:
            raise ClosedError(
                f"BertModel.{call}: this model was closed (close() released its weights and "
                f"captured graphs on {self._device.name}); load it again to use it"
            )

    @property
    def output_dim(self) -> int:
        """The width of ``encode``'s vectors (hidden_size, times the pooling modes)."""
        return pooled_width(self.pooling, self.config.hidden_size)

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
        """Sentence embeddings (B, H): the model's pooling of the unmasked token states,
        L2-normalized (unless ``normalize`` is off)."""
        return self._pooled(self.pooling, self.normalize, input_ids, attention_mask, token_type_ids)

    def _pooled(
        self,
        pooling: Pooling,
        normalize: bool,
        input_ids: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        x = self.hidden_states(input_ids, attention_mask, token_type_ids)
        out = pool(x, attention_mask, pooling)
        return l2_normalize(out) if normalize else out

    def encode(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """``forward`` through ``webaccel.capture``: traced per (B, S) signature, replayed."""
        self._check_open("encode")
        if token_type_ids is None:
            return self._encode(input_ids, attention_mask)
        return self._encode(input_ids, attention_mask, token_type_ids)

    def features(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        pooling: str | Sequence[str] | None = None,
        normalize: bool | None = None,
    ) -> Tensor:
        """``encode`` with another *pooling* (``models.pooling.POOLING``; ``"none"`` gives the
        (B, S, H) token states) and/or *normalize* (None: the model's own), captured."""
        key = (
            self.pooling if pooling is None else check_pooling(pooling),
            self.normalize if normalize is None else bool(normalize),
        )
        self._check_open("features")
        head = self._heads.get(key)
        if head is None:
            head = capture(functools.partial(self._pooled, *key), max_traces=self.MAX_TRACES)
            self._heads[key] = head
        return head(input_ids, attention_mask)

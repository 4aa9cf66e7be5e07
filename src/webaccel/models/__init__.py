"""Models written with webaccel ops, and the generic loader they share.

``loader`` (files, a URL or the store -> weights on a device, driven by a per-architecture
``spec``), ``bert/`` (the first architecture), ``pooling`` and ``sentence_transformers`` (how
token states become sentence vectors), ``SentenceEmbedder`` (text -> embeddings).

Submodules import lazily (``webaccel.models.SentenceEmbedder`` imports the embedder on first
use), so ``import webaccel`` stays light. ``safetensors``, ``tokenizer`` and ``embedder`` are
the pre-move names of ``webaccel.io.safetensors``, ``webaccel.tokenizers.wordpiece`` and
``sentence_embedder``: they work for one more release, with a DeprecationWarning.
"""

from __future__ import annotations

from ..lazy import lazy_getattr

__getattr__ = lazy_getattr(
    __name__,
    {
        "bert": ("BertConfig", "BertModel"),
        "loader": ("LoadedModel",),
        "spec": ("ModelSpec",),
        "sentence_embedder": ("SentenceEmbedder",),
    },
    modules=(
        *("architectures", "bert", "loader", "pooling", "sentence_embedder"),
        *("sentence_transformers", "spec"),
        *("embedder", "safetensors", "tokenizer"),  # deprecated aliases (one release)
    ),
)


__all__ = [
    "BertConfig",
    "BertModel",
    "LoadedModel",
    "ModelSpec",
    "SentenceEmbedder",
    "architectures",
    "bert",
    "loader",
    "pooling",
    "sentence_embedder",
    "sentence_transformers",
    "spec",
]

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

# name -> (submodule, attribute or None for the module itself)
_LAZY = {
    "BertConfig": ("bert", "BertConfig"),
    "BertModel": ("bert", "BertModel"),
    "LoadedModel": ("loader", "LoadedModel"),
    "ModelSpec": ("spec", "ModelSpec"),
    "SentenceEmbedder": ("sentence_embedder", "SentenceEmbedder"),
    "architectures": ("architectures", None),
    "bert": ("bert", None),
    "loader": ("loader", None),
    "pooling": ("pooling", None),
    "sentence_embedder": ("sentence_embedder", None),
    "sentence_transformers": ("sentence_transformers", None),
    "spec": ("spec", None),
    # deprecated aliases (one release)
    "embedder": ("embedder", None),
    "safetensors": ("safetensors", None),
    "tokenizer": ("tokenizer", None),
}


__getattr__ = lazy_getattr(__name__, _LAZY)


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

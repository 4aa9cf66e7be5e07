"""Models written with webaccel ops: a BERT sentence embedder (all-MiniLM-L6-v2) and the
safetensors reader it loads weights with.

Submodules import lazily (``webaccel.models.SentenceEmbedder`` imports the embedder on first
use), so ``import webaccel`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "BertConfig": "bert",
    "BertModel": "bert",
    "SentenceEmbedder": "embedder",
    "safetensors": None,
    "bert": None,
    "embedder": None,
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'webaccel.models' has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name] or name}", __name__)
    return module if _LAZY[name] is None else getattr(module, name)


__all__ = ["BertConfig", "BertModel", "SentenceEmbedder", "bert", "embedder", "safetensors"]

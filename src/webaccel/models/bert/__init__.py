"""BERT: ``config`` (config.json), ``names`` (checkpoint tensors), ``model`` (the encoder from
webaccel ops) and ``spec`` (what the generic loader reads: ``SPEC``)."""

from __future__ import annotations

from .config import BertConfig
from .model import MASK_VALUE, BertModel, LinearFn
from .names import checkpoint_name, dense_layers, needed_weights
from .spec import INT4_WEIGHTS, SPEC

__all__ = [
    "INT4_WEIGHTS",
    "MASK_VALUE",
    "SPEC",
    "BertConfig",
    "BertModel",
    "LinearFn",
    "checkpoint_name",
    "dense_layers",
    "needed_weights",
]

"""Deprecated alias (for one release): ``SentenceEmbedder`` lives in
``webaccel.models.sentence_embedder``, the loading in ``webaccel.models.loader``, BERT's file
names in ``webaccel.models.bert``."""

from __future__ import annotations

import warnings

from .bert.spec import INT4_WEIGHTS
from .loader import FILE_PREFIX, INT4_GROUP, INT4_SUFFIX, QUANTIZED_SUFFIX, Progress
from .sentence_embedder import (
    MODEL_NAME,
    REQUIRED,
    SOURCE_FILES,
    SentenceEmbedder,
    default_model_dir,
)
from .sentence_transformers import FILES as _ST_FILES
from .spec import WEIGHTS

warnings.warn(
    "webaccel.models.embedder moved to webaccel.models.sentence_embedder (and "
    "webaccel.models.loader); the old name goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)

# The small files the embedder kept beside the weights before tokenizer_config.json / vocab.txt
FILES = ("config.json", "tokenizer.json", *_ST_FILES)

__all__ = [
    "FILES",
    "FILE_PREFIX",
    "INT4_GROUP",
    "INT4_SUFFIX",
    "INT4_WEIGHTS",
    "MODEL_NAME",
    "QUANTIZED_SUFFIX",
    "REQUIRED",
    "SOURCE_FILES",
    "WEIGHTS",
    "Progress",
    "SentenceEmbedder",
    "default_model_dir",
]

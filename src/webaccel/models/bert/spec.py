"""BERT's checkpoint, as the loader reads it: files, config, tensor names, dense layers."""

from __future__ import annotations

from ..spec import ModelSpec
from .config import MODEL_TYPES, BertConfig
from .model import BertModel
from .names import checkpoint_name, dense_layers, needed_weights

# The tokenizer travels with the checkpoint: tokenizer.json, or (older directories) vocab.txt
# with tokenizer_config.json's flags (do_lower_case, strip_accents, special tokens).
TOKENIZER = ("tokenizer.json", "vocab.txt")
TOKENIZER_OPTIONAL = ("tokenizer_config.json",)
# int4 weights made ahead of time (tools/int4_weights.py: GPTQ, then distillation against the
# fp32 model): per dense layer ``<name>.weight.q`` (packed codes), ``.scale`` and ``.offset``,
# plus the biases and LayerNorm parameters trained with them.
INT4_WEIGHTS = "int4_g32.safetensors"


SPEC = ModelSpec(
    architecture="bert",
    model_types=MODEL_TYPES,
    parse_config=BertConfig.from_json,
    needed_weights=needed_weights,
    dense_layers=dense_layers,
    build=BertModel,
    checkpoint_name=checkpoint_name,
    files=(TOKENIZER,),
    optional=TOKENIZER_OPTIONAL,
    int4_weights=INT4_WEIGHTS,
)

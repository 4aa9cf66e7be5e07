"""The architectures the loader reads, by the ``model_type`` of their ``config.json``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .bert import SPEC as BERT
from .spec import ModelSpec, config_model_type

SPECS: dict[str, ModelSpec] = {t: spec for spec in (BERT,) for t in spec.model_types}
DEFAULT_MODEL_TYPE = "bert"  # BERT configs from before transformers 3 have no model_type


def spec_for(files: Mapping[str, Any]) -> ModelSpec:
    """The spec for the ``config.json`` among *files* (by its ``model_type``)."""
    kind = config_model_type(files) or DEFAULT_MODEL_TYPE
    if kind not in SPECS:
        raise NotImplementedError(
            f"config.json model_type {kind!r} is not supported yet (read: {', '.join(SPECS)})"
        )
    return SPECS[kind]

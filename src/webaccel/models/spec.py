"""``ModelSpec``: what the generic loader (``models.loader``) must know of one architecture.

A spec is data plus four small functions: which files a model directory must and may hold,
how ``config.json`` becomes the architecture's config, which checkpoint tensors the model reads
(and under which name), and which of them are dense layers (what ``quantize=`` converts).
``models/bert/spec.py`` is the first; an architecture registers its spec in
``models/architectures.py`` under the ``model_type`` values of its ``config.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def _same(name: str) -> str:
    return name


@dataclass(frozen=True)
class ModelSpec:
    """How to read one architecture's checkpoint.

    *files*: small files that must be there besides ``config.json``; an entry that is a tuple
    takes the first of its names the source has (``("tokenizer.json", "vocab.txt")``).
    *optional*: small files read where present. Small files are kept in the store beside
    the weights. *int4_weights*: an optional file of int4 weights made ahead of time
    (``tools/int4_weights.py``'s format), used for ``quantize="int4"`` where present.
    """

    architecture: str
    model_types: tuple[str, ...]  # the config.json model_type values this spec reads
    parse_config: Callable[[bytes], Any]  # config.json's bytes -> the config object
    needed_weights: Callable[[Any], list[str]]  # the checkpoint names the model reads
    dense_layers: Callable[[Any], list[str]]  # layers whose ``.weight`` quantize converts
    build: Callable[..., Any]  # (config, weights, **options) -> the model
    checkpoint_name: Callable[[str], str] = _same  # a file's tensor name -> the model's
    weights: str = WEIGHTS
    files: tuple[str | tuple[str, ...], ...] = ()
    optional: tuple[str, ...] = ()
    int4_weights: str | None = None

    def dense_weights(self, config: Any) -> list[str]:
        return [f"{n}.weight" for n in self.dense_layers(config)]

    @property
    def small_files(self) -> tuple[str, ...]:
        """Every small file the loader may read (and keep in the store), in reading order."""
        names = [CONFIG]
        for entry in self.files:
            names.extend((entry,) if isinstance(entry, str) else entry)
        return (*names, *self.optional)

    @property
    def source_files(self) -> tuple[str, ...]:
        """Every file of a model directory the loader may read."""
        extra = () if self.int4_weights is None else (self.int4_weights,)
        return (self.weights, *self.small_files, *extra)


def config_model_type(files: Mapping[str, Any]) -> str | None:
    """``model_type`` of the ``config.json`` among *files* (None where it has none)."""
    data = files.get(CONFIG)
    if data is None:
        raise FileNotFoundError(f"the model's files have no {CONFIG}")
    try:
        config = json.loads(bytes(data) if not isinstance(data, str) else data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{CONFIG} is not JSON: {exc}") from None
    if not isinstance(config, Mapping):
        raise ValueError(f"{CONFIG} must hold a JSON object")
    kind = config.get("model_type")
    return kind if isinstance(kind, str) else None

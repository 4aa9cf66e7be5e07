"""What a sentence-transformers checkpoint adds around its encoder: ``modules.json`` (the
module chain), ``1_Pooling/config.json`` (the pooling mode) and ``sentence_bert_config.json``
(max_seq_length, do_lower_case), read into a ``SentenceHead``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .pooling import Pooling, check_pooling

MODULES = "modules.json"
POOLING_CONFIG = "1_Pooling/config.json"
ST_CONFIG = "sentence_bert_config.json"
FILES = (ST_CONFIG, POOLING_CONFIG, MODULES)

# The legacy boolean keys of a Pooling config, in the order sentence-transformers concatenates
# their results.
_LEGACY_MODES = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
# modules.json entries read here, by the last part of their type
_KNOWN_MODULES = ("Transformer", "Pooling", "Normalize")


@dataclass(frozen=True)
class SentenceHead:
    """How token states become a sentence embedding, and how text is prepared."""

    pooling: Pooling = "mean"
    normalize: bool = True
    max_seq_length: int | None = None
    lowercase: bool = False  # sentence_bert_config.json do_lower_case: text.lower() first

    @classmethod
    def from_files(cls, files: Mapping[str, Any]) -> SentenceHead:
        """From a checkpoint's files (missing ones absent or None). Without ``modules.json``
        it is the plain chain ``Transformer -> Pooling -> Normalize``."""
        modules = _json(files, MODULES)
        normalize = True
        if modules is not None:
            normalize = _check_modules(modules)
        pooling = _pooling_mode(_json(files, POOLING_CONFIG) or {})
        st_config = _json(files, ST_CONFIG) or {}
        limit = st_config.get("max_seq_length")
        return cls(
            pooling=pooling,
            normalize=normalize,
            max_seq_length=int(limit) if limit is not None else None,
            lowercase=bool(st_config.get("do_lower_case", False)),
        )


def _json(files: Mapping[str, Any], name: str) -> Any:
    data = files.get(name)
    if data is None:
        return None
    try:
        return json.loads(bytes(data).decode("utf-8") if not isinstance(data, str) else data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{name} is not JSON: {exc}") from None


def _check_modules(modules: Any) -> bool:
    """Whether the chain ends with Normalize; a module not read here is an error."""
    if not isinstance(modules, list):
        raise ValueError(f"{MODULES} must hold a list of modules")
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    unknown = [k for k in kinds if k not in _KNOWN_MODULES]
    if unknown:
        raise NotImplementedError(
            f"{MODULES}: the module(s) {unknown} are not supported (read: "
            f"{', '.join(_KNOWN_MODULES)})"
        )
    for m, kind in zip(modules, kinds, strict=True):
        if kind == "Pooling" and m.get("path", "1_Pooling") != "1_Pooling":
            raise NotImplementedError(
                f"{MODULES}: the Pooling module is at {m.get('path')!r}; only '1_Pooling' is read"
            )
    return "Normalize" in kinds


def _pooling_mode(config: Mapping[str, Any]) -> Pooling:
    mode = config.get("pooling_mode")
    if mode is None:
        modes = tuple(m for key, m in _LEGACY_MODES.items() if config.get(key, False))
        mode = modes or ("mean",)
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    try:
        if "none" in modes:
            raise ValueError("not a pooling of sentence-transformers")
        return check_pooling(modes)
    except ValueError:
        raise NotImplementedError(
            f"{POOLING_CONFIG}: pooling mode {modes} is not supported (read: cls, max, mean, "
            f"mean_sqrt_len_tokens)"
        ) from None

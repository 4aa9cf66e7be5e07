"""Pick the tokenizer a model's files describe: ``from_tokenizer_json`` reads ``model.type``
of a ``tokenizer.json``; ``from_files`` takes a model directory's files (``tokenizer.json``,
or BERT's ``vocab.txt`` with ``tokenizer_config.json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .base import Tokenizer
from .wordpiece import TOKENIZER_FILES, WordPieceTokenizer

# tokenizer.json model.type -> the class reading it
TOKENIZERS: dict[str, type[WordPieceTokenizer]] = {"WordPiece": WordPieceTokenizer}
# Types Hugging Face tokenizers write that are planned here (the next issue's BPE).
NOT_YET = {"BPE": "BPE tokenizers are not supported yet"}


def model_type(spec: Mapping[str, Any]) -> str:
    """The ``model.type`` of a parsed tokenizer.json (older files omit it for WordPiece)."""
    model = spec.get("model")
    if not isinstance(model, Mapping):
        raise ValueError("tokenizer.json has no model object")
    kind = model.get("type")
    if kind is None and "vocab" in model and "merges" not in model:
        return "WordPiece"  # tokenizers < 0.9 wrote no type; a vocab without merges
    if not isinstance(kind, str):
        raise ValueError(f"tokenizer.json: model.type must be a string, not {kind!r}")
    return kind


def from_tokenizer_json(
    text_or_dict: str | bytes | bytearray | Mapping[str, Any],
    *,
    model_max_length: int | None = None,
) -> Tokenizer:
    """The tokenizer a ``tokenizer.json`` (its text, bytes, or the parsed dict) describes."""
    if isinstance(text_or_dict, Mapping):
        spec = text_or_dict
    elif isinstance(text_or_dict, str | bytes | bytearray):
        spec = _parsed(text_or_dict)
    else:
        raise TypeError(
            f"from_tokenizer_json takes JSON text or a dict, not {type(text_or_dict).__name__}"
        )
    kind = model_type(spec)
    if kind not in TOKENIZERS:
        known = ", ".join(TOKENIZERS)
        why = NOT_YET.get(kind) or f"{kind!r} tokenizers are not supported"
        raise NotImplementedError(f"{why} (tokenizer.json model.type {kind!r}; read: {known})")
    return TOKENIZERS[kind].from_json(spec, model_max_length=model_max_length)


def from_files(
    files: Mapping[str, bytes | bytearray | str | None],
    *,
    model_max_length: int | None = None,
) -> Tokenizer:
    """The tokenizer of a model's files, ``{name: bytes or text}`` (missing ones absent or
    None): ``tokenizer.json`` by its ``model.type``, else ``vocab.txt`` (WordPiece) with the
    flags of ``tokenizer_config.json``. *model_max_length* defaults to that file's."""
    present = {k: v for k, v in files.items() if k in TOKENIZER_FILES and v is not None}
    if "tokenizer.json" in present:
        data = present["tokenizer.json"]
        spec = _parsed(data if isinstance(data, str) else bytes(data).decode("utf-8"))
        kind = model_type(spec)
        if kind not in TOKENIZERS:
            from_tokenizer_json(spec)  # raises the error naming the type
        parsed = {**present, "tokenizer.json": spec}  # parsed once (MiniLM's is 700 kB)
        return TOKENIZERS[kind].from_files(parsed, model_max_length=model_max_length)
    if "vocab.txt" in present:
        return WordPieceTokenizer.from_files(present, model_max_length=model_max_length)
    raise FileNotFoundError(
        f"no tokenizer: the model's files hold neither tokenizer.json nor vocab.txt "
        f"(got {sorted(k for k, v in files.items() if v is not None)})"
    )


def _parsed(text: str | bytes | bytearray) -> Mapping[str, Any]:
    """A tokenizer.json's text (or its bytes) parsed, a clear error where it is no JSON
    object."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"tokenizer.json is not JSON: {exc}") from exc
    if not isinstance(spec, Mapping):
        raise ValueError("tokenizer.json must hold a JSON object")
    return spec

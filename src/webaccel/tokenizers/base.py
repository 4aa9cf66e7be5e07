"""What every tokenizer gives a model: the ``Tokenizer`` base class and the ``Encoding`` of a
batch. WordPiece implements it today (``tokenizers.wordpiece``); BPE is next.

A tokenizer class supplies the vocabulary lookups, ``decode`` and ``_content_ids`` (one text's
ids, no special tokens); the base class holds what every kind does the same way around them:
the template's special tokens (``[CLS] $A [SEP]`` for BERT), truncation and padding.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Padding = bool | Literal["longest", "max_length", "do_not_pad"]


@dataclass(frozen=True)
class Encoding:
    """A tokenized batch: rows padded to one length (unless padding was off).

    ``lengths[i]`` is the number of real tokens in row ``i`` (the ones with mask 1).
    """

    input_ids: list[list[int]]
    attention_mask: list[list[int]]
    token_type_ids: list[list[int]]
    lengths: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class Template:
    """The special tokens a tokenizer puts around one text (BERT's ``[CLS] $A [SEP]``): the
    (id, type id) pairs before and after it, and the type id of the text's own ids."""

    prefix: tuple[tuple[int, int], ...] = ()
    suffix: tuple[tuple[int, int], ...] = ()
    sequence_type_id: int = 0

    @classmethod
    def from_post_processor(
        cls, spec: Mapping[str, Any] | None, vocab: Mapping[str, int]
    ) -> Template:
        """The single-text template of a tokenizer.json's ``post_processor`` (None: none);
        *vocab* gives the ids of template tokens the spec does not list."""
        if spec is None:
            return cls()
        kind = spec.get("type")
        if kind in ("BertProcessing", "RobertaProcessing"):
            (_, cls_id), (_, sep_id) = spec["cls"], spec["sep"]
            return cls(((int(cls_id), 0),), ((int(sep_id), 0),))
        if kind != "TemplateProcessing":
            raise ValueError(f"unsupported post_processor {kind!r}")
        special = spec.get("special_tokens") or {}
        before: list[tuple[int, int]] = []
        after: list[tuple[int, int]] = []
        seq_type: int | None = None
        for item in spec.get("single") or ():
            if "Sequence" in item:
                if item["Sequence"].get("id", "A") != "A" or seq_type is not None:
                    raise ValueError(f"the single template must hold $A once: {spec.get('single')}")
                seq_type = int(item["Sequence"].get("type_id", 0))
                continue
            if "SpecialToken" not in item:
                raise ValueError(f"unknown template piece {item!r}")
            name = item["SpecialToken"]["id"]
            type_id = int(item["SpecialToken"].get("type_id", 0))
            if name in special:
                ids = [int(i) for i in special[name]["ids"]]
            elif name in vocab:
                ids = [vocab[name]]
            else:
                raise ValueError(f"template token {name!r} has no id")
            (before if seq_type is None else after).extend((i, type_id) for i in ids)
        if seq_type is None:
            raise ValueError(f"the single template has no $A: {spec.get('single')}")
        return cls(tuple(before), tuple(after), seq_type)


NO_TEMPLATE = Template()  # no special tokens around a text


class Tokenizer(ABC):
    """Text to ids and back, as models and pipelines use it.

    ``encode`` gives one text's ids (special tokens included); ``encode_batch`` (also the
    tokenizer's ``__call__``) gives a padded, truncated ``Encoding`` for a model; ``decode``
    turns ids back into text. ``pad_id`` / ``unk_id`` / ``special_ids`` are the special ids.
    """

    unk_id: int | None
    special_ids: frozenset[int]

    def __init__(
        self,
        template: Template = NO_TEMPLATE,
        *,
        pad_id: int | None = None,
        pad_type_id: int = 0,
        model_max_length: int | None = None,
    ) -> None:
        """*template*: the special tokens put around each text; *pad_id* / *pad_type_id* fill
        padded rows; *model_max_length*: ``encode_batch``'s default *max_length*."""
        self.template = template
        self.pad_id = pad_id
        self.pad_type_id = int(pad_type_id)
        self.model_max_length = model_max_length
        self._prefix_ids = [i for i, _ in template.prefix]
        self._prefix_types = [t for _, t in template.prefix]
        self._suffix_ids = [i for i, _ in template.suffix]
        self._suffix_types = [t for _, t in template.suffix]
        self._sequence_type_id = int(template.sequence_type_id)

    # -- what each kind of tokenizer supplies ----------------------------------------------------
    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def token_to_id(self, token: str) -> int | None: ...

    @abstractmethod
    def id_to_token(self, i: int) -> str | None: ...

    @abstractmethod
    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str: ...

    @abstractmethod
    def _content_ids(self, text: str) -> list[int]:
        """The ids of *text* without the template's special tokens."""

    # -- the same for every kind -----------------------------------------------------------------
    @property
    def num_special_tokens(self) -> int:
        """How many ids the template adds around a text ([CLS] and [SEP]: 2)."""
        return len(self._prefix_ids) + len(self._suffix_ids)

    def encode(
        self, text: str, *, add_special_tokens: bool = True, max_length: int | None = None
    ) -> list[int]:
        """The ids of one text, ``[CLS] ... [SEP]`` included. Not truncated unless *max_length*
        is given (then the specials stay and the text is cut to fit)."""
        ids = self._content_ids(text)
        if max_length is not None:
            room = self._check_max_length(max_length, add_special_tokens)
            del ids[room:]
        if add_special_tokens:
            return self._prefix_ids + ids + self._suffix_ids
        return ids

    def encode_batch(
        self,
        texts: str | Iterable[str],
        max_length: int | None = None,
        padding: Padding = True,
        truncation: bool = True,
        *,
        add_special_tokens: bool = True,
    ) -> Encoding:
        """Tokenize a batch for a model.

        *max_length* defaults to ``model_max_length``; with *truncation* each row keeps its
        ``[CLS]`` and ``[SEP]`` and at most that many ids in all. *padding*: True or
        ``"longest"`` pads to the longest row, ``"max_length"`` to *max_length*, False or
        ``"do_not_pad"`` leaves rows ragged. A single str is a batch of one.
        """
        if isinstance(texts, str):
            texts = [texts]
        elif isinstance(texts, bytes | bytearray) or not isinstance(texts, Iterable):
            raise TypeError(f"texts must be a list of str, not {type(texts).__name__}")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be str, not {type(text).__name__}")
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise ValueError(
                f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', "
                f"not {padding!r}"
            )
        limit = self.model_max_length if max_length is None else max_length
        room = None
        if limit is not None and (truncation or padding == "max_length"):
            room = self._check_max_length(limit, add_special_tokens)
        elif padding == "max_length":
            raise ValueError("padding='max_length' needs max_length (or a model_max_length)")

        prefix, suffix = (self._prefix_ids, self._suffix_ids) if add_special_tokens else ([], [])
        types_prefix = self._prefix_types if add_special_tokens else []
        types_suffix = self._suffix_types if add_special_tokens else []
        rows: list[list[int]] = []
        types: list[list[int]] = []
        for text in texts:
            ids = self._content_ids(text)
            if truncation and room is not None:
                del ids[room:]
            rows.append(prefix + ids + suffix)
            types.append(types_prefix + [self._sequence_type_id] * len(ids) + types_suffix)
        lengths = [len(r) for r in rows]

        if padding in (True, "longest"):
            width = max(lengths, default=0)
        elif padding == "max_length":
            width = int(limit)  # type: ignore[arg-type]
        else:
            width = 0
        if any(n < width for n in lengths) and self.pad_id is None:
            raise ValueError("padding needs a pad token, and this vocabulary has none")
        pad, pad_type = self.pad_id, self.pad_type_id
        masks = []
        for row, type_row, n in zip(rows, types, lengths, strict=True):
            gap = max(0, width - n)
            row += [pad] * gap  # type: ignore[list-item]
            type_row += [pad_type] * gap
            masks.append([1] * n + [0] * gap)
        return Encoding(rows, masks, types, lengths)

    # The call form transformers' tokenizers have: the same function, not a wrapper over it.
    __call__ = encode_batch

    def _check_max_length(self, max_length: int, add_special_tokens: bool) -> int:
        """Room left for the text's own ids within *max_length*."""
        if isinstance(max_length, bool) or not isinstance(max_length, int):
            raise TypeError(f"max_length must be an int, not {type(max_length).__name__}")
        specials = self.num_special_tokens if add_special_tokens else 0
        least = max(specials, 1)
        if max_length < least:
            raise ValueError(
                f"max_length must be at least {least} (room for the {specials} special tokens "
                f"the template adds), got {max_length}"
            )
        return max_length - specials

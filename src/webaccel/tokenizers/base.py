"""What every tokenizer gives a model: the ``Tokenizer`` interface and the ``Encoding`` of a
batch. WordPiece implements it today (``tokenizers.wordpiece``); BPE is next."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

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


@runtime_checkable
class Tokenizer(Protocol):
    """Text to ids and back, as models and pipelines use it.

    ``encode`` gives one text's ids (special tokens included); ``encode_batch`` (also the
    tokenizer's ``__call__``) gives a padded, truncated ``Encoding`` for a model; ``decode``
    turns ids back into text. ``pad_id`` / ``unk_id`` / ``special_ids`` are the special ids.
    """

    pad_id: int | None
    unk_id: int | None
    special_ids: frozenset[int]
    model_max_length: int | None

    @property
    def vocab_size(self) -> int: ...

    def token_to_id(self, token: str) -> int | None: ...

    def id_to_token(self, i: int) -> str | None: ...

    def encode(
        self, text: str, *, add_special_tokens: bool = True, max_length: int | None = None
    ) -> list[int]: ...

    def encode_batch(
        self,
        texts: str | Iterable[str],
        max_length: int | None = None,
        padding: Padding = True,
        truncation: bool = True,
        *,
        add_special_tokens: bool = True,
    ) -> Encoding: ...

    def __call__(
        self,
        texts: str | Iterable[str],
        max_length: int | None = None,
        padding: Padding = True,
        truncation: bool = True,
        *,
        add_special_tokens: bool = True,
    ) -> Encoding: ...

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str: ...

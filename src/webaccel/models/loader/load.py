"""``load_async``: a model's files -> its config, its weights on a device, and its small files.

The source is read lazily (``ModelFiles``). With a *store*, the model is looked up first, as
*name* at *version* (default: the sha-256 of the weights file where the source holds its bytes,
else the store's latest): found, everything comes from the store and the source is not read;
missing, the source is read and kept there first. With *quantize* (``"int8"`` or ``"int4"``),
the spec's dense layers are quantized at load from the float weights, which never upload, and
what was made is kept in the store for the next load; for int4, the spec's file of int4
weights made ahead of time is used instead where the source (or the store) has it.

Every weight gets a restore record for a device loss (``webaccel.restore``): those read from
the store through ``weights.load`` (``weights.StoredTensor``), those read from the source a
``restore.SourceTensor`` (where the source can be read again), those quantized here from the
store's floats a record that reads and quantizes them again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ... import quant, weights
from ...device import Device, get_device, set_restore
from ...io import safetensors
from ...restore import Reread
from ...store import Store, tensor_key
from ...tensor import Tensor, from_buffer
from ..architectures import spec_for
from ..spec import CONFIG, WEIGHTS, ModelSpec
from . import stored
from .quantized import (
    INT4_GROUP,
    assemble,
    check_scheme,
    int4_file_tensors,
    kept_parts,
    quantize_parts,
    quantize_weight,
    same_shape,
    weight_parts,
)
from .restore import SourceRecords
from .sources import ModelFiles, Source
from .types import Progress


@dataclass
class LoadedModel:
    """What ``load_async`` gives: enough to build the model (``spec.build``) and its
    tokenizer, plus where things came from."""

    spec: ModelSpec
    config: Any
    weights: dict[str, Any]  # checkpoint name -> Tensor or QuantizedWeight, on the device
    files: dict[str, bytes]  # the small files (config, tokenizer, ...)
    version: str | None  # the store version (None: no store and none asked for)
    name: str
    source_reads: list[str] = field(default_factory=list)  # none: all from the store
    quantized_by: str | None = None  # None, "load", or the int4 file's name

    def build(self, **options: Any) -> Any:
        """The model (``spec.build(config, weights, **options)``)."""
        return self.spec.build(self.config, self.weights, **options)


async def load_async(
    source: Source | ModelFiles,
    *,
    name: str,
    spec: ModelSpec | None = None,
    device: str | Device | None = None,
    store: Store | None = None,
    version: str | None = None,
    progress: Progress | None = None,
    quantize: str | None = None,
    extra_files: Sequence[str] = (),
    who: str = "load",
) -> LoadedModel:
    """Load model *name* from *source* (and/or *store*) onto *device*.

    *spec*: the architecture (default: by ``config.json``'s ``model_type``, see
    ``models.architectures``). *extra_files*: optional small files a caller reads beside the
    spec's (sentence-transformers' pooling config), kept in the store likewise.
    *progress(done, total)* reports bytes saved, loaded or uploaded. *who* starts errors.
    """
    check_scheme(quantize)
    dev = get_device(device)
    weights_file = spec.weights if spec is not None else WEIGHTS
    src = source if isinstance(source, ModelFiles) else ModelFiles(source, who)
    if store is not None and version is None and src.in_memory(weights_file):
        version = _sha256(await src.get(weights_file))
    hit = store is not None and stored.has(store, name, version)
    if hit:
        version = version or stored.latest_version(store, name)  # type: ignore[arg-type]
        files = await stored.read_files(store, name, version)  # type: ignore[arg-type]
        spec = spec or spec_for(files)
    else:
        if store is not None and version is None:  # only a store needs the version
            version = _sha256(await src.get(weights_file))
        spec, files = await _small_files(src, spec, extra_files)
    config = spec.parse_config(files[CONFIG])

    given: dict[str, Any] = {}  # weights that replace the float file's
    by = None if quantize is None else "load"
    if quantize == "int4" and spec.int4_weights is not None:
        given = await _int4_weights(src, spec, store, name, version, dev)
        by = spec.int4_weights if given else by
    if quantize is not None and not given and store is not None:  # quantized before
        kept = await stored.load_quantized(store, name, version, quantize, dev)
        if kept is not None:
            group = quant.DEFAULT_GROUP[quantize]
            key = name + stored.QUANTIZED_SUFFIX[quantize]
            given = assemble(kept, group, key, spec.checkpoint_name)
    where = spec.int4_weights or "the int4 file"
    if hit:
        weights, made = await _from_store(
            store,
            name,
            version,
            spec,
            config,
            dev,
            progress,
            quantize,
            given,
            where,  # type: ignore[arg-type]
        )
    else:
        weights, made = await _from_source(
            src, spec, config, files, dev, store, name, version, progress, quantize, given, where
        )
    if made and store is not None:  # keep what was quantized, for the next load
        await stored.save_quantized(store, name, version, quantize, kept_parts(made))  # type: ignore[arg-type]
    return LoadedModel(spec, config, weights, files, version, name, src.reads, by)


def _sha256(data: Any) -> str:
    return hashlib.sha256(data).hexdigest()


async def _small_files(
    src: ModelFiles, spec: ModelSpec | None, extra_files: Sequence[str]
) -> tuple[ModelSpec, dict[str, bytes]]:
    """The spec (by config.json where not given) and the small files it reads."""
    files: dict[str, bytes] = {CONFIG: await src.get(CONFIG)}  # type: ignore[dict-item]
    spec = spec or spec_for(files)
    for entry in spec.files:
        if isinstance(entry, str):
            files[entry] = await src.get(entry)  # type: ignore[assignment]
        else:
            fname, data = await src.first(entry)
            files[fname] = data
    for fname in (*spec.optional, *extra_files):
        data = await src.get(fname, required=False)
        if data is not None:
            files[fname] = data
    return spec, files


def _check_complete(wanted: Sequence[str], by_name: Mapping[str, Any], where: str) -> None:
    missing = [k for k in wanted if k not in by_name]
    if missing:
        raise KeyError(f"{where} lacks {missing[:4]} ({len(missing)} tensors missing)")


async def _from_source(
    src: ModelFiles,
    spec: ModelSpec,
    config: Any,
    files: Mapping[str, bytes],
    dev: Device,
    store: Store | None,
    name: str,
    version: str | None,
    progress: Progress | None,
    quantize: str | None,
    given: Mapping[str, Any],
    where: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The weights from the source's file (kept in *store* first, where given), and the host
    parts of the dense layers quantized here."""
    buffer = await src.get(spec.weights)
    infos = safetensors.load(buffer)
    if store is not None:
        tensors = {k: safetensors.host_data(buffer, info) for k, info in infos.items()}
        await stored.save_model(store, name, version, tensors, files, progress)
    by_name = {spec.checkpoint_name(k): info for k, info in infos.items()}
    wanted = spec.needed_weights(config)
    _check_complete(wanted, by_name, spec.weights)
    dense = set(spec.dense_weights(config)) if quantize is not None else set()
    total = sum(by_name[k].nbytes for k in wanted)
    done, weights, made = 0, {}, {}
    # After a device loss the weights come back from the store where the file was kept
    # there, else from the source (where it can be read again)
    records = SourceRecords(src.source, src.who)
    manifest = store.manifest(name, version) if store is not None else None
    for k in wanted:
        info = by_name[k]
        if k in given:  # the int4 file's (its codes, or its trained biases and LayerNorms)
            weights[k] = same_shape(given[k], info.shape, k, where)
        elif k in dense:  # quantized straight from the file's bytes: the float never uploads
            data, dtype, _ = safetensors.host_data(buffer, info)
            made[k], weights[k] = quantize_weight(data, dtype, info.shape, quantize, dev)  # type: ignore[arg-type]
            for part, t in weight_parts(weights[k]).items():
                if store is not None:
                    _requantized_from_store(t, store, name, version, info.name, quantize, part)  # type: ignore[arg-type]
                else:
                    what = f"{k} ({quantize} {part}) quantized from {spec.weights!r}"
                    records.attach(t, spec.weights, _quantized_part(info, quantize, part), what)  # type: ignore[arg-type]
        else:
            weights[k] = safetensors.to_tensor(buffer, info, dev)
            if manifest is not None:
                _from_stored(weights[k], store, manifest, info.name)  # type: ignore[arg-type]
            else:
                records.attach(weights[k], spec.weights, _plain(info), f"{k} of {spec.weights!r}")
        done += by_name[k].nbytes
        if progress is not None and store is None:
            progress(done, total)
    return weights, made


async def _from_store(
    store: Store,
    name: str,
    version: str,
    spec: ModelSpec,
    config: Any,
    dev: Device,
    progress: Progress | None,
    quantize: str | None,
    given: Mapping[str, Any],
    where: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``_from_source``'s figures from the store, reading only what is used: the dense layers
    to quantize as host bytes (they never upload as floats); the weights that *given*
    replaces not at all; the rest straight to *dev*."""
    layout = stored.layout(store, name, version)
    by_name = {spec.checkpoint_name(k): k for k in layout}
    wanted = spec.needed_weights(config)
    _check_complete(wanted, by_name, f"store model {name!r}")
    dense = set(spec.dense_weights(config)) if quantize is not None else set()
    host = [by_name[k] for k in wanted if k in dense and k not in given]
    device = [by_name[k] for k in wanted if k not in dense and k not in given]
    sizes = [sum(layout[k]["nbytes"] for k in keys) for keys in (device, host)]

    def step(start: int) -> Progress | None:  # one bar over both reads
        if progress is None:
            return None
        return lambda done, _: progress(start + done, sum(sizes))

    loaded: dict[str, Any] = {}
    floats: dict[str, Any] = {}
    if device:
        loaded = await stored.load_tensors(store, name, version, dev, device, step(0))
    if host:
        floats = await stored.read_tensors(store, name, version, host, step(sizes[0]))
    weights, made = {}, {}
    for k in wanted:
        if k in given:
            weights[k] = same_shape(given[k], layout[by_name[k]]["shape"], k, where)
        elif k in dense:
            made[k], weights[k] = quantize_weight(*floats[by_name[k]], quantize, dev)  # type: ignore[arg-type]
            for part, t in weight_parts(weights[k]).items():
                _requantized_from_store(t, store, name, version, by_name[k], quantize, part)  # type: ignore[arg-type]
        else:
            weights[k] = loaded[by_name[k]]
    return weights, made


def _from_stored(t: Tensor, store: Store, manifest: dict[str, Any], tensor: str) -> None:
    """Restore *t* (uploaded from the source's bytes just kept in *store*) from the store."""
    record = next(r for r in manifest["tensors"] if r["name"] == tensor)
    if t._node.storage is not None:
        restore = weights.StoredTensor(
            store, manifest["name"], manifest["version"], tensor, tensor_key(manifest, record)
        )
        set_restore(t._node.storage, restore)


def _int4_entry(fname: str, key: str) -> Any:
    """A ``SourceTensor`` extract: tensor *key* of the int4 file (the file parsed once per
    restore)."""

    def extract(buffer: Any, memo: dict[Any, Any]) -> Any:
        if fname not in memo:
            memo[fname] = int4_file_tensors(buffer, fname)
        return memo[fname][key][0]

    return extract


def _plain(info: safetensors.TensorInfo) -> Any:
    """A ``SourceTensor`` extract: the tensor's bytes as loaded (dtype converted)."""
    return lambda buffer, memo: safetensors.host_data(buffer, info)[0]


def _quantized_part(info: safetensors.TensorInfo, scheme: str, part: str) -> Any:
    """A ``SourceTensor`` extract: one part of the weight quantized at load (made once per
    weight within one restore, for all its parts)."""

    def extract(buffer: Any, memo: dict[Any, Any]) -> Any:
        if info.name not in memo:
            data, dtype, _ = safetensors.host_data(buffer, info)
            memo[info.name] = quantize_parts(data, dtype, info.shape, scheme)
        return memo[info.name][part][0]

    return extract


def _requantized_from_store(
    t: Tensor, store: Store, name: str, version: str, tensor: str, scheme: str, part: str
) -> None:
    """Restore *t* (a part of a weight quantized at load from the store's floats) by reading
    the floats again and quantizing them again."""

    async def read() -> Any:
        floats = await stored.read_tensors(store, name, version, [tensor], None)
        return quantize_parts(*floats[tensor], scheme)[part][0]

    what = f"{tensor} ({scheme} {part}) quantized from store model {name!r} version {version!r}"
    if t._node.storage is not None:
        set_restore(t._node.storage, Reread(read, what))


async def _int4_weights(
    src: ModelFiles,
    spec: ModelSpec,
    store: Store | None,
    name: str,
    version: str | None,
    dev: Device,
) -> dict[str, Any]:
    """The int4 file's weights by checkpoint name (QuantizedWeight for the dense layers,
    tensors for the trained parameters), from the store, else from the source (kept in the
    store when there is one); {} where neither has it.

    The store's copy is used when the source holds the same bytes in memory, or when the
    source is lazy (as for the float weights: a lazy source is not read when the store has
    the model)."""
    fname = spec.int4_weights
    assert fname is not None
    held = digest = None
    if store is not None and version is not None:
        if src.in_memory(fname):
            digest = _sha256(await src.get(fname))
        held = stored.find_int4(store, name, version, digest)
    if held is not None:
        entries = await stored.load_int4(store, name, held, dev)  # type: ignore[arg-type]
    else:
        buffer = await src.get(fname, required=False)
        if buffer is None:
            return {}
        raw = int4_file_tensors(buffer, fname)
        if store is not None and version is not None:
            await stored.save_int4(store, name, version, digest or _sha256(buffer), raw)
        entries = {k: from_buffer(d, shape, dtype, dev) for k, (d, dtype, shape) in raw.items()}
        records = SourceRecords(src.source, src.who)
        for k, t in entries.items():
            records.attach(t, fname, _int4_entry(fname, k), f"{k} of {fname!r}")
    return assemble(entries, INT4_GROUP, fname, spec.checkpoint_name, offsets=True)

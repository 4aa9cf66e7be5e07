"""Weight-only quantization at load, and quantized weights read back (from the store, or a
file of int4 weights made ahead of time), as ``webaccel.quant.QuantizedWeight``s."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ... import quant
from ...device import Device
from ...io import safetensors
from .stored import HostTensor

SCHEMES = (None, "int8", "int4")
INT4_GROUP = 32  # the group size of the int4 file's scales (tools/int4_weights.py)


def check_scheme(quantize: Any) -> None:
    if quantize not in SCHEMES:
        raise ValueError(f"quantize is None, 'int8' or 'int4', not {quantize!r}")


def quantize_weight(
    data: Any, dtype: str, shape: Sequence[int], scheme: str, dev: Device
) -> tuple[dict[str, Any], Any]:
    """(the host parts to keep in the store, the QuantizedWeight on *dev*) of a float weight."""
    parts = quantize_parts(data, dtype, shape, scheme)
    return parts, quant.from_host(parts, quant.DEFAULT_GROUP[scheme], dev)


def quantize_parts(data: Any, dtype: str, shape: Sequence[int], scheme: str) -> dict[str, Any]:
    """``quant.quantize_host``'s parts of a float weight, as quantizing at load makes them
    (the same bits every time: what a restore after a device loss makes again)."""
    if dtype == "float16":  # typed, so quantize reads halves rather than float32s
        data = memoryview(data).cast("B").cast("e")
    elif dtype != "float32":
        raise TypeError(f"{scheme} quantization takes float32 or float16 weights, not {dtype}")
    # int4 is asymmetric (16 codes over each group's [min, max], plus an offset): on MiniLM's
    # dense layers its min cosine to fp32 is 0.933 against 0.872 symmetric
    return quant.quantize_host(data, scheme, shape=tuple(shape), asymmetric=scheme == "int4")


def weight_parts(value: Any) -> dict[str, Any]:
    """A loaded weight's device tensors by part: ``{"": tensor}``, or a QuantizedWeight's
    ``{"q", "scale", "offset"}`` (those it has)."""
    if isinstance(value, quant.QuantizedWeight):
        parts = {"q": value.q, "scale": value.scale, "offset": value.offset}
        return {k: v for k, v in parts.items() if v is not None}
    return {"": value}


def kept_parts(made: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{weight: {part: host data}}`` as store entries ``<weight>.<part>``."""
    return {f"{k}.{part}": v for k, parts in made.items() for part, v in parts.items()}


def assemble(
    entries: Mapping[str, Any],
    group: int | None,
    what: str,
    checkpoint_name: Callable[[str], str],
    offsets: bool = False,
) -> dict[str, Any]:
    """Tensors named ``<w>.q``, ``<w>.scale`` (``<w>.offset``) as QuantizedWeight *w*, the
    others as they are, by checkpoint name; errors name *what* holds them."""
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
                out[checkpoint_name(base)] = quant.QuantizedWeight(t, scale, group, offset)
            except ValueError as e:
                raise ValueError(f"{what}: {base}: {e}") from None
        elif not k.endswith((".scale", ".offset")):
            out[checkpoint_name(k)] = t
    return out


def same_shape(value: Any, shape: Sequence[int], key: str, where: str) -> Any:
    """*value* (from the int4 file, or quantized at an earlier load) if it fits the model."""
    if tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{key} from {where} or the store's quantized copy has shape "
            f"{tuple(value.shape)}, but the model's is {tuple(shape)}"
        )
    return value


def int4_file_tensors(buffer: Any, what: str) -> dict[str, HostTensor]:
    """The tensors of an int4 weights file, packed codes widened to their int4 shape."""
    raw = {k: safetensors.host_data(buffer, i) for k, i in safetensors.load(buffer).items()}
    for k, (data, dtype, shape) in list(raw.items()):
        if k.endswith(".q"):  # packed nibbles (out, in / 2) -> int4 (out, in)
            if dtype != "uint8" or len(shape) != 2:
                raise ValueError(f"{what}: {k} is {dtype} {shape}, not uint8 (out, in / 2)")
            raw[k] = (data, "int4", (shape[0], shape[1] * 2))
    return raw

"""Read the safetensors format in pure Python (no NumPy needed; NumPy is used when present).

Layout: an 8-byte little-endian header length N, N bytes of a UTF-8 JSON object
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then the
data; offsets count from the first byte after the header. ``load`` parses and checks the header
(never the data); ``raw_view`` is a zero-copy ``memoryview`` of one tensor's bytes;
``host_data`` gives the bytes in the dtype webaccel computes with (a copy only where the dtype
must change: BF16 and F64 to float32, I64 to int32); ``to_tensor`` uploads that to a device.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..device import Device
from ..tensor import Tensor, from_buffer

MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own bound

# safetensors dtype code -> (bytes per element, webaccel dtype after conversion)
DTYPES: dict[str, tuple[int, str]] = {
    "F32": (4, "float32"),
    "F16": (2, "float16"),
    "BF16": (2, "float32"),  # widened: bf16 is the top half of a float32
    "F64": (8, "float32"),  # narrowed, as webaccel.tensor does with NumPy's float64
    "I8": (1, "int8"),
    "U8": (1, "uint8"),
    "I32": (4, "int32"),
    "I64": (8, "int32"),  # narrowed; values outside int32 raise
}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a safetensors buffer. *offset* is absolute (from the buffer's start)."""

    name: str
    dtype: str  # the file's code: "F32", "BF16", ...
    shape: tuple[int, ...]
    offset: int
    nbytes: int

    @property
    def webaccel_dtype(self) -> str:
        """The dtype ``host_data`` and ``to_tensor`` give this tensor."""
        return DTYPES[self.dtype][1]


def _fail(name: str | None, why: str) -> ValueError:
    return ValueError(f"safetensors: tensor {name!r}: {why}" if name else f"safetensors: {why}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _fail(k, "appears twice in the header")
        out[k] = v
    return out


def parse(buffer: Any) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """The tensors (in file order) and the ``__metadata__`` of a safetensors buffer."""
    mv = memoryview(buffer).cast("B")
    if mv.nbytes < 8:
        raise _fail(None, f"{mv.nbytes} bytes is too short for the 8-byte header length")
    (hlen,) = struct.unpack_from("<Q", mv, 0)
    if hlen > MAX_HEADER or 8 + hlen > mv.nbytes:
        raise _fail(None, f"header length {hlen} reaches beyond the {mv.nbytes}-byte buffer")
    try:
        header = json.loads(
            bytes(mv[8 : 8 + hlen]).decode("utf-8"), object_pairs_hook=_no_duplicates
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(None, f"the header is not UTF-8 JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _fail(None, f"the header is a JSON {type(header).__name__}, not an object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _fail(None, "__metadata__ must map strings to strings")
    start, data_len = 8 + hlen, mv.nbytes - 8 - hlen
    infos: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        infos[name] = _entry(name, entry, start, data_len)
    _check_layout(infos.values(), start, data_len)
    return infos, meta


def _entry(name: str, entry: Any, start: int, data_len: int) -> TensorInfo:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise _fail(name, "needs 'dtype', 'shape' and 'data_offsets'")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise _fail(name, f"unsupported dtype {dtype!r} (supported: {', '.join(DTYPES)})")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise _fail(name, f"shape {shape!r} is not a list of non-negative ints")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        raise _fail(name, f"data_offsets {offsets!r} is not [begin, end]")
    begin, end = offsets
    if not 0 <= begin <= end <= data_len:
        raise _fail(name, f"data_offsets [{begin}, {end}] fall outside the {data_len} data bytes")
    need = math.prod(shape) * DTYPES[dtype][0]
    if end - begin != need:
        raise _fail(
            name, f"{end - begin} bytes for shape {tuple(shape)} of {dtype}, which needs {need}"
        )
    return TensorInfo(name, dtype, tuple(shape), start + begin, end - begin)


def _check_layout(infos: Iterable[TensorInfo], start: int, data_len: int) -> None:
    """The spec's rule: the tensors tile the data exactly, no overlaps and no holes (so a file
    cannot hide other content); the reference library enforces the same."""
    pos, last = start, None
    for offset, end, name in sorted((i.offset, i.offset + i.nbytes, i.name) for i in infos):
        if offset < pos:
            raise _fail(name, f"its bytes overlap those of {last!r}")
        if offset > pos:
            raise _fail(name, f"{offset - pos} unindexed bytes (a hole) come before its data")
        pos, last = end, name
    if pos != start + data_len:
        raise _fail(None, f"{start + data_len - pos} bytes after the last tensor's data")


def load(buffer: Any) -> dict[str, TensorInfo]:
    """Every tensor's ``TensorInfo`` (the header checked; the data is not read)."""
    return parse(buffer)[0]


def raw_view(buffer: Any, info: TensorInfo) -> memoryview:
    """The tensor's bytes as stored, without copying."""
    return memoryview(buffer).cast("B")[info.offset : info.offset + info.nbytes]


def _numpy(use_numpy: bool | None) -> Any:
    if use_numpy is False:
        return None
    try:
        import numpy
    except ImportError:
        if use_numpy:
            raise
        return None
    return numpy


def host_data(
    buffer: Any, info: TensorInfo, *, use_numpy: bool | None = None
) -> tuple[Any, str, tuple[int, ...]]:
    """``(bytes_like, dtype, shape)`` in webaccel's dtype: the zero-copy view where the file's
    dtype is one webaccel has, else a converted copy (BF16, F64 -> float32; I64 -> int32).
    The tuple is also what ``webaccel.store.Store.save`` accepts. *use_numpy*: None uses NumPy
    if it is importable."""
    raw = raw_view(buffer, info)
    if info.dtype == "BF16":
        return _bf16_to_f32(raw, _numpy(use_numpy)), "float32", info.shape
    if info.dtype == "I64":
        return _i64_to_i32(raw, info.name, _numpy(use_numpy)), "int32", info.shape
    if info.dtype == "F64":
        return _f64_to_f32(raw, _numpy(use_numpy)), "float32", info.shape
    return raw, info.webaccel_dtype, info.shape


def _bf16_to_f32(raw: memoryview, np: Any) -> Any:
    if np is not None:
        return (np.frombuffer(raw, "<u2").astype("<u4") << 16).view(np.uint8)
    out = bytearray(raw.nbytes * 2)  # little-endian float32: bf16's two bytes are bytes 2, 3
    out[2::4] = raw[0::2]
    out[3::4] = raw[1::2]
    return out


def _f64_to_f32(raw: memoryview, np: Any) -> Any:
    if np is not None:
        with np.errstate(over="ignore"):  # past float32's max: inf, like the pure path
            return np.frombuffer(raw, "<f8").astype("<f4").view(np.uint8)
    big = 3.4028234663852886e38  # float32's max: beyond it NumPy gives inf, struct raises
    values = [
        math.copysign(math.inf, v) if abs(v) > big else v for (v,) in struct.iter_unpack("<d", raw)
    ]
    return struct.pack(f"<{len(values)}f", *values)


def _i64_to_i32(raw: memoryview, name: str, np: Any) -> Any:
    values: Any
    if np is not None:
        values = np.frombuffer(raw, "<i8")
        lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    else:
        values = [v for (v,) in struct.iter_unpack("<q", raw)]
        lo, hi = (min(values), max(values)) if values else (0, 0)
    if lo < -(2**31) or hi >= 2**31:
        raise _fail(name, f"I64 values [{lo}, {hi}] do not fit int32")
    if np is not None:
        return values.astype("<i4").view(np.uint8)
    out = bytearray(raw.nbytes // 2)  # in range: each value's low 4 bytes (little-endian)
    for k in range(4):
        out[k::4] = raw[k::8]
    return out


def to_tensor(
    buffer: Any,
    info: TensorInfo,
    device: str | Device | None = None,
    *,
    use_numpy: bool | None = None,
) -> Tensor:
    """A webaccel tensor of *info* on *device* (one upload from the buffer's bytes)."""
    data, dtype, shape = host_data(buffer, info, use_numpy=use_numpy)
    return from_buffer(data, shape, dtype, device)


def load_tensors(
    buffer: Any,
    device: str | Device | None = None,
    names: Iterable[str] | None = None,
) -> dict[str, Tensor]:
    """Every tensor (or those in *names*) of a safetensors buffer, uploaded to *device*."""
    infos = load(buffer)
    wanted = list(infos) if names is None else list(names)
    missing = [n for n in wanted if n not in infos]
    if missing:
        raise KeyError(f"safetensors: no tensors {missing}; the file has {len(infos)} others")
    return {n: to_tensor(buffer, infos[n], device) for n in wanted}

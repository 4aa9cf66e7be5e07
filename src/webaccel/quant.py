"""Weight-only quantization for linear layers: int8 per output channel, int4 per group.

``quantize(weight, scheme)`` turns a float weight ``(out, in)`` into a ``QuantizedWeight``: the
integer codes ``q`` and float32 ``scale`` tensors on a device. ``webaccel.linear(x, qw, bias)``
then runs the ``linear_q`` op, whose kernels dequantize inside the matmul loop: the float
weight is never stored. Schemes (both symmetric, no zero point):

* ``"int8"``: one scale per output row (``group_size=None``, the default): ``scale[o] =
  max|w[o, :]| / 127``, ``q = round(w / scale)`` in [-127, 127]; q int8 ``(out, in)``, scale
  float32 ``(out,)``. An explicit ``group_size`` gives group-wise int8 instead.
* ``"int4"``: one scale per *group_size* (default 32) consecutive elements of a row:
  ``scale[o, g] = max|w[o, 32g : 32g + 32]| / 7``, q in [-7, 7]; q int4 ``(out, in)`` packed
  two per byte, low nibble first (over the row-major elements: ``in / 2`` bytes per row when
  ``in`` is even), scale float32 ``(out, ceil(in / 32))``.

``quantize(..., asymmetric=True)`` spans each group's [min, max] with every code of the type
(int4: -8..7, 16 levels instead of 15) and adds a float32 ``offset`` of the scales' shape:
``scale = (max - min) / 15``, ``q = round((w - min) / scale) - 8``, ``offset = min + 8 *
scale``, so ``w = q * scale + offset``. Weights whose groups are not centred on zero keep
more precision (all-MiniLM-L6-v2, int4 g32, min cosine over 18 sentences: 0.872 symmetric,
0.933 asymmetric, both round to nearest). No kernel changes: ``linear`` adds
``group_sums(x) @ offset.T`` to the symmetric ``linear_q`` (``linear_q`` below).

``in`` need not be a multiple of the group: the last group of each row is then partial (fewer
elements, its own scale), and every backend handles it (WebNN by expanding the scales to one
per element, as ``dequantizeLinear`` wants whole blocks).

Rounding is half to even on the float64 quotient ``w / scale``, scales are rounded to float32
once, so ``|w - q * scale| <= scale / 2`` for every element (up to the float32 rounding of the
product); an all-zero group gets scale 0 and codes 0. Non-finite weights are refused.

Bytes against the float32 weight: int8 ``1/4 + 1/in`` (0.2526 for 1536x384), int4 with groups
of 32 ``1/8 + 1/32`` (0.156: float32 scales are a fifth of it).

Where it runs (one op definition, ``ops.OPS["linear_q"]`` / ``["dequantize"]``): cpu
dequantizes with NumPy then runs the float linear (the reference); webgpu runs
``matmul_q.wgsl``, which unpacks the codes word by word inside the matmul loop
(``backends/webgpu/kernels/matmul_q.py``); webnn feeds ``dequantizeLinear`` (int8/int4
input, float32 block-wise scale) into ``gemm`` when ``opSupportLimits()`` allows it, else
placement runs the op on webgpu (or cpu); per-row int8 is ``(x @ cast(q).T) * scale`` there
instead (faster in these browsers, which dequantize on every dispatch:
``backends/webnn/builders.py``). ``linear(x, dequantize(q, s), b)`` written by hand becomes the
same ``linear_q`` step (``engine/passes/linear.py``), and ``linear_q`` takes a following bias
and activation.

``quantize`` runs on the host: with NumPy when it is importable (vectorized), else in pure
Python (``array``/``struct``; Pyodide 314 has no NumPy), with bit-identical results. It takes a
NumPy array, a webaccel float tensor (read back once), nested lists, or flat float32 data
(``bytes``, ``array('f')``, a memoryview) with ``shape=``.
"""

from __future__ import annotations

import array
import math
import struct
from collections.abc import Mapping
from typing import Any

from . import ops
from .arguments import check_bool, check_device, check_device_name
from .device import Device
from .dtypes import DType, float32, int4, int8
from .shapes import as_integer, check_int, check_shape, describe
from .tensor import Tensor, apply, check_tensor, from_buffer, full

SCHEMES: dict[str, tuple[DType, int]] = {"int8": (int8, 127), "int4": (int4, 7)}
DEFAULT_GROUP = {"int8": None, "int4": 32}  # None: one group per row (per output channel)


class QuantizedWeight:
    """A quantized ``(out, in)`` weight: ``q`` (int8 or packed int4) and float32 ``scale``.

    ``scale`` is ``(out,)`` for one scale per row (``group_size == in``) or ``(out, groups)``
    with ``groups = ceil(in / group_size)``. ``offset`` (asymmetric schemes; None for the
    symmetric ones) is float32 of ``scale``'s shape: ``w = q * scale + offset`` per group.
    Pass it as the weight of ``webaccel.linear``.
    """

    __slots__ = ("group_size", "offset", "q", "scale")

    def __init__(
        self,
        q: Tensor,
        scale: Tensor,
        group_size: int | None = None,
        offset: Tensor | None = None,
    ) -> None:
        if not isinstance(q, Tensor) or not isinstance(scale, Tensor):
            raise TypeError("QuantizedWeight(q, scale): q and scale must be webaccel tensors")
        if group_size is not None and as_integer(group_size) is not None:
            group_size = as_integer(group_size)  # a NumPy integer: a plain int attribute
        if q.ndim != 2:
            raise ops.ShapeError(f"QuantizedWeight: q must be 2-D (out, in), got shape {q.shape}")
        k = q.shape[1]
        if scale.ndim == 1:
            group = max(k, 1) if group_size is None else group_size
            if -(-k // group) > 1:
                raise ops.ShapeError(
                    f"QuantizedWeight: a 1-D scale {scale.shape} holds one scale per row, but "
                    f"group_size={group_size} splits rows of {k} into groups; give a 2-D scale"
                )
            scale2d = (scale.shape[0], 1)
        elif scale.ndim == 2:
            if group_size is None:
                if scale.shape[1] != 1:
                    raise ValueError(
                        f"QuantizedWeight: scale {scale.shape} has several groups per row: "
                        "give group_size"
                    )
                group = max(k, 1)
            else:
                group = group_size
            scale2d = scale.shape
        else:
            raise ops.ShapeError(f"QuantizedWeight: scale must be 1-D or 2-D, got {scale.shape}")
        ops.check_quantized("QuantizedWeight", q.shape, q.dtype, scale2d, scale.dtype, group)
        if q.device is not scale.device:
            raise ValueError(
                f"QuantizedWeight: q lives on {q.device.name}, scale on {scale.device.name}"
            )
        if offset is not None:
            if not isinstance(offset, Tensor):
                raise TypeError("QuantizedWeight: offset must be a webaccel tensor or None")
            if offset.dtype is not float32 or offset.shape != scale.shape:
                raise ops.ShapeError(
                    f"QuantizedWeight: offset must be float32 of scale's shape {scale.shape}, "
                    f"got {offset.dtype.name} {offset.shape}"
                )
            if offset.device is not q.device:
                raise ValueError(
                    f"QuantizedWeight: q lives on {q.device.name}, offset on {offset.device.name}"
                )
        self.q, self.scale, self.group_size, self.offset = q, scale, group, offset

    # -- what it is ------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """The original float weight's shape, ``(out, in)``."""
        return self.q.shape  # type: ignore[return-value]

    @property
    def scheme(self) -> str:
        return self.q.dtype.name

    @property
    def asymmetric(self) -> bool:
        """True when there is an ``offset`` (``quantize(..., asymmetric=True)``)."""
        return self.offset is not None

    @property
    def bits(self) -> int:
        return self.q.dtype.bits

    @property
    def groups(self) -> int:
        """Scales per row."""
        return -(-self.shape[1] // self.group_size)

    @property
    def nbytes(self) -> int:
        """Bytes of the codes, the scales and the offsets together."""
        extra = self.offset.nbytes if self.offset is not None else 0
        return self.q.nbytes + self.scale.nbytes + extra

    @property
    def float_nbytes(self) -> int:
        """Bytes the float32 weight takes (for ratios)."""
        return 4 * self.shape[0] * self.shape[1]

    @property
    def device(self) -> Device:
        return self.q.device

    def scale_2d(self) -> Tensor:
        """``scale`` as ``(out, groups)`` (a view, no copy): what the ops take."""
        return self.scale if self.scale.ndim == 2 else self.scale.reshape(self.shape[0], 1)

    def __repr__(self) -> str:
        return (
            f"QuantizedWeight(shape={self.shape}, scheme={self.scheme}, "
            f"group_size={self.group_size}, asymmetric={self.asymmetric}, nbytes={self.nbytes}, "
            f"device={self.device.name})"
        )

    # -- using it --------------------------------------------------------------------------------
    def offset_2d(self) -> Tensor | None:
        """``offset`` as ``(out, groups)`` (a view), or None."""
        if self.offset is None or self.offset.ndim == 2:
            return self.offset
        return self.offset.reshape(self.shape[0], 1)

    def dequantize(self) -> Tensor:
        """The float32 weight ``q * scale (+ offset)`` (lazy, on the weight's device)."""
        w = apply("dequantize", self.q, self.scale_2d(), group=self.group_size)
        offset = self.offset_2d()
        if offset is None:
            return w
        # each group's offset over its columns: (out, groups) -> (out, in)
        return w + offset @ _group_sums_matrix(self.shape[1], self.group_size, w.device).T

    def to(self, device: str | Device) -> QuantizedWeight:
        """A copy on *device*."""
        offset = self.offset.to(device) if self.offset is not None else None
        return QuantizedWeight(self.q.to(device), self.scale.to(device), self.group_size, offset)


def _group_sums_matrix(k: int, group: int, device: Device) -> Tensor:
    """``(k, groups)`` float32 with 1 where column i belongs to group g (``i // group == g``):
    ``x @ it`` sums each group of x's last axis (a partial last group too)."""
    groups = -(-k // group)
    data = array.array("f", bytes(4 * k * groups))
    for i in range(k):
        data[i * groups + i // group] = 1.0
    return from_buffer(data, (k, groups), float32, device)


def linear_q(x: Tensor, weight: QuantizedWeight, bias: Tensor | None = None) -> Tensor:
    """``x @ dequantize(weight).T + bias`` as one ``linear_q`` op (``webaccel.linear`` with a
    ``QuantizedWeight`` comes here).

    With an ``offset`` (asymmetric), ``x @ (q * s + offset).T`` is ``linear_q`` of the codes
    plus ``group_sums(x) @ offset.T``, where ``group_sums(x)`` adds each group of 32 inputs:
    a small second matmul (``in / group`` deep), so the kernels stay the symmetric ones and the
    float weight is still never stored."""
    if not isinstance(weight, QuantizedWeight):
        raise TypeError(f"linear_q: weight must be a QuantizedWeight, not {type(weight).__name__}")
    check_tensor("linear_q", "x", x)
    if bias is not None:
        check_tensor("linear_q", "bias", bias)
    b = bias if bias is not None else full((), 0.0, x.dtype, x.device)  # 0-d: no bias
    y = apply("linear_q", x, weight.q, weight.scale_2d(), b, group=weight.group_size)
    offset = weight.offset_2d()
    if offset is None:
        return y
    k, group = weight.shape[1], weight.group_size
    if k % group == 0:  # whole groups: a reshape and a sum
        sums = x.reshape(*x.shape[:-1], k // group, group).sum(-1)
    else:
        sums = x @ _group_sums_matrix(k, group, x.device)
    return y + sums @ offset.T


def dequantize(weight: QuantizedWeight) -> Tensor:
    if not isinstance(weight, QuantizedWeight):
        raise TypeError(f"dequantize: weight must be a QuantizedWeight, not {describe(weight)}")
    return weight.dequantize()


# --- quantizing on the host ----------------------------------------------------------------------


def quantize(
    weight: Any,
    scheme: str = "int8",
    group_size: int | None = None,
    *,
    shape: tuple[int, int] | None = None,
    device: str | Device | None = None,
    method: str = "auto",
    asymmetric: bool = False,
) -> QuantizedWeight:
    """Quantize a float ``(out, in)`` weight (see the module docstring for the schemes).

    *weight*: a NumPy array, a webaccel float tensor, nested lists, or flat float32 data
    (bytes-like, ``array('f')``) with *shape*. *device*: where the result lives (default: the
    tensor's device, else the default device). *method*: ``"auto"`` (NumPy if importable),
    ``"numpy"`` or ``"python"`` (the pure-Python path, same bits). *asymmetric*: every code
    of the type (int4: -8..7) spans each group's [min, max], with a float32 ``offset``.
    """
    if device is None and isinstance(weight, Tensor):
        device = weight.device
    check_device_name("quantize", device)  # before any work: a bad name fails at once
    parts = quantize_host(
        weight, scheme, group_size, shape=shape, method=method, asymmetric=asymmetric
    )
    return from_host(parts, DEFAULT_GROUP[scheme] if group_size is None else group_size, device)


def quantize_host(
    weight: Any,
    scheme: str = "int8",
    group_size: int | None = None,
    *,
    shape: tuple[int, int] | None = None,
    method: str = "auto",
    asymmetric: bool = False,
) -> dict[str, tuple[Any, str, tuple[int, ...]]]:
    """``quantize`` without the upload: ``{"q": (codes, "int8" | "int4", (out, in)), "scale":
    (bytes, "float32", shape)[, "offset": ...]}`` as host bytes, in the form ``Store.save``
    takes (so quantized weights can be kept); ``from_host`` puts them on a device."""
    if not isinstance(scheme, str):
        raise TypeError(
            f"quantize: scheme must be a str ({sorted(SCHEMES)}), not {describe(scheme)}"
        )
    if scheme not in SCHEMES:
        raise ValueError(f"quantize: scheme must be one of {sorted(SCHEMES)}, not {scheme!r}")
    if not isinstance(method, str) or method not in ("auto", "numpy", "python"):
        raise ValueError(f"quantize: method must be 'auto', 'numpy' or 'python', not {method!r}")
    asymmetric = check_bool("quantize", "asymmetric", asymmetric)
    if group_size is None:
        group_size = DEFAULT_GROUP[scheme]
    else:
        group_size = check_int("quantize", "group_size", group_size, 1)
    if shape is not None:
        shape = check_shape("quantize", "shape", shape)
    _check_weight(weight)
    np = _numpy() if method != "python" else None
    if method == "numpy" and np is None:
        raise ImportError("quantize(method='numpy') needs NumPy; use method='python'")
    if np is not None:
        out, k, codes, scales, offsets = _quantize_numpy(
            np, weight, scheme, group_size, shape, asymmetric
        )
    else:
        out, k, codes, scales, offsets = _quantize_python(
            weight, scheme, group_size, shape, asymmetric
        )
    dtype, _ = SCHEMES[scheme]
    s_shape = (out,) if group_size is None else (out, -(-k // group_size))
    parts = {"q": (codes, dtype.name, (out, k)), "scale": (scales, "float32", s_shape)}
    if asymmetric:
        parts["offset"] = (offsets, "float32", s_shape)
    return parts


def from_host(
    parts: Mapping[str, tuple[Any, Any, tuple[int, ...]]],
    group_size: int | None = None,
    device: str | Device | None = None,
) -> QuantizedWeight:
    """The ``QuantizedWeight`` of ``quantize_host``'s *parts* (or ``Store.read``'s tuples of
    them), uploaded to *device*. *group_size*: as given to ``quantize_host`` (None: one scale
    per row, a 1-D scale)."""
    dev = check_device("from_host", device)
    if not isinstance(parts, Mapping):
        raise TypeError(f"from_host: parts must be quantize_host's dict, not {describe(parts)}")
    missing = [k for k in ("q", "scale") if k not in parts]
    if missing:
        raise ValueError(f"from_host: parts lack {missing} (quantize_host gives q, scale)")
    q, scale = (from_buffer(d, s, t, dev) for d, t, s in (parts["q"], parts["scale"]))
    offset = parts.get("offset")
    if offset is not None:
        offset = from_buffer(offset[0], offset[2], offset[1], dev)
    return QuantizedWeight(q, scale, group_size, offset)


def _numpy() -> Any:
    try:
        import numpy  # optional: the pure-Python path serves hosts without it (Pyodide 314)
    except ImportError:
        return None
    return numpy


def _check_weight(weight: Any) -> None:
    """What can be told of *weight* before reading it (a Tensor is not read back for this)."""
    if isinstance(weight, str):
        raise TypeError(f"quantize: cannot read a weight from {describe(weight)}")
    if isinstance(weight, Tensor):
        if weight.dtype.kind != "f":
            raise ops.DTypeError(f"quantize: needs a float weight, got {weight.dtype.name}")
        _check_shape(weight.shape)


def _check_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) != 2:
        raise ops.ShapeError(f"quantize: the weight must be 2-D (out, in), got shape {shape}")
    out, k = shape
    if k == 0 or out == 0:
        raise ops.ShapeError(f"quantize: the weight {shape} is empty")
    return out, k


def _not_finite() -> ValueError:
    return ValueError("quantize: the weight has NaN or infinite values; it cannot be quantized")


def _quantize_numpy(
    np: Any, weight: Any, scheme: str, group: int | None, shape: Any, asymmetric: bool = False
) -> tuple[int, int, bytes, bytes, bytes]:
    if isinstance(weight, Tensor):
        if weight.dtype.kind != "f":
            raise ops.DTypeError(f"quantize: needs a float weight, got {weight.dtype.name}")
        w = np.frombuffer(weight.cast("float32").read(), np.float32).reshape(weight.shape)
    elif isinstance(weight, bytes | bytearray | memoryview | array.array):
        w = np.asarray(_flat_floats(weight), np.float32)
        w = w.reshape(_flat_shape(weight, shape, w.size))
    else:
        arr = np.asarray(weight)
        if arr.dtype.kind not in "fiu":
            raise ops.DTypeError(f"quantize: needs a float weight, got dtype {arr.dtype}")
        w = arr.astype(np.float32)
        if shape is not None:
            w = w.reshape(shape)
    out, k = _check_shape(w.shape)
    if not np.isfinite(w).all():
        raise _not_finite()
    dtype, qmax = SCHEMES[scheme]
    g = k if group is None else group
    ng = -(-k // g)
    offset = b""
    if asymmetric:  # codes -qmax-1..qmax over [min, max]: w = q * s + (min + (qmax + 1) * s)
        lo_pad = np.full((out, ng * g), np.inf, np.float32)
        hi_pad = np.full((out, ng * g), -np.inf, np.float32)
        lo_pad[:, :k], hi_pad[:, :k] = w, w
        lo = lo_pad.reshape(out, ng, g).min(axis=2).astype(np.float64)
        hi = hi_pad.reshape(out, ng, g).max(axis=2).astype(np.float64)
        scale = ((hi - lo) / (2 * qmax + 1)).astype(np.float32)
        off = (lo + (qmax + 1) * scale.astype(np.float64)).astype(np.float32)
        full = np.repeat(scale.astype(np.float64), g, axis=1)[:, :k]
        base = np.repeat(lo, g, axis=1)[:, :k]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(full > 0, np.rint((w.astype(np.float64) - base) / full), qmax + 1)
        q = (np.clip(u, 0, 2 * qmax + 1) - (qmax + 1)).astype(np.int8)
        offset = off.tobytes()
    else:
        a = np.zeros((out, ng * g), np.float32)
        a[:, :k] = np.abs(w)
        amax = a.reshape(out, ng, g).max(axis=2)
        scale = (amax.astype(np.float64) / qmax).astype(np.float32)
        full = np.repeat(scale.astype(np.float64), g, axis=1)[:, :k]
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(full > 0, np.rint(w.astype(np.float64) / full), 0.0)
        q = np.clip(q, -qmax, qmax).astype(np.int8)
    if dtype is int4:
        nib = (q.reshape(-1) & 0xF).astype(np.uint8)
        if nib.size % 2:
            nib = np.concatenate([nib, np.zeros(1, np.uint8)])
        codes = (nib[0::2] | (nib[1::2] << 4)).tobytes()
    else:
        codes = q.tobytes()
    return out, k, codes, scale.tobytes(), offset


def _flat_floats(data: Any) -> array.array:
    """float32 values of flat data: ``array('f')``/'d' or a typed memoryview as they are,
    raw bytes as little-endian float32."""
    if isinstance(data, array.array):
        return data if data.typecode == "f" else array.array("f", data)
    mv = memoryview(data)
    if mv.format in ("f", "d", "e"):  # typed: convert the numbers (float16/64 too)
        n = mv.nbytes // mv.itemsize
        return array.array("f", struct.unpack(f"={n}{mv.format}", mv.tobytes()))
    raw = mv.cast("B")
    if raw.nbytes % 4:
        raise ValueError(f"quantize: {raw.nbytes} bytes are not whole float32 values")
    out = array.array("f")
    out.frombytes(raw)
    if struct.pack("=f", 1.0) != struct.pack("<f", 1.0):  # a big-endian host
        out.byteswap()
    return out


def _flat_shape(data: Any, shape: Any, n: int) -> tuple[int, int]:
    if shape is None:
        mv = memoryview(data) if not isinstance(data, array.array) else None
        if mv is not None and mv.ndim == 2:
            return mv.shape  # type: ignore[return-value]
        raise ValueError("quantize: give shape=(out, in) for flat data")
    shape = tuple(int(d) for d in shape)
    if len(shape) != 2 or shape[0] * shape[1] != n:
        raise ops.ShapeError(f"quantize: shape {shape} does not fit {n} values")
    return shape  # type: ignore[return-value]


def _nested_shape(value: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(value, list | tuple):
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _quantize_python(
    weight: Any, scheme: str, group: int | None, shape: Any, asymmetric: bool = False
) -> tuple[int, int, bytes, bytes, bytes]:
    if isinstance(weight, Tensor):
        if weight.dtype.kind != "f":
            raise ops.DTypeError(f"quantize: needs a float weight, got {weight.dtype.name}")
        flat = array.array("f")
        flat.frombytes(weight.cast("float32").read())
        dims = _check_shape(weight.shape)
    elif isinstance(weight, bytes | bytearray | memoryview | array.array):
        flat = _flat_floats(weight)
        dims = _check_shape(_flat_shape(weight, shape, len(flat)))
    elif isinstance(weight, list | tuple) or hasattr(weight, "tolist"):
        if not isinstance(weight, list | tuple):
            weight = weight.tolist()  # a NumPy array on the pure-Python path
        if shape is None:
            dims = _check_shape(_nested_shape(weight))
            if any(len(r) != dims[1] for r in weight):
                raise ops.ShapeError("quantize: the weight's rows differ in length")
            flat = array.array("f", [v for r in weight for v in r])
        else:
            flat = array.array("f", weight)
            dims = _check_shape(_flat_shape(b"", shape, len(flat)))
    else:
        raise TypeError(
            f"quantize: cannot read a weight from {type(weight).__name__} without NumPy; give a "
            "webaccel tensor, nested lists, or flat float32 data with shape="
        )
    out, k = dims
    _, qmax = SCHEMES[scheme]
    g = k if group is None else group
    codes = array.array("b", bytes(out * k))
    scales = array.array("f")
    offsets = array.array("f")
    top = 2 * qmax + 1  # asymmetric: codes 0..top, then shifted by -(qmax + 1)
    for o in range(out):
        row = flat[o * k : (o + 1) * k]
        if not math.isfinite(math.fsum(row)):  # finite float32 values never sum to inf
            raise _not_finite()
        for g0 in range(0, k, g):
            chunk = row[g0 : g0 + g]
            if asymmetric:
                lo, hi = min(chunk), max(chunk)
                s = _f32((hi - lo) / top)
                scales.append(s)
                offsets.append(_f32(lo + (qmax + 1) * s))
                if s > 0:  # (else every code stays 0: the group is its offset)
                    c = [min(top, max(0, round((v - lo) / s))) - (qmax + 1) for v in chunk]
                    codes[o * k + g0 : o * k + g0 + len(c)] = array.array("b", c)
                continue
            amax = max(max(chunk), -min(chunk))
            s = _f32(amax / qmax)
            scales.append(s)
            if s > 0:
                c = [round(v / s) for v in chunk]
                if max(c) > qmax or min(c) < -qmax:  # only a subnormal scale rounds that far
                    c = [min(qmax, max(-qmax, x)) for x in c]
                codes[o * k + g0 : o * k + g0 + len(c)] = array.array("b", c)
    if scheme == "int4":
        if len(codes) % 2:
            codes.append(0)
        pairs = zip(codes[0::2], codes[1::2], strict=True)
        packed = bytes([(lo & 0xF) | ((hi & 0xF) << 4) for lo, hi in pairs])
    else:
        packed = codes.tobytes()
    if struct.pack("=f", 1.0) != struct.pack("<f", 1.0):
        scales.byteswap()
        offsets.byteswap()
    return out, k, packed, scales.tobytes(), offsets.tobytes() if asymmetric else b""


__all__ = ["SCHEMES", "QuantizedWeight", "dequantize", "linear_q", "quantize"]

"""The rules public calls check their arguments by, and Python data read by those rules.

Every entry point (``tensor()``, the Tensor methods, ``functional``, ``quant``, the models and
pipelines) checks its arguments here before anything is recorded or uploaded, so a malformed
call fails the same way everywhere: a ``TypeError`` (not a bool, an int, a dtype ...),
``ValueError`` (a value outside its rule), ``ShapeError`` or ``DTypeError`` naming the op, the
argument and the rule. What an int, a size and a shape are is ``shapes.check_int`` /
``check_shape``'s (ints and NumPy integers; not bools, not floats even when integral).

Python data (numbers, nested sequences) becomes bytes here too: ``flatten`` reads its shape
(strings, mappings and sets are not data; nesting is bounded), ``pack`` writes it in a dtype,
refusing what the dtype cannot hold (an int out of range, a fraction into an int dtype) and
rounding past a float dtype's range to +-inf, as IEEE does.
"""

from __future__ import annotations

import math
import numbers
import struct
import sys
from collections.abc import Iterable, Mapping, Set
from typing import Any

from .device import Device, backend_names, get_device
from .dtypes import DType, as_dtype, float32, int32
from .errors import DTypeError, LimitError, ShapeError
from .shapes import as_integer, check_shape, describe
from .view import normalize_slice

# --- Python data ---------------------------------------------------------------------------------


def default_dtype(flat: list[Any]) -> DType:
    ints = flat and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in flat)
    return int32 if ints else float32


# The range of each integer dtype's values, for Python data packed into it.
INT_RANGE = {
    "int32": (-(2**31), 2**31 - 1),
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int4": (-8, 7),
}


def pack(op: str, flat: list[Any], dtype: DType) -> bytes:
    """*flat*'s values as *dtype*'s little-endian bytes."""
    fmt = f"<{len(flat)}{dtype.struct}"
    try:
        return struct.pack(fmt, *flat)
    except (struct.error, OverflowError, TypeError, ValueError):
        pass  # find the value at fault and say why (or round it to inf, as IEEE does)
    return struct.pack(fmt, *[element(op, f"element {k}", v, dtype) for k, v in enumerate(flat)])


def element(op: str, what: str, value: Any, dtype: DType) -> Any:
    if dtype.kind == "f":
        try:
            x = float(value)
        except OverflowError:  # an int beyond float64: IEEE rounds it to inf
            return math.inf if value > 0 else -math.inf
        try:
            struct.pack(f"<{dtype.struct}", x)
        except OverflowError:  # finite, but it rounds past the dtype's largest value
            return math.copysign(math.inf, x)
        return x
    n = as_integer(value)
    if n is None:
        x = float(value)
        if not math.isfinite(x) or not x.is_integer():
            raise ValueError(
                f"{op}: {what} is {value!r}, which {dtype.name} cannot hold (an integer "
                "dtype takes integral values; cast a float tensor to round it)"
            )
        n = int(x)
    lo, hi = INT_RANGE.get(dtype.name, (-(2**63), 2**63 - 1))
    if not lo <= n <= hi:
        raise ValueError(f"{op}: {what} is {n}, out of range for {dtype.name} ({lo} ... {hi})")
    return n


_MAX_DEPTH = 64  # deeper nesting is no tensor anyone means (and would exhaust the stack)


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real)  # bool, int, float and NumPy's numbers; not complex


def is_numpy(value: Any) -> bool:
    return hasattr(value, "__array_interface__") or type(value).__module__ == "numpy"


def not_data(value: Any) -> bool:
    """Whether *value* is something a tensor is never built from (text, mappings, sets, ...)."""
    return isinstance(value, str | bytes | bytearray | Mapping | Set) or not isinstance(
        value, Iterable
    )


def flatten(
    data: Any, op: str = "tensor", arg: str = "data", depth: int = 0
) -> tuple[list[Any], tuple[int, ...]]:
    """Rectangular nested data as (flat values, shape); TypeError / ShapeError name *op*."""
    if is_number(data):
        return [data], ()
    if is_numpy(data):
        data = data.tolist()  # a NumPy array or scalar inside a list: its Python values
        if is_number(data):
            return [data], ()
    if depth >= _MAX_DEPTH:
        raise ValueError(f"{op}: {arg} is nested more than {_MAX_DEPTH} deep")
    if not_data(data):
        raise TypeError(
            f"{op}: cannot build a tensor from {describe(data)} in {arg}; a tensor holds "
            "numbers (bool, int, float), in nested sequences"
        )
    items = list(data)
    if not items:
        return [], (0,)
    parts = [flatten(x, op, arg, depth + 1) for x in items]
    inner = parts[0][1]
    for _, s in parts:
        if s != inner:
            raise ShapeError(f"{op}: ragged nested sequence in {arg} (shapes {inner} and {s})")
    return [v for flat, _ in parts for v in flat], (len(items), *inner)


def shape_args(op: str, args: tuple[Any, ...], arg: str = "shape") -> tuple[Any, ...]:
    """``f(2, 3)`` or ``f((2, 3))``: the ints, as one tuple (checked by the caller)."""
    if len(args) == 1 and as_integer(args[0]) is None and not isinstance(args[0], bool | float):
        if isinstance(args[0], str | bytes) or not isinstance(args[0], Iterable):
            raise TypeError(
                f"{op}: {arg} must be ints or one sequence of ints, not {describe(args[0])}"
            )
        return tuple(args[0])
    return args


def size_arg(op: str, shape: Any) -> tuple[int, ...]:
    """A shape given as one int or a sequence of ints (each >= 0)."""
    n = as_integer(shape)
    return check_shape(op, "shape", (n,) if n is not None else shape)


def resolve_shape(
    shape: tuple[Any, ...], numel: int, op: str, old: tuple[int, ...]
) -> tuple[int, ...]:
    dims = check_shape(op, "shape", shape, wildcard=True)
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or numel % known:
            raise ShapeError(f"{op}: cannot reshape {old} ({numel} elements) into {dims}")
        dims = tuple(numel // known if d == -1 else d for d in dims)
    if math.prod(dims) != numel:
        raise ShapeError(f"{op}: cannot reshape {old} ({numel} elements) into {dims}")
    return dims


def slice_bounds(key: slice, dim: int, axis: int) -> tuple[int, int, int]:
    for part in ("start", "stop", "step"):
        value = getattr(key, part)
        if value is not None and as_integer(value) is None:
            raise TypeError(
                f"index: slice {part} must be an int or None, not {describe(value)} (axis {axis})"
            )
    if key.step is not None and as_integer(key.step) == 0:
        raise ValueError(f"index: slice step must not be zero (axis {axis})")
    return normalize_slice(key, dim)


# --- argument checks every entry point shares ------------------------------------------------


def check_bool(op: str, arg: str, value: Any) -> bool:
    """A bool (or a NumPy bool): not 0/1, not a string, whose truth would be a guess."""
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    raise TypeError(f"{op}: {arg} must be True or False, not {describe(value)}")


def check_real(op: str, arg: str, value: Any) -> float:
    """A real number (int, float or a NumPy number; not a bool), as a float."""
    if isinstance(value, bool) or not is_number(value):
        raise TypeError(f"{op}: {arg} must be a number, not {describe(value)}")
    return float(value)


def check_dtype(op: str, value: Any, arg: str = "dtype") -> DType:
    try:
        return as_dtype(value)
    except TypeError:
        raise DTypeError(
            f"{op}: unsupported dtype {value!r} ({arg}); webaccel has float32, float16, int32, "
            "uint8, int8, int4"
        ) from None


def check_device(op: str, device: Any) -> Device:
    """The device named by *device* (a backend name or a Device; None: the default one)."""
    check_device_name(op, device)
    return get_device(device)


def check_device_name(op: str, device: Any) -> None:
    """``check_device`` without making the device (for calls that make it only at the end)."""
    if device is None or isinstance(device, Device):
        return
    if not isinstance(device, str):
        raise TypeError(f"{op}: device must be a backend name or a Device, not {describe(device)}")
    if device not in backend_names():
        raise ValueError(
            f"{op}: device {device!r} is not a backend; registered: {', '.join(backend_names())}"
        )


def check_fits(op: str, shape: tuple[int, ...], dtype: DType, device: Device) -> None:
    """The output of *op* must fit one buffer of *device* (``Device.max_buffer_bytes``; a
    device without that limit still holds no more than this process can address)."""
    limit = device.max_buffer_bytes
    cap = sys.maxsize if limit is None else limit
    nbytes = dtype.nbytes(math.prod(shape))
    if nbytes > cap:
        source = f", {device.max_buffer_source}" if device.max_buffer_source else ""
        where = (
            f"{device.name} holds at most {cap} bytes in one buffer (max_buffer_bytes{source})"
            if limit is not None
            else f"this host addresses at most {cap} bytes"
        )
        raise LimitError(f"{op}: the output {shape} of {dtype.name} needs {nbytes} bytes; {where}")


def fill_value(op: str, value: Any, dtype: DType) -> Any:
    """*value* for a ``full`` of *dtype*: a number; for an integer dtype an integral one in its
    range. NumPy scalars become Python numbers (op attributes are plain values)."""
    if not is_number(value):
        raise TypeError(f"{op}: value must be a number, not {describe(value)}")
    if not isinstance(value, bool | int | float):
        n = as_integer(value)
        value = n if n is not None else float(value)
    if dtype.kind == "f":
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                float(value)
            except OverflowError:
                raise ValueError(f"{op}: value {value} is too large for {dtype.name}") from None
        return value
    return element(op, "value", value, dtype) if not isinstance(value, bool) else value

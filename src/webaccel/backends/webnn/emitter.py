"""Checked ``MLGraphBuilder`` calls: the one place a WebNN op is made or refused.

An ``Emitter`` wraps a *backend* (``device.JSBuilder`` over the context's real builder, or
``None`` for a dry run) and checks every call against the context's ``opSupportLimits()``
(``Limits``) before making it: op present, each operand's data type allowed, rank in range;
``Unsupported`` says which. A dry run walks the same code path without a builder, so whether a
program is supported is decided by exactly the calls that would build it.

Sizes are checked the same way, before anything is built: every operand's dimensions must be
whole numbers the builder takes (``unsigned long``) and its bytes within the context's
``maxTensorByteLength``, else ``LimitError`` (a ``ValueError``) names the WebNN op, the shape,
the data type and the limit. A builder call the browser still rejects becomes a
``BuildError`` naming the op and its operands, never a raw JS error.

Values in the graph are ``Val(js, dtype, shape)`` with ``dtype`` a WebNN data type name. Each
step's value is kept in its *natural* form: the step's own dtype, except int4, which lives in
the graph as int32 holding wrapped values in [-8, 7] (WebNN cannot cast to int4). float16 steps
compute in float32 (like the other backends: float16 storage, float32 math) and are cast back.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from ...dtypes import DType, as_dtype
from ...errors import LimitError, WebAccelError
from ...ops import broadcast_shapes

Shape = tuple[int, ...]

# WebNN comparisons answer uint8 (0/1) whatever their operands' data type.
COMPARE = ("equal", "notEqual", "greater", "greaterOrEqual", "lesser", "lesserOrEqual")


class Unsupported(NotImplementedError):
    """A step (or a piece of its lowering) this WebNN context cannot run."""


class BuildError(WebAccelError):
    """The browser rejected a builder call the limits allowed (names the op and operands)."""


# Bytes per element of each WebNN data type (int4/uint4: half a byte).
BYTES_PER_ELEMENT = {
    "float32": 4,
    "float16": 2,
    "int32": 4,
    "uint32": 4,
    "int64": 8,
    "uint64": 8,
    "int8": 1,
    "uint8": 1,
    "int4": 0.5,
    "uint4": 0.5,
}
MAX_DIMENSION = 2**32 - 1  # MLOperandDescriptor.shape holds unsigned longs
# The limit when a context does not state one (the WebNN spec's default for Chromium).
DEFAULT_MAX_TENSOR_BYTES = 2**31 - 1


class Val(NamedTuple):
    js: Any  # the MLOperand (None in a dry run or for an empty value)
    dtype: str  # WebNN data type name
    shape: Shape
    source: str = "op"  # "op", "input" or "const": build() needs ops as outputs

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class Call(NamedTuple):
    """One builder call as the emitter made (or, dry, would have made) it."""

    op: str  # the MLGraphBuilder method
    out: Val
    args: tuple[Any, ...]  # positional arguments: Vals, lists of Vals, plain values
    options: dict[str, Any]  # the options dictionary (Vals inside stay Vals)


def natural(dtype: DType) -> str:
    """The WebNN data type a value of *dtype* has inside the graph."""
    return "int32" if dtype.name == "int4" else dtype.webnn


def compute_dtype(dtype: DType) -> str:
    """The WebNN data type a step of result *dtype* computes in."""
    if dtype.kind == "f":
        return "float32"
    return "int32"


class Limits:
    """``opSupportLimits()`` as read from the context (a plain dict)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.max_tensor_bytes = int(raw.get("maxTensorByteLength") or DEFAULT_MAX_TENSOR_BYTES)

    def size(self, what: str, dtype: str, shape: Sequence[Any]) -> None:
        """Raise ``LimitError`` unless *shape* of *dtype* is a tensor this context can hold;
        *what* names the operand (``"WebNN expand: output"``, ``"a float32 storage"``)."""
        for d in shape:
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= MAX_DIMENSION:
                raise LimitError(
                    f"{what}: shape {tuple(shape)} of {dtype} has dimension {d!r}; WebNN "
                    f"dimensions are whole numbers from 0 to {MAX_DIMENSION}"
                )
        nbytes = math.ceil(math.prod(shape) * BYTES_PER_ELEMENT.get(dtype, 4))
        if nbytes > self.max_tensor_bytes:
            raise LimitError(
                f"{what}: shape {tuple(shape)} of {dtype} is {nbytes} bytes, over this WebNN "
                f"context's maxTensorByteLength ({self.max_tensor_bytes} bytes)"
            )

    def check(self, op: str, operands: dict[str, tuple[str, int]]) -> None:
        """Raise ``Unsupported`` unless *op* takes each ``key: (dtype, rank)`` here."""
        entry = self.raw.get(op)
        if not isinstance(entry, dict):
            raise Unsupported(f"this WebNN context has no {op!r} op")
        for key, (dtype, rank) in operands.items():
            spec = entry.get(key)
            if spec is None:
                continue
            types = spec.get("dataTypes", [])
            if dtype not in types:
                raise Unsupported(
                    f"WebNN {op}: {key} of data type {dtype} is not supported here "
                    f"(allowed: {', '.join(types)})"
                )
            rr = spec.get("rankRange") or {}
            lo, hi = rr.get("min", 0), rr.get("max", 8)
            if not lo <= rank <= hi:
                raise Unsupported(
                    f"WebNN {op}: {key} of rank {rank} is out of the supported range [{lo}, {hi}]"
                )

    def io(self, kind: str, dtype: str, rank: int) -> None:
        """Graph inputs/outputs/constants: data type and rank."""
        spec = self.raw.get(kind) or {}
        if dtype not in spec.get("dataTypes", []):
            raise Unsupported(f"WebNN graph {kind}s of data type {dtype} are not supported here")
        rr = spec.get("rankRange") or {}
        if not rr.get("min", 0) <= rank <= rr.get("max", 8):
            raise Unsupported(f"WebNN graph {kind}s of rank {rank} are not supported here")


class Emitter:
    """Checked WebNN builder calls. ``backend`` is None in a dry run.

    The backend interface (``device.JSBuilder`` is the real one): ``input(name, dtype,
    shape)``, ``constant(dtype, shape, data: bytes)``, ``constant_from(tensor, dtype, shape,
    byte_offset, nbytes)`` and ``call(op, args, options)``, each returning an operand."""

    def __init__(self, limits: Limits, backend: Any = None) -> None:
        self.limits = limits
        self.backend = backend
        self.calls: list[Call] = []  # every op made, in order (also keeps the ids below live)
        # The dataflow edges of the graph being built (id of a result -> its operand Vals),
        # so that `reachable_inputs` can tell which declared inputs the outputs really read:
        # build() prunes the others, and dispatch() must not be given them.
        self.parents: dict[int, list[Val]] = {}
        self.graph_inputs: list[Val] = []  # keeps the ids of input_names live
        self.input_names: dict[int, str] = {}
        # id of a reshape's result -> what it reshaped: a reshape of a reshape reads the
        # original instead (values are kept flat between steps, so without this every
        # view of a step's result is two reshapes; measured ~10 of the 41 builder ops of
        # the benchmark's transformer block)
        self.reshaped: dict[int, Val] = {}
        self.reshapes: dict[tuple[int, Shape], Val] = {}
        # id of a scalar constant's Val -> (the Val, kept live; its value): a builder may pick
        # an exact form for a known constant operand (``builders.binary``: x ** 0.5)
        self.scalars: dict[int, tuple[Val, float]] = {}

    # -- sources -------------------------------------------------------------------------------
    def input(self, name: str, dtype: str, shape: Shape) -> Val:
        self.limits.io("input", dtype, len(shape))
        self.limits.size(f"WebNN graph input {name}", dtype, shape)
        js = None
        if self.backend:
            js = self._made("input", lambda: self.backend.input(name, dtype, list(shape)), shape)
        val = Val(js, dtype, tuple(shape), "input")
        self.input_names[id(val)] = name
        self.graph_inputs.append(val)
        return val

    def constant(self, dtype: str, shape: Shape, values: Sequence[Any] | bytes) -> Val:
        """A constant of *values* (packed here) or of raw little-endian *bytes*. A dry run
        may pass placeholder values: nothing is packed without a backend."""
        self.limits.io("constant", dtype, len(shape))
        self.limits.size("WebNN constant", dtype, shape)
        js = None
        if self.backend:
            if isinstance(values, bytes | bytearray):
                data = bytes(values)
            else:
                data = struct.pack(f"<{len(values)}{as_dtype(dtype).struct}", *values)
            js = self._made(
                "constant", lambda: self.backend.constant(dtype, list(shape), data), shape
            )
        return Val(js, dtype, tuple(shape), "const")

    def constant_from(
        self, tensor: Any, dtype: str, shape: Shape, byte_offset: int, nbytes: int
    ) -> Val:
        """A constant made of bytes an MLTensor holds (a captured weight)."""
        self.limits.io("constant", dtype, len(shape))
        self.limits.size("WebNN constant", dtype, shape)

        def make() -> Any:
            return self.backend.constant_from(tensor, dtype, list(shape), byte_offset, nbytes)

        js = self._made("constant", make, shape) if self.backend else None
        return Val(js, dtype, tuple(shape), "const")

    def scalar(self, value: Any, dtype: str) -> Val:
        if dtype in ("int32", "int8", "uint8"):
            value = int(value)
        val = self.constant(dtype, (), [value])
        self.scalars[id(val)] = (val, value)
        return val

    def scalar_value(self, x: Val) -> Any:
        """The value of *x* if it is a scalar constant this emitter made (seen through
        reshapes), else None."""
        x = self.reshaped.get(id(x), x)
        held = self.scalars.get(id(x))
        return held[1] if held is not None and held[0] is x else None

    # -- ops -----------------------------------------------------------------------------------
    def call(
        self,
        op: str,
        out_dtype: str,
        out_shape: Shape,
        checks: dict[str, Val | list[Val]],
        args: Sequence[Any],
        options: dict[str, Any] | None = None,
    ) -> Val:
        """``builder[op](*args, options)`` after checking *checks* (key -> operand(s))."""
        for v in _vals([args, list((options or {}).values())]):
            if v.numel == 0:  # a lowering must answer empty values itself: say so, not crash
                raise Unsupported(f"WebNN {op}: an empty operand of shape {v.shape}")
        for key, v in checks.items():
            for one in v if isinstance(v, list) else [v]:
                self.limits.check(op, {key: (one.dtype, len(one.shape))})
        self.limits.check(op, {"output": (out_dtype, len(out_shape))})
        self.limits.size(f"WebNN {op}: output", out_dtype, out_shape)
        js = None
        if self.backend:
            js_args = [_js(a) for a in args]
            js_opts = {k: _js(v) for k, v in options.items()} if options else None
            operands = ", ".join(f"{v.dtype}{list(v.shape)}" for v in _vals(args))
            js = self._made(
                f"{op}({operands})", lambda: self.backend.call(op, js_args, js_opts), out_shape
            )
        out = Val(js, out_dtype, tuple(out_shape))
        self.parents[id(out)] = _vals([args, list((options or {}).values())])
        self.calls.append(Call(op, out, tuple(args), dict(options or {})))
        return out

    def _made(self, what: str, make: Any, shape: Shape) -> Any:
        """``make()``: one builder call; what the browser throws becomes a ``BuildError``."""
        try:
            return make()
        except (WebAccelError, Unsupported):
            raise
        except Exception as exc:  # a JS TypeError / DOMException from MLGraphBuilder
            raise BuildError(
                f"WebNN {what} -> shape {list(shape)} was rejected by the browser: {exc}"
            ) from exc

    def reachable_inputs(self, outputs: Sequence[Val]) -> set[str]:
        """Names of the graph inputs that *outputs* depend on."""
        names, seen, stack = set(), set(), list(outputs)
        while stack:
            v = stack.pop()
            if id(v) in seen:
                continue
            seen.add(id(v))
            if v.source == "input":
                names.add(self.input_names.get(id(v), ""))
            stack.extend(self.parents.get(id(v), ()))
        return names

    def unary(self, op: str, x: Val, **options: Any) -> Val:
        if op in ("isNaN", "isInfinite"):
            return self.call(op, "uint8", x.shape, {"a": x}, [x])
        return self.call(op, x.dtype, x.shape, {"input": x}, [x], options or None)

    def binary(self, op: str, a: Val, b: Val) -> Val:
        shape = broadcast_shapes(op, a.shape, b.shape)
        out = "uint8" if op in COMPARE else a.dtype
        return self.call(op, out, shape, {"a": a, "b": b}, [a, b])

    def cast(self, x: Val, dtype: str) -> Val:
        if x.dtype == dtype:
            return x
        out = self.call("cast", dtype, x.shape, {"input": x}, [x, dtype])
        value = self.scalar_value(x)
        if value is not None and dtype in ("float32", "float16") and x.dtype.startswith("float"):
            try:
                kept = (
                    dtype == "float32" or struct.unpack("<e", struct.pack("<e", value))[0] == value
                )
            except (OverflowError, struct.error):  # beyond float16
                kept = False
            if kept:  # a constant that keeps its value through the cast
                self.scalars[id(out)] = (out, value)
        return out

    def reshape(self, x: Val, shape: Shape) -> Val:
        shape = tuple(shape)
        if x.shape == shape:
            return x
        x = self.reshaped.get(id(x), x)
        if x.shape == shape:
            return x
        key = (id(x), shape)  # the same reshape of the same value is made once
        if key not in self.reshapes:
            out = self.call("reshape", x.dtype, shape, {"input": x}, [x, list(shape)])
            self.reshaped[id(out)] = x
            self.reshapes[key] = out
        return self.reshapes[key]

    def transpose(self, x: Val, perm: Sequence[int]) -> Val:
        perm = list(perm)
        if perm == list(range(len(perm))):
            return x
        shape = tuple(x.shape[p] for p in perm)
        return self.call("transpose", x.dtype, shape, {"input": x}, [x], {"permutation": perm})

    def expand(self, x: Val, shape: Shape) -> Val:
        shape = tuple(shape)
        if x.shape == shape:
            return x
        return self.call("expand", x.dtype, shape, {"input": x}, [x, list(shape)])

    def slice(
        self, x: Val, starts: Sequence[int], sizes: Sequence[int], strides: Sequence[int]
    ) -> Val:
        out = tuple(-(-n // s) for n, s in zip(sizes, strides, strict=True))
        if out == x.shape and all(s == 0 for s in starts):
            return x
        options = {"strides": list(strides)} if any(s != 1 for s in strides) else None
        return self.call(
            "slice", x.dtype, out, {"input": x}, [x, list(starts), list(sizes)], options
        )

    def reverse(self, x: Val, axes: Sequence[int]) -> Val:
        return self.call("reverse", x.dtype, x.shape, {"input": x}, [x], {"axes": list(axes)})

    def concat(self, parts: list[Val], axis: int, shape: Shape) -> Val:
        return self.call("concat", parts[0].dtype, shape, {"inputs": parts}, [parts, axis])

    def identity(self, x: Val) -> Val:
        return self.call("identity", x.dtype, x.shape, {"input": x}, [x])

    def where(self, cond: Val, a: Val, b: Val) -> Val:
        shape = broadcast_shapes("where", cond.shape, a.shape, b.shape)
        return self.call(
            "where",
            a.dtype,
            shape,
            {"condition": cond, "trueValue": a, "falseValue": b},
            [cond, a, b],
        )


def _vals(obj: Any) -> list[Val]:
    """The Vals inside nested lists/tuples/dicts of builder arguments."""
    if isinstance(obj, Val):
        return [obj]
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _vals(x)]
    if isinstance(obj, list | tuple):
        return [v for x in obj for v in _vals(x)]
    return []


def _js(a: Any) -> Any:
    """A builder argument with its Vals replaced by their operands."""
    if isinstance(a, Val):
        return a.js
    if isinstance(a, list) and a and isinstance(a[0], Val):
        return [x.js for x in a]
    return a

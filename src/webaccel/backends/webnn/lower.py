"""Lowering a ``graph.Program`` to WebNN ``MLGraphBuilder`` calls (pure Python).

An ``Emitter`` wraps a *backend* (the device's JS builder, or ``None`` for a dry run) and checks
every WebNN call against the context's ``opSupportLimits()`` before making it: op present,
each input's data type allowed, rank in range. A dry run (``supports``) walks the same code
path without a builder, so what ``supports(step)`` answers is exactly what ``compile`` will do.

Values in the graph are ``Val(js, dtype, shape)`` with ``dtype`` a WebNN data type name. Each
step's value is kept in its *natural* form: the step's own dtype, except int4, which lives in
the graph as int32 holding wrapped values in [-8, 7] (WebNN cannot cast to int4). float16 steps
compute in float32 (like the other backends: float16 storage, float32 math) and are cast back.

Views of a storage (or of an intermediate, flattened) become WebNN movement ops:
``slice`` (with strides) + ``reshape`` for dense or stepped views, ``transpose`` for permuted
strides, ``reverse`` for negative strides, ``expand`` for stride-0 axes. A view those cannot
express (overlapping windows, strides that do not nest) is read with one ``gather`` over a
host-computed int32 index constant.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from ...dtypes import DType, as_dtype
from ...graph import Program, Step
from ...shapes import broadcast_shapes, contiguous_strides, numel
from ...view import View

Shape = tuple[int, ...]


class Unsupported(NotImplementedError):
    """A step (or a piece of its lowering) this WebNN context cannot run."""


class Val(NamedTuple):
    js: Any  # the MLOperand (None in a dry run or for an empty value)
    dtype: str  # WebNN data type name
    shape: Shape
    source: str = "op"  # "op", "input" or "const": build() needs ops as outputs

    @property
    def numel(self) -> int:
        return numel(self.shape)


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


def _vals(obj: Any) -> list[Val]:
    """The Vals inside nested lists/tuples/dicts of builder arguments."""
    if isinstance(obj, Val):
        return [obj]
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _vals(x)]
    if isinstance(obj, list | tuple):
        return [v for x in obj for v in _vals(x)]
    return []


class Emitter:
    """Checked WebNN builder calls. ``backend`` is None in a dry run."""

    def __init__(self, limits: Limits, backend: Any = None) -> None:
        self.limits = limits
        self.backend = backend
        # The dataflow edges of the graph being built (id of a result -> its operand Vals),
        # so that `reachable_inputs` can tell which declared inputs the outputs really read:
        # build() prunes the others, and dispatch() must not be given them.
        self.parents: dict[int, list[Val]] = {}
        self.keep: list[Val] = []  # keeps ids stable while the edges are in use
        self.input_names: dict[int, str] = {}
        # id of a reshape's result -> what it reshaped: a reshape of a reshape reads the
        # original instead (values are kept flat between steps, so without this every
        # view of a step's result is two reshapes; measured ~10 of the 41 builder ops of
        # the benchmark's transformer block)
        self.reshaped: dict[int, Val] = {}
        self.reshapes: dict[tuple[int, Shape], Val] = {}

    # -- sources -------------------------------------------------------------------------------
    def input(self, name: str, dtype: str, shape: Shape) -> Val:
        self.limits.io("input", dtype, len(shape))
        js = self.backend.input(name, dtype, list(shape)) if self.backend else None
        val = Val(js, dtype, tuple(shape), "input")
        self.input_names[id(val)] = name
        self.keep.append(val)
        return val

    def constant(self, dtype: str, shape: Shape, values: Sequence[Any] | bytes) -> Val:
        self.limits.io("constant", dtype, len(shape))
        js = None
        if self.backend:
            if isinstance(values, bytes | bytearray):
                data = bytes(values)
            else:
                data = struct.pack(f"<{len(values)}{as_dtype(dtype).struct}", *values)
            js = self.backend.constant(dtype, list(shape), data)
        return Val(js, dtype, tuple(shape), "const")

    def constant_from(
        self, tensor: Any, dtype: str, shape: Shape, byte_offset: int, nbytes: int
    ) -> Val:
        """A constant made of bytes an MLTensor holds (a captured weight)."""
        self.limits.io("constant", dtype, len(shape))
        js = None
        if self.backend:
            js = self.backend.constant_from(tensor, dtype, list(shape), byte_offset, nbytes)
        return Val(js, dtype, tuple(shape), "const")

    def scalar(self, value: Any, dtype: str) -> Val:
        if dtype in ("int32", "int8", "uint8"):
            value = int(value)
        return self.constant(dtype, (), [value])

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
        for key, v in checks.items():
            for one in v if isinstance(v, list) else [v]:
                self.limits.check(op, {key: (one.dtype, len(one.shape))})
        self.limits.check(op, {"output": (out_dtype, len(out_shape))})
        js = None
        if self.backend:
            js_args = [_js(a) for a in args]
            js_opts = {k: _js(v) for k, v in options.items()} if options else None
            js = self.backend.call(op, js_args, js_opts)
        out = Val(js, out_dtype, tuple(out_shape))
        self.parents[id(out)] = _vals([args, list((options or {}).values())])
        self.keep.append(out)
        return out

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
        shape = broadcast_shapes(a.shape, b.shape)
        out = "uint8" if op in _COMPARE else a.dtype
        return self.call(op, out, shape, {"a": a, "b": b}, [a, b])

    def cast(self, x: Val, dtype: str) -> Val:
        if x.dtype == dtype:
            return x
        return self.call("cast", dtype, x.shape, {"input": x}, [x, dtype])

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

    def identity(self, x: Val) -> Val:
        return self.call("identity", x.dtype, x.shape, {"input": x}, [x])

    def where(self, cond: Val, a: Val, b: Val) -> Val:
        shape = broadcast_shapes(cond.shape, a.shape, b.shape)
        return self.call(
            "where",
            a.dtype,
            shape,
            {"condition": cond, "trueValue": a, "falseValue": b},
            [cond, a, b],
        )


def _js(a: Any) -> Any:
    if isinstance(a, Val):
        return a.js
    if isinstance(a, list) and a and isinstance(a[0], Val):
        return [x.js for x in a]
    return a


_COMPARE = ("equal", "notEqual", "greater", "greaterOrEqual", "lesser", "lesserOrEqual")


# --- views ------------------------------------------------------------------------------------


def read_view(e: Emitter, flat: Val, view: View) -> Val:
    """The elements of 1-D *flat* that *view* sees, as a value of ``view.shape``."""
    shape, numel = tuple(view.shape), view.numel
    if numel == 0:
        return Val(None, flat.dtype, shape)
    if view.is_contiguous():
        if view.offset == 0 and numel == flat.numel:
            return e.reshape(flat, shape)
        return e.reshape(e.slice(flat, [view.offset], [numel], [1]), shape)
    axes = [(i, n, s) for i, (n, s) in enumerate(zip(shape, view.strides, strict=True))]
    real = [(i, n, s) for i, n, s in axes if n > 1 and s != 0]
    lo = view.offset + sum((n - 1) * s for _, n, s in real if s < 0)
    flipped = [i for i, _, s in real if s < 0]
    order = sorted(real, key=lambda a: -abs(a[2]))
    nest = all(
        abs(outer[2]) % abs(inner[2]) == 0 and inner[1] * abs(inner[2]) <= abs(outer[2])
        for outer, inner in itertools.pairwise(order)
    )
    if not nest or len(order) > 5:
        return _gather_view(e, flat, view)
    sizes = [n for _, n, _ in order]
    strides = [abs(s) for _, _, s in order]
    if len(order) == 1:
        block = e.slice(flat, [lo], [(sizes[0] - 1) * strides[0] + 1], [strides[0]])
    else:
        # rows of the outermost stride; each inner axis nests in the row of the one outside it
        need = sizes[0] * strides[0]
        region = flat
        if lo + need > flat.numel:
            pad = lo + need - flat.numel
            zeros = e.expand(e.scalar(0, flat.dtype), (pad,)) if flat.dtype != "int4" else None
            if zeros is None:
                return _gather_view(e, flat, view)
            region = e.call(
                "concat",
                flat.dtype,
                (flat.numel + pad,),
                {"inputs": [flat, zeros]},
                [[flat, zeros], 0],
            )
        region = e.slice(region, [lo], [need], [1]) if lo or need != region.numel else region
        dims = [sizes[0]] + [strides[k - 1] // strides[k] for k in range(1, len(order) - 1)]
        dims.append(strides[-2])
        block = e.reshape(region, tuple(dims))
        block = e.slice(
            block,
            [0] * len(dims),
            [*sizes[:-1], (sizes[-1] - 1) * strides[-1] + 1],
            [1] * (len(dims) - 1) + [strides[-1]],
        )
    # block axes follow `order`; put them back in view order
    in_view_order = sorted(range(len(order)), key=lambda k: order[k][0])
    block = e.transpose(block, in_view_order)
    if flipped:
        pos = [k for k, a in enumerate(sorted(order, key=lambda a: a[0])) if a[0] in flipped]
        block = e.call(
            "reverse", block.dtype, block.shape, {"input": block}, [block], {"axes": pos}
        )
    real_ids = {i for i, _, _ in real}
    kept = tuple(n if i in real_ids else 1 for i, n, _ in axes)
    block = e.reshape(block, kept)
    return e.expand(block, shape)


def _gather_view(e: Emitter, flat: Val, view: View) -> Val:
    n = view.numel
    const = e.constant("int32", (n,), _view_indices(view) if e.backend else b"")
    out = e.call(
        "gather",
        flat.dtype,
        (n,),
        {"input": flat, "indices": const},
        [flat, const],
        {"axis": 0},
    )
    return e.reshape(out, tuple(view.shape))


def _view_indices(view: View) -> list[int]:
    idx = [view.offset]
    for n, s in zip(view.shape, view.strides, strict=True):
        idx = [base + k * s for base in idx for k in range(n)]
    return idx


# --- steps ------------------------------------------------------------------------------------

UNARY_DIRECT = {
    "exp": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "neg": "neg",
    "abs": "abs",
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "erf": "erf",
}
BINARY_DIRECT = {
    "add": "add",
    "sub": "sub",
    "mul": "mul",
    "div": "div",
    "pow": "pow",
    "maximum": "max",
    "minimum": "min",
}
REDUCE = {"sum": "reduceSum", "mean": "reduceMean", "max": "reduceMax", "min": "reduceMin"}
QUANT = ("dequantize", "linear_q")  # ops whose int4 storage sources stay int4 (codes())


class Lowering:
    """Lowers one program's steps; ``values[slot]`` holds each slot's value once made."""

    def __init__(
        self,
        e: Emitter,
        program: Program,
        input_dtypes: Sequence[DType],
        ieee: bool = True,
        consts: dict[int, Any] | None = None,
    ) -> None:
        self.e = e
        # slot -> the MLTensor of a captured weight: contiguous reads of it become constants
        self.consts = consts or {}
        self.const_vals: dict[tuple[int, int, Shape], Val] = {}
        self.ieee = ieee  # add the guards for NaN/inf inputs and the accuracy fixes (see IEEE)
        self.program = program
        self.n = program.n_inputs
        self.input_dtypes = list(input_dtypes)
        self.inputs: dict[int, Val] = {}  # slot -> the flat graph input, as stored
        self.natural: dict[int, Val] = {}  # slot -> that input in its natural form (int4: int32)
        self.values: list[Val | None] = [None] * len(program.steps)

    # -- operands ------------------------------------------------------------------------------
    def const_view(self, slot: int, view: View, dtype: DType) -> Val:
        """The elements a contiguous *view* of captured weight *slot* sees, as a constant of
        the view's shape (one per slot, offset and shape)."""
        key = (slot, view.offset, tuple(view.shape))
        if key not in self.const_vals:
            start, nbytes = dtype.nbytes(view.offset), dtype.nbytes(view.numel)
            self.const_vals[key] = self.e.constant_from(
                self.consts[slot], dtype.webnn, tuple(view.shape), start, nbytes
            )
        return self.const_vals[key]

    def raw_input(self, slot: int) -> Val:
        """The graph input of storage *slot* in its stored data type (int4 stays int4)."""
        if slot not in self.inputs:
            numel, dtype = self.program.inputs[slot]
            self.inputs[slot] = self.e.input(f"i{slot}", dtype.webnn, (numel,))
        return self.inputs[slot]

    def flat_input(self, slot: int) -> Val:
        if slot not in self.natural:
            dtype = self.program.inputs[slot][1]
            raw = self.raw_input(slot)
            if dtype.name == "int4":
                scale = self.e.constant("float32", (1,), [1.0])
                zero = self.e.constant("int4", (1,), b"\x00")
                f = self.e.call(
                    "dequantizeLinear",
                    "float32",
                    raw.shape,
                    {"input": raw, "scale": scale, "zeroPoint": zero},
                    [raw, scale, zero],
                )
                raw = self.e.cast(f, "int32")  # an op result: its edges are tracked
            self.natural[slot] = raw
        return self.natural[slot]

    def src(self, ref: tuple[int, View, DType]) -> Val:
        slot, view, dtype = ref
        if slot < self.n:
            stored = self.program.inputs[slot][1]
            if dtype != stored:
                raise Unsupported(f"a {stored.name} storage read as {dtype.name} (bitcast view)")
            if view.numel == 0:
                return Val(None, natural(dtype), tuple(view.shape))
            if slot in self.consts and view.is_contiguous() and dtype.name != "int4":
                return self.const_view(slot, view, dtype)
            return read_view(self.e, self.flat_input(slot), view)
        step = self.program.steps[slot - self.n]
        value = self.values[slot - self.n]
        assert value is not None
        if dtype != step.dtype:
            raise Unsupported(f"a {step.dtype.name} result read as {dtype.name} (bitcast view)")
        if view.numel == 0 or value.numel == 0:
            return Val(None, value.dtype, tuple(view.shape))
        if view == View.contiguous(value.shape):
            return value
        if view.is_contiguous() and view.offset == 0 and view.numel == value.numel:
            return self.e.reshape(value, tuple(view.shape))
        return read_view(self.e, self.e.reshape(value, (value.numel,)), view)

    def run(self) -> None:
        for i, step in enumerate(self.program.steps):
            try:
                self.values[i] = self.step(step)
            except Unsupported as exc:
                raise Unsupported(f"webnn cannot run {describe(step)}: {exc}") from None

    def step(self, step: Step) -> Val:
        if math.prod(step.shape) == 0:
            for ref in step.srcs:  # still check the inputs' dtypes (bitcasts)
                if ref[0] < self.n and ref[2] != self.program.inputs[ref[0]][1]:
                    raise Unsupported("a bitcast view of a storage")
            return Val(None, natural(step.dtype), tuple(step.shape))
        srcs = [self.src(r) for r in step.srcs] if step.op not in QUANT else self.codes(step)
        fn = getattr(self, "op_" + step.op, None)
        if fn is None:
            raise Unsupported(f"the webnn backend has no lowering for {step.op!r}")
        out = fn(step, srcs)
        want = natural(step.dtype)
        if out.dtype != want:
            out = self.e.cast(out, want)
        if out.shape != tuple(step.shape):
            out = self.e.reshape(out, tuple(step.shape))
        return out

    def c(self, v: Val, dtype: str) -> Val:
        return self.e.cast(v, dtype)

    # -- elementwise ---------------------------------------------------------------------------
    def _unary(self, step: Step, srcs: list[Val]) -> Val:
        x = self.c(srcs[0], compute_dtype(step.dtype))
        e = self.e
        if self.ieee and x.dtype == "float32" and step.op in IEEE:
            return IEEE[step.op](self, x)
        if step.op == "rsqrt":
            return e.unary("reciprocal", e.unary("sqrt", x))
        if step.op == "gelu":
            if step.attr("approximate") == "tanh":
                # 0.5 x (1 + tanh(z)) == x * sigmoid(2 z): no cancellation for x << 0
                k = math.sqrt(2.0 / math.pi)
                x3 = e.binary("mul", e.binary("mul", x, x), x)
                inner = e.binary("add", x, e.binary("mul", x3, e.scalar(0.044715, x.dtype)))
                z2 = e.binary("mul", inner, e.scalar(2 * k, x.dtype))
                return e.binary("mul", x, e.unary("sigmoid", z2))
            return e.unary("gelu", x)
        return e.unary(UNARY_DIRECT[step.op], x)

    op_exp = op_log = op_sqrt = op_rsqrt = op_neg = op_abs = op_relu = _unary
    op_sigmoid = op_tanh = op_erf = op_gelu = _unary

    def _binary(self, step: Step, srcs: list[Val]) -> Val:
        dt = compute_dtype(step.dtype)
        a, b = (self.c(s, dt) for s in srcs)
        if dt == "int32" and step.op == "div":
            return self._int_div(a, b)
        if dt == "int32" and step.op == "pow":
            return self._int_pow(a, b)
        out = self.e.binary(BINARY_DIRECT[step.op], a, b)
        if self.ieee and dt == "float32" and step.op in ("maximum", "minimum"):
            e = self.e
            nan = e.binary("logicalOr", e.unary("isNaN", a), e.unary("isNaN", b))
            out = e.where(nan, e.binary("add", a, b), out)
        return out

    op_add = op_sub = op_mul = op_div = op_pow = op_maximum = op_minimum = _binary

    def _int_div(self, a: Val, b: Val) -> Val:
        """ONNX integer Div: truncates toward zero; x / 0 gives 0 here (like the others)."""
        e = self.e
        zero, one = e.scalar(0, "int32"), e.scalar(1, "int32")
        bz = e.binary("equal", b, zero)
        q = e.binary("div", a, e.where(bz, one, b))
        return e.where(bz, zero, q)

    def _int_pow(self, a: Val, b: Val) -> Val:
        """int pow; a negative exponent gives 1 / a**|b| truncated: 1, +-1 or 0."""
        e = self.e
        zero, one, two = e.scalar(0, "int32"), e.scalar(1, "int32"), e.scalar(2, "int32")
        neg = e.binary("lesser", b, zero)
        r = e.binary("pow", a, e.where(neg, zero, b))
        even = e.binary("equal", e.binary("mul", e.binary("div", b, two), two), b)
        sign = e.where(even, one, e.scalar(-1, "int32"))
        at_neg = e.where(
            e.binary("equal", a, one),
            one,
            e.where(e.binary("equal", a, e.scalar(-1, "int32")), sign, zero),
        )
        return e.where(neg, at_neg, r)

    def op_where(self, step: Step, srcs: list[Val]) -> Val:
        cond, a, b = srcs
        cdt = "int32" if cond.dtype in ("int8", "uint8", "int32") else "float32"
        cond = self.c(cond, cdt)
        mask = self.e.binary("notEqual", cond, self.e.scalar(0, cdt))
        dt = natural(step.dtype) if step.dtype.kind != "f" else "float32"
        out = self.e.where(mask, self.c(a, dt), self.c(b, dt))
        return out

    def op_cast(self, step: Step, srcs: list[Val]) -> Val:
        x = srcs[0]
        if step.dtype.name != "int4":
            return self.c(x, step.dtype.webnn)
        e = self.e
        f = self.c(self.c(x, "int32"), "float32")  # toward zero first, like the others
        eight, sixteen = e.scalar(8.0, "float32"), e.scalar(16.0, "float32")
        q = e.unary("floor", e.binary("div", e.binary("add", f, eight), sixteen))
        return self.c(e.binary("sub", f, e.binary("mul", q, sixteen)), "int32")

    def op_contiguous(self, step: Step, srcs: list[Val]) -> Val:
        return srcs[0]

    def op_full(self, step: Step, srcs: list[Val]) -> Val:
        value = step.attr("value")
        dt = natural(step.dtype)
        if step.dtype.name == "int4":
            value = ((int(value) + 8) & 0xF) - 8
        elif step.dtype.kind == "f":
            dt = "float32" if dt == "float16" else dt
        return self.e.expand(self.e.scalar(value, dt), tuple(step.shape))

    # -- reductions ----------------------------------------------------------------------------
    def _reduce(self, step: Step, srcs: list[Val]) -> Val:
        x = self.c(srcs[0], compute_dtype(step.dtype))
        axes = list(step.attr("axes"))
        keep = bool(step.attr("keepdims", False))
        e = self.e
        if x.numel == 0:
            return self._empty_reduce(step, x)
        if not axes:
            return x
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes)
        opts = {"axes": axes, "keepDimensions": keep}
        if step.op == "mean" and x.dtype == "int32":
            total = e.call("reduceSum", "int32", shape, {"input": x}, [x], opts)
            count = math.prod(x.shape[a] for a in axes)
            return self._int_div(total, e.scalar(count, "int32"))
        out = e.call(REDUCE[step.op], x.dtype, shape, {"input": x}, [x], opts)
        if self.ieee and x.dtype == "float32" and step.op in ("max", "min"):
            m = self.c(e.unary("isNaN", x), "float32")
            m = e.call("reduceMax", "float32", shape, {"input": m}, [m], opts)
            nan = e.binary("greater", m, e.scalar(0.0, "float32"))
            out = e.where(nan, e.scalar(float("nan"), "float32"), out)
        return out

    op_sum = op_mean = op_max = op_min = _reduce

    def _empty_reduce(self, step: Step, x: Val) -> Val:
        if step.op == "sum":
            value: float = 0
        elif step.op == "mean":
            value = float("nan") if x.dtype == "float32" else 0
        else:
            raise Unsupported(f"{step.op} over an empty axis")
        return self.e.expand(self.e.scalar(value, x.dtype), tuple(step.shape))

    # -- matmul --------------------------------------------------------------------------------
    def op_matmul(self, step: Step, srcs: list[Val]) -> Val:
        dt = compute_dtype(step.dtype)
        a, b = (self.c(s, dt) for s in srcs)
        e = self.e
        if a.numel == 0 or b.numel == 0:  # K == 0: zeros
            return e.expand(e.scalar(0, dt), tuple(step.shape))
        a2 = a if len(a.shape) > 1 else e.reshape(a, (1, *a.shape))
        b2 = b if len(b.shape) > 1 else e.reshape(b, (*b.shape, 1))
        rank = max(len(a2.shape), len(b2.shape))
        a2 = e.reshape(a2, (1,) * (rank - len(a2.shape)) + a2.shape)
        b2 = e.reshape(b2, (1,) * (rank - len(b2.shape)) + b2.shape)
        batch = broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        out = (*batch, a2.shape[-2], b2.shape[-1])
        return e.call("matmul", dt, out, {"a": a2, "b": b2}, [a2, b2])

    def op_linear(self, step: Step, srcs: list[Val]) -> Val:
        x, w, bias = (self.c(s, "float32") for s in srcs)
        e = self.e
        k = w.shape[1]
        m = x.numel // k if k else 0
        x2 = e.reshape(x, (m, k))
        opts: dict[str, Any] = {"bTranspose": True}
        out = w.shape[0]
        slot, view, dtype = step.srcs[1]
        if step.op == "linear" and view.ndim == 2 and view.strides == (1, view.shape[0]):
            # x @ W for a contiguous (in, out) W, which the linear pass wrote as a transposed
            # view: read W as stored (a constant when captured) and skip the transpose
            stored = View(view.shape[::-1], (view.shape[0], 1), view.offset)
            w = self.c(self.src((slot, stored, dtype)), "float32")
            opts = {}
        checks: dict[str, Val | list[Val]] = {"a": x2, "b": w}
        if bias.shape:
            opts["c"] = bias
            checks["c"] = bias
        y = e.call("gemm", "float32", (m, out), checks, [x2, w], opts)
        return self._activation(step, y)

    def _activation(self, step: Step, y: Val) -> Val:
        act = step.attr("activation")  # set by graph passes (passes.py): act(x @ w.T + b)
        if act is None:
            return y
        op, attrs = ("gelu", (("approximate", act[5:] or "none"),)) if "gelu" in act else (act, ())
        return self._unary(Step(op, attrs, (), y.shape, step.dtype), [y])

    # -- weight-only quantization -------------------------------------------------------------
    def codes(self, step: Step) -> list[Val]:
        """The sources of a quantized op, int4 codes of a storage read as stored (int4, not
        the int32 of their natural form) so ``dequantizeLinear`` takes them directly."""
        out = []
        for ref in step.srcs:
            slot, view, dtype = ref
            if dtype.name == "int4" and slot < self.n and self.program.inputs[slot][1] == dtype:
                out.append(read_view(self.e, self.raw_input(slot), view))
            else:
                out.append(self.src(ref))
        return out

    def _dequantize(self, q: Val, scale: Val, group: int) -> Val:
        """``dequantizeLinear(q, scale, 0)`` with block-wise scales: (out, in / group) when
        the groups are whole, else the scales repeated to one per element (a partial last
        group is no block)."""
        e = self.e
        out, k = q.shape
        scale = self.c(scale, "float32")
        ng = scale.shape[1]
        if ng * group != k and ng > 1:
            s3 = e.expand(e.reshape(scale, (out, ng, 1)), (out, ng, group))
            scale = e.slice(e.reshape(s3, (out, ng * group)), [0, 0], [out, k], [1, 1])
        if q.dtype == "int4":
            zero = e.constant("int4", scale.shape, bytes(-(-math.prod(scale.shape) // 2)))
        else:
            zero = e.constant(q.dtype, scale.shape, [0] * math.prod(scale.shape))
        return e.call(
            "dequantizeLinear",
            "float32",
            q.shape,
            {"input": q, "scale": scale, "zeroPoint": zero},
            [q, scale, zero],
        )

    def op_dequantize(self, step: Step, srcs: list[Val]) -> Val:
        return self._dequantize(srcs[0], srcs[1], step.attr("group"))

    def op_linear_q(self, step: Step, srcs: list[Val]) -> Val:
        x, q, scale, bias = srcs
        if q.dtype == "int8" and scale.shape[1] == 1 and q.numel:
            try:
                return self._linear_int8_rows(step, x, q, scale, bias)
            except Unsupported:
                pass  # no int8 -> float32 cast in this context: dequantizeLinear below
        return self.op_linear(step, [x, self._dequantize(q, scale, step.attr("group")), bias])

    def _linear_int8_rows(self, step: Step, x: Val, q: Val, scale: Val, bias: Val) -> Val:
        """int8 with one scale per row: ``x @ (q * s).T == (x @ q.T) * s``, so the codes go
        through a plain cast and the scales multiply the gemm's output. This browser computes
        ``dequantizeLinear`` on every dispatch, and that form is slower: a 16x384 input by a
        1536x384 int8 weight took 4.7 ms with dequantizeLinear + gemm, 3.5 ms this way (fp32
        weights: 2.1 ms; headless shell)."""
        e = self.e
        x = self.c(x, "float32")
        out, k = q.shape
        m = x.numel // k
        x2 = e.reshape(x, (m, k))
        w = e.cast(q, "float32")
        opts = {"bTranspose": True}
        y = e.call("gemm", "float32", (m, out), {"a": x2, "b": w}, [x2, w], opts)
        y = e.binary("mul", y, e.reshape(self.c(scale, "float32"), (1, out)))
        bias = self.c(bias, "float32")
        if bias.shape:
            y = e.binary("add", y, bias)
        return self._activation(step, y)

    # -- conv / pool ---------------------------------------------------------------------------
    def op_conv(self, step: Step, srcs: list[Val]) -> Val:
        x, w, bias = (self.c(s, "float32") for s in srcs)
        a = dict(step.attrs)
        e = self.e
        stride, dilation, pads = tuple(a["stride"]), tuple(a["dilation"]), tuple(a["padding"])
        layout = a["layout"]
        nhwc = layout in ("nhwc", "nwc")
        if len(stride) == 1:  # conv1d as conv2d over a height of 1
            n = x.shape[0]
            x = e.reshape(x, (n, 1, *x.shape[1:]) if nhwc else (n, x.shape[1], 1, x.shape[2]))
            w = e.reshape(w, (w.shape[0], w.shape[1], 1, w.shape[2]))
            stride, dilation, pads = (1, *stride), (1, *dilation), (0, 0, *pads)
        out_sp = tuple(
            (
                x.shape[(1 if nhwc else 2) + i]
                + pads[2 * i]
                + pads[2 * i + 1]
                - dilation[i] * (w.shape[2 + i] - 1)
                - 1
            )
            // stride[i]
            + 1
            for i in range(2)
        )
        out = (x.shape[0], *out_sp, w.shape[0]) if nhwc else (x.shape[0], w.shape[0], *out_sp)
        opts: dict[str, Any] = {
            "padding": list(pads),
            "strides": list(stride),
            "dilations": list(dilation),
            "groups": a["groups"],
            "inputLayout": "nhwc" if nhwc else "nchw",
            "filterLayout": "oihw",
        }
        checks: dict[str, Val | list[Val]] = {"input": x, "filter": w}
        if bias.shape:
            opts["bias"] = bias
            checks["bias"] = bias
        return e.call("conv2d", "float32", out, checks, [x, w], opts)

    def _pool(self, step: Step, srcs: list[Val]) -> Val:
        x = self.c(srcs[0], "float32")
        a = dict(step.attrs)
        e = self.e
        kernel, stride, pads = tuple(a["kernel"]), tuple(a["stride"]), tuple(a["padding"])
        nhwc = a["layout"] == "nhwc"
        sp = (1, 2) if nhwc else (2, 3)
        out_sp = tuple(
            (x.shape[sp[i]] + pads[2 * i] + pads[2 * i + 1] - kernel[i]) // stride[i] + 1
            for i in range(2)
        )
        out = (x.shape[0], *out_sp, x.shape[3]) if nhwc else (*x.shape[:2], *out_sp)
        layout = "nhwc" if nhwc else "nchw"
        opts: dict[str, Any] = {
            "windowDimensions": list(kernel),
            "strides": list(stride),
            "layout": layout,
        }
        y = self._pool_value(step, x, kernel, stride, pads, nhwc, out, opts)
        if self.ieee:  # the pools here skip NaN (max) or turn it into -inf (average)
            m = self.c(e.unary("isNaN", x), "float32")
            m = e.call(
                "maxPool2d", "float32", out, {"input": m}, [m], {**opts, "padding": list(pads)}
            )
            nan = e.binary("greater", m, e.scalar(0.0, "float32"))
            y = e.where(nan, e.scalar(float("nan"), "float32"), y)
        return y

    def _pool_value(
        self,
        step: Step,
        x: Val,
        kernel: Shape,
        stride: Shape,
        pads: Shape,
        nhwc: bool,
        out: Shape,
        opts: dict[str, Any],
    ) -> Val:
        e = self.e
        sp = (1, 2) if nhwc else (2, 3)
        out_sp = out[1:3] if nhwc else out[2:]
        if step.op == "max_pool2d" or not any(pads):
            opts = {**opts, "padding": list(pads)}
            name = "maxPool2d" if step.op == "max_pool2d" else "averagePool2d"
            return e.call(name, "float32", out, {"input": x}, [x], opts)
        # average excluding the padding: pad with zeros, average whole windows, rescale by
        # (window size / real elements in the window), a constant made here
        begin, end = [0, 0, 0, 0], [0, 0, 0, 0]
        begin[sp[0]], end[sp[0]], begin[sp[1]], end[sp[1]] = pads
        padded_shape = tuple(d + begin[i] + end[i] for i, d in enumerate(x.shape))
        xp = e.call(
            "pad",
            "float32",
            padded_shape,
            {"input": x},
            [x, begin, end],
            {"mode": "constant", "value": 0},
        )
        avg = e.call("averagePool2d", "float32", out, {"input": xp}, [xp], opts)
        h, w = x.shape[sp[0]], x.shape[sp[1]]
        factor = []
        for oy in range(out_sp[0]):
            y0 = oy * stride[0] - pads[0]
            ny = min(y0 + kernel[0], h) - max(y0, 0)
            for ox in range(out_sp[1]):
                x0 = ox * stride[1] - pads[2]
                nx = min(x0 + kernel[1], w) - max(x0, 0)
                factor.append(kernel[0] * kernel[1] / (ny * nx))
        fshape = (*out_sp, 1) if nhwc else out_sp
        return e.binary("mul", avg, e.constant("float32", fshape, factor))

    op_max_pool2d = op_avg_pool2d = _pool

    # -- normalization -------------------------------------------------------------------------
    def op_softmax(self, step: Step, srcs: list[Val]) -> Val:
        x = self.c(srcs[0], "float32")
        axis = step.attr("axis")
        return self.e.call("softmax", "float32", x.shape, {"input": x}, [x, axis])

    def op_layer_norm(self, step: Step, srcs: list[Val]) -> Val:
        x, w, b = (self.c(s, "float32") for s in srcs)
        opts: dict[str, Any] = {"axes": list(step.attr("axes")), "epsilon": float(step.attr("eps"))}
        checks: dict[str, Val | list[Val]] = {"input": x}
        if w.shape:
            opts["scale"] = checks["scale"] = w
        if b.shape:
            opts["bias"] = checks["bias"] = b
        return self.e.call("layerNormalization", "float32", x.shape, checks, [x], opts)

    def op_batch_norm(self, step: Step, srcs: list[Val]) -> Val:
        x, mean, var, w, b = (self.c(s, "float32") for s in srcs)
        opts: dict[str, Any] = {"axis": step.attr("axis"), "epsilon": float(step.attr("eps"))}
        checks: dict[str, Val | list[Val]] = {"input": x, "mean": mean, "variance": var}
        if w.shape:
            opts["scale"] = checks["scale"] = w
        if b.shape:
            opts["bias"] = checks["bias"] = b
        return self.e.call("batchNormalization", "float32", x.shape, checks, [x, mean, var], opts)

    # -- movement / index ----------------------------------------------------------------------
    def op_concat(self, step: Step, srcs: list[Val]) -> Val:
        dt = natural(step.dtype)
        parts = [self.c(s, dt) for s in srcs if s.numel]
        if len(parts) == 1:
            return parts[0]
        return self.e.call(
            "concat", dt, tuple(step.shape), {"inputs": parts}, [parts, step.attr("axis")]
        )

    def op_gather(self, step: Step, srcs: list[Val]) -> Val:
        x, idx = srcs
        axis = step.attr("axis")
        e = self.e
        n = x.shape[axis]
        zero = e.scalar(0, "int32")
        fixed = e.where(
            e.binary("lesser", idx, zero), e.binary("add", idx, e.scalar(n, "int32")), idx
        )
        return e.call(
            "gather",
            x.dtype,
            tuple(step.shape),
            {"input": x, "indices": fixed},
            [x, fixed],
            {"axis": axis},
        )


# --- IEEE guards ------------------------------------------------------------------------------
# The headless shell's WebNN (TFLite/XNNPACK on CPU) answers exp(NaN) = 0, log(inf) and
# log(x >= ~2.3e38) = 88.38, log(NaN) = finite, sqrt(inf) = NaN, sqrt(3.4e38) 50 % off, erf with
# 1.3e-6 relative error near |x| = 0.1, max/min (binary, reduce, pool) that drop NaN, and an
# average pool that turns NaN into -inf. The guards give IEEE/libm answers (a few cheap ops).

_ERF_SERIES = [
    (-1) ** n / (math.factorial(n) * (2 * n + 1)) * 2 / math.sqrt(math.pi) for n in range(7)
]


def _keep_nan(low: Lowering, x: Val, y: Val) -> Val:
    return low.e.where(low.e.unary("isNaN", x), x, y)


def _ieee_exp(low: Lowering, x: Val) -> Val:
    return _keep_nan(low, x, low.e.unary("exp", x))


def _ieee_log(low: Lowering, x: Val) -> Val:
    e = low.e
    y = e.unary("log", x)
    big = e.binary("greater", x, e.scalar(2.0**64, "float32"))
    scaled = e.unary("log", e.binary("mul", x, e.scalar(2.0**-64, "float32")))
    y = e.where(big, e.binary("add", scaled, e.scalar(64 * math.log(2), "float32")), y)
    y = e.where(e.binary("equal", x, e.scalar(math.inf, "float32")), x, y)
    return _keep_nan(low, x, y)


def _ieee_sqrt(low: Lowering, x: Val) -> Val:
    e = low.e
    y = e.unary("sqrt", x)
    big = e.binary("greater", x, e.scalar(2.0**100, "float32"))
    scaled = e.unary("sqrt", e.binary("mul", x, e.scalar(2.0**-64, "float32")))
    y = e.where(big, e.binary("mul", scaled, e.scalar(2.0**32, "float32")), y)
    return e.where(e.binary("equal", x, e.scalar(math.inf, "float32")), x, y)


def _ieee_rsqrt(low: Lowering, x: Val) -> Val:
    return low.e.unary("reciprocal", _ieee_sqrt(low, x))


def _ieee_erf(low: Lowering, x: Val) -> Val:
    """erf's Taylor series for |x| < 0.5 (error < 1e-9 there), the native erf elsewhere."""
    e = low.e
    x2 = e.binary("mul", x, x)
    p = e.scalar(_ERF_SERIES[-1], "float32")
    for coef in reversed(_ERF_SERIES[:-1]):
        p = e.binary("add", e.binary("mul", p, x2), e.scalar(coef, "float32"))
    small = e.binary("lesser", e.unary("abs", x), e.scalar(0.5, "float32"))
    return e.where(small, e.binary("mul", x, p), e.unary("erf", x))


IEEE = {
    "exp": _ieee_exp,
    "log": _ieee_log,
    "sqrt": _ieee_sqrt,
    "rsqrt": _ieee_rsqrt,
    "erf": _ieee_erf,
}


def describe(step: Step) -> str:
    """``op`` with its input dtypes and ranks, for error messages."""
    ins = ", ".join(f"{d.name}[rank {len(v.shape)}]" for _, v, d in step.srcs)
    return f"step {step.op}({ins}) -> {step.dtype.name}[rank {len(step.shape)}]"


def output_value(e: Emitter, value: Val, dtype: DType) -> Val:
    """A program output as the flat 1-D tensor its storage is (never an input or constant)."""
    if dtype.name == "int4":
        raise Unsupported("int4 results (WebNN cannot cast to int4; keep int4 for weights)")
    flat = e.reshape(value, (value.numel,))
    if flat.source != "op":
        flat = e.identity(flat)
    e.limits.io("output", flat.dtype, 1)
    return flat


def strides_of(shape: Shape) -> Shape:
    return contiguous_strides(shape)

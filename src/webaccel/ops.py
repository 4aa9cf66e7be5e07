"""The op set, defined once: name, arity, kind, dtype rule, shape inference and tolerance.

Every backend implements the ops of this table (or says it does not, and the op falls back);
every ``Tensor`` method that computes goes through ``infer`` here, so a bad shape or dtype fails
the same way everywhere, naming the op, the shapes and the rule. Semantics follow ONNX/NumPy.
Composites (attention) are written from these ops in ``functional.py``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .dtypes import DType, as_dtype, float32, int32, result_type
from .errors import DTypeError, ShapeError
from .shapes import broadcast_shapes as _broadcast
from .shapes import check_int, check_ints, check_shape
from .shapes import numel as numel  # re-exported: ops.numel is shapes.numel

Shape = tuple[int, ...]


class FloatAttr(float):
    """A float op attribute that compares and hashes by its bits.

    Attributes are part of the compiled-program cache key; plain floats would make ``-0.0``
    hit the program compiled for ``0.0`` (they are ==) and every NaN miss (NaN != NaN).
    """

    __slots__ = ()

    def _bits(self) -> bytes:
        return struct.pack("<d", self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and struct.pack("<d", other) == self._bits()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._bits())


# --- tolerances: how far a backend's result may be from the exact one -------------------------
# One table for the op tests (tests/op_cases.py compares every case against float64 NumPy with
# these) and for ``webaccel.verify`` (which compares a device against the cpu reference with
# them). The rule: the reference is rounded to the result dtype, then
# |got - want| <= atol + rtol * |want| elementwise, NaN exactly where the reference has NaN,
# infinities exactly. float32 eps = 1.2e-7; float16 eps = 9.8e-4.


class Tolerance(NamedTuple):
    rtol: float
    atol: float


# integer ops, movement, casts, max/min, relu/neg/abs: no rounding at all
EXACT = Tolerance(0.0, 0.0)
# correctly rounded IEEE ops (add/sub/mul/div, sqrt): the final rounding to float32 (6e-8)
ELEMENTWISE = Tolerance(1e-6, 1e-6)
# exp/log/tanh/sigmoid/erf/gelu/pow/rsqrt in float32: a few ulp
TRANSCENDENTAL = Tolerance(1e-5, 1e-6)
# softmax, layer_norm, batch_norm, average pooling, attention: a reduction, an exp or rsqrt and a
# division, each rounded to float32; outputs O(1)
NORM = Tolerance(1e-5, 1e-5)
# float16 storage computed in float32: the result rounding alone is half an f16 ulp (4.9e-4),
# and the reference is rounded to f16 too, so one ulp (9.8e-4) of disagreement is allowed
F16 = Tolerance(1e-3, 1e-3)


def acc(k: int, rtol: float = 1e-5) -> Tolerance:
    """Sums of *k* float32 terms of magnitude ~1 (matmul, linear, conv, sum): float32
    accumulation in any order errs by about eps * sqrt(k) * (the terms' magnitude), so the
    absolute slack grows with sqrt(k)."""
    return Tolerance(rtol, 1e-6 * math.sqrt(max(k, 1)))


def f16_acc(k: int) -> Tolerance:
    return Tolerance(1e-3, 1e-3 * math.sqrt(max(k, 1)))


# The classes of the op table's ``tolerance`` column ("accumulate" is acc(k) with k from the
# op's shapes: ``accumulation_length``).
TOLERANCES: dict[str, Tolerance] = {
    "exact": EXACT,
    "elementwise": ELEMENTWISE,
    "transcendental": TRANSCENDENTAL,
    "accumulate": acc(1),
    "norm": NORM,
}


@dataclass(frozen=True)
class OpDef:
    name: str
    arity: int | None  # None: variadic
    kind: str  # unary, binary, ternary, reduce, matmul, conv, pool, norm, movement, index
    dtypes: str  # "float": float inputs only; "numeric": float or int32; "any"
    infer: Callable[..., tuple[Shape, DType]]  # (shapes, dtypes, **attrs) -> (shape, dtype)
    doc: str = ""
    tolerance: str = "exact"  # its class in TOLERANCES: how far a backend may be from float64


OPS: dict[str, OpDef] = {}


def _register(
    name: str,
    arity: int | None,
    kind: str,
    dtypes: str,
    infer: Callable[..., tuple[Shape, DType]],
    doc: str = "",
    tolerance: str = "exact",
) -> None:
    if tolerance not in TOLERANCES:
        raise ValueError(f"{name}: tolerance {tolerance!r} is not one of {sorted(TOLERANCES)}")
    OPS[name] = OpDef(name, arity, kind, dtypes, infer, doc, tolerance)


def infer(
    op: str, shapes: Sequence[Shape], dtypes: Sequence[DType], **attrs: Any
) -> tuple[Shape, DType]:
    """Check *op*'s inputs against its rule; return the output shape and dtype."""
    spec = OPS[op]
    if spec.arity is not None and len(shapes) != spec.arity:
        raise TypeError(f"{op} takes {spec.arity} inputs, got {len(shapes)}")
    for d in dtypes:
        if spec.dtypes == "float" and d.kind != "f":
            raise DTypeError(f"{op}: needs float inputs, got {[x.name for x in dtypes]}")
        if spec.dtypes in ("float", "numeric") and not d.computable:
            result_type(op, d)  # raises the weight-storage message
    return spec.infer(tuple(tuple(s) for s in shapes), tuple(dtypes), **attrs)


# --- shape rules ------------------------------------------------------------------------------


def broadcast_shapes(op: str, *shapes: Shape) -> Shape:
    """``shapes.broadcast_shapes``, failing with a ShapeError that names *op*."""
    try:
        return _broadcast(*shapes)
    except ValueError as exc:
        raise ShapeError(f"{op}: {exc}") from None


def normalize_axis(op: str, axis: int, ndim: int, arg: str = "axis") -> int:
    """*axis* (an int, or a NumPy integer; not a bool or a float) in [-ndim, ndim) as 0 ...
    ndim - 1; a 0-d input takes axis 0 or -1. TypeError / ShapeError name *op* and *arg*."""
    n = check_int(op, arg, axis)
    if not -ndim <= n < max(ndim, 1):
        raise ShapeError(
            f"{op}: {arg} {n} is out of range for rank {ndim} (valid: {-max(ndim, 1)} ... "
            f"{max(ndim, 1) - 1})"
        )
    return n % ndim if ndim else 0


def normalize_axes(
    op: str, axes: int | Sequence[int] | None, ndim: int, arg: str = "axis"
) -> tuple[int, ...]:
    """None (every axis), one axis, or a sequence of distinct axes, sorted."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, str | bytes):
        raise TypeError(f"{op}: {arg} must be None, an int or a sequence of ints, not {axes!r}")
    if not isinstance(axes, Iterable):
        axes = (axes,)  # type: ignore[assignment]  # one axis (normalize_axis checks its type)
    out = tuple(sorted(normalize_axis(op, a, ndim, f"{arg}") for a in axes))  # type: ignore
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {arg} {tuple(axes)}")  # type: ignore
    return out


def _unary(shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], **_: Any) -> tuple[Shape, DType]:
    return shapes[0], dtypes[0]


def _elementwise(name: str) -> Callable[..., tuple[Shape, DType]]:
    def rule(shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], **_: Any) -> tuple[Shape, DType]:
        return broadcast_shapes(name, *shapes), result_type(name, *dtypes)

    return rule


def _where(shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], **_: Any) -> tuple[Shape, DType]:
    return broadcast_shapes("where", *shapes), result_type("where", dtypes[1], dtypes[2])


def _cast(
    shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], *, dtype: Any, **_: Any
) -> tuple[Shape, DType]:
    return shapes[0], as_dtype(dtype)


def _reduce(name: str) -> Callable[..., tuple[Shape, DType]]:
    def rule(
        shapes: tuple[Shape, ...],
        dtypes: tuple[DType, ...],
        *,
        axes: tuple[int, ...],
        keepdims: bool = False,
        **_: Any,
    ) -> tuple[Shape, DType]:
        (shape,) = shapes
        for a in axes:
            if shape[a] == 0 and name in ("max", "min"):
                raise ShapeError(f"{name}: cannot reduce an empty axis {a} of shape {shape}")
        out = tuple(1 if i in axes else d for i, d in enumerate(shape) if keepdims or i not in axes)
        return out, dtypes[0]

    return rule


def _matmul(shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], **_: Any) -> tuple[Shape, DType]:
    a, b = shapes
    if not a or not b:
        raise ShapeError(f"matmul: operands must have rank >= 1, got shapes {a} and {b}")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"matmul: shapes {a} and {b} do not align: {a2[-1]} (last axis of the first) != "
            f"{b2[-2]} (second-to-last of the second)"
        )
    batch = broadcast_shapes("matmul", a2[:-2], b2[:-2])
    out = (*batch, a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out, result_type("matmul", *dtypes)


LINEAR_ACTIVATIONS = (None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")


def _linear(
    shapes: tuple[Shape, ...],
    dtypes: tuple[DType, ...],
    *,
    activation: str | None = None,
    **_: Any,
) -> tuple[Shape, DType]:
    x, w, bias = shapes
    if activation not in LINEAR_ACTIVATIONS:
        raise ValueError(f"linear: activation {activation!r} is not one of {LINEAR_ACTIVATIONS}")
    if len(w) != 2 or x[-1:] != w[1:]:
        raise ShapeError(
            f"linear: input {x} and weight {w} do not fit: weight must be (out, in) with "
            f"in == input's last axis"
        )
    if bias not in ((), (w[0],)):
        raise ShapeError(f"linear: bias shape {bias} must be ({w[0]},)")
    return (*x[:-1], w[0]), result_type("linear", *dtypes)


def check_quantized(op: str, q: Shape, qd: DType, scale: Shape, sd: DType, group: Any) -> None:
    """The weight-only quantization rule shared by ``dequantize`` and ``linear_q``.

    q: int8 or int4 (packed, low nibble first) of shape (out, in); scale: float32 of shape
    (out, ceil(in / group)), one scale per *group* consecutive elements of a row (the last
    group of a row may be partial); dequantized w[o, i] = q[o, i] * scale[o, i // group].
    """
    if qd.name not in ("int8", "int4"):
        raise DTypeError(f"{op}: quantized weight must be int8 or int4, got {qd.name}")
    if sd.name != "float32":
        raise DTypeError(f"{op}: scale must be float32, got {sd.name}")
    if not isinstance(group, int) or isinstance(group, bool) or group < 1:
        raise ValueError(f"{op}: group must be a positive int (elements per scale), not {group!r}")
    if len(q) != 2:
        raise ShapeError(f"{op}: quantized weight must be 2-D (out, in), got shape {q}")
    want = (q[0], -(-q[1] // group))
    if scale != want:
        raise ShapeError(
            f"{op}: scale shape {scale} does not fit weight {q} with group={group}: "
            f"need {want} (out, ceil(in / group))"
        )


def _dequantize(
    shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], *, group: int, **_: Any
) -> tuple[Shape, DType]:
    check_quantized("dequantize", shapes[0], dtypes[0], shapes[1], dtypes[1], group)
    return shapes[0], float32


def _linear_q(
    shapes: tuple[Shape, ...],
    dtypes: tuple[DType, ...],
    *,
    group: int,
    activation: str | None = None,
    **_: Any,
) -> tuple[Shape, DType]:
    x, q, scale, bias = shapes
    check_quantized("linear_q", q, dtypes[1], scale, dtypes[2], group)
    if activation not in LINEAR_ACTIVATIONS:
        raise ValueError(f"linear_q: activation {activation!r} is not one of {LINEAR_ACTIVATIONS}")
    for name, d in (("input", dtypes[0]), ("bias", dtypes[3])):
        if d.kind != "f":
            raise DTypeError(f"linear_q: {name} must be float, got {d.name}")
    if not x or x[-1] != q[1]:
        raise ShapeError(
            f"linear_q: input {x} and quantized weight {q} do not fit: weight must be "
            f"(out, in) with in == input's last axis"
        )
    if bias not in ((), (q[0],)):
        raise ShapeError(f"linear_q: bias shape {bias} must be ({q[0]},)")
    return (*x[:-1], q[0]), float32


def conv_out_size(
    size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int
) -> int:
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """ONNX SAME_UPPER: output = ceil(size / stride); extra padding goes at the end."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - size)
    return total // 2, total - total // 2


def check_window(op: str, nd: int, **params: Sequence[int]) -> None:
    """A conv's or pool's window parameters, per spatial axis: ``kernel``, ``stride`` and
    ``dilation`` positive ints (*nd* of each), ``padding`` non-negative ints (2 * *nd*:
    begin and end per axis). Checked before any size arithmetic (a stride of 0 divides)."""
    for name, values in params.items():
        want = 2 * nd if name == "padding" else nd
        ints = check_ints(op, name, values, 0 if name == "padding" else 1)
        if len(ints) != want:
            raise ValueError(f"{op}: {name} needs {want} values, got {tuple(ints)}")


def check_layout(op: str, layout: object) -> None:
    if layout not in ("nchw", "nhwc"):
        raise ValueError(f"{op}: layout must be 'nchw' or 'nhwc', not {layout!r}")


def _conv(
    shapes: tuple[Shape, ...],
    dtypes: tuple[DType, ...],
    *,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    layout: str,
    **_: Any,
) -> tuple[Shape, DType]:
    """x: N,C,*spatial (nchw) or N,*spatial,C (nhwc); w: O, C/groups, *kernel (always OIHW)."""
    x, w, bias = shapes
    nd = len(w) - 2
    if nd not in (1, 2):
        raise ShapeError(f"conv: weight {w} must have rank 3 (conv1d) or 4 (conv2d)")
    op = f"conv{nd}d"
    check_layout(op, layout)
    check_window(op, nd, stride=stride, dilation=dilation, padding=padding)
    check_int(op, "groups", groups, 1)
    if 0 in w[2:]:
        raise ShapeError(f"{op}: weight {w} has a zero-size kernel {w[2:]} (kernels are >= 1)")
    if len(x) != nd + 2:
        raise ShapeError(f"conv{nd}d: input {x} must have rank {nd + 2} for weight {w}")
    channels = x[1] if layout == "nchw" else x[-1]
    spatial = x[2:] if layout == "nchw" else x[1:-1]
    if channels != w[1] * groups or w[0] % groups:
        raise ShapeError(
            f"conv{nd}d: input {x} ({layout}) has {channels} channels, weight {w} with "
            f"groups={groups} needs {w[1] * groups} and out channels divisible by groups"
        )
    if bias not in ((), (w[0],)):
        raise ShapeError(f"conv{nd}d: bias shape {bias} must be ({w[0]},)")
    out_sp = tuple(
        conv_out_size(
            spatial[i], w[2 + i], stride[i], padding[2 * i], padding[2 * i + 1], dilation[i]
        )
        for i in range(nd)
    )
    if any(o <= 0 for o in out_sp):
        raise ShapeError(f"conv{nd}d: input {x} is smaller than the dilated kernel {w[2:]}")
    out = (x[0], w[0], *out_sp) if layout == "nchw" else (x[0], *out_sp, w[0])
    return out, result_type(f"conv{nd}d", *dtypes)


def _pool(
    shapes: tuple[Shape, ...],
    dtypes: tuple[DType, ...],
    *,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, ...],
    layout: str,
    **_: Any,
) -> tuple[Shape, DType]:
    (x,) = shapes
    check_layout("pool2d", layout)
    check_window("pool2d", 2, kernel=kernel, stride=stride, padding=padding)
    if len(x) != 4:
        raise ShapeError(f"pool2d: input must be 4-D ({layout}), got {x}")
    spatial = x[2:] if layout == "nchw" else x[1:3]
    if any(p >= kernel[i // 2] for i, p in enumerate(padding)):
        raise ShapeError(
            f"pool2d: padding {tuple(padding)} must be smaller than the kernel {tuple(kernel)} "
            "(a window of padding only has no max and no average)"
        )
    out_sp = tuple(
        conv_out_size(spatial[i], kernel[i], stride[i], padding[2 * i], padding[2 * i + 1], 1)
        for i in range(2)
    )
    if any(o <= 0 for o in out_sp):
        raise ShapeError(f"pool2d: input {x} is smaller than the kernel {kernel}")
    out = (x[0], x[1], *out_sp) if layout == "nchw" else (x[0], *out_sp, x[3])
    return out, dtypes[0]


def _softmax(
    shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], *, axis: int, **_: Any
) -> tuple[Shape, DType]:
    return shapes[0], dtypes[0]


def _layer_norm(
    shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], *, axes: tuple[int, ...], **_: Any
) -> tuple[Shape, DType]:
    x, weight, bias = shapes
    normalized = tuple(x[a] for a in axes)
    for name, s in (("weight", weight), ("bias", bias)):
        if s not in ((), normalized):
            raise ShapeError(
                f"layer_norm: {name} shape {s} must equal the normalized shape "
                f"{normalized} of input {x}"
            )
    return x, result_type("layer_norm", *dtypes)


def _batch_norm(
    shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], *, axis: int, **_: Any
) -> tuple[Shape, DType]:
    x, *params = shapes
    for s in params:
        if s != (x[axis],):
            raise ShapeError(f"batch_norm: parameter shape {s} must be ({x[axis]},) for input {x}")
    return x, result_type("batch_norm", *dtypes)


def _concat(
    shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], *, axis: int, **_: Any
) -> tuple[Shape, DType]:
    first = shapes[0]
    if not first:
        raise ShapeError("concat: 0-d tensors have no axis to join along (reshape them to (1,))")
    for s in shapes[1:]:
        if len(s) != len(first) or any(
            a != b for i, (a, b) in enumerate(zip(s, first, strict=False)) if i != axis
        ):
            raise ShapeError(f"concat: shapes {shapes} differ outside axis {axis}")
    if len(set(dtypes)) != 1:
        raise DTypeError(f"concat: dtypes differ: {[d.name for d in dtypes]}")
    return (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1 :]), dtypes[0]


def _gather(
    shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], *, axis: int, **_: Any
) -> tuple[Shape, DType]:
    x, idx = shapes
    if dtypes[1] != int32:
        raise DTypeError(f"gather: indices must be int32, got {dtypes[1].name}")
    return (*x[:axis], *idx, *x[axis + 1 :]), dtypes[0]


def _copy(shapes: tuple[Shape, ...], dtypes: tuple[DType, ...], **_: Any) -> tuple[Shape, DType]:
    return shapes[0], dtypes[0]


UNARY = ("exp", "log", "sqrt", "rsqrt", "neg", "abs", "relu", "sigmoid", "tanh", "erf", "gelu")
BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")
# Definitions every backend must meet at the edges (NaN, +-inf, -0.0, overflow), where a short
# name does not say it. Mixed int32 / float operands are converted to the result's float dtype
# first (so int32 / float is true division), as the graph passes' rewrites assume.
_DOCS = {
    "gelu": "0.5 * x * (1 + erf(x / sqrt 2)) (approximate='tanh': its tanh form), accurate in "
    "the tail (no 1 + erf cancellation); never overflows for finite x (|gelu(x)| <= |x|); "
    "gelu(+inf) = +inf, gelu(-inf) = NaN (-inf * 0, as written out), gelu(NaN) = NaN",
    "div": "a / b: int32 / int32 truncates toward zero (ONNX) and x / 0 gives 0; with a float "
    "operand, IEEE true division in the float dtype (x / 0 = +-inf, 0 / 0 = NaN)",
}
_UNARY_TOLERANCE = {"neg": "exact", "abs": "exact", "relu": "exact", "sqrt": "elementwise"}
_BINARY_TOLERANCE = {"pow": "transcendental", "maximum": "exact", "minimum": "exact"}
for _name in UNARY:
    _register(
        _name,
        1,
        "unary",
        "numeric" if _name in ("neg", "abs", "relu") else "float",
        _unary,
        _DOCS.get(_name, ""),
        tolerance=_UNARY_TOLERANCE.get(_name, "transcendental"),
    )
for _name in BINARY:
    _register(
        _name,
        2,
        "binary",
        "numeric",
        _elementwise(_name),
        _DOCS.get(_name, ""),
        tolerance=_BINARY_TOLERANCE.get(_name, "elementwise"),
    )
for _name in ("sum", "mean", "max", "min"):
    _register(
        _name,
        1,
        "reduce",
        "numeric",
        _reduce(_name),
        tolerance="accumulate" if _name in ("sum", "mean") else "exact",
    )
_register("where", 3, "ternary", "any", _where, "where(cond != 0, a, b)")
_register("cast", 1, "unary", "any", _cast)
_register("contiguous", 1, "movement", "any", _copy, "materialize a view densely")
_register("matmul", 2, "matmul", "numeric", _matmul, tolerance="accumulate")
_register(
    "linear",
    3,
    "matmul",
    "float",
    _linear,
    "act(x @ weight.T + bias) (gemm; activation attr)",
    tolerance="accumulate",
)
_register(
    "dequantize",
    2,
    "quant",
    "any",
    _dequantize,
    "q (int8/int4, (out, in)) * scale (float32, (out, ceil(in / group))) -> float32",
    tolerance="elementwise",
)
_register(
    "linear_q",
    4,
    "matmul",
    "any",
    _linear_q,
    "act(x @ dequantize(q, scale).T + bias) without materializing the float weight",
    tolerance="accumulate",
)
_register(
    "conv",
    3,
    "conv",
    "float",
    _conv,
    "conv1d/conv2d; weight OIHW; bias () for none",
    tolerance="accumulate",
)
_register("max_pool2d", 1, "pool", "float", _pool)
_register("avg_pool2d", 1, "pool", "float", _pool, "count_include_pad=False (ONNX default)", "norm")
_register(
    "softmax",
    1,
    "norm",
    "float",
    _softmax,
    "exp(x - max) / sum(exp(x - max)) along axis in IEEE arithmetic, exactly as written out: "
    "a slice holding +inf or NaN, or only -inf, is NaN throughout; an empty axis gives an "
    "empty result",
    tolerance="norm",
)
_register(
    "layer_norm",
    3,
    "norm",
    "float",
    _layer_norm,
    "(x - mean) / sqrt(mean((x - mean)**2) + eps) * weight + bias over the trailing axes, "
    "computed without intermediate overflow (as in float64) and rounded once: finite inputs "
    "give finite results (the float32 written-out form's square overflows beyond 1.8e19, so "
    "the passes leave it written out); inf or NaN in a slice makes it NaN; weight/bias () for "
    "none",
    tolerance="norm",
)
_register(
    "batch_norm",
    5,
    "norm",
    "float",
    _batch_norm,
    "inference: x, mean, var, weight, bias",
    tolerance="norm",
)
_register(
    "full",
    0,
    "source",
    "any",
    lambda shapes, dtypes, *, shape, dtype, **_: (
        check_shape("full", "shape", shape),
        as_dtype(dtype),
    ),
    "a constant: a scalar broadcast to shape",
)
_register("concat", None, "movement", "any", _concat)
_register("gather", 2, "index", "any", _gather)

# The dtype of an op's constant inputs (scalars promoted to tensors) when nothing else decides.
DEFAULT_FLOAT = float32


def accumulation_length(op: str, attrs: dict[str, Any], shapes: Sequence[Shape]) -> int:
    """How many terms one output element of an "accumulate" op sums."""
    if op == "matmul":
        return shapes[0][-1]
    if op in ("linear", "linear_q"):
        return shapes[0][-1] if shapes[0] else 1
    if op == "conv":
        return numel(shapes[1][1:])  # in channels per group * kernel elements
    if op in ("sum", "mean"):
        return numel(tuple(shapes[0][a] for a in attrs.get("axes", ())))
    raise ValueError(f"{op} does not accumulate (its tolerance class is {OPS[op].tolerance!r})")


def tolerance(
    op: str,
    attrs: dict[str, Any],
    shapes: Sequence[Shape],
    dtypes: Sequence[DType],
    out: DType,
) -> Tolerance:
    """The tolerance of one application of *op* (input *shapes* / *dtypes*, result dtype
    *out*): its class in the op table, exact for integer results, float16's where float16 is
    read or written, and for accumulating ops scaled by the number of terms summed."""
    kind = OPS[op].tolerance
    if out.kind != "f" or kind == "exact":
        return EXACT
    f16 = out.name == "float16" or any(d.name == "float16" for d in dtypes)
    if kind != "accumulate":
        return F16 if f16 else TOLERANCES[kind]
    k = accumulation_length(op, attrs, shapes)
    if f16:
        return f16_acc(k)
    if op == "mean":  # the sum's error, divided by k
        return Tolerance(1e-5, acc(k).atol / max(k, 1) + 1e-7)
    return acc(k)

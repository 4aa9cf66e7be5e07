"""The op table: one builder per webaccel op, making the step's value from WebNN ops.

A builder is ``fn(low, step, srcs) -> Val``: *srcs* are the step's sources already read (views
applied, in their natural data type), ``low.e`` is the ``Emitter``. ``@lowers("op", ...)``
states which ops a builder lowers and enters it in ``LOWERINGS``. As in the per-op builders of
ONNX Runtime's WebNN provider, "is this step supported" and "build it" are one code path: every
WebNN call goes through the emitter, which refuses what the context's limits do not allow, so a
dry run of a builder (no JS builder behind the emitter) answers whether the real build succeeds.

The walker that reads sources, calls these and casts each result to its step's data type is
``lowering.ProgramLowering``; the NaN/inf guards the builders add are in ``ieee``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from ...dtypes import DType
from ...ir import Step
from ...ops import broadcast_shapes
from ...view import View
from . import ieee
from .emitter import Emitter, Shape, Unsupported, Val, compute_dtype, natural


class Lowering(Protocol):
    """What a builder may use of the program being lowered (``lowering.ProgramLowering``)."""

    e: Emitter
    ieee: bool  # add the guards of ``ieee`` to float32 values

    def src(self, ref: tuple[int, View, DType]) -> Val:
        """Read source *ref* (slot, view, dtype) of the program, in its natural form."""
        ...


Builder = Callable[[Lowering, Step, list[Val]], Val]

LOWERINGS: dict[str, Builder] = {}

# Ops whose int4 storage sources reach the builder as stored (int4 codes, not their natural
# int32 form), so ``dequantizeLinear`` takes them directly.
READS_INT4_CODES = frozenset({"dequantize", "linear_q"})


def lowers(*ops: str) -> Callable[[Builder], Builder]:
    """Enter the decorated builder in ``LOWERINGS`` as the lowering of each of *ops*."""

    def register(fn: Builder) -> Builder:
        for op in ops:
            if op in LOWERINGS:
                raise ValueError(f"two webnn builders for {op!r}")
            LOWERINGS[op] = fn
        return fn

    return register


# --- elementwise ------------------------------------------------------------------------------

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


@lowers(*UNARY_DIRECT, "rsqrt", "gelu")
def unary(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    x = e.cast(srcs[0], compute_dtype(step.dtype))
    if low.ieee and x.dtype == "float32" and step.op in ieee.UNARY:
        return ieee.UNARY[step.op](e, x)
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


@lowers(*BINARY_DIRECT)
def binary(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    dt = compute_dtype(step.dtype)
    a, b = (e.cast(_half_first(e, step, s), dt) for s in srcs)
    if dt == "int32" and step.op == "div":
        return _int_div(e, a, b)
    if dt == "int32" and step.op == "pow":
        return _int_pow(e, a, b)
    if step.op == "pow" and e.scalar_value(b) == 0.5:
        # ops.py: x ** 0.5 is sqrt(x), as NumPy computes a scalar 0.5 power (sqrt(-inf) is
        # NaN and sqrt(-0.0) is -0.0, where WebNN's pow gives +inf and +0.0); the others agree
        return ieee.UNARY["sqrt"](e, a) if low.ieee and a.dtype == "float32" else e.unary("sqrt", a)
    out = e.binary(BINARY_DIRECT[step.op], a, b)
    if low.ieee and dt == "float32" and step.op in ("maximum", "minimum"):
        out = ieee.nan_binary(e, a, b, out)
    return out


def _int_div(e: Emitter, a: Val, b: Val) -> Val:
    """ONNX integer Div: truncates toward zero; x / 0 gives 0 here (like the others), and
    -2**31 / -1 wraps to -2**31 (as NumPy and WGSL): this browser's int32 div traps on it
    and the tab crashes, so that pair divides by 1 instead (same answer)."""
    zero, one = e.scalar(0, "int32"), e.scalar(1, "int32")
    bz = e.binary("equal", b, zero)
    wraps = e.binary(
        "logicalAnd",
        e.binary("equal", b, e.scalar(-1, "int32")),
        e.binary("equal", a, e.scalar(-(2**31), "int32")),
    )
    q = e.binary("div", a, e.where(e.binary("logicalOr", bz, wraps), one, b))
    return e.where(bz, zero, q)


def _int_pow(e: Emitter, a: Val, b: Val) -> Val:
    """int pow; a negative exponent gives 1 / a**|b| truncated: 1, +-1 or 0."""
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


@lowers("where")
def where(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    cond, a, b = srcs
    cdt = "int32" if cond.dtype in ("int8", "uint8", "int32") else "float32"
    cond = e.cast(cond, cdt)
    mask = e.binary("notEqual", cond, e.scalar(0, cdt))
    dt = natural(step.dtype) if step.dtype.kind != "f" else "float32"
    a, b = (e.cast(_half_first(e, step, v), dt) for v in (a, b))
    return e.where(mask, a, b)


def _half_first(e: Emitter, step: Step, x: Val) -> Val:
    """ops.py: an integer operand of a float16 op is converted to float16 first (65520 is inf
    there), though the op computes in float32: through float32, whose rounding to float16
    overflows to inf, as the others give it."""
    if step.dtype.name != "float16" or x.dtype not in ("int32", "int8", "uint8"):
        return x
    return e.cast(e.cast(x, "float32"), "float16")


@lowers("cast")
def cast(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    x = srcs[0]
    if step.dtype.name != "int4":
        return e.cast(x, step.dtype.webnn)
    # to int4 (wrapped into [-8, 7], held as int32): x - 16 * floor((x + 8) / 16)
    f = e.cast(e.cast(x, "int32"), "float32")  # toward zero first, like the others
    eight, sixteen = e.scalar(8.0, "float32"), e.scalar(16.0, "float32")
    q = e.unary("floor", e.binary("div", e.binary("add", f, eight), sixteen))
    return e.cast(e.binary("sub", f, e.binary("mul", q, sixteen)), "int32")


@lowers("contiguous")
def contiguous(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    return srcs[0]  # reading the source through its view already made it dense


@lowers("full")
def full(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    value = step.attr("value")
    dt = natural(step.dtype)
    if step.dtype.name == "int4":
        value = ((int(value) + 8) & 0xF) - 8
    elif step.dtype.kind == "f":
        dt = "float32" if dt == "float16" else dt
    return e.expand(e.scalar(value, dt), tuple(step.shape))


# --- reductions -------------------------------------------------------------------------------

REDUCE = {"sum": "reduceSum", "mean": "reduceMean", "max": "reduceMax", "min": "reduceMin"}


@lowers(*REDUCE)
def reduce(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    x = e.cast(srcs[0], compute_dtype(step.dtype))
    axes = list(step.attr("axes"))
    keep = bool(step.attr("keepdims", False))
    if x.numel == 0:
        return _empty_reduce(e, step, x)
    if not axes:
        return x
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes)
    opts = {"axes": axes, "keepDimensions": keep}
    count = math.prod(x.shape[a] for a in axes)
    if step.op == "mean" and x.dtype == "int32":
        return _int_mean(e, x, count, shape, opts)
    if step.op == "mean" and low.ieee and count > 1:
        # the mean of values near 3.4e38 is finite, their float32 sum is not: average
        # x / 2**k (exact) for 2**k >= count, then scale back (exact)
        x, scale = ieee.scaled_down(e, x, count)
        return ieee.scaled_up(
            e, e.call("reduceMean", "float32", shape, {"input": x}, [x], opts), scale
        )
    out = e.call(REDUCE[step.op], x.dtype, shape, {"input": x}, [x], opts)
    if low.ieee and x.dtype == "float32" and step.op in ("max", "min"):
        out = ieee.nan_reduce(e, x, out, shape, opts)
    return out


# Above this many elements the int32 sum of remainders below could overflow (46340**2 < 2**31)
INT_MEAN_MAX_COUNT = 46340


def _int_mean(e: Emitter, x: Val, count: int, shape: Shape, opts: dict[str, Any]) -> Val:
    """trunc(sum(x) / count), exact as the CPU backend's int64 sum gives it, though the int32
    sum of x may wrap (the mean of [2**31 - 1] * 2 is 2**31 - 1): x = count * q + r per
    element, the sums of q and of r fit int32, and their quotient is put together here."""
    if count > INT_MEAN_MAX_COUNT:
        raise Unsupported(f"an int32 mean over {count} elements (at most {INT_MEAN_MAX_COUNT})")
    n, zero, one = (e.scalar(v, "int32") for v in (count, 0, 1))

    def total(v: Val) -> Val:
        return e.call("reduceSum", "int32", shape, {"input": v}, [v], opts)

    q = e.binary("div", x, n)  # toward zero: r = x - n q has x's sign, |r| < n
    r = e.binary("sub", x, e.binary("mul", q, n))
    rest = total(r)
    t = e.binary("div", rest, n)
    f = e.binary("sub", rest, e.binary("mul", t, n))
    b = e.binary("add", total(q), t)  # the mean is b + f / n, |f / n| < 1: truncate it
    down = e.binary("logicalAnd", e.binary("greater", b, zero), e.binary("lesser", f, zero))
    up = e.binary("logicalAnd", e.binary("lesser", b, zero), e.binary("greater", f, zero))
    return e.where(down, e.binary("sub", b, one), e.where(up, e.binary("add", b, one), b))


def _empty_reduce(e: Emitter, step: Step, x: Val) -> Val:
    """A reduction over zero elements: sum 0, mean NaN (int: 0); max/min have no answer."""
    if step.op == "sum":
        value: float = 0
    elif step.op == "mean":
        value = float("nan") if x.dtype == "float32" else 0
    else:
        raise Unsupported(f"{step.op} over an empty axis")
    return e.expand(e.scalar(value, x.dtype), tuple(step.shape))


# --- matmul -----------------------------------------------------------------------------------


@lowers("matmul")
def matmul(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    dt = compute_dtype(step.dtype)
    a, b = (e.cast(s, dt) for s in srcs)
    if a.numel == 0 or b.numel == 0:  # K == 0: zeros
        return e.expand(e.scalar(0, dt), tuple(step.shape))
    a2 = a if len(a.shape) > 1 else e.reshape(a, (1, *a.shape))
    b2 = b if len(b.shape) > 1 else e.reshape(b, (*b.shape, 1))
    rank = max(len(a2.shape), len(b2.shape))
    a2 = e.reshape(a2, (1,) * (rank - len(a2.shape)) + a2.shape)
    b2 = e.reshape(b2, (1,) * (rank - len(b2.shape)) + b2.shape)
    batch = broadcast_shapes("matmul", a2.shape[:-2], b2.shape[:-2])
    out = (*batch, a2.shape[-2], b2.shape[-1])
    return e.call("matmul", dt, out, {"a": a2, "b": b2}, [a2, b2])


@lowers("linear")
def linear(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    x, w, bias = (e.cast(s, "float32") for s in srcs)
    out, k = w.shape
    m = math.prod(x.shape[:-1])
    bias_or_none = bias if bias.shape else None
    if k == 0:  # an empty inner dimension: x @ w.T is zeros (NumPy's answer), plus the bias
        y = e.expand(e.scalar(0.0, "float32"), (m, out))
        return _activation(low, step, y if bias_or_none is None else e.binary("add", y, bias))
    x2 = e.reshape(x, (m, k))
    slot, view, dtype = step.srcs[1]
    if step.op == "linear" and view.ndim == 2 and view.strides == (1, view.shape[0]):
        # x @ W for a contiguous (in, out) W, which the linear pass wrote as a transposed
        # view: read W as stored (a constant when captured) and skip the transpose
        stored = View(view.shape[::-1], (view.shape[0], 1), view.offset)
        w_in_out = e.cast(low.src((slot, stored, dtype)), "float32")
        return _activation(low, step, _dot(low, x2, w_in_out, False, bias_or_none))
    return _activation(low, step, _dot(low, x2, w, True, bias_or_none))


def is_constant(e: Emitter, v: Val) -> bool:
    """Whether *v* is a graph constant, or a reshape of one (the browser folds those)."""
    return e.reshaped.get(id(v), v).source == "const"


def _dot(low: Lowering, x2: Val, w: Val, out_in: bool, bias: Val | None) -> Val:
    """``x2 @ w.T + bias`` for an (out, in) *w* (``out_in``), else ``x2 @ w + bias``.

    ``gemm`` where its weight and bias are graph constants (captured weights: the browser
    pre-packs them); otherwise ``matmul`` then ``add``, because this browser's gemm with a
    weight that is no constant (TFLite's dynamic fully-connected kernel) clamps its result to
    +-3.4028235e38, NaN included: NaN, inf and overflow all come out finite. matmul keeps
    them (tests/browser/test_ieee_webnn.py checks both forms)."""
    e = low.e
    m = x2.shape[0]
    out = w.shape[0] if out_in else w.shape[1]
    constant = is_constant(e, w) and (bias is None or is_constant(e, bias))
    if constant or not low.ieee:
        opts: dict[str, Any] = {"bTranspose": True} if out_in else {}
        checks: dict[str, Val | list[Val]] = {"a": x2, "b": w}
        if bias is not None:
            opts["c"] = checks["c"] = bias
        return e.call("gemm", "float32", (m, out), checks, [x2, w], opts)
    b = e.transpose(w, [1, 0]) if out_in else w
    y = e.call("matmul", "float32", (m, out), {"a": x2, "b": b}, [x2, b])
    return y if bias is None else e.binary("add", y, bias)


def _activation(low: Lowering, step: Step, y: Val) -> Val:
    """The activation the graph passes fused into a linear step: act(x @ w.T + b)."""
    act = step.attr("activation")
    if act is None:
        return y
    op, attrs = ("gelu", (("approximate", act[5:] or "none"),)) if "gelu" in act else (act, ())
    return unary(low, Step(op, attrs, (), y.shape, step.dtype), [y])


# --- weight-only quantization -----------------------------------------------------------------


def _dequantize(e: Emitter, q: Val, scale: Val, group: int) -> Val:
    """``dequantizeLinear(q, scale, 0)`` with block-wise scales: (out, in / group) when
    the groups are whole, else the scales repeated to one per element (a partial last
    group is no block)."""
    out, k = q.shape
    scale = e.cast(scale, "float32")
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


@lowers("dequantize")
def dequantize(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    return _dequantize(low.e, srcs[0], srcs[1], step.attr("group"))


@lowers("linear_q")
def linear_q(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    x, q, scale, bias = srcs
    if q.dtype == "int8" and scale.shape[1] == 1 and q.numel:
        try:
            return _linear_int8_rows(low, step, x, q, scale, bias)
        except Unsupported:
            pass  # no int8 -> float32 cast in this context: dequantizeLinear below
    return linear(low, step, [x, _dequantize(low.e, q, scale, step.attr("group")), bias])


def _linear_int8_rows(low: Lowering, step: Step, x: Val, q: Val, scale: Val, bias: Val) -> Val:
    """int8 with one scale per row: ``x @ (q * s).T == (x @ q.T) * s``, so the codes go
    through a plain cast and the scales multiply the gemm's output. This browser computes
    ``dequantizeLinear`` on every dispatch, and that form is slower: a 16x384 input by a
    1536x384 int8 weight took 4.7 ms with dequantizeLinear + gemm, 3.5 ms this way (fp32
    weights: 2.1 ms; headless shell)."""
    e = low.e
    x = e.cast(x, "float32")
    out, k = q.shape
    x2 = e.reshape(x, (math.prod(x.shape[:-1]), k))
    y = _dot(low, x2, e.cast(q, "float32"), True, None)
    y = e.binary("mul", y, e.reshape(e.cast(scale, "float32"), (1, out)))
    bias = e.cast(bias, "float32")
    if bias.shape:
        y = e.binary("add", y, bias)
    return _activation(low, step, y)


# --- conv / pool ------------------------------------------------------------------------------


@lowers("conv")
def conv(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    x, w, bias = (e.cast(s, "float32") for s in srcs)
    a = dict(step.attrs)
    stride, dilation, pads = tuple(a["stride"]), tuple(a["dilation"]), tuple(a["padding"])
    nhwc = a["layout"] in ("nhwc", "nwc")
    if x.numel == 0 or w.numel == 0:  # no input channels: every output is the bias (or 0)
        return _bias_only(e, step, bias, -1 if nhwc else 1)
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

    def conv2d(x: Val, bias: Val) -> Val:
        checks: dict[str, Val | list[Val]] = {"input": x, "filter": w}
        call_opts = dict(opts)
        if bias.shape:
            call_opts["bias"] = checks["bias"] = bias
        return e.call("conv2d", "float32", out, checks, [x, w], call_opts)

    if not low.ieee:
        return conv2d(x, bias)
    if is_constant(e, w):
        # A constant filter sends the conv to XNNPACK, whose kernels multiply padding taps
        # (weight 0) by real neighbouring inputs: an inf or NaN input turns the output next
        # to it NaN (measured: [1, 1, 1, inf, ...] * [1, 1] gave NaN at the first window).
        # Through an identity the filter is no constant, the conv TFLite's own: right
        # values, clamped to +-FLT_MAX, which the two halves below undo.
        w = e.identity(w)
    # this browser's conv2d with a filter that is no graph constant clamps its result to
    # +-FLT_MAX (NaN and inf too): run it on x / 2 and -x / 2 and recover the IEEE answer
    halves = [e.scalar(0.5, "float32"), e.scalar(-0.5, "float32")]
    half, neg_half = (
        conv2d(e.binary("mul", x, h), e.binary("mul", bias, h) if bias.shape else bias)
        for h in halves
    )
    return ieee.unclamped(e, half, neg_half)


def _bias_only(e: Emitter, step: Step, bias: Val, channel_axis: int) -> Val:
    """A result of *step*'s shape holding 0 + the bias along *channel_axis* (0 + b, not b:
    IEEE's +0 for a -0 bias, as a sum over nothing plus the bias gives)."""
    y = e.expand(e.scalar(0.0, "float32"), tuple(step.shape))
    if not bias.shape:
        return y
    axis = channel_axis % len(step.shape)
    along = tuple(d if i == axis else 1 for i, d in enumerate(step.shape))
    return e.binary("add", y, e.reshape(bias, along))


@lowers("max_pool2d", "avg_pool2d")
def pool(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    x = e.cast(srcs[0], "float32")
    a = dict(step.attrs)
    kernel, stride, pads = tuple(a["kernel"]), tuple(a["stride"]), tuple(a["padding"])
    nhwc = a["layout"] == "nhwc"
    sp = (1, 2) if nhwc else (2, 3)
    out_sp = tuple(
        (x.shape[sp[i]] + pads[2 * i] + pads[2 * i + 1] - kernel[i]) // stride[i] + 1
        for i in range(2)
    )
    out = (x.shape[0], *out_sp, x.shape[3]) if nhwc else (*x.shape[:2], *out_sp)
    opts: dict[str, Any] = {
        "windowDimensions": list(kernel),
        "strides": list(stride),
        "layout": "nhwc" if nhwc else "nchw",
    }
    if step.op == "avg_pool2d" and low.ieee:  # a window sum of values near 3.4e38 overflows
        scaled, scale = ieee.scaled_down(e, x, kernel[0] * kernel[1])
        y = _pool_value(e, step, scaled, kernel, stride, pads, nhwc, out, opts)
        y = ieee.scaled_up(e, y, scale)
    else:
        y = _pool_value(e, step, x, kernel, stride, pads, nhwc, out, opts)
    if low.ieee:
        y = ieee.nan_pool(e, x, y, {**opts, "padding": list(pads)})
    return y


def _pool_value(
    e: Emitter,
    step: Step,
    x: Val,
    kernel: Shape,
    stride: Shape,
    pads: Shape,
    nhwc: bool,
    out: Shape,
    opts: dict[str, Any],
) -> Val:
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


# --- normalization ----------------------------------------------------------------------------


@lowers("softmax")
def softmax(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    x = low.e.cast(srcs[0], "float32")
    return low.e.call("softmax", "float32", x.shape, {"input": x}, [x, step.attr("axis")])


@lowers("layer_norm")
def layer_norm(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    x, w, b = (e.cast(s, "float32") for s in srcs)
    axes = list(step.attr("axes"))
    if low.ieee:  # rows beyond ~2**63 would overflow the variance: scale them first
        x = _normalized_rows(e, x, axes)
    opts: dict[str, Any] = {"axes": axes, "epsilon": float(step.attr("eps"))}
    checks: dict[str, Val | list[Val]] = {"input": x}
    if w.shape:  # a 0-d placeholder stands for "no scale" (and "no bias" below)
        opts["scale"] = checks["scale"] = w
    if b.shape:
        opts["bias"] = checks["bias"] = b
    return e.call("layerNormalization", "float32", x.shape, checks, [x], opts)


def _normalized_rows(e: Emitter, x: Val, axes: list[int]) -> Val:
    """``ieee.norm_rows`` over the trailing *axes* as one, on a (rows, row) view of *x* (the
    guard's ops take rank 5 at most here, layerNormalization rank 6)."""
    trailing = axes == list(range(len(x.shape) - len(axes), len(x.shape)))
    if not trailing or len(x.shape) <= 2:
        return ieee.norm_rows(e, x, axes)
    row = math.prod(x.shape[len(x.shape) - len(axes) :])
    flat = e.reshape(x, (x.numel // row, row))
    return e.reshape(ieee.norm_rows(e, flat, [1]), x.shape)


@lowers("batch_norm")
def batch_norm(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    e = low.e
    x, mean, var, w, b = (e.cast(s, "float32") for s in srcs)
    opts: dict[str, Any] = {"axis": step.attr("axis"), "epsilon": float(step.attr("eps"))}
    checks: dict[str, Val | list[Val]] = {"input": x, "mean": mean, "variance": var}
    if w.shape:
        opts["scale"] = checks["scale"] = w
    if b.shape:
        opts["bias"] = checks["bias"] = b
    return e.call("batchNormalization", "float32", x.shape, checks, [x, mean, var], opts)


# --- movement / index -------------------------------------------------------------------------


@lowers("concat")
def concat(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    dt = natural(step.dtype)
    parts = [low.e.cast(s, dt) for s in srcs if s.numel]
    if len(parts) == 1:
        return parts[0]
    return low.e.concat(parts, step.attr("axis"), tuple(step.shape))


@lowers("gather")
def gather(low: Lowering, step: Step, srcs: list[Val]) -> Val:
    """``np.take`` with indices in [-n, n). An index outside that range is data the lowering
    cannot refuse (no read-back before the dispatch), so it is clamped, on purpose and the
    same way everywhere on WebNN: below -n reads element 0, n and above reads element n - 1
    (WebNN leaves out-of-range indices to the implementation; this makes them defined)."""
    e = low.e
    x, idx = srcs
    axis = step.attr("axis")
    n = x.shape[axis]
    zero = e.scalar(0, "int32")
    # webaccel's negative indices count from the end: make them plain indices first
    wrapped = e.where(
        e.binary("lesser", idx, zero), e.binary("add", idx, e.scalar(n, "int32")), idx
    )
    fixed = e.binary("max", e.binary("min", wrapped, e.scalar(n - 1, "int32")), zero)
    return e.call(
        "gather",
        x.dtype,
        tuple(step.shape),
        {"input": x, "indices": fixed},
        [x, fixed],
        {"axis": axis},
    )

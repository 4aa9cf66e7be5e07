"""The op set as functions (``webaccel.relu(x)``, ``webaccel.conv2d(...)``) and composites.

Each function normalizes its arguments (axes, padding, layouts) and records one op of
``ops.OPS``; ``attention`` is a composite of matmul, add, softmax and matmul.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from . import ops
from .arguments import check_bool, check_real, flatten
from .quant import QuantizedWeight, linear_q
from .shapes import as_integer, check_int, check_ints, check_shape, describe
from .tensor import Tensor, apply, binary, check_optional_tensor, check_tensor, full, operands
from .tensor import tensor as _new_tensor  # private here: test_ops counts public names

_NONE = ()  # shape of the "absent" optional input (bias, weight): a 0-d placeholder


def _opt(t: Tensor | None, like: Tensor) -> Tensor:
    return t if t is not None else full((), 0.0, like.dtype, like.device)


def _unary(name: str) -> Any:
    def fn(x: Tensor) -> Tensor:
        return apply(name, check_tensor(name, "x", x))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name} (see webaccel.ops.OPS[{name!r}])."
    return fn


def _binary(name: str) -> Any:
    def fn(a: Any, b: Any) -> Tensor:
        return binary(name, a, b)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name} with NumPy broadcasting."
    return fn


exp, log, sqrt, rsqrt, neg, abs, relu, sigmoid, tanh, erf = (
    _unary(n)
    for n in ("exp", "log", "sqrt", "rsqrt", "neg", "abs", "relu", "sigmoid", "tanh", "erf")
)
add, sub, mul, div, pow, maximum, minimum = (_binary(n) for n in ops.BINARY)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    return check_tensor("gelu", "x", x).gelu(approximate)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return binary("matmul", a, b)


def linear(x: Tensor, weight: Tensor | QuantizedWeight, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` (ONNX Gemm with transB=1), weight shaped (out, in).

    A ``quant.QuantizedWeight`` (``webaccel.quant.quantize(w, "int8" | "int4")``) runs the
    ``linear_q`` op instead: dequantized inside the kernel, the float weight never stored.
    """
    check_tensor("linear", "x", x)
    if isinstance(weight, QuantizedWeight):
        return linear_q(x, weight, bias)
    check_tensor("linear", "weight", weight)
    return apply("linear", x, weight, _opt(check_optional_tensor("linear", "bias", bias), x))


def gemm(
    a: Tensor,
    b: Tensor,
    c: Tensor | None = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    trans_a: bool = False,
    trans_b: bool = False,
) -> Tensor:
    """ONNX Gemm: ``alpha * A' @ B' + beta * C``; A and B 2-D, C broadcast to the result."""
    for name, t in (("a", a), ("b", b)):
        if check_tensor("gemm", name, t).ndim != 2:
            raise ops.ShapeError(f"gemm: {name} must be 2-D (ONNX Gemm), got shape {t.shape}")
    check_optional_tensor("gemm", "c", c)
    alpha, beta = check_real("gemm", "alpha", alpha), check_real("gemm", "beta", beta)
    trans_a = check_bool("gemm", "trans_a", trans_a)
    trans_b = check_bool("gemm", "trans_b", trans_b)
    a2 = a.T if trans_a else a
    y = a2 @ (b.T if trans_b else b)
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c * beta if beta != 1.0 else c)
    return y


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond != 0``, else ``b``; at least one of the three a Tensor, the others
    Tensors, Python numbers or sequences of numbers (broadcast together)."""
    # a and b first: a Python number takes its dtype from them, not from the condition
    ta, tb, tc = operands("where", ("a", a), ("b", b), ("cond", cond))
    return apply("where", tc, ta, tb)


def cast(x: Tensor, dtype: Any) -> Tensor:
    return check_tensor("cast", "x", x).cast(dtype)


def _tuple(op: str, arg: str, value: Any, n: int, minimum: int) -> tuple[int, ...]:
    """One int for every spatial axis, or *n* ints; each >= *minimum*."""
    if as_integer(value) is not None or isinstance(value, bool | float):
        return (check_int(op, arg, value, minimum),) * n
    out = check_ints(op, arg, value, minimum)
    if len(out) != n:
        raise ValueError(f"{op}: {arg} needs 1 or {n} values, got {value!r}")
    return out


def _padding(
    op: str,
    padding: Any,
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    """ONNX pads as (begin, end) per spatial axis from an int, pairs, or "same"/"valid";
    every pad a non-negative int."""
    n = len(kernel)
    if isinstance(padding, str) and padding not in ("same", "valid"):
        raise ValueError(f"{op}: padding {padding!r} must be 'same', 'valid' or ints")
    if padding == "same":
        return tuple(
            p
            for i in range(n)
            for p in ops.same_padding(spatial[i], kernel[i], stride[i], dilation[i])
        )
    if padding == "valid":
        return (0,) * (2 * n)
    if as_integer(padding) is not None or isinstance(padding, bool | float):
        return (check_int(op, "padding", padding, 0),) * (2 * n)
    pads = check_ints(op, "padding", padding, 0)
    if len(pads) == n:
        return tuple(p for p in pads for _ in range(2))
    if len(pads) == 2 * n:
        return pads
    raise ValueError(
        f"{op}: padding {padding!r}: give an int, {n} ints, {2 * n} ints, 'same' or 'valid'"
    )


def _conv(
    nd: int,
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    layout: str,
) -> Tensor:
    op = f"conv{nd}d"
    if not isinstance(layout, str) or layout.lower() not in ("nchw", "nhwc", "ncw", "nwc"):
        raise ValueError(f"{op}: layout must be nchw or nhwc (ncw or nwc), not {layout!r}")
    layout = "nchw" if layout.lower() in ("nchw", "ncw") else "nhwc"
    check_tensor(op, "x", x), check_tensor(op, "weight", weight)
    check_optional_tensor(op, "bias", bias)
    if x.ndim != nd + 2 or weight.ndim != nd + 2:
        raise ops.ShapeError(
            f"{op}: input {x.shape} and weight {weight.shape} must both have rank {nd + 2}"
        )
    stride_t = _tuple(op, "stride", stride, nd, 1)
    dilation_t = _tuple(op, "dilation", dilation, nd, 1)
    groups = check_int(op, "groups", groups, 1)
    spatial = x.shape[2:] if layout == "nchw" else x.shape[1:-1]
    pads = _padding(op, padding, spatial, weight.shape[2:], stride_t, dilation_t)
    return apply(
        "conv",
        x,
        weight,
        _opt(bias, x),
        stride=stride_t,
        padding=pads,
        dilation=dilation_t,
        groups=groups,
        layout=layout,
    )


def _conv_entry(dims: int, default_layout: str, doc: str) -> Any:
    """``conv1d`` / ``conv2d``: one signature, two defaults (rank and layout)."""

    def conv(
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None = None,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        layout: str = default_layout,
    ) -> Tensor:
        return _conv(dims, x, weight, bias, stride, padding, dilation, groups, layout)

    conv.__name__ = conv.__qualname__ = f"conv{dims}d"
    conv.__doc__ = doc
    return conv


conv1d = _conv_entry(
    1, "ncw", "1-D convolution; x (N, C, W) or (N, W, C); weight (O, C/groups, K)."
)
conv2d = _conv_entry(2, "nchw", "2-D convolution; x NCHW or NHWC; weight (O, C/groups, KH, KW).")


def _pool(op: str, x: Tensor, kernel: Any, stride: Any, padding: Any, layout: str) -> Tensor:
    check_tensor(op, "x", x)
    kernel_t = _tuple(op, "kernel", kernel, 2, 1)
    stride_t = _tuple(op, "stride", stride if stride is not None else kernel_t, 2, 1)
    if not isinstance(layout, str) or layout.lower() not in ("nchw", "nhwc"):
        raise ValueError(f"{op}: layout must be nchw or nhwc, not {layout!r}")
    layout = layout.lower()
    if x.ndim != 4:
        raise ops.ShapeError(f"{op}: input must be 4-D ({layout}), got shape {x.shape}")
    spatial = x.shape[2:] if layout == "nchw" else x.shape[1:3]
    pads = _padding(op, padding, spatial, kernel_t, stride_t, (1, 1))
    return apply(op, x, kernel=kernel_t, stride=stride_t, padding=pads, layout=layout)


def max_pool2d(
    x: Tensor, kernel: Any, stride: Any = None, padding: Any = 0, layout: str = "nchw"
) -> Tensor:
    return _pool("max_pool2d", x, kernel, stride, padding, layout)


def avg_pool2d(
    x: Tensor, kernel: Any, stride: Any = None, padding: Any = 0, layout: str = "nchw"
) -> Tensor:
    """Average over the window's valid (unpadded) elements (ONNX count_include_pad=0)."""
    return _pool("avg_pool2d", x, kernel, stride, padding, layout)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return check_tensor("softmax", "x", x).softmax(axis)


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    op = "layer_norm"
    check_tensor(op, "x", x)
    one = as_integer(normalized_shape)
    given = (one,) if one is not None else normalized_shape
    shape = check_shape(op, "normalized_shape", given)
    if not shape or len(shape) > x.ndim or tuple(x.shape[x.ndim - len(shape) :]) != shape:
        raise ops.ShapeError(
            f"layer_norm: normalized_shape {shape} is not the trailing shape of input {x.shape} "
            "(its last one or more axes)"
        )
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    w = check_optional_tensor(op, "weight", weight)
    b = check_optional_tensor(op, "bias", bias)
    return apply(op, x, _opt(w, x), _opt(b, x), axes=axes, eps=_eps(op, eps))


def _eps(op: str, eps: Any) -> float:
    value = check_real(op, "eps", eps)
    if not 0 <= value < math.inf:  # NaN fails too
        raise ValueError(f"{op}: eps must be a finite number >= 0, got {eps!r}")
    return value


def batch_norm(
    x: Tensor,
    mean: Tensor,
    var: Tensor,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    axis: int = 1,
) -> Tensor:
    """Inference batch norm over *axis* (1 for NCHW, -1 for NHWC)."""
    op = "batch_norm"
    check_tensor(op, "x", x), check_tensor(op, "mean", mean), check_tensor(op, "var", var)
    check_optional_tensor(op, "weight", weight), check_optional_tensor(op, "bias", bias)
    if x.ndim == 0:
        raise ops.ShapeError("batch_norm: x must have a channel axis, got a 0-d tensor")
    axis = ops.normalize_axis(op, axis, x.ndim)
    eps = _eps(op, eps)
    c = x.shape[axis]
    w = weight if weight is not None else full((c,), 1.0, x.dtype, x.device)
    b = bias if bias is not None else full((c,), 0.0, x.dtype, x.device)
    return apply(op, x, mean, var, w, b, axis=axis, eps=eps)


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """*tensors* (a list or tuple of Tensors, same rank, dtype and device) joined on *axis*."""
    if not isinstance(tensors, list | tuple):
        raise TypeError(
            f"concat: tensors must be a list or tuple of Tensors, not {describe(tensors)}"
        )
    if not tensors:
        raise ValueError("concat: needs at least one tensor")
    for k, t in enumerate(tensors):
        check_tensor("concat", f"tensors[{k}]", t)
    axis = ops.normalize_axis("concat", axis, tensors[0].ndim)
    return apply("concat", *tensors, axis=axis)


def split(x: Tensor, sizes: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Views of *x* along *axis* (no copies): equal parts of size *sizes* (a positive int; the
    last part may be smaller), or the given sizes (ints >= 0 adding up to the axis)."""
    check_tensor("split", "x", x)
    axis = ops.normalize_axis("split", axis, x.ndim)
    dim = x.shape[axis]
    if as_integer(sizes) is not None or isinstance(sizes, bool | float):
        part = check_int("split", "sizes", sizes, 1)
        sizes = [min(part, dim - i) for i in range(0, dim, part)]
    else:
        sizes = check_ints("split", "sizes", sizes, 0)
    if sum(sizes) != dim:
        raise ops.ShapeError(
            f"split: sizes {list(sizes)} do not add up to axis {axis} of {x.shape}"
        )
    out, start = [], 0
    for size in sizes:
        index = (slice(None),) * axis + (slice(start, start + size),)
        out.append(x[index])
        start += size
    return out


def slice_(
    x: Tensor,
    starts: Sequence[int],
    ends: Sequence[int],
    axes: Sequence[int] | None = None,
    steps: Sequence[int] | None = None,
) -> Tensor:
    """ONNX Slice as a view: per listed axis (default: the first ``len(starts)``), elements
    ``starts[i] : ends[i] : steps[i]`` (ints, clamped to the axis as Python's slices; steps
    nonzero; each axis once)."""
    op = "slice"
    check_tensor(op, "x", x)
    starts, ends = check_ints(op, "starts", starts), check_ints(op, "ends", ends)
    axes_t = check_ints(op, "axes", axes) if axes is not None else tuple(range(len(starts)))
    steps_t = check_ints(op, "steps", steps) if steps is not None else (1,) * len(starts)
    if not len(starts) == len(ends) == len(axes_t) == len(steps_t):
        raise ValueError(
            f"{op}: starts, ends, axes and steps need one value per axis, got lengths "
            f"{len(starts)}, {len(ends)}, {len(axes_t)}, {len(steps_t)}"
        )
    if 0 in steps_t:
        raise ValueError(f"{op}: steps must be nonzero, got {steps_t}")
    ops.normalize_axes(op, axes_t, x.ndim, "axes")  # each in range, and each once
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes_t, starts, ends, steps_t, strict=True):
        index[ops.normalize_axis(op, a, x.ndim, "axes")] = slice(s, e, st)
    return x[tuple(index)]


def gather(x: Tensor, indices: Any, axis: int = 0) -> Tensor:
    """``np.take(x, indices, axis)``: *indices* an int32 Tensor, or Python ints (one, or a
    nested sequence) checked here against the axis (-size ... size - 1; negative ones count
    from the end).

    Indices held in a Tensor are data, checked where they are read: the cpu backend raises
    ``IndexError`` when the result is computed; on webgpu the kernel records an index out of
    range and the next read of a result raises ``IndexOutOfRangeError`` (an ``IndexError``)
    naming the index, the axis and its size; WebNN has no way to report one, so the webnn
    backend clamps indices into range (documented, tested) rather than let the browser read
    garbage."""
    check_tensor("gather", "x", x)
    axis = ops.normalize_axis("gather", axis, x.ndim)
    if not isinstance(indices, Tensor):
        indices = _python_indices(x, indices, axis)
    return apply("gather", x, indices, axis=axis)


def _python_indices(x: Tensor, indices: Any, axis: int) -> Tensor:
    """*indices* given as Python ints, range-checked, as an int32 tensor on *x*'s device."""
    dim = x.shape[axis]
    one = as_integer(indices)
    if one is None and (isinstance(indices, bool | float | str | bytes) or x.ndim == 0):
        raise TypeError(f"gather: indices must be ints or an int32 Tensor, not {describe(indices)}")
    flat, shape = ([one], ()) if one is not None else flatten(indices, "gather", "indices")
    for k, i in enumerate(flat):
        n = as_integer(i)
        if n is None:
            raise TypeError(f"gather: indices[{k}] must be an int, not {describe(i)}")
        if not -dim <= n < dim:
            raise ValueError(
                f"gather: indices[{k}] = {n} is out of range for axis {axis} of size {dim} "
                f"(valid: {-dim} ... {dim - 1})"
            )
    return _new_tensor([as_integer(i) for i in flat], "int32", x.device, shape)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    return check_tensor("reshape", "x", x).reshape(*shape)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    return check_tensor("transpose", "x", x).transpose(*axes)


def expand(x: Tensor, *shape: Any) -> Tensor:
    return check_tensor("expand", "x", x).expand(*shape)


def attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, scale: float | None = None
) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` over the last two axes; *mask* is additive."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if check_tensor("attention", name, t).ndim < 2:
            raise ops.ShapeError(f"attention: {name} must have rank >= 2, got shape {t.shape}")
    check_optional_tensor("attention", "mask", mask)
    if scale is not None:
        scale = check_real("attention", "scale", scale)
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ops.ShapeError(
            f"attention: q {q.shape}, k {k.shape}, v {v.shape} do not fit "
            "(q/k share the last axis, k/v the second-to-last)"
        )
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-1, -2)) * scale
    if mask is not None:
        scores = scores + mask
    return scores.softmax(-1) @ v

"""The op set as functions (``webaccel.relu(x)``, ``webaccel.conv2d(...)``) and composites.

Each function normalizes its arguments (axes, padding, layouts) and records one op of
``ops.OPS``; ``attention`` is a composite of matmul, add, softmax and matmul.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from . import ops
from .quant import QuantizedWeight, linear_q
from .tensor import Tensor, _as_tensor, apply, binary, full

_NONE = ()  # shape of the "absent" optional input (bias, weight): a 0-d placeholder


def _opt(t: Tensor | None, like: Tensor) -> Tensor:
    return t if t is not None else full((), 0.0, like.dtype, like.device)


def _unary(name: str) -> Any:
    def fn(x: Tensor) -> Tensor:
        return apply(name, x)

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
    return x.gelu(approximate)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return a.matmul(b)


def linear(x: Tensor, weight: Tensor | QuantizedWeight, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` (ONNX Gemm with transB=1), weight shaped (out, in).

    A ``quant.QuantizedWeight`` (``webaccel.quant.quantize(w, "int8" | "int4")``) runs the
    ``linear_q`` op instead: dequantized inside the kernel, the float weight never stored.
    """
    if isinstance(weight, QuantizedWeight):
        return linear_q(x, weight, bias)
    return apply("linear", x, weight, _opt(bias, x))


def gemm(
    a: Tensor,
    b: Tensor,
    c: Tensor | None = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    trans_a: bool = False,
    trans_b: bool = False,
) -> Tensor:
    """ONNX Gemm: ``alpha * A' @ B' + beta * C``."""
    a2 = a.T if trans_a else a
    y = a2 @ (b.T if trans_b else b)
    if alpha != 1.0:
        y = y * alpha
    if c is not None:
        y = y + (c * beta if beta != 1.0 else c)
    return y


def where(cond: Any, a: Any, b: Any) -> Tensor:
    like = next(t for t in (a, b, cond) if isinstance(t, Tensor))
    return apply("where", _as_tensor(cond, like), _as_tensor(a, like), _as_tensor(b, like))


def cast(x: Tensor, dtype: Any) -> Tensor:
    return x.cast(dtype)


def _tuple(value: int | Sequence[int], n: int, what: str) -> tuple[int, ...]:
    out = (value,) * n if isinstance(value, int) else tuple(value)
    if len(out) != n:
        raise ValueError(f"{what} needs {n} values, got {value!r}")
    return out


def _padding(
    padding: Any,
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    """ONNX pads as (begin, end) per spatial axis from an int, pairs, or "same"/"valid"."""
    n = len(kernel)
    if padding == "same":
        return tuple(
            p
            for i in range(n)
            for p in ops.same_padding(spatial[i], kernel[i], stride[i], dilation[i])
        )
    if padding == "valid":
        return (0,) * (2 * n)
    if isinstance(padding, int):
        return (padding,) * (2 * n)
    pads = tuple(padding)
    if len(pads) == n:
        return tuple(p for p in pads for _ in range(2))
    if len(pads) == 2 * n:
        return pads
    raise ValueError(f"padding {padding!r}: give an int, {n} ints, {2 * n} ints, 'same' or 'valid'")


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
    layout = layout.lower()
    if layout not in ("nchw", "nhwc", "ncw", "nwc"):
        raise ValueError(f"conv{nd}d: layout must be nchw or nhwc, not {layout!r}")
    layout = "nchw" if layout in ("nchw", "ncw") else "nhwc"
    if x.ndim != nd + 2 or weight.ndim != nd + 2:
        raise ops.ShapeError(
            f"conv{nd}d: input {x.shape} and weight {weight.shape} must both have rank {nd + 2}"
        )
    stride_t = _tuple(stride, nd, f"conv{nd}d stride")
    dilation_t = _tuple(dilation, nd, f"conv{nd}d dilation")
    spatial = x.shape[2:] if layout == "nchw" else x.shape[1:-1]
    pads = _padding(padding, spatial, weight.shape[2:], stride_t, dilation_t)
    return apply(
        "conv",
        x,
        weight,
        _opt(bias, x),
        stride=stride_t,
        padding=pads,
        dilation=dilation_t,
        groups=int(groups),
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
    kernel_t = _tuple(kernel, 2, f"{op} kernel")
    stride_t = _tuple(stride if stride is not None else kernel_t, 2, f"{op} stride")
    layout = layout.lower()
    if layout not in ("nchw", "nhwc"):
        raise ValueError(f"{op}: layout must be nchw or nhwc, not {layout!r}")
    spatial = x.shape[2:] if layout == "nchw" else x.shape[1:3]
    pads = _padding(padding, spatial, kernel_t, stride_t, (1, 1))
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
    return x.softmax(axis)


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(x.shape[x.ndim - len(shape) :]) != shape:
        raise ops.ShapeError(
            f"layer_norm: normalized shape {shape} is not the trailing shape of input {x.shape}"
        )
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return apply("layer_norm", x, _opt(weight, x), _opt(bias, x), axes=axes, eps=float(eps))


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
    axis = ops.normalize_axis("batch_norm", axis, x.ndim)
    c = x.shape[axis]
    w = weight if weight is not None else full((c,), 1.0, x.dtype, x.device)
    b = bias if bias is not None else full((c,), 0.0, x.dtype, x.device)
    return apply("batch_norm", x, mean, var, w, b, axis=axis, eps=float(eps))


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    if not tensors:
        raise ValueError("concat: needs at least one tensor")
    axis = ops.normalize_axis("concat", axis, tensors[0].ndim)
    return apply("concat", *tensors, axis=axis)


def split(x: Tensor, sizes: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Views of *x* along *axis* (no copies): equal parts of size *sizes*, or the given sizes."""
    axis = ops.normalize_axis("split", axis, x.ndim)
    dim = x.shape[axis]
    if isinstance(sizes, int):
        if sizes <= 0:
            raise ValueError(f"split: size must be positive, got {sizes}")
        sizes = [min(sizes, dim - i) for i in range(0, dim, sizes)]
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
    """ONNX Slice as a view."""
    axes = list(axes) if axes is not None else list(range(len(starts)))
    steps = list(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
        index[ops.normalize_axis("slice", a, x.ndim)] = slice(s, e, st)
    return x[tuple(index)]


def gather(x: Tensor, indices: Tensor, axis: int = 0) -> Tensor:
    """``np.take(x, indices, axis)`` with int32 indices (negative ones count from the end).

    An index out of range is an error on every backend, never a clamp: the cpu backend raises
    ``IndexError`` when the result is computed; on webgpu, where the indices are data on the
    GPU, the kernel records it and the next read of a result raises
    ``IndexOutOfRangeError`` (an ``IndexError``) naming the index, the axis and its size."""
    return apply("gather", x, indices, axis=ops.normalize_axis("gather", axis, x.ndim))


def reshape(x: Tensor, *shape: Any) -> Tensor:
    return x.reshape(*shape)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    return x.transpose(*axes)


def expand(x: Tensor, *shape: Any) -> Tensor:
    return x.expand(*shape)


def attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, scale: float | None = None
) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` over the last two axes; *mask* is additive."""
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

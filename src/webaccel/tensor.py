"""``Tensor``: a view (shape, strides, offset, dtype) of a node on a device.

Ops record nodes (lazy); reading a tensor materializes it. Views (reshape, transpose, slice,
expand, bitcast) share the storage of the tensor they come from and never copy the device
buffer. Create from Python sequences, bytes-like objects, NumPy arrays or JS typed arrays;
read back as bytes, memoryview, lists or NumPy (``np.asarray(t)`` works).
"""

from __future__ import annotations

import array
import math
import struct
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from typing import Any, NamedTuple

from . import _compat, ops
from .arguments import (
    check_bool,
    check_device,
    check_dtype,
    check_fits,
    default_dtype,
    fill_value,
    flatten,
    is_number,
    is_numpy,
    not_data,
    pack,
    resolve_shape,
    shape_args,
    size_arg,
    slice_bounds,
)
from .device import Device, get_device
from .dtypes import BY_JS_ARRAY, BY_STRUCT, DType, as_dtype, float32
from .engine import explain_nodes, realize
from .errors import DTypeError, ShapeError
from .ir import Node, Ref
from .shapes import as_integer, check_shape, describe
from .view import View

_EAGER = [False]


def set_eager(flag: bool) -> bool:
    """Eager mode realizes after every op (for debugging and the overhead benchmark)."""
    previous, _EAGER[0] = _EAGER[0], check_bool("set_eager", "flag", flag)
    return previous


def explain(*tensors: Tensor) -> str:
    """Where each pending op behind *tensors* would run, and why (also printed)."""
    return explain_nodes(
        [check_tensor("explain", f"tensors[{k}]", t)._node for k, t in enumerate(tensors)]
    )


class Tensor:
    __slots__ = ("__weakref__", "_node", "_view", "dtype")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected op, stays lazy

    def __init__(self, node: Node, view: View, dtype: DType) -> None:
        if type(node) is not Node:  # one identity test: Tensor() is made by the package
            raise TypeError(
                "Tensor(node, view, dtype) is internal: make tensors with webaccel.tensor(), "
                "from_buffer(), full(), zeros() or ones()"
            )
        self._node, self._view, self.dtype = node, view, dtype
        node.tensor_refs += 1

    def __del__(self) -> None:
        node = getattr(self, "_node", None)
        if node is not None:
            node.tensor_refs -= 1

    # -- properties ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._view.shape

    @property
    def ndim(self) -> int:
        return len(self._view.shape)

    @property
    def numel(self) -> int:
        return self._view.numel

    @property
    def nbytes(self) -> int:
        return self.dtype.nbytes(self.numel)

    @property
    def device(self) -> Device:
        return self._node.device

    @property
    def strides(self) -> tuple[int, ...]:
        return self._view.strides

    @property
    def is_contiguous(self) -> bool:
        return self._view.is_contiguous()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Tensor(shape={self.shape}, dtype={self.dtype.name}, device={self.device.name})"

    def _ref(self) -> Ref:
        return Ref(self._node, self._view, self.dtype)

    # -- views: no copies -----------------------------------------------------------------------
    def _with_view(self, view: View, dtype: DType | None = None) -> Tensor:
        return Tensor(self._node, view, dtype or self.dtype)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        new = resolve_shape(shape_args("reshape", shape), self.numel, "reshape", self.shape)
        view = self._view.reshape(new)
        if view is None:  # strides cannot express it: make the data dense first
            return self.contiguous().reshape(new)
        return self._with_view(view)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        return self._permute("permute", shape_args("permute", axes, "axes"))

    def _permute(self, op: str, axes: Sequence[Any]) -> Tensor:
        perm = tuple(ops.normalize_axis(op, a, self.ndim, f"axes[{k}]") for k, a in enumerate(axes))
        if sorted(perm) != list(range(self.ndim)):
            raise ShapeError(
                f"{op}: axes {tuple(axes)} are not a permutation of the {self.ndim} axes of "
                f"{self.shape} (each axis once)"
            )
        return self._with_view(self._view.permute(perm))

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        """No axes: reverse them all; two axes: swap them; else a permutation (as permute)."""
        if not axes:
            return self._permute("transpose", tuple(reversed(range(self.ndim))))
        if len(axes) == 2:
            i, j = (ops.normalize_axis("transpose", a, self.ndim, "axes") for a in axes)
            perm = list(range(self.ndim))
            perm[i], perm[j] = perm[j], perm[i]
            return self._permute("transpose", tuple(perm))
        return self._permute("transpose", shape_args("transpose", axes, "axes"))

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def expand(self, *shape: int | Sequence[int]) -> Tensor:
        """A broadcast view to *shape* (NumPy rule; -1 keeps an existing axis's size)."""
        target = check_shape("expand", "shape", shape_args("expand", shape), wildcard=True)
        if len(target) < self.ndim:
            raise ShapeError(f"expand: shape {target} has fewer axes than {self.shape}")
        if -1 in target[: len(target) - self.ndim]:
            raise ShapeError(f"expand: -1 in {tuple(target)} names a new axis of {self.shape}")
        target = tuple(
            d if d != -1 else self.shape[i - len(target) + self.ndim] for i, d in enumerate(target)
        )
        out = ops.broadcast_shapes("expand", self.shape, target)
        if out != target:
            raise ShapeError(
                f"expand: {self.shape} cannot expand to {target} (each size must equal the "
                "existing one, or the existing one must be 1)"
            )
        return self._with_view(self._view.expand(target))

    def unsqueeze(self, axis: int) -> Tensor:
        """A new size-1 axis at *axis*, in [-ndim - 1, ndim] (as NumPy's expand_dims)."""
        axis = ops.normalize_axis("unsqueeze", axis, self.ndim + 1)
        return self.reshape((*self.shape[:axis], 1, *self.shape[axis:]))

    def squeeze(self, axis: int | None = None) -> Tensor:
        axes = (
            range(self.ndim) if axis is None else [ops.normalize_axis("squeeze", axis, self.ndim)]
        )
        for a in axes:
            if axis is not None and self.shape[a] != 1:
                raise ShapeError(
                    f"squeeze: axis {a} of {self.shape} has size {self.shape[a]}; only a size-1 "
                    "axis can be squeezed"
                )
        keep = [d for i, d in enumerate(self.shape) if not (i in axes and d == 1)]
        return self.reshape(tuple(keep))

    def __getitem__(self, key: Any) -> Tensor:
        """Basic indexing as NumPy's: ints, slices, None and one ``...``; a view. An int out of
        range is an IndexError (Python's sequence rule, as NumPy); a Tensor, a list or a bool
        is a TypeError (take rows with ``gather``)."""
        key = key if isinstance(key, tuple) else (key,)
        ellipses = sum(k is Ellipsis for k in key)
        if ellipses > 1:
            raise IndexError(f"index: only one ... allowed, got {key!r}")
        if ellipses:
            i = next(n for n, k in enumerate(key) if k is Ellipsis)
            fill = self.ndim - (len(key) - 1 - sum(k is None for k in key))
            if fill < 0:
                raise IndexError(
                    f"index: too many indices ({len(key) - 1 - sum(k is None for k in key)}) "
                    f"for a tensor of shape {self.shape}"
                )
            key = key[:i] + (slice(None),) * fill + key[i + 1 :]
        starts, stops, steps, drop, new_axes = [], [], [], [], []
        axis = 0
        out_pos = 0
        for k in key:
            if k is None:
                new_axes.append(out_pos)
                out_pos += 1
                continue
            if axis >= self.ndim:
                raise IndexError(f"index: too many indices for a tensor of shape {self.shape}")
            dim = self.shape[axis]
            n = as_integer(k)  # ints and NumPy integers; not bools (NumPy reads those as masks)
            if n is not None:
                if not -dim <= n < dim:
                    raise IndexError(
                        f"index: {n} is out of range for axis {axis} of size {dim} "
                        f"(valid: {-dim} ... {dim - 1})"
                    )
                n %= dim
                starts.append(n), stops.append(n + 1), steps.append(1), drop.append(axis)
            elif isinstance(k, slice):
                s, e, st = slice_bounds(k, dim, axis)
                starts.append(s), stops.append(e), steps.append(st)
                out_pos += 1
            else:
                hint = "; take elements with gather()" if not isinstance(k, bool | float) else ""
                raise TypeError(
                    f"index: unsupported index {describe(k)} for axis {axis} (ints, slices, "
                    f"None and ... only{hint})"
                )
            axis += 1
        for a in range(axis, self.ndim):
            starts.append(0), stops.append(self.shape[a]), steps.append(1)
        view = self._view.slice(tuple(starts), tuple(stops), tuple(steps))
        shape = [d for i, d in enumerate(view.shape) if i not in drop]
        strides = [s for i, s in enumerate(view.strides) if i not in drop]
        for pos in new_axes:
            shape.insert(pos, 1)
            strides.insert(pos, 0)
        return self._with_view(View(tuple(shape), tuple(strides), view.offset))

    def bitcast(self, dtype: Any) -> Tensor:
        """Reinterpret the bytes as *dtype* (same element size: a view of the same elements)."""
        dtype = check_dtype("bitcast", dtype)
        if dtype.bits != self.dtype.bits:
            raise DTypeError(
                f"bitcast: {self.dtype.name} -> {dtype.name} changes the "
                "element size; only same-size reinterpretation is a view"
            )
        return self._with_view(self._view, dtype)

    # -- computing ops: record a node -------------------------------------------------------------
    def contiguous(self) -> Tensor:
        if self._view.is_contiguous() and self._view.offset == 0 and self._node.shape == self.shape:
            return self
        return apply("contiguous", self)

    def cast(self, dtype: Any) -> Tensor:
        dtype = check_dtype("cast", dtype)
        return self if dtype == self.dtype else apply("cast", self, dtype=dtype.name)

    astype = cast

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _reduce("sum", self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _reduce("mean", self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _reduce("max", self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _reduce("min", self, axis, keepdims)

    def matmul(self, other: Any) -> Tensor:
        return binary("matmul", self, other)

    def softmax(self, axis: int = -1) -> Tensor:
        return apply("softmax", self, axis=ops.normalize_axis("softmax", axis, self.ndim))

    def gelu(self, approximate: str = "none") -> Tensor:
        if not isinstance(approximate, str) or approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
        return apply("gelu", self, approximate=approximate)

    def __matmul__(self, o: Any) -> Tensor:
        return binary("matmul", self, o)

    def __rmatmul__(self, o: Any) -> Tensor:
        return binary("matmul", o, self)

    def __neg__(self) -> Tensor:
        return apply("neg", self)

    def __abs__(self) -> Tensor:
        return apply("abs", self)

    # -- materializing ----------------------------------------------------------------------------
    def realize(self) -> Tensor:
        realize([self._node])
        return self

    def _dense(self) -> Tensor:
        """This tensor, materialized as a dense run of its storage (copying only if a view)."""
        t = self if self._view.is_contiguous() else apply("contiguous", self)
        return t.realize()

    async def read_async(self) -> bytearray:
        """The elements' bytes, row-major (awaits the device)."""
        t = self._dense()
        start = t.dtype.nbytes(t._view.offset)
        storage = t._node.storage  # may live on a fallback backend
        device = storage.device
        with device.in_use([storage]):  # not evicted while it is read (webaccel.budget)
            await device.make_resident_async([storage])
            return await device.copy_out_async(storage.handle, t.nbytes, start)

    def read(self) -> bytearray:
        """Sync ``read_async``: plain on CPython; in the browser through JSPI."""
        t = self._dense()
        start = t.dtype.nbytes(t._view.offset)
        storage = t._node.storage
        device = storage.device
        with device.in_use([storage]):
            device.make_resident([storage])
            return device.copy_out(storage.handle, t.nbytes, start)

    def to_bytes(self) -> bytes:
        return bytes(self.read())

    def to_memoryview(self) -> memoryview:
        return _typed_memoryview(self.read(), self.dtype, self.shape)

    def tolist(self) -> Any:
        return _to_list(self.read(), self.dtype, self.shape)

    async def tolist_async(self) -> Any:
        return _to_list(await self.read_async(), self.dtype, self.shape)

    def numpy(self) -> Any:
        import numpy as np  # optional: only callers asking for NumPy need it

        if self.dtype.numpy is None:
            raise TypeError(f"{self.dtype.name} has no NumPy dtype; cast it first")
        return np.frombuffer(self.read(), dtype=self.dtype.numpy).reshape(self.shape)

    async def numpy_async(self) -> Any:
        import numpy as np  # optional: only callers asking for NumPy need it

        data = await self.read_async()
        return np.frombuffer(data, dtype=self.dtype.numpy).reshape(self.shape)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def item(self) -> Any:
        if self.numel != 1:
            raise ValueError(f"item() needs one element, the tensor has shape {self.shape}")
        value = self.tolist()
        while isinstance(value, list):
            value = value[0]
        return value

    def to(self, device: str | Device) -> Tensor:
        """A copy on *device* (through host memory)."""
        target = check_device("to", device)
        if target is self.device:
            return self
        data = self.read()
        storage = target.upload(memoryview(data), self.numel, self.dtype)
        return _buffer_tensor(storage, self.shape, self.dtype)


# --- building nodes ------------------------------------------------------------------------------


# Elementwise methods and arithmetic operators, generated from the op table (the
# array-api-strict way): ``t.exp()`` records ``exp``; ``a + b`` and ``2 + a`` record ``add``.
UNARY_METHODS = ("exp", "log", "sqrt", "rsqrt", "relu", "sigmoid", "tanh", "erf")
OPERATORS = {"add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "pow": "pow"}


def _unary_method(op: str) -> Any:
    def method(self: Tensor) -> Tensor:
        return apply(op, self)

    method.__name__, method.__qualname__ = op, f"Tensor.{op}"
    method.__doc__ = f"Elementwise {op} (``webaccel.ops.OPS[{op!r}]``)."
    return method


def _operator(name: str, op: str, reflected: bool) -> Any:
    def method(self: Tensor, other: Any) -> Tensor:
        return binary(op, other, self) if reflected else binary(op, self, other)

    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    method.__qualname__ = f"Tensor.{method.__name__}"
    return method


for _op in UNARY_METHODS:
    setattr(Tensor, _op, _unary_method(_op))
for _name, _op in OPERATORS.items():
    setattr(Tensor, f"__{_name}__", _operator(_name, _op, False))
    setattr(Tensor, f"__r{_name}__", _operator(_name, _op, True))


def apply(op: str, *inputs: Tensor, **attrs: Any) -> Tensor:
    """Record op *op* over *inputs* (all on one device) and return its lazy output.

    Nothing is recorded unless the inputs, the attributes and the output's size pass the op's
    rules: a rejected call leaves no node and touches no device."""
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: input {k} must be a Tensor, not {describe(t)}")
    device = inputs[0].device if inputs else get_device(attrs.pop("device", None))
    for t in inputs[1:]:
        if t.device is not device:
            raise ValueError(
                f"{op}: inputs live on {device.name} and {t.device.name}; move them with .to() "
                "(placement moves data between backends per op, but a graph has one home)"
            )
    shape, dtype = ops.infer(op, [t.shape for t in inputs], [t.dtype for t in inputs], **attrs)
    check_fits(op, shape, dtype, device)
    frozen = tuple(sorted((k, _freeze(v)) for k, v in attrs.items()))
    node = Node(op, tuple(t._ref() for t in inputs), frozen, shape, dtype, device)
    out = Tensor(node, View.contiguous(shape), dtype)
    if _EAGER[0]:
        out.realize()
    return out


def binary(op: str, a: Any, b: Any) -> Tensor:
    """*op* over two operands, at least one a Tensor; the other may be a Python number or
    data ``tensor()`` takes (uploaded only once the op's shape rule has accepted it)."""
    return apply(op, *operands(op, ("a", a), ("b", b)))


def _reduce(op: str, t: Tensor, axis: Any, keepdims: bool) -> Tensor:
    axes = ops.normalize_axes(op, axis, t.ndim)
    return apply(op, t, axes=axes, keepdims=check_bool(op, "keepdims", keepdims))


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, DType):
        return value.name
    if isinstance(value, float):  # cache keys tell -0.0 from 0.0 and NaN from NaN
        return ops.FloatAttr(value)
    return value


def _as_tensor(value: Any, like: Tensor, op: str = "tensor") -> Tensor:
    """A tensor for *value*; Python scalars become lazy constants of *like*'s dtype."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, bool | int | float):
        dtype = like.dtype if (like.dtype.kind == "f" or isinstance(value, int)) else float32
        return _scalar(value, dtype, like.device, op)
    return tensor(value, device=like.device)


class _Operand(NamedTuple):
    """An operand before it becomes a tensor: its shape and dtype, and how to make it."""

    shape: tuple[int, ...]
    dtype: DType
    make: Callable[[], Tensor]


def operands(op: str, *named: tuple[str, Any]) -> list[Tensor]:
    """The Tensors for *op*'s (name, value) operands, at least one of them a Tensor (whose
    device the others go to). Python numbers become lazy scalars; other data (lists, NumPy
    arrays, bytes-like) is parsed on the host and the op's shape and dtype rule checked with
    it before anything is uploaded, so a rejected call touches no device."""
    like = next((v for _, v in named if isinstance(v, Tensor)), None)
    if like is None:
        kinds = ", ".join(f"{n}: {type(v).__name__}" for n, v in named)
        raise TypeError(f"{op}: at least one operand must be a Tensor (got {kinds})")
    pending = [_operand(op, name, value, like) for name, value in named]
    if any(not isinstance(p, Tensor) for p in pending):
        shapes = [p.shape for p in pending]
        ops.infer(op, shapes, [p.dtype for p in pending])  # fails before any upload
    return [p if isinstance(p, Tensor) else p.make() for p in pending]


def _operand(op: str, name: str, value: Any, like: Tensor) -> Tensor | _Operand:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, bool | int | float):
        return _as_tensor(value, like, op)  # a lazy constant: no upload
    if is_numpy(value):
        import numpy as np  # optional: the value is NumPy's, so NumPy is there

        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{op}: {name} is a NumPy array of {arr.dtype}; give numbers")
        target = check_dtype(op, arr.dtype, f"{name}'s dtype")
        return _Operand(arr.shape, target, lambda: tensor(arr, device=like.device))
    if isinstance(value, str | bytes | bytearray | memoryview | Mapping | Set) or not (
        isinstance(value, Iterable)
    ):
        raise TypeError(
            f"{op}: {name} is a {type(value).__name__}; give a Tensor, a Python number or a "
            "(nested) sequence of numbers"
        )
    flat, shape = flatten(value, op, name)
    target = default_dtype(flat)
    return _Operand(shape, target, lambda: _from_python(flat, shape, target, like.device, op))


_SCALARS: weakref.WeakValueDictionary[tuple[Any, ...], Node] = weakref.WeakValueDictionary()


def _scalar(value: float, dtype: DType, device: Device, op: str = "full") -> Tensor:
    """A 0-d constant. While its pending node lives (weakly cached), every op using the same
    scalar shares it (a node is pure): repeated scalars in a graph cost one node."""
    key = (type(value), repr(value), dtype, id(device))
    node = _SCALARS.get(key)
    if node is None or node.realized or node.device is not device:
        t = full((), value, dtype=dtype, device=device, op=op)
        _SCALARS[key] = t._node
        return t
    return Tensor(node, _SCALAR_VIEW, dtype)


_SCALAR_VIEW = View((), (), 0)


def full(
    shape: int | Sequence[int],
    value: float,
    dtype: Any = float32,
    device: str | Device | None = None,
    *,
    op: str = "full",
) -> Tensor:
    """A constant tensor: *value* (a Python or NumPy number that *dtype* can hold) in every
    element of *shape* (an int or a sequence of ints >= 0)."""
    dims = size_arg(op, shape)
    target = check_dtype(op, dtype)
    value = fill_value(op, value, target)
    dev = check_device(op, device)
    check_fits(op, dims, target, dev)  # here too, to name zeros / ones
    return apply("full", shape=dims, dtype=target.name, value=value, device=dev)


def zeros(
    shape: int | Sequence[int], dtype: Any = float32, device: str | Device | None = None
) -> Tensor:
    return full(shape, 0, dtype, device, op="zeros")


def ones(
    shape: int | Sequence[int], dtype: Any = float32, device: str | Device | None = None
) -> Tensor:
    return full(shape, 1, dtype, device, op="ones")


def _buffer_tensor(storage: Any, shape: tuple[int, ...], dtype: DType) -> Tensor:
    node = Node("buffer", (), (), shape, dtype, storage.device, storage)
    return Tensor(node, View.contiguous(shape), dtype)


def from_buffer(
    data: Any, shape: Sequence[int], dtype: Any = float32, device: str | Device | None = None
) -> Tensor:
    """A tensor from a bytes-like object holding row-major elements (uploaded once)."""
    return _from_bytes("from_buffer", data, shape, dtype, device)


def _from_bytes(op: str, data: Any, shape: Any, dtype: Any, device: Any) -> Tensor:
    dtype = check_dtype(op, dtype)
    shape = check_shape(op, "shape", shape)
    try:
        mv = memoryview(data).cast("B")
    except TypeError:
        raise TypeError(f"{op}: data must be a bytes-like object, not {describe(data)}") from None
    need = dtype.nbytes(math.prod(shape))
    if mv.nbytes != need:
        raise ValueError(
            f"{op}: {mv.nbytes} bytes for shape {shape} of {dtype.name}, which needs {need}"
        )
    dev = check_device(op, device)
    check_fits(op, shape, dtype, dev)
    return _buffer_tensor(dev.upload(mv, math.prod(shape), dtype), shape, dtype)


def tensor(
    data: Any,
    dtype: Any = None,
    device: str | Device | None = None,
    shape: Sequence[int] | None = None,
) -> Tensor:
    """A tensor from nested sequences, a NumPy array, bytes-like data or a JS typed array.

    Python data: numbers (bool, int, float, NumPy scalars) or rectangular nested sequences
    of them; ints become int32 unless *dtype* says otherwise, anything else float32. Values
    must fit the dtype: an int dtype takes integral values in its range (a TypeError /
    ValueError says which element does not); a float dtype rounds as IEEE does (beyond
    float32's range: +-inf). Strings, dicts, sets and other objects are a TypeError."""
    target = check_dtype("tensor", dtype) if dtype is not None else None
    if shape is not None:
        shape = check_shape("tensor", "shape", shape)
    if isinstance(data, Tensor):
        t = data.to(device) if device is not None else data
        return t.cast(target) if target is not None else t
    if _compat.is_js(data):
        return _from_js(data, target, device, shape)
    if is_numpy(data):
        import numpy as np  # optional: the data is an array, so NumPy is there

        arr = np.asarray(data)
        if arr.dtype.kind not in "iuf":
            raise TypeError(
                f"tensor: a NumPy array of {arr.dtype} is not numbers webaccel holds "
                "(float, int); convert it first"
            )
        target = target or check_dtype("tensor", arr.dtype, "the array's dtype")
        arr = np.asarray(arr, dtype=target.numpy, order="C")  # ascontiguousarray makes 0-d 1-d
        return _from_bytes("tensor", arr.reshape(-1).view(np.uint8), arr.shape, target, device)
    if isinstance(data, bytes | bytearray | memoryview | array.array):
        if shape is None:
            mv = memoryview(data)
            if mv.format in ("B", "b", "c") and target is None:
                raise ValueError("tensor(bytes): give dtype (and shape) for raw bytes")
            fmt_dtype = {
                "f": "float32",
                "e": "float16",
                "i": "int32",
                "B": "uint8",
                "b": "int8",
            }.get(mv.format)
            if fmt_dtype is None and mv.format not in ("B", "b", "c") and target is None:
                # e.g. array("d"): convert the numbers, never reinterpret the bytes
                return tensor(mv.tolist(), device=device)
            itemsize = (target or as_dtype(fmt_dtype or "float32")).itemsize
            shape = mv.shape if mv.ndim > 1 else (mv.nbytes // itemsize,)
        return _from_bytes("tensor", data, shape, target or _format_dtype(data), device)
    if not is_number(data) and not_data(data):
        raise TypeError(
            f"tensor: cannot build a tensor from {describe(data)}; give numbers, nested "
            "sequences of numbers, a NumPy array, bytes-like data or a JS typed array"
        )
    flat, inferred = flatten(data, "tensor", "data")
    target = target or default_dtype(flat)
    dims = shape if shape is not None else inferred
    return _from_python(flat, dims, target, device, "tensor")


def _from_python(
    flat: list[Any], shape: tuple[int, ...], dtype: DType, device: Any, op: str
) -> Tensor:
    if dtype.struct is None:
        raise TypeError(
            f"{op}: cannot build {dtype.name} from Python numbers; give bytes or a NumPy array"
        )
    return _from_bytes(op, pack(op, flat, dtype), shape, dtype, device)


def _format_dtype(data: Any) -> str:
    fmt = memoryview(data).format
    # Plain bytes ("B") are raw float32 data, not uint8 codes; int8 memoryviews stay int8.
    found = BY_STRUCT.get(fmt)
    return found.name if found is not None and fmt != "B" else "float32"


def _from_js(js_value: Any, dtype: DType | None, device: Any, shape: Any) -> Tensor:
    """From a JS typed array or ArrayBuffer: one copy into Python memory, then the upload."""
    u8 = _compat.js_global("Uint8Array")
    name = str(js_value.constructor.name)
    if name == "ArrayBuffer":
        if dtype is None:
            raise ValueError("tensor(ArrayBuffer): give dtype (and shape)")
        js_value = u8.new(js_value)
    elif name not in BY_JS_ARRAY and (
        dtype is None or not _compat.js_global("ArrayBuffer").isView(js_value)
    ):
        raise TypeError(
            f"tensor: unsupported JS value {name}; give a typed array "
            f"({', '.join(BY_JS_ARRAY)}) or an ArrayBuffer with dtype"
        )
    elif dtype is None:
        dtype = BY_JS_ARRAY[name]
    data = bytearray(js_value.byteLength)
    u8.new(js_value.buffer, js_value.byteOffset, js_value.byteLength).assign_to(data)
    target = as_dtype(dtype)
    if shape is None:
        shape = (len(data) // target.itemsize,)
    return _from_bytes("tensor", data, shape, target, device)


# --- argument checks every entry point shares ------------------------------------------------


def check_tensor(op: str, arg: str, value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {arg} must be a Tensor, not {describe(value)}")
    return value


def check_optional_tensor(op: str, arg: str, value: Any) -> Tensor | None:
    return None if value is None else check_tensor(op, arg, value)


def _typed_memoryview(data: bytearray, dtype: DType, shape: tuple[int, ...]) -> memoryview:
    fmt = dtype.struct
    mv = memoryview(data)
    if fmt is None or fmt == "e" or 0 in shape:  # memoryview.cast has no float16 ("e")
        return mv
    return mv.cast(fmt, shape)  # shape () gives a 0-d memoryview


def _to_list(data: bytearray, dtype: DType, shape: tuple[int, ...]) -> Any:
    fmt = dtype.struct
    if fmt is None:
        raise TypeError(f"tolist: {dtype.name} has no Python element type; cast it first")
    flat = list(struct.unpack(f"<{len(data) // struct.calcsize(fmt)}{fmt}", data))
    return flat[0] if not shape else _nest(flat, shape)


def _nest(flat: list[Any], shape: tuple[int, ...]) -> list[Any]:
    if len(shape) == 1:
        return flat
    step = math.prod(shape[1:])
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]

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
from collections.abc import Iterable, Sequence
from typing import Any

from . import _compat, ops
from .device import Device, get_device
from .dtypes import BY_JS_ARRAY, BY_STRUCT, DType, as_dtype, float32, int32
from .engine import explain_nodes, realize
from .ir import Node, Ref
from .view import View, normalize_slice

_EAGER = [False]


def set_eager(flag: bool) -> bool:
    """Eager mode realizes after every op (for debugging and the overhead benchmark)."""
    previous, _EAGER[0] = _EAGER[0], bool(flag)
    return previous


def explain(*tensors: object) -> str:
    """Where each pending op behind *tensors* would run, and why (also printed)."""
    return explain_nodes([t._node for t in tensors if isinstance(t, Tensor)])


class Tensor:
    __slots__ = ("__weakref__", "_node", "_view", "dtype")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected op, stays lazy

    def __init__(self, node: Node, view: View, dtype: DType) -> None:
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
        new = _resolve_shape(shape, self.numel, "reshape", self.shape)
        view = self._view.reshape(new)
        if view is None:  # strides cannot express it: make the data dense first
            return self.contiguous().reshape(new)
        return self._with_view(view)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        perm = tuple(axes[0]) if len(axes) == 1 and not isinstance(axes[0], int) else axes
        perm = tuple(ops.normalize_axis("permute", a, self.ndim) for a in perm)
        if sorted(perm) != list(range(self.ndim)):
            raise ops.ShapeError(f"permute: {perm} is not a permutation of {self.ndim} axes")
        return self._with_view(self._view.permute(perm))

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        if not axes:
            return self.permute(tuple(reversed(range(self.ndim))))
        if len(axes) == 2 and all(isinstance(a, int) for a in axes):
            perm = list(range(self.ndim))
            i, j = (ops.normalize_axis("transpose", a, self.ndim) for a in axes)  # type: ignore
            perm[i], perm[j] = perm[j], perm[i]
            return self.permute(tuple(perm))
        return self.permute(*axes)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def expand(self, *shape: int | Sequence[int]) -> Tensor:
        target = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        if -1 in target[: len(target) - self.ndim]:
            raise ops.ShapeError(f"expand: -1 in {tuple(target)} names a new axis of {self.shape}")
        target = tuple(
            d if d != -1 else self.shape[i - len(target) + self.ndim] for i, d in enumerate(target)
        )
        out = ops.broadcast_shapes("expand", self.shape, target)
        if out != target:
            raise ops.ShapeError(f"expand: {self.shape} cannot expand to {target}")
        return self._with_view(self._view.expand(target))

    def unsqueeze(self, axis: int) -> Tensor:
        axis = axis % (self.ndim + 1)
        return self.reshape((*self.shape[:axis], 1, *self.shape[axis:]))

    def squeeze(self, axis: int | None = None) -> Tensor:
        axes = (
            range(self.ndim) if axis is None else [ops.normalize_axis("squeeze", axis, self.ndim)]
        )
        for a in axes:
            if axis is not None and self.shape[a] != 1:
                raise ops.ShapeError(f"squeeze: axis {a} of {self.shape} has size {self.shape[a]}")
        keep = [d for i, d in enumerate(self.shape) if not (i in axes and d == 1)]
        return self.reshape(tuple(keep))

    def __getitem__(self, key: Any) -> Tensor:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            fill = self.ndim - (len(key) - 1 - sum(k is None for k in key))
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
                raise IndexError(f"too many indices for a tensor of shape {self.shape}")
            dim = self.shape[axis]
            if not isinstance(k, slice | int) and hasattr(k, "__index__"):
                k = k.__index__()  # NumPy integers
            if isinstance(k, int):
                if not -dim <= k < dim:
                    raise IndexError(f"index {k} is out of range for axis {axis} of size {dim}")
                k %= dim
                starts.append(k), stops.append(k + 1), steps.append(1), drop.append(axis)
            elif isinstance(k, slice):
                s, e, st = normalize_slice(k, dim)
                starts.append(s), stops.append(e), steps.append(st)
                out_pos += 1
            else:
                raise TypeError(f"unsupported index {k!r} (ints, slices, None, ... only)")
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
        """Reinterpret the bytes as *dtype* (same itemsize; the view must be contiguous)."""
        dtype = as_dtype(dtype)
        if dtype.bits != self.dtype.bits:
            raise ops.DTypeError(
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
        dtype = as_dtype(dtype)
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
        return apply("matmul", self, _as_tensor(other, self))

    def softmax(self, axis: int = -1) -> Tensor:
        return apply("softmax", self, axis=ops.normalize_axis("softmax", axis, self.ndim))

    def gelu(self, approximate: str = "none") -> Tensor:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
        return apply("gelu", self, approximate=approximate)

    def __matmul__(self, o: Any) -> Tensor:
        return self.matmul(o)

    def __rmatmul__(self, o: Any) -> Tensor:
        return _as_tensor(o, self).matmul(self)

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
        target = get_device(device)
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
    """Record op *op* over *inputs* (all on one device) and return its lazy output."""
    device = inputs[0].device if inputs else get_device(attrs.pop("device", None))
    for t in inputs[1:]:
        if t.device is not device:
            raise ValueError(
                f"{op}: inputs live on {device.name} and {t.device.name}; move them with .to() "
                "(placement moves data between backends per op, but a graph has one home)"
            )
    shape, dtype = ops.infer(op, [t.shape for t in inputs], [t.dtype for t in inputs], **attrs)
    frozen = tuple(sorted((k, _freeze(v)) for k, v in attrs.items()))
    node = Node(op, tuple(t._ref() for t in inputs), frozen, shape, dtype, device)
    out = Tensor(node, View.contiguous(shape), dtype)
    if _EAGER[0]:
        out.realize()
    return out


def binary(op: str, a: Any, b: Any) -> Tensor:
    like = a if isinstance(a, Tensor) else b
    return apply(op, _as_tensor(a, like), _as_tensor(b, like))


def _reduce(op: str, t: Tensor, axis: Any, keepdims: bool) -> Tensor:
    return apply(op, t, axes=ops.normalize_axes(op, axis, t.ndim), keepdims=bool(keepdims))


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, DType):
        return value.name
    if isinstance(value, float):  # cache keys tell -0.0 from 0.0 and NaN from NaN
        return ops.FloatAttr(value)
    return value


def _as_tensor(value: Any, like: Tensor) -> Tensor:
    """A tensor for *value*; Python scalars become lazy constants of *like*'s dtype."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, bool | int | float):
        dtype = like.dtype if (like.dtype.kind == "f" or isinstance(value, int)) else float32
        return _scalar(value, dtype, like.device)
    return tensor(value, device=like.device)


_SCALARS: weakref.WeakValueDictionary[tuple[Any, ...], Node] = weakref.WeakValueDictionary()


def _scalar(value: float, dtype: DType, device: Device) -> Tensor:
    """A 0-d constant. While its pending node lives (weakly cached), every op using the same
    scalar shares it (a node is pure): repeated scalars in a graph cost one node."""
    key = (type(value), repr(value), dtype, id(device))
    node = _SCALARS.get(key)
    if node is None or node.realized or node.device is not device:
        t = full((), value, dtype=dtype, device=device)
        _SCALARS[key] = t._node
        return t
    return Tensor(node, _SCALAR_VIEW, dtype)


_SCALAR_VIEW = View((), (), 0)


def full(
    shape: Sequence[int], value: float, dtype: Any = float32, device: str | Device | None = None
) -> Tensor:
    return apply("full", shape=tuple(shape), dtype=as_dtype(dtype).name, value=value, device=device)


def zeros(shape: Sequence[int], dtype: Any = float32, device: str | Device | None = None) -> Tensor:
    return full(shape, 0, dtype, device)


def ones(shape: Sequence[int], dtype: Any = float32, device: str | Device | None = None) -> Tensor:
    return full(shape, 1, dtype, device)


def _buffer_tensor(storage: Any, shape: tuple[int, ...], dtype: DType) -> Tensor:
    node = Node("buffer", (), (), shape, dtype, storage.device, storage)
    return Tensor(node, View.contiguous(shape), dtype)


def from_buffer(
    data: Any, shape: Sequence[int], dtype: Any = float32, device: str | Device | None = None
) -> Tensor:
    """A tensor from a bytes-like object holding row-major elements (uploaded once)."""
    dtype = as_dtype(dtype)
    shape = tuple(int(d) for d in shape)
    mv = memoryview(data).cast("B")
    need = dtype.nbytes(math.prod(shape))
    if mv.nbytes != need:
        raise ValueError(
            f"from_buffer: {mv.nbytes} bytes for shape {shape} of {dtype.name}, which needs {need}"
        )
    dev = get_device(device)
    return _buffer_tensor(dev.upload(mv, math.prod(shape), dtype), shape, dtype)


def tensor(
    data: Any,
    dtype: Any = None,
    device: str | Device | None = None,
    shape: Sequence[int] | None = None,
) -> Tensor:
    """A tensor from nested sequences, a NumPy array, bytes-like data or a JS typed array."""
    if isinstance(data, Tensor):
        t = data.to(device) if device is not None else data
        return t.cast(dtype) if dtype is not None else t
    if _compat.is_js(data):
        return _from_js(data, dtype, device, shape)
    if hasattr(data, "__array_interface__") or type(data).__module__ == "numpy":
        import numpy as np  # optional: the data is an array, so NumPy is there

        arr = np.asarray(data)
        target = as_dtype(dtype if dtype is not None else arr.dtype)
        arr = np.asarray(arr, dtype=target.numpy, order="C")  # ascontiguousarray makes 0-d 1-d
        return from_buffer(arr.reshape(-1).view(np.uint8), arr.shape, target, device)
    if isinstance(data, bytes | bytearray | memoryview | array.array):
        if shape is None:
            mv = memoryview(data)
            if mv.format in ("B", "b", "c") and dtype is None:
                raise ValueError("tensor(bytes): give dtype (and shape) for raw bytes")
            fmt_dtype = {
                "f": "float32",
                "e": "float16",
                "i": "int32",
                "B": "uint8",
                "b": "int8",
            }.get(mv.format)
            if fmt_dtype is None and mv.format not in ("B", "b", "c") and dtype is None:
                # e.g. array("d"): convert the numbers, never reinterpret the bytes
                return tensor(mv.tolist(), device=device)
            target = as_dtype(dtype or fmt_dtype or "float32")
            shape = mv.shape if mv.ndim > 1 else (mv.nbytes // target.itemsize,)
        return from_buffer(data, shape, dtype or _format_dtype(data), device)
    flat, inferred = _flatten(data)
    target = (
        as_dtype(dtype)
        if dtype is not None
        else (
            int32
            if flat and all(isinstance(v, int) and not isinstance(v, bool) for v in flat)
            else float32
        )
    )
    fmt = target.struct
    if fmt is None:
        raise TypeError(
            f"tensor: cannot build {target.name} from Python numbers; give bytes or a NumPy array"
        )
    buf = struct.pack(f"<{len(flat)}{fmt}", *flat)
    return from_buffer(buf, tuple(shape) if shape is not None else inferred, target, device)


def _format_dtype(data: Any) -> str:
    fmt = memoryview(data).format
    # Plain bytes ("B") are raw float32 data, not uint8 codes; int8 memoryviews stay int8.
    found = BY_STRUCT.get(fmt)
    return found.name if found is not None and fmt != "B" else "float32"


def _from_js(js_value: Any, dtype: Any, device: Any, shape: Any) -> Tensor:
    """From a JS typed array or ArrayBuffer: one copy into Python memory, then the upload."""
    u8 = _compat.js_global("Uint8Array")
    name = str(js_value.constructor.name)
    if name == "ArrayBuffer":
        if dtype is None:
            raise ValueError("tensor(ArrayBuffer): give dtype (and shape)")
        js_value = u8.new(js_value)
    elif dtype is None:
        if name not in BY_JS_ARRAY:
            raise TypeError(f"tensor: unsupported JS value {name}")
        dtype = BY_JS_ARRAY[name]
    data = bytearray(js_value.byteLength)
    u8.new(js_value.buffer, js_value.byteOffset, js_value.byteLength).assign_to(data)
    target = as_dtype(dtype)
    if shape is None:
        shape = (len(data) // target.itemsize,)
    return from_buffer(data, shape, target, device)


def _flatten(data: Any) -> tuple[list[Any], tuple[int, ...]]:
    if isinstance(data, bool | int | float):
        return [data], ()
    if not isinstance(data, Iterable):
        raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__}")
    items = list(data)
    if not items:
        return [], (0,)
    parts = [_flatten(x) for x in items]
    inner = parts[0][1]
    for _, s in parts:
        if s != inner:
            raise ops.ShapeError(f"tensor: ragged nested sequence (shapes {inner} and {s})")
    return [v for flat, _ in parts for v in flat], (len(items), *inner)


def _resolve_shape(
    shape: tuple[Any, ...], numel: int, op: str, old: tuple[int, ...]
) -> tuple[int, ...]:
    dims = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
    dims = tuple(int(d) for d in dims)
    if dims.count(-1) > 1:
        raise ops.ShapeError(f"{op}: only one -1 allowed in {dims}")
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or numel % known:
            raise ops.ShapeError(f"{op}: cannot reshape {old} ({numel} elements) into {dims}")
        dims = tuple(numel // known if d == -1 else d for d in dims)
    if math.prod(dims) != numel:
        raise ops.ShapeError(f"{op}: cannot reshape {old} ({numel} elements) into {dims}")
    return dims


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

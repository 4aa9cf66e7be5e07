"""Malformed calls to webaccel's public API, each with the error it must raise.

One table for every backend: ``tests/test_malformed.py`` runs it on the host (cpu) and
``tests/browser/test_malformed_browser.py`` ships this file's source into the page and runs it
on webgpu (chromium) and on webnn and webgpu (headless shell). So this module imports nothing
but the standard library and webaccel (no NumPy: the browser lanes have none).

Each ``Bad`` entry is a statement over the names ``namespace()`` defines (tensors on the
device under test, ``wa``, ``quant``, ``dev``), the exception class it must raise (by name, so
the check works on both sides; a subclass passes, e.g. ``ShapeError`` for ``ValueError``) and
fragments its message must hold: the op, the argument and the rule. ``run_table`` runs every
entry and reports what was raised, and whether anything reached the device: the device's graph
counters (``webaccel.graph_stats``) and its memory counters (live storages, and on WebGPU the
buffer pool) must be unchanged after a rejected call. ``check`` asserts all of it, and that no
``ESCAPES`` error (the ones a user must never see from a malformed call) came out.

``Good`` entries are edge calls that must keep working (NumPy-free ones; the host test adds
NumPy integers), with the value they give.
"""

from __future__ import annotations

import gc
from typing import Any, NamedTuple


class Bad(NamedTuple):
    id: str
    call: str  # a statement over namespace()'s names
    error: str  # the exception class it raises (or a subclass of it), by name
    says: tuple[str, ...]  # fragments of its message: op, argument, rule
    only: tuple[str, ...] = ()  # the backends it runs on (empty: every backend)


class Good(NamedTuple):
    id: str
    call: str  # an expression over namespace()'s names
    want: Any  # its .tolist() (or, for a tuple of shapes, the shapes)


# Errors a malformed call must never show a user: Python's internals, or a raw JS error.
ESCAPES = (
    "RecursionError",
    "ZeroDivisionError",
    "IndexError",  # except where Python's indexing rule asks for it (x[9]): error="IndexError"
    "KeyError",
    "AttributeError",
    "StopIteration",
    "OverflowError",
    "AssertionError",
    "NameError",
    "NotImplementedError",
    "MemoryError",
    "JsException",
    "error",  # struct.error
)

BIG = "webgpu", "webnn"  # backends with a buffer limit of their own (max_buffer_bytes)

BAD = [
    # --- tensor(), from_buffer(), full() / zeros() / ones() -----------------------------------
    Bad(
        "tensor-str",
        "wa.tensor('hello', device=dev)",
        "TypeError",
        ("tensor", "str", "cannot build"),
    ),
    Bad("tensor-dict", "wa.tensor({'a': 1}, device=dev)", "TypeError", ("tensor", "dict")),
    Bad("tensor-set", "wa.tensor({1, 2}, device=dev)", "TypeError", ("tensor", "set")),
    Bad("tensor-none", "wa.tensor(None, device=dev)", "TypeError", ("tensor", "NoneType")),
    Bad("tensor-object", "wa.tensor(object(), device=dev)", "TypeError", ("tensor", "object")),
    Bad(
        "tensor-nested-str",
        "wa.tensor([[1, 2], ['a', 'b']], device=dev)",
        "TypeError",
        ("tensor", "str 'a'"),
    ),
    Bad("tensor-nested-dict", "wa.tensor([{'a': 1}], device=dev)", "TypeError", ("tensor", "dict")),
    Bad("tensor-nested-bytes", "wa.tensor([b'ab'], device=dev)", "TypeError", ("tensor", "bytes")),
    Bad("tensor-nested-tensor", "wa.tensor([v, v], device=dev)", "TypeError", ("tensor", "Tensor")),
    Bad(
        "tensor-self-nesting",
        "a = []; a.append(a); wa.tensor(a, device=dev)",
        "ValueError",
        ("tensor", "nested more than"),
    ),
    Bad(
        "tensor-ragged", "wa.tensor([[1, 2], [3]], device=dev)", "ShapeError", ("tensor", "ragged")
    ),
    Bad(
        "tensor-ragged-scalar",
        "wa.tensor([[1, 2], 3], device=dev)",
        "ShapeError",
        ("tensor", "ragged"),
    ),
    Bad("tensor-complex", "wa.tensor([1j], device=dev)", "TypeError", ("tensor", "complex")),
    Bad(
        "tensor-int-overflow",
        "wa.tensor([2**40], device=dev)",
        "ValueError",
        ("tensor", "element 0", "out of range for int32"),
    ),
    Bad(
        "tensor-int-negative-overflow",
        "wa.tensor([1, -2**31 - 1], device=dev)",
        "ValueError",
        ("tensor", "element 1", "out of range for int32"),
    ),
    Bad(
        "tensor-fraction-into-int",
        "wa.tensor([1.5], dtype='int32', device=dev)",
        "ValueError",
        ("tensor", "element 0", "int32 cannot hold"),
    ),
    Bad(
        "tensor-nan-into-int",
        "wa.tensor([0, float('nan')], 'int32', dev)",
        "ValueError",
        ("tensor", "element 1", "int32 cannot hold"),
    ),
    Bad(
        "tensor-uint8-range",
        "wa.tensor([256], 'uint8', dev)",
        "ValueError",
        ("tensor", "out of range for uint8"),
    ),
    Bad(
        "tensor-bad-dtype",
        "wa.tensor([1.0], dtype='float64x', device=dev)",
        "DTypeError",
        ("tensor", "unsupported dtype", "float64x"),
    ),
    Bad(
        "tensor-dtype-int",
        "wa.tensor([1.0], dtype=3, device=dev)",
        "DTypeError",
        ("tensor", "unsupported dtype"),
    ),
    Bad(
        "tensor-negative-shape",
        "wa.tensor([1.0, 2.0], shape=(-2,), device=dev)",
        "ShapeError",
        ("tensor", "shape[0]", "sizes must be >= 0"),
    ),
    Bad(
        "tensor-float-shape",
        "wa.tensor([1.0, 2.0], shape=(2.0,), device=dev)",
        "TypeError",
        ("tensor", "shape[0]", "must be an int", "even when integral"),
    ),
    Bad(
        "tensor-shape-int",
        "wa.tensor([1.0, 2.0], shape=2, device=dev)",
        "TypeError",
        ("tensor", "shape", "sequence of ints"),
    ),
    Bad(
        "tensor-shape-mismatch",
        "wa.tensor([1.0, 2.0, 3.0], shape=(2, 2), device=dev)",
        "ValueError",
        ("tensor", "12 bytes for shape (2, 2)"),
    ),
    Bad(
        "tensor-unknown-device",
        "wa.tensor([1.0], device='tpu')",
        "ValueError",
        ("tensor", "device 'tpu'", "not a backend"),
    ),
    Bad(
        "tensor-device-type",
        "wa.tensor([1.0], device=3)",
        "TypeError",
        ("tensor", "device must be"),
    ),
    Bad(
        "tensor-raw-bytes",
        "wa.tensor(b'abcd', device=dev)",
        "ValueError",
        ("tensor(bytes)", "give dtype"),
    ),
    Bad(
        "tensor-bytes-shape",
        "wa.tensor(b'abcd', 'float32', dev, shape=(-1,))",
        "ShapeError",
        ("tensor", "shape[0]"),
    ),
    Bad(
        "from-buffer-list",
        "wa.from_buffer([1.0], (1,), device=dev)",
        "TypeError",
        ("from_buffer", "data", "bytes-like"),
    ),
    Bad(
        "from-buffer-negative",
        "wa.from_buffer(b'', (-1,), device=dev)",
        "ShapeError",
        ("from_buffer", "shape[0]", ">= 0"),
    ),
    Bad(
        "from-buffer-size",
        "wa.from_buffer(b'abc', (1,), device=dev)",
        "ValueError",
        ("from_buffer", "3 bytes", "needs 4"),
    ),
    Bad(
        "from-buffer-dtype",
        "wa.from_buffer(b'abcd', (1,), 'float64x', dev)",
        "DTypeError",
        ("from_buffer", "unsupported dtype"),
    ),
    Bad(
        "full-negative-shape",
        "wa.full((2, -3), 1.0, device=dev)",
        "ShapeError",
        ("full", "shape[1]", ">= 0"),
    ),
    Bad(
        "zeros-float-shape",
        "wa.zeros((2.5, 4), device=dev)",
        "TypeError",
        ("zeros", "shape[0]", "must be an int", "float"),
    ),
    Bad(
        "zeros-bool-shape",
        "wa.zeros((True, 4), device=dev)",
        "TypeError",
        ("zeros", "shape[0]", "bool"),
    ),
    Bad(
        "ones-str-shape",
        "wa.ones('ab', device=dev)",
        "TypeError",
        ("ones", "shape", "sequence of ints"),
    ),
    Bad(
        "zeros-negative-int",
        "wa.zeros(-1, device=dev)",
        "ShapeError",
        ("zeros", "shape[0]", ">= 0"),
    ),
    Bad(
        "zeros-negative-huge",
        "wa.zeros((-2**40,), device=dev)",
        "ShapeError",
        ("zeros", "shape[0]"),
    ),
    Bad(
        "full-value-str",
        "wa.full((2,), 'one', device=dev)",
        "TypeError",
        ("full", "value", "number"),
    ),
    Bad(
        "full-value-none",
        "wa.full((2,), None, device=dev)",
        "TypeError",
        ("full", "value", "number"),
    ),
    Bad(
        "full-int-overflow",
        "wa.full((2,), 2**31, 'int32', device=dev)",
        "ValueError",
        ("full", "value", "out of range for int32"),
    ),
    Bad(
        "full-int-fraction",
        "wa.full((2,), 0.5, 'int32', device=dev)",
        "ValueError",
        ("full", "value", "int32 cannot hold"),
    ),
    Bad(
        "full-bad-dtype",
        "wa.full((2,), 1.0, 'double', dev)",
        "DTypeError",
        ("full", "unsupported dtype", "double"),
    ),
    Bad(
        "zeros-beyond-any-host",
        "wa.zeros((2**40, 2**40, 2**40), device=dev)",
        "ValueError",
        ("zeros", "bytes", "at most"),
    ),
    Bad(
        "zeros-beyond-device",
        "wa.zeros((2**40,), device=dev)",
        "ValueError",
        ("zeros", "4398046511104 bytes", "max_buffer_bytes"),
        BIG,
    ),
    Bad(
        "ones-beyond-device-2d",
        "wa.ones((2**20, 2**20), 'float16', dev)",
        "ValueError",
        ("ones", "bytes", "max_buffer_bytes"),
        BIG,
    ),
    Bad(
        "matmul-output-beyond-device",
        "wa.zeros((2**16, 1), device=dev) @ wa.zeros((1, 2**16), device=dev)",
        "ValueError",
        ("matmul", "(65536, 65536)", "max_buffer_bytes"),
        BIG,
    ),
    Bad(
        "expand-then-copy-beyond-device",
        "v.expand(2**30, 4).contiguous()",
        "ValueError",
        ("contiguous", "bytes", "max_buffer_bytes"),
        BIG,
    ),
    # --- operators and elementwise functions ---------------------------------------------------
    Bad("add-str", "x + 'abc'", "TypeError", ("add", "b", "str")),
    Bad("radd-str", "'abc' + x", "TypeError", ("add", "a", "str")),
    Bad("mul-none", "x * None", "TypeError", ("mul", "b", "NoneType")),
    Bad("sub-dict", "x - {'a': 1}", "TypeError", ("sub", "b", "dict")),
    Bad("div-set", "x / {1.0}", "TypeError", ("div", "b", "set")),
    Bad("pow-nested-str", "x ** [['a']]", "TypeError", ("pow", "str")),
    Bad(
        "div-list-shape",
        "x / [1.0, 2.0, 3.0]",
        "ShapeError",
        ("div", "do not broadcast", "equal or 1"),
    ),
    Bad("rsub-list-shape", "[[1.0, 2.0]] - x", "ShapeError", ("sub", "do not broadcast")),
    Bad(
        "add-no-tensor",
        "wa.add(2, 3)",
        "TypeError",
        ("add", "at least one operand must be a Tensor"),
    ),
    Bad("maximum-shape", "wa.maximum(x, v[:3])", "ShapeError", ("maximum", "do not broadcast")),
    Bad("minimum-str", "wa.minimum('a', x)", "TypeError", ("minimum", "a", "str")),
    Bad("matmul-str", "x @ 'abc'", "TypeError", ("matmul", "b", "str")),
    Bad("matmul-align", "x @ x", "ShapeError", ("matmul", "do not align")),
    Bad("matmul-0d", "x @ s", "ShapeError", ("matmul", "rank >= 1")),
    Bad("rmatmul-list-align", "[[1.0]] @ x", "ShapeError", ("matmul", "do not align")),
    Bad(
        "matmul-no-tensor",
        "wa.matmul([1.0], [1.0])",
        "TypeError",
        ("matmul", "at least one operand"),
    ),
    Bad("exp-int", "wa.exp(3)", "TypeError", ("exp", "x", "must be a Tensor")),
    Bad("relu-list", "wa.relu([1.0])", "TypeError", ("relu", "x", "must be a Tensor")),
    Bad("exp-int-tensor", "wa.exp(i)", "DTypeError", ("exp", "float inputs")),
    Bad("where-str", "wa.where('yes', x, x)", "TypeError", ("where", "cond", "str")),
    Bad("where-no-tensor", "wa.where(1, 2, 3)", "TypeError", ("where", "at least one operand")),
    Bad("where-shapes", "wa.where(v, x, v[:2])", "ShapeError", ("where", "do not broadcast")),
    Bad("where-none", "wa.where(x, None, 1.0)", "TypeError", ("where", "a", "NoneType")),
    Bad(
        "gelu-approximate",
        "wa.gelu(x, 'fast')",
        "ValueError",
        ("gelu", "approximate", "'none' or 'tanh'"),
    ),
    Bad("gelu-approximate-type", "x.gelu(1)", "ValueError", ("gelu", "approximate")),
    Bad("gelu-x", "wa.gelu('x')", "TypeError", ("gelu", "x", "Tensor")),
    # --- views: reshape, permute, transpose, expand, unsqueeze, squeeze, indexing --------------
    Bad(
        "reshape-float",
        "x.reshape(2.5, 4)",
        "TypeError",
        ("reshape", "shape[0]", "must be an int", "float"),
    ),
    Bad(
        "reshape-integral-float",
        "x.reshape(3.0, 4)",
        "TypeError",
        ("reshape", "shape[0]", "even when integral"),
    ),
    Bad("reshape-bool", "x.reshape(True, 12)", "TypeError", ("reshape", "shape[0]", "bool")),
    Bad(
        "reshape-negative",
        "x.reshape(-2, -6)",
        "ShapeError",
        ("reshape", "shape[0]", "sizes must be >= 0"),
    ),
    Bad(
        "reshape-negative-function",
        "wa.reshape(x, (4, -3))",
        "ShapeError",
        ("reshape", "shape[1]", "sizes must be >= 0"),
    ),
    Bad("reshape-two-wildcards", "x.reshape(-1, -1)", "ShapeError", ("reshape", "only one -1")),
    Bad(
        "reshape-count",
        "x.reshape(5, 3)",
        "ShapeError",
        ("reshape", "cannot reshape", "12 elements"),
    ),
    Bad("reshape-str", "x.reshape('12')", "TypeError", ("reshape", "shape")),
    Bad("reshape-none", "x.reshape(None)", "TypeError", ("reshape", "shape", "NoneType")),
    Bad("reshape-function-x", "wa.reshape([1.0], 1)", "TypeError", ("reshape", "x", "Tensor")),
    Bad(
        "unsqueeze-range", "x.unsqueeze(10)", "ShapeError", ("unsqueeze", "axis 10", "out of range")
    ),
    Bad(
        "unsqueeze-negative-range",
        "x.unsqueeze(-4)",
        "ShapeError",
        ("unsqueeze", "axis -4", "out of range"),
    ),
    Bad("unsqueeze-float", "x.unsqueeze(1.0)", "TypeError", ("unsqueeze", "axis", "float")),
    Bad("squeeze-not-one", "x.squeeze(0)", "ShapeError", ("squeeze", "size 3", "size-1")),
    Bad("squeeze-range", "x.squeeze(5)", "ShapeError", ("squeeze", "axis 5", "out of range")),
    Bad("squeeze-str", "x.squeeze('0')", "TypeError", ("squeeze", "axis")),
    Bad("permute-repeat", "x.permute(0, 0)", "ShapeError", ("permute", "not a permutation")),
    Bad("permute-short", "x.permute(0)", "ShapeError", ("permute", "not a permutation")),
    Bad("permute-float", "x.permute(0.0, 1)", "TypeError", ("permute", "axes[0]", "float")),
    Bad(
        "permute-range", "x.permute((0, 2))", "ShapeError", ("permute", "axes[1] 2", "out of range")
    ),
    Bad(
        "transpose-range",
        "x.transpose(0, 5)",
        "ShapeError",
        ("transpose", "axes 5", "out of range"),
    ),
    Bad("transpose-float", "wa.transpose(x, 0, 1.5)", "TypeError", ("transpose", "axes", "float")),
    Bad("expand-mismatch", "x.expand(3, 5)", "ShapeError", ("expand", "do not broadcast")),
    Bad("expand-negative", "v.expand(3, -2)", "ShapeError", ("expand", "shape[1]", ">= 0")),
    Bad("expand-fewer-axes", "x.expand(4)", "ShapeError", ("expand", "fewer axes")),
    Bad("expand-float", "v.expand(2, 4.0)", "TypeError", ("expand", "shape[1]", "float")),
    Bad("expand-new-wildcard", "v.expand(-1, 4)", "ShapeError", ("expand", "names a new axis")),
    Bad("index-range", "x[3]", "IndexError", ("index", "3 is out of range for axis 0 of size 3")),
    Bad(
        "index-negative-range",
        "x[0, -5]",
        "IndexError",
        ("index", "-5 is out of range for axis 1 of size 4"),
    ),
    Bad("index-too-many", "x[0, 0, 0]", "IndexError", ("index", "too many indices")),
    Bad("index-two-ellipses", "x[..., ...]", "IndexError", ("index", "only one ...")),
    Bad("index-ellipsis-too-many", "x[0, ..., 0, 0]", "IndexError", ("index", "too many indices")),
    Bad("index-0d", "s[0]", "IndexError", ("index", "too many indices")),
    Bad("index-float", "x[1.0]", "TypeError", ("index", "float")),
    Bad("index-bool", "x[True]", "TypeError", ("index", "bool")),
    Bad("index-str", "x['a']", "TypeError", ("index", "str")),
    Bad("index-tensor", "x[i]", "TypeError", ("index", "gather")),
    Bad("index-list", "x[[0, 1]]", "TypeError", ("index", "gather")),
    Bad("slice-step-zero", "x[::0]", "ValueError", ("index", "step must not be zero")),
    Bad("slice-float-start", "x[0.5:2]", "TypeError", ("index", "slice start", "float")),
    Bad("slice-str-stop", "x[:, :'2']", "TypeError", ("index", "slice stop", "axis 1")),
    Bad(
        "slice-fn-step-zero",
        "wa.slice_(x, [0], [2], steps=[0])",
        "ValueError",
        ("slice", "steps", "nonzero"),
    ),
    Bad(
        "slice-fn-lengths",
        "wa.slice_(x, [0, 0], [2])",
        "ValueError",
        ("slice", "one value per axis"),
    ),
    Bad(
        "slice-fn-axis-range",
        "wa.slice_(x, [0], [2], axes=[5])",
        "ShapeError",
        ("slice", "axes 5", "out of range"),
    ),
    Bad(
        "slice-fn-repeat-axis",
        "wa.slice_(x, [0, 0], [1, 1], axes=[0, 0])",
        "ShapeError",
        ("slice", "repeated axis"),
    ),
    Bad("slice-fn-float", "wa.slice_(x, [0.5], [2])", "TypeError", ("slice", "starts[0]", "float")),
    Bad(
        "slice-fn-int-starts",
        "wa.slice_(x, 0, 2)",
        "TypeError",
        ("slice", "starts", "sequence of ints"),
    ),
    Bad(
        "split-negative",
        "wa.split(x, [5, -1], axis=1)",
        "ValueError",
        ("split", "sizes[1]", "non-negative"),
    ),
    Bad("split-zero", "wa.split(x, 0)", "ValueError", ("split", "sizes", "positive")),
    Bad("split-sum", "wa.split(x, [1, 1])", "ShapeError", ("split", "do not add up")),
    Bad("split-float", "wa.split(x, 1.5)", "TypeError", ("split", "sizes", "float")),
    Bad("split-bool", "wa.split(x, True)", "TypeError", ("split", "sizes", "bool")),
    Bad("split-axis", "wa.split(x, 1, axis=2)", "ShapeError", ("split", "axis 2", "out of range")),
    Bad("split-str", "wa.split(x, '12')", "TypeError", ("split", "sizes", "sequence of ints")),
    Bad("concat-tensor", "wa.concat(x)", "TypeError", ("concat", "tensors", "list or tuple")),
    Bad("concat-empty", "wa.concat([])", "ValueError", ("concat", "at least one")),
    Bad("concat-number", "wa.concat([x, 1.0])", "TypeError", ("concat", "tensors[1]", "Tensor")),
    Bad("concat-shapes", "wa.concat([x, v])", "ShapeError", ("concat", "differ")),
    Bad("concat-0d", "wa.concat([s, s])", "ShapeError", ("concat", "0-d")),
    Bad(
        "concat-axis",
        "wa.concat([x, x], axis=2)",
        "ShapeError",
        ("concat", "axis 2", "out of range"),
    ),
    Bad("concat-dtypes", "wa.concat([v, i4])", "DTypeError", ("concat", "dtypes differ")),
    # --- reductions, softmax, casts ------------------------------------------------------------
    Bad("sum-axis-range", "x.sum(2)", "ShapeError", ("sum", "axis 2", "out of range for rank 2")),
    Bad("sum-axis-float", "x.sum(1.0)", "TypeError", ("sum", "axis", "float")),
    Bad("sum-axis-bool", "x.sum(True)", "TypeError", ("sum", "axis", "bool")),
    Bad("sum-axis-str", "x.sum('0')", "TypeError", ("sum", "axis")),
    Bad("mean-repeat", "x.mean((0, 0))", "ShapeError", ("mean", "repeated axis")),
    Bad("mean-axes-float", "x.mean((0, 1.0))", "TypeError", ("mean", "axis", "float")),
    Bad(
        "max-empty-axis", "wa.zeros((0, 2), device=dev).max(0)", "ShapeError", ("max", "empty axis")
    ),
    Bad("min-axis-range", "v.min(-2)", "ShapeError", ("min", "axis -2", "out of range")),
    Bad(
        "sum-keepdims",
        "x.sum(0, keepdims='yes')",
        "TypeError",
        ("sum", "keepdims", "True or False"),
    ),
    Bad("softmax-axis", "wa.softmax(x, 2)", "ShapeError", ("softmax", "axis 2", "out of range")),
    Bad("softmax-axis-none", "x.softmax(None)", "TypeError", ("softmax", "axis", "NoneType")),
    Bad("softmax-x", "wa.softmax([1.0])", "TypeError", ("softmax", "x", "Tensor")),
    Bad("cast-dtype", "x.cast('float64x')", "DTypeError", ("cast", "unsupported dtype")),
    Bad("cast-x", "wa.cast([1.0], 'float32')", "TypeError", ("cast", "x", "Tensor")),
    Bad("bitcast-size", "x.bitcast('float16')", "DTypeError", ("bitcast", "element size")),
    Bad("bitcast-dtype", "x.bitcast(None)", "DTypeError", ("bitcast", "unsupported dtype")),
    # --- convolution and pooling ---------------------------------------------------------------
    Bad(
        "conv-stride-zero",
        "wa.conv2d(img, w, stride=0)",
        "ValueError",
        ("conv2d", "stride", "positive"),
    ),
    Bad(
        "conv-stride-negative",
        "wa.conv2d(img, w, stride=(1, -1))",
        "ValueError",
        ("conv2d", "stride[1]", "positive"),
    ),
    Bad(
        "conv-stride-float",
        "wa.conv2d(img, w, stride=1.5)",
        "TypeError",
        ("conv2d", "stride", "float"),
    ),
    Bad(
        "conv-stride-bool",
        "wa.conv2d(img, w, stride=True)",
        "TypeError",
        ("conv2d", "stride", "bool"),
    ),
    Bad(
        "conv-stride-count",
        "wa.conv2d(img, w, stride=(1, 1, 1))",
        "ValueError",
        ("conv2d", "stride", "needs 1 or 2 values"),
    ),
    Bad(
        "conv-dilation-zero",
        "wa.conv2d(img, w, dilation=0)",
        "ValueError",
        ("conv2d", "dilation", "positive"),
    ),
    Bad(
        "conv-dilation-zero-same",
        "wa.conv2d(img, w, padding='same', dilation=(0, 1))",
        "ValueError",
        ("conv2d", "dilation[0]", "positive"),
    ),
    Bad(
        "conv-stride-zero-same",
        "wa.conv2d(img, w, stride=0, padding='same')",
        "ValueError",
        ("conv2d", "stride", "positive"),
    ),
    Bad(
        "conv-padding-negative",
        "wa.conv2d(img, w, padding=-1)",
        "ValueError",
        ("conv2d", "padding", "non-negative"),
    ),
    Bad(
        "conv-padding-pair-negative",
        "wa.conv2d(img, w, padding=(1, -2))",
        "ValueError",
        ("conv2d", "padding[1]", "non-negative"),
    ),
    Bad(
        "conv-padding-word",
        "wa.conv2d(img, w, padding='full')",
        "ValueError",
        ("conv2d", "padding 'full'", "'same', 'valid'"),
    ),
    Bad(
        "conv-padding-count",
        "wa.conv2d(img, w, padding=(1, 1, 1))",
        "ValueError",
        ("conv2d", "padding", "give an int"),
    ),
    Bad(
        "conv-padding-float",
        "wa.conv2d(img, w, padding=0.5)",
        "TypeError",
        ("conv2d", "padding", "float"),
    ),
    Bad(
        "conv-groups-zero",
        "wa.conv2d(img, w, groups=0)",
        "ValueError",
        ("conv2d", "groups", "positive"),
    ),
    Bad(
        "conv-groups-float",
        "wa.conv2d(img, w, groups=1.0)",
        "TypeError",
        ("conv2d", "groups", "float"),
    ),
    Bad(
        "conv-groups-mismatch", "wa.conv2d(img, w, groups=2)", "ShapeError", ("conv2d", "groups=2")
    ),
    Bad("conv-layout", "wa.conv2d(img, w, layout='hwc')", "ValueError", ("conv2d", "layout")),
    Bad("conv-layout-type", "wa.conv2d(img, w, layout=1)", "ValueError", ("conv2d", "layout")),
    Bad("conv-rank", "wa.conv2d(v, w)", "ShapeError", ("conv2d", "rank 4")),
    Bad("conv-x-type", "wa.conv2d([[1.0]], w)", "TypeError", ("conv2d", "x", "Tensor")),
    Bad("conv-weight-type", "wa.conv2d(img, 'w')", "TypeError", ("conv2d", "weight", "Tensor")),
    Bad("conv-bias-type", "wa.conv2d(img, w, bias=1.0)", "TypeError", ("conv2d", "bias", "Tensor")),
    Bad("conv-bias-shape", "wa.conv2d(img, w, bias=v)", "ShapeError", ("conv2d", "bias shape")),
    Bad(
        "conv-input-small",
        "wa.conv2d(wa.zeros((1, 2, 2, 2), device=dev), w)",
        "ShapeError",
        ("conv2d", "smaller than the dilated kernel"),
    ),
    Bad(
        "conv-zero-kernel",
        "wa.conv2d(img, wa.zeros((3, 2, 0, 3), device=dev))",
        "ShapeError",
        ("conv2d", "zero-size kernel"),
    ),
    Bad(
        "conv1d-stride-zero",
        "wa.conv1d(sig, w1, stride=0)",
        "ValueError",
        ("conv1d", "stride", "positive"),
    ),
    Bad(
        "conv1d-dilation-negative",
        "wa.conv1d(sig, w1, dilation=-1)",
        "ValueError",
        ("conv1d", "dilation", "positive"),
    ),
    Bad(
        "conv1d-padding-negative",
        "wa.conv1d(sig, w1, padding=[-1])",
        "ValueError",
        ("conv1d", "padding[0]", "non-negative"),
    ),
    Bad("conv1d-rank", "wa.conv1d(img, w1)", "ShapeError", ("conv1d", "rank 3")),
    Bad(
        "pool-kernel-zero",
        "wa.max_pool2d(img, 0)",
        "ValueError",
        ("max_pool2d", "kernel", "positive"),
    ),
    Bad(
        "pool-kernel-float",
        "wa.max_pool2d(img, 2.0)",
        "TypeError",
        ("max_pool2d", "kernel", "float"),
    ),
    Bad(
        "pool-stride-zero",
        "wa.avg_pool2d(img, 2, stride=0)",
        "ValueError",
        ("avg_pool2d", "stride", "positive"),
    ),
    Bad(
        "pool-stride-zero-same",
        "wa.avg_pool2d(img, 2, stride=(0, 1), padding='same')",
        "ValueError",
        ("avg_pool2d", "stride[0]", "positive"),
    ),
    Bad(
        "pool-padding-negative",
        "wa.max_pool2d(img, 2, padding=-1)",
        "ValueError",
        ("max_pool2d", "padding", "non-negative"),
    ),
    Bad(
        "pool-padding-large",
        "wa.max_pool2d(img, 2, 1, 2)",
        "ShapeError",
        ("pool2d", "smaller than the kernel"),
    ),
    Bad("pool-rank", "wa.max_pool2d(x, 2)", "ShapeError", ("max_pool2d", "4-D")),
    Bad(
        "pool-layout", "wa.avg_pool2d(img, 2, layout='nc')", "ValueError", ("avg_pool2d", "layout")
    ),
    Bad(
        "pool-input-small",
        "wa.max_pool2d(img, 6)",
        "ShapeError",
        ("pool2d", "smaller than the kernel"),
    ),
    # --- normalization, linear, gemm, attention ------------------------------------------------
    Bad(
        "layer-norm-shape",
        "wa.layer_norm(x, 3)",
        "ShapeError",
        ("layer_norm", "normalized_shape", "trailing"),
    ),
    Bad(
        "layer-norm-negative",
        "wa.layer_norm(x, -4)",
        "ShapeError",
        ("layer_norm", "normalized_shape[0]", ">= 0"),
    ),
    Bad(
        "layer-norm-float", "wa.layer_norm(x, 4.0)", "TypeError", ("layer_norm", "normalized_shape")
    ),
    Bad(
        "layer-norm-empty",
        "wa.layer_norm(x, ())",
        "ShapeError",
        ("layer_norm", "normalized_shape ()"),
    ),
    Bad(
        "layer-norm-too-long", "wa.layer_norm(v, (1, 4))", "ShapeError", ("layer_norm", "trailing")
    ),
    Bad(
        "layer-norm-eps-negative",
        "wa.layer_norm(x, 4, eps=-1.0)",
        "ValueError",
        ("layer_norm", "eps", ">= 0"),
    ),
    Bad(
        "layer-norm-eps-nan",
        "wa.layer_norm(x, 4, eps=float('nan'))",
        "ValueError",
        ("layer_norm", "eps", "finite"),
    ),
    Bad(
        "layer-norm-eps-str",
        "wa.layer_norm(x, 4, eps='1e-5')",
        "TypeError",
        ("layer_norm", "eps", "number"),
    ),
    Bad(
        "layer-norm-weight-shape",
        "wa.layer_norm(x, 4, weight=x)",
        "ShapeError",
        ("layer_norm", "weight shape"),
    ),
    Bad(
        "layer-norm-weight-type",
        "wa.layer_norm(x, 4, weight=[1.0] * 4)",
        "TypeError",
        ("layer_norm", "weight", "Tensor"),
    ),
    Bad(
        "batch-norm-axis",
        "wa.batch_norm(img, v[:2], v[:2], axis=4)",
        "ShapeError",
        ("batch_norm", "axis 4", "out of range"),
    ),
    Bad(
        "batch-norm-param",
        "wa.batch_norm(img, v, v)",
        "ShapeError",
        ("batch_norm", "parameter shape"),
    ),
    Bad(
        "batch-norm-mean-type",
        "wa.batch_norm(img, [0.0, 0.0], v[:2])",
        "TypeError",
        ("batch_norm", "mean", "Tensor"),
    ),
    Bad("batch-norm-0d", "wa.batch_norm(s, s, s)", "ShapeError", ("batch_norm", "0-d")),
    Bad(
        "batch-norm-eps",
        "wa.batch_norm(img, v[:2], v[:2], eps=None)",
        "TypeError",
        ("batch_norm", "eps", "number"),
    ),
    Bad("linear-shape", "wa.linear(x, x.T)", "ShapeError", ("linear", "do not fit")),
    Bad("linear-weight-type", "wa.linear(x, 'w')", "TypeError", ("linear", "weight", "Tensor")),
    Bad("linear-x-type", "wa.linear([1.0], x)", "TypeError", ("linear", "x", "Tensor")),
    Bad("linear-bias-shape", "wa.linear(x, x[:2], bias=v)", "ShapeError", ("linear", "bias shape")),
    Bad(
        "linear-bias-type",
        "wa.linear(x, x[:2], bias=0.5)",
        "TypeError",
        ("linear", "bias", "Tensor"),
    ),
    Bad(
        "linear-int",
        "wa.linear(i4.reshape(1, 4), i4.reshape(1, 4))",
        "DTypeError",
        ("linear", "float"),
    ),
    Bad("gemm-rank", "wa.gemm(v, x)", "ShapeError", ("gemm", "a must be 2-D")),
    Bad("gemm-shapes", "wa.gemm(x, x)", "ShapeError", ("matmul", "do not align")),
    Bad(
        "gemm-trans",
        "wa.gemm(x, x, trans_b='yes')",
        "TypeError",
        ("gemm", "trans_b", "True or False"),
    ),
    Bad("gemm-alpha", "wa.gemm(x, x.T, alpha='2')", "TypeError", ("gemm", "alpha", "number")),
    Bad("gemm-c-type", "wa.gemm(x, x.T, [1.0])", "TypeError", ("gemm", "c", "Tensor")),
    Bad("attention-rank", "wa.attention(v, v, v)", "ShapeError", ("attention", "q", "rank >= 2")),
    Bad("attention-fit", "wa.attention(x, x[:, :3], x)", "ShapeError", ("attention", "do not fit")),
    Bad(
        "attention-scale",
        "wa.attention(x, x, x, scale='big')",
        "TypeError",
        ("attention", "scale", "number"),
    ),
    Bad(
        "attention-mask-type",
        "wa.attention(x, x, x, mask=1.0)",
        "TypeError",
        ("attention", "mask", "Tensor"),
    ),
    Bad(
        "attention-mask-shape",
        "wa.attention(x, x, x, mask=v[:2])",
        "ShapeError",
        ("add", "do not broadcast"),
    ),
    # --- gather (indices given as Python values are range-checked at the call) -----------------
    Bad(
        "gather-range",
        "wa.gather(x, [0, 3])",
        "ValueError",
        ("gather", "indices[1] = 3", "out of range for axis 0 of size 3"),
    ),
    Bad(
        "gather-negative-range",
        "wa.gather(x, -4)",
        "ValueError",
        ("gather", "-4", "valid: -3 ... 2"),
    ),
    Bad(
        "gather-range-axis-1",
        "wa.gather(x, [[0], [4]], axis=1)",
        "ValueError",
        ("gather", "indices[1] = 4", "axis 1 of size 4"),
    ),
    Bad(
        "gather-float-index",
        "wa.gather(x, [0.5])",
        "TypeError",
        ("gather", "indices[0]", "must be an int"),
    ),
    Bad("gather-bool", "wa.gather(x, True)", "TypeError", ("gather", "indices", "bool")),
    Bad("gather-str", "wa.gather(x, '0')", "TypeError", ("gather", "indices", "str")),
    Bad(
        "gather-float-tensor", "wa.gather(x, v)", "DTypeError", ("gather", "indices must be int32")
    ),
    Bad(
        "gather-axis", "wa.gather(x, i, axis=2)", "ShapeError", ("gather", "axis 2", "out of range")
    ),
    Bad("gather-x-type", "wa.gather([1.0, 2.0], i)", "TypeError", ("gather", "x", "Tensor")),
    # --- Tensor methods, module functions ------------------------------------------------------
    Bad("to-unknown-device", "x.to('tpu')", "ValueError", ("to", "device 'tpu'", "not a backend")),
    Bad("to-device-type", "x.to(5)", "TypeError", ("to", "device must be")),
    Bad("item-many", "x.item()", "ValueError", ("item()", "one element")),
    Bad("len-0d", "len(s)", "TypeError", ("len()", "0-d")),
    Bad(
        "set-eager-str", "wa.set_eager('yes')", "TypeError", ("set_eager", "flag", "True or False")
    ),
    Bad("explain-number", "wa.explain(1)", "TypeError", ("explain", "tensors[0]", "Tensor")),
    Bad(
        "graph-stats-unknown", "wa.graph_stats('tpu')", "WebAccelError", ("unknown backend 'tpu'",)
    ),
    Bad("capture-not-callable", "wa.capture(42)", "TypeError", ("capture", "fn", "callable")),
    Bad(
        "capture-max-traces",
        "wa.capture(lambda a: a, max_traces=0)",
        "ValueError",
        ("capture", "max_traces", "positive"),
    ),
    Bad(
        "captured-list-argument",
        "wa.capture(lambda a: a + 1)([1.0])",
        "TypeError",
        ("captured", "Tensors", "list"),
    ),
    Bad(
        "captured-returns-number",
        "wa.capture(lambda a: 3)(v)",
        "TypeError",
        ("capture", "must return", "int"),
    ),
    Bad(
        "captured-returns-none",
        "wa.capture(lambda a: None)(v)",
        "TypeError",
        ("capture", "must return", "NoneType"),
    ),
    Bad(
        "captured-returns-empty",
        "wa.capture(lambda a: [])(v)",
        "TypeError",
        ("capture", "must return", "empty"),
    ),
    Bad(
        "captured-returns-list-of-str",
        "wa.capture(lambda a: [a, 'b'])(v)",
        "TypeError",
        ("capture", "must return", "str"),
    ),
    Bad(
        "tensor-constructor",
        "wa.Tensor(1, 2, 3)",
        "TypeError",
        ("Tensor(node, view, dtype) is internal", "webaccel.tensor()"),
    ),
    Bad("get-device-type", "wa.get_device(0)", "TypeError", ("get_device", "int")),
    Bad(
        "set-default-device-none",
        "wa.set_default_device(None)",
        "TypeError",
        ("set_default_device", "NoneType"),
    ),
    Bad(
        "set-default-device-unknown",
        "wa.set_default_device('tpu')",
        "WebAccelError",
        ("unknown backend 'tpu'",),
    ),
    Bad("init-unknown", "wa.init('tpu')", "ValueError", ("backend must be", "'tpu'")),
    Bad("deny-unknown-op", "wa.deny('notanop', dev)", "ValueError", ("deny", "notanop", "not ops")),
    Bad(
        "deny-unknown-backend", "wa.deny('add', 'tpu')", "ValueError", ("deny", "backend", "'tpu'")
    ),
    Bad("deny-ops-type", "wa.deny(3, dev)", "TypeError", ("deny", "ops", "int")),
    Bad("allow-backend-type", "wa.allow('add', 3)", "ValueError", ("allow", "backend", "3")),
    Bad(
        "format-report-str",
        "wa.format_report('x')",
        "TypeError",
        ("format_report", "report", "detect()"),
    ),
    Bad(
        "memory-report-int",
        "wa.memory_report(3)",
        "TypeError",
        ("memory_report", "backends", "int"),
    ),
    Bad(
        "memory-report-str",
        "wa.memory_report(dev)",
        "TypeError",
        ("memory_report", "backends", "str"),
    ),
    Bad(
        "shared-tensor-str",
        "wa.shared_tensor('abc', dev)",
        "TypeError",
        ("shared_tensor", "data", "str"),
    ),
    Bad(
        "shared-tensor-shape",
        "wa.shared_tensor(bytes(8), dev, dtype='float32', shape=(-2,))",
        "ShapeError",
        ("shared_tensor", "shape[0]", ">= 0"),
    ),
    Bad(
        "shared-tensor-device",
        "wa.shared_tensor(bytes(8), 'tpu', dtype='float32')",
        "ValueError",
        ("shared_tensor", "device 'tpu'"),
    ),
    Bad("share-number", "wa.share(3)", "TypeError", ("share", "tensor", "Tensor")),
    # --- pipelines (checked before any file is read) --------------------------------------------
    Bad(
        "pipeline-unknown-task",
        "wa.pipeline('summarize')",
        "ValueError",
        ("unknown task 'summarize'", "feature-extraction"),
    ),
    Bad(
        "pipeline-task-type", "wa.pipeline(['feature-extraction'])", "ValueError", ("unknown task",)
    ),
    Bad(
        "pipeline-model-type",
        "wa.pipeline('feature-extraction', model=3)",
        "TypeError",
        ("pipeline", "model", "int"),
    ),
    Bad(
        "pipeline-quantize",
        "wa.pipeline('feature-extraction', model={}, quantize='int3')",
        "ValueError",
        ("quantize", "'int3'"),
    ),
    Bad(
        "pipeline-device",
        "wa.pipeline('feature-extraction', model={}, device='tpu')",
        "ValueError",
        ("SentenceEmbedder.load", "device 'tpu'"),
    ),
    Bad(
        "pipeline-max-length",
        "wa.pipeline('feature-extraction', model={}, max_length=-1)",
        "ValueError",
        ("max_length", "positive"),
    ),
    Bad(
        "pipeline-max-length-float",
        "wa.pipeline('feature-extraction', model={}, max_length=2.5)",
        "TypeError",
        ("max_length", "float"),
    ),
    Bad(
        "pipeline-progress",
        "wa.pipeline('feature-extraction', model={}, progress=3)",
        "TypeError",
        ("progress", "callable"),
    ),
    Bad(
        "pipeline-option",
        "wa.pipeline('feature-extraction', model={}, bogus=1)",
        "TypeError",
        ("bogus",),
    ),
    # --- webaccel.quant ------------------------------------------------------------------------
    Bad(
        "quantize-scheme", "quant.quantize(x, 'int3')", "ValueError", ("quantize", "scheme", "int3")
    ),
    Bad(
        "quantize-scheme-type",
        "quant.quantize(x, ['int8'])",
        "TypeError",
        ("quantize", "scheme", "list"),
    ),
    Bad(
        "quantize-group-zero",
        "quant.quantize(x, 'int4', 0)",
        "ValueError",
        ("quantize", "group_size", "positive"),
    ),
    Bad(
        "quantize-group-bool",
        "quant.quantize(x, 'int4', True)",
        "TypeError",
        ("quantize", "group_size", "bool"),
    ),
    Bad(
        "quantize-group-float",
        "quant.quantize(x, 'int4', 32.0)",
        "TypeError",
        ("quantize", "group_size", "float"),
    ),
    Bad(
        "quantize-method", "quant.quantize(x, method='fast')", "ValueError", ("quantize", "method")
    ),
    Bad(
        "quantize-asymmetric",
        "quant.quantize(x, asymmetric='yes')",
        "TypeError",
        ("quantize", "asymmetric", "True or False"),
    ),
    Bad(
        "quantize-int-weight",
        "quant.quantize(i4.reshape(2, 2))",
        "DTypeError",
        ("quantize", "float weight"),
    ),
    Bad("quantize-1d", "quant.quantize(v)", "ShapeError", ("quantize", "2-D")),
    Bad(
        "quantize-shape-float",
        "quant.quantize(bytes(16), shape=(2.0, 2))",
        "TypeError",
        ("quantize", "shape[0]", "float"),
    ),
    Bad(
        "quantize-shape-negative",
        "quant.quantize(bytes(16), shape=(-2, -2))",
        "ShapeError",
        ("quantize", "shape[0]", ">= 0"),
    ),
    Bad("quantize-str", "quant.quantize('weights')", "TypeError", ("quantize", "str")),
    Bad(
        "quantize-device",
        "quant.quantize(x, device='tpu')",
        "ValueError",
        ("quantize", "device 'tpu'"),
    ),
    Bad(
        "quantize-nan",
        "quant.quantize([[1.0, float('nan')]], method='python')",
        "ValueError",
        ("quantize", "NaN"),
    ),
    Bad("dequantize-tensor", "quant.dequantize(x)", "TypeError", ("dequantize", "QuantizedWeight")),
    Bad(
        "quantized-weight-dtype",
        "quant.QuantizedWeight(x, x[:, :1])",
        "DTypeError",
        ("QuantizedWeight", "int8 or int4"),
    ),
    Bad(
        "quantized-weight-type",
        "quant.QuantizedWeight([1], x)",
        "TypeError",
        ("QuantizedWeight", "tensors"),
    ),
    Bad(
        "quantized-weight-group",
        "quant.QuantizedWeight(i4.reshape(2, 2).cast('int8'), x[:2, :1], group_size=0)",
        "ValueError",
        ("QuantizedWeight", "group", "positive"),
    ),
    Bad(
        "linear-q-weight",
        "quant.linear_q(x, x)",
        "TypeError",
        ("linear_q", "weight", "QuantizedWeight"),
    ),
    Bad(
        "from-host-missing",
        "quant.from_host({'q': (bytes(4), 'int8', (2, 2))}, device=dev)",
        "ValueError",
        ("from_host", "scale"),
    ),
    Bad(
        "from-host-type", "quant.from_host([1, 2], device=dev)", "TypeError", ("from_host", "parts")
    ),
]

GOOD = [
    Good("reshape-wildcard", "x.reshape(-1, 6).shape", (2, 6)),
    Good("reshape-sequence", "x.reshape([4, 3]).shape", (4, 3)),
    Good("reshape-0d", "s.reshape(()).shape", ()),
    Good("unsqueeze-ends", "(x.unsqueeze(-3).shape, x.unsqueeze(2).shape)", ((1, 3, 4), (3, 4, 1))),
    Good("zeros-int-shape", "wa.zeros(3, device=dev).shape", (3,)),
    Good("zeros-empty", "wa.zeros((0, 4), device=dev).shape", (0, 4)),
    Good("split-zero-part", "[t.shape for t in wa.split(x, [0, 4], axis=1)]", [(3, 0), (3, 4)]),
    Good("split-uneven", "[t.shape for t in wa.split(x, 3, axis=1)]", [(3, 3), (3, 1)]),
    Good("tensor-int-as-float-value", "wa.tensor([1.0, -2.0], 'int32', dev).tolist()", [1, -2]),
    Good(
        "tensor-int32-limits",
        "wa.tensor([2**31 - 1, -2**31], device=dev).tolist()",
        [2**31 - 1, -(2**31)],
    ),
    Good(
        "tensor-float32-overflow-is-inf",
        "wa.tensor([1e39, -1e39, 2**1024], device=dev).tolist()",
        [float("inf"), float("-inf"), float("inf")],
    ),
    Good("tensor-bools", "wa.tensor([True, False], device=dev).tolist()", [1.0, 0.0]),
    Good(
        "gather-python-indices",
        "wa.gather(x, [2, -3]).tolist()",
        [[8.0, 9.0, 10.0, 11.0], [0.0, 1.0, 2.0, 3.0]],
    ),
    Good("gather-python-scalar", "wa.gather(x, 1, axis=1).tolist()", [1.0, 5.0, 9.0]),
    Good("gather-empty-list", "wa.gather(x, []).shape", (0, 4)),
    Good("where-list-condition", "wa.where([1, 0, 1, 0], v, 0.0).tolist()", [1.0, 0.0, 3.0, 0.0]),
    Good("add-nested-list", "(x[:1] + [[1.0, 1.0, 1.0, 1.0]]).tolist()", [[1.0, 2.0, 3.0, 4.0]]),
    Good("full-int-integral-float", "wa.full((2,), 3.0, 'int32', dev).tolist()", [3, 3]),
    Good("conv-same-stride", "wa.conv2d(img, w, stride=2, padding='same').shape", (1, 3, 3, 3)),
    Good("index-negative-step", "v[::-1].tolist()", [4.0, 3.0, 2.0, 1.0]),
]


def namespace(wa: Any, device: str) -> dict[str, Any]:
    """The names the table's calls use, with their tensors on *device*."""
    from webaccel import quant

    def on(data: Any, dtype: str | None = None) -> Any:
        return wa.tensor(data, dtype, device)

    return {
        "wa": wa,
        "quant": quant,
        "dev": device,
        "x": on([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0]]),  # (3, 4)
        "v": on([1.0, 2.0, 3.0, 4.0]),  # (4,)
        "s": on(2.0),  # 0-d
        "i": on([0, 1, 2]),  # int32 (3,)
        "i4": on([0, 1, 2, 3]),  # int32 (4,)
        "img": on([0.5] * 50).reshape(1, 2, 5, 5),  # NCHW
        "w": on([0.25] * 54).reshape(3, 2, 3, 3),  # OIHW
        "sig": on([0.5] * 16).reshape(1, 2, 8),  # NCW
        "w1": on([0.25] * 18).reshape(3, 2, 3),  # OIW
    }


def _state(wa: Any, device: str) -> tuple[Any, ...]:
    """What a queued call would change: the graph counters and the device's memory counters
    (live storages and bytes; on WebGPU its buffer pool too)."""
    dev = wa.get_device(device)
    return tuple(sorted(wa.graph_stats(device).items())), tuple(sorted(dev.memory().items()))


def run_table(wa: Any, device: str, entries: list[Bad] | None = None) -> dict[str, tuple]:
    """Each entry's outcome on *device*: (the raised exception's class names, most derived
    first, or None if the call was accepted; its message; what changed on the device)."""
    ns = namespace(wa, device)
    for t in ns.values():  # the inputs are on the device before the first call
        if isinstance(t, wa.Tensor):
            t.realize()
    out = {}
    for entry in BAD if entries is None else entries:
        if entry.only and device not in entry.only:
            continue
        before = _state(wa, device)
        names, message = None, ""
        try:
            exec(entry.call, dict(ns))
        except BaseException as exc:
            names = [c.__name__ for c in type(exc).__mro__]
            message = str(exc)
            del exc
        after = _state(wa, device)
        if after != before:  # garbage in a reference cycle (a traceback) may hold storages
            gc.collect()
            after = _state(wa, device)
        changed = "" if after == before else f"{before} -> {after}"
        out[entry.id] = (names, message, changed)
    return out


def run_good(wa: Any, device: str) -> dict[str, Any]:
    """Each ``Good`` entry's value on *device* (shapes as tuples, data as lists), or the error."""
    ns = namespace(wa, device)
    out = {}
    for entry in GOOD:
        try:
            value = eval(entry.call, dict(ns))
            out[entry.id] = ("ok", value)
        except Exception as exc:
            out[entry.id] = ("error", f"{type(exc).__name__}: {exc}")
    return out


def check(entry: Bad, outcome: tuple) -> None:
    names, message, changed = outcome
    assert names is not None, f"{entry.id}: `{entry.call}` was accepted; want {entry.error}"
    escaped = [n for n in ESCAPES if n in names and n != entry.error]
    assert not escaped, f"{entry.id}: `{entry.call}` raised {names[0]}: {message}"
    assert entry.error in names, f"{entry.id}: want {entry.error}, got {names[0]}: {message}"
    missing = [f for f in entry.says if f not in message]
    assert not missing, f"{entry.id}: message {message!r} lacks {missing}"
    assert not changed, f"{entry.id}: a rejected call reached the device: {changed}"


def check_good(entry: Good, outcome: tuple) -> None:
    status, value = outcome
    assert status == "ok", f"{entry.id}: `{entry.call}` failed: {value}"
    assert value == entry.want, f"{entry.id}: `{entry.call}` gave {value!r}, want {entry.want!r}"

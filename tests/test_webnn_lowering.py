"""The WebNN lowering on the host: programs through the emitter against the recorded limits.

No browser here. ``fixtures/webnn_op_support_limits.json`` is the headless shell's
``opSupportLimits()`` (``browser/test_webnn_device.py`` checks it still is). What the host can
check: which steps are refused and why, the builder calls a step becomes, that a dry run (what
``why_unsupported`` does) and a build make the same calls, that views select the right elements
(the movement ops evaluated by NumPy as the WebNN spec defines them), and that the device and the
``detect()`` probe acquire a context with the same checks and texts. The numbers a browser
computes are checked in the browser lane (``browser/test_ops_webnn.py``).
"""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import op_cases
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from webnn_exclusions import EXCLUDED
from webnn_ieee_cases import CASES as IEEE_CASES
from webnn_numpy_builder import NumPyBuilder

import webaccel as wa
from webaccel import _compat, ir, quant
from webaccel._compat.cpython_host import CPythonHost
from webaccel.backends.webnn import builders
from webaccel.backends.webnn.context import REQUIRED_METHODS, WebNNError, create_context
from webaccel.backends.webnn.device import WebNNDevice
from webaccel.backends.webnn.emitter import (
    BuildError,
    Emitter,
    LimitError,
    Limits,
    Unsupported,
    Val,
)
from webaccel.backends.webnn.lowering import lower_program
from webaccel.backends.webnn.probe import probe_async
from webaccel.backends.webnn.stages import split
from webaccel.backends.webnn.views import read_view
from webaccel.dtypes import as_dtype
from webaccel.ir import Program, Step
from webaccel.ops import OPS
from webaccel.tensor import apply
from webaccel.view import View

FIXTURE = Path(__file__).parent / "fixtures" / "webnn_op_support_limits.json"
RAW: dict[str, Any] = json.loads(FIXTURE.read_text())["limits"]
LIMITS = Limits(RAW)
PACKAGE = Path(wa.__file__).parent / "backends" / "webnn"


def limits_without(*ops: str) -> Limits:
    """The recorded limits of a context that lacks *ops*."""
    return Limits({k: v for k, v in RAW.items() if k not in ops})


def program_of(t: wa.Tensor) -> Program:
    """*t*'s pending graph as the engine lowers it for a device."""
    return ir.lower(ir.pending_nodes([t._node]), {t._node.id})[0]


def case_program(case: op_cases.OpCase) -> Program:
    """The case's program as the browser lane ships it (every output its own dense buffer)."""
    out = case.fn(*[wa.tensor(a) for a in case.inputs])
    dense = [apply("contiguous", t) for t in (out if isinstance(out, list | tuple) else [out])]
    return ir.lower(ir.pending_nodes([t._node for t in dense]), {t._node.id for t in dense})[0]


def dry(program: Program, limits: Limits = LIMITS, ieee: bool = True) -> Emitter:
    """The emitter after a dry lowering of *program* (raises ``Unsupported`` as a build would)."""
    return lower_program(program, limits, None, ieee)[0].e


def why(program: Program, limits: Limits = LIMITS) -> str | None:
    try:
        dry(program, limits)
    except Unsupported as exc:
        return str(exc)
    return None


def ops_of(e: Emitter) -> list[str]:
    return [c.op for c in e.calls]


class Recorder:
    """The emitter's backend interface with no browser behind it: every call is logged and
    answered with a fresh operand token, as ``MLGraphBuilder`` would answer with an operand."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    def _made(self, *entry: Any) -> Any:
        self.log.append(entry)
        return object()

    def input(self, name: str, dtype: str, shape: list[int]) -> Any:
        return self._made("input", name, dtype, tuple(shape))

    def constant(self, dtype: str, shape: list[int], data: bytes) -> Any:
        return self._made("constant", dtype, tuple(shape), bytes(data))

    def constant_from(self, tensor: Any, dtype: str, shape: list[int], start: int, n: int) -> Any:
        return self._made("constant_from", dtype, tuple(shape), start, n)

    def call(self, op: str, args: list[Any], options: dict[str, Any] | None) -> Any:
        return self._made(op)


def built(program: Program, limits: Limits = LIMITS) -> tuple[Emitter | str, Recorder]:
    """Lower *program* for a build (a ``Recorder`` as the builder): its emitter or why not."""
    rec = Recorder()
    try:
        return lower_program(program, limits, rec)[0].e, rec
    except Unsupported as exc:
        return str(exc), rec


class NumPyMovement(Recorder):
    """WebNN's movement ops evaluated by NumPy, as the WebNN spec defines them, so that the ops
    a view lowers to can be checked element by element on the host."""

    def __init__(self, inputs: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.inputs = inputs

    def input(self, name: str, dtype: str, shape: list[int]) -> Any:
        return self.inputs[name].reshape(shape)

    def constant(self, dtype: str, shape: list[int], data: bytes) -> Any:
        return np.frombuffer(data, as_dtype(dtype).numpy).reshape(shape)

    def call(self, op: str, args: list[Any], options: dict[str, Any] | None) -> Any:
        x, opts = args[0], options or {}
        if op == "reshape":
            return x.reshape(args[1])
        if op == "slice":
            strides = opts.get("strides", [1] * len(args[1]))
            return x[
                tuple(slice(b, b + n, s) for b, n, s in zip(args[1], args[2], strides, strict=True))
            ]
        if op == "transpose":
            return x.transpose(opts["permutation"])
        if op == "reverse":
            return np.flip(x, axis=tuple(opts["axes"]))
        if op == "expand":
            return np.broadcast_to(x, args[1])
        if op == "concat":
            return np.concatenate(x, axis=args[1])
        if op == "gather":
            return np.take(x, args[1], axis=opts["axis"])
        raise AssertionError(f"{op} is not a movement op")


# --- every op case, against the recorded limits -----------------------------------------------

CASES = op_cases.CASES
LIMITED = {i for i, (kind, _) in EXCLUDED.items() if kind == "limits"}


def test_the_op_table_is_every_op_and_each_op_has_a_case():
    assert WebNNDevice.ops is builders.LOWERINGS
    assert set(builders.LOWERINGS) == set(OPS)
    lowered = {step.op for case in CASES for step in case_program(case).steps}
    assert set(OPS) <= lowered, sorted(set(OPS) - lowered)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_is_refused_only_where_the_browser_lane_excludes_it(case):
    """What the browser lane's exclusions say, from the recorded limits: a case excluded for
    the limits is refused with the op, data type and rank named; every other case lowers. A
    build (a recording builder) makes exactly the calls the dry run checked."""
    program = case_program(case)
    reason = why(program)
    if case.id in LIMITED:
        assert reason is not None, f"{case.id} is excluded for the limits, yet it lowers"
        assert "WebNN " in reason and "data type" in reason and "rank" in reason, reason
    else:
        assert reason is None, reason
    emitter, rec = built(program)
    if reason is not None:
        assert emitter == reason
        return
    assert isinstance(emitter, Emitter)
    trace = [(c.op, c.out.dtype, c.out.shape) for c in emitter.calls]
    assert trace == [(c.op, c.out.dtype, c.out.shape) for c in dry(program).calls]
    made = [entry[0] for entry in rec.log if entry[0] not in ("input", "constant")]
    assert made == ops_of(emitter)  # each checked call reached the builder, in order


def test_matmul_int32_is_refused_naming_op_data_type_and_rank():
    i = wa.tensor(np.arange(6, dtype=np.int32)).reshape(2, 3)
    assert why(program_of(i @ i.T)) == (
        "webnn cannot run step matmul(int32[rank 2], int32[rank 2]) -> int32[rank 2]: "
        "WebNN matmul: a of data type int32 is not supported here (allowed: float32, float16)"
    )


def test_ranks_beyond_the_limits_are_refused():
    f = wa.tensor(np.arange(6, dtype=np.float32))
    softmax7 = why(program_of(f.reshape(1, 1, 1, 1, 1, 2, 3).softmax(-1)))
    assert softmax7 is not None
    assert softmax7.endswith("WebNN softmax: input of rank 7 is out of the supported range [1, 6]")
    div6 = why(program_of(f.reshape(1, 1, 1, 1, 2, 3) / 2.0))
    assert div6 is not None and div6.endswith(
        "WebNN div: a of rank 6 is out of the supported range [0, 5]"
    )
    assert why(program_of(f.reshape(1, 1, 1, 2, 3) / 2.0)) is None


def test_a_missing_op_is_named():
    f = wa.tensor(np.arange(6, dtype=np.float32)).reshape(2, 3)
    assert why(program_of(f.gelu()), limits_without("gelu")) == (
        "webnn cannot run step gelu(float32[rank 2]) -> float32[rank 2]: "
        "this WebNN context has no 'gelu' op"
    )


def test_int4_results_bitcasts_and_empty_max_are_refused():
    f = wa.tensor(np.arange(4, dtype=np.float32))
    assert why(program_of(f.cast("int4"))) == (
        "webnn cannot return a cast result: "
        "int4 results (WebNN cannot cast to int4; keep int4 for weights)"
    )
    f32, i32 = as_dtype("float32"), as_dtype("int32")
    bitcast = Program(
        ((4, f32),), (Step("neg", (), ((0, View((4,), (1,), 0), i32),), (4,), i32),), (0,)
    )
    reason = why(bitcast)
    assert reason is not None and reason.endswith("a float32 storage read as int32 (bitcast view)")
    # a reduction over an axis of size 0: a sum is 0, a max has no answer
    over_nothing = {
        op: Program(
            ((0, f32),),
            (
                Step(
                    op,
                    (("axes", (1,)), ("keepdims", False)),
                    ((0, View((2, 0), (0, 1), 0), f32),),
                    (2,),
                    f32,
                ),
            ),
            (0,),
        )
        for op in ("sum", "max")
    }
    assert ops_of(dry(over_nothing["sum"])) == ["expand"]
    assert why(over_nothing["max"]) == (
        "webnn cannot run step max(float32[rank 2]) -> float32[rank 1]: max over an empty axis"
    )


def test_the_device_answers_from_the_same_lowering():
    """``WebNNDevice.why_unsupported`` / ``supports`` are the dry lowering (a stand-in context:
    only its method names are read, the limits are the recorded ones)."""
    dev = WebNNDevice(_Context(), RAW)
    i = wa.tensor(np.arange(6, dtype=np.int32)).reshape(2, 3)
    f = wa.tensor(np.arange(6, dtype=np.float32)).reshape(2, 3)
    int_mm, float_mm = program_of(i @ i.T), program_of(f @ f.T)
    assert dev.why_unsupported(int_mm) == why(int_mm)
    assert dev.why_unsupported(float_mm) is None
    assert dev.supports(float_mm.steps[-1]) and not dev.supports(int_mm.steps[-1])
    reason = dev.why_unsupported(int_mm.steps[-1])  # one step alone: its sources as inputs
    assert reason is not None and "matmul" in reason and "int32" in reason and "rank 2" in reason


@pytest.mark.parametrize(
    "missing", ["where", "isNaN", "cast", "slice", "gather", "gemm", "matmul", "conv2d"]
)
def test_dry_run_and_build_agree_when_an_op_is_missing(missing):
    """Take one WebNN op away: every case is refused by the dry run exactly when a build fails,
    with the same message (one code path)."""
    limits = limits_without(missing)
    refused = 0
    for case in CASES:
        program = case_program(case)
        reason = why(program, limits)
        emitter, _ = built(program, limits)
        assert emitter == reason if reason is not None else isinstance(emitter, Emitter)
        if reason is not None:
            refused += 1
            assert f"no {missing!r} op" in reason or "WebNN " in reason, reason
    assert refused, f"no case needs {missing}"


# --- the calls a step becomes -----------------------------------------------------------------


def test_broadcasting_binary_ops_and_size_0_and_1_dims():
    a = wa.tensor(np.ones((3, 4), np.float32))
    b = wa.tensor(np.ones(4, np.float32))
    e = dry(program_of(a + b))
    (add,) = [c for c in e.calls if c.op == "add"]
    assert [v.shape for v in add.args] == [(3, 4), (4,)] and add.out.shape == (3, 4)
    col, row = wa.tensor(np.ones((3, 1), np.float32)), wa.tensor(np.ones((1, 4), np.float32))
    (add,) = [c for c in dry(program_of(col * row)).calls if c.op == "mul"]
    assert [v.shape for v in add.args] == [(3, 1), (1, 4)] and add.out.shape == (3, 4)
    empty = wa.tensor(np.ones((0, 4), np.float32))
    low, outs = lower_program(program_of(empty + b), LIMITS)
    assert low.e.calls == [] and outs == [None]  # nothing to build: the output is empty


def test_ieee_guards_are_added_only_when_asked():
    x = wa.tensor(np.ones((3, 4), np.float32))
    # the first reshape reads the flat input as (3, 4); the last one is the flat output
    assert ops_of(dry(program_of(x.exp()), ieee=False)) == ["reshape", "exp", "reshape"]
    guarded = ops_of(dry(program_of(x.exp())))
    assert guarded == ["reshape", "exp", "isNaN", "where", "reshape"]
    assert ops_of(dry(program_of(x.max(1)), ieee=False)) == ["reshape", "reduceMax"]
    nan_max = ["reshape", "reduceMax", "isNaN", "cast", "reduceMax", "greater", "where"]
    assert ops_of(dry(program_of(x.max(1)))) == nan_max


def test_int4_codes_reach_dequantize_linear_as_stored():
    rng = np.random.default_rng(0)
    w = quant.quantize(rng.standard_normal((4, 64)).astype(np.float32), "int4")
    x = wa.tensor(rng.standard_normal((2, 64)).astype(np.float32))
    e = dry(program_of(quant.linear_q(x, w)))
    (deq,) = [c for c in e.calls if c.op == "dequantizeLinear"]
    codes, scale, zero = deq.args
    # the codes are the int4 graph input, only reshaped (WebNN has no cast from int4)
    assert (codes.dtype, codes.shape) == ("int4", (4, 64))
    (made,) = [c for c in e.calls if c.out is codes]
    assert (made.op, made.args[0].dtype, made.args[0].source) == ("reshape", "int4", "input")
    assert (zero.dtype, zero.source, zero.shape) == ("int4", "const", scale.shape)
    assert scale.shape == (4, 2) and deq.out.dtype == "float32"
    assert "cast" not in ops_of(e)[: ops_of(e).index("dequantizeLinear")]
    # the dequantized weight is no graph constant: matmul by its transpose (gemm would clamp)
    assert "gemm" not in ops_of(e)
    (mm,) = [c for c in e.calls if c.op == "matmul"]
    (tr,) = [c for c in e.calls if c.out is mm.args[1]]
    assert tr.op == "transpose" and tr.args[0] is deq.out and mm.out.shape == (2, 4)


def test_int8_per_row_weights_need_no_dequantize_linear():
    rng = np.random.default_rng(1)
    w = quant.quantize(rng.standard_normal((4, 16)).astype(np.float32), "int8")
    x = wa.tensor(rng.standard_normal((2, 16)).astype(np.float32))
    program = program_of(quant.linear_q(x, w))
    e = dry(program)
    assert "dequantizeLinear" not in ops_of(e)
    # the codes go through a plain cast, the per-row scales multiply the matmul's output
    # (a matmul: the cast weight is no graph constant, and gemm would clamp NaN and inf)
    main = [(c.op, c.out.shape, c.out.dtype) for c in e.calls if c.op != "reshape"]
    assert main == [
        ("cast", (4, 16), "float32"),
        ("transpose", (16, 4), "float32"),
        ("matmul", (2, 4), "float32"),
        ("mul", (2, 4), "float32"),
    ]
    assert why(program, limits_without("dequantizeLinear")) is None
    w4 = quant.quantize(rng.standard_normal((4, 64)).astype(np.float32), "int4")
    reason = why(
        program_of(quant.linear_q(wa.tensor(np.ones((2, 64), np.float32)), w4)),
        limits_without("dequantizeLinear"),
    )
    assert reason is not None and "no 'dequantizeLinear' op" in reason


def test_int4_storage_read_by_other_ops_becomes_int32_once():
    q = wa.from_buffer(bytes([0x21, 0xF3]), (4,), "int4")
    e = dry(program_of(q.cast("float32") + q.cast("float32")))
    assert ops_of(e).count("dequantizeLinear") == 1
    deq = e.calls[0]
    assert deq.op == "dequantizeLinear" and deq.args[0].dtype == "int4"
    assert [(c.op, c.out.dtype) for c in e.calls[1:3]] == [("cast", "int32"), ("cast", "float32")]


# --- views --------------------------------------------------------------------------------------


def view_calls(view: View, numel: int) -> list[tuple[Any, ...]]:
    e = Emitter(LIMITS)
    out = read_view(e, e.input("x", "float32", (numel,)), view)
    assert out.shape == view.shape
    return [(c.op, c.out.shape) for c in e.calls]


def read(view: View, flat: np.ndarray) -> Any:
    """*view* of *flat* through the ops it lowers to, evaluated by NumPy."""
    e = Emitter(LIMITS, NumPyMovement({"x": flat}))
    return read_view(e, e.input("x", str(flat.dtype), (flat.size,)), view).js


@pytest.mark.parametrize(
    ("view", "numel", "calls"),
    [
        # the whole storage: one reshape
        (View((3, 4), (4, 1), 0), 12, [("reshape", (3, 4))]),
        # rows 1..2 (an offset): one slice
        (View((2, 4), (4, 1), 4), 12, [("slice", (8,)), ("reshape", (2, 4))]),
        # a size-1 dim takes any stride
        (View((1, 4), (99, 1), 4), 12, [("slice", (4,)), ("reshape", (1, 4))]),
        # a transpose: rows of the outer stride, then the permutation
        (View((4, 3), (1, 4), 0), 12, [("reshape", (3, 4)), ("transpose", (4, 3))]),
        # a[1:, ::-2] of a 3x4: padded to whole rows, stepped slice, reverse
        (
            View((2, 2), (4, -2), 7),
            12,
            [
                ("expand", (1,)),
                ("concat", (13,)),
                ("slice", (8,)),
                ("reshape", (2, 4)),
                ("slice", (2, 2)),
                ("reverse", (2, 2)),
            ],
        ),
        # stride 0 (a broadcast row): slice, then expand
        (View((2, 4), (0, 1), 0), 12, [("slice", (4,)), ("reshape", (1, 4)), ("expand", (2, 4))]),
        # every axis broadcast: one element, expanded
        (View((3,), (0,), 5), 12, [("slice", (1,)), ("expand", (3,))]),
        (View((2, 1, 3), (0, 7, 0), 0), 1, [("reshape", (1, 1, 1)), ("expand", (2, 1, 3))]),
        # overlapping windows do not nest: one gather
        (View((3, 2), (1, 1), 0), 4, [("gather", (6,)), ("reshape", (3, 2))]),
        # nothing to read
        (View((0, 3), (3, 1), 0), 12, []),
    ],
    ids=[
        "whole",
        "offset",
        "size-1",
        "transpose",
        "negative",
        "stride-0",
        "all-broadcast",
        "all-broadcast-one",
        "overlap",
        "size-0",
    ],
)
def test_view_becomes_these_calls(view, numel, calls):
    assert view_calls(view, numel) == calls
    flat = np.arange(numel, dtype=np.float32) + 1
    got = read(view, flat)
    if view.numel:
        np.testing.assert_array_equal(got, reference_view(view, flat))


def reference_view(view: View, flat: np.ndarray) -> np.ndarray:
    """The elements *view* sees, from its definition: offset + sum(index * stride)."""
    index = np.full(view.shape, view.offset, dtype=np.int64)
    for axis, stride in enumerate(view.strides):
        index = index + np.indices(view.shape)[axis] * stride
    return flat[index]


@st.composite
def strided_views(draw: Any) -> tuple[View, int]:
    rank = draw(st.integers(0, 6))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank)))
    strides = tuple(draw(st.lists(st.integers(-7, 7), min_size=rank, max_size=rank)))
    lo = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides, strict=True) if n)
    hi = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides, strict=True) if n)
    offset = -lo + draw(st.integers(0, 3))
    return View(shape, strides, offset), offset + hi + 1 + draw(st.integers(0, 3))


@settings(max_examples=300, deadline=None)
@given(strided_views(), st.sampled_from(["float32", "int32", "uint8"]))
def test_any_view_reads_its_elements(view_numel, dtype):
    """Any strided view (negative, zero and overlapping strides, offsets, size-0/1 dims, up to
    rank 6) lowers within the recorded limits to ops that read exactly its elements."""
    view, numel = view_numel
    flat = (np.arange(numel) % 251 + 1).astype(dtype)
    got = read(view, flat)
    if view.numel == 0:
        assert got is None
        return
    assert got.shape == view.shape
    np.testing.assert_array_equal(got, reference_view(view, flat))
    e = Emitter(LIMITS)  # the dry run makes the same calls
    read_view(e, e.input("x", dtype, (numel,)), view)
    assert [c.op for c in e.calls] == view_ops(view, flat)


def view_ops(view: View, flat: np.ndarray) -> list[str]:
    e = Emitter(LIMITS, NumPyMovement({"x": flat}))
    read_view(e, e.input("x", str(flat.dtype), (flat.size,)), view)
    return ops_of(e)


def test_emitter_values_know_their_size():
    assert Val(None, "float32", (2, 0)).numel == 0 and Val(None, "int32", ()).numel == 1


# --- acquiring a context: the device and detect() say the same ---------------------------------


class NotSupportedError(Exception):
    """Stands for the DOMException a browser without a WebNN backend raises."""


class _Context:
    """A stand-in MLContext: the current API's method names, less *missing*."""

    def __init__(self, missing: tuple[str, ...] = ()) -> None:
        for name in REQUIRED_METHODS:
            if name not in missing:
                setattr(self, name, lambda *args: None)


class _ML:
    def __init__(self, context: Any = None, error: Exception | None = None) -> None:
        self.context, self.error = context, error

    async def createContext(self, options: Any) -> Any:
        if self.error is not None:
            raise self.error
        return self.context


class _Navigator:
    def __init__(self, ml: Any = None) -> None:
        self.ml = ml


class FakePage(CPythonHost):
    """A page (or Node) as far as the host interface goes: the given JS globals only."""

    in_pyodide = True

    def __init__(self, kind: str = "browser", **js_globals: Any) -> None:
        self.kind = kind
        self.js_globals = js_globals

    def js_global(self, name: str) -> Any | None:
        return self.js_globals.get(name)


@pytest.mark.parametrize(
    ("page", "message"),
    [
        (FakePage(navigator=_Navigator()), "navigator.ml is missing: this browser does not expose"),
        (FakePage("node", navigator=_Navigator()), "Node.js has no WebNN (navigator.ml)"),
        (
            FakePage(navigator=_Navigator(_ML(_Context()))),
            "this browser has navigator.ml but no MLGraphBuilder",
        ),
        (
            FakePage(
                navigator=_Navigator(_ML(error=NotSupportedError("no backend"))),
                MLGraphBuilder=object,
            ),
            "navigator.ml.createContext() failed: NotSupportedError: no backend",
        ),
        (
            FakePage(
                navigator=_Navigator(_ML(_Context(missing=("dispatch",)))), MLGraphBuilder=object
            ),
            "this browser exposes an older WebNN API shape: MLContext has no dispatch",
        ),
    ],
    ids=["no-ml", "node", "no-builder", "create-fails", "old-shape"],
)
def test_device_and_probe_report_the_same_context_error(page, message):
    with _compat.use_host(page):
        with pytest.raises(WebNNError) as info:
            asyncio.run(WebNNDevice.create_async())
        report = asyncio.run(probe_async())
        with pytest.raises(WebNNError):
            asyncio.run(create_context())
    assert message in str(info.value)
    assert report == {"available": False, "error": str(info.value)}


# --- the package's shape ----------------------------------------------------------------------

# Each module imports only modules before it (the order the package docstring reads them in).
ORDER = [
    "emitter",
    "views",
    "ieee",
    "builders",
    "lowering",
    "stages",
    "context",
    "replay",
    "device",
    "probe",
    "__init__",
]


def test_modules_import_only_modules_above_them_and_only_at_the_top():
    assert sorted(ORDER) == sorted(p.stem for p in PACKAGE.glob("*.py"))
    for name in ORDER:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                nested = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
                assert not nested, f"{name}.{node.name} imports inside a function"
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps = [node.module] if node.module else [a.name for a in node.names]
                for dep in deps:
                    assert ORDER.index(dep) < ORDER.index(name), f"{name} imports {dep}"


# --- IEEE guards: the numbers, with the browser's own deviations modelled ---------------------


def evaluate(
    *outs: wa.Tensor, consts: tuple[wa.Tensor, ...] = (), ieee: bool = True, clamps: bool = True
) -> tuple[list[np.ndarray], Emitter]:
    """*outs* computed by the lowering's WebNN ops, each evaluated by NumPy
    (``webnn_numpy_builder``: gemm/conv2d clamp as the browser's do when *clamps*); *consts*
    are graph constants (captured weights), as ``compile_captured`` makes them."""
    dense = [apply("contiguous", t) for t in outs]
    program, in_nodes, out_nodes = ir.lower(
        ir.pending_nodes([d._node for d in dense]), {d._node.id for d in dense}
    )
    data = {
        f"i{s}": np.frombuffer(bytes(n.storage.handle), n.storage.dtype.numpy)
        for s, n in enumerate(in_nodes)
    }
    const_slots = {
        s: data[f"i{s}"] for s, n in enumerate(in_nodes) if n in [c._node for c in consts]
    }
    low, values = lower_program(program, LIMITS, NumPyBuilder(data, clamps), ieee, const_slots)
    got = [values[program.outputs.index(program.outputs[out_nodes.index(d._node)])] for d in dense]
    return [np.asarray(v.js).reshape(d.shape) for v, d in zip(got, dense, strict=True)], low.e


def f32(values: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    a = np.asarray(values, np.float32)
    return a if shape is None else a.reshape(shape)


def assert_ieee_equal(got: np.ndarray, want: np.ndarray, rtol: float = 1e-6) -> None:
    """NaN where the reference (rounded to float32) is NaN, infinities exactly, the rest close."""
    with np.errstate(all="ignore"):
        want = np.asarray(want).astype(np.float32)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6, equal_nan=True)


NAN, INF, FMAX = float("nan"), float("inf"), float(np.finfo(np.float32).max)
X_SPECIAL = f32([[NAN, 1], [INF, 1], [3e38, 3e38], [INF, -INF], [1, 2]])
W_OUT_IN = f32([[1, 1], [0.5, -0.5], [0, 1]])
BIAS = f32([0.0, -INF, 2.0])


def test_linear_with_weights_that_are_no_constants_is_a_matmul():
    """gemm clamps NaN/inf to 3.4e38 where its weight is no graph constant: matmul + add."""
    x, w, b = (wa.tensor(a) for a in (X_SPECIAL, W_OUT_IN, BIAS))
    with np.errstate(invalid="ignore"):
        want = X_SPECIAL.astype(np.float64) @ W_OUT_IN.T + BIAS
    (got,), e = evaluate(wa.linear(x, w, b))
    assert "gemm" not in ops_of(e) and {"transpose", "matmul", "add"} <= set(ops_of(e))
    assert_ieee_equal(got, want)
    # the linear pass's form, x @ W + b with W stored (in, out): the matmul reads W as stored
    (got,), e = evaluate(wa.linear(x, wa.tensor(np.ascontiguousarray(W_OUT_IN.T)).T, b))
    (mm,) = [c for c in e.calls if c.op == "matmul"]
    assert next(c.op for c in e.calls if c.out is mm.args[1]) == "reshape"
    assert_ieee_equal(got, want)
    # the plain op clamps: what the guard is for
    (plain,), e = evaluate(wa.linear(x, w, b), ieee=False)
    assert "gemm" in ops_of(e) and plain[0, 0] == FMAX and plain[3, 0] == FMAX


def test_linear_with_constant_weights_stays_a_gemm():
    """Captured weights are graph constants: gemm, which the browser computes unclamped."""
    x, w, b = (wa.tensor(a) for a in (X_SPECIAL, W_OUT_IN, BIAS))
    (got,), e = evaluate(wa.linear(x, w, b), consts=(w, b), clamps=False)
    (gemm,) = [c for c in e.calls if c.op == "gemm"]
    assert gemm.options["bTranspose"] is True and gemm.options["c"].source == "const"
    with np.errstate(invalid="ignore"):
        assert_ieee_equal(got, X_SPECIAL.astype(np.float64) @ W_OUT_IN.T + BIAS)
    # a constant weight with a bias that is no constant: matmul again
    (_,), e = evaluate(wa.linear(x, w, b), consts=(w,))
    assert "gemm" not in ops_of(e)


def test_conv2d_undoes_the_browsers_clamp_with_two_halves():
    img = f32([NAN, 1, 2, 3, INF, 3e38, -0.0, 5, 6, -INF, 1e30, 2, 3, 4, 5, -3e38], (1, 1, 4, 4))
    filt, bias = f32([2.0, -1.0], (2, 1, 1, 1)), f32([0.0, -INF])
    with np.errstate(invalid="ignore"):
        want = op_cases.r_conv(img.astype(np.float64), filt, bias)
    x, w, b = (wa.tensor(a) for a in (img, filt, bias))
    for consts in ((), (w, b)):
        (got,), e = evaluate(wa.conv2d(x, w, b), consts=consts)
        convs = [c for c in e.calls if c.op == "conv2d"]
        assert len(convs) == 2 and "notEqual" in ops_of(e)
        # a constant filter goes through an identity (XNNPACK's kernels read padding lanes)
        made = {id(c.out): c.op for c in e.calls}
        assert {made.get(id(c.args[1])) == "identity" for c in convs} == {bool(consts)}
        assert_ieee_equal(got, want)
    (plain,), e = evaluate(wa.conv2d(x, w, b), ieee=False)
    assert ops_of(e).count("conv2d") == 1 and plain[0, 0, 0, 0] == FMAX


def test_neg_and_relu_give_ieee_zero_signs():
    z = wa.tensor(f32([0.0, -0.0, NAN, INF, -2.0]))
    (neg, relu), _ = evaluate(-z, wa.relu(z))
    assert np.signbit(neg[:2]).tolist() == [True, False] and np.isnan(neg[2]) and neg[3] == -INF
    assert not np.signbit(relu[:2]).any() and np.isnan(relu[2]) and relu[3] == INF
    (plain_neg, plain_relu), _ = evaluate(-z, wa.relu(z), ieee=False)
    assert not np.signbit(plain_neg[0]) and np.signbit(plain_relu[1])  # the browser's answers
    i = wa.tensor(np.array([0, -(2**31), 5], np.int32))
    (got,), e = evaluate(-i)
    assert "neg" in ops_of(e) and "mul" not in ops_of(e) and got.tolist() == [0, -(2**31), -5]


def test_layer_norm_scales_rows_beyond_2_to_the_40():
    rows = f32([[1e36, 2e36, 3e36, -1e36], [3e38, 3e38, -3e38, 1], [1, 2, 3, 4], [INF, 1, 2, 3]])
    x = wa.tensor(rows)
    (got,), e = evaluate(wa.layer_norm(x, 4))
    ops = ops_of(e)
    assert ops.index("reduceMax") < ops.index("layerNormalization") and "div" in ops
    with np.errstate(invalid="ignore"):
        want = op_cases.r_layer_norm(rows.astype(np.float64), 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)
    (plain,), _ = evaluate(wa.layer_norm(x, 4), ieee=False)
    assert np.isnan(plain[:2]).all() and np.allclose(plain[2], got[2])
    # rank 6 (layerNormalization's most): the guard works on a (rows, row) view
    six = wa.tensor(np.arange(64, dtype=np.float32).reshape(1, 2, 2, 2, 2, 4) * 1e30)
    assert why(program_of(wa.layer_norm(six, (2, 4)))) is None


def test_gather_clamps_out_of_range_indices_before_webnn_sees_them():
    x = wa.tensor(f32([10, 20, 30]))
    i = wa.tensor(np.array([0, 5, -1, -7, -3, 2, 2**31 - 1, -(2**31)], np.int32))
    (got,), e = evaluate(wa.gather(x, i))  # NumPyBuilder's gather asserts every index is in range
    assert got.tolist() == [10, 30, 30, 10, 10, 30, 30, 10]
    assert {"min", "max"} <= set(ops_of(e))


def test_int32_division_never_reaches_the_browsers_traps():
    a = wa.tensor(np.array([-(2**31), -(2**31), 7, -7, 0], np.int32))
    b = wa.tensor(np.array([-1, 1, 0, 2, 0], np.int32))
    (got,), _ = evaluate(a / b)  # NumPyBuilder raises where the browser's tab would crash
    assert got.tolist() == [-(2**31), -(2**31), 0, -3, 0]
    (mean,), _ = evaluate(wa.tensor(np.array([[-7, 2], [5, 0]], np.int32)).mean(1))
    assert mean.tolist() == [-2, 2]


def test_an_int32_mean_is_exact_where_its_int32_sum_wraps():
    rows = np.array(
        [[2**31 - 1, 2**31 - 1, 2**31 - 3], [-(2**31), -(2**31), 5], [-7, 2, 0], [7, -8, 0]],
        np.int32,
    )
    (got,), _ = evaluate(wa.tensor(rows).mean(1))  # NumPyBuilder's reduceSum wraps as int32
    assert got.tolist() == np.trunc(rows.astype(np.float64).sum(1) / 3).astype(np.int64).tolist()


def test_means_and_average_pools_near_the_float32_max_do_not_overflow():
    rows = f32([[3e38, 3e38, 3e38], [-3e38, 1, 2]])
    (got,), e = evaluate(wa.tensor(rows).mean(1))
    assert [op for op in ops_of(e) if op != "reshape"][:3] == ["mul", "reduceMean", "mul"]
    assert_ieee_equal(got, rows.astype(np.float64).mean(1))
    (plain,), _ = evaluate(wa.tensor(rows).mean(1), ieee=False)
    assert plain[0] == INF  # the float32 sum overflowed
    e = dry(program_of(wa.avg_pool2d(wa.tensor(f32([3e38] * 9, (1, 1, 3, 3))), 3, 1, 1)))
    ops = [op for op in ops_of(e) if op != "reshape"]
    pool = ops.index("averagePool2d")
    assert ops[0] == "mul" and "mul" in ops[pool:]  # x / 16 first, the average * 16 after


def test_empty_inner_dimensions_give_the_bias():
    x, w = wa.tensor(f32([], (2, 0))), wa.tensor(f32([], (3, 0)))
    b = wa.tensor(f32([1.0, -0.0, INF]))
    (got, plain), e = evaluate(wa.linear(x, w, b), wa.linear(x, w))
    assert got.tolist() == [[1.0, 0.0, INF]] * 2 and not np.signbit(got).any()
    assert plain.tolist() == [[0.0] * 3] * 2
    assert all(v.numel for c in e.calls for v in c.args if isinstance(v, Val))
    img, filt = wa.tensor(f32([], (1, 0, 2, 2))), wa.tensor(f32([], (3, 0, 1, 1)))
    (conv,), _ = evaluate(wa.conv2d(img, filt, b))
    assert conv[0, :, 0, 0].tolist() == [1.0, 0.0, INF] and conv.shape == (1, 3, 2, 2)


def test_an_empty_operand_never_reaches_the_builder():
    e = Emitter(LIMITS)
    with pytest.raises(Unsupported, match=r"WebNN add: an empty operand of shape \(2, 0\)"):
        e.binary("add", Val(None, "float32", (2, 0)), e.scalar(1.0, "float32"))


# --- sizes and builder failures: clear errors, never a raw JS error ----------------------------


def test_sizes_beyond_the_context_are_refused_with_op_shape_dtype_and_limit():
    with pytest.raises(LimitError) as huge:
        dry(program_of(wa.zeros((2**29,)) + 1))
    assert isinstance(huge.value, ValueError)
    assert str(huge.value) == (
        "webnn cannot run step full() -> float32[rank 1] of shape (536870912,): WebNN expand: "
        "output: shape (536870912,) of float32 is 2147483648 bytes, over this WebNN context's "
        "maxTensorByteLength (2147483647 bytes)"
    )
    with pytest.raises(LimitError, match=r"dimension 1099511627776; WebNN dimensions are whole"):
        dry(program_of(wa.zeros((2**40,))))
    f32_ = as_dtype("float32")
    negative = Program((), (Step("full", (("value", 0.0),), (), (-1, 2), f32_),), (0,))
    with pytest.raises(LimitError, match=r"shape \(-1, 2\) of float32 has dimension -1"):
        dry(negative)
    dev = WebNNDevice(_Context(), RAW)
    with pytest.raises(LimitError, match="maxTensorByteLength"):  # before any createTensor
        dev.storage(2**31, f32_)
    # the device's support check gives the same error (a size is no capability to fall back on)
    with pytest.raises(LimitError):
        dev.supports(program_of(wa.zeros((2**29,)) + 1).steps[0])


def test_a_builder_call_the_browser_rejects_is_a_build_error_naming_the_op():
    class Rejecting(Recorder):
        def call(self, op: str, args: list[Any], options: dict[str, Any] | None) -> Any:
            if op == "softmax":
                raise RuntimeError("TypeError: Failed to execute 'softmax' on 'MLGraphBuilder'")
            return super().call(op, args, options)

    x = wa.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(BuildError) as err:
        lower_program(program_of(x.softmax(-1)), LIMITS, Rejecting())
    assert str(err.value).startswith(
        "webnn cannot run step softmax(float32[rank 2]) -> float32[rank 2] of shape (2, 3): "
        "WebNN softmax(float32[2, 3]) -> shape [2, 3] was rejected by the browser: TypeError"
    )


# --- bitcast views: stages -----------------------------------------------------------------------


def test_programs_with_bitcast_reads_split_into_stages():
    f32_, i32 = as_dtype("float32"), as_dtype("int32")
    y = wa.tensor(f32([1.0, -0.0, 3.0]))
    assert split(program_of(y * 2)) is None
    one = program_of(y.bitcast("int32") + 0)
    (stage,) = split(one)
    assert stage.sources[0] == ("input", 0, i32) and stage.program.inputs[0] == (3, i32)
    two = program_of(((y * 2).bitcast("int32") + 1).bitcast("float32") * 1)
    stages = split(two)
    assert len(stages) == 3
    ops = [[st.op for st in s.program.steps] for s in stages]
    assert "mul" in ops[0] and "add" in ops[1] and "mul" in ops[2]
    mul = next(i for i, st in enumerate(two.steps) if st.op == "mul")
    assert mul in stages[0].made and ("step", mul, i32) in stages[1].sources
    add = next(i for i, st in enumerate(two.steps) if st.op == "add")
    assert ("step", add, f32_) in stages[2].sources
    assert stages[2].made == two.outputs
    dev = WebNNDevice(_Context(), RAW)
    assert why(two) is not None  # one graph cannot bitcast
    assert dev.why_unsupported(two) is None  # the device runs it in stages


# --- the IEEE edge cases of the browser lane, against the recorded limits ------------------------


@pytest.mark.parametrize("case", IEEE_CASES, ids=[c.id for c in IEEE_CASES])
def test_ieee_case_lowers_within_the_recorded_limits(case):
    """Every case of ``browser/test_ieee_webnn.py`` lowers here (in stages where it bitcasts),
    and a build makes exactly the calls the dry run checked."""
    program = case_program(case)
    dev = WebNNDevice(_Context(), RAW)
    assert dev.why_unsupported(program) is None
    for part in [program] if split(program) is None else [s.program for s in split(program)]:
        emitter, _ = built(part)
        assert isinstance(emitter, Emitter), emitter
        assert [c.op for c in emitter.calls] == ops_of(dry(part))


def test_an_int32_operand_of_a_float16_op_is_rounded_to_float16_first():
    a = wa.tensor(np.array([65520, 1, -70000, 2049], np.int32))
    b = wa.tensor(np.array([-100, 1, 5, 0.5], np.float16))
    (got,), _ = evaluate(a + b)  # ops.py: 65520 is inf as a float16 operand, so is the sum
    assert got.dtype == np.float16
    assert got.tolist() == [INF, 2.0, -INF, 2048.0]
    (picked,), _ = evaluate(wa.where(wa.tensor(np.array(1, np.int32)), a, b))
    assert picked.tolist() == [INF, 1.0, -INF, 2048.0]


def test_a_scalar_half_power_is_sqrt_as_ops_defines_it():
    """x ** 0.5 is NumPy's sqrt (sqrt(-inf) = NaN, sqrt(-0.0) = -0.0), float16 included (its
    0.5 is cast on the way); a power of two arrays stays C's pow (pow(-inf, 0.5) = +inf)."""
    for dtype in (np.float32, np.float16):
        x = wa.tensor(np.array([-INF, -0.0, 4.0, -1.0, INF], dtype))
        (got,), e = evaluate(x**0.5)
        assert "sqrt" in ops_of(e) and "pow" not in ops_of(e)
        assert_ieee_equal(got, np.sqrt(np.array([-INF, -0.0, 4.0, -1.0, INF])))
        assert np.signbit(got[1])
    x = wa.tensor(f32([-INF, -0.0, 4.0]))
    (got,), e = evaluate(wa.pow(x, wa.tensor(f32([0.5, 0.5, 0.5]))))
    assert "pow" in ops_of(e) and got.tolist() == [INF, 0.0, 2.0]

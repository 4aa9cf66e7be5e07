"""``webaccel.verify``: a test backend with one deliberately broken kernel (registered like
``tests/test_backends.py`` registers one) is caught by the self-checking mode, bisected to the
op, reported with a reproducer that reproduces, moved off the backend with ``fix=True``; and
with the mode off, running programs never calls into it."""

from __future__ import annotations

import gc
import sys
import warnings
from typing import Any, ClassVar

import numpy as np
import pytest

import webaccel as wa
from webaccel import _compat, ops
from webaccel import device as device_mod
from webaccel._compat.cpython_host import CPythonHost
from webaccel._compat.host import close_unawaited
from webaccel.backends.cpu import CPUDevice
from webaccel.backends.cpu.impls import IMPLS
from webaccel.device import Backend, Implementation
from webaccel.engine import hooks, passes, placement
from webaccel.engine import verify as verify_mod
from webaccel.engine.verify import compare

F32_ULP = 2.0**-23


def sqrt_16_ulp_high(step: Any, args: list[Any]) -> Any:
    """sqrt, 16 float32 ulp too large (ELEMENTWISE allows about 8)."""
    return (IMPLS["sqrt"](step, args) * np.float32(1 + 16 * F32_ULP)).astype(np.float32)


def sqrt_4_f16_ulp_high(step: Any, args: list[Any]) -> Any:
    """sqrt, 4 float16 ulp too large (F16 allows about 1)."""
    return IMPLS["sqrt"](step, args) * np.float32(1 + 4 * 2.0**-10)


def maximum_dropping_nan(step: Any, args: list[Any]) -> Any:
    """maximum that returns the other operand where one is NaN (fmax: a common GPU max)."""
    return np.fmax(args[0], args[1])


def neg_as_zero_minus(step: Any, args: list[Any]) -> Any:
    """-x as 0 - x: -(+0.0) gives +0.0 (the WebNN bug the issue lists)."""
    return np.float32(0.0) - args[0]


def neg_flushing_subnormals(step: Any, args: list[Any]) -> Any:
    """-x with subnormal results flushed to +0.0, as WGSL allows a GPU to."""
    out = -args[0]
    return np.where(np.abs(out) < np.finfo(np.float32).tiny, np.float32(0), out)


def log_flushing_subnormal_inputs(step: Any, args: list[Any]) -> Any:
    """log reading subnormal inputs as zero of their sign, as WGSL allows a GPU to."""
    x = args[0]
    return np.log(np.where(np.abs(x) < np.finfo(np.float32).tiny, np.copysign(0, x), x))


def layer_norm_other_rounding(step: Any, args: list[Any]) -> Any:
    """layer_norm whose mean comes out one ulp off, as another reduction order gives."""
    x, axes = args[0], tuple(step.attr("axes"))
    mean = x.mean(axes, keepdims=True, dtype=np.float32) * np.float32(1 + F32_ULP)
    d = x - mean
    return d / np.sqrt((d * d).mean(axes, keepdims=True, dtype=np.float32) + step.attr("eps"))


def layer_norm_one_pass(step: Any, args: list[Any]) -> Any:
    """layer_norm with var = E[x^2] - E[x]^2: cancels catastrophically when |mean| >> spread."""
    x, axes = args[0], tuple(step.attr("axes"))
    mean = x.mean(axes, keepdims=True, dtype=np.float32)
    var = np.maximum((x * x).mean(axes, keepdims=True, dtype=np.float32) - mean * mean, 0)
    return (x - mean) / np.sqrt(var + step.attr("eps"))


def exp_5e6_high(step: Any, args: list[Any]) -> Any:
    """exp 5e-6 relative too large: inside TRANSCENDENTAL's 1e-5, outside ELEMENTWISE's 1e-6."""
    return (IMPLS["exp"](step, args) * np.float32(1 + 5e-6)).astype(np.float32)


def softmax_1e4_high(step: Any, args: list[Any]) -> Any:
    return (IMPLS["softmax"](step, args) * np.float32(1 + 1e-4)).astype(np.float32)


@pytest.fixture(autouse=True)
def verify_off_after():
    yield
    wa.verify(False)
    placement.allow()
    verify_mod._rerouted.clear()
    verify_mod._install()
    wa.verify_report(reset=True)
    wa.set_default_device("cpu")


@pytest.fixture
def broken():
    """``broken(op=kernel, ...)``: a running backend "broken": the cpu kernels with these
    replaced."""
    made = []

    def make(**kernels: Any) -> CPUDevice:
        class Broken(CPUDevice):
            name = "broken"
            ops: ClassVar = {**CPUDevice.ops, **kernels}

        async def probe() -> dict:
            return {"available": True, "error": None}

        async def create() -> Broken:
            return Broken()

        impl = Implementation(Broken, Broken, create)
        device_mod.register_backend(Backend("broken", -1, "NumPy", probe, lambda: impl))
        made.append(Broken)
        return wa.get_device("broken")

    yield make
    device_mod._BACKENDS.pop("broken", None)
    device_mod.forget_device("broken")


def chain(x: wa.Tensor) -> wa.Tensor:
    return wa.sqrt(x * 2.0) + 1.0


X = np.linspace(100, 200, 12, dtype=np.float32).reshape(3, 4)


def reference_chain(x: np.ndarray) -> np.ndarray:
    return np.sqrt(x * np.float32(2)) + np.float32(1)


# --- the tolerance table ----------------------------------------------------------------------


def test_every_op_has_a_tolerance_class():
    for name, op in ops.OPS.items():
        assert op.tolerance in ops.TOLERANCES, name
    f32, f16, i32 = wa.float32, wa.float16, wa.int32
    assert ops.tolerance("sqrt", {}, [(3,)], [f32], f32) == ops.ELEMENTWISE
    assert ops.tolerance("exp", {}, [(3,)], [f32], f32) == ops.TRANSCENDENTAL
    assert ops.tolerance("exp", {}, [(3,)], [f16], f16) == ops.F16
    assert ops.tolerance("add", {}, [(3,), (3,)], [i32, i32], i32) == ops.EXACT
    assert ops.tolerance("matmul", {}, [(2, 9), (9, 4)], [f32, f32], f32) == ops.acc(9)
    assert ops.tolerance("conv", {}, [(1, 3, 5, 5), (4, 3, 3, 3), ()], [f32] * 3, f32) == ops.acc(
        27
    )
    assert ops.tolerance("sum", {"axes": (0, 1)}, [(4, 8)], [f32], f32) == ops.acc(32)
    assert ops.tolerance("matmul", {}, [(2, 9), (9, 4)], [f16, f16], f16) == ops.f16_acc(9)
    assert ops.tolerance("layer_norm", {"axes": (1,)}, [(2, 4), (), ()], [f32] * 3, f32) == (
        ops.NORM
    )


# --- off: one check, never a call ----------------------------------------------------------------


def test_off_by_default_and_off_never_calls_into_verify(broken):
    dev = broken(sqrt=sqrt_16_ulp_high)
    assert hooks.after_run is None
    before = verify_mod.calls[0]
    x = wa.tensor(X, device=dev)
    for _ in range(3):
        chain(x).numpy()
    captured = wa.capture(chain)
    captured(x).numpy()
    captured(x).numpy()
    assert verify_mod.calls[0] == before  # realize and capture ran 5 programs, no calls
    assert wa.verify_report().programs_checked == 0

    wa.verify(True)
    assert hooks.after_run is not None
    with pytest.warns(wa.VerificationWarning):
        chain(x).numpy()
    assert verify_mod.calls[0] == before + 1  # the counter does count calls
    wa.verify(False)
    assert hooks.after_run is None
    chain(x * 3.0).numpy()
    assert verify_mod.calls[0] == before + 1


# --- finding, bisecting, reporting, reproducing ----------------------------------------------


def test_a_wrong_op_is_bisected_reported_and_reproduced(broken):
    dev = broken(sqrt=sqrt_16_ulp_high)
    report = wa.verify(True)
    x = wa.tensor(X, device=dev)
    with pytest.warns(wa.VerificationWarning, match=r"sqrt\(float32 \(3, 4\)\) on broken"):
        got = chain(x).numpy()
    # not fixed: the device's own result comes back
    assert not np.allclose(got, reference_chain(X), rtol=1e-6, atol=0)
    assert report.programs == {"broken": 1}
    (d,) = report.disagreements
    assert (d.backend, d.op, d.kind, d.fixed) == ("broken", "sqrt", "op", False)
    assert d.program_ops == ("full", "mul", "sqrt", "full", "add")
    assert d.mismatch.rule == "tolerance" and d.mismatch.count == 12
    assert d.mismatch.tolerance == ops.ELEMENTWISE
    (arg,) = d.inputs
    assert (arg.view.shape, arg.view_dtype, arg.count) == ((3, 4), "float32", 12)
    np.testing.assert_array_equal(np.frombuffer(arg.data, np.float32), X.reshape(-1) * 2)
    assert not report.drifts
    text = str(report)
    assert "1 program(s) checked (1 on broken)" in text and "cpu reference" in text
    assert "1 disagreement(s)" in text and "sqrt(float32 (3, 4)) on broken" in text
    assert report.as_dict()["programs_checked"] == 1 and report.total_ms > 0

    wa.verify(False)
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        exec(compile(d.reproducer(), "reproducer", "exec"), {})


def test_the_reproducer_stops_failing_once_the_kernel_is_right(broken, tmp_path):
    dev = broken(maximum=maximum_dropping_nan)
    wa.verify(True)
    a = wa.tensor(np.array([1.0, np.nan, 3.0, -np.inf, np.nan], np.float32), device=dev)
    b = wa.tensor(np.array([2.0, 5.0, np.nan, 0.0, np.nan], np.float32), device=dev)
    with pytest.warns(wa.VerificationWarning, match="NaN"):
        wa.maximum(a[::2], b[1:4]).numpy()  # strided and offset views
    (d,) = wa.verify_report().disagreements
    assert d.op == "maximum" and d.mismatch.rule == "NaN" and d.mismatch.tolerance == ops.EXACT
    assert [i.view.strides for i in d.inputs] == [(2,), (1,)]
    path = d.save(tmp_path / "repro.py")
    source = path.read_text()
    assert "'maximum'" in source and "View((3,), (2,), 0)" in source
    wa.verify(False)
    with pytest.raises(AssertionError, match=r"nan location mismatch|x and y nan"):
        exec(compile(source, str(path), "exec"), {})
    type(dev).ops = {**type(dev).ops, "maximum": IMPLS["maximum"]}  # the kernel fixed
    exec(compile(source, str(path), "exec"), {})  # agrees now: no AssertionError


def test_a_lost_zero_sign_is_a_disagreement(broken):
    dev = broken(neg=neg_as_zero_minus)
    wa.verify(True)
    x = wa.tensor(np.array([0.0, 1.5, -2.0], np.float32), device=dev)
    with pytest.warns(wa.VerificationWarning, match="sign of zero"):
        (-x).numpy()
    (d,) = wa.verify_report().disagreements
    assert d.op == "neg" and d.mismatch.index == (0,)
    wa.verify(False)
    with pytest.raises(AssertionError):
        exec(compile(d.reproducer(), "reproducer", "exec"), {})


def test_flushed_subnormals_are_not_disagreements(broken):
    dev = broken(neg=neg_flushing_subnormals)
    report = wa.verify(True, strict=True)
    tiny = np.finfo(np.float32).tiny
    x = wa.tensor(np.array([tiny / 4, -tiny / 8, 1.0, tiny], np.float32), device=dev)
    np.testing.assert_array_equal((-x).numpy(), [0.0, 0.0, -1.0, -tiny])
    assert report.programs_checked == 1 and not report.disagreements


def test_flushed_subnormal_inputs_are_not_disagreements(broken):
    """log(subnormal) is about -100 on cpu and -inf where the input was flushed: allowed."""
    dev = broken(log=log_flushing_subnormal_inputs)
    report = wa.verify(True, strict=True)
    tiny = np.finfo(np.float32).tiny
    x = wa.tensor(np.array([tiny / 1024, 2.0, 0.5], np.float32), device=dev)
    assert wa.log(x).numpy()[0] == -np.inf
    assert report.programs_checked == 1 and not report.disagreements and not report.drifts
    assert "log read subnormal inputs" in report.notes[0]


@pytest.mark.parametrize(
    ("kernel", "flagged"),
    [(layer_norm_other_rounding, False), (layer_norm_one_pass, True)],
    ids=["mean-one-ulp-off", "one-pass-variance"],
)
def test_layer_norm_of_offset_values_is_held_to_its_conditioning(broken, kernel, flagged):
    """Values ~1000 with spread ~1: a mean one ulp off moves the result ~1e-4 (NORM's 1e-5 is
    for well-conditioned rows, the op tests allow 2e-4 here), a one-pass variance ~0.07."""
    dev = broken(layer_norm=kernel)
    report = wa.verify(True)
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32) + 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wa.VerificationWarning)
        wa.layer_norm(wa.tensor(x, device=dev), 64).numpy()
    assert [d.op for d in report.disagreements] == (["layer_norm"] if flagged else [])
    if flagged:
        (d,) = report.disagreements
        assert 1e-3 < d.mismatch.tolerance.atol < 2e-3 and d.mismatch.max_error > 0.05


def test_each_program_is_checked_once_per_device(broken):
    dev = broken(sqrt=sqrt_16_ulp_high)
    report = wa.verify(True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            chain(wa.tensor(X, device=dev)).numpy()
    assert report.programs == {"broken": 1} and len(report.disagreements) == 1
    assert len([w for w in caught if w.category is wa.VerificationWarning]) == 1
    device_mod.forget_device("broken")  # a new device (as after a loss) checks again
    with pytest.warns(wa.VerificationWarning):
        chain(wa.tensor(X, device="broken")).numpy()
    assert report.programs == {"broken": 2}


def test_forget_checked_checks_again(broken):
    """What ``webaccel bench verify`` uses to time more than one first check: after
    ``forget_checked`` the same program is checked (and its inputs read back) again."""
    dev = broken(sqrt=sqrt_16_ulp_high)
    report = wa.verify(True)
    with pytest.warns(wa.VerificationWarning):
        chain(wa.tensor(X, device=dev)).numpy()
    chain(wa.tensor(X, device=dev)).numpy()  # checked already: no warning, no check
    assert report.programs == {"broken": 1}
    buffers = report.buffers_read
    verify_mod.forget_checked()
    with pytest.warns(wa.VerificationWarning):
        chain(wa.tensor(X, device=dev)).numpy()
    assert report.programs == {"broken": 2} and len(report.disagreements) == 2
    assert report.buffers_read == 2 * buffers  # the input is read back again too


def test_strict_raises_and_leaks_nothing(broken):
    dev = broken(sqrt=sqrt_16_ulp_high)
    wa.verify(True, strict=True)
    x = wa.tensor(X, device=dev)
    live = dev.live_storages
    y = chain(x)
    with pytest.raises(wa.VerificationError, match=r"1 disagreement\(s\)") as err:
        y.numpy()
    assert [d.op for d in err.value.disagreements] == ["sqrt"]
    assert isinstance(err.value, wa.WebAccelError)
    del y
    gc.collect()
    assert dev.live_storages == live


def test_drift_is_recorded_not_raised(broken):
    """exp is within its own tolerance alone; the sub after it is held to ELEMENTWISE, which
    exp's error exceeds: no op is wrong, the chain drifted."""
    dev = broken(exp=exp_5e6_high)
    report = wa.verify(True, strict=True)
    x = wa.tensor(np.linspace(1, 3, 8, dtype=np.float32), device=dev)
    (wa.exp(x) - 1.0).numpy()  # no VerificationError
    assert not report.disagreements
    (drift,) = report.drifts
    assert drift.program_ops[-1] == "sub" and drift.mismatch.tolerance == ops.ELEMENTWISE
    assert "drift(s)" in str(report)


def written_softmax(x: wa.Tensor) -> wa.Tensor:
    e = wa.exp(x - x.max(-1, keepdims=True))  # no live tensor may hold a step the passes rewrite
    return e / e.sum(-1, keepdims=True)


def test_an_op_the_graph_passes_made_is_checked_too(broken):
    """A softmax written out from primitives: the passes make it one softmax step, whose
    (broken) kernel is what disagrees; each written primitive is right."""
    dev = broken(softmax=softmax_1e4_high)
    wa.verify(True)
    x = wa.tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4), device=dev)
    with pytest.warns(wa.VerificationWarning, match="made by the graph passes"):
        written_softmax(x).numpy()
    (d,) = wa.verify_report().disagreements
    assert (d.op, d.kind, d.rewritten) == ("softmax", "op", True)
    assert d.program_ops == ("max", "sub", "exp", "sum", "div")
    wa.verify(False)
    with pytest.raises(AssertionError):
        exec(compile(d.reproducer(), "reproducer", "exec"), {})


def exp_as_sigmoid(g: Any, i: int) -> bool:
    """A wrong graph pass: rewrites an exp that another step reads (like the real passes, it
    never touches a program's output) into sigmoid: same shape and dtype, other values."""
    step = g.steps[i]
    if step is None or step.op != "exp" or i in g.outputs:
        return False
    g.steps[i] = step._replace(op="sigmoid")
    return True


def test_a_rewrite_that_changes_results_is_found(broken, monkeypatch):
    """Every kernel is right, but a graph pass changes what the program computes: the reference
    itself gives other results for the rewritten program."""
    dev = broken()  # the cpu kernels: nothing wrong on the device
    monkeypatch.setattr(passes, "PASSES", (*passes.PASSES, ("exp-as-sigmoid", exp_as_sigmoid)))
    wa.verify(True)
    x = wa.tensor(np.linspace(-2, 2, 6, dtype=np.float32), device=dev)
    with pytest.warns(wa.VerificationWarning, match="gives other results than the program as"):
        (wa.exp(x) * 2.0).numpy()
    (d,) = wa.verify_report().disagreements
    assert (d.kind, d.op, d.program_ops) == ("rewrite", "mul", ("exp", "full", "mul"))
    wa.verify(False)
    with pytest.raises(AssertionError):
        exec(compile(d.reproducer(), "reproducer", "exec"), {})
    monkeypatch.setattr(passes, "PASSES", passes.PASSES[:-1])  # the pass fixed
    dev.cache.compiled.clear()  # (programs compiled with it stay cached in this process)
    exec(compile(d.reproducer(), "reproducer", "exec"), {})  # no AssertionError now


def test_cpu_programs_are_checked_where_the_passes_rewrote_them(monkeypatch):
    report = wa.verify(True)
    before = verify_mod.calls[0]
    chain(wa.tensor(X)).numpy()  # nothing to rewrite: the cpu ran the reference itself
    assert verify_mod.calls[0] == before + 1 and report.programs_checked == 0
    x = wa.tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4))
    written_softmax(x).numpy()  # made one softmax step: checked against the written primitives
    assert report.programs == {"cpu": 1} and not report.disagreements
    monkeypatch.setattr(passes, "PASSES", (*passes.PASSES, ("exp-as-sigmoid", exp_as_sigmoid)))
    with pytest.warns(wa.VerificationWarning, match="gives other results"):
        (wa.exp(x) * 2.0).numpy()
    assert report.disagreements[0].kind == "rewrite" and report.programs == {"cpu": 2}


# --- fix mode ------------------------------------------------------------------------------------


def test_fix_moves_the_op_off_the_backend(broken):
    dev = broken(sqrt=sqrt_16_ulp_high)
    report = wa.verify(True, fix=True)
    x = wa.tensor(X, device=dev)
    with pytest.warns(wa.VerificationWarning, match="denied on broken from now on"):
        got = chain(x).numpy()
    np.testing.assert_array_equal(got, reference_chain(X))  # this run: the reference's
    assert placement.denied("sqrt", "broken") and report.disagreements[0].fixed
    y = chain(x * 1.0)
    assert "sqrt is denied on broken -> cpu" in wa.explain(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", wa.VerificationWarning)
        np.testing.assert_array_equal(y.numpy(), reference_chain(X))
    assert y.device is dev
    assert len(report.disagreements) == 1  # the new partitions agree


def test_fix_reroutes_a_captured_program(broken):
    dev = broken(sqrt=sqrt_16_ulp_high)
    wa.verify(True, fix=True)
    captured = wa.capture(chain)
    x = wa.tensor(X, device=dev)
    with pytest.warns(wa.VerificationWarning, match="captured program"):
        first = captured(x)
    assert first.device is dev
    np.testing.assert_array_equal(first.numpy(), reference_chain(X))
    wa.verify(False)  # the fix stays: replays go through placement while sqrt is denied
    np.testing.assert_array_equal(captured(x).numpy(), reference_chain(X))
    placement.allow()  # undone: the traced program runs on the device again
    assert not np.array_equal(captured(x).numpy(), reference_chain(X))
    assert hooks.after_run is None  # nothing left to reroute


def test_fix_of_an_op_the_passes_made_stops_that_rewrite(broken):
    dev = broken(softmax=softmax_1e4_high)
    report = wa.verify(True, fix=True)
    x = wa.tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4), device=dev)
    with pytest.warns(wa.VerificationWarning, match="denied on broken"):
        written_softmax(x).numpy()
    assert placement.denied("softmax", "broken")
    y = written_softmax(x * 1.0)
    assert "partition 1" not in wa.explain(y)  # the primitives stay on the device
    with warnings.catch_warnings():
        warnings.simplefilter("error", wa.VerificationWarning)
        got = y.numpy()
    e = np.exp(
        np.linspace(-2, 2, 12).reshape(3, 4) - np.linspace(-2, 2, 12).reshape(3, 4).max(1)[:, None]
    )
    np.testing.assert_allclose(got, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    assert len(report.disagreements) == 1


def test_verifying_checks_only_inside_the_block(broken):
    dev = broken(sqrt=sqrt_16_ulp_high)
    x = wa.tensor(X, device=dev)
    with pytest.warns(wa.VerificationWarning), wa.verifying() as block:
        chain(x).numpy()
    assert block.programs == {"broken": 1} and len(block.disagreements) == 1
    assert hooks.after_run is None
    (x * 5.0).numpy()
    assert block.programs == {"broken": 1}
    assert wa.verify_report().programs == {"broken": 1}  # the global report counts it too


class PageWithoutJSPI(CPythonHost):
    """A page as far as reading back asks: Pyodide, and no JSPI to wait with."""

    kind = "browser"
    in_pyodide = True

    def can_run_sync(self) -> bool:
        return False

    def run_sync(self, awaitable: Any) -> Any:
        close_unawaited(awaitable)
        raise wa.SyncUnavailableError("this synchronous call has to wait for the browser")


def test_without_jspi_verify_says_so_once_and_the_run_goes_on(broken):
    dev = broken(sqrt=sqrt_16_ulp_high)
    report = wa.verify(True)
    x, one = wa.tensor(X, device=dev), wa.tensor(np.ones(4, np.float32), device=dev)
    with _compat.use_host(PageWithoutJSPI()):
        with pytest.warns(wa.VerificationWarning, match="needs JSPI"):
            first = wa.sqrt(x) + one  # two inputs: read together, which waits on the browser
            first.realize()
        with warnings.catch_warnings():
            warnings.simplefilter("error", wa.VerificationWarning)  # once is enough
            (wa.sqrt(x) + one).realize()
    assert report.programs_checked == 0 and len(report.notes) == 1
    with pytest.warns(wa.VerificationWarning, match=r"sqrt\(float32"):  # JSPI back: checked
        (wa.sqrt(x) + one).numpy()
    assert report.programs_checked == 1
    np.testing.assert_array_equal(first.numpy(), (wa.sqrt(x) + one).numpy())


def test_verify_without_numpy_says_where_numpy_is(monkeypatch):
    monkeypatch.setattr(compare, "np", None)
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` now raises ImportError
    with pytest.raises(ImportError, match="needs NumPy") as err:
        wa.verify(True)
    assert "loadPackage('numpy')" in str(err.value) and "Pyodide 314" in str(err.value)
    assert hooks.after_run is None


def test_the_reproducer_keeps_views_of_intermediates_and_float16(broken):
    """The broken op reads a strided, offset view of another step's float16 result: the
    reproducer rebuilds that storage and view, and still reproduces."""
    dev = broken(sqrt=sqrt_4_f16_ulp_high)
    wa.verify(True)
    x = wa.tensor(np.linspace(100, 200, 24, dtype=np.float16).reshape(4, 6), device=dev)
    with pytest.warns(wa.VerificationWarning):
        wa.sqrt((x * 4.0).T[1:, ::2]).numpy()
    (d,) = wa.verify_report().disagreements
    (arg,) = d.inputs
    assert arg.view_dtype == "float16" and arg.view.shape == (5, 2) and d.program_ops[-1] == "sqrt"
    assert arg.view.strides == (1, 12) and arg.count < 24  # cut to the span the view reads
    assert d.mismatch.tolerance == ops.F16
    wa.verify(False)
    with pytest.raises(AssertionError):
        exec(compile(d.reproducer(), "reproducer", "exec"), {})

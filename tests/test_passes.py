"""Graph-level passes (``webaccel.engine.passes``): patterns written from primitives become one op.

Each pattern is built with the public API, lowered to its ``Program``, rewritten, and run on the
cpu device both ways: the rewritten program has fewer steps (and the expected op), the same
inputs and outputs, and the same numbers as the unfused program within float32 tolerance, and
both match a float64 NumPy reference. Patterns with a held intermediate, a wrong axis or a wrong
constant are left alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import webaccel as wa
from webaccel import ir
from webaccel.engine import passes

CPU = wa.get_device("cpu")
RNG = np.random.default_rng(7)
erf64 = np.vectorize(math.erf)


def data(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def lowered(*tensors: wa.Tensor) -> tuple[ir.Program, list[ir.Node]]:
    nodes = ir.pending_nodes([t._node for t in tensors])
    program, input_nodes, _ = ir.lower(nodes, {t._node.id for t in tensors})
    return program, input_nodes


def run(program: ir.Program, input_nodes: list[ir.Node]) -> list[np.ndarray]:
    storages = CPU.run(CPU.compile(program), [n.storage for n in input_nodes])
    out = []
    for index, s in zip(program.outputs, storages, strict=True):
        step = program.steps[index]
        out.append(np.frombuffer(s.handle, step.dtype.numpy).reshape(step.shape).copy())
        s.release()
    return out


def ops_of(program: ir.Program) -> list[str]:
    return [s.op for s in program.steps]


def check_fused(
    y: wa.Tensor, want_op: str, ref: np.ndarray, *, rtol: float = 2e-5, atol: float = 2e-6
) -> ir.Program:
    """*y*'s program rewrites to fewer steps including *want_op*; same numbers both ways."""
    program, input_nodes = lowered(y)
    fused = passes.optimize(program, CPU)
    assert len(fused.steps) < len(program.steps), ops_of(fused)
    assert want_op in ops_of(fused), ops_of(fused)
    assert fused.inputs == program.inputs
    assert [(fused.steps[i].shape, fused.steps[i].dtype) for i in fused.outputs] == [
        (program.steps[i].shape, program.steps[i].dtype) for i in program.outputs
    ]
    (plain,) = run(program, input_nodes)
    (got,) = run(fused, input_nodes)
    np.testing.assert_allclose(got, plain, rtol=rtol, atol=atol)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(y.numpy(), ref, rtol=rtol, atol=atol)  # through realize
    return fused


def check_unchanged(*tensors: wa.Tensor) -> None:
    program, _ = lowered(*tensors)
    assert passes.optimize(program, CPU) is program, ops_of(passes.optimize(program, CPU))


@pytest.fixture
def allow_all() -> Iterator[None]:
    wa.allow()
    yield
    wa.allow()


# --- softmax ------------------------------------------------------------------------------------


def softmax_ref(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_from_primitives(axis: int) -> None:
    a = data(3, 4, 5, scale=3)
    x = wa.tensor(a)
    e = (x - x.max(axis, keepdims=True)).exp()
    y = e / e.sum(axis, keepdims=True)
    del e  # a live tensor would keep it as an output (see test_softmax_negatives)
    fused = check_fused(y, "softmax", softmax_ref(a, axis))
    assert ops_of(fused) == ["softmax"]
    assert fused.steps[0].attr("axis") == axis % 3


def test_softmax_with_broadcast_reductions() -> None:
    a = data(6, 5)
    x = wa.tensor(a)
    e = wa.exp(x - x.max(0))  # keepdims=False over the leading axis broadcasts the same
    y = e / e.sum(0)
    del e
    check_fused(y, "softmax", softmax_ref(a, 0))


def test_softmax_negatives() -> None:
    x = wa.tensor(data(4, 5))
    e = (x - x.max(0, keepdims=True)).exp()
    check_unchanged(e / e.sum(1, keepdims=True))  # max and sum over different axes
    e = (x - x.max(-1, keepdims=True)).exp()
    check_unchanged(e / e.sum((0, 1), keepdims=True))  # sum over two axes
    y = e / e.sum(-1, keepdims=True)
    check_unchanged(y)  # e is held by a live tensor: it must come back
    del e
    check_fused(y, "softmax", softmax_ref(np.asarray(x), -1))


# --- layer_norm ---------------------------------------------------------------------------------


def ln_ref(x: np.ndarray, axes: tuple[int, ...], w=None, b=None, eps=1e-5) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.mean(axes, keepdims=True)
    y = (x - m) / np.sqrt(((x - m) ** 2).mean(axes, keepdims=True) + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


LN_FORMS: dict[str, Callable[..., wa.Tensor]] = {
    "weight-bias": lambda x, w, b: (
        (x - x.mean(-1, keepdims=True))
        / (((x - x.mean(-1, keepdims=True)) ** 2).mean(-1, keepdims=True) + 1e-5).sqrt()
        * w
        + b
    ),
    "rsqrt-shared-difference": lambda x, w, b: (
        (x - x.mean(-1, keepdims=True))
        * wa.rsqrt(
            ((x - x.mean(-1, keepdims=True)) * (x - x.mean(-1, keepdims=True))).mean(
                -1, keepdims=True
            )
            + 1e-5
        )
    ),
    "two-axes-weight-first": lambda x, w, b: (
        b
        + w
        * (
            (x - x.mean((1, 2), keepdims=True))
            / (((x - x.mean((1, 2), keepdims=True)) ** 2).mean((1, 2), keepdims=True) + 1e-5).sqrt()
        )
    ),
}


@pytest.mark.parametrize("form", list(LN_FORMS))
def test_layer_norm_from_primitives_stays_written_out(form: str) -> None:
    """The layer_norm op normalizes without overflow for every finite input; the written float32
    expression squares x - mean, which overflows beyond ~1.8e19 (variance inf, result 0). A
    rewrite would change those results, so the primitives stay (engine/passes/normalization)."""
    n = 2 if form.startswith("two") else 1
    a, w, b = data(2, 3, 8, scale=3), data(*(3, 8)[-n:]), data(*(3, 8)[-n:])
    y = LN_FORMS[form](wa.tensor(a), wa.tensor(w), wa.tensor(b))
    check_unchanged(y)
    affine = form != "rsqrt-shared-difference"
    ref = ln_ref(a, tuple(range(3 - n, 3)), w if affine else None, b if affine else None)
    np.testing.assert_allclose(y.numpy(), ref, rtol=2e-5, atol=2e-5)


def test_layer_norm_written_out_overflows_where_the_op_does_not() -> None:
    """Why the rewrite is off: at |x - mean| ~ 1e20 the written expression gives 0 (its variance
    overflows to inf), the op gives the float64 normalization."""
    a = (np.array([[1.0, -2.0, 3.0, 0.5]]) * 1e20).astype(np.float32)
    x = wa.tensor(a)
    written = LN_FORMS["rsqrt-shared-difference"](x, None, None)
    assert np.all(written.numpy() == 0)
    np.testing.assert_allclose(wa.layer_norm(x, 4).numpy(), ln_ref(a, (1,)), rtol=1e-5)


# --- gelu ---------------------------------------------------------------------------------------


def gelu_ref(x: np.ndarray, tanh: bool = False) -> np.ndarray:
    x = x.astype(np.float64)
    if tanh:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + erf64(x / math.sqrt(2)))


GELU_FORMS: dict[str, tuple[Callable[[wa.Tensor], wa.Tensor], bool]] = {
    "erf": (lambda x: 0.5 * x * (1 + wa.erf(x / math.sqrt(2))), False),
    "erf-mul": (lambda x: x * 0.5 * (wa.erf(x * (1 / math.sqrt(2))) + 1.0), False),
    "erf-half-inside": (lambda x: x * ((1 + wa.erf(x / math.sqrt(2))) * 0.5), False),
    "tanh": (
        lambda x: 0.5 * x * (1 + wa.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        True,
    ),
    "tanh-products": (
        lambda x: x * 0.5 * (1 + wa.tanh((x + x * x * x * 0.044715) * math.sqrt(2 / math.pi))),
        True,
    ),
    "tanh-half-inside": (
        lambda x: x * (0.5 * (1 + wa.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
        True,
    ),
}
# Forms that multiply x by (1 + erf) before halving: they overflow to inf for x > 1.7e38, where
# gelu does not, so they stay written out (engine/passes/activations.py).
GELU_KEPT: dict[str, Callable[[wa.Tensor], wa.Tensor]] = {
    "erf-div2": lambda x: x * (1 + wa.erf(x / math.sqrt(2))) / 2,
    "erf-half-outside": lambda x: 0.5 * (x * (1 + wa.erf(x / math.sqrt(2)))),
    "tanh-half-last": lambda x: (
        x * (1 + wa.tanh((x + x * x * x * 0.044715) * math.sqrt(2 / math.pi))) * 0.5
    ),
    "erf-doubled": lambda x: x * 2.0 * (1 + wa.erf(x / math.sqrt(2))) * 0.25,
}


@pytest.mark.parametrize("form", list(GELU_FORMS))
def test_gelu_from_primitives(form: str) -> None:
    fn, tanh = GELU_FORMS[form]
    a = data(4, 7, scale=3)
    fused = check_fused(fn(wa.tensor(a)), "gelu", gelu_ref(a, tanh))
    assert ops_of(fused) == ["gelu"]
    assert fused.steps[0].attr("approximate") == ("tanh" if tanh else "none")


@pytest.mark.parametrize("form", list(GELU_KEPT))
def test_gelu_that_overflows_before_halving_stays_written_out(form: str) -> None:
    check_unchanged(GELU_KEPT[form](wa.tensor(data(4, 7, scale=3))))


def test_gelu_negatives() -> None:
    x = wa.tensor(data(3, 5))
    check_unchanged(0.6 * x * (1 + wa.erf(x / math.sqrt(2))))  # wrong constant
    check_unchanged(0.5 * x * (1 + wa.erf(x / 1.41)))  # not sqrt 2 to float precision
    check_unchanged(0.5 * x * (1 + wa.tanh(0.79788456 * (x + 0.05 * x**3))))
    y = wa.tensor(data(3, 5))
    check_unchanged(0.5 * x * (1 + wa.erf(y / math.sqrt(2))))  # another tensor inside
    inner = wa.erf(x / math.sqrt(2))
    check_unchanged(0.5 * x * (1 + inner))  # held by a live tensor


# --- linear -------------------------------------------------------------------------------------


def act_ref(name: str, y: np.ndarray) -> np.ndarray:
    return {
        "none": lambda v: v,
        "relu": lambda v: np.maximum(v, 0),
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "tanh": np.tanh,
        "gelu": gelu_ref,
        "gelu_tanh": lambda v: gelu_ref(v, True),
    }[name](y)


def apply_act(name: str, y: wa.Tensor) -> wa.Tensor:
    if name == "none":
        return y
    if name == "gelu_tanh":
        return y.gelu("tanh")
    return getattr(y, name)()


@pytest.mark.parametrize("act", ["none", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"])
def test_matmul_bias_activation_becomes_linear(act: str) -> None:
    a, w, b = data(2, 5, 8), data(8, 6), data(6)
    y = apply_act(act, wa.tensor(a) @ wa.tensor(w) + wa.tensor(b))
    ref = act_ref(act, a.astype(np.float64) @ w + b)
    fused = check_fused(y, "linear", ref)
    assert ops_of(fused) == ["linear"]
    step = fused.steps[0]
    assert step.attr("activation") == (None if act == "none" else act)
    assert step.srcs[1][1].shape == (6, 8)  # the weight, read through a transposed view


def test_matmul_activation_without_bias_and_gelu_from_primitives() -> None:
    a, w, b = data(4, 8), data(8, 3), data(1, 3)
    h = wa.tensor(a) @ wa.tensor(w)
    y = wa.sigmoid(h)
    del h
    fused = check_fused(y, "linear", act_ref("sigmoid", a.astype(np.float64) @ w))
    assert ops_of(fused) == ["linear"] and fused.steps[0].srcs[2][1].shape == ()
    h = b + wa.tensor(a) @ wa.tensor(w)  # bias first, shaped (1, N)
    y = 0.5 * h * (1 + wa.erf(h / math.sqrt(2)))
    del h
    fused = check_fused(y, "linear", gelu_ref(a.astype(np.float64) @ w + b))
    assert ops_of(fused) == ["linear"] and fused.steps[0].attr("activation") == "gelu"


def test_linear_op_takes_bias_and_activation() -> None:
    a, w, b = data(3, 8), data(5, 8), data(5)
    y = wa.relu(wa.linear(wa.tensor(a), wa.tensor(w)) + wa.tensor(b))
    fused = check_fused(y, "linear", act_ref("relu", a.astype(np.float64) @ w.T + b))
    assert ops_of(fused) == ["linear"]
    y = wa.gelu(wa.linear(wa.tensor(a), wa.tensor(w), wa.tensor(b)))
    check_fused(y, "linear", gelu_ref(a.astype(np.float64) @ w.T + b))


def test_transposed_weight_reads_the_storage_directly() -> None:
    a, w, b = data(3, 8), data(5, 8), data(5)
    wt = wa.tensor(w)
    y = wa.tensor(a) @ wt.T + wa.tensor(b)
    fused = check_fused(y, "linear", a.astype(np.float64) @ w.T + b)
    (step,) = fused.steps
    assert step.srcs[1][1] == wt._view  # (out, in): the storage as it is


def test_linear_negatives() -> None:
    x, w = wa.tensor(data(4, 8)), wa.tensor(data(8, 6))
    check_unchanged(x @ w)  # nothing to fuse into
    check_unchanged(x @ w + wa.tensor(data(4, 1)))  # bias over the wrong axis
    check_unchanged(x @ w + wa.tensor(data(4, 6)))  # a full matrix, not a bias
    xb, wb = wa.tensor(data(2, 4, 8)), wa.tensor(data(2, 8, 6))
    check_unchanged((xb @ wb + wa.tensor(data(6))).relu())  # batched weight
    xi, wi = wa.tensor(np.ones((2, 3), np.int32)), wa.tensor(np.ones((3, 2), np.int32))
    check_unchanged((xi @ wi + wa.tensor(np.ones(2, np.int32))).relu())  # int32
    h = x @ w
    check_unchanged(h.relu())  # h is held by a live tensor
    program, _ = lowered(wa.exp(x @ w + wa.tensor(data(6))))
    fused = passes.optimize(program, CPU)  # the bias fuses; exp is no linear activation
    assert ops_of(fused) == ["linear", "exp"] and fused.steps[0].attr("activation") is None


# --- contiguous copies of input views -----------------------------------------------------------


def test_contiguous_copy_of_a_weight_view_is_dropped() -> None:
    a, w = data(3, 8), data(6, 8)
    wt = wa.tensor(w)
    y = wa.tensor(a) @ wt.T.contiguous()
    fused = check_fused(y, "matmul", a.astype(np.float64) @ w.T)
    assert ops_of(fused) == ["matmul"]
    (step,) = fused.steps
    assert step.srcs[1][1] == wt.T._view


def test_contiguous_through_reshape_and_transpose_views() -> None:
    a, w = data(4, 6), data(3, 2, 4)
    wt = wa.tensor(w)
    c = wt.permute(2, 0, 1).contiguous()  # (4, 3, 2)
    y = wa.tensor(a) @ c.reshape(4, 6).T + 1.0  # matmul reads the copy reshaped, transposed
    del c
    ref = a.astype(np.float64) @ w.transpose(2, 0, 1).reshape(4, 6).T + 1
    fused = check_fused(y, "matmul", ref)
    assert "contiguous" not in ops_of(fused)


def test_contiguous_negatives() -> None:
    w = wa.tensor(data(2, 3, 3, 3))
    x = wa.tensor(data(1, 3, 5, 5))
    check_unchanged(wa.conv2d(x, w.permute(0, 1, 3, 2).contiguous()))  # conv: not a view reader
    c = w.T.contiguous()
    check_unchanged(c + 1)  # the copy is held by a live tensor
    del c
    # a reshape the transposed storage cannot express keeps its copy
    m = wa.tensor(data(4, 6))
    check_unchanged(m.T.reshape(24) + 1)


# --- program invariants, cache, placement -------------------------------------------------------


def test_intermediate_outputs_and_two_patterns_in_one_program() -> None:
    a, w, b = data(3, 8), data(8, 8), data(8)
    x = wa.tensor(a)
    h = x @ wa.tensor(w) + wa.tensor(b)
    keep = h * 1.0  # a consumer outside any pattern
    e = (h - h.max(-1, keepdims=True)).exp()
    y = e / e.sum(-1, keepdims=True)
    del e
    program, input_nodes = lowered(y, keep)
    fused = passes.optimize(program, CPU)
    assert sorted(ops_of(fused)) == ["full", "linear", "mul", "softmax"]
    plain, got = run(program, input_nodes), run(fused, input_nodes)
    assert len(got) == 3  # h (held), y and keep: the same outputs, in the same order
    for p, g in zip(plain, got, strict=True):
        np.testing.assert_allclose(g, p, rtol=2e-5, atol=2e-6)
    at = [fused.steps[i].op for i in fused.outputs].index("softmax")
    np.testing.assert_allclose(got[at], softmax_ref(a.astype(np.float64) @ w + b, -1), rtol=2e-5)


def test_cache_holds_the_rewritten_program_and_a_hit_skips_the_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def build() -> wa.Tensor:
        x = wa.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 7)
        e = (x - x.max(-1, keepdims=True)).exp()
        return e / e.sum(-1, keepdims=True)

    y = build()
    program, _ = lowered(y)
    y.numpy()
    assert ops_of(CPU.cache.compiled[program]) == ["softmax"]
    calls = []
    real = passes.optimize
    monkeypatch.setattr(passes, "optimize", lambda *a: calls.append(1) or real(*a))
    before = wa.graph_stats("cpu")
    np.testing.assert_allclose(
        build().numpy(), softmax_ref(np.arange(12.0).reshape(3, 4) / 7, -1), rtol=1e-6
    )
    assert wa.graph_stats("cpu")["hits"] == before["hits"] + 1
    assert calls == []


def test_denied_op_is_not_introduced(allow_all: None) -> None:
    x = wa.tensor(data(3, 4))
    e = (x - x.max(-1, keepdims=True)).exp()
    y = e / e.sum(-1, keepdims=True)
    del e
    wa.deny("softmax", "cpu")
    check_unchanged(y)
    wa.allow()
    check_fused(y, "softmax", softmax_ref(np.asarray(x), -1))


def test_float16_patterns_are_left_alone() -> None:
    x = wa.tensor(data(3, 4), dtype="float16")
    e = (x - x.max(-1, keepdims=True)).exp()
    y = e / e.sum(-1, keepdims=True)
    del e
    check_unchanged(y)


def test_linear_activation_attribute_is_checked() -> None:
    with pytest.raises(ValueError, match="activation"):
        wa.ops.infer("linear", [(2, 3), (4, 3), ()], [wa.float32] * 3, activation="exp")

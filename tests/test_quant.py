"""Weight-only quantization (``webaccel.quant``) and the ``linear_q``/``dequantize`` ops on the
cpu device, against NumPy float64 references.

Bounds checked: every dequantized element is within ``scale / 2`` of the float weight (plus
float32 rounding of the product); ``linear_q`` matches ``x @ dequantize(W).T + b`` computed in
float64 within the float32 accumulation error (rtol 1e-5, atol 1e-5 * sqrt(K)). The cosine of
the quantized layer's output against the float32 layer's, on random MiniLM-sized layers
(384 <-> 1536), is printed (``pytest -s``) and bounded below.
"""

from __future__ import annotations

import array
import math

import numpy as np
import pytest

import webaccel as wa
from webaccel import ir, ops, quant
from webaccel.engine import passes
from webaccel.quant import QuantizedWeight, quantize
from webaccel.tensor import apply

RNG = np.random.default_rng(20261121)


def weights(out: int, k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((out, k)).astype(np.float32)


def ref_quantize(w: np.ndarray, bits: int, group: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference: codes (int64) and float32 scales (out, groups)."""
    qmax = 127 if bits == 8 else 7
    out, k = w.shape
    g = group or k
    scales = np.zeros((out, -(-k // g)), np.float32)
    q = np.zeros((out, k), np.int64)
    for o in range(out):
        for j, g0 in enumerate(range(0, k, g)):
            chunk = w[o, g0 : g0 + g].astype(np.float64)
            s = np.float32(np.abs(chunk).max() / qmax)
            scales[o, j] = s
            if s > 0:
                q[o, g0 : g0 + g] = np.clip(np.rint(chunk / np.float64(s)), -qmax, qmax)
    return q, scales


def dequant_ref(q: np.ndarray, scales: np.ndarray, group: int) -> np.ndarray:
    full = np.repeat(scales.astype(np.float64), group, axis=1)[:, : q.shape[1]]
    return q.astype(np.float64) * full


def codes(qw: QuantizedWeight) -> np.ndarray:
    """The codes of *qw* as int64 (int4 unpacked, low nibble first)."""
    data = np.frombuffer(qw.q.to_bytes(), np.uint8)
    out, k = qw.shape
    if qw.bits == 8:
        return data.view(np.int8).astype(np.int64).reshape(out, k)
    nib = np.stack([data & 0xF, data >> 4], axis=-1).reshape(-1)[: out * k].astype(np.int64)
    return ((nib ^ 8) - 8).reshape(out, k)


def scales(qw: QuantizedWeight) -> np.ndarray:
    return qw.scale_2d().numpy()


SCHEMES = [("int8", None), ("int4", None), ("int4", 16), ("int8", 32)]
SHAPES = [(1, 1), (1, 32), (5, 7), (3, 64), (4, 70), (2, 33), (6, 384)]


# --- quantize / dequantize ------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "group"), SCHEMES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_quantize_matches_the_reference_and_errs_by_at_most_half_a_step(scheme, group, shape):
    w = weights(*shape, seed=shape[0] * 1000 + shape[1])
    w[0, : min(3, shape[1])] = 0.0  # zero stretches, and an all-zero group when k <= 3
    qw = quantize(w, scheme, group)
    bits = 8 if scheme == "int8" else 4
    g = group if group is not None else (32 if scheme == "int4" else shape[1])
    assert qw.group_size == g and qw.shape == shape and qw.scheme == scheme
    q_ref, s_ref = ref_quantize(w, bits, g)
    np.testing.assert_array_equal(codes(qw), q_ref)
    np.testing.assert_array_equal(scales(qw), s_ref)
    deq = qw.dequantize().numpy()
    assert deq.dtype == np.float32 and deq.shape == shape
    np.testing.assert_allclose(deq, dequant_ref(q_ref, s_ref, g), rtol=1e-7, atol=0)
    # per element: |w - q * s| <= s / 2 (+ the float32 rounding of q * s)
    step = np.repeat(s_ref, g, axis=1)[:, : shape[1]].astype(np.float64)
    err = np.abs(w.astype(np.float64) - deq.astype(np.float64))
    assert (err <= step / 2 + np.abs(w) * 2e-7 + 1e-30).all(), (err - step / 2).max()
    # per channel (row): max error <= max scale of the row / 2
    assert (err.max(axis=1) <= step.max(axis=1) / 2 * (1 + 1e-6)).all()
    qmax = 127 if bits == 8 else 7
    assert np.abs(q_ref).max() <= qmax


def test_int4_codes_pack_two_per_byte_low_nibble_first():
    w = np.array([[1.0, -2.0, 7.0], [-7.0, 0.0, 3.0]], np.float32)  # one group per row
    qw = quantize(w, "int4", 3)
    assert scales(qw).tolist() == [[1.0], [1.0]]
    # codes 1, -2, 7, -7, 0, 3 -> nibbles 1, e, 7, 9, 0, 3
    assert qw.q.to_bytes() == bytes([0xE1, 0x97, 0x30])
    assert qw.q.nbytes == 3 and qw.q.dtype == wa.int4


def test_rounding_is_half_to_even_on_the_exact_quotient():
    w = np.array([[127.0, 0.5, 1.5, 2.5, -0.5, -1.5]], np.float32)  # scale exactly 1
    qw = quantize(w, "int8")
    assert codes(qw).tolist() == [[127, 0, 2, 2, 0, -2]]
    assert codes(quantize(w, "int8", method="python")).tolist() == [[127, 0, 2, 2, 0, -2]]


@pytest.mark.parametrize(("scheme", "group"), SCHEMES)
def test_pure_python_path_gives_the_same_bits(scheme, group):
    w = weights(7, 45, seed=3)
    want = quantize(w, scheme, group, method="numpy")
    flat = array.array("f", w.reshape(-1).tolist())
    inputs = [
        w.tolist(),  # nested lists
        flat,  # array('f') + shape
        memoryview(flat),  # a typed memoryview + shape
        w.tobytes(),  # raw little-endian float32 + shape
        wa.tensor(w),  # a webaccel float tensor (read back once)
        w,  # a NumPy array on the pure-Python path
    ]
    for data in inputs:
        shape = None if isinstance(data, list | np.ndarray | wa.Tensor) else w.shape
        got = quantize(data, scheme, group, shape=shape, method="python")
        assert got.q.to_bytes() == want.q.to_bytes(), type(data)
        assert got.scale.to_bytes() == want.scale.to_bytes(), type(data)
        assert got.group_size == want.group_size


def test_quantize_without_numpy(monkeypatch):
    monkeypatch.setattr(quant, "_numpy", lambda: None)  # as in Pyodide 314
    w = weights(3, 40, seed=5)
    got = quantize(w.tolist(), "int4")
    monkeypatch.undo()
    want = quantize(w, "int4")
    assert got.q.to_bytes() == want.q.to_bytes()
    assert got.scale.to_bytes() == want.scale.to_bytes()
    monkeypatch.setattr(quant, "_numpy", lambda: None)
    with pytest.raises(ImportError, match="needs NumPy; use method='python'"):
        quantize(w.tolist(), "int8", method="numpy")


@pytest.mark.parametrize(
    ("scheme", "group", "asymmetric", "shape"),
    [("int8", None, False, (5, 33)), ("int4", 32, True, (3, 70)), ("int4", 16, False, (1, 1))],
)
def test_host_parts_kept_in_a_store_give_the_same_weight(
    tmp_path, scheme, group, asymmetric, shape
):
    """quantize_host's parts (what the embedder keeps in the store), saved, read back and
    uploaded with from_host, are quantize()'s weight bit for bit (odd sizes: partial groups)."""
    from webaccel.store import Store

    w = weights(*shape, seed=11)
    want = quantize(w, scheme, group, asymmetric=asymmetric)
    parts = quant.quantize_host(w, scheme, group, asymmetric=asymmetric)
    assert sorted(parts) == (["offset", "q", "scale"] if asymmetric else ["q", "scale"])
    assert parts["q"][1:] == (scheme, shape)
    store = Store.open(tmp_path)
    store.save("m", parts)
    got = quant.from_host(store.read("m"), group, "cpu")
    assert got.q.to_bytes() == want.q.to_bytes() and got.scale.shape == want.scale.shape
    assert got.group_size == want.group_size
    assert (got.offset is None) == (want.offset is None)
    np.testing.assert_array_equal(got.dequantize().numpy(), want.dequantize().numpy())


def test_quantize_float16_tensor_and_device():
    w = weights(4, 32, seed=9)
    got = quantize(wa.tensor(w.astype(np.float16)), "int8")
    want = quantize(w.astype(np.float16).astype(np.float32), "int8")
    assert got.q.to_bytes() == want.q.to_bytes() and got.device is wa.get_device("cpu")
    moved = got.to("cpu")
    assert moved.q.to_bytes() == got.q.to_bytes() and moved.group_size == got.group_size


# --- weight bytes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("out", "k"), [(1536, 384), (384, 1536)])
def test_weight_bytes(out, k):
    w = weights(out, k, seed=1)
    fp32 = 4 * out * k
    q8, q4 = quantize(w, "int8"), quantize(w, "int4")
    assert q8.q.nbytes == out * k and q8.scale.nbytes == 4 * out
    assert q4.q.nbytes == out * k // 2 and q4.scale.nbytes == 4 * out * (k // 32)
    assert q8.nbytes == fp32 // 4 + 4 * out and q4.nbytes == fp32 // 8 + out * k // 8
    assert q8.float_nbytes == fp32
    print(
        f"\n{out}x{k} weight bytes: fp32 {fp32}, int8 {q8.nbytes} ({q8.nbytes / fp32:.4f}), "
        f"int4 g32 {q4.nbytes} ({q4.nbytes / fp32:.4f})"
    )


# --- linear_q -------------------------------------------------------------------------------------


def linear_ref(x: np.ndarray, qw: QuantizedWeight, b: np.ndarray | None) -> np.ndarray:
    w = dequant_ref(codes(qw), scales(qw), qw.group_size)
    y = x.astype(np.float64) @ w.T
    return y + b if b is not None else y


X_SHAPES = [(1, 37), (37,), (3, 5, 37), (8, 37), (0, 37), (2, 1, 37)]


@pytest.mark.parametrize(("scheme", "group"), SCHEMES)
@pytest.mark.parametrize("x_shape", X_SHAPES, ids=str)
@pytest.mark.parametrize("out", [1, 13])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_q_matches_float64_reference(scheme, group, x_shape, out, bias):
    k = x_shape[-1]
    qw = quantize(weights(out, k, seed=out), scheme, group)
    x = RNG.standard_normal(x_shape).astype(np.float32)
    b = RNG.standard_normal(out).astype(np.float32) if bias else None
    y = wa.linear(wa.tensor(x), qw, wa.tensor(b) if bias else None)
    assert y.shape == (*x_shape[:-1], out) and y.dtype == wa.float32
    np.testing.assert_allclose(y.numpy(), linear_ref(x, qw, b), rtol=1e-5, atol=1e-5 * math.sqrt(k))


ACTS = {
    "relu": (lambda t: t.relu(), lambda y: np.maximum(y, 0)),
    "gelu": (lambda t: t.gelu(), lambda y: 0.5 * y * (1 + np.vectorize(math.erf)(y / 2**0.5))),
    "gelu_tanh": (
        lambda t: t.gelu("tanh"),
        lambda y: 0.5 * y * (1 + np.tanh(math.sqrt(2 / math.pi) * (y + 0.044715 * y**3))),
    ),
    "sigmoid": (lambda t: t.sigmoid(), lambda y: 1 / (1 + np.exp(-y))),
    "tanh": (lambda t: t.tanh(), np.tanh),
}


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_activation_folds_into_linear_q(act, scheme):
    fn, ref = ACTS[act]
    qw = quantize(weights(9, 64, seed=2), scheme)
    x = RNG.standard_normal((3, 64)).astype(np.float32)
    b = RNG.standard_normal(9).astype(np.float32)
    for y in (fn(wa.linear(wa.tensor(x), qw, wa.tensor(b))), fn(wa.linear(wa.tensor(x), qw) + b)):
        program = lowered(y)
        (step,) = passes.optimize(program).steps
        assert step.op == "linear_q" and step.attr("activation") == act
        assert step.srcs[3][1].shape == (9,)  # the bias folded in
        np.testing.assert_allclose(y.numpy(), ref(linear_ref(x, qw, b)), rtol=1e-5, atol=1e-5)


def lowered(y: wa.Tensor) -> ir.Program:
    nodes = ir.pending_nodes([y._node])
    return ir.lower(nodes, {y._node.id})[0]


def test_fused_path_never_materializes_the_float_weight():
    """``linear(x, qw)`` and ``linear(x, qw.dequantize())`` (and ``x @ qw.dequantize().T``)
    all become one ``linear_q`` step reading the codes: no float (out, in) step is left."""
    qw = quantize(weights(48, 64, seed=4), "int4")
    x = wa.tensor(RNG.standard_normal((5, 64)).astype(np.float32))
    b = wa.tensor(RNG.standard_normal(48).astype(np.float32))
    for y in (
        wa.linear(x, qw, b),
        wa.linear(x, qw.dequantize(), b),
        x @ qw.dequantize().T + b,
        (x @ qw.dequantize().T + b).gelu(),
    ):
        program = passes.optimize(lowered(y), wa.get_device("cpu"))
        assert [s.op for s in program.steps] == ["linear_q"], program.steps
        (step,) = program.steps
        assert [d.name for _, _, d in step.srcs] == ["float32", "int4", "float32", "float32"]
        stored = [math.prod(s.shape) * s.dtype.bits // 8 for s in program.steps]
        assert stored == [5 * 48 * 4]  # only the output is stored, never 48 x 64 floats
    # a dequantized weight that something else also reads stays (it is needed)
    w = qw.dequantize()
    y = wa.linear(x, w, b) + w.sum()
    ops_left = [s.op for s in passes.optimize(lowered(y)).steps]
    assert "dequantize" in ops_left and "linear_q" not in ops_left


def test_linear_q_through_dequantize_gives_the_same_numbers():
    qw = quantize(weights(10, 40, seed=6), "int4", 16)
    x = RNG.standard_normal((4, 40)).astype(np.float32)
    a = wa.linear(wa.tensor(x), qw).numpy()
    b = wa.linear(wa.tensor(x), qw.dequantize()).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_capture_replays_a_quantized_linear():
    qw = quantize(weights(6, 32, seed=8), "int8")
    f = wa.capture(lambda t: wa.linear(t, qw).relu())
    for seed in range(2):
        x = np.random.default_rng(seed).standard_normal((3, 32)).astype(np.float32)
        got = f(wa.tensor(x)).numpy()
        np.testing.assert_allclose(got, np.maximum(linear_ref(x, qw, None), 0), atol=1e-5)


# --- numerics of quantized vs float32 layers ----------------------------------------------------


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize(("out", "k"), [(1536, 384), (384, 1536)])
def test_cosine_of_quantized_vs_fp32_layer(out, k):
    rng = np.random.default_rng(out)
    w = (rng.standard_normal((out, k)) / math.sqrt(k)).astype(np.float32)
    b = (rng.standard_normal(out) * 0.1).astype(np.float32)
    x = rng.standard_normal((16, k)).astype(np.float32)
    fp32 = wa.linear(wa.tensor(x), wa.tensor(w), wa.tensor(b)).numpy()
    lines = []
    for scheme, floor in (("int8", 0.9999), ("int4", 0.99)):
        qw = quantize(w, scheme)
        got = wa.linear(wa.tensor(x), qw, wa.tensor(b)).numpy()
        c = cosine(got, fp32)
        rel = np.abs(got - fp32).max() / np.abs(fp32).max()
        lines.append(f"{scheme}: cosine {c:.6f}, max |diff| / max |fp32| {rel:.2e}")
        assert c > floor, (scheme, c)
    print(f"\n{out}x{k} layer, 16 rows: " + "; ".join(lines))


# --- errors ---------------------------------------------------------------------------------------


def q8(out: int = 4, k: int = 8) -> QuantizedWeight:
    return quantize(weights(out, k), "int8")


def test_linear_q_shape_errors():
    qw = q8()
    with pytest.raises(ops.ShapeError, match=r"linear_q: input \(2, 7\) and quantized weight"):
        wa.linear(wa.tensor(np.ones((2, 7), np.float32)), qw)
    with pytest.raises(ops.ShapeError, match=r"linear_q: bias shape \(5,\) must be \(4,\)"):
        wa.linear(wa.tensor(np.ones((2, 8), np.float32)), qw, wa.tensor(np.ones(5, np.float32)))
    with pytest.raises(ops.DTypeError, match="linear_q: input must be float, got int32"):
        wa.linear(wa.tensor(np.ones((2, 8), np.int32)), qw)


def test_op_rule_errors():
    x = wa.tensor(np.ones((2, 8), np.float32))
    q = wa.from_buffer(bytes(32), (4, 8), "int8")
    s = wa.tensor(np.ones((4, 1), np.float32))
    bias = wa.full((), 0.0)
    with pytest.raises(ops.DTypeError, match="quantized weight must be int8 or int4, got float32"):
        apply("linear_q", x, x, s, bias, group=8)
    with pytest.raises(ops.DTypeError, match="scale must be float32, got int32"):
        apply("dequantize", q, wa.tensor(np.ones((4, 1), np.int32)), group=8)
    with pytest.raises(ops.ShapeError, match=r"scale shape \(4, 1\) does not fit .* need \(4, 2\)"):
        apply("dequantize", q, s, group=4)
    with pytest.raises(ValueError, match="group must be a positive int"):
        apply("dequantize", q, s, group=0)
    with pytest.raises(ops.ShapeError, match="must be 2-D"):
        apply("dequantize", q.reshape(32), s, group=8)
    with pytest.raises(ValueError, match="activation 'swish' is not one of"):
        apply("linear_q", x, q, s, bias, group=8, activation="swish")
    with pytest.raises(TypeError, match="cannot be computed on directly"):
        q + 1  # codes are storage, not numbers


def test_quantize_errors():
    with pytest.raises(ValueError, match="scheme must be one of"):
        quantize(weights(2, 4), "int2")
    with pytest.raises(ValueError, match="group_size must be a positive int"):
        quantize(weights(2, 4), "int4", 0)
    with pytest.raises(ops.ShapeError, match=r"must be 2-D \(out, in\), got shape \(8,\)"):
        quantize(np.ones(8, np.float32))
    with pytest.raises(ops.ShapeError, match=r"must be 2-D \(out, in\), got shape \(2, 2, 2\)"):
        quantize(np.ones((2, 2, 2), np.float32), method="python")
    with pytest.raises(ops.ShapeError, match="is empty"):
        quantize(np.ones((0, 4), np.float32))
    bad = weights(2, 4)
    bad[1, 2] = np.nan
    for method in ("numpy", "python"):
        with pytest.raises(ValueError, match="NaN or infinite"):
            quantize(bad, method=method)
    with pytest.raises(ValueError, match=r"give shape=\(out, in\) for flat data"):
        quantize(array.array("f", [1.0, 2.0]))
    with pytest.raises(ops.ShapeError, match=r"shape \(3, 3\) does not fit 2 values"):
        quantize(array.array("f", [1.0, 2.0]), shape=(3, 3), method="python")
    with pytest.raises(ops.DTypeError, match="needs a float weight, got int32"):
        quantize(wa.tensor(np.ones((2, 2), np.int32)))
    with pytest.raises(ValueError, match="method must be"):
        quantize(weights(2, 4), method="gpu")


def test_quantized_weight_errors():
    q = wa.from_buffer(bytes(32), (4, 8), "int8")
    with pytest.raises(ValueError, match="give group_size"):
        QuantizedWeight(q, wa.tensor(np.ones((4, 2), np.float32)))
    with pytest.raises(ops.ShapeError, match="1-D scale"):
        QuantizedWeight(q, wa.tensor(np.ones(4, np.float32)), group_size=4)
    with pytest.raises(ops.ShapeError, match=r"scale shape \(3, 1\) does not fit"):
        QuantizedWeight(q, wa.tensor(np.ones(3, np.float32)))
    with pytest.raises(ops.DTypeError, match="must be int8 or int4, got int32"):
        QuantizedWeight(wa.tensor(np.ones((4, 8), np.int32)), wa.tensor(np.ones(4, np.float32)))
    with pytest.raises(TypeError, match="must be webaccel tensors"):
        QuantizedWeight(np.ones((4, 8), np.int8), np.ones(4, np.float32))
    qw = QuantizedWeight(q, wa.tensor(np.ones((4, 2), np.float32)), group_size=4)
    assert qw.groups == 2 and "int8" in repr(qw)


# --- the webgpu kernels' pure-Python parts --------------------------------------------------------


def test_webgpu_linear_q_modes():
    from webaccel.backends.webgpu.kernels.matmul_q import linear_q_mode
    from webaccel.backends.webgpu.views import StridedView

    def mode(k, group, bits=4, q_off=0, q_sn=None, x_strides=None, x_off=0):
        x = StridedView(None, (3, k), x_strides or (k, 1), x_off)
        q = StridedView(None, (5, k), (q_sn or k, 1), q_off, "int4" if bits == 4 else "int8")
        return linear_q_mode(x, q, group)

    assert mode(64, 32) == "vec_x4"
    assert mode(64, 32, bits=8) == "vec_x4"
    assert mode(64, 32, x_strides=(1, 3)) == "vec_x1"  # a transposed input
    assert mode(64, 32, x_off=2) == "vec_x1"  # a misaligned input
    assert mode(40, 16) == "vec_x4"  # a partial last group of whole steps: 16, 16, 8
    assert mode(36, 16) == "scalar"  # 16, 16, 4
    assert mode(60, 60) == "scalar"  # K not a multiple of 8
    assert mode(64, 4) == "scalar"  # groups smaller than the 8-code step
    assert mode(64, 32, q_off=4) == "scalar"  # int4 rows must start a word
    assert mode(64, 32, bits=8, q_off=4) == "vec_x4"  # int8 rows: a multiple of 4 will do
    assert mode(64, 32, q_sn=68) == "scalar"


def test_webgpu_quant_sources_fill_completely():
    from webaccel.backends.webgpu.kernels import matmul_q

    sources = [
        matmul_q.linear_q_source(cfg, mode, bits, bias, act)
        for cfg in matmul_q.LINEAR_Q_CONFIGS.values()
        for mode in matmul_q.LINEAR_Q_MODES
        for bits in (8, 4)
        for bias, act in ((False, None), (True, "gelu"))
    ]
    sources += [matmul_q.dequantize_source(bits) for bits in (8, 4)]
    for src in sources:
        assert "$" not in src and src.count("{") == src.count("}") and "@compute" in src
    with pytest.raises(ValueError, match="unknown linear_q mode"):
        matmul_q.linear_q_source((8, 8, 4, 4), "tiles", 4, False, None)


# --- asymmetric: codes spanning each group's [min, max], plus a float32 offset ------------------


def ref_quantize_asym(w: np.ndarray, bits: int, group: int | None):
    """Independent reference: codes (int64, -2^(bits-1)..2^(bits-1)-1), scales, offsets."""
    levels = (1 << bits) - 1
    half = 1 << (bits - 1)
    out, k = w.shape
    g = group or k
    ng = -(-k // g)
    s, off = np.zeros((out, ng), np.float32), np.zeros((out, ng), np.float32)
    q = np.zeros((out, k), np.int64)
    for o in range(out):
        for j, g0 in enumerate(range(0, k, g)):
            chunk = w[o, g0 : g0 + g].astype(np.float64)
            lo, hi = chunk.min(), chunk.max()
            s[o, j] = np.float32((hi - lo) / levels)
            off[o, j] = np.float32(lo + half * np.float64(s[o, j]))
            if s[o, j] > 0:
                u = np.clip(np.rint((chunk - lo) / np.float64(s[o, j])), 0, levels)
                q[o, g0 : g0 + g] = u - half
    return q, s, off


@pytest.mark.parametrize(("scheme", "group"), [("int4", None), ("int4", 32), ("int8", 32)])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_asymmetric_matches_the_reference_and_errs_by_at_most_half_a_step(scheme, group, shape):
    w = weights(*shape, seed=shape[1]) * 0.05 + 0.02  # not centred: where asymmetric helps
    w[0, : min(3, shape[1])] = 0.25  # a group whose values are partly equal
    qw = quantize(w, scheme, group, asymmetric=True, device="cpu")
    assert qw.asymmetric and qw.offset.shape == qw.scale.shape
    bits = 4 if scheme == "int4" else 8
    q, s, off = ref_quantize_asym(w, bits, qw.group_size)  # int4's default group: 32
    np.testing.assert_array_equal(codes(qw), q)
    np.testing.assert_array_equal(scales(qw), s)
    np.testing.assert_array_equal(qw.offset_2d().numpy(), off)
    g = qw.group_size
    full_s = np.repeat(s.astype(np.float64), g, axis=1)[:, : shape[1]]
    full_o = np.repeat(off.astype(np.float64), g, axis=1)[:, : shape[1]]
    want = q * full_s + full_o
    got = qw.dequantize().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert (np.abs(got - w) <= full_s / 2 + 1e-6 * np.abs(w).max()).all()
    python = quantize(w, scheme, group, asymmetric=True, device="cpu", method="python")
    assert python.q.to_bytes() == qw.q.to_bytes()
    assert python.scale.to_bytes() == qw.scale.to_bytes()
    assert python.offset.to_bytes() == qw.offset.to_bytes()
    # every code of the type is used: int4 -8..7
    if shape == (6, 384) and scheme == "int4":
        assert codes(qw).min() == -8 and codes(qw).max() == 7


def test_asymmetric_constant_group_and_bytes():
    w = np.full((2, 40), -0.5, np.float32)  # every group constant: scale 0, the offset is it
    qw = quantize(w, "int4", asymmetric=True, device="cpu")
    assert not scales(qw).any() and (qw.offset_2d().numpy() == -0.5).all()
    np.testing.assert_array_equal(qw.dequantize().numpy(), w)
    sym = quantize(w, "int4", device="cpu")
    assert qw.nbytes == sym.nbytes + 4 * 2 * 2  # the offsets: one float32 per group
    assert "asymmetric=True" in repr(qw) and qw.to("cpu").offset is not None


@pytest.mark.parametrize("x_shape", X_SHAPES, ids=str)
@pytest.mark.parametrize("k", [37, 64])  # a partial last group; whole groups
@pytest.mark.parametrize("bias", [True, False])
def test_asymmetric_linear_matches_float64_reference(x_shape, k, bias):
    out = 13
    x_shape = (*x_shape[:-1], k)
    w = weights(out, k, seed=k) * 0.1 + 0.03
    qw = quantize(w, "int4", asymmetric=True, device="cpu")
    x = RNG.standard_normal(x_shape).astype(np.float32)
    x[..., :1] *= 1e3  # a large input channel (as LayerNorm outputs have)
    b = RNG.standard_normal(out).astype(np.float32) if bias else None
    y = wa.linear(wa.tensor(x), qw, wa.tensor(b) if bias else None)
    w64 = qw.dequantize().numpy().astype(np.float64)
    want = x.astype(np.float64) @ w64.T + (b if bias else 0)
    assert y.shape == (*x_shape[:-1], out)
    scale = max(1.0, float(np.abs(x).max(initial=0.0)))
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5 * math.sqrt(k) * scale)


def test_asymmetric_weight_errors():
    qw = quantize(weights(4, 64), "int4", asymmetric=True, device="cpu")
    with pytest.raises(ops.ShapeError, match="offset must be float32 of scale's shape"):
        QuantizedWeight(qw.q, qw.scale, 32, wa.zeros((4, 3), device="cpu"))
    with pytest.raises(ops.ShapeError, match="offset must be float32"):
        QuantizedWeight(qw.q, qw.scale, 32, qw.offset.cast("float16"))
    with pytest.raises(TypeError, match="offset must be a webaccel tensor"):
        QuantizedWeight(qw.q, qw.scale, 32, np.zeros((4, 2), np.float32))

"""Quantized linears (``webaccel.quant``) in the browser: the WebGPU ``linear_q`` kernel (every
lane: WebGPU is everywhere here), the WebNN path (``dequantizeLinear`` + ``gemm``, headless
shell), placement's fallback from WebNN to WebGPU, and ``quantize`` in a Pyodide without NumPy.

Inputs are quantized on the host (NumPy); the reference is ``act(x @ dequantize(W).T + b)`` in
float64 from the same codes and scales. Tolerance: every element within ``1e-4 * |want| +
1e-4 * max|want|`` (1e-4 relative to the dequantized fp32 result; float32 accumulation over
K = 1536 errs by ~1e-6 relative).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from pytest_pyodide import run_in_pyodide

from webaccel.backends.webgpu.kernels import matmul_q
from webaccel.backends.webgpu.views import StridedView
from webaccel.quant import quantize

# SwiftShader runs the MiniLM-sized layers on the CPU: give the page time on a loaded machine
pytestmark = pytest.mark.driver_timeout(180)
RTOL = 1e-4


def r_gelu(y: np.ndarray) -> np.ndarray:
    return 0.5 * y * (1 + np.vectorize(math.erf)(y / math.sqrt(2)))


def make_case(
    name: str,
    scheme: str,
    out: int,
    k: int,
    m: int,
    group: int | None = None,
    act: str | None = None,
    transpose_x: bool = False,
    bias: bool = True,
    asymmetric: bool = False,
) -> dict:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    w = (rng.standard_normal((out, k)) / math.sqrt(k)).astype(np.float32)
    if asymmetric:
        w += 0.5 / math.sqrt(k)  # off-centre groups, where the offsets matter
    qw = quantize(w, scheme, group, asymmetric=asymmetric)
    x = rng.standard_normal((m, k)).astype(np.float32)
    b = (rng.standard_normal(out) * 0.1).astype(np.float32)
    codes = qw.q.to_bytes()
    scales = qw.scale_2d().numpy()
    deq = qw.dequantize().numpy().astype(np.float64)  # q * s rounded once to float32
    want = x.astype(np.float64) @ deq.T + (b if bias else 0)
    if act == "gelu":
        want = r_gelu(want)
    return {
        "name": name,
        "scheme": scheme,
        "shape": (out, k),
        "group": qw.group_size,
        "q": codes,
        "s": scales.tobytes(),
        "s_shape": scales.shape,
        "o": qw.offset_2d().numpy().tobytes() if asymmetric else None,
        "x": (x.T.copy() if transpose_x else x).tobytes(),
        "x_shape": (m, k),
        "transpose_x": transpose_x,
        "b": b.tobytes() if bias else None,
        "act": act,
        "want": want,
        "w": w,
    }


def payload(cases: list[dict]) -> list[dict]:
    return [{k: v for k, v in c.items() if k not in ("want", "w")} for c in cases]


def check(case: dict, got: bytes) -> float:
    want = case["want"]
    y = np.frombuffer(got, np.float32).reshape(want.shape).astype(np.float64)
    scale = np.abs(want).max()
    np.testing.assert_allclose(y, want, rtol=RTOL, atol=RTOL * scale, err_msg=case["name"])
    return float(np.abs(y - want).max() / scale)


# --- in the browser ------------------------------------------------------------------------------


@run_in_pyodide(packages=["webaccel"])
def run_linear_q(selenium, device, cases, deny=()):
    import webaccel as wa
    from webaccel.quant import QuantizedWeight

    wa.get_device("webgpu")  # running: placement falls back only to running backends
    for op in deny:
        wa.deny(op, device)
    results = []
    try:
        for c in cases:
            out, k = c["shape"]
            m = c["x_shape"][0]
            dtype = "int8" if c["scheme"] == "int8" else "int4"
            q = wa.from_buffer(c["q"], (out, k), dtype, device=device)
            s = wa.from_buffer(c["s"], c["s_shape"], "float32", device=device)
            o = c.get("o")
            if o is not None:  # asymmetric: w = q * s + offset
                o = wa.from_buffer(o, c["s_shape"], "float32", device=device)
            qw = QuantizedWeight(q, s, c["group"], o)
            if c["transpose_x"]:
                x = wa.from_buffer(c["x"], (k, m), "float32", device=device).T  # a strided view
            else:
                x = wa.from_buffer(c["x"], (m, k), "float32", device=device)
            b = wa.from_buffer(c["b"], (out,), "float32", device=device) if c["b"] else None
            y = wa.linear(x, qw, b)
            if c["act"] == "gelu":
                y = y.gelu()
            text = wa.explain(y)
            results.append((bytes(y.read()), text))
    finally:
        wa.allow()
    return results


@run_in_pyodide(packages=["webaccel"])
def allocations_of_a_quantized_linear(selenium, q_bytes, scheme, out, k, m):
    """(kernels, sizes allocated while running) for linear(x, qw, b), for
    linear(x, qw.dequantize(), b) and for qw.dequantize() alone, on webgpu."""
    import array

    import webaccel as wa
    from webaccel import ir
    from webaccel.engine import passes
    from webaccel.quant import QuantizedWeight

    dev = wa.get_device("webgpu")
    ng = 1 if scheme == "int8" else k // 32
    q = wa.from_buffer(q_bytes, (out, k), scheme, device="webgpu")
    s = wa.tensor(array.array("f", [0.01] * (out * ng)), device="webgpu").reshape(out, ng)
    qw = QuantizedWeight(q, s, k if scheme == "int8" else 32)
    x = wa.tensor(array.array("f", [0.5] * (m * k)), device="webgpu").reshape(m, k)
    b = wa.tensor(array.array("f", [1.0] * out), device="webgpu")
    report = {}
    for name, make in (
        ("linear", lambda: wa.linear(x, qw, b)),
        ("via_dequantize", lambda: (x @ qw.dequantize().T + b).gelu()),
        ("dequantize_alone", lambda: qw.dequantize()),
    ):
        y = make()
        nodes = ir.pending_nodes([y._node])
        program = passes.optimize(ir.lower(nodes, {y._node.id})[0], dev)
        compiled = dev.compile(program)
        sizes = []
        real = dev.ctx.alloc

        def alloc(nbytes, real=real, sizes=sizes):
            sizes.append(int(nbytes))
            return real(nbytes)

        dev.ctx.alloc = alloc
        try:
            y.realize()
        finally:
            del dev.ctx.alloc
        report[name] = {
            "ops": [st.op for st in program.steps],
            "kernels": compiled.kernel_count,
            "allocated": sizes,
            "first": y.tolist()[0][0],
        }
    return report


@run_in_pyodide(packages=["webaccel"])
def quantize_in_pyodide(selenium, rows, scheme):
    import array
    import importlib.util

    import webaccel as wa
    from webaccel.quant import quantize

    flat = array.array("f", [v for r in rows for v in r])
    out = []
    for data, shape in ((rows, None), (flat, (len(rows), len(rows[0]))), (flat.tobytes(), None)):
        if shape is None and isinstance(data, bytes):
            shape = (len(rows), len(rows[0]))
        qw = quantize(data, scheme, shape=shape, device="webgpu", method="python")
        out.append((qw.q.to_bytes(), qw.scale.to_bytes(), qw.group_size))
    t = wa.tensor(flat, device="webgpu").reshape(len(rows), len(rows[0]))
    qw = quantize(t, scheme)  # auto: NumPy where this Pyodide has it, else pure Python
    out.append((qw.q.to_bytes(), qw.scale.to_bytes(), qw.group_size))
    return out, importlib.util.find_spec("numpy") is not None


# --- WebGPU --------------------------------------------------------------------------------------

WEBGPU_CASES = [
    make_case("int8-ffn-up-m1", "int8", 1536, 384, 1),
    make_case("int8-ffn-down-m12-gelu", "int8", 384, 1536, 12, act="gelu"),
    make_case("int4-ffn-up-m12", "int4", 1536, 384, 12),
    make_case("int4-ffn-down-m1-gelu", "int4", 384, 1536, 1, act="gelu"),
    make_case("int4-qkv-m9-xT", "int4", 384, 384, 9, transpose_x=True),
    make_case("int8-qkv-m3-xT-nobias", "int8", 384, 384, 3, transpose_x=True, bias=False),
    make_case("int4-partial-group-scalar", "int4", 37, 100, 5),
    make_case("int8-odd-scalar-out1", "int8", 1, 75, 4),
    make_case("int4-asym-ffn-down-m5-gelu", "int4", 384, 1536, 5, act="gelu", asymmetric=True),
    make_case("int4-asym-partial-group", "int4", 37, 100, 5, asymmetric=True),
]


def mode_of(case: dict) -> str:
    out, k = case["shape"]
    m = case["x_shape"][0]
    strides = (1, m) if case["transpose_x"] else (k, 1)
    x = StridedView(None, (m, k), strides, 0)
    codes = "int8" if case["scheme"] == "int8" else "int4"
    return matmul_q.linear_q_mode(x, StridedView(None, (out, k), (k, 1), 0, codes), case["group"])


def test_cases_cover_every_kernel_mode():
    assert {mode_of(c) for c in WEBGPU_CASES} == set(matmul_q.LINEAR_Q_MODES)


def test_webgpu_linear_q_matches_the_host_reference(selenium):
    results = run_linear_q(selenium, "webgpu", payload(WEBGPU_CASES))
    report = []
    for case, (got, text) in zip(WEBGPU_CASES, results, strict=True):
        err = check(case, got)
        assert "linear_q" in text and "partition 1" not in text, text
        report.append(f"{case['name']} [{mode_of(case)}]: max err / max |y| {err:.1e}")
    print("\n" + "\n".join(report))


@pytest.mark.parametrize("scheme", ["int8", "int4"])
def test_webgpu_fused_kernel_never_stores_the_float_weight(selenium, scheme):
    out, k, m = 1536, 384, 4
    q = bytes((i * 37) % 256 for i in range(out * k if scheme == "int8" else out * k // 2))
    report = allocations_of_a_quantized_linear(selenium, q, scheme, out, k, m)
    float_weight = out * k * 4
    for name in ("linear", "via_dequantize"):
        r = report[name]
        assert r["ops"] == ["linear_q"], r
        assert r["kernels"] == 1, r  # one dispatch: dequantization inside the matmul loop
        assert r["allocated"] == [m * out * 4], r  # the output only
    alone = report["dequantize_alone"]  # the counter does see a materialized weight
    assert alone["ops"] == ["dequantize"] and alone["allocated"] == [float_weight], alone
    assert report["linear"]["first"] != 0.0


def test_quantize_runs_in_pyodide_with_the_same_bits(selenium):
    rng = np.random.default_rng(11)
    w = rng.standard_normal((6, 70)).astype(np.float32)
    for scheme in ("int8", "int4"):
        want = quantize(w, scheme)
        got, has_numpy = quantize_in_pyodide(selenium, w.tolist(), scheme)
        for q, s, g in got:
            assert q == want.q.to_bytes() and s == want.scale.to_bytes() and g == want.group_size
        print(f"\n{scheme}: quantized in Pyodide ({'NumPy' if has_numpy else 'pure Python'})")


@run_in_pyodide(packages=["webaccel"])
def captured_quantized_linear(selenium, case):
    """A captured ``gelu(linear(x, qw, b))`` on webgpu (one JS call per replay) against the
    lazy graph, on two inputs; the weight is a constant of the captured graph."""
    import array

    import webaccel as wa
    from webaccel.quant import QuantizedWeight

    out, k = case["shape"]
    m = case["x_shape"][0]
    q = wa.from_buffer(case["q"], (out, k), case["scheme"], device="webgpu")
    s = wa.from_buffer(case["s"], case["s_shape"], "float32", device="webgpu")
    qw = QuantizedWeight(q, s, case["group"])
    b = wa.from_buffer(case["b"], (out,), "float32", device="webgpu")
    f = wa.capture(lambda t: wa.linear(t, qw, b).gelu())
    diffs = []
    for seed in (1, 2):
        vals = array.array("f", [((i * 7919 + seed) % 1000) / 1000 - 0.5 for i in range(m * k)])
        x = wa.tensor(vals, device="webgpu").reshape(m, k)
        got, want = f(x).tolist(), wa.linear(x, qw, b).gelu().tolist()
        flat = [
            (a, c) for r1, r2 in zip(got, want, strict=True) for a, c in zip(r1, r2, strict=True)
        ]
        diffs.append(max(abs(a - c) for a, c in flat))
    (trace,) = f.traces.values()
    return diffs, trace.runs, [st.op for st in trace.program.steps]


def test_webgpu_capture_replays_a_quantized_linear(selenium):
    case = make_case("capture-int4", "int4", 384, 384, 6, act="gelu")
    diffs, runs, steps = captured_quantized_linear(selenium, payload([case])[0])
    assert runs == 2 and max(diffs) <= 1e-6, (diffs, runs)
    assert "linear_q" in steps, steps


# --- WebNN (headless shell) ----------------------------------------------------------------------

WEBNN_CASES = [
    make_case("webnn-int8-ffn-up-m12", "int8", 1536, 384, 12),
    make_case("webnn-int4-ffn-down-m5-gelu", "int4", 384, 1536, 5, act="gelu"),
    make_case("webnn-int4-partial-group", "int4", 37, 100, 5),
    make_case("webnn-int8-xT-nobias", "int8", 64, 96, 3, transpose_x=True, bias=False),
    make_case("webnn-int4-asym-qkv-m7", "int4", 384, 384, 7, asymmetric=True),
    make_case("webnn-int4-asym-partial-group", "int4", 37, 100, 5, asymmetric=True),
]


@pytest.mark.lanes("headless-shell")
def test_webnn_linear_q_matches_the_host_reference(selenium):
    results = run_linear_q(selenium, "webnn", payload(WEBNN_CASES))
    report = []
    for case, (got, text) in zip(WEBNN_CASES, results, strict=True):
        report.append(f"{case['name']}: max err / max |y| {check(case, got):.1e}")
        assert "partition 1" not in text and "webnn (home) supports it" in text, text
    print("\n" + "\n".join(report))


@pytest.mark.lanes("headless-shell")
def test_denied_on_webnn_falls_back_to_webgpu(selenium):
    cases = WEBNN_CASES[:2]
    results = run_linear_q(selenium, "webnn", payload(cases), ["linear_q"])
    for case, (got, text) in zip(cases, results, strict=True):
        check(case, got)
        assert "linear_q is denied on webnn -> webgpu" in text, text


@run_in_pyodide(packages=["webaccel"])
def without_dequantize_linear(selenium, cases):
    """A WebNN device whose opSupportLimits() lacks dequantizeLinear stands in for "webnn":
    linear_q that needs dequantizeLinear (int4, grouped scales) must be refused there
    (supports() from the limits) and placed on webgpu; per-row int8 needs only a cast."""
    import webaccel as wa
    from webaccel.backends.webnn.device import WebNNDevice
    from webaccel.device import adopt_device
    from webaccel.engine.placement import step_of
    from webaccel.quant import QuantizedWeight

    real = wa.get_device("webnn")
    wa.get_device("webgpu")
    limits = {k: v for k, v in real.limits.raw.items() if k != "dequantizeLinear"}
    adopt_device(WebNNDevice(real.ctx, limits))
    results = []
    try:
        for c in cases:
            out, k = c["shape"]
            m = c["x_shape"][0]
            q = wa.from_buffer(c["q"], (out, k), c["scheme"], device="webnn")
            s = wa.from_buffer(c["s"], c["s_shape"], "float32", device="webnn")
            x = wa.from_buffer(c["x"], (m, k), "float32", device="webnn")
            b = wa.from_buffer(c["b"], (out,), "float32", device="webnn")
            y = wa.linear(x, QuantizedWeight(q, s, c["group"]), b)
            why = wa.get_device("webnn").why_unsupported(step_of(y._node))
            if c["act"] == "gelu":
                y = y.gelu()
            text = wa.explain(y)  # before reading: explain shows what is pending
            results.append((bytes(y.read()), text, why))
    finally:
        adopt_device(real)
    return results


@pytest.mark.lanes("headless-shell")
def test_webnn_without_dequantize_linear_places_linear_q_on_webgpu(selenium):
    cases = [c for c in WEBNN_CASES if not c["transpose_x"]][:2]
    assert [c["scheme"] for c in cases] == ["int8", "int4"]
    results = without_dequantize_linear(selenium, payload(cases))
    for case, (got, text, why) in zip(cases, results, strict=True):
        check(case, got)
        if case["scheme"] == "int8":  # one scale per row: cast + gemm + mul, no dequantizeLinear
            assert why is None and "-> webgpu" not in text, (why, text)
            continue
        assert why is not None and "dequantizeLinear" in why, why
        assert "webnn does not support linear_q" in text and "-> webgpu" in text, text

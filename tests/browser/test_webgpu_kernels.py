"""The WGSL kernels against float64 NumPy references computed on the host.

NumPy is not in the 314 lane's Pyodide, so the host builds the inputs (bytes + a strided view
description), ships many cases to one ``run_in_pyodide`` call, gets the output bytes back and
compares. Tolerances: elementwise f32 rtol 1e-5 / atol 1e-5 (transcendentals 2e-5); matmul and
conv rtol 1e-4 and atol 3e-4 * sqrt(K) (f32 accumulation over K terms); reductions and norms
rtol 1e-5 / atol 1e-4.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided
from pytest_pyodide import run_in_pyodide

NP_DTYPES = {"float32": np.float32, "int32": np.int32, "float16": np.float16, "bool": np.int32}
RNG = np.random.default_rng(1234)


@run_in_pyodide(packages=["webaccel"])
async def run_cases(selenium, cases):
    import time

    from webaccel.backends.webgpu import GPUContext, StridedView, kernels

    ctx = await GPUContext.create_async()
    results = []
    for case in cases:
        t0 = time.perf_counter()
        views, handles = {}, []
        for name, (data, dtype, shape, strides, offset) in case["inputs"].items():
            h = ctx.alloc(len(data))
            ctx.write(h, data)
            handles.append(h)
            views["@" + name] = StridedView(h, tuple(shape), tuple(strides), offset, dtype)

        def resolve(v, views=views):
            if isinstance(v, str) and v.startswith("@"):
                return views[v]
            if isinstance(v, list):
                return [resolve(x) for x in v]
            return v

        try:
            batch = ctx.batch()
            args = [resolve(a) for a in case["args"]]
            kwargs = {k: resolve(v) for k, v in case["kwargs"].items()}
            out = getattr(kernels, case["op"])(batch, *args, **kwargs)
            batch.submit()
            data = await ctx.read_async(out.buffer, out.nbytes)
            results.append((bytes(data), list(out.shape), out.dtype, time.perf_counter() - t0))
            ctx.release(out.buffer)
        except Exception as exc:
            results.append((None, None, None, f"{type(exc).__name__}: {exc}"))
        for h in handles:
            ctx.release(h)
    leaks = ctx.live_buffers
    ctx.destroy()
    return results, leaks


class Cases:
    """Collects cases with their references; ``check`` runs them all in one browser call."""

    def __init__(self):
        self.cases, self.expected, self.seconds = [], [], []

    @staticmethod
    def tensor(base, shape=None, strides=None, offset=0):
        """(wire spec, NumPy view): a strided view (element strides) over a flat base array."""
        base = np.ascontiguousarray(base).reshape(-1)
        if shape is None:
            shape, strides = (base.size,), (1,)
        item = base.dtype.itemsize
        if 0 not in shape:  # a case must stay inside its buffer (as_strided does not check)
            lo = offset + sum((d - 1) * s for d, s in zip(shape, strides, strict=True) if s < 0)
            hi = offset + sum((d - 1) * s for d, s in zip(shape, strides, strict=True) if s > 0)
            assert 0 <= lo and hi < base.size, f"view {shape}/{strides}+{offset} leaves its base"
        view = as_strided(base[offset:], shape, [s * item for s in strides])
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32"}.get(
            base.dtype, "float16"
        )
        return (base.tobytes(), dtype, list(shape), list(strides), offset), view

    @classmethod
    def dense(cls, arr):
        arr = np.ascontiguousarray(arr)
        strides = [s // arr.itemsize for s in arr.strides]
        return cls.tensor(arr.reshape(-1), arr.shape, strides)

    def add(self, name, op, inputs, args, kwargs, expected, rtol=1e-5, atol=1e-5, dtype=None):
        self.cases.append({"op": op, "inputs": inputs, "args": args, "kwargs": kwargs})
        self.expected.append((name, np.asarray(expected), rtol, atol, dtype))

    def check(self, selenium):
        results, leaks = run_cases(selenium, self.cases)
        failures = []
        for (name, exp, rtol, atol, dtype), (data, shape, got_dtype, err) in zip(
            self.expected, results, strict=True
        ):
            if isinstance(err, str):
                failures.append(f"{name}: {err}")
                continue
            self.seconds.append((err, name))
            got = np.frombuffer(data, NP_DTYPES[got_dtype]).reshape(shape)
            if dtype is not None and got_dtype != dtype:
                failures.append(f"{name}: dtype {got_dtype} != {dtype}")
            if got.shape != exp.shape:
                failures.append(f"{name}: shape {got.shape} != {exp.shape}")
                continue
            want = exp.astype(np.float64)
            g = got.astype(np.float64)
            same_special = (np.isnan(want) & np.isnan(g)) | (np.isinf(want) & (want == g))
            finite = np.isfinite(want)
            close = np.isclose(g, want, rtol=rtol, atol=atol) & finite
            bad = ~(same_special | close)
            if bad.any():
                i = np.argwhere(bad)[0]
                err = np.max(np.abs(g[finite] - want[finite])) if finite.any() else 0.0
                failures.append(
                    f"{name}: {bad.sum()}/{bad.size} wrong; at {tuple(i)} got {g[tuple(i)]} "
                    f"want {want[tuple(i)]}; max abs err {err:.3g}"
                )
        print("slowest cases:", sorted(self.seconds, reverse=True)[:8])
        assert leaks == 0, f"{leaks} buffers still live after the cases"
        assert not failures, "\n".join(failures)


def f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# --- elementwise ----------------------------------------------------------------------------

_erf = np.vectorize(math.erf)


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


UNARY_REFS = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "neg": np.negative,
    "abs": np.abs,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "erf": _erf,
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
}
SPECIALS = np.array(
    [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1e-7,
        -1e-7,
        3.0,
        -3.0,
        9.5,
        -9.5,
        30.0,
        -30.0,
        88.0,
        89.0,
        -104.0,
        1e30,
        -1e30,
        np.inf,
        -np.inf,
        np.nan,
    ],
    dtype=np.float32,
)


def _f32_ref(fn, *xs):
    with np.errstate(all="ignore"):
        return np.asarray(fn(*[x.astype(np.float64) for x in xs])).astype(np.float32)


def test_elementwise(selenium_module_scope):
    c = Cases()
    x = np.concatenate([SPECIALS, f32(300, scale=3.0)])
    for op, ref in UNARY_REFS.items():
        spec, v = c.dense(x)  # negatives too: log/sqrt of them must give NaN as in NumPy
        tol = 2e-5 if op in ("exp", "log", "sigmoid", "tanh", "erf", "gelu", "gelu_tanh") else 1e-5
        c.add(
            f"unary {op}",
            "elementwise",
            {"x": spec},
            [(op, ("in", 0)), ["@x"]],
            {},
            _f32_ref(ref, v),
            rtol=tol,
            atol=tol,
        )
    # erf: max abs error <= 1e-6 on a dense grid
    grid = np.linspace(-6, 6, 4001, dtype=np.float32)
    spec, v = c.dense(grid)
    c.add(
        "erf grid 1e-6",
        "elementwise",
        {"x": spec},
        [("erf", ("in", 0)), ["@x"]],
        {},
        _f32_ref(_erf, v),
        rtol=0,
        atol=1e-6,
    )
    # binary ops with broadcasting, specials on both sides
    a = np.concatenate([SPECIALS, f32(11, scale=2)]).reshape(4, 8)
    b = np.concatenate([SPECIALS[::-1][:8]]).reshape(1, 8)
    sa, va = c.dense(a)
    sb, vb = c.dense(b)
    binary = {
        "add": np.add,
        "sub": np.subtract,
        "mul": np.multiply,
        "div": np.divide,
        "maximum": np.maximum,
        "minimum": np.minimum,
        "pow": np.power,
    }
    for op, ref in binary.items():
        c.add(
            f"binary {op}",
            "elementwise",
            {"a": sa, "b": sb},
            [(op, ("in", 0), ("in", 1)), ["@a", "@b"]],
            {},
            _f32_ref(ref, va, vb),
            rtol=2e-5,
            atol=1e-5,
        )
    for op, ref in {
        "lt": np.less,
        "ge": np.greater_equal,
        "eq": np.equal,
        "ne": np.not_equal,
    }.items():
        c.add(
            f"compare {op}",
            "elementwise",
            {"a": sa, "b": sb},
            [(op, ("in", 0), ("in", 1)), ["@a", "@b"]],
            {},
            ref(va, vb).astype(np.int32),
            dtype="bool",
        )
    # pow with negative bases and integral exponents, and constant exponents
    base = np.array([-2.0, -0.5, 0.0, 2.0, 3.0, -3.0], np.float32)
    sp, vp = c.dense(base)
    for e in (2.0, 3.0, -1.0, 0.5, 2.5):
        c.add(
            f"pow const {e}",
            "elementwise",
            {"x": sp},
            [("pow", ("in", 0), e), ["@x"]],
            {},
            _f32_ref(lambda t, e=e: np.power(t, e), vp),
            rtol=2e-5,
        )
    # a fused chain over 4 strided inputs: transposed, sliced, stride-0 broadcast, reversed
    base1 = f32(6 * 5)
    s1, v1 = c.tensor(base1, (5, 6), (1, 5))  # transposed (6, 5) -> (5, 6)
    base2 = f32(40)
    s2, v2 = c.tensor(base2, (5, 6), (8, 1), 2)  # columns 2..7 of a (5, 8): in bounds
    s3, v3 = c.tensor(f32(6), (5, 6), (0, 1))  # broadcast row
    base4 = f32(5)
    s4, v4 = c.tensor(base4, (5, 1), (-1, 1), 4)  # reversed column
    expr = (
        "where",
        ("gt", ("in", 0), 0.0),
        ("gelu", ("add", ("mul", ("in", 1), ("in", 2)), ("in", 3))),
        ("tanh", ("sub", ("in", 0), ("exp", ("in", 3)))),
    )

    def chain(a, b, d, e):
        return np.where(a > 0, _gelu(b * d + e), np.tanh(a - np.exp(e)))

    c.add(
        "fused chain strided",
        "elementwise",
        {"a": s1, "b": s2, "d": s3, "e": s4},
        [expr, ["@a", "@b", "@d", "@e"]],
        {},
        _f32_ref(chain, v1, v2, v3, v4),
        rtol=2e-5,
        atol=2e-5,
    )
    # rank 8 with size-1 dims and a broadcast
    r8 = f32(2, 1, 3, 1, 2, 3, 1, 2)
    s8, v8 = c.dense(r8)
    sb8, vb8 = c.dense(f32(1, 1, 3, 1, 1, 3, 1, 1))
    c.add(
        "rank8 broadcast",
        "elementwise",
        {"a": s8, "b": sb8},
        [("sub", ("in", 0), ("in", 1)), ["@a", "@b"]],
        {},
        _f32_ref(np.subtract, v8, vb8),
    )
    # int32: arithmetic, where, cast both ways, weak python scalars
    ia = RNG.integers(-50, 50, (7, 3)).astype(np.int32)
    ib = RNG.integers(1, 9, (3,)).astype(np.int32)
    sia, via = c.dense(ia)
    sib, vib = c.dense(ib)
    c.add(
        "int32 arith",
        "elementwise",
        {"a": sia, "b": sib},
        [("add", ("mul", ("in", 0), 3), ("maximum", ("in", 1), ("in", 0))), ["@a", "@b"]],
        {},
        via * 3 + np.maximum(vib, via),
        dtype="int32",
    )
    c.add(
        "int32 mod",
        "elementwise",
        {"a": sia, "b": sib},
        [("mod", ("in", 0), ("in", 1)), ["@a", "@b"]],
        {},
        np.mod(via, vib),
        dtype="int32",
    )
    # int32 / int32: ONNX's integer division (truncates toward zero; x / 0 gives 0)
    da = np.array([7, -7, 7, -7, 0, 5, -5, 2**31 - 1, -(2**31), -(2**31), 123456789], np.int32)
    db = np.array([2, 2, -2, -2, 5, 0, 0, -1, -1, 1, 10], np.int32)
    sda, vda = c.dense(da)
    sdb, vdb = c.dense(db)
    q = np.zeros(da.shape, np.int64)
    nz = vdb != 0
    a64, b64 = vda.astype(np.int64)[nz], vdb.astype(np.int64)[nz]
    q[nz] = np.sign(a64) * np.sign(b64) * (np.abs(a64) // np.abs(b64))
    c.add(
        "int32 div truncates",
        "elementwise",
        {"a": sda, "b": sdb},
        [("div", ("in", 0), ("in", 1)), ["@a", "@b"]],
        {},
        q.astype(np.int32),  # INT_MIN / -1 wraps to INT_MIN
        rtol=0,
        atol=0,
        dtype="int32",
    )
    c.add(
        "int32 div weak int",
        "elementwise",
        {"a": sia},
        [("div", ("in", 0), -7), ["@a"]],
        {},
        (np.sign(via) * -1 * (np.abs(via) // 7)).astype(np.int32),
        rtol=0,
        atol=0,
        dtype="int32",
    )
    c.add(
        "int32 / float true div",
        "elementwise",
        {"a": sia, "b": sib},
        [("div", ("in", 0), ("cast", ("in", 1), "float32")), ["@a", "@b"]],
        {},
        (via / vib).astype(np.float32),
        dtype="float32",
    )
    fx = np.array([-2.7, -0.5, 0.5, 2.7, 1e9, -7.0], np.float32)
    sfx, vfx = c.dense(fx)
    c.add(
        "cast f32->i32",
        "copy",
        {"x": sfx},
        ["@x"],
        {"dtype": "int32"},
        vfx.astype(np.int32),
        dtype="int32",
    )
    c.add(
        "cast i32->f32",
        "copy",
        {"x": sia},
        ["@x"],
        {"dtype": "float32"},
        via.astype(np.float32),
        dtype="float32",
    )
    cond = (RNG.random((7, 3)) > 0.5).astype(np.int32)
    sc, vc = c.dense(cond)
    c.add(
        "where int",
        "where",
        {"c": sc, "a": sia, "b": sib},
        ["@c", "@a", "@b"],
        {},
        np.where(vc != 0, via, vib),
        dtype="int32",
    )
    c.add("full", "full", {}, [[2, 3], 1.5], {}, np.full((2, 3), 1.5, np.float32))
    c.add("full int", "full", {}, [[4], -7, "int32"], {}, np.full(4, -7, np.int32), dtype="int32")
    # float16 storage: f16 in, f16 out (odd length), computed in f32
    h = (RNG.standard_normal(37) * 4).astype(np.float16)
    sh, vh = c.tensor(h, (37,), (1,))
    c.add(
        "f16 -> f16 gelu",
        "elementwise",
        {"x": sh},
        [("gelu", ("in", 0)), ["@x"]],
        {"out_dtype": "float16"},
        _gelu(vh.astype(np.float64)).astype(np.float16),
        rtol=1e-3,
        atol=1e-3,
        dtype="float16",
    )
    # one-element f16 outputs (coalesced to shape (1,), stride 0): 0-d, and (1, 1) from a view
    c.add(
        "full f16 0-d",
        "full",
        {},
        [[], -2.5, "float16"],
        {},
        np.array(-2.5, np.float16),
        rtol=0,
        atol=0,
        dtype="float16",
    )
    sone, vone = c.tensor(f32(8), (1, 1), (5, 3), 3)
    c.add(
        "copy (1, 1) view -> f16",
        "copy",
        {"x": sone},
        ["@x"],
        {"dtype": "float16"},
        vone.astype(np.float16),
        rtol=0,
        atol=0,
        dtype="float16",
    )
    sh2, vh2 = c.tensor(h, (4, 9), (1, 4), 1)  # strided f16 input, odd offset
    c.add(
        "f16 strided -> f32",
        "copy",
        {"x": sh2},
        ["@x"],
        {"dtype": "float32"},
        vh2.astype(np.float32),
        dtype="float32",
    )
    c.check(selenium_module_scope)


# --- data movement --------------------------------------------------------------------------


def test_copy_concat_gather(selenium_module_scope):
    c = Cases()
    base = f32(4 * 6 * 5)
    s, v = c.tensor(base, (5, 6, 4), (1, 5, 30))  # a full permutation
    c.add("copy permuted", "copy", {"x": s}, ["@x"], {}, v.copy())
    s, v = c.tensor(base, (3, 4), (-10, 2), 100)  # negative stride, step 2
    c.add("copy negative stride", "copy", {"x": s}, ["@x"], {}, v.copy())
    s, v = c.tensor(f32(3), (4, 3, 2), (0, 1, 0))  # expand
    c.add("copy expand", "copy", {"x": s}, ["@x"], {}, v.copy())
    a, _b = f32(2, 3, 5), f32(2, 1, 5)
    sa, va = c.dense(a)
    sb, vb = c.tensor(f32(10), (2, 1, 5), (1, 5, 2))
    c.add(
        "concat axis1",
        "concat",
        {"a": sa, "b": sb},
        [["@a", "@b", "@a"], 1],
        {},
        np.concatenate([va, vb, va], axis=1),
    )
    data = f32(7, 4)
    sd, vd = c.dense(data)
    idx = np.array([[0, -1, 3], [6, 2, -7]], np.int32)
    si, vi = c.dense(idx)
    c.add(
        "gather axis0",
        "gather",
        {"d": sd, "i": si},
        ["@d", "@i"],
        {"axis": 0},
        np.take(vd, vi, axis=0),
    )
    idx1 = np.array([3, 0, -2, 1, 1], np.int32)
    si1, vi1 = c.dense(idx1)
    sdt, vdt = c.tensor(data, (4, 7), (1, 4))  # transposed data
    c.add(
        "gather axis1 transposed",
        "gather",
        {"d": sdt, "i": si1},
        ["@d", "@i"],
        {"axis": 1},
        np.take(vdt, np.where(vi1 < 0, vi1 + 7, vi1), axis=1),
    )
    emb = RNG.integers(-100, 100, (10, 3)).astype(np.int32)
    se, ve = c.dense(emb)
    c.add(
        "gather int32",
        "gather",
        {"d": se, "i": si1},
        ["@d", "@i"],
        {"axis": 0},
        np.take(ve, vi1, axis=0),
        dtype="int32",
    )
    c.check(selenium_module_scope)


# --- matmul ---------------------------------------------------------------------------------


def _mm_tol(k):
    return 1e-4, 1e-4 * math.sqrt(k) * 3


def test_matmul(selenium_module_scope):
    c = Cases()
    for m, k, n in [
        (1, 1, 1),
        (3, 5, 7),
        (17, 33, 9),
        (64, 64, 64),
        (127, 65, 33),
        (1, 128, 3),
        (33, 4, 68),
    ]:
        sa, va = c.dense(f32(m, k))
        sb, vb = c.dense(f32(k, n))
        rtol, atol = _mm_tol(k)
        c.add(
            f"mm {m}x{k}x{n}",
            "matmul",
            {"a": sa, "b": sb},
            ["@a", "@b"],
            {},
            va.astype(np.float64) @ vb,
            rtol=rtol,
            atol=atol,
        )
    # transposed operands (no copies), batch broadcast, bias + activations
    m, k, n = 19, 24, 21
    sat, vat = c.tensor(f32(k * m), (m, k), (1, m))  # A^T view
    sbt, vbt = c.tensor(f32(n * k), (k, n), (1, k))  # B^T view (linear: x @ W^T)
    rtol, atol = _mm_tol(k)
    c.add(
        "mm transposed both",
        "matmul",
        {"a": sat, "b": sbt},
        ["@a", "@b"],
        {},
        vat.astype(np.float64) @ vbt,
        rtol=rtol,
        atol=atol,
    )
    sa3, va3 = c.dense(f32(3, 1, m, k))
    sb3, vb3 = c.dense(f32(2, k, n))
    c.add(
        "mm batch broadcast",
        "matmul",
        {"a": sa3, "b": sb3},
        ["@a", "@b"],
        {},
        np.matmul(va3.astype(np.float64), vb3),
        rtol=rtol,
        atol=atol,
    )
    sbias, vbias = c.dense(f32(n))
    sx, vx = c.dense(f32(m, k))
    ref = vx.astype(np.float64) @ vbt + vbias
    for act, fn in [(None, lambda t: t), ("relu", lambda t: np.maximum(t, 0)), ("gelu", _gelu)]:
        c.add(
            f"linear bias {act}",
            "matmul",
            {"x": sx, "w": sbt, "bias": sbias},
            ["@x", "@w"],
            {"bias": "@bias", "activation": act},
            fn(ref),
            rtol=rtol,
            atol=atol,
        )
    # every tile config on odd sizes (scalar loads); aligned sizes take the vec4 / dot paths
    sa, va = c.dense(f32(37, 29))
    sb, vb = c.dense(f32(29, 41))
    configs = ["64x64x16_4x4", "32x32x16_4x4", "64x64x8_8x8", "16x64x16_4x4"]
    configs += ["direct_8x8_4x4", "direct_8x8_8x8", "direct_8x8_8x16", "direct_64x1_1x4"]
    for cfg in configs:
        c.add(
            f"mm config {cfg}",
            "matmul",
            {"a": sa, "b": sb},
            ["@a", "@b"],
            {"config": cfg},
            va.astype(np.float64) @ vb,
            *_mm_tol(29),
        )
    m, k, n = 36, 28, 44
    sa, va = c.dense(f32(m, k))
    sb, vb = c.dense(f32(k, n))
    sat, vat = c.tensor(f32(k * m), (m, k), (1, m))  # A^T view, aligned (m4 loads)
    sbt, vbt = c.tensor(f32(n * k), (k, n), (1, k))  # B^T view, aligned (k4 loads / dot)
    for cfg in ("64x64x16_4x4", "direct_8x8_8x8"):
        for (na, xa, ea), (nb_, xb, eb) in [
            (("a", sa, va), ("b", sb, vb)),
            (("a", sa, va), ("bt", sbt, vbt)),
            (("at", sat, vat), ("b", sb, vb)),
        ]:
            c.add(
                f"mm aligned {cfg} {na}@{nb_}",
                "matmul",
                {"a": xa, "b": xb},
                ["@a", "@b"],
                {"config": cfg},
                ea.astype(np.float64) @ eb,
                *_mm_tol(k),
            )
    # int32: exact i32 accumulation (wrapping as NumPy's int32 matmul), any strides, batch,
    # bias and relu; the shared-memory config name falls back to a direct one
    ia = RNG.integers(-9, 9, (5, 7)).astype(np.int32)
    ib = RNG.integers(-9, 9, (7, 3)).astype(np.int32)
    sia, via = c.dense(ia)
    sib, vib = c.dense(ib)
    imm = via.astype(np.int64) @ vib
    for cfg in (None, "64x64x16_4x4", "direct_8x8_8x8"):
        c.add(
            f"mm int32 {cfg}",
            "matmul",
            {"a": sia, "b": sib},
            ["@a", "@b"],
            {"config": cfg},
            imm.astype(np.int32),
            rtol=0,
            atol=0,
            dtype="int32",
        )
    sibias, vibias = c.dense(RNG.integers(-50, 50, (3,)).astype(np.int32))
    c.add(
        "mm int32 bias relu",
        "matmul",
        {"a": sia, "b": sib, "bias": sibias},
        ["@a", "@b"],
        {"bias": "@bias", "activation": "relu"},
        np.maximum(imm + vibias, 0).astype(np.int32),
        rtol=0,
        atol=0,
        dtype="int32",
    )
    m, k, n = 19, 33, 10
    sit, vit = c.tensor(RNG.integers(-(2**20), 2**20, k * m).astype(np.int32), (m, k), (1, m))
    sib3, vib3 = c.dense(RNG.integers(-(2**20), 2**20, (2, k, n)).astype(np.int32))
    c.add(
        "mm int32 transposed batch wraps",
        "matmul",
        {"a": sit, "b": sib3},
        ["@a", "@b"],
        {},
        np.matmul(vit.astype(np.int64), vib3).astype(np.int32),  # mod 2^32, as int32 does
        rtol=0,
        atol=0,
        dtype="int32",
    )
    sfa, vfa = c.dense(f32(5, 7))
    c.add(
        "mm f32 @ int32",
        "matmul",
        {"a": sfa, "b": sib},
        ["@a", "@b"],
        {},
        vfa.astype(np.float64) @ vib,
        *_mm_tol(7),
        dtype="float32",
    )
    # large values and NaN propagate
    big = f32(4, 4)
    big[0, 0], big[1, 1], big[2, 2] = 1e30, np.nan, np.inf
    sg, vg = c.dense(big)
    se, ve = c.dense(np.eye(4, dtype=np.float32))
    c.add(
        "mm specials", "matmul", {"a": sg, "b": se}, ["@a", "@b"], {}, _f32_ref(np.matmul, vg, ve)
    )
    c.check(selenium_module_scope)


# --- reductions, softmax, norms -------------------------------------------------------------


def test_reductions_and_rows(selenium_module_scope):
    c = Cases()
    x = f32(3, 5, 130)
    sx, vx = c.dense(x)
    refs = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}
    for op, ref in refs.items():
        for axes, keep in [((2,), False), ((0, 2), True), ((1,), False), (None, False)]:
            c.add(
                f"{op} axes={axes} keep={keep}",
                "reduce",
                {"x": sx},
                ["@x", op],
                {"axes": axes, "keepdims": keep},
                ref(vx.astype(np.float64), axis=axes, keepdims=keep),
                rtol=1e-5,
                atol=1e-4,
            )
    st, vt = c.tensor(f32(7 * 300), (300, 7), (1, 300))  # reduce a transposed view
    c.add(
        "sum transposed axis0",
        "reduce",
        {"x": st},
        ["@x", "sum"],
        {"axes": 0},
        vt.astype(np.float64).sum(0),
        atol=1e-4,
    )
    spec = f32(2, 200)
    spec[0, 5], spec[1, 7] = np.nan, 1e30
    ss, vs = c.dense(spec)
    c.add("max nan", "reduce", {"x": ss}, ["@x", "max"], {"axes": 1}, np.max(vs, axis=1))
    ints = RNG.integers(-1000, 1000, (4, 9)).astype(np.int32)
    si, vi = c.dense(ints)
    c.add("sum int32", "reduce", {"x": si}, ["@x", "sum"], {"axes": 1}, vi.sum(1), dtype="int32")
    c.add("max int32", "reduce", {"x": si}, ["@x", "max"], {"axes": 0}, vi.max(0), dtype="int32")

    def softmax_ref(v, axis):
        v = v.astype(np.float64)
        e = np.exp(v - v.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    sm = f32(4, 33, 6, scale=5)
    ssm, vsm = c.dense(sm)
    for axis in (-1, 1, 0):
        c.add(
            f"softmax axis {axis}",
            "softmax",
            {"x": ssm},
            ["@x"],
            {"axis": axis},
            softmax_ref(vsm, axis),
        )
    c.add(
        "log_softmax",
        "softmax",
        {"x": ssm},
        ["@x"],
        {"axis": 1, "log": True},
        np.log(softmax_ref(vsm, 1)),
        atol=1e-4,
    )
    large = f32(3, 9) * 1e4
    large[1, :] = -1e30
    large[2, 3] = 1e30
    sl, vl = c.dense(large)
    c.add("softmax large", "softmax", {"x": sl}, ["@x"], {}, softmax_ref(vl, -1))
    ln = (f32(5, 3, 40) + 1000.0).astype(np.float32)  # large mean: needs the two-pass variance
    sln, vln = c.dense(ln)
    sg, vg = c.dense(f32(3, 40))
    sb, vb = c.dense(f32(3, 40))

    def ln_ref(v, g, b, k, eps=1e-5):
        v = v.astype(np.float64)
        ax = tuple(range(v.ndim - k, v.ndim))
        mu = v.mean(axis=ax, keepdims=True)
        var = ((v - mu) ** 2).mean(axis=ax, keepdims=True)
        return (v - mu) / np.sqrt(var + eps) * g + b

    c.add(
        "layer_norm 2 axes",
        "layer_norm",
        {"x": sln, "g": sg, "b": sb},
        ["@x"],
        {"gamma": "@g", "beta": "@b", "axes": 2},
        ln_ref(vln, vg, vb, 2),
        atol=2e-4,
    )
    st, vt = c.tensor(f32(40 * 6), (6, 40), (1, 6))  # normalize a strided axis
    sg1, vg1 = c.dense(f32(40))
    c.add(
        "layer_norm strided",
        "layer_norm",
        {"x": st, "g": sg1},
        ["@x"],
        {"gamma": "@g"},
        ln_ref(vt, vg1, 0.0, 1),
        atol=1e-4,
    )
    c.add(
        "rms_norm",
        "layer_norm",
        {"x": st, "g": sg1},
        ["@x"],
        {"gamma": "@g", "rms": True},
        vt / np.sqrt((vt.astype(np.float64) ** 2).mean(-1, keepdims=True) + 1e-5) * vg1,
        atol=1e-4,
    )
    bx = f32(2, 3, 4, 5)
    sbx, vbx = c.dense(bx)
    mean, var = f32(3), np.abs(f32(3)) + 0.1
    gamma, beta = f32(3), f32(3)
    ins = {"x": sbx}
    for name, arr in (("m", mean), ("v", var), ("g", gamma), ("b", beta)):
        ins[name] = c.dense(arr)[0]
    r = lambda a: a.reshape(1, 3, 1, 1).astype(np.float64)  # noqa: E731
    c.add(
        "batch_norm",
        "batch_norm",
        ins,
        ["@x", "@m", "@v", "@g", "@b"],
        {"eps": 1e-3},
        (vbx - r(mean)) / np.sqrt(r(var) + 1e-3) * r(gamma) + r(beta),
        atol=1e-5,
    )
    c.check(selenium_module_scope)


# --- conv2d and pooling ---------------------------------------------------------------------


def conv_ref(x, w, b, stride, pads, dil, groups):
    """NCHW direct convolution in float64."""
    n, _cin, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pl + pr - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, cout, oh, ow))
    og = cout // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[
                    :,
                    g * cg : (g + 1) * cg,
                    i * dil[0] : i * dil[0] + stride[0] * (oh - 1) + 1 : stride[0],
                    j * dil[1] : j * dil[1] + stride[1] * (ow - 1) + 1 : stride[1],
                ]
                wt = w[g * og : (g + 1) * og, :, i, j].astype(np.float64)
                out[:, g * og : (g + 1) * og] += np.einsum("nchw,oc->nohw", patch, wt)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def pool_ref(x, kind, k, s, pads, count_include_pad=False):
    n, c, h, w = x.shape
    pt, pl, pb, pr = pads
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    valid = np.pad(np.ones((h, w)), ((pt, pb), (pl, pr)))
    oh, ow = (h + pt + pb - k[0]) // s[0] + 1, (w + pl + pr - k[1]) // s[1] + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                cnt = (
                    k[0] * k[1]
                    if count_include_pad
                    else valid[i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]].sum()
                )
                out[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
    return out


def test_conv_and_pool(selenium_module_scope):
    c = Cases()
    configs = [
        # (n, cin, h, w, cout, k, stride, padding, dil, groups)
        (1, 3, 9, 9, 4, (3, 3), (1, 1), 1, (1, 1), 1),
        (2, 4, 8, 7, 6, (3, 2), (2, 1), (1, 0, 2, 1), (1, 1), 2),
        (1, 6, 10, 10, 6, (3, 3), (1, 1), "same", (2, 2), 6),  # depthwise, dilated, same
        (1, 5, 6, 6, 8, (1, 1), (1, 1), 0, (1, 1), 1),  # pointwise
        (1, 3, 7, 8, 5, (4, 4), (3, 2), "same", (1, 1), 1),
    ]
    from webaccel.backends.webgpu.kernels import conv_pads

    for i, (n, cin, h, w, cout, k, s, p, d, g) in enumerate(configs):
        x = f32(n, cin, h, w)
        wt = f32(cout, cin // g, *k)
        bias = f32(cout)
        pads = conv_pads(p, (h, w), k, s, d)
        ref = conv_ref(x, wt, bias, s, pads, d, g)
        kc = cin // g * k[0] * k[1]
        rtol, atol = _mm_tol(kc)
        sx, _ = c.dense(x)
        sw, _ = c.dense(wt)
        sb, _ = c.dense(bias)
        kw = {"bias": "@b", "stride": list(s), "padding": p, "dilation": list(d), "groups": g}
        c.add(
            f"conv{i} NCHW",
            "conv2d",
            {"x": sx, "w": sw, "b": sb},
            ["@x", "@w"],
            kw,
            ref,
            rtol=rtol,
            atol=atol,
        )
        sxh, _ = c.dense(x.transpose(0, 2, 3, 1))
        c.add(
            f"conv{i} NHWC",
            "conv2d",
            {"x": sxh, "w": sw, "b": sb},
            ["@x", "@w"],
            {**kw, "layout": "NHWC", "activation": "relu"},
            np.maximum(ref, 0).transpose(0, 2, 3, 1),
            rtol=rtol,
            atol=atol,
        )
    x = f32(2, 3, 9, 8)
    x[0, 0, 0, 0] = np.nan
    sx, vx = c.dense(x)
    sxh, _ = c.dense(x.transpose(0, 2, 3, 1))
    for kind in ("max", "avg"):
        for k, s, p in [((3, 3), (2, 2), (1, 1, 1, 1)), ((2, 3), (1, 2), (0, 1, 1, 0))]:
            ref = pool_ref(vx, kind, k, s, p)
            c.add(
                f"{kind}pool {k} {s} {p}",
                "pool2d",
                {"x": sx},
                ["@x", kind, list(k)],
                {"stride": list(s), "padding": list(p)},
                ref,
            )
            c.add(
                f"{kind}pool NHWC {k}",
                "pool2d",
                {"x": sxh},
                ["@x", kind, list(k)],
                {"stride": list(s), "padding": list(p), "layout": "NHWC"},
                ref.transpose(0, 2, 3, 1),
            )
    c.add(
        "avgpool count_include_pad",
        "pool2d",
        {"x": sx},
        ["@x", "avg", [3, 3]],
        {"stride": [2, 2], "padding": [1, 1, 1, 1], "count_include_pad": True},
        pool_ref(vx, "avg", (3, 3), (2, 2), (1, 1, 1, 1), True),
    )
    c.check(selenium_module_scope)


@pytest.fixture(scope="module", autouse=True)
def _webaccel_loaded(selenium_module_scope):
    # SwiftShader compiles and runs WGSL on the CPU: one call of many cases takes seconds.
    selenium_module_scope.set_script_timeout(240)
    selenium_module_scope.load_package(["webaccel"])

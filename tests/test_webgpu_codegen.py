"""The WebGPU backend's pure-Python parts on CPython: views, shape math, pool, WGSL generation."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from webaccel import shapes
from webaccel.backends.webgpu import kernels
from webaccel.backends.webgpu.kernels import expr, launch, matmul_common, matmul_q, shader
from webaccel.backends.webgpu.kernels.conv import im2col_params, im2col_source
from webaccel.backends.webgpu.kernels.elementwise import elementwise_params, elementwise_source
from webaccel.backends.webgpu.kernels.gather import gather_params, gather_source
from webaccel.backends.webgpu.kernels.matmul import _load_mode
from webaccel.backends.webgpu.kernels.matmul_direct import (
    DIRECT_MODES,
    MATMUL_DIRECT_CONFIGS,
    matmul_direct_source,
)
from webaccel.backends.webgpu.kernels.matmul_reg import matmul_reg_source
from webaccel.backends.webgpu.kernels.matmul_subgroup import matmul_subgroup_source
from webaccel.backends.webgpu.kernels.matmul_tiled import MATMUL_CONFIGS, matmul_source
from webaccel.backends.webgpu.kernels.pool2d import pool2d_params, pool2d_source
from webaccel.backends.webgpu.kernels.reduce import REDUCE_OPS, reduce_params, reduce_source
from webaccel.backends.webgpu.kernels.rows import ROW_OPS, rows_params, rows_source
from webaccel.backends.webgpu.kernels.uniforms import Uniforms
from webaccel.backends.webgpu.pool import BufferPool, bucket_size
from webaccel.backends.webgpu.runtime import GPUContext
from webaccel.backends.webgpu.views import StridedView
from webaccel.view import View


def test_buckets_round_up_by_at_most_a_quarter():
    assert bucket_size(1) == 256 and bucket_size(256) == 256
    sizes = [bucket_size(n) for n in range(257, 1 << 20, 997)]
    for n, b in zip(range(257, 1 << 20, 997), sizes, strict=True):
        assert n <= b <= n * 1.25 + 64 and b % 64 == 0
    assert len({bucket_size(n) for n in range((1 << 16) + 1, (1 << 17) + 1)}) == 4  # per octave


def test_pool_counts_reuse_and_caps_pooled_bytes():
    made, destroyed = [], []

    def create(size):
        made.append(size)
        return object()

    pool = BufferPool(create, destroyed.append, cap_bytes=4096)
    a, sa = pool.acquire(1000)
    pool.give_back(a, sa)
    b, _ = pool.acquire(900)
    assert b is a and pool.reused_buffers == 1 and pool.created_buffers == 1
    big, sbig = pool.acquire(8000)
    pool.give_back(big, sbig)  # over the cap: destroyed at once
    assert destroyed == [big] and pool.pooled_bytes == 0
    pool.give_back(b, 1024)
    assert (pool.live_bytes, pool.live_buffers, pool.pooled_bytes) == (0, 0, 1024)
    pool.trim()
    assert pool.pooled_bytes == 0 and pool.destroyed_buffers == 2


def _np_view(shape, strides, offset=0, size=4096):
    base = np.arange(size, dtype=np.float32)
    return np.lib.stride_tricks.as_strided(base[offset:], shape, [s * 4 for s in strides])


@pytest.mark.parametrize(
    ("shape", "strides", "new"),
    [
        ((4, 6), (6, 1), (2, 12)),
        ((4, 6), (6, 1), (24,)),
        ((4, 6), (1, 4), (2, 2, 6)),  # transposed: split the outer dim only
        ((2, 3, 4), (12, 4, 1), (6, 4)),
        ((3, 1, 5), (5, 0, 1), (15,)),
        ((4, 6), (12, 2), (4, 3, 2)),
    ],
)
def test_reshape_views_match_numpy(shape, strides, new):
    v = StridedView(None, shape, strides).reshape(new)
    got = _np_view(v.shape, v.strides, v.offset)
    want = _np_view(shape, strides).reshape(new)
    np.testing.assert_array_equal(got, want)


def test_reshape_that_needs_a_copy_raises():
    with pytest.raises(ValueError, match="copy"):
        StridedView(None, (4, 6), (1, 4)).reshape((24,))


def test_view_ops_match_numpy():
    v = StridedView(None, (3, 4, 5))
    a = _np_view(v.shape, v.strides)
    t = v.permute((2, 0, 1))
    np.testing.assert_array_equal(_np_view(t.shape, t.strides), a.transpose(2, 0, 1))
    s = v.slice_axis(2, 4, 0, -2)
    np.testing.assert_array_equal(_np_view(s.shape, s.strides, s.offset), a[:, :, 4:0:-2])
    b = StridedView(None, (4, 1)).broadcast_to((2, 4, 3))
    assert b.strides == (0, 1, 0)
    assert not t.is_contiguous and v.is_contiguous


def test_strided_view_is_a_buffer_and_a_view():
    """Every StridedView op is the same op of its ``View`` (unit axes with stride 0)."""
    buf = object()
    x = StridedView(buf, (4, 1, 6), (6, 99, 1), 3, "float16")
    assert x.view == View((4, 1, 6), (6, 0, 1), 3) and x.buffer is buf and x.dtype == "float16"
    assert x.nbytes == 48 and StridedView(None, (5, 3), dtype="int4").nbytes == 8
    assert StridedView.of(buf, x.view, "int32").view == x.view

    def unit_zero(v):
        strides = tuple(0 if n == 1 else s for n, s in zip(v.shape, v.strides, strict=True))
        return View(v.shape, strides, v.offset)

    assert x.permute((2, 0, 1)).view == unit_zero(x.view.permute((2, 0, 1)))
    assert x.transpose(0, 2).view == unit_zero(x.view.permute((2, 1, 0)))
    assert x.broadcast_to((5, 4, 3, 6)).view == unit_zero(x.view.expand((5, 4, 3, 6)))
    assert x.slice_axis(2, 5, 0, -2).view == x.view.slice((0, 0, 5), (4, 1, 0), (1, 1, -2))
    assert x.expand_dims(-1).view == x.view.expand_dims(3)
    assert x.reshape((2, 2, 6)).view == unit_zero(x.view.reshape((2, 2, 6)))
    assert x.reshape((-1,)).shape == (24,)
    t = StridedView(buf, (6, 4), (1, 6)).reshape((3, 2, 4))  # split a transposed axis
    assert t.view == View((6, 4), (1, 6)).reshape((3, 2, 4)) and t.strides == (2, 1, 6)
    with pytest.raises(ValueError, match="bad permutation"):
        x.permute((0, 0, 1))
    with pytest.raises(ValueError, match=r"cannot broadcast \(4, 1, 6\) to \(4, 2, 5\)"):
        x.broadcast_to((4, 2, 5))
    with pytest.raises(ValueError, match="cannot broadcast"):
        x.broadcast_to((1, 6))
    with pytest.raises(ValueError, match="unsupported dtype 'float64'"):
        StridedView(buf, (2,), dtype="float64")
    with pytest.raises(ValueError, match="do not match"):
        StridedView(buf, (2, 3), (1,))


def test_coalesce_merges_contiguous_runs_only():
    assert launch.coalesce((2, 3, 4), [(12, 4, 1), (12, 4, 1)]) == ((24,), [(1,), (1,)])
    shape, _strides = launch.coalesce((2, 3, 4), [(12, 4, 1), (1, 2, 6)])
    assert shape == (2, 3, 4)
    assert launch.coalesce((1, 5, 1), [(0, 1, 0)]) == ((5,), [(1,)])
    assert launch.coalesce((3, 4), [(0, 1), (4, 1)]) == ((3, 4), [(0, 1), (4, 1)])
    assert launch.coalesce((), [()]) == ((1,), [(0,)])


def test_dispatch_stays_under_the_per_dimension_limit():
    assert launch.dispatch_1d(1, 256) == (1, 1, 1)
    x, y, _z = launch.dispatch_1d(100_000_000, 256)
    assert x <= 65535 and y <= 65535 and x * y * 256 >= 100_000_000


class _FakeBatch:
    """Records what run_1d dispatches (pipelines are their source text)."""

    def __init__(self):
        self.ctx = self
        self.dispatches = []

    def pipeline(self, source):
        return source

    def dispatch(self, pipeline, buffers, uniforms, groups):
        self.dispatches.append((pipeline, buffers, uniforms, groups))


@pytest.mark.parametrize(("items", "per_group"), [(1, 256), (1000, 256), (70_000, 1), (300, 64)])
def test_run_1d_and_entry_give_each_item_one_id(items, per_group):
    """launch.run_1d packs per_row for dispatch_1d's grid; shader.entry's id (x + y * per_row)
    must then number the items 0..items-1 once each, the rest being past the count."""
    params = Uniforms("GridParams", n="u32", per_row="u32")
    batch = _FakeBatch()
    launch.run_1d(batch, "src", ["buf"], params, items, per_group, n=items)
    [(source, buffers, uniforms, groups)] = batch.dispatches
    assert (source, buffers) == ("src", ["buf"])
    n, per_row = np.frombuffer(uniforms, np.uint32)[:2].tolist()
    gx, gy, gz = groups
    assert n == items and gz == 1 and max(gx, gy) <= launch.MAX_WORKGROUPS_PER_DIM
    ids = np.arange(gx * per_group)[None, :] + np.arange(gy)[:, None] * per_row
    inside = ids[ids < items]
    assert np.array_equal(np.sort(inside), np.arange(items))
    entry = shader.entry(params, "n", "i", per_group, per_workgroup=per_group == 1)
    assert f"@workgroup_size({per_group})" in entry
    assert "* P.per_row;" in entry and "if (i >= P.n) { return; }" in entry
    assert "if (" not in shader.entry(params, None)  # a kernel that guards itself


def test_window_geometry_matches_the_padding_rules():
    from webaccel.backends.webgpu.kernels.window import Window, window_params

    x = StridedView("buf", (2, 9, 10, 3))  # NHWC
    win = Window.over(x, "NHWC", (3, 2), 2, "same", 1)
    assert win.x.shape == (2, 3, 9, 10) and win.x.strides == (270, 1, 30, 3)
    assert win.out_hw == (5, 5)  # "same": ceil(n / stride)
    assert win.pads == kernels.conv_pads("same", (9, 10), (3, 2), (2, 2), (1, 1))
    values = win.values(("n", "oh", "ow", "c"), (2, 5, 5, 3))
    params = window_params("WinParams", ("n", "oh", "ow", "c"), {}, {})
    params.pack(total=150, per_row=256, **values)  # every declared field has its value
    assert (values["x_off"], values["x_strides"]) == (0, (270, 1, 30, 3))
    assert Window.over(x, "NCHW", 1, 1, "valid", (2, 3)).out_hw == (10, 3)
    with pytest.raises(ValueError, match="layout must be NCHW or NHWC"):
        Window.over(x, "HWNC", 1, 1, 0, 1)


def test_recorder_and_batch_share_one_dispatch_path():
    from webaccel.backends.webgpu.replay import Recorder
    from webaccel.backends.webgpu.runtime import Dispatch, GPUBufferHandle
    from webaccel.errors import WebAccelError

    rec = Recorder(object())
    handle = GPUBufferHandle("gpu-buffer", 256, 16)
    rec.dispatch("pipe", [StridedView(handle, (4,)), handle], b"\x01" * 20, (3, 2))
    rec.dispatch("pipe", [handle], None, (0, 1, 1))  # an empty tensor: nothing recorded
    padded = b"\x01" * 20 + bytes(12)
    assert rec.commands == [Dispatch("pipe", ["gpu-buffer", "gpu-buffer"], padded, (3, 2, 1))]
    handle.released = True
    with pytest.raises(WebAccelError, match="released buffer"):
        rec.dispatch("pipe", [StridedView(handle, (4,))], None, (1,))


def test_broadcast_shapes():
    assert shapes.broadcast_shapes((3, 1), (4,), ()) == (3, 4)
    with pytest.raises(ValueError):
        shapes.broadcast_shapes((3,), (4,))


def test_f32_literals_and_specials():
    assert expr.f32_literal(0.1) == "0.10000000149011612f"
    assert expr.f32_literal(-2.0) == "(-2.0f)"
    assert expr.f32_literal(math.inf) == "wa_inf()"
    assert expr.f32_literal(1e39) == "wa_inf()"  # overflows f32
    assert expr.f32_literal(math.nan) == "wa_nan()"


def test_expression_types_follow_numpy_promotion():
    rt = expr.result_type
    assert rt(("add", ("in", 0), 2), ["i32"]) == "i32"  # weak int keeps int32
    assert rt(("add", ("in", 0), 2.0), ["i32"]) == "f32"
    assert rt(("div", ("in", 0), ("in", 1)), ["i32", "i32"]) == "i32"  # ONNX integer Div
    assert rt(("div", ("in", 0), 2), ["i32"]) == "i32"
    assert rt(("div", ("in", 0), 2.0), ["i32"]) == "f32"
    assert rt(("div", ("in", 0), ("in", 1)), ["i32", "f32"]) == "f32"
    assert rt(("div", 7, 2), []) == "f32"  # two Python ints: true division
    assert rt(("lt", ("in", 0), 0.5), ["f32"]) == "bool"
    assert rt(("where", ("in", 0), ("in", 1), 0), ["bool", "i32"]) == "i32"
    assert rt(("cast", ("in", 0), "int32"), ["f32"]) == "i32"


def test_casts_to_float16_round_inside_expressions():
    """float16 is computed in f32: a cast to it (fusion's rounding point of an inlined float16
    result) rounds there, as storing the value would; casts to float32 do not."""
    lines, result, t = expr.compile_expr(("cast", ("mul", ("in", 0), 300.0), "float16"), ["f32"])
    assert t == "f32" and "wa_round_half(" in "".join([*lines, result])
    lines, result, _ = expr.compile_expr(("cast", ("in", 0), "float32"), ["f32"])
    assert "wa_round_half" not in "".join([*lines, result])


def test_expression_compiles_shared_subtrees_once():
    x = ("exp", ("in", 0))
    lines, _result, t = expr.compile_expr(("add", x, ("mul", x, x)), ["f32"])
    assert sum("wa_exp" in line for line in lines) == 1 and t == "f32"
    with pytest.raises(ValueError, match="unknown"):
        expr.compile_expr(("frobnicate", ("in", 0)), ["f32"])


def test_constant_powers_are_specialised():
    lines, _, _ = expr.compile_expr(("pow", ("in", 0), 2), ["f32"])
    assert "wa_pow" not in "".join(lines)
    lines, _, _ = expr.compile_expr(("pow", ("in", 0), ("in", 1)), ["f32", "f32"])
    assert "wa_pow" in "".join(lines)


def _erf_f32(a):
    """The WGSL erf (common.wgsl) evaluated step by step in float32 with fused multiply-adds."""
    f = np.float32

    def fma(x, y, z):
        return f(np.float64(x) * np.float64(y) + np.float64(z))

    a = f(a)
    t, s = f(min(abs(a), f(10.0))), f(a * a)
    if t > f(0.927734375):
        r = fma(f(-1.72853470e-5), t, f(3.83197126e-4))
        u = fma(f(-3.88396438e-3), t, f(2.42546219e-2))
        r = fma(r, f(t * t), u)
        for coef in (-1.06777877e-1, -6.34846687e-1, -1.28717512e-1):
            r = fma(r, t, f(coef))
        r = fma(r, t, -t)
        v = f(1.0) - f(np.exp(r))
        return -v if a < 0 else v
    r = f(-5.96761703e-4)
    for coef in (4.99119423e-3, -2.67681349e-2, 1.12819925e-1, -3.76125336e-1, 1.28379166e-1):
        r = fma(r, s, f(coef))
    return fma(r, a, a)


def test_erf_approximation_is_within_1e_6():
    xs = np.linspace(-8, 8, 40001, dtype=np.float32)
    err = max(abs(float(_erf_f32(x)) - math.erf(float(x))) for x in xs)
    assert err < 2e-7, err
    source = shader.common()
    for coef in ("-1.72853470e-5", "1.28379166e-1", "0.927734375"):
        assert coef in source  # the host check above evaluates the shipped coefficients


_ERFCC = (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)  # fmt: skip


def _gelu_neg_f32(x):
    """The WGSL wa_gelu_neg (common.wgsl) evaluated step by step in float32."""
    f = np.float32
    x = f(x)
    ax = -x
    t = f(f(1.0) / f(f(1.0) + f(f(0.5) * f(ax * f(0.7071067811865476)))))
    p = f(_ERFCC[-1])
    for coef in reversed(_ERFCC[:-1]):
        p = f(f(coef) + f(t * p))
    xh = np.array([ax], f).view(np.uint32)[0] & np.uint32(0xFFFFF000)
    xh = np.array([xh], np.uint32).view(f)[0]
    xl = f(ax - xh)
    small = f(p - f(f(f(0.5) * xl) * f(ax + xh)))
    a = f(f(-0.5) * f(xh * xh))
    n = np.round(f(a * f(1.4426950408889634)))
    r = f(f(a - f(n * f(0.693145751953125))) - f(n * f(1.4286068202862268e-6)))
    big = f(np.ldexp(f(np.exp(r)), int(n)))
    return f(f(f(f(f(0.5) * x) * t) * f(np.exp(small))) * big)


def test_gelu_tail_keeps_relative_precision():
    # gelu(x) = 0.5 x erfc(-x / sqrt 2): relative error ~1e-6 down to where it underflows
    xs = np.linspace(-13, -0.5, 20001, dtype=np.float32)
    with np.errstate(under="ignore"):
        err = max(
            abs(
                float(_gelu_neg_f32(x)) / (0.5 * float(x) * math.erfc(-float(x) / math.sqrt(2))) - 1
            )
            for x in xs
        )
    assert err < 1e-6, err
    source = shader.common()
    for coef in ("-1.26551223", "0.17087277", "0.693145751953125", "1.4286068202862268e-6"):
        assert coef in source


def test_int32_division_and_matmul_stay_in_i32():
    lines, _result, t = expr.compile_expr(("div", ("in", 0), ("in", 1)), ["i32", "i32"])
    assert t == "i32" and "wa_idiv" in "".join(lines)
    src = matmul_direct_source((8, 8, 4, 4), "scalar", 1, True, "relu", "i32")
    assert "array<f32>" not in src and "vec4<f32>" not in src and "fma" not in src
    assert "max(v, 0i)" in src
    with pytest.raises(ValueError):
        matmul_direct_source((8, 8, 4, 4), "vec", 1, False, None, "i32")


def test_gather_reports_bad_indices_into_the_fault_words():
    src = gather_source("float32", 2)
    assert "var<storage, read_write> fault: array<atomic<u32>, 4>" in src
    assert "atomicAdd(&fault[0], 1u)" in src and "clamp(k, 0, n - 1)" in src
    err = GPUContext._fault_error([3, 2**32 - 5, 4, 1])  # the words a read brings back
    assert isinstance(err, IndexError)
    assert "gather: index -5 is out of range for axis 1 of size 4 (and 2 more)" in str(err)


def test_one_element_views_count_as_contiguous():
    assert launch.is_contiguous((0,), (1,))  # what coalesce makes of a 0-d or (1, 1) tensor
    assert launch.is_contiguous((5, 1), (1, 3))
    assert not launch.is_contiguous((2,), (3,))


def test_elementwise_source_is_cached_and_specialised():
    args = (("gelu", ("in", 0)), ("float32",), (True,), "float32", True, 1)
    src = elementwise_source(*args)
    assert elementwise_source(*args) is src
    assert "@compute @workgroup_size(256)" in src and "wa_gelu" in src
    assert "let d0" not in src  # contiguous: no index decomposition
    strided = elementwise_source(
        ("add", ("in", 0), ("in", 1)), ("float32", "float16"), (False, True), "float16", True, 3
    )
    # float16 moves by the bits (common.wgsl), never through WGSL's (un)pack2x16float
    assert "wa_half_at(in1[" in strided and "wa_f32_to_half(elem(" in strided
    assert "pack2x16float(" not in strided and "let d2" in strided


def test_all_templates_fill_completely():
    sources = [
        matmul_source(cfg, a, b, br, bias, act)
        for cfg in MATMUL_CONFIGS.values()
        for a, b in (("k4", "n4"), ("m", "k"))
        for br, bias, act in ((1, False, None), (3, True, "gelu"))
    ]
    sources += [
        matmul_direct_source(cfg, mode, 2, True, "relu")
        for cfg in MATMUL_DIRECT_CONFIGS.values()
        for mode in DIRECT_MODES
    ]
    sources += [
        reduce_source(op, dt, 2, 1, mode)
        for op in REDUCE_OPS
        for dt in ("float32", "int32")
        for mode in ("workgroup", "thread")
    ]
    sources += [rows_source(op, "float32", 1, True, True) for op in ROW_OPS]
    sources += [
        im2col_source(("n", "g", "ci", "kh", "kw", "oh", "ow")),
        pool2d_source("max", ("n", "oh", "ow", "c"), False),
        gather_source("float16", 3),
    ]
    for src in sources:
        assert "${" not in src and "$" not in src
        assert src.count("{") == src.count("}")
        assert "@compute" in src


def test_matmul_load_modes():
    # (stride_k, stride_x), (K, X), offset, batch strides
    assert _load_mode((1, 8), (8, 5), 0, ()) == "k4"  # row-major A, aligned
    assert _load_mode((1, 7), (7, 5), 0, ()) == "k"  # K not a multiple of 4
    assert _load_mode((8, 1), (5, 8), 0, ()) == "x4"  # row-major B
    assert _load_mode((8, 1), (5, 8), 2, ()) == "x"  # misaligned offset
    assert _load_mode((1, 8), (8, 4), 0, (6,)) == "k"  # batch stride not aligned


def test_conv_padding_modes():
    pads = kernels.conv_pads
    assert pads("same", (7, 8), (4, 4), (3, 2), (1, 1)) == (1, 1, 2, 1)
    assert pads("same_lower", (7, 8), (4, 4), (3, 2), (1, 1)) == (2, 1, 1, 1)
    assert pads(1, (5, 5), (3, 3), (1, 1), (1, 1)) == (1, 1, 1, 1)
    assert pads((1, 2), (5, 5), (3, 3), (1, 1), (1, 1)) == (1, 2, 1, 2)
    assert pads("valid", (5, 5), (3, 3), (1, 1), (1, 1)) == (0, 0, 0, 0)


def test_uniform_packing_pads_and_wraps_negatives():
    params = Uniforms("P3", a="u32", b="i32", skip="pad", c="f32", d=("i32", 2))
    data = params.pack(a=-1, b=-5, c=0.5, d=[7, 2**32 - 3])
    assert len(data) == 32 and params.nbytes == 24  # 16-byte units for the binding
    words = np.frombuffer(data, np.uint32)
    assert words[:6].tolist() == [2**32 - 1, 2**32 - 5, 0, np.float32(0.5).view(np.uint32), 7,
                                  2**32 - 3]  # fmt: skip
    assert words[6:].tolist() == [0, 0]
    with pytest.raises(TypeError, match=r"missing \['c'\], unknown \['e'\]"):
        params.pack(a=1, b=2, d=[1, 2], e=3)
    with pytest.raises(TypeError, match="unknown"):
        params.pack(a=1, b=2, c=1.0, d=[1, 2], skip=0)  # padding takes no value
    with pytest.raises(ValueError, match="1 values for 2 words"):
        params.pack(a=1, b=2, c=1.0, d=[1])
    with pytest.raises(ValueError, match="type 'f64'"):
        Uniforms("Bad", x="f64")
    assert (params.u("b"), params.i("a"), params.f("c"), params.i("d", 1)) == (
        "u32(P.b)",
        "i32(P.a)",
        "P.c",
        "P.d_1",
    )
    with pytest.raises(KeyError, match="padding"):
        params.u("skip")
    with pytest.raises(IndexError):
        params.i("d", 2)
    with pytest.raises(TypeError, match="not f32"):
        params.f("a")


def _declared(source):
    """The members of the uniform struct a source declares, in order: [(name, type)]."""
    m = re.search(r"struct (\w+) \{\n((?:  \w+: \w+,\n)*)\};\n@group\(0\) @binding\(\d+\) "
                  r"var<uniform> P: \1;", source)  # fmt: skip
    assert m, source[:400]
    return [tuple(line.strip().rstrip(",").split(": ")) for line in m.group(2).splitlines()]


def _every_kernel():
    """(source, its Uniforms) for a spread of every family's specializations."""
    out = []
    for rank, n in ((1, 1), (3, 2), (2, 0)):
        src = elementwise_source(
            ("where", ("in", 0), ("in", 1), 0.0) if n == 2 else ("in", 0) if n else 1.0,
            ("bool", "float16")[:n], (False,) * n, "float16", rank == 2, rank,
        )  # fmt: skip
        out.append((src, elementwise_params(rank, n)))
    for rank in (1, 4):
        out.append((gather_source("float32", rank), gather_params(rank)))
    for br in (1, 3):
        params = matmul_common.matmul_params(br)
        reg = matmul_reg_source((64, 64, 8, 8, 8), "k4", "n4", True, False, br, True, "gelu")
        out += [
            (matmul_source((64, 64, 16, 4, 4), "k", "m4", br, True, "relu"), params),
            (matmul_direct_source((8, 8, 4, 4), "scalar", br, True, "relu", "i32"), params),
            (reg, params),
            (matmul_subgroup_source((64, 1, 8, 8), br, True, "tanh"), params),
        ]
    q_source = matmul_q.linear_q_source((8, 8, 4, 4), "scalar", 4, True, "relu")
    out.append((q_source, matmul_q.QUANT_PARAMS))
    out.append((matmul_q.dequantize_source(8), matmul_q.DEQUANTIZE_PARAMS))
    for ro, ri in ((0, 1), (2, 3)):
        out.append((reduce_source("mean", "int32", ro, ri, "workgroup"), reduce_params(ro, ri)))
    for ro in (0, 2):
        out.append((rows_source("layer_norm", "float16", ro, True, True), rows_params(ro)))
    order = ("n", "g", "oh", "ow", "ci", "kh", "kw")
    out.append((im2col_source(order), im2col_params(order)))
    order = ("n", "oh", "ow", "c")
    out.append((pool2d_source("avg", order, True), pool2d_params(order)))
    return out


def test_uniform_structs_match_their_packing():
    for source, params in _every_kernel():
        members = _declared(source)
        assert members == params.members and params.nbytes == 4 * len(members)
        # each field packs into the word of its member: give every word a distinct value
        values, words = {}, []
        for field, (kind, length) in params.fields.items():
            count = 1 if length is None else length
            seq = [100 + len(words) + i for i in range(count)]
            words += [0] * count if kind == "pad" else seq
            if kind != "pad":
                values[field] = seq[0] if length is None else seq
        raw = params.pack(**values)
        types = {"u32": np.uint32, "i32": np.int32, "f32": np.float32}
        got = [
            np.frombuffer(raw[4 * i : 4 * i + 4], types[t])[0] for i, (_, t) in enumerate(members)
        ]
        assert [float(g) for g in got] == [float(w) for w in words]
        # the kernel reads only declared members, never a word by its index
        used = set(re.findall(r"\bP\.(\w+)", source))
        assert used and used <= {name for name, _ in members}, used - {n for n, _ in members}
        assert not re.search(r"\bp[ui]\(|P\.v\[", source)


def test_no_template_addresses_a_uniform_by_index():
    folder = Path(kernels.__file__).parent
    for path in [*folder.glob("*.wgsl"), *folder.glob("*.py")]:
        text = path.read_text()
        assert not re.search(r"\bp[ui]\(\d+u\)|P\.v\[", text), path.name

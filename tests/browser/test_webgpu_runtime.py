"""The WebGPU runtime in the browser: pool, uploads/readbacks, batches, device loss, timing."""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide


@pytest.fixture(scope="module", autouse=True)
def _webaccel_loaded(selenium_module_scope):
    selenium_module_scope.set_script_timeout(240)
    selenium_module_scope.load_package(["webaccel"])


@run_in_pyodide(packages=["webaccel"])
async def _context_facts(selenium):
    from webaccel.backends.webgpu import GPUContext

    ctx = await GPUContext.create_async()
    facts = {
        "info": ctx.info,
        "features": sorted(ctx.features),
        "limits": {k: ctx.limits[k] for k in ("maxStorageBufferBindingSize", "maxBufferSize")},
        "adapter_limit": ctx.adapter.limits.maxStorageBufferBindingSize,
        "timestamps": ctx.has_timestamps,
        "f16": ctx.has_f16,
    }
    ctx.destroy()
    return facts


def test_context_requests_the_adapter_maxima(selenium_module_scope):
    facts = _context_facts(selenium_module_scope)
    assert facts["limits"]["maxStorageBufferBindingSize"] == facts["adapter_limit"]
    assert facts["info"]["architecture"] == "swiftshader"
    # SwiftShader: timestamp-query yes, shader-f16 no (f16 goes through unpack2x16float).
    assert facts["timestamps"] is True and "timestamp-query" in facts["features"]
    assert facts["f16"] is False


@run_in_pyodide(packages=["webaccel"])
async def test_upload_readback_round_trip_odd_sizes(selenium):
    import array

    from webaccel.backends.webgpu import GPUContext

    ctx = await GPUContext.create_async()
    for n in (1, 2, 3, 4, 5, 7, 255, 256, 257, 1023, 4097, 100_003):
        data = bytes((i * 7 + n) % 251 for i in range(n))
        h = ctx.alloc(n)
        assert h.size >= n and h.size % 16 == 0
        ctx.write(h, data)
        got = await ctx.read_async(h, n)
        assert isinstance(got, bytearray) and bytes(got) == data, n
        ctx.release(h)
    # the FFI proxies made for write() are gone afterwards: no reference to the data is kept
    import sys

    data = bytearray(1000)
    refs = sys.getrefcount(data)
    h = ctx.alloc(1000)
    for _ in range(10):
        ctx.write(h, data)
    assert sys.getrefcount(data) == refs
    ctx.release(h)
    # offsets, a typed array source, a memoryview slice, a partial read
    h = ctx.alloc(64)
    floats = array.array("f", [1.5, -2.0, 3.25])
    ctx.write(h, floats, offset=8)
    ctx.write(h, memoryview(b"abcdefgh")[4:], offset=0)
    got = await ctx.read_async(h, 12, offset=8)
    assert array.array("f", bytes(got)).tolist() == [1.5, -2.0, 3.25]
    assert bytes(await ctx.read_async(h, 4)) == b"efgh"
    assert bytes(ctx.read(h, 4)) == b"efgh"  # the sync twin, through JSPI
    ctx.release(h)
    ctx.destroy()


@run_in_pyodide(packages=["webaccel"])
async def test_pool_reuses_buffers_by_bucket(selenium):
    from webaccel.backends.webgpu import GPUContext

    ctx = await GPUContext.create_async()
    a = ctx.alloc(1000)
    ctx.release(a)
    created = ctx.created_buffers
    b = ctx.alloc(1001)  # same bucket (1024)
    assert b.buffer is a.buffer or ctx.created_buffers == created
    assert ctx.created_buffers == created and ctx.reused_buffers >= 1
    assert ctx.live_buffers == 1 and ctx.live_bytes == b.size
    c = ctx.alloc(5000)  # another bucket: a new buffer
    assert ctx.created_buffers == created + 1
    for h in (b, c):
        ctx.release(h)
    assert ctx.live_bytes == 0 and ctx.pooled_bytes == b.size + c.size
    ctx.trim()
    assert ctx.pooled_bytes == 0 and ctx.destroyed_buffers >= 2
    try:
        ctx.release(b)
        raise AssertionError("double release went through")
    except Exception as exc:
        assert "twice" in str(exc)
    ctx.destroy()


@run_in_pyodide(packages=["webaccel"])
async def test_thousand_alloc_compute_free_cycles_return_to_baseline(selenium):
    import array

    from webaccel.backends.webgpu import GPUContext, StridedView, kernels

    ctx = await GPUContext.create_async()
    x = ctx.alloc(4 * 256)
    ctx.write(x, array.array("f", range(256)))
    xv = StridedView(x, (256,))
    expr_y = ("add", ("mul", ("in", 0), 2.0), 1.0)
    expr_z = ("relu", ("sub", ("in", 0), ("in", 1)))

    async def cycle(i):
        shift = ctx.alloc(4)
        ctx.write(shift, array.array("f", [float(i % 300)]))
        b = ctx.batch()
        y = kernels.elementwise(b, expr_y, [xv])
        z = kernels.elementwise(b, expr_z, [y, StridedView(shift, (1,))])
        b.release_after(y.buffer)
        b.release_after(shift)
        b.submit()
        if i % 250 == 0:
            got = array.array("f", bytes(await ctx.read_async(z.buffer, 16)))
            want = [max(2.0 * k + 1.0 - i % 300, 0.0) for k in range(4)]
            assert got.tolist() == want, (i, got)
        ctx.release(z.buffer)

    await cycle(0)  # warm up: pipelines, pooled buffers per bucket, a uniform chunk, staging
    base = (ctx.live_bytes, ctx.live_buffers, ctx.created_buffers, ctx.uniform_buffers_created)
    for i in range(1000):
        await cycle(i)
    after = (ctx.live_bytes, ctx.live_buffers, ctx.created_buffers, ctx.uniform_buffers_created)
    assert after == base, (base, after)
    ctx.release(x)
    assert ctx.live_bytes == 0 and ctx.live_buffers == 0
    ctx.destroy()


@run_in_pyodide(packages=["webaccel"])
async def test_uniform_chunks_spill_and_pipelines_are_cached(selenium):
    import array

    from webaccel.backends.webgpu import GPUContext, StridedView, kernels

    ctx = await GPUContext.create_async()
    x = ctx.alloc(16)
    ctx.write(x, array.array("f", [1, 2, 3, 4]))
    b = ctx.batch()
    v = StridedView(x, (4,))
    for _ in range(600):  # 600 dispatches x 256 B of uniforms: more than one 64 KiB chunk
        v2 = kernels.elementwise(b, ("add", ("in", 0), 1.0), [v])
        if v.buffer is not x:
            b.release_after(v.buffer)
        v = v2
    b.submit()
    assert b.dispatches == 600 and ctx.uniform_buffers_created >= 3
    assert array.array("f", bytes(await ctx.read_async(v.buffer, 16))).tolist() == [
        601.0,
        602.0,
        603.0,
        604.0,
    ]
    assert len(ctx._pipelines) == 1
    ctx.release(v.buffer)
    ctx.release(x)
    ctx.destroy()


@run_in_pyodide(packages=["webaccel"])
async def test_wgsl_errors_are_reported(selenium):
    from webaccel.backends.webgpu import GPUContext, WebGPUError

    ctx = await GPUContext.create_async()
    try:
        await ctx.pipeline_async("@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }")
        raise AssertionError("bad WGSL compiled")
    except WebGPUError as exc:
        assert "WGSL" in str(exc), str(exc)
    ctx.destroy()


@run_in_pyodide(packages=["webaccel"])
async def test_device_lost_gives_a_clear_error(selenium):
    import asyncio

    from webaccel import WebAccelError
    from webaccel.backends.webgpu import DeviceLostError, GPUContext

    ctx = await GPUContext.create_async()
    h = ctx.alloc(64)
    ctx.device.destroy()  # what a driver reset looks like from here
    for _ in range(50):
        if ctx.lost_reason is not None:
            break
        await asyncio.sleep(0.01)
    for call in (lambda: ctx.alloc(16), lambda: ctx.batch(), lambda: ctx.write(h, b"abcd")):
        try:
            call()
            raise AssertionError("no error after device loss")
        except DeviceLostError as exc:
            assert isinstance(exc, WebAccelError)
            text = str(exc)
            assert "destroyed" in text and "GPUContext.create_async()" in text, text
    try:
        await ctx.read_async(h, 4)
        raise AssertionError("no error after device loss")
    except DeviceLostError:
        pass
    ctx.release(h)  # releasing after loss is harmless and balances the counters
    assert ctx.live_buffers == 0
    fresh = await GPUContext.create_async()
    h2 = fresh.alloc(4)
    fresh.write(h2, b"\x01\x02\x03\x04")
    assert bytes(await fresh.read_async(h2, 4)) == b"\x01\x02\x03\x04"
    fresh.destroy()


@run_in_pyodide(packages=["webaccel"])
async def test_gpu_timing_with_timestamp_queries(selenium):
    import array

    from webaccel.backends.webgpu import GPUContext, StridedView, kernels

    ctx = await GPUContext.create_async()
    n = 64
    a = ctx.alloc(4 * n * n)
    ctx.write(a, array.array("f", [1.0] * (n * n)))
    av = StridedView(a, (n, n))
    b = ctx.batch(timing=True)
    c = kernels.matmul(b, av, av)
    b.submit()
    ns = await b.gpu_time_ns_async()
    assert ns is not None and ns > 0
    got = array.array("f", bytes(await ctx.read_async(c.buffer, 8))).tolist()
    assert got == [64.0, 64.0]
    for h in (a, c.buffer):
        ctx.release(h)
    assert ctx.live_buffers == 0
    ctx.destroy()

"""What ``detect()`` reports for WebGPU, found by trying: request an adapter, read its info,
features and limits, then open a device, run a small compute shader (``probe.wgsl``) and check
its answer."""

from __future__ import annotations

from typing import Any

from ... import _compat
from ..._compat import glue, to_js_object, to_py
from ...errors import WebAccelError
from ...probing import not_in_js
from . import shaders
from .adapter import is_software, request_adapter

KEY_LIMITS = (
    "maxBufferSize",
    "maxStorageBufferBindingSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupsPerDimension",
    "maxStorageBuffersPerShaderStage",
    "minSubgroupSize",
    "maxSubgroupSize",
)


async def probe_async() -> dict[str, Any]:
    if not _compat.host().in_pyodide:
        return not_in_js("WebGPU")
    try:
        adapter = await request_adapter()
    except WebAccelError as exc:
        return {"available": False, "error": str(exc)}
    info = to_py(glue().adapterInfo(adapter))
    features = list(to_py(glue().features(adapter.features)))
    limits = to_py(glue().plain(adapter.limits))
    is_fallback = bool(info.get("isFallbackAdapter", False))
    result: dict[str, Any] = {
        "available": True,
        "error": None,
        "vendor": info.get("vendor") or None,
        "architecture": info.get("architecture") or None,
        "device": info.get("device") or None,
        "description": info.get("description") or None,
        "is_fallback": is_fallback,
        "software": is_software(info),
        "shader_f16": "shader-f16" in features,
        "subgroups": "subgroups" in features,
        "features": features,
        "limits": {k: limits[k] for k in KEY_LIMITS if k in limits},
    }
    device = await adapter.requestDevice()
    try:
        result["compute_ok"], result["compute_error"] = await _run_probe_shader(device)
    finally:
        device.destroy()
    if not result["compute_ok"]:
        result["available"] = False
        result["error"] = (
            f"the adapter exists but its compute probe failed: {result['compute_error']}"
        )
    return result


async def _run_probe_shader(device: Any) -> tuple[bool, str | None]:
    """Run ``probe.wgsl`` on 100 floats and check every answer."""
    js = _compat.js_namespace()
    n = 100
    values = [float(i) - 50.0 for i in range(n)]
    usage = js.GPUBufferUsage
    src = device.createBuffer(
        to_js_object({"size": 4 * n, "usage": usage.STORAGE | usage.COPY_DST})
    )
    dst = device.createBuffer(
        to_js_object({"size": 4 * n, "usage": usage.STORAGE | usage.COPY_SRC})
    )
    staging = device.createBuffer(
        to_js_object({"size": 4 * n, "usage": usage.MAP_READ | usage.COPY_DST})
    )
    device.queue.writeBuffer(src, 0, js.Float32Array.new(_compat.to_js(values)))
    module = device.createShaderModule(to_js_object({"code": shaders.probe()}))
    pipeline = device.createComputePipeline(
        to_js_object({"layout": "auto", "compute": {"module": module, "entryPoint": "main"}})
    )
    entries = [
        {"binding": 0, "resource": {"buffer": src}},
        {"binding": 1, "resource": {"buffer": dst}},
    ]
    bind_group = device.createBindGroup(
        to_js_object({"layout": pipeline.getBindGroupLayout(0), "entries": entries})
    )
    encoder = device.createCommandEncoder()
    compute = encoder.beginComputePass()
    compute.setPipeline(pipeline)
    compute.setBindGroup(0, bind_group)
    compute.dispatchWorkgroups((n + 63) // 64)
    compute.end()
    encoder.copyBufferToBuffer(dst, 0, staging, 0, 4 * n)
    device.queue.submit(_compat.to_js([encoder.finish()]))
    await staging.mapAsync(js.GPUMapMode.READ)
    got = js.Float32Array.new(staging.getMappedRange()).to_py().tolist()
    staging.unmap()
    for b in (src, dst, staging):
        b.destroy()
    bad = [i for i, (v, g) in enumerate(zip(values, got, strict=True)) if g != v * 2.0 + 1.0]
    if bad:
        i = bad[0]
        return False, f"{len(bad)} of {n} wrong; [{i}] = {got[i]}, expected {values[i] * 2 + 1}"
    return True, None

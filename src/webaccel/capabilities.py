"""``detect()``: what this host can really do, found by trying, not by sniffing names.

WebGPU: request an adapter, read its info, features and limits, then open a device and run a
small compute shader (``backends/webgpu/probe.wgsl``) and check its answer. WebNN: create a
context, read ``opSupportLimits()``, then build, dispatch and read back a tiny graph. Storage:
estimate the quota and open an IndexedDB database. From that, a ``tier`` and plain-language
advice.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import platform
import sys
from typing import Any

from . import _compat
from ._compat import glue, js_get, navigator, to_js_object, to_py
from .backends.webgpu import shaders

TIERS = ("hardware-gpu", "webnn", "software-gpu", "cpu-only")
# Adapter names that mean a CPU emulating a GPU; backs up `isFallbackAdapter`, which Chromium
# does not set for every software adapter.
SOFTWARE_ADAPTERS = ("swiftshader", "llvmpipe", "lavapipe", "softpipe", "warp")
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
# Keys of opSupportLimits() that describe graph inputs/outputs, not operators.
WEBNN_NON_OPS = ("input", "constant", "output")
PROBE_TIMEOUT_S = 30.0

Report = dict[str, Any]


def _error(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"timed out after {PROBE_TIMEOUT_S:.0f} s"
    text = str(exc).strip() or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


async def detect_async(*, webgpu: bool = True, webnn: bool = True, storage: bool = True) -> Report:
    """Probe the host and return the report (a JSON-ready dict). Never raises for a missing
    capability: each section says ``available`` and, when not, the exact ``error``."""
    report: Report = {
        "host": _compat.host_kind(),
        "pyodide": _compat.pyodide_version(),
        "python": platform.python_version(),
        "platform": sys.platform,
        "user_agent": str(js_get(navigator(), "userAgent", "")) or None,
        "jspi": _compat.IN_PYODIDE and _compat.can_run_sync(),
        "numpy": _installed_version("numpy"),
        "webgpu": await _guard(_probe_webgpu)
        if webgpu
        else {"available": False, "error": "not probed"},
        "webnn": await _guard(_probe_webnn)
        if webnn
        else {"available": False, "error": "not probed"},
        "storage": await _guard(_probe_storage)
        if storage
        else {"indexeddb": False, "error": "not probed"},
    }
    report["tier"] = tier_of(report)
    report["recommendations"] = recommendations(report)
    return report


def detect(**kwargs: Any) -> Report:
    """Synchronous ``detect_async()``: plain on CPython; in the browser it needs JSPI."""
    return _compat.run_sync(detect_async(**kwargs))


async def _guard(probe: Any) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(probe(), PROBE_TIMEOUT_S)
    except Exception as exc:  # a probe that breaks reports why, it never breaks detect()
        return {"available": False, "error": _error(exc)}


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _not_in_js(what: str) -> dict[str, Any]:
    return {
        "available": False,
        "error": f"not running under Pyodide ({sys.implementation.name} "
        f"{platform.python_version()}): {what} needs a browser or Node.js host",
    }


# --- WebGPU ---------------------------------------------------------------------------------


async def _probe_webgpu() -> dict[str, Any]:
    if not _compat.IN_PYODIDE:
        return _not_in_js("WebGPU")
    gpu = js_get(navigator(), "gpu")
    if gpu is None:
        return {
            "available": False,
            "error": "navigator.gpu is missing: this browser does not expose WebGPU "
            "(Chromium on Linux needs --enable-unsafe-webgpu)",
        }
    adapter = await gpu.requestAdapter()
    if adapter is None or type(adapter).__name__ == "JsNull":  # null is jsnull in Pyodide 314
        return {"available": False, "error": "navigator.gpu.requestAdapter() returned null"}
    info = to_py(glue().adapterInfo(adapter))
    features = list(to_py(glue().features(adapter.features)))
    limits = to_py(glue().plain(adapter.limits))
    names = " ".join(str(info.get(k, "")) for k in ("vendor", "architecture", "description"))
    is_fallback = bool(info.get("isFallbackAdapter", False))
    result: dict[str, Any] = {
        "available": True,
        "error": None,
        "vendor": info.get("vendor") or None,
        "architecture": info.get("architecture") or None,
        "device": info.get("device") or None,
        "description": info.get("description") or None,
        "is_fallback": is_fallback,
        "software": is_fallback or any(s in names.lower() for s in SOFTWARE_ADAPTERS),
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
    """Run ``backends/webgpu/probe.wgsl`` on 100 floats and check every answer."""
    import js  # type: ignore[import-not-found]

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


# --- WebNN ----------------------------------------------------------------------------------


async def _probe_webnn() -> dict[str, Any]:
    if not _compat.IN_PYODIDE:
        return _not_in_js("WebNN")
    ml = js_get(navigator(), "ml")
    if ml is None:
        if _compat.host_kind() == "node":
            return {"available": False, "error": "Node.js has no WebNN (navigator.ml)"}
        return {
            "available": False,
            "error": "navigator.ml is missing: this browser does not expose WebNN "
            "(Chromium needs --enable-features=WebMachineLearningNeuralNetwork)",
        }
    try:
        context = await ml.createContext()
    except Exception as exc:
        return {"available": False, "error": f"navigator.ml.createContext() failed: {_error(exc)}"}
    missing = [
        m
        for m in ("dispatch", "createTensor", "readTensor", "writeTensor", "opSupportLimits")
        if js_get(context, m) is None
    ]
    if missing:
        return {
            "available": False,
            "error": "this browser exposes an older WebNN API shape (no MLContext."
            + "/".join(missing)
            + "); webaccel needs the current one: MLTensor, dispatch() and readTensor()",
        }
    limits = to_py(context.opSupportLimits())
    ops = sorted(k for k, v in limits.items() if isinstance(v, dict) and k not in WEBNN_NON_OPS)
    inputs = limits.get("input", {})
    result: dict[str, Any] = {
        "available": True,
        "error": None,
        "op_count": len(ops),
        "ops": ops,
        "preferred_layout": limits.get("preferredInputLayout"),
        "data_types": sorted(inputs.get("dataTypes", [])),
        "rank_range": inputs.get("rankRange"),
        "max_tensor_bytes": limits.get("maxTensorByteLength"),
    }
    try:
        result["devices"], result["dispatch_ok"] = await _dispatch_probe(context)
        result["dispatch_error"] = None if result["dispatch_ok"] else "wrong answer from add"
    except Exception as exc:
        result["devices"], result["dispatch_ok"], result["dispatch_error"] = (
            None,
            False,
            _error(exc),
        )
    if not result["dispatch_ok"]:
        result["available"] = False
        result["error"] = f"the context exists but a tiny graph failed: {result['dispatch_error']}"
    destroy = js_get(context, "destroy")
    if destroy is not None:
        context.destroy()
    return result


async def _dispatch_probe(context: Any) -> tuple[list[str] | None, bool]:
    """Build ``a + [1, 2, 3, 4]``, dispatch it through MLTensors and read the answer back."""
    import js  # type: ignore[import-not-found]

    desc = {"dataType": "float32", "shape": [4]}
    builder = js.MLGraphBuilder.new(context)
    a = builder.input("a", to_js_object(desc))
    b = builder.constant(to_js_object(desc), js.Float32Array.new(_compat.to_js([1, 2, 3, 4])))
    graph = await builder.build(to_js_object({"out": builder.add(a, b)}))
    t_in = await context.createTensor(to_js_object({**desc, "writable": True}))
    t_out = await context.createTensor(to_js_object({**desc, "readable": True}))
    context.writeTensor(t_in, js.Float32Array.new(_compat.to_js([10, 20, 30, 40])))
    context.dispatch(graph, to_js_object({"a": t_in}), to_js_object({"out": t_out}))
    got = js.Float32Array.new(await context.readTensor(t_out)).to_py().tolist()
    devices = js_get(graph, "devices")
    for t in (t_in, t_out):
        t.destroy()
    graph.destroy()
    return (list(to_py(devices)) if devices is not None else None), got == [11, 22, 33, 44]


# --- storage --------------------------------------------------------------------------------


async def _probe_storage() -> dict[str, Any]:
    if not _compat.IN_PYODIDE:
        return {
            "indexeddb": False,
            "quota": None,
            "usage": None,
            "persisted": None,
            "error": "no browser storage under CPython (the store uses local files there)",
        }
    import js  # type: ignore[import-not-found]

    result: dict[str, Any] = {
        "quota": None,
        "usage": None,
        "persisted": None,
        "indexeddb": False,
        "error": None,
    }
    storage = js_get(navigator(), "storage")
    if storage is not None and js_get(storage, "estimate") is not None:
        estimate = to_py(glue().plain(await storage.estimate()))
        result["quota"], result["usage"] = estimate.get("quota"), estimate.get("usage")
        if js_get(storage, "persisted") is not None:
            result["persisted"] = bool(await storage.persisted())
    idb = js_get(js, "indexedDB")
    if idb is None:
        result["error"] = "indexedDB is missing on this host"
        return result
    try:
        name = "webaccel-detect-probe"
        db = await glue().idbRequest(idb.open(name, 1))
        db.close()
        await glue().idbRequest(idb.deleteDatabase(name))
        result["indexeddb"] = True
    except Exception as exc:
        result["error"] = f"IndexedDB open failed: {_error(exc)}"
    return result


# --- verdict --------------------------------------------------------------------------------


def tier_of(report: Report) -> str:
    gpu, nn = report.get("webgpu", {}), report.get("webnn", {})
    if gpu.get("available") and not gpu.get("software"):
        return "hardware-gpu"
    if nn.get("available"):
        return "webnn"
    if gpu.get("available"):
        return "software-gpu"
    return "cpu-only"


def recommendations(report: Report) -> list[str]:
    tier = report.get("tier") or tier_of(report)
    gpu, nn = report.get("webgpu", {}), report.get("webnn", {})
    advice: list[str] = []
    if tier == "hardware-gpu":
        advice.append(
            f"A real GPU is here ({gpu.get('vendor') or 'unknown vendor'}, "
            f"{gpu.get('architecture') or 'unknown architecture'}): use backend='webgpu'."
        )
        if not gpu.get("shader_f16"):
            advice.append("No shader-f16: float16 weights are stored as f16 and computed in f32.")
    elif tier == "webnn":
        where = ", ".join(nn.get("devices") or []) or "the browser's default device"
        advice.append(
            f"WebNN works ({nn.get('op_count')} ops, runs on {where}): use backend='webnn' "
            "for models; ops it lacks fall back per op."
        )
    elif tier == "software-gpu":
        advice.append(
            f"WebGPU runs on a software adapter ({gpu.get('architecture') or gpu.get('vendor')}): "
            "it is correct but CPU-speed; good for tests, not for speed."
        )
    else:
        advice.append("No accelerator works here: webaccel runs on its CPU (NumPy) backend.")
    if gpu.get("software") and tier != "software-gpu":
        advice.append("WebGPU here is software emulation: do not tune kernels on its timings.")
    if not gpu.get("available") and gpu.get("error"):
        advice.append(f"WebGPU: {gpu['error']}")
    if not nn.get("available") and nn.get("error"):
        advice.append(f"WebNN: {nn['error']}")
    if report.get("numpy") is None:
        advice.append(
            "NumPy is not installed: the CPU backend needs it "
            "(in Pyodide: `await pyodide.loadPackage('numpy')`)."
        )
    if report.get("host") == "browser" and not report.get("jspi"):
        advice.append("No JSPI here: call the *_async APIs (sync calls cannot wait on the GPU).")
    storage = report.get("storage", {})
    if report.get("host") == "browser" and not storage.get("indexeddb"):
        advice.append("IndexedDB is unavailable: models cannot be cached across page loads.")
    return advice


def format_report(report: Report) -> str:
    """A few lines for people."""
    gpu, nn, st = report["webgpu"], report["webnn"], report["storage"]
    lines = [
        f"host      {report['host']}  Python {report['python']}"
        + (f"  Pyodide {report['pyodide']}" if report.get("pyodide") else "")
        + f"  JSPI {'yes' if report['jspi'] else 'no'}  NumPy {report['numpy'] or 'no'}",
        "webgpu    "
        + (
            f"{gpu.get('vendor')} / {gpu.get('architecture')}"
            f"{' (fallback)' if gpu.get('is_fallback') else ''}"
            if gpu.get("available")
            else f"no: {gpu.get('error')}"
        ),
        "webnn     "
        + (
            f"{nn.get('op_count')} ops, layout {nn.get('preferred_layout')}, "
            f"devices {nn.get('devices')}"
            if nn.get("available")
            else f"no: {nn.get('error')}"
        ),
        "storage   "
        + (
            f"IndexedDB yes, quota {st.get('quota')}"
            if st.get("indexeddb")
            else f"no: {st.get('error')}"
        ),
        f"tier      {report['tier']}",
    ]
    lines += [f"  - {line}" for line in report["recommendations"]]
    return "\n".join(lines)

"""``detect()``: what this host can really do, found by trying, not by sniffing names.

Each registered backend probes itself (``backends/<name>/probe.py``: WebGPU runs a compute
shader, WebNN dispatches a tiny graph, the CPU backend checks NumPy); storage estimates the quota
and opens an IndexedDB database. From that, a ``tier`` and plain-language advice.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from typing import Any

from . import _compat
from ._compat import glue, js_get, navigator, to_py
from .device import backend_names, backends
from .probing import guard, not_probed, probe_error

TIERS = ("hardware-gpu", "webnn", "software-gpu", "cpu-only")

Report = dict[str, Any]


async def detect_async(*, storage: bool = True, **probe: bool) -> Report:
    """Probe the host and return the report (a JSON-ready dict). Never raises for a missing
    capability: each section says ``available`` and, when not, the exact ``error``.

    One section per backend (``webgpu``, ``webnn``, ``cpu``), each probed unless its keyword is
    False (``detect(webnn=False)``), and ``storage``."""
    unknown = set(probe) - set(backend_names())
    if unknown:
        raise TypeError(
            f"detect: unknown backend(s) {sorted(unknown)}; backends are {backend_names()}"
        )
    report: Report = {
        "host": _compat.host_kind(),
        "pyodide": _compat.pyodide_version(),
        "python": platform.python_version(),
        "platform": sys.platform,
        "user_agent": str(js_get(navigator(), "userAgent", "")) or None,
        "jspi": _compat.host().in_pyodide and _compat.can_run_sync(),
        "numpy": _installed_version("numpy"),
    }
    for backend in backends():
        wanted = probe.get(backend.name, True)
        report[backend.name] = await guard(backend.probe_async) if wanted else not_probed()
    report["storage"] = (
        await guard(_probe_storage) if storage else {"indexeddb": False, "error": "not probed"}
    )
    report["tier"] = tier_of(report)
    report["recommendations"] = recommendations(report)
    return report


def detect(**kwargs: Any) -> Report:
    """Synchronous ``detect_async()``: plain on CPython; in the browser it needs JSPI."""
    return _compat.run_sync(detect_async(**kwargs))


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# --- storage --------------------------------------------------------------------------------


async def _probe_storage() -> dict[str, Any]:
    if not _compat.host().in_pyodide:
        return {
            "indexeddb": False,
            "quota": None,
            "usage": None,
            "persisted": None,
            "error": "no browser storage under CPython (the store uses local files there)",
        }
    js = _compat.js_namespace()

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
        result["error"] = f"IndexedDB open failed: {probe_error(exc)}"
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
    if not isinstance(report, dict) or not {"webgpu", "webnn", "storage"} <= set(report):
        raise TypeError(
            f"format_report: report must be detect()'s dict, not {type(report).__name__}"
        )
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

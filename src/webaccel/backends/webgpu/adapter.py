"""Getting a GPU adapter, and what its info says: shared by the runtime (``GPUContext``) and the
probe behind ``detect()``, so both ask the same way and fail with the same words."""

from __future__ import annotations

from typing import Any

from ... import _compat
from ...errors import WebAccelError

# Adapter names that mean a CPU emulating a GPU; backs up `isFallbackAdapter`, which Chromium
# does not set for every software adapter.
SOFTWARE_ADAPTERS = ("swiftshader", "llvmpipe", "lavapipe", "softpipe", "warp")


async def request_adapter(power_preference: str | None = None) -> Any:
    """``navigator.gpu.requestAdapter()``; a WebAccelError naming what is missing otherwise."""
    gpu = _compat.js_get(_compat.navigator(), "gpu")
    if gpu is None:
        raise WebAccelError(
            "navigator.gpu is missing: this browser does not expose WebGPU "
            "(Chromium on Linux needs --enable-unsafe-webgpu)"
        )
    options = {} if power_preference is None else {"powerPreference": power_preference}
    adapter = await gpu.requestAdapter(_compat.to_js_object(options))
    # No adapter is JS null: None in old Pyodides, ``pyodide.ffi.jsnull`` (falsy) in 314.
    if adapter is None or type(adapter).__name__ == "JsNull":
        raise WebAccelError("navigator.gpu.requestAdapter() returned null")
    return adapter


def is_software(info: dict[str, Any]) -> bool:
    """Does this adapter info describe a CPU emulating a GPU?"""
    names = " ".join(str(info.get(k, "")) for k in ("vendor", "architecture", "description"))
    return bool(info.get("isFallbackAdapter")) or any(s in names.lower() for s in SOFTWARE_ADAPTERS)

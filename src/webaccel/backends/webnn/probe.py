"""What ``detect()`` reports for WebNN, found by trying: create a context (as the device does,
``context.create_context``), read ``opSupportLimits()``, then build, dispatch and read back a
tiny graph."""

from __future__ import annotations

from typing import Any

from ... import _compat
from ..._compat import js_get, to_js_object, to_py
from ...probing import not_in_js, probe_error
from .context import WebNNError, create_context, read_limits

# Keys of opSupportLimits() that describe graph inputs/outputs, not operators.
WEBNN_NON_OPS = ("input", "constant", "output")


async def probe_async() -> dict[str, Any]:
    if not _compat.host().in_pyodide:
        return not_in_js("WebNN")
    try:
        context = await create_context()  # the device's own acquisition and error texts
    except WebNNError as exc:
        return {"available": False, "error": str(exc)}
    limits = read_limits(context)
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
            probe_error(exc),
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
    js = _compat.js_namespace()

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

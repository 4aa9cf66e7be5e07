"""Acquiring a WebNN ``MLContext``: the one place its checks and error texts live.

``create_context`` is what both ``WebNNDevice.create_async`` and the ``detect()`` probe call,
so a browser without WebNN (or with an older API shape) gets the same message from either.
``read_limits`` reads ``opSupportLimits()`` as a plain dict, and ``glue`` is the JS helper
object of ``js_glue/webnn_glue.js`` the device calls on hot paths.

A lost context (``MLContext.destroy()``, or the browser taking it: its ``lost`` promise
resolves, a task later) makes every call on it fail with an ``InvalidStateError`` whose
message says the context is lost; ``lost_error`` tells those apart from other failures, and
``watch_lost`` reports the promise.
"""

from __future__ import annotations

from typing import Any

from ... import _compat
from ...errors import WebAccelError
from ...probing import probe_error

# MLContext methods of the current WebNN API (MLTensor + dispatch); the 2023 shape had compute()
REQUIRED_METHODS = ("createTensor", "writeTensor", "readTensor", "dispatch", "opSupportLimits")


class WebNNError(WebAccelError):
    """WebNN is missing, too old, or failed."""


def check_api(ctx: Any) -> None:
    """Raise ``WebNNError`` naming what is missing when *ctx* is not a current-spec MLContext."""
    missing = [m for m in REQUIRED_METHODS if _compat.js_get(ctx, m) is None]
    if missing:
        raise WebNNError(
            "this browser exposes an older WebNN API shape: MLContext has no "
            + ", ".join(missing)
            + "; webaccel needs the current one (MLTensor, createTensor/writeTensor/readTensor "
            "and dispatch(); compute() is gone)"
        )


async def create_context(options: dict[str, Any] | None = None) -> Any:
    """``navigator.ml.createContext(options)``, checked: a ``WebNNError`` says what is missing
    (WebNN itself, ``MLGraphBuilder``, a working context, the current API shape)."""
    ml = _compat.js_get(_compat.navigator(), "ml")
    if ml is None:
        if _compat.host_kind() == "node":
            raise WebNNError("Node.js has no WebNN (navigator.ml)")
        raise WebNNError(
            "navigator.ml is missing: this browser does not expose WebNN "
            "(Chromium needs --enable-features=WebMachineLearningNeuralNetwork)"
        )
    if _compat.js_global("MLGraphBuilder") is None:
        raise WebNNError("this browser has navigator.ml but no MLGraphBuilder")
    try:
        ctx = await ml.createContext(_compat.to_js_object(options or {}))
    except Exception as exc:
        raise WebNNError(f"navigator.ml.createContext() failed: {probe_error(exc)}") from exc
    check_api(ctx)
    return ctx


def glue() -> Any:
    """The helpers of ``js_glue/webnn_glue.js``, evaluated once."""
    return _compat.js_glue("webnn_glue.js")


def read_limits(ctx: Any) -> dict[str, Any]:
    """``ctx.opSupportLimits()`` as a plain dict."""
    return _compat.to_py(glue().limits(ctx))


def lost_error(exc: BaseException) -> bool | None:
    """Whether *exc* (from a WebNN call) says the context is lost: True ("Context is lost."),
    None where it may be ("Tensor has been destroyed or context is lost": the ``lost``
    promise decides), False for other errors."""
    text = str(exc)
    if "InvalidStateError" not in text or "lost" not in text.lower():
        return False
    return True if "Context is lost" in text else None


def watch_lost(ctx: Any, report: Any) -> None:
    """Call ``report(message)`` when *ctx*'s ``lost`` promise resolves."""
    lost = _compat.js_get(ctx, "lost")
    if lost is None:  # an implementation without the promise: errors are all there is
        return

    def on_lost(info: Any) -> None:
        message = _compat.js_get(info, "message")
        report(str(message) if message is not None else "the context was lost")

    lost.then(on_lost)

"""The WebNN backend: programs lowered to one ``MLGraph`` each, storages as ``MLTensor``s.

Read in this order (each module imports only those above it):

``emitter``: ``Emitter``, the checked ``MLGraphBuilder`` calls; ``Limits`` (the context's
``opSupportLimits()``), ``Val``, ``Unsupported``. A dry emitter (no builder) decides support.
``views``: a strided view of a flat value as slice/reshape/transpose/reverse/expand, or a gather.
``ieee``: the NaN/inf and accuracy guards around this browser's WebNN ops.
``builders``: the op table ``LOWERINGS``, one builder per webaccel op (``@lowers("op")``).
``lowering``: ``lower_program``, a whole program through the builders (dry or for real).
``stages``: programs with bitcast views, cut into one graph per stage (WebNN cannot bitcast).
``context``: acquiring an ``MLContext`` (``create_context``, shared with the probe), its errors.
``replay``: replay plans for captured graphs (one JS call per run).
``device``: ``WebNNDevice`` (its op table is ``builders.LOWERINGS``), the ``MLGraphBuilder``
adapter, the ``MLTensor`` pool.
``probe``: what ``detect()`` reports.
"""

from __future__ import annotations

from ...device import Backend, lazy_implementation, register_backend
from ...lazy import lazy_getattr
from .probe import probe_async

# The builders (device.py and below) load with the first WebNN device.
BACKEND = register_backend(Backend("webnn", 0, "WebNN", probe_async, lazy_implementation(__name__)))

__getattr__ = lazy_getattr(
    __name__, {"emitter": ("Limits", "Unsupported"), "device": ("WebNNDevice",)}
)

__all__ = ["BACKEND", "Limits", "Unsupported", "WebNNDevice"]

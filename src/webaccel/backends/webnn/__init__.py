"""The WebNN backend: programs lowered to one ``MLGraph`` each, storages as ``MLTensor``s.

``device``: ``WebNNDevice`` (its op table is ``lower.LOWERINGS``), ``check_api``, the errors.
``lower``: the pure-Python lowering of program steps to checked ``MLGraphBuilder`` calls.
``probe``: what ``detect()`` reports.
"""

from __future__ import annotations

from ...device import Backend, register_backend
from .device import WebNNDevice, create_device, create_device_async
from .lower import Limits, Unsupported
from .probe import probe_async

# name, fallback rank, device class, create, create_async, probe, needs
BACKEND = register_backend(
    Backend("webnn", 0, WebNNDevice, create_device, create_device_async, probe_async, "WebNN")
)

__all__ = ["BACKEND", "Limits", "Unsupported", "WebNNDevice"]

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

BACKEND = Backend(
    name="webnn",
    fallback_rank=0,
    device_class=WebNNDevice,
    create=create_device,
    create_async=create_device_async,
    probe_async=probe_async,
    needs="WebNN",
)
register_backend(BACKEND)

__all__ = ["BACKEND", "Limits", "Unsupported", "WebNNDevice"]

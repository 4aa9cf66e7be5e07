"""The WebNN backend: programs lowered to one ``MLGraph`` each, storages as ``MLTensor``s.

``device``: ``WebNNDevice`` (registered as ``"webnn"``), ``check_api``, the errors.
``lower``: the pure-Python lowering of program steps to checked ``MLGraphBuilder`` calls.
"""

from __future__ import annotations

from .lower import Limits, Unsupported

__all__ = ["Limits", "Unsupported"]

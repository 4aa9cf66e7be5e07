"""The engine: from pending nodes to results on devices.

``realize`` (run what is pending), ``placement`` (which backend runs each op, with ``deny`` /
``allow``), ``passes`` (graph rewrites before compiling), ``fusion`` (elementwise chains planned
into one kernel, for backends that compile their own), ``explain`` (the placement as text).
It sees nodes and programs, never tensors.
"""

from __future__ import annotations

from .explain import explain_nodes
from .placement import allow, denied, deny, partition, place_node
from .realize import realize

__all__ = ["allow", "denied", "deny", "explain_nodes", "partition", "place_node", "realize"]

"""``explain``: where each pending node would run, and why, as text for people."""

from __future__ import annotations

from ..ir import Node, pending_nodes
from .placement import partition, place_node


def explain_nodes(roots: list[Node]) -> str:
    """Where each pending node behind *roots* would run, and why (also printed)."""
    nodes = pending_nodes(roots)
    if not nodes:
        text = "nothing pending: every tensor is already computed"
        print(text)
        return text
    placed = {n.id: place_node(n) for n in nodes}
    groups = partition(nodes, {i: p.device for i, p in placed.items()})
    lines = []
    for i, (device, group) in enumerate(groups):
        lines.append(f"partition {i}: {device.name} ({len(group)} ops)")
        for node in group:
            shapes = ", ".join(str(r.view.shape) for r in node.srcs)
            lines.append(
                f"  {node.op}({shapes}) -> {node.shape} {node.dtype.name}: {placed[node.id].reason}"
            )
    text = "\n".join(lines)
    print(text)
    return text

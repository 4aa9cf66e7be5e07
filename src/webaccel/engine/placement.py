"""Per-op placement: each pending node runs on the best backend that supports it.

A graph belongs to a *home* backend (where its tensors were made). Each node stays home when
the home backend supports its op, dtypes and rank (``Device.supports(step)``, from the
backend's real limits: WebNN's ``opSupportLimits()``) and the user has not denied the op
there; otherwise it goes to the first backend, in the backend table's fallback order, that is
already running and supports it. The graph is then cut into maximal same-backend partitions,
run in order; tensors cross backends only at partition edges (read back, then written).

Why not WebNN's ``createExportableTensor`` / ``exportToGPU`` at WebNN -> WebGPU edges: the
headless shell (153) has both methods, but ``createExportableTensor`` fails with "Context is
lost" on every context tried (default, ``{gpuDevice}``, a GPUDevice; measured 2026-11-21), so
the edge reads back and writes. A browser where it works would save one copy per edge there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..device import Device, backend_names, running_devices
from ..ir import Node, Step
from ..ops import OPS

_DENY: dict[str, set[str]] = {}


def deny(ops: str | Iterable[str], backend: str) -> None:
    """Never run *ops* on *backend* (they fall back to the next backend that has them)."""
    _DENY.setdefault(_backend_arg("deny", backend), set()).update(_ops_arg("deny", ops))


def allow(ops: str | Iterable[str] | None = None, backend: str | None = None) -> None:
    """Undo ``deny`` (all of it when called with no arguments)."""
    if backend is not None:
        _backend_arg("allow", backend)
    if ops is not None:
        ops = _ops_arg("allow", ops)
    if backend is None:
        _DENY.clear()
        return
    if ops is None:
        _DENY.pop(backend, None)
    else:
        _DENY.get(backend, set()).difference_update([ops] if isinstance(ops, str) else ops)


def _ops_arg(fn: str, ops: object) -> list[str]:
    """Op names of ``webaccel.OPS``: one, or an iterable of them."""
    if not isinstance(ops, str | Iterable):
        raise TypeError(f"{fn}: ops must be an op name or names, not {type(ops).__name__}")
    names = [ops] if isinstance(ops, str) else list(ops)
    unknown = [n for n in names if not isinstance(n, str) or n not in OPS]
    if unknown:
        raise ValueError(f"{fn}: {unknown} are not ops of webaccel.OPS")
    return names


def _backend_arg(fn: str, backend: object) -> str:
    if not isinstance(backend, str) or backend not in backend_names():
        raise ValueError(
            f"{fn}: backend must be one of {', '.join(backend_names())}, not {backend!r}"
        )
    return backend


def denied(op: str, backend: str) -> bool:
    return op in _DENY.get(backend, ())


def step_of(node: Node) -> Step:
    """The node as a program step (input slots unknown: -1), for ``supports`` checks."""
    return Step(
        node.op, node.attrs, tuple((-1, r.view, r.dtype) for r in node.srcs), node.shape, node.dtype
    )


@dataclass(frozen=True)
class Placement:
    device: Device
    reason: str


def place_node(node: Node) -> Placement:
    home = node.device
    step = step_of(node)
    why_not = []
    if denied(node.op, home.name):
        why_not.append(f"{node.op} is denied on {home.name}")
    elif home.supports(step):
        return Placement(home, f"{home.name} (home) supports it")
    else:
        why_not.append(f"{home.name} does not support {_describe(step)}")
    running = running_devices()
    for name in backend_names():  # the backend table's fallback order
        device = running.get(name)
        if device is None or device is home:
            continue
        if denied(node.op, name):
            why_not.append(f"{node.op} is denied on {name}")
            continue
        if device.supports(step):
            return Placement(device, "; ".join(why_not) + f" -> {name}")
        why_not.append(f"{name} does not support {_describe(step)}")
    raise NotImplementedError(
        f"no running backend can run {_describe(step)}: " + "; ".join(why_not)
    )


def _describe(step: Step) -> str:
    dtypes = ", ".join(d.name for _, _, d in step.srcs) or step.dtype.name
    ranks = sorted({len(v.shape) for _, v, _ in step.srcs} | {len(step.shape)})
    return f"{step.op}({dtypes}; rank {'/'.join(map(str, ranks))})"


def partition(nodes: list[Node], where: dict[int, Device]) -> list[tuple[Device, list[Node]]]:
    """Maximal same-device groups, in an order that respects dependencies.

    Greedy: take the device of the first node not yet placed in a group, then every later
    node on that device whose pending inputs are all in this group or in earlier groups.
    """
    remaining = list(nodes)
    done: set[int] = set()
    groups: list[tuple[Device, list[Node]]] = []
    while remaining:
        device = where[remaining[0].id]
        group: list[Node] = []
        members: set[int] = set()
        rest = []
        for node in remaining:
            deps = [r.node.id for r in node.srcs if not r.node.realized]
            if where[node.id] is device and all(d in done or d in members for d in deps):
                group.append(node)
                members.add(node.id)
            else:
                rest.append(node)
        groups.append((device, group))
        done |= members
        remaining = rest
    return groups

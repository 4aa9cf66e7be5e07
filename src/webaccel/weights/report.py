"""The memory report: bytes per backend and per model, and what sharing saves.

```python
from webaccel import weights

r = weights.memory_report()  # over the running devices
print(r)  # a text table; r.svg() a bar chart; r.to_dict() the numbers; HTML in a notebook
r.model("minilm").own_bytes, r.backend("webgpu").saved_bytes
```

Live bytes are the devices' own count of storages alive; the rest comes from the sharing
registry (``weights.sharing``): which storages are registered, and which models hold them.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import budget
from ..device import Device, get_device, running_devices
from ..store.errors import human as human_bytes
from .sharing import REGISTRY

__all__ = [
    "BackendMemory",
    "MemoryReport",
    "ModelMemory",
    "human_bytes",
    "memory_report",
    "resident_bytes",
]


@dataclass
class BackendMemory:
    backend: str
    live_bytes: int  # every storage alive on the device (what is resident)
    storages: int
    registered_bytes: int  # of live_bytes: storages in the sharing registry
    shared_bytes: int  # of those: held by two or more models
    saved_bytes: int  # what the extra holders would have cost without sharing
    unattributed_bytes: int  # live_bytes not in the registry (activations, plain tensors)
    leaked_storages: int
    details: dict[str, Any] = field(default_factory=dict)  # the device's own memory()
    # the memory budget (webaccel.budget): the limit (None: none), evictions in all, and the
    # storages and bytes evicted now (their restore records bring them back on use)
    limit: int | None = None
    evictions: int = 0
    evicted_bytes: int = 0
    evicted_now_bytes: int = 0


@dataclass
class ModelMemory:
    model: str
    backend: str
    bytes: int  # distinct storages this model holds
    shared_bytes: int  # of those, also held by another model
    tensors: int  # holder tensors (views of one count once)

    @property
    def own_bytes(self) -> int:
        return self.bytes - self.shared_bytes


@dataclass
class MemoryReport:
    """``memory_report()``'s result: ``str()`` is a text table, ``svg()`` a bar chart, and in a
    notebook it renders as HTML (``_repr_html_``). ``to_dict()`` has the exact numbers."""

    backends: list[BackendMemory]
    models: list[ModelMemory]

    def backend(self, name: str) -> BackendMemory:
        for b in self.backends:
            if b.backend == name:
                return b
        raise KeyError(
            f"no backend {name!r} in the report; have {[b.backend for b in self.backends]}"
        )

    def model(self, name: str, backend: str | None = None) -> ModelMemory:
        rows = [m for m in self.models if m.model == name and backend in (None, m.backend)]
        if len(rows) != 1:
            raise KeyError(f"model {name!r}" + (f" on {backend}" if backend else "") + f": {rows}")
        return rows[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "backends": [asdict(b) for b in self.backends],
            "models": [{**asdict(m), "own_bytes": m.own_bytes} for m in self.models],
        }

    def __str__(self) -> str:
        lines = ["webaccel memory by backend"]
        lines += _table(
            ("backend", "live", "storages", "shared", "saved", "in registry", "other", "leaked"),
            [
                (
                    b.backend,
                    human_bytes(b.live_bytes),
                    str(b.storages),
                    human_bytes(b.shared_bytes),
                    human_bytes(b.saved_bytes),
                    human_bytes(b.registered_bytes),
                    human_bytes(b.unattributed_bytes),
                    str(b.leaked_storages),
                )
                for b in self.backends
            ],
        )
        limited = [b for b in self.backends if b.limit is not None or b.evictions]
        if limited:
            lines += ["", "memory limits (webaccel.set_memory_limit)"]
            lines += _table(
                ("backend", "limit", "live", "evictions", "evicted", "evicted now"),
                [
                    (
                        b.backend,
                        "none" if b.limit is None else human_bytes(b.limit),
                        human_bytes(b.live_bytes),
                        str(b.evictions),
                        human_bytes(b.evicted_bytes),
                        human_bytes(b.evicted_now_bytes),
                    )
                    for b in limited
                ],
            )
        lines += ["", "by model (shared: also held by another model; counted once in live)"]
        if self.models:
            lines += _table(
                ("model", "backend", "bytes", "shared", "own", "tensors"),
                [
                    (
                        m.model,
                        m.backend,
                        human_bytes(m.bytes),
                        human_bytes(m.shared_bytes),
                        human_bytes(m.own_bytes),
                        str(m.tensors),
                    )
                    for m in self.models
                ],
            )
        else:
            lines.append("(no shared tensors)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        live = sum(b.live_bytes for b in self.backends)
        return (
            f"<MemoryReport {len(self.backends)} backends, {len(self.models)} model rows, "
            f"{human_bytes(live)} live>"
        )

    def svg(self, width: int = 560) -> str:
        """A small horizontal bar chart (no dependencies): one bar per backend (registry vs
        other live bytes) and one per model and backend (own vs shared bytes)."""
        rows: list[tuple[str, list[tuple[int, str, str]]]] = []
        for b in self.backends:
            rows.append(
                (
                    b.backend,
                    [
                        (b.registered_bytes, _COLORS["registry"], "in registry"),
                        (b.unattributed_bytes, _COLORS["other"], "other"),
                    ],
                )
            )
        for m in self.models:
            rows.append(
                (
                    f"{m.model} ({m.backend})",
                    [
                        (m.own_bytes, _COLORS["own"], "own"),
                        (m.shared_bytes, _COLORS["shared"], "shared"),
                    ],
                )
            )
        label_w, bar_h, gap, top = 170, 16, 6, 28
        value_w = 80
        plot_w = max(width - label_w - value_w, 40)
        biggest = max([sum(n for n, _, _ in parts) for _, parts in rows] + [1])
        height = top + len(rows) * (bar_h + gap) + 24
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" '
            f'role="img" aria-label="webaccel memory report">',
            "<title>webaccel memory: bytes per backend and per model</title>",
            f'<text x="4" y="16" font-weight="bold">webaccel memory (max {human_bytes(biggest)})'
            "</text>",
        ]
        for i, (label, parts) in enumerate(rows):
            y = top + i * (bar_h + gap)
            out.append(
                f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end">'
                f"{html.escape(_clip(label, 28))}</text>"
            )
            x = float(label_w)
            for n, color, what in parts:
                w = plot_w * n / biggest
                if w > 0:
                    out.append(
                        f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                        f'fill="{color}"><title>{html.escape(label)}: {what} {n} bytes'
                        "</title></rect>"
                    )
                x += w
            total = sum(n for n, _, _ in parts)
            out.append(f'<text x="{x + 4:.1f}" y="{y + bar_h - 4}">{human_bytes(total)}</text>')
        ly = top + len(rows) * (bar_h + gap) + 8
        x = 4
        for name in ("registry", "other", "own", "shared"):
            out.append(f'<rect x="{x}" y="{ly}" width="10" height="10" fill="{_COLORS[name]}"/>')
            label = {"registry": "in registry", "other": "other live"}.get(name, name)
            out.append(f'<text x="{x + 14}" y="{ly + 9}">{label}</text>')
            x += 20 + 7 * len(label)
        out.append("</svg>")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        def table(head: Sequence[str], body: Iterable[Sequence[Any]]) -> str:
            th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
            trs = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                for row in body
            )
            return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"

        backends = table(
            ("backend", "live bytes", "storages", "shared bytes", "saved bytes", "other bytes"),
            [
                (
                    b.backend,
                    b.live_bytes,
                    b.storages,
                    b.shared_bytes,
                    b.saved_bytes,
                    b.unattributed_bytes,
                )
                for b in self.backends
            ],
        )
        models = table(
            ("model", "backend", "bytes", "shared bytes", "tensors"),
            [(m.model, m.backend, m.bytes, m.shared_bytes, m.tensors) for m in self.models],
        )
        return f"<div><strong>webaccel memory</strong>{backends}{models}{self.svg()}</div>"


_COLORS = {"registry": "#4c78a8", "other": "#bab0ac", "own": "#f58518", "shared": "#54a24b"}


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    allrows = [tuple(head), *[tuple(r) for r in rows]]
    widths = [max(len(r[i]) for r in allrows) for i in range(len(head))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in allrows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return [line.rstrip() for line in lines]


def memory_report(backends: Iterable[str | Device] | None = None) -> MemoryReport:
    """Bytes per backend (live, shared, saved by sharing, outside the registry) and per model
    (held, shared with another model, own) over the running devices (or *backends*)."""
    entries = REGISTRY.entries()
    if backends is None:
        devices = list(running_devices().values())
        for e in entries:
            if e.device not in devices:
                devices.append(e.device)
    else:
        devices = [get_device(b) for b in backends]
    rows: list[BackendMemory] = []
    models: dict[tuple[str, str], ModelMemory] = {}
    for dev in devices:
        mine = [e for e in entries if e.device is dev]
        registered = sum(e.storage.nbytes for e in mine)
        shared = sum(e.storage.nbytes for e in mine if len(e.models()) > 1)
        saved = sum(e.storage.nbytes * (len(e.holders) - 1) for e in mine if e.holders)
        try:
            details = dict(dev.memory())
        except Exception as exc:  # a lost device still gets its row
            details = {"error": f"{type(exc).__name__}: {exc}"}
        rows.append(
            BackendMemory(
                backend=dev.name,
                live_bytes=dev.live_bytes,
                storages=dev.live_storages,
                registered_bytes=registered,
                shared_bytes=shared,
                saved_bytes=saved,
                unattributed_bytes=max(dev.live_bytes - registered, 0),
                leaked_storages=dev.leaked_storages,
                details=details,
                limit=dev.memory_limit,
                evictions=dev.budget.evictions,
                evicted_bytes=dev.budget.evicted_bytes,
                evicted_now_bytes=dev.budget_stats()["evicted_now_bytes"],
            )
        )
        for e in mine:
            names = e.models()
            for name in names:
                row = models.setdefault((name, dev.name), ModelMemory(name, dev.name, 0, 0, 0))
                row.bytes += e.storage.nbytes
                if len(names) > 1:
                    row.shared_bytes += e.storage.nbytes
                row.tensors += sum(1 for m, _ in e.holders.values() if m == name)
    return MemoryReport(rows, sorted(models.values(), key=lambda m: (m.model, m.backend)))


def resident_bytes(device: str | Device | None = None) -> int:
    """Bytes alive on *device* right now (``Device.live_bytes``)."""
    return get_device(device).live_bytes


def _model_bytes(device: Device) -> list[tuple[str, int]]:
    """Resident bytes per model on *device* (the sharing registry's holders), for
    ``MemoryLimitError``'s message; a storage shared by models counts for each."""
    rows: dict[str, int] = {}
    for e in REGISTRY.entries():
        if e.device is device and not e.storage.evicted:
            for name in e.models():
                rows[name] = rows.get(name, 0) + e.storage.nbytes
    return sorted(rows.items(), key=lambda r: -r[1])


budget.HOLDERS.append(_model_bytes)

"""Cross-model weight sharing and memory accounting.

Two models that load the same embedding table should hold it once per device. The registry
here maps (device, dtype, content key) to one device ``Storage``; every tensor handed out for
that content is its own buffer node over the shared storage (one ``acquire`` each), attributed
to a model. When the last of those nodes is collected the storage is released as usual and the
entry disappears: the registry never keeps weights alive by itself.

```python
import webaccel as wa

emb = wa.shared_tensor(table_bytes, "webgpu", dtype="float32", shape=(30522, 384), model="a")
same = wa.shared_tensor(table_bytes, "webgpu", dtype="float32", shape=(30522, 384), model="b")
# one device buffer; `same` is another tensor over it, attributed to model "b"
w = wa.share(some_tensor, model="c")  # register an existing tensor (hashes its bytes)
print(wa.memory_report())  # per backend and per model: bytes, shared bytes
```

The content key is the sha-256 (hex) of the tensor's row-major bytes; callers that already
know it (``webaccel.store`` keeps it in the manifest) pass ``key=`` and nothing is hashed.
``Store.load`` goes through this registry, so a tensor already resident on the device is not
even read from storage again.
"""

from __future__ import annotations

import hashlib
import html
import math
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import _compat
from ._compat import run_sync
from .device import Device, Storage, get_device, running_devices
from .dtypes import DType, as_dtype
from .errors import WebAccelError
from .ir import Node
from .tensor import Tensor, _buffer_tensor, apply

UNNAMED = "(unnamed)"  # the model of tensors shared without model=


def content_key(data: Any) -> str:
    """The sharing key of a bytes-like object: the sha-256 of its bytes, in hex."""
    return hashlib.sha256(memoryview(data).cast("B")).hexdigest()


class _Entry:
    """One shared storage and the nodes holding it (each attributed to one model)."""

    __slots__ = ("device", "holders", "key", "slot", "storage")

    def __init__(self, slot: tuple[Any, ...], key: str, storage: Storage) -> None:
        self.slot, self.key, self.storage = slot, key, storage
        self.device: Device = storage.device
        self.holders: dict[int, tuple[str, weakref.ref[Node]]] = {}

    @property
    def alive(self) -> bool:
        return self.storage.refcount > 0 and self.storage.handle is not None

    def models(self) -> list[str]:
        return sorted({m for m, _ in self.holders.values()})


class SharingRegistry:
    """(device, dtype, content key) -> one storage, with per-model holders. See the module."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], _Entry] = {}

    def __len__(self) -> int:
        return sum(1 for e in self._entries.values() if e.alive)

    @staticmethod
    def _slot(device: Device, dtype: DType, key: str) -> tuple[Any, ...]:
        return (id(device), dtype.name, key)

    def entries(self) -> list[_Entry]:
        """The live entries (dead ones, e.g. of a lost device, are dropped on the way)."""
        for slot in [s for s, e in self._entries.items() if not e.alive]:
            del self._entries[slot]
        return list(self._entries.values())

    def lookup(
        self,
        key: str,
        device: Device,
        dtype: DType,
        shape: Sequence[int],
        model: str | None = None,
    ) -> Tensor | None:
        """A new tensor over the shared storage for *key*, attributed to *model*, or None."""
        entry = self._entries.get(self._slot(device, dtype, key))
        if entry is None:
            return None
        if not entry.alive:
            del self._entries[entry.slot]
            return None
        numel = math.prod(shape)
        if entry.storage.numel != numel:
            raise WebAccelError(
                f"sharing: key {key[:16]}... names {entry.storage.numel} {dtype.name} elements on "
                f"{device.name}, but {numel} were asked for (shape {tuple(shape)}); a content "
                f"key must identify the bytes"
            )
        return self._holder(entry, tuple(shape), dtype, model)

    def register(
        self, t: Tensor, key: str, model: str | None = None, *, adopt: bool = False
    ) -> Tensor:
        """Share *t*'s storage under *key* and return a tensor attributed to *model*. *t* must
        be realized and cover its whole storage densely. When *key* is already shared on that
        device the result is over the existing storage (and *t* is left alone). *adopt*: *t*
        is a fresh upload nobody else holds, so its own node becomes the holder."""
        storage = t._node.storage
        if storage is None or not _whole(t):
            raise WebAccelError(
                "sharing: register() needs a realized tensor over its whole storage"
            )
        hit = self.lookup(key, storage.device, storage.dtype, t.shape, model)
        if hit is not None:
            return hit if t.dtype == storage.dtype else hit.bitcast(t.dtype)
        entry = _Entry(self._slot(storage.device, storage.dtype, key), key, storage)
        self._entries[entry.slot] = entry
        if adopt and t._node.op == "buffer" and t.dtype == storage.dtype:
            self._hold(entry, t._node, model)
            return t
        held = self._holder(entry, t.shape, storage.dtype, model)
        return held if t.dtype == storage.dtype else held.bitcast(t.dtype)

    def _holder(
        self, entry: _Entry, shape: tuple[int, ...], dtype: DType, model: str | None
    ) -> Tensor:
        t = _buffer_tensor(entry.storage.acquire(), shape, dtype)
        self._hold(entry, t._node, model)
        return t

    def _hold(self, entry: _Entry, node: Node, model: str | None) -> None:
        entries = self._entries

        def dropped(ref: weakref.ref[Node]) -> None:
            entry.holders.pop(id(ref), None)
            if not entry.holders and entries.get(entry.slot) is entry:
                del entries[entry.slot]

        ref = weakref.ref(node, dropped)
        entry.holders[id(ref)] = (model or UNNAMED, ref)

    def clear(self) -> None:
        """Forget every entry (the tensors handed out stay valid; they just stop sharing)."""
        self._entries.clear()


def _whole(t: Tensor) -> bool:
    """*t* is its storage, densely: a contiguous view at offset 0 of every element."""
    storage = t._node.storage
    return (
        storage is not None
        and t._view.is_contiguous()
        and t._view.offset == 0
        and storage.numel == t.numel
        and t.dtype.bits == storage.dtype.bits
    )


REGISTRY = SharingRegistry()


# --- the public calls ----------------------------------------------------------------------------


def _bytes_of(data: Any, dtype: Any, shape: Any) -> tuple[memoryview, DType, tuple[int, ...]]:
    if _compat.is_js(data):
        u8 = _compat.js_global("Uint8Array")
        if str(data.constructor.name) != "ArrayBuffer":
            data = u8.new(data.buffer, data.byteOffset, data.byteLength)
        else:
            data = u8.new(data)
        buf = bytearray(data.byteLength)
        data.assign_to(buf)
        data = buf
    if hasattr(data, "__array_interface__"):
        import numpy as np

        arr = np.ascontiguousarray(data)
        dtype = as_dtype(dtype if dtype is not None else arr.dtype)
        arr = np.ascontiguousarray(arr, dtype=dtype.numpy)
        shape = arr.shape if shape is None else shape
        data = arr.reshape(-1).view(np.uint8)
    mv = memoryview(data).cast("B")
    if dtype is None:
        raise ValueError("shared_tensor: give dtype= for raw bytes")
    d = as_dtype(dtype)
    if shape is None:
        if mv.nbytes % max(d.itemsize, 1):
            raise ValueError(f"shared_tensor: {mv.nbytes} bytes is not a whole number of {d.name}")
        shape = (mv.nbytes // d.itemsize,)
    shape = tuple(int(s) for s in shape)
    if mv.nbytes != d.nbytes(math.prod(shape)):
        raise ValueError(
            f"shared_tensor: {mv.nbytes} bytes for shape {shape} of {d.name}, which needs "
            f"{d.nbytes(math.prod(shape))}"
        )
    return mv, d, shape


def shared_tensor(
    data: Any,
    device: str | Device | None = None,
    key: str | None = None,
    *,
    dtype: Any = None,
    shape: Sequence[int] | None = None,
    model: str | None = None,
) -> Tensor:
    """A tensor of *data* on *device*, sharing storage with any tensor of the same content
    (same *key*, dtype and size) already there; attributed to *model*.

    *data*: bytes-like (give *dtype*; *shape* defaults to 1-D), a NumPy array, a JS typed array
    or a webaccel Tensor (then as ``share``). *key* defaults to ``content_key(data)``; pass it
    when known to skip hashing. On a hit nothing is uploaded.
    """
    if isinstance(data, Tensor):
        return share(data, model=model, key=key, device=device)
    mv, d, shape = _bytes_of(data, dtype, shape)
    dev = get_device(device)
    key = key or content_key(mv)
    hit = REGISTRY.lookup(key, dev, d, shape, model)
    if hit is not None:
        return hit
    t = _buffer_tensor(dev.upload(mv, math.prod(shape), d), shape, d)
    return REGISTRY.register(t, key, model, adopt=True)


async def share_async(
    tensor: Tensor,
    model: str | None = None,
    *,
    key: str | None = None,
    device: str | Device | None = None,
) -> Tensor:
    """Register *tensor* for sharing and attribute it to *model*; returns the tensor to keep.

    If a tensor of the same content is already shared on the device, the result is over that
    storage (drop *tensor*: its own storage is then freed); otherwise the result is over
    *tensor*'s storage. Without *key* the bytes are read back and hashed. A view or a pending
    tensor is first made a dense buffer of its own.
    """
    t = tensor.to(device) if device is not None else tensor
    if key is None:
        key = content_key(await t.read_async())
    t.realize()
    if not _whole(t):  # a slice, a broadcast or a transposed view: a dense copy of its own
        t = apply("contiguous", t).realize()
    return REGISTRY.register(t, key, model)


def share(
    tensor: Tensor,
    model: str | None = None,
    *,
    key: str | None = None,
    device: str | Device | None = None,
) -> Tensor:
    """Sync ``share_async`` (reading back to hash needs JSPI in the browser without *key*)."""
    return run_sync(share_async(tensor, model, key=key, device=device))


def shared_models(tensor: Tensor) -> list[str]:
    """The models holding *tensor*'s storage through the registry (empty: not shared)."""
    storage = tensor._node.storage
    for e in REGISTRY.entries():
        if e.storage is storage:
            return e.models()
    return []


# --- the report ----------------------------------------------------------------------------------


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


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


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
                leaked_storages=getattr(dev, "leaked_storages", 0),
                details=details,
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

"""The matmul tuning table: the autotuner (``autotune.py``) writes it, ``kernels/matmul.py``
reads it; neither imports the other.

Per adapter (vendor, architecture, device, description), then per shape class, an entry
``{"config": name, "us": {...}, "rejected": {...}, "at": time}``. It persists in the browser in
``localStorage`` (key ``webaccel.matmul_tuning``), in Node.js and CPython in
``$WEBACCEL_CACHE_DIR/matmul_tuning.json`` (default ``~/.cache/webaccel``; ``run.mjs`` mounts it
into Pyodide's file system), and is read once per ``GPUContext``.

Shape class: m, n and k each rounded to the nearest power of two (16 ... 8192), batched or not,
and the operands' load modes (``k4``, ``m4``, ``n4``: vec4 along that axis; ``k``/``m``/``n``:
scalar loads), which decide which kernels apply.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ... import _compat

CACHE_NAME = "matmul_tuning"  # localStorage "webaccel.matmul_tuning", or matmul_tuning.json
CACHE_FILE = f"{CACHE_NAME}.json"
ADAPTER_FIELDS = ("vendor", "architecture", "device", "description")


def adapter_key(info: dict[str, Any]) -> str:
    return "|".join(str(info.get(k, "")) for k in ADAPTER_FIELDS)


def size_class(x: int) -> int:
    """*x* rounded to the nearest power of two, within 16 ... 8192."""
    return 1 << min(13, max(4, round(math.log2(max(x, 1)))))


def shape_class(m: int, n: int, k: int, a_mode: str, b_mode: str, batched: bool) -> str:
    b = "b" if batched else ""
    return f"m{size_class(m)}n{size_class(n)}k{size_class(k)}{b}/{a_mode},{b_mode}"


def cache_path() -> Path:
    return _compat.cache_file(CACHE_NAME)


def load_cache() -> dict[str, Any]:
    """Everything tuned so far: {adapter key: {shape class: entry}} (a broken cache is empty)."""
    return _compat.recall(CACHE_NAME)


def save_cache(data: dict[str, Any]) -> None:
    """Remember *data* (the choice still holds for this context if it cannot be kept)."""
    _compat.remember(CACHE_NAME, data)


def table(ctx: Any) -> dict[str, Any]:
    """This adapter's entries, read once per context."""
    entries = getattr(ctx, "_matmul_tuning", None)
    if entries is None:
        entries = load_cache().get(adapter_key(ctx.info), {})
        ctx._matmul_tuning = entries
    return entries


def tuned(ctx: Any, m: int, n: int, k: int, a_mode: str, b_mode: str, batched: bool) -> str | None:
    """The config name tuned for this shape class on *ctx*'s adapter, or None (never tuned, or
    a matrix-vector shape, which keeps its own kernel). The caller checks that it knows it."""
    entries = table(ctx)
    if not entries or m < 8:
        return None
    entry = entries.get(shape_class(m, n, k, a_mode, b_mode, batched))
    name = entry.get("config") if isinstance(entry, dict) else None
    return name if isinstance(name, str) else None


def record(ctx: Any, key: str, entry: dict[str, Any], save: bool = True) -> None:
    """Remember *entry* for shape class *key* on *ctx*'s adapter (and in the cache if *save*)."""
    table(ctx)[key] = entry
    if save:
        data = load_cache()
        data.setdefault(adapter_key(ctx.info), {})[key] = entry
        save_cache(data)

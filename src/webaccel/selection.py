"""Backend choice: ``webaccel.init(backend="auto" | "webnn" | "webgpu" | "cpu")``.

"auto" ranks the backends this host really has (``detect()``: hardware GPU, then WebNN, then a
software GPU, then the CPU) and, when more than one is usable, times a short calibration block
on each and keeps the fastest. The calibration result is cached per browser profile
(``localStorage``) or, on CPython, in ``~/.cache/webaccel/calibration.json``, keyed by the host
(user agent, adapter), so it runs once.
"""

from __future__ import annotations

import statistics
import time
from array import array
from typing import Any

from . import _compat
from .capabilities import detect_async
from .device import Device, backend_names, create_device_async, set_default_device
from .errors import WebAccelError
from .functional import softmax
from .tensor import tensor

CACHE_NAME = "calibration"  # localStorage "webaccel.calibration", or calibration.json
_TIER_ORDER = {
    "hardware-gpu": ("webgpu", "webnn", "cpu"),
    "webnn": ("webnn", "webgpu", "cpu"),
    "software-gpu": ("webgpu", "cpu"),
    "cpu-only": ("cpu",),
}


def available(report: dict[str, Any]) -> dict[str, str | None]:
    """Each backend -> None when usable here, else the reason it is not."""
    usable: dict[str, str | None] = {}
    for name in backend_names():
        section = report.get(name) or {"error": "not probed"}
        usable[name] = None if section.get("available") else section.get("error")
    return usable


def candidates(report: dict[str, Any]) -> list[str]:
    """Usable backends, best first by the detected tier."""
    usable = available(report)
    order = _TIER_ORDER[report["tier"]]
    return [b for b in order if usable.get(b, "unknown") is None] + [
        b for b in backend_names() if b not in order and usable[b] is None
    ]


async def init_async(backend: str = "auto", *, calibrate: bool = True) -> Device:
    """Choose (and create) the default backend; see the module docstring."""
    names = backend_names()
    if backend not in ("auto", *names):
        raise ValueError(f"backend must be 'auto' or one of {names}, not {backend!r}")
    report = await detect_async(storage=False)
    usable = available(report)
    if backend != "auto":
        if usable[backend] is not None:
            have = [b for b in names if usable[b] is None] or ["none"]
            raise WebAccelError(
                f"backend {backend!r} is not available here ({usable[backend]}); "
                f"available: {', '.join(have)}"
            )
        await _create(backend)
        return set_default_device(backend)
    ranked = candidates(report)
    if not ranked:
        raise WebAccelError(
            "no backend is available: " + "; ".join(f"{b}: {why}" for b, why in usable.items())
        )
    choice = ranked[0]
    if calibrate and len(ranked) > 1:
        choice = await _calibrated_choice(report, ranked)
    await _create(choice)
    return set_default_device(choice)


def init(backend: str = "auto", *, calibrate: bool = True) -> Device:
    """Synchronous ``init_async`` (in the browser it needs JSPI)."""
    return _compat.run_sync(init_async(backend, calibrate=calibrate))


async def _create(backend: str) -> Device:
    return await create_device_async(backend)


def _host_key(report: dict[str, Any]) -> str:
    gpu = report["webgpu"]
    return "|".join(
        str(x)
        for x in (
            report.get("user_agent") or report.get("python"),
            gpu.get("vendor"),
            gpu.get("architecture"),
            gpu.get("description"),
        )
    )


async def _calibrated_choice(report: dict[str, Any], ranked: list[str]) -> str:
    key = _host_key(report)
    cached = _load_cache().get(key)
    if cached and cached.get("choice") in ranked:
        return cached["choice"]
    timings: dict[str, float] = {}
    for backend in ranked:
        try:
            device = await _create(backend)
            timings[backend] = await calibration_ms_async(device)
        except Exception:  # a backend that cannot run the block is not chosen
            continue
    if not timings:
        return ranked[0]
    choice = min(timings, key=timings.__getitem__)
    cache = _load_cache()
    cache[key] = {"choice": choice, "ms": timings, "at": time.time()}
    _save_cache(cache)
    return choice


async def calibration_ms_async(device: Device, size: int = 128, runs: int = 3) -> float:
    """Median ms of a small transformer-like block (matmul, gelu, softmax) on *device*."""
    values = array("f", [((i * 37) % 17 - 8) / 16 for i in range(size * size)])
    x = tensor(values, device=device).reshape(size, size)
    w = tensor(values, device=device).reshape(size, size)

    async def once() -> float:
        t0 = time.perf_counter()
        y = softmax((x @ w).gelu() @ w, -1)
        await y[:1, :1].read_async()  # waits for the device
        return (time.perf_counter() - t0) * 1e3

    await once()  # compiles
    return statistics.median([await once() for _ in range(runs)])


def _load_cache() -> dict[str, Any]:
    return _compat.recall(CACHE_NAME)


def _save_cache(cache: dict[str, Any]) -> None:
    _compat.remember(CACHE_NAME, cache)  # if it cannot be kept, calibration just runs again

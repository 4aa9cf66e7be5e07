"""The CPU backend (NumPy): ``device.py`` (CPUDevice), ``impls.py`` (the op table, the
reference implementation of every op), ``probe.py`` (what ``detect()`` reports)."""

from __future__ import annotations

from ...device import Backend, Device, register_backend, running_devices
from ...dtypes import float32  # in this module's __all__ since 0.1.0
from .device import CPUDevice
from .impls import erf
from .probe import probe_async


async def _create_async() -> Device:
    # One NumPy device per process: there is no context to acquire again, and tensors already
    # on it stay valid, so init("cpu") keeps the running one.
    return running_devices().get("cpu") or CPUDevice()


# name, fallback rank, device class, create, create_async, probe, needs
BACKEND = register_backend(
    Backend("cpu", 2, CPUDevice, CPUDevice, _create_async, probe_async, "NumPy")
)

__all__ = ["BACKEND", "CPUDevice", "erf", "float32"]

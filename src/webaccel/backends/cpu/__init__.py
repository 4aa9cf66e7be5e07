"""The CPU backend (NumPy): ``device.py`` (CPUDevice), ``impls.py`` (the op table, the
reference implementation of every op), ``probe.py`` (what ``detect()`` reports). Light to
import: NumPy itself is bound when the first CPU device is made."""

from __future__ import annotations

from ...device import Backend, register_backend
from ...dtypes import float32  # in this module's __all__ since 0.1.0
from .device import IMPLEMENTATION, CPUDevice
from .impls import erf
from .probe import probe_async

BACKEND = register_backend(Backend("cpu", 2, "NumPy", probe_async, lambda: IMPLEMENTATION))

__all__ = ["BACKEND", "CPUDevice", "erf", "float32"]

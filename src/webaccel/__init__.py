"""webaccel: run neural networks from Python in the browser (WebNN, WebGPU, NumPy fallback).

Pure Python; inside Pyodide it drives the browser's accelerators through the JS FFI, on CPython
it runs the NumPy backend. ``import webaccel`` never needs NumPy.
"""

from __future__ import annotations

from ._compat import IN_PYODIDE, SyncUnavailableError, WebAccelError
from .capabilities import detect, detect_async, format_report

__version__ = "0.1.0"

__all__ = [
    "IN_PYODIDE",
    "SyncUnavailableError",
    "WebAccelError",
    "__version__",
    "detect",
    "detect_async",
    "format_report",
]

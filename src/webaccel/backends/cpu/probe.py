"""What ``detect()`` reports for the CPU backend: whether NumPy imports here."""

from __future__ import annotations

import importlib.metadata
from typing import Any


async def probe_async() -> dict[str, Any]:
    try:
        version = importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return {
            "available": False,
            "error": "NumPy is not installed (in Pyodide: `await pyodide.loadPackage('numpy')`)",
        }
    return {"available": True, "error": None, "numpy": version}

"""The backend's WGSL files, read from the package beside the modules that use them.

``common.wgsl`` (the math every generated kernel shares: NumPy's NaN/inf rules, erf, gelu...)
and ``probe.wgsl`` (the compute check ``detect()`` runs) sit here; each kernel family's shader
sits beside its module in ``kernels/``. They travel in the wheel as package data and are read
with importlib.resources, in Pyodide as on CPython.
"""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def read(package: str, name: str) -> str:
    """The text of the WGSL file *name* of *package* (a dotted module path)."""
    folder = resources.files(package)
    path = folder / name
    if not path.is_file():
        available = sorted(p.name for p in folder.iterdir() if p.name.endswith(".wgsl"))
        raise FileNotFoundError(f"no WGSL file {name!r} in {package}; available: {available}")
    return path.read_text(encoding="utf-8")


def common() -> str:
    """``common.wgsl``: the ``wa_*`` functions generated kernels call."""
    return read(__package__, "common.wgsl")


def probe() -> str:
    """``probe.wgsl``: ``out[i] = in[i] * 2 + 1``, the capability probe's shader."""
    return read(__package__, "probe.wgsl")

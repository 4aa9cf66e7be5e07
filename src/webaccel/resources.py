"""Files the package carries outside its modules: the JS glue (``js_glue/``).

In the wheel it sits inside the package (``webaccel/js_glue``) and is read with
importlib.resources, in Pyodide as on CPython. In an editable source checkout it is read from
the repository's top-level folder, where it is edited. (The WGSL shaders live beside the
WebGPU modules that use them: ``backends/webgpu/shaders.py`` reads them.)
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

KINDS = ("js_glue",)


@functools.cache
def resource_dir(kind: str) -> Traversable:
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}; expected one of {KINDS}")
    packaged = resources.files("webaccel") / kind
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / kind
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"webaccel resource folder {kind!r} is missing from this install")


def read_text(kind: str, name: str) -> str:
    """The text of resource *name* of *kind* (``"js_glue"``)."""
    path = resource_dir(kind) / name
    if not path.is_file():
        available = sorted(p.name for p in resource_dir(kind).iterdir())
        raise FileNotFoundError(f"no {kind} resource {name!r}; available: {available}")
    return path.read_text(encoding="utf-8")


def list_resources(kind: str) -> list[str]:
    return sorted(p.name for p in resource_dir(kind).iterdir() if p.is_file())

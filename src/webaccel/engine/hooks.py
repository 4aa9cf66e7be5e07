"""Observers of program runs, installed by optional modes (``webaccel.verify``).

``realize`` and ``capture`` call ``after_run(device, program, inputs, outputs, captured)`` after a
device ran a program (the lowered, unoptimized ``Program``; ``captured``: a ``capture`` replay)
and use the storages it returns in place of *outputs*. It is None unless a mode installed it, so
with every mode off a run pays one attribute check and never calls into the mode.
"""

from __future__ import annotations

from collections.abc import Callable

from ..device import Device, Storage
from ..ir import Program

AfterRun = Callable[[Device, Program, list[Storage], list[Storage], bool], list[Storage]]

after_run: AfterRun | None = None


def install(hook: AfterRun | None) -> None:
    """Set (or, with None, remove) the run observer."""
    global after_run
    after_run = hook

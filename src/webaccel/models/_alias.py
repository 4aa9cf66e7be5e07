"""One-release aliases for modules that moved out of ``webaccel.models``."""

from __future__ import annotations

import importlib
import sys
import warnings


def alias(old: str, new: str) -> None:
    """Make module *old* the module *new* (the same object, private names included), with a
    DeprecationWarning for whoever imported the old name."""
    warnings.warn(
        f"{old} moved to {new}; the old name goes in the next release",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)

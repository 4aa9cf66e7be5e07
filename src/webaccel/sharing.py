"""One-release alias of ``webaccel.weights.sharing`` and ``webaccel.weights.report`` (sharing
and the memory report moved into ``webaccel.weights``): their public names, as they declare
them."""

from __future__ import annotations

from .weights import report as _report
from .weights import sharing as _sharing
from .weights.report import *  # noqa: F403 (the alias is exactly their __all__)
from .weights.sharing import *  # noqa: F403

__all__ = [*_report.__all__, *_sharing.__all__]

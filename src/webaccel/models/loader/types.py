"""Small types the loader's modules share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Progress = Callable[[int, int], Any]  # (bytes done, bytes in all)

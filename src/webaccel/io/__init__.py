"""File formats and file access for model weights: ``safetensors`` today (ONNX and GGUF next),
and ``fetch_bytes`` (a URL or path's bytes, in a page through the browser's fetch)."""

from __future__ import annotations

from . import safetensors
from .fetch import fetch_bytes

__all__ = ["fetch_bytes", "safetensors"]

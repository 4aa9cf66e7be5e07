"""The backends, one package each: its ``Device`` with an op table, its probe, its ``Backend``
row in the backend table (``webaccel.device.backends()``), registered on import.

``cpu`` (NumPy, the reference), ``webgpu`` (WGSL kernels), ``webnn`` (MLGraph). Placement,
``init()``, ``detect()`` and the lab's command line read the table, never these names.
"""

from __future__ import annotations

from . import cpu, webgpu, webnn

__all__ = ["cpu", "webgpu", "webnn"]

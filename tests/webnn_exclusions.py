"""The op cases (``op_cases.py``) that do not run on the headless shell's WebNN, with why.

case id -> (kind, reason). kind ``"limits"``: ``opSupportLimits()`` refuses an op/dtype/rank the
case needs; ``"spec"``: WebNN defines the op differently. The browser lane checks each against
the live context (``browser/test_ops_webnn.py``); the host lane checks the ``"limits"`` ones
against the recorded limits (``test_webnn_lowering.py``).
"""

from __future__ import annotations

EXCLUDED: dict[str, tuple[str, str]] = {
    "matmul-int32": ("limits", "WebNN matmul takes float32/float16 only (no int32 matmul)"),
    "gelu-tail": (
        "spec",
        "WebNN defines gelu as 0.5 * x * (1 + erf(x / sqrt(2))); evaluated in float32 that "
        "cancels to -0 for x < -5.5 (absolute error < 6e-7), where webaccel's gelu keeps relative "
        "accuracy (0.5 * x * erfc(-x / sqrt(2)))",
    ),
}

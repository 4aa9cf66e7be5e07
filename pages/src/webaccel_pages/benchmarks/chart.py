"""A small SVG bar chart of benchmark rows (ours vs the peer's ms per case), with no
dependencies, so the page and the CLI draw the same picture. Bars are on a log scale: the cases
span milliseconds (WebNN, seq 16) to seconds (SwiftShader, seq 128 batch 8)."""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

OURS, PEER = "#2b6cb0", "#c05621"


def ratio_svg(result: Any, peer: str = "onnxruntime-web", width: int = 760) -> str:
    """``<svg>`` for *result*'s ``rows`` (``backend``, ``seq``, ``batch``, ``ours_ms``,
    ``ort_ms``, ``ratio``): per case a pair of bars and the ratio ours / peer."""
    if isinstance(result, str):
        result = json.loads(result)
    rows = [r for r in result.get("rows", []) if r.get("ours_ms")]
    row_h, label_w, top = 34, 190, 28
    height = top + row_h * max(1, len(rows)) + 24
    values = [v for r in rows for v in (r.get("ours_ms"), r.get("ort_ms")) if v]
    lo = math.floor(math.log10(min(values))) if values else 0
    hi = math.ceil(math.log10(max(values))) if values else 1
    hi = max(hi, lo + 1)
    span = width - label_w - 90

    def x(ms: float) -> float:
        return label_w + span * (math.log10(ms) - lo) / (hi - lo)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12" role="img" '
        f'aria-label="webaccel vs {escape(peer)}, ms per run">',
        f'<text x="{label_w}" y="16">ms per run (log scale): '
        f'<tspan fill="{OURS}">■ webaccel</tspan> <tspan fill="{PEER}">■ {escape(peer)}</tspan>'
        "</text>",
    ]
    for k in range(lo, hi + 1):
        gx = x(10.0**k)
        out.append(
            f'<line x1="{gx:.1f}" y1="{top - 4}" x2="{gx:.1f}" y2="{height - 20}" stroke="#ddd"/>'
            f'<text x="{gx:.1f}" y="{height - 6}" text-anchor="middle" fill="#666">'
            f"{10.0**k:g}</text>"
        )
    for i, r in enumerate(rows):
        y = top + i * row_h
        label = f"{r['backend']} vs {r.get('ep', '?')}, seq {r['seq']} × {r['batch']}"
        out.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>')
        for j, (key, color) in enumerate((("ours_ms", OURS), ("ort_ms", PEER))):
            ms = r.get(key)
            if not ms:
                continue
            out.append(
                f'<rect x="{label_w}" y="{y + 4 + j * 13}" width="{max(1.0, x(ms) - label_w):.1f}" '
                f'height="11" fill="{color}"><title>{escape(key)}: {ms:.2f} ms</title></rect>'
            )
        if r.get("ratio"):
            out.append(f'<text x="{width - 84}" y="{y + 17}">ratio {r["ratio"]:.2f}</text>')
    out.append("</svg>")
    return "".join(out)

"""Plain-text tables and error lines for the commands' output (people read these; the JSON
output is for tools)."""

from __future__ import annotations


def columns(rows: list[tuple[str, ...]], numbers: bool = True) -> list[str]:
    """*rows* (the first is the header) as aligned lines with a rule under the header; with
    *numbers* every column but the first is right-aligned."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            (str(c).rjust(w) if numbers and i > 0 else str(c).ljust(w))
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def last_line(text: str | None) -> str | None:
    """The last non-blank line of *text* (a traceback's message), or None."""
    if not text:
        return None
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None

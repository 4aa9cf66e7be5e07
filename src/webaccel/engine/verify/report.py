"""What verify found and what it cost: ``VerifyReport``, ``Disagreement`` (with its reproducer),
``Drift``, and the error and warning a disagreement raises or issues."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import WebAccelError
from .compare import Mismatch
from .reproducer import Case, StepInput, reproducer_source


@dataclass
class Disagreement:
    """What a device computes differently from the cpu reference, beyond the tolerance.

    ``kind`` "op": an op of the program the device ran (the written program after the graph
    passes) disagrees alone, given the reference's values for its inputs: ``op``, ``attrs`` and
    ``inputs`` (shapes, dtypes, views, values) say which and with what. ``rewritten``: the op
    came from the passes (e.g. a written-out softmax made one ``softmax`` step).
    ``kind`` "rewrite": every op agrees alone, but on the reference itself the passes' program
    gives other results than the written one: a rewrite that does not preserve the written
    expression (``op`` is the written program's output op, ``inputs`` its inputs)."""

    backend: str
    op: str
    attrs: tuple[tuple[str, Any], ...]
    inputs: list[StepInput]
    shape: tuple[int, ...]
    dtype: str
    mismatch: Mismatch
    program_ops: tuple[str, ...]  # the written program's ops, in order
    captured: bool  # found in a ``capture`` replay
    case: Case  # what ``reproducer()`` runs
    kind: str = "op"
    rewritten: bool = False
    fixed: bool = False  # verify(fix=True) denied the op on the backend

    def reproducer(self) -> str:
        """A Python script of webaccel calls that fails (AssertionError) while the
        disagreement lasts: the op alone on the backend against cpu, or for a rewrite the
        written program lazily (rewritten) against eagerly (op by op)."""
        return reproducer_source(self)

    def save(self, path: str | Path) -> Path:
        """Write ``reproducer()`` to *path*; returns the path."""
        path = Path(path)
        path.write_text(self.reproducer())
        return path

    @property
    def summary(self) -> str:
        shapes = ", ".join(f"{i.view_dtype} {tuple(i.view.shape)}" for i in self.inputs)
        return f"{self.op}({shapes}) on {self.backend}"

    def __str__(self) -> str:
        where = f"a {len(self.program_ops)}-op {'captured ' if self.captured else ''}program"
        if self.kind == "rewrite":
            head = (
                f"the graph passes' rewrite of {where} ending in {self.op} gives other results "
                f"than the program as written, on the cpu reference too (on {self.backend})"
            )
        else:
            made = ", made by the graph passes" if self.rewritten else ""
            head = f"{self.summary} disagrees with the cpu reference (in {where}{made})"
        fixed = f"; denied on {self.backend} from now on" if self.fixed else ""
        return f"{head}: {self.mismatch}{fixed}"


@dataclass
class Drift:
    """A program whose output was outside its last op's tolerance while every op agrees alone
    and the passes preserve the written results on the reference: rounding accumulated over a
    chain of ops (or inside a kernel the device fused from several), not one wrong op.
    Recorded, never raised."""

    backend: str
    program_ops: tuple[str, ...]
    mismatch: Mismatch

    def __str__(self) -> str:
        return (
            f"drift on {self.backend} over a {len(self.program_ops)}-op program ending in "
            f"{self.program_ops[-1]}: {self.mismatch} (every op agrees alone)"
        )


class VerificationError(WebAccelError):
    """A device disagreed with the cpu reference (``verify(True, strict=True)``)."""

    def __init__(self, disagreements: list[Disagreement]) -> None:
        self.disagreements = disagreements
        lines = "\n".join(f"- {d}" for d in disagreements)
        super().__init__(
            f"webaccel.verify: {len(disagreements)} disagreement(s) with the cpu reference:\n"
            f"{lines}\n(each has .reproducer() and .save(path))"
        )


class VerificationWarning(UserWarning):
    """A device disagreed with the cpu reference (``verify(True)``; the report keeps it)."""


@dataclass
class VerifyReport:
    """What verify checked and what it cost. ``print(webaccel.verify_report())``."""

    programs: dict[str, int] = field(default_factory=dict)  # programs checked per backend
    reference_ms: float = 0.0  # running programs on the cpu reference
    readback_ms: float = 0.0  # reading the device's inputs and outputs back
    buffers_read: int = 0  # device buffers read back (each input once, however many programs)
    bytes_read: int = 0
    compare_ms: float = 0.0
    bisect_ms: float = 0.0  # running disagreeing programs' ops one by one
    disagreements: list[Disagreement] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what bisection could not run

    @property
    def programs_checked(self) -> int:
        return sum(self.programs.values())

    @property
    def total_ms(self) -> float:
        return self.reference_ms + self.readback_ms + self.compare_ms + self.bisect_ms

    def as_dict(self) -> dict[str, Any]:
        return {
            "programs_checked": self.programs_checked,
            "programs": dict(self.programs),
            "reference_ms": round(self.reference_ms, 3),
            "readback_ms": round(self.readback_ms, 3),
            "buffers_read": self.buffers_read,
            "bytes_read": self.bytes_read,
            "compare_ms": round(self.compare_ms, 3),
            "bisect_ms": round(self.bisect_ms, 3),
            "total_ms": round(self.total_ms, 3),
            "disagreements": [str(d) for d in self.disagreements],
            "drifts": [str(d) for d in self.drifts],
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        per = ", ".join(f"{n} on {b}" for b, n in sorted(self.programs.items())) or "none"
        lines = [
            f"webaccel.verify: {self.programs_checked} program(s) checked ({per}); cost "
            f"{_ms(self.total_ms)}: cpu reference {_ms(self.reference_ms)}, reading "
            f"{self.buffers_read} device buffer(s) ({self.bytes_read / 1e6:.2f} MB) "
            f"{_ms(self.readback_ms)}, comparing {_ms(self.compare_ms)}, bisecting "
            f"{_ms(self.bisect_ms)}",
            f"{len(self.disagreements) or 'no'} disagreement(s)"
            + (f", {len(self.drifts)} drift(s)" if self.drifts else ""),
        ]
        lines += [f"- {d}" for d in self.disagreements]
        lines += [f"- {d}" for d in self.drifts]
        lines += [f"- note: {n}" for n in self.notes]
        return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if math.isfinite(value) else "? ms"

"""``webaccel.verify``: a self-checking mode. Each compiled program, the first time it runs on a
device, runs again, as written, on a cpu reference of verify's own, and every output is compared
within its op's tolerance (the op table's, ``webaccel.ops.tolerance``; the rule in ``compare``).

A program that disagrees is bisected: each op of the program the device ran (the written one
after the graph passes) runs alone on the device with the reference's values for its inputs,
and each op that then disagrees is a ``Disagreement`` carrying its inputs and a reproducer
(``.reproducer()``: a script of webaccel calls; ``.save(path)``). If no op disagrees alone, the
reference runs the rewritten program too: if that differs from the written one, a graph pass
changed the results (a "rewrite" disagreement); if not, it is rounding accumulated along the
chain (a ``Drift``: recorded, never raised). Ops that agree once subnormal inputs are read as
zeros (WGSL lets a GPU do that) are a note, not a disagreement. Programs on the cpu device are
checked where the passes rewrote them (the rewrite against the written program).

    webaccel.verify(True)                  # warn (VerificationWarning) on a disagreement
    webaccel.verify(True, strict=True)     # raise VerificationError instead
    webaccel.verify(True, fix=True)        # and move the op off that backend from then on
    with webaccel.verifying() as report:   # just for a block; report covers the block
        ...
    print(webaccel.verify_report())        # programs checked, ms on the reference, findings

With ``fix=True`` a disagreeing op is denied on its backend (``webaccel.deny``: placement runs
it on the next running backend, the cpu device is started for that), the run that found it
returns the reference's results, and a captured program holding it is run through placement
from then on (a replay would keep the op where it was traced). ``strict`` raises after that.

Off by default, and off it costs one check per program run (``hooks.after_run is None``).
The checks read device buffers synchronously: in a page that needs JSPI. NumPy is needed for
the reference (``compare.NO_NUMPY`` says where it is and is not available).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ...device import Device, Storage, get_device
from ...errors import SyncUnavailableError
from ...ir import Program, Step
from ...ops import Tolerance
from .. import hooks
from ..passes import optimize
from ..placement import denied, deny
from . import compare, runs
from .compare import Mismatch, StepValues
from .report import Disagreement, Drift, VerificationError, VerificationWarning, VerifyReport
from .reproducer import op_case, program_case, step_inputs


@dataclass
class Settings:
    on: bool = False
    fix: bool = False
    strict: bool = False


_settings = Settings()
_reports: list[VerifyReport] = [VerifyReport()]  # the global report, then any verifying() blocks
# programs already checked, per device: (captured, program); a new device (one rebuilt after
# a loss) checks again
_checked: weakref.WeakKeyDictionary[Device, set[tuple[bool, Program]]] = weakref.WeakKeyDictionary()
# captured programs holding an op that fix mode denied on their device: run through placement
_rerouted: weakref.WeakKeyDictionary[Device, set[Program]] = weakref.WeakKeyDictionary()
calls = [0]  # how many times a run called into verify (tests assert it stays 0 when off)


def verify(on: bool = True, *, fix: bool = False, strict: bool = False) -> VerifyReport:
    """Turn the self-checking mode on or off; returns the report (``verify_report()``).

    *fix*: deny a disagreeing op on its backend from then on, and give this run the reference's
    results. *strict*: raise ``VerificationError`` instead of warning."""
    if on:
        compare.load_numpy()
    _settings.on, _settings.fix, _settings.strict = bool(on), bool(fix), bool(strict)
    if not on:
        runs.forget_inputs()
    _install()
    return _reports[0]


@contextmanager
def verifying(*, fix: bool = False, strict: bool = False) -> Iterator[VerifyReport]:
    """Verify only inside a ``with`` block; yields a report of the block's checks (the global
    report counts them too). The settings before the block come back after it."""
    before = Settings(_settings.on, _settings.fix, _settings.strict)
    block = VerifyReport()
    verify(True, fix=fix, strict=strict)
    _reports.append(block)
    try:
        yield block
    finally:
        _reports.remove(block)
        _settings.on, _settings.fix, _settings.strict = before.on, before.fix, before.strict
        _install()


def verify_report(reset: bool = False) -> VerifyReport:
    """What verify checked so far and what it cost (``print`` it). *reset*: start a new one
    (programs already checked stay checked)."""
    if reset:
        _reports[0] = VerifyReport()
    return _reports[0]


def forget_checked() -> None:
    """Check every program again at its next run, and read its inputs back again, as right
    after ``verify(True)`` in a fresh page (the reports keep their counts). For measuring what
    a first check costs more than once (``webaccel bench verify``)."""
    _checked.clear()
    runs.forget_inputs()


def _install() -> None:
    needed = _settings.on or any(_rerouted.values())
    hooks.install(_after_run if needed else None)


def _after_run(
    device: Device, program: Program, inputs: list[Storage], outputs: list[Storage], captured: bool
) -> list[Storage]:
    """``hooks.after_run``: check the first run of each program on each device."""
    calls[0] += 1
    if captured and program in _rerouted.get(device, ()):
        if any(denied(step.op, device.name) for step in program.steps):
            for storage in outputs:
                storage.release()
            return runs.run_placed(device, program, inputs)
        _rerouted[device].discard(program)  # allow() undid the fix
        _install()  # off, and nothing left to reroute: the hook goes
    if not _settings.on:
        return outputs
    seen = _checked.setdefault(device, set())
    if (captured, program) in seen:
        return outputs
    seen.add((captured, program))
    if device.name == runs.REFERENCE and optimize(program, device) is program:
        return outputs  # the cpu ran it as written: it is the reference
    try:
        return _check(device, program, inputs, outputs, captured)
    except SyncUnavailableError as exc:  # no JSPI here: check later, where it can wait
        seen.discard((captured, program))
        note = f"programs on {device.name} go unchecked: reading them back needs JSPI ({exc})"
        if note not in _reports[0].notes:  # said once, not at every run
            warnings.warn(f"webaccel.verify: {note}", VerificationWarning, stacklevel=2)
        for report in _reports:
            if note not in report.notes:
                report.notes.append(note)
        return outputs


def _check(
    device: Device, program: Program, inputs: list[Storage], outputs: list[Storage], captured: bool
) -> list[Storage]:
    t0 = time.perf_counter()
    read_before = list(runs.reads)
    input_bytes = runs.read_all(inputs, remember=True)
    output_bytes = runs.read_all(outputs)
    t1 = time.perf_counter()
    buffers, nbytes = (now - then for now, then in zip(runs.reads, read_before, strict=True))
    values = StepValues(program, input_bytes, runs.run_reference(program, input_bytes))
    t2 = time.perf_counter()
    bad = _compare_outputs(values, output_bytes)
    t3 = time.perf_counter()
    notes: list[str] = []
    findings = _bisect(device, values, bad, captured, notes) if bad else []
    t4 = time.perf_counter()
    for report in _reports:
        report.programs[device.name] = report.programs.get(device.name, 0) + 1
        report.readback_ms += (t1 - t0) * 1e3
        report.buffers_read += buffers
        report.bytes_read += nbytes
        report.reference_ms += (t2 - t1) * 1e3
        report.compare_ms += (t3 - t2) * 1e3
        report.bisect_ms += (t4 - t3) * 1e3
        report.disagreements += [f for f in findings if isinstance(f, Disagreement)]
        report.drifts += [f for f in findings if isinstance(f, Drift)]
        report.notes += notes
    found = [f for f in findings if isinstance(f, Disagreement)]
    if not found:
        return outputs
    if _settings.fix:
        outputs = _fix(device, program, values, outputs, found, captured)
    if _settings.strict:
        for storage in outputs:
            storage.release()
        raise VerificationError(found)
    for d in found:
        warnings.warn(
            f"webaccel.verify: {d} (webaccel.verify_report() lists it; .reproducer())",
            VerificationWarning,
            stacklevel=_caller_level(),
        )
    return outputs


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside webaccel (how deep
    that is depends on whether realize, capture or a placement reroute ran the program)."""
    frame, level = sys._getframe(2), 2  # the caller of the function that warns
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


_PACKAGE = str(Path(__file__).resolve().parents[2]) + os.sep


def _compare_outputs(values: StepValues, output_bytes: list[bytes]) -> list[tuple[int, Mismatch]]:
    """(step index, mismatch) for each program output outside its op's tolerance."""
    bad = []
    for got, index in zip(output_bytes, values.program.outputs, strict=True):
        step = values.program.steps[index]
        tol = compare.step_tolerance(step, values)
        found = compare.compare(got, values.steps[index], step, tol)
        if found is not None:
            bad.append((index, found))
    return bad


def _bisect(
    device: Device,
    values: StepValues,
    bad: list[tuple[int, Mismatch]],
    captured: bool,
    notes: list[str],
) -> list[Disagreement | Drift]:
    """The program *device* ran (the written one after the graph passes), op by op on
    *device* with the cpu reference's values for each op's inputs: the ops that disagree. If
    none does, the reference runs both programs: a rewrite that changes the results, or
    rounding accumulated along the chain."""
    written = values.program
    ops = tuple(step.op for step in written.steps)
    ran = optimize(written, device)
    rewritten = ran is not written
    if rewritten:
        ran_values = StepValues(ran, values.inputs, runs.run_reference(ran, values.inputs))
    else:
        ran_values = values
    found: list[Disagreement | Drift] = []
    flushed: list[str] = []  # ops that agree once their subnormal inputs are read as zeros
    for index, step in enumerate(ran.steps):
        alone, data = runs.single_step(ran_values, index)
        try:
            (got,) = runs.run_bytes(device, alone, data, optimized=True)
        except Exception as exc:  # verify reports what it could not run; it never breaks the run
            notes.append(f"{step.op} could not run alone on {device.name}: {exc}")
            continue
        tol = compare.step_tolerance(step, ran_values)
        mismatch = compare.compare(got, ran_values.steps[index], step, tol)
        if mismatch is None:
            continue
        if _agrees_flushed(alone, data, got, step, tol):  # WGSL lets a GPU flush them
            flushed.append(step.op)
            continue
        inputs = step_inputs(ran_values, step)
        found.append(
            Disagreement(
                device.name,
                step.op,
                step.attrs,
                inputs,
                step.shape,
                step.dtype.name,
                mismatch,
                ops,
                captured,
                op_case(step.op, step.attrs, inputs),
                rewritten=rewritten and step not in written.steps,
            )
        )
    if found:
        return found
    if flushed:
        notes.append(
            f"a program on {device.name} differs where {', '.join(sorted(set(flushed)))} read "
            f"subnormal inputs, which {device.name} flushes to zero (WGSL allows it): no "
            "disagreement"
        )
        return []
    if rewritten:
        changed = _compare_outputs(values, [ran_values.steps[i] for i in ran.outputs])
        if changed:
            index, mismatch = changed[0]
            step = written.steps[index]
            return [
                Disagreement(
                    device.name,
                    step.op,
                    step.attrs,
                    step_inputs(values, step),
                    step.shape,
                    step.dtype.name,
                    mismatch,
                    ops,
                    captured,
                    program_case(values),
                    kind="rewrite",
                )
            ]
    return [Drift(device.name, ops, mismatch) for _, mismatch in bad]


def _agrees_flushed(
    alone: Program, data: list[bytes], got: bytes, step: Step, tol: Tolerance
) -> bool:
    """Does *got* agree with the reference once subnormal inputs are read as zeros?"""
    for sign in compare.FLUSH_SIGNS:
        without = compare.flush_subnormals(alone, data, sign)
        if without is None:
            return False
        (want,) = runs.run_bytes(runs.reference_device(), alone, without, optimized=False)
        if compare.compare(got, want, step, tol) is None:
            return True
    return False


def _fix(
    device: Device,
    program: Program,
    values: StepValues,
    outputs: list[Storage],
    found: list[Disagreement],
    captured: bool,
) -> list[Storage]:
    """Deny the disagreeing ops on *device*; this run's outputs become the reference's."""
    ops = [d for d in found if d.kind == "op"]
    if ops:
        get_device(runs.REFERENCE)  # a running backend for the denied ops to fall back to
    for d in ops:
        deny(d.op, device.name)
        d.fixed = True
    if ops and captured:
        _rerouted.setdefault(device, set()).add(program)
        _install()
    fixed = []
    for index in program.outputs:
        _, count, dtype = values.storage_of(program.n_inputs + index)
        fixed.append(runs.upload(device, values.steps[index], count, dtype))
    for storage in outputs:
        storage.release()
    return fixed


__all__ = [
    "Disagreement",
    "Drift",
    "VerificationError",
    "VerificationWarning",
    "VerifyReport",
    "forget_checked",
    "verify",
    "verify_report",
    "verifying",
]

"""A disagreement as a script that reproduces it with webaccel calls.

The script holds storages (their bytes, element counts and dtypes) and steps (op, attributes,
and per input the slot it reads with the view and dtype it reads it through). It builds the
storages with ``webaccel.from_buffer``, applies the steps with ``webaccel.tensor.apply`` and
asserts that the backend agrees with what it is held to, within the tolerance: it fails while
the backend still disagrees.

- An op that disagrees: one step, each input cut to the span its view reads; the backend's
  result against the cpu backend's.
- A graph-pass rewrite that changes results: the whole written program; the program run
  lazily (the passes rewrite it) against the same program run op by op in eager mode (nothing
  to rewrite), both on the backend.
"""

from __future__ import annotations

import base64
import math
import textwrap
from dataclasses import dataclass
from typing import Any, Protocol

from ...dtypes import as_dtype
from ...ir import Step
from ...view import View
from . import compare
from .compare import Mismatch, StepValues


class Disagreement(Protocol):
    """What ``reproducer_source`` reads of a ``report.Disagreement`` (a protocol here, so this
    module does not import the report that imports it)."""

    backend: str
    op: str
    kind: str
    case: Case
    mismatch: Mismatch


SHOWN_VALUES = 16  # storages up to this many elements also appear as numbers in a comment


@dataclass(frozen=True)
class StepInput:
    """One input of an op as the reference gave it: a storage and the view the op reads."""

    data: bytes  # the storage's bytes (for a lone op: only the span its view reaches)
    count: int  # elements of that storage
    dtype: str  # the storage's dtype
    view: View
    view_dtype: str  # the dtype the op reads it as (differs for a bitcast view)


@dataclass(frozen=True)
class Case:
    """Storages and the steps over them: what a reproducer script runs."""

    storages: list[tuple[bytes, int, str]]  # (bytes, elements, dtype)
    steps: list[tuple[str, tuple[tuple[str, Any], ...], list[tuple[int, View, str]]]]
    outputs: list[int]  # step indices whose results are compared


def step_inputs(values: StepValues, step: Step) -> list[StepInput]:
    """*step*'s inputs as the reference had them, each cut to the span its view reads."""
    out = []
    for slot, view, dtype in step.srcs:
        data, count, storage_dtype = values.storage_of(slot)
        if dtype is storage_dtype and dtype.numpy is not None and view.numel:
            lo, hi = view.span()
            size = dtype.itemsize
            data, count = data[lo * size : (hi + 1) * size], hi - lo + 1
            view = View(view.shape, view.strides, view.offset - lo)
        out.append(StepInput(data, count, storage_dtype.name, view, dtype.name))
    return out


def op_case(op: str, attrs: tuple[tuple[str, Any], ...], inputs: list[StepInput]) -> Case:
    storages = [(i.data, i.count, i.dtype) for i in inputs]
    srcs = [(k, i.view, i.view_dtype) for k, i in enumerate(inputs)]
    return Case(storages, [(op, attrs, srcs)], [0])


def program_case(values: StepValues) -> Case:
    """The written program, with its inputs' bytes as the device held them."""
    program = values.program
    storages = [
        (data, count, dtype.name)
        for data, (count, dtype) in zip(values.inputs, program.inputs, strict=True)
    ]
    steps = [
        (s.op, s.attrs, [(slot, view, dtype.name) for slot, view, dtype in s.srcs])
        for s in program.steps
    ]
    return Case(storages, steps, list(program.outputs))


def reproducer_source(d: Disagreement) -> str:
    rtol, atol = d.mismatch.tolerance
    case = d.case
    rewrite = d.kind == "rewrite"
    if rewrite:
        compared = (
            "got = run(BACKEND)  # lazily: the graph passes rewrite the program\n"
            "eager = wa.set_eager(True)  # op by op: nothing to rewrite\n"
            "try:\n"
            "    want = run(BACKEND)\n"
            "finally:\n"
            "    wa.set_eager(eager)\n"
        )
        what = f"the graph passes' rewrite of this program on {d.backend} changes its results"
    else:
        compared = 'got, want = run(BACKEND), run("cpu")\n'
        what = f"{d.op} on {d.backend} disagrees with the cpu backend for these inputs"
    sign_check = (
        "    both_zero = (g == 0) & (w == 0)\n"
        "    np.testing.assert_array_equal(np.signbit(g[both_zero]), np.signbit(w[both_zero]))\n"
        if d.mismatch.rule == "sign of zero"
        else ""
    )
    header = textwrap.fill(f"webaccel.verify: {d}", 96)
    storages = ",\n".join(_storage_line(*s) for s in case.storages)
    steps = ",\n".join(_step_line(*s) for s in case.steps)
    return f'''"""{header}

Run it where webaccel, NumPy and the {d.backend} backend are: it fails (AssertionError) while
{what}.
"""

import base64

import numpy as np

import webaccel as wa
from webaccel.dtypes import as_dtype
from webaccel.tensor import apply
from webaccel.view import View

BACKEND = {d.backend!r}
# storages: (bytes, elements, dtype)
STORAGES = [
{storages},
]
# steps: (op, attributes, inputs: (slot, view, dtype read)); slots count storages, then steps
STEPS = [
{steps},
]
OUTPUTS = {case.outputs!r}
RTOL, ATOL = {rtol!r}, {atol!r}


def run(device):
    slots = [
        wa.from_buffer(base64.b64decode(data), (count,), dtype, device=device)
        for data, count, dtype in STORAGES
    ]
    for op, attrs, srcs in STEPS:
        args = [slots[slot]._with_view(view, as_dtype(dtype)) for slot, view, dtype in srcs]
        slots.append(apply(op, *args, **(attrs if args else {{**attrs, "device": device}})))
        del args
    outputs = [slots[len(STORAGES) + i] for i in OUTPUTS]
    del slots  # a step a live tensor holds is an output, which the graph passes leave alone
    return [t.numpy() for t in outputs]


wa.get_device(BACKEND)
for op, _, _ in STEPS:
    wa.allow(op, BACKEND)  # undo a verify(fix=True) that moved the op off the backend
{compared}for g, w in zip(got, want):
    print(f"{{BACKEND}}:", g.reshape(-1)[:8], "expected:", w.reshape(-1)[:8])
    np.testing.assert_allclose(
        g.astype(np.float64), w.astype(np.float64), rtol=RTOL, atol=ATOL, equal_nan=True
    )
{sign_check}'''


def _storage_line(data: bytes, count: int, dtype: str) -> str:
    encoded = base64.b64encode(data).decode()
    chunks = [encoded[k : k + 80] for k in range(0, len(encoded), 80)] or [""]
    text = "\n".join(f"            {c!r}" for c in chunks)
    return (
        f"    (  # {dtype} x {count}{_shown(data, count, dtype)}\n"
        f"        (\n{text}\n        ),\n        {count},\n        {dtype!r},\n    )"
    )


def _step_line(op: str, attrs: tuple[tuple[str, Any], ...], srcs: list[Any]) -> str:
    attr_text = "{" + ", ".join(f"{k!r}: {_literal(v)}" for k, v in attrs) + "}"
    src_text = ", ".join(
        f"({slot}, View({tuple(v.shape)!r}, {tuple(v.strides)!r}, {v.offset}), {dtype!r})"
        for slot, v, dtype in srcs
    )
    return f"    ({op!r}, {attr_text}, [{src_text}])"


def _shown(data: bytes, count: int, dtype: str) -> str:
    """The storage's values, for storages small enough to read."""
    numpy_name = as_dtype(dtype).numpy
    if numpy_name is None or count > SHOWN_VALUES:
        return ""
    return ": " + repr(compare.np.frombuffer(data, numpy_name).tolist())


def _literal(value: Any) -> str:
    """Python source for a frozen attribute value (floats by bits: NaN, inf, -0.0 included)."""
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float):
        value = float(value)
        if math.isnan(value) or math.isinf(value):
            return f"float({str(value)!r})"
        return repr(value)
    return repr(value)

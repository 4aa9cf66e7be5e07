"""A disagreement as a script that reproduces it with webaccel calls.

The script holds the op, its attributes and each input: the bytes of the storage it reads
(only the span its view touches), the storage's dtype and the view (shape, strides, offset,
and the dtype it reads, for a bitcast). It builds the inputs with ``webaccel.from_buffer``,
applies the op on the backend and on cpu, and asserts they agree within the op's tolerance:
it fails while the backend still disagrees.
"""

from __future__ import annotations

import base64
import math
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...dtypes import as_dtype
from ...ir import Step
from ...view import View
from . import compare
from .compare import StepValues

if TYPE_CHECKING:
    from .report import Disagreement

SHOWN_VALUES = 16  # inputs up to this many elements also appear as numbers in a comment


@dataclass(frozen=True)
class StepInput:
    data: bytes  # the storage's bytes the view reaches
    count: int  # elements of that storage
    dtype: str  # the storage's dtype
    view: View
    view_dtype: str  # the dtype the op reads it as (differs for a bitcast view)


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


def reproducer_source(d: Disagreement) -> str:
    rtol, atol = d.mismatch.tolerance
    inputs = ",\n".join(_input_line(i) for i in d.inputs)
    attrs = ", ".join(f"{k!r}: {_literal(v)}" for k, v in d.attrs)
    sign_check = (
        "\nboth_zero = (got == 0) & (want == 0)\n"
        "np.testing.assert_array_equal(np.signbit(got[both_zero]), np.signbit(want[both_zero]))\n"
        if d.mismatch.rule == "sign of zero"
        else ""
    )
    header = textwrap.fill(f"webaccel.verify: {d}", 96)
    return f'''"""{header}

Run it where webaccel, NumPy and the {d.backend} backend are: it fails (AssertionError) while
{d.op} on {d.backend} disagrees with the cpu backend for these inputs.
"""

import base64

import numpy as np

import webaccel as wa
from webaccel.dtypes import as_dtype
from webaccel.tensor import apply
from webaccel.view import View

BACKEND = {d.backend!r}
OP = {d.op!r}
ATTRS = {{{attrs}}}
# per input: (storage bytes, storage elements, storage dtype, the view the op reads, its dtype)
INPUTS = [
{inputs},
]
RTOL, ATOL = {rtol!r}, {atol!r}


def run(device):
    args = []
    for data, count, dtype, view, view_dtype in INPUTS:
        storage = wa.from_buffer(base64.b64decode(data), (count,), dtype, device=device)
        args.append(storage._with_view(view, as_dtype(view_dtype)))
    attrs = ATTRS if args else {{**ATTRS, "device": device}}
    return apply(OP, *args, **attrs).numpy()


wa.get_device(BACKEND)
wa.allow(OP, BACKEND)  # undo a verify(fix=True) that moved the op off the backend
got, want = run(BACKEND), run("cpu")
print(f"{{OP}} on {{BACKEND}}:", got.reshape(-1)[:8], "cpu:", want.reshape(-1)[:8])
np.testing.assert_allclose(
    got.astype(np.float64), want.astype(np.float64), rtol=RTOL, atol=ATOL, equal_nan=True
)
{sign_check}'''


def _input_line(i: StepInput) -> str:
    encoded = base64.b64encode(i.data).decode()
    chunks = [encoded[k : k + 80] for k in range(0, len(encoded), 80)] or [""]
    data = "\n".join(f"        {c!r}" for c in chunks)
    view = f"View({tuple(i.view.shape)!r}, {tuple(i.view.strides)!r}, {i.view.offset})"
    shown = _shown(i)
    return (
        f"    (  # {i.view_dtype} {tuple(i.view.shape)}{shown}\n"
        f"        (\n{data}\n        ),\n"
        f"        {i.count},\n        {i.dtype!r},\n        {view},\n        {i.view_dtype!r},\n"
        "    )"
    )


def _shown(i: StepInput) -> str:
    """The storage's values, for inputs small enough to read."""
    numpy_name = as_dtype(i.dtype).numpy
    if numpy_name is None or i.count > SHOWN_VALUES:
        return ""
    return ": storage " + repr(compare.np.frombuffer(i.data, numpy_name).tolist())


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

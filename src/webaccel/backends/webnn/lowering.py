"""Lowering a whole ``Program`` to WebNN: graph inputs, source reads, one builder per step.

``lower_program`` is the one code path behind both ``WebNNDevice.why_unsupported`` (a dry run:
no JS builder, the emitter only checks each call against the limits) and
``WebNNDevice.compile`` (the same calls made on a real ``MLGraphBuilder``).

Each program input storage is one flat graph input of its stored data type (int4 codes become
their natural int32 form once, on first use). A source read is its view of the storage or of an
earlier step's value (``views.read_view``); a contiguous read of a captured weight becomes a
graph constant instead. Each step's builder (``builders.LOWERINGS``) makes its value, which is
then cast to the step's natural data type and shape.
"""

from __future__ import annotations

import math
from typing import Any

from ...dtypes import DType
from ...ir import Program, Step
from ...view import View
from .builders import LOWERINGS, READS_INT4_CODES
from .emitter import BuildError, Emitter, LimitError, Limits, Shape, Unsupported, Val, natural
from .views import read_view


class ProgramLowering:
    """Lowers one program's steps; ``values[i]`` holds step *i*'s value once made."""

    def __init__(
        self,
        e: Emitter,
        program: Program,
        ieee: bool = True,
        consts: dict[int, Any] | None = None,
    ) -> None:
        self.e = e
        # slot -> the MLTensor of a captured weight: contiguous reads of it become constants
        self.consts = consts or {}
        self.const_vals: dict[tuple[int, int, Shape], Val] = {}
        self.ieee = ieee  # add the guards for NaN/inf inputs and the accuracy fixes (ieee.py)
        self.program = program
        self.n = program.n_inputs
        self.inputs: dict[int, Val] = {}  # slot -> the flat graph input, as stored
        self.natural: dict[int, Val] = {}  # slot -> that input in its natural form (int4: int32)
        self.values: list[Val | None] = [None] * len(program.steps)

    # -- operands ------------------------------------------------------------------------------
    def const_view(self, slot: int, view: View, dtype: DType) -> Val:
        """The elements a contiguous *view* of captured weight *slot* sees, as a constant of
        the view's shape (one per slot, offset and shape)."""
        key = (slot, view.offset, tuple(view.shape))
        if key not in self.const_vals:
            start, nbytes = dtype.nbytes(view.offset), dtype.nbytes(view.numel)
            self.const_vals[key] = self.e.constant_from(
                self.consts[slot], dtype.webnn, tuple(view.shape), start, nbytes
            )
        return self.const_vals[key]

    def raw_input(self, slot: int) -> Val:
        """The graph input of storage *slot* in its stored data type (int4 stays int4)."""
        if slot not in self.inputs:
            numel, dtype = self.program.inputs[slot]
            self.inputs[slot] = self.e.input(f"i{slot}", dtype.webnn, (numel,))
        return self.inputs[slot]

    def flat_input(self, slot: int) -> Val:
        """The graph input of storage *slot* in its natural form (int4 codes as int32)."""
        if slot not in self.natural:
            dtype = self.program.inputs[slot][1]
            raw = self.raw_input(slot)
            if dtype.name == "int4":
                e = self.e
                scale = e.constant("float32", (1,), [1.0])
                zero = e.constant("int4", (1,), b"\x00")
                f = e.call(
                    "dequantizeLinear",
                    "float32",
                    raw.shape,
                    {"input": raw, "scale": scale, "zeroPoint": zero},
                    [raw, scale, zero],
                )
                raw = e.cast(f, "int32")  # an op result: its edges are tracked
            self.natural[slot] = raw
        return self.natural[slot]

    def src(self, ref: tuple[int, View, DType]) -> Val:
        """Source *ref* (slot, view, dtype) of a step, read in its natural form."""
        slot, view, dtype = ref
        if slot < self.n:
            stored = self.program.inputs[slot][1]
            if dtype != stored:
                raise Unsupported(f"a {stored.name} storage read as {dtype.name} (bitcast view)")
            if view.numel == 0:
                return Val(None, natural(dtype), tuple(view.shape))
            if slot in self.consts and view.is_contiguous() and dtype.name != "int4":
                return self.const_view(slot, view, dtype)
            return read_view(self.e, self.flat_input(slot), view)
        step = self.program.steps[slot - self.n]
        value = self.values[slot - self.n]
        assert value is not None
        if dtype != step.dtype:
            raise Unsupported(f"a {step.dtype.name} result read as {dtype.name} (bitcast view)")
        if view.numel == 0 or value.numel == 0:
            return Val(None, value.dtype, tuple(view.shape))
        if view == View.contiguous(value.shape):
            return value
        if view.is_contiguous() and view.offset == 0 and view.numel == value.numel:
            return self.e.reshape(value, tuple(view.shape))
        return read_view(self.e, self.e.reshape(value, (value.numel,)), view)

    def codes(self, step: Step) -> list[Val]:
        """The sources of a quantized op, int4 codes of a storage read as stored (int4, not
        the int32 of their natural form) so ``dequantizeLinear`` takes them directly."""
        out = []
        for ref in step.srcs:
            slot, view, dtype = ref
            if dtype.name == "int4" and slot < self.n and self.program.inputs[slot][1] == dtype:
                out.append(read_view(self.e, self.raw_input(slot), view))
            else:
                out.append(self.src(ref))
        return out

    # -- steps ---------------------------------------------------------------------------------
    def run(self) -> None:
        for i, step in enumerate(self.program.steps):
            try:
                self.values[i] = self.step(step)
            except Unsupported as exc:
                raise Unsupported(f"webnn cannot run {describe(step)}: {exc}") from None
            except (LimitError, BuildError) as exc:  # the same class, the webaccel op named
                shape = tuple(step.shape)
                raise type(exc)(
                    f"webnn cannot run {describe(step)} of shape {shape}: {exc}"
                ) from exc

    def step(self, step: Step) -> Val:
        if math.prod(step.shape) == 0:
            for ref in step.srcs:  # still check the inputs' dtypes (bitcasts)
                if ref[0] < self.n and ref[2] != self.program.inputs[ref[0]][1]:
                    raise Unsupported("a bitcast view of a storage")
            return Val(None, natural(step.dtype), tuple(step.shape))
        build = LOWERINGS.get(step.op)
        if build is None:
            raise Unsupported(f"the webnn backend has no lowering for {step.op!r}")
        srcs = self.codes(step) if step.op in READS_INT4_CODES else [self.src(r) for r in step.srcs]
        out = build(self, step, srcs)
        want = natural(step.dtype)
        if out.dtype != want:
            out = self.e.cast(out, want)
        if out.shape != tuple(step.shape):
            out = self.e.reshape(out, tuple(step.shape))
        return out


def describe(step: Step) -> str:
    """``op`` with its input dtypes and ranks, for error messages."""
    ins = ", ".join(f"{d.name}[rank {len(v.shape)}]" for _, v, d in step.srcs)
    return f"step {step.op}({ins}) -> {step.dtype.name}[rank {len(step.shape)}]"


def output_value(e: Emitter, value: Val, dtype: DType) -> Val:
    """A program output as the flat 1-D tensor its storage is (never an input or constant)."""
    if dtype.name == "int4":
        raise Unsupported("int4 results (WebNN cannot cast to int4; keep int4 for weights)")
    flat = e.reshape(value, (value.numel,))
    if flat.source != "op":
        flat = e.identity(flat)
    e.limits.io("output", flat.dtype, 1)
    return flat


def lower_program(
    program: Program,
    limits: Limits,
    backend: Any = None,
    ieee: bool = True,
    consts: dict[int, Any] | None = None,
) -> tuple[ProgramLowering, list[Val | None]]:
    """Every step of *program* through the emitter, then its outputs as flat values (None for
    an empty output, which the graph does not write). *backend* None is a dry run: it raises
    ``Unsupported`` exactly where building on a real builder would."""
    e = Emitter(limits, backend)
    low = ProgramLowering(e, program, ieee, consts)
    low.run()
    outs: list[Val | None] = []
    seen: list[Val] = []
    for index in program.outputs:
        step = program.steps[index]
        value = low.values[index]
        assert value is not None
        if math.prod(step.shape) == 0:
            outs.append(None)
            continue
        try:
            out = output_value(e, value, step.dtype)
            # one operand cannot be two graph outputs (each Val is one operand: compare Vals,
            # so that a dry run, whose operands are all None, adds the same identity ops)
            if any(out is v for v in seen):
                out = e.identity(out)
            seen.append(out)
            outs.append(out)
        except Unsupported as exc:
            raise Unsupported(f"webnn cannot return a {step.op} result: {exc}") from None
    return low, outs

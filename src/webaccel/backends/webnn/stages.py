"""Programs that read a value as another data type of the same size (bitcast views), in stages.

WebNN has no bitcast, and an ``MLTensor`` keeps the data type it was made with, so a step that
reads a float32 storage (or an earlier step's float32 result) as int32 cannot be part of one
graph. ``split`` cuts such a program at its bitcast reads into stages: each stage is a program
of its own (one ``MLGraph``), and a value read as another data type by a later stage reaches it
through host memory, its bytes written into a storage of that data type
(``WebNNDevice.reinterpret``): one read-back per bitcast value and run, the price of a view
WebNN cannot express. Programs without bitcast reads are not split (``split`` answers None).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ...device import Replay, Storage
from ...dtypes import DType
from ...ir import Program, Step

# Where a stage input comes from: ("input", slot of the whole program, dtype read) or
# ("step", index of a step of the whole program made by an earlier stage, dtype read).
Source = tuple[str, int, DType]


class Stage(NamedTuple):
    program: Program  # the stage alone: its inputs are `sources`, in order
    sources: tuple[Source, ...]
    made: tuple[int, ...]  # the whole program's step index of each stage output


def _stored(program: Program, slot: int) -> DType:
    n = program.n_inputs
    return program.inputs[slot][1] if slot < n else program.steps[slot - n].dtype


def is_bitcast(program: Program, ref: tuple[int, object, DType]) -> bool:
    """Whether source *ref* of a step reads its storage or step result as another dtype."""
    return ref[2] != _stored(program, ref[0])


def split(program: Program) -> list[Stage] | None:
    """*program* as stages that each read no value as another data type, or None when it
    has no bitcast read. A step's stage is the latest of its sources' (one later for a
    bitcast read; program inputs count as before the first stage)."""
    n = program.n_inputs
    level: list[int] = []
    bitcasts = False
    for step in program.steps:
        at = 0
        for ref in step.srcs:
            cast = is_bitcast(program, ref)
            bitcasts |= cast
            before = -1 if ref[0] < n else level[ref[0] - n]
            at = max(at, before + cast)
        level.append(at)
    if not bitcasts:
        return None
    readers: dict[int, int] = {}  # step index -> the latest stage reading it
    for i, step in enumerate(program.steps):
        for slot, _, _ in step.srcs:
            if slot >= n:
                readers[slot - n] = max(readers.get(slot - n, -1), level[i])
    stages = []
    for k in range(max(level) + 1):
        members = [i for i, at in enumerate(level) if at == k]
        if members:
            stages.append(_stage(program, members, readers, k))
    return stages


def _stage(program: Program, members: list[int], readers: dict[int, int], k: int) -> Stage:
    n = program.n_inputs
    local = {i: pos for pos, i in enumerate(members)}
    sources: list[Source] = []
    inputs: list[tuple[int, DType]] = []
    for i in members:  # first the stage's inputs, so that step slots can follow them
        for ref in program.steps[i].srcs:
            slot, _, dtype = ref
            if slot >= n and slot - n in local and not is_bitcast(program, ref):
                continue
            source = ("input", slot, dtype) if slot < n else ("step", slot - n, dtype)
            if source not in sources:
                sources.append(source)
                numel = (
                    program.inputs[slot][0]
                    if slot < n
                    else math.prod(program.steps[slot - n].shape)
                )
                inputs.append((numel, dtype))
    steps = []
    for i in members:
        step = program.steps[i]
        srcs = []
        for ref in step.srcs:
            slot, view, dtype = ref
            if slot >= n and slot - n in local and not is_bitcast(program, ref):
                srcs.append((len(sources) + local[slot - n], view, dtype))
            else:
                source = ("input", slot, dtype) if slot < n else ("step", slot - n, dtype)
                srcs.append((sources.index(source), view, dtype))
        steps.append(Step(step.op, step.attrs, tuple(srcs), step.shape, step.dtype))
    made = tuple(i for i in members if i in program.outputs or readers.get(i, -1) > k)
    stage_program = Program(tuple(inputs), tuple(steps), tuple(local[i] for i in made))
    return Stage(stage_program, tuple(sources), made)


@dataclass
class Staged:
    """What ``WebNNDevice.compile`` makes of a program with bitcast reads: its stages, each
    compiled on its own."""

    program: Program
    stages: list[tuple[Stage, Any]]  # (stage, its compiled graph)


def reinterpret(device: Any, storage: Storage, dtype: DType) -> Storage:
    """A new storage holding *storage*'s bytes as *dtype* (same element size), through host
    memory: WebNN cannot bitcast a tensor."""
    data = device.copy_out(storage.handle, storage.nbytes)
    return device.upload(memoryview(data), storage.numel, dtype)


def run_staged(device: Any, staged: Staged, inputs: Sequence[Storage]) -> list[Storage]:
    """Run *staged* on *inputs* (the whole program's): its outputs, as ``device.run``."""
    made: dict[int, Storage] = {}
    copies: list[Storage] = []
    try:
        for stage, compiled in staged.stages:
            ins = []
            for kind, index, dtype in stage.sources:
                storage = inputs[index] if kind == "input" else made[index]
                if storage.dtype != dtype:
                    storage = reinterpret(device, storage, dtype)
                    copies.append(storage)
                ins.append(storage)
            made.update(zip(stage.made, device.run(compiled, ins), strict=True))
        results = [made.pop(i) for i in staged.program.outputs]
    finally:
        for storage in [*copies, *made.values()]:  # bitcast copies, values between stages
            storage.release()
    return results


class StagedReplay(Replay):
    """A captured program with bitcast reads: each run is ``run_staged`` on the arguments
    and the captured constants (kept alive as long as the replay)."""

    def __init__(
        self,
        run: Callable[[Sequence[Storage]], list[Storage]],
        inputs: list[Storage],
        sources: list[tuple[str, int]],
    ) -> None:
        self.run = run
        self.sources = sources
        self.consts = {
            slot: s.acquire()
            for slot, ((kind, _), s) in enumerate(zip(sources, inputs, strict=True))
            if kind == "const"
        }

    def __call__(self, args: list[Storage]) -> list[Storage]:
        inputs = [
            args[index] if kind == "arg" else self.consts[slot]
            for slot, (kind, index) in enumerate(self.sources)
        ]
        return self.run(inputs)

    def close(self) -> None:
        for storage in self.consts.values():
            storage.release()
        self.consts = {}

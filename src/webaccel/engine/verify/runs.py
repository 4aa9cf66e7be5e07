"""Running programs for verify: on the cpu reference, one step alone on a device, and a program
through placement again (after ``verify(fix=True)`` denied one of its ops on its device).

Everything crosses as bytes: a device's storages are read back (``Device.copy_out``: in a page
that waits through JSPI), the reference gets its own copies.
"""

from __future__ import annotations

import asyncio
import weakref

from ... import _compat
from ...device import Device, Storage, get_backend
from ...dtypes import DType
from ...ir import Node, Program, Ref, Step
from ..passes import optimize
from ..realize import realize
from .compare import StepValues

REFERENCE = "cpu"  # the backend every other one is checked against
_reference: list[Device] = []


def reference_device() -> Device:
    """A cpu device of verify's own: not a running device, so it never becomes a fallback for
    placement, and its memory is not counted in the user's cpu device."""
    if not _reference:
        _reference.append(get_backend(REFERENCE).create())
    return _reference[0]


reads = [0, 0]  # device buffers read back, and their bytes (for the report)

# Input bytes already read, per storage: a model's weights are inputs of every program traced
# for it, and reading a device buffer back costs a round trip (most of verify's cost in a page).
# A storage's contents never change while it is held (webaccel writes a storage only when it
# makes it), and the entry goes with the storage. Emptied when verify is turned off.
_inputs_read: weakref.WeakKeyDictionary[Storage, bytes] = weakref.WeakKeyDictionary()


def read_all(storages: list[Storage], remember: bool = False) -> list[bytes]:
    """The bytes of *storages*. *remember*: keep them for the next check that reads the same
    storage (program inputs). In a page the reads wait together: one round trip, not one per
    buffer."""
    found: list[bytes | None] = [
        b"" if s.nbytes == 0 else _inputs_read.get(s) if remember else None for s in storages
    ]
    missing = [i for i, data in enumerate(found) if data is None]
    waits = bool(missing) and storages[missing[0]].device.name != REFERENCE
    if len(missing) > 1 and waits and _compat.host().in_pyodide:
        fresh = _compat.run_sync(_read_together([storages[i] for i in missing]))
    else:  # one buffer, or cpu buffers (read synchronously: no JSPI, no event loop needed)
        fresh = [s.device.copy_out(s.handle, s.nbytes) for s in (storages[i] for i in missing)]
    for i, data in zip(missing, fresh, strict=True):
        storage = storages[i]
        found[i] = bytes(data)
        reads[0] += 1
        reads[1] += storage.nbytes
        if remember:
            _inputs_read[storage] = bytes(data)
    return found  # type: ignore[return-value]


async def _read_together(storages: list[Storage]) -> list[bytearray]:
    return list(
        await asyncio.gather(*(s.device.copy_out_async(s.handle, s.nbytes) for s in storages))
    )


def forget_inputs() -> None:
    _inputs_read.clear()


def upload(device: Device, data: bytes, count: int, dtype: DType) -> Storage:
    return device.upload(memoryview(data), count, dtype)


def run_bytes(
    device: Device, program: Program, inputs: list[bytes], optimized: bool
) -> list[bytes]:
    """Run *program* on *device* with inputs given as bytes; its outputs' bytes.
    *optimized*: through the graph passes first, as ``realize`` compiles it."""
    storages = [upload(device, b, n, d) for b, (n, d) in zip(inputs, program.inputs, strict=True)]
    try:
        compiled = device.compile(optimize(program, device) if optimized else program)
        outputs = device.run(compiled, storages)
    finally:
        for s in storages:
            s.release()
    try:
        return read_all(outputs)
    finally:
        for s in outputs:
            s.release()


def run_reference(program: Program, inputs: list[bytes]) -> list[bytes]:
    """Every step's result of *program* on the cpu reference (as written: no graph passes)."""
    every = Program(program.inputs, program.steps, tuple(range(len(program.steps))))
    return run_bytes(reference_device(), every, inputs, optimized=False)


def single_step(values: StepValues, index: int) -> tuple[Program, list[bytes]]:
    """Step *index* of the program alone, reading what the reference gave its inputs: the
    one-step program and its inputs' bytes."""
    step = values.program.steps[index]
    slots: dict[int, int] = {}
    storages: list[tuple[int, DType]] = []
    data: list[bytes] = []
    for slot, _, _ in step.srcs:
        if slot not in slots:
            slots[slot] = len(data)
            raw, count, dtype = values.storage_of(slot)
            storages.append((count, dtype))
            data.append(raw)
    srcs = tuple((slots[slot], view, dtype) for slot, view, dtype in step.srcs)
    alone = Step(step.op, step.attrs, srcs, step.shape, step.dtype)
    return Program(tuple(storages), (alone,), (0,)), data


def run_placed(device: Device, program: Program, inputs: list[Storage]) -> list[Storage]:
    """*program* through placement again (each op where placement puts it now: denied ops go
    to the next backend), its outputs brought back to *device*."""
    slots: list[Node] = [
        Node("buffer", (), (), (count,), dtype, device, storage.acquire())
        for (count, dtype), storage in zip(program.inputs, inputs, strict=True)
    ]
    for step in program.steps:
        srcs = tuple(Ref(slots[slot], view, dtype) for slot, view, dtype in step.srcs)
        slots.append(Node(step.op, srcs, step.attrs, step.shape, step.dtype, device))
    roots = [slots[program.n_inputs + i] for i in program.outputs]
    realize(roots)
    results = []
    for node in roots:
        storage = node.storage
        same = storage.device is device
        results.append(storage.acquire() if same else device.transfer(storage))
    return results

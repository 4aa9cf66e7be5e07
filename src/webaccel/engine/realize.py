"""Running graphs: the pending nodes behind some tensors become programs that devices run.

``realize`` places each pending node (``placement``), cuts the graph into same-device
partitions, lowers each to a ``Program`` (``ir.lower``), looks it up in the device's cache,
optimizes and compiles it on a miss (``passes``), and runs it as one submission. Outputs are the
requested nodes and any other node a live Tensor still holds.

A device found lost is rebuilt first (``Device.ensure_live``), or where the loss shows only
when the program is compiled or run (WebNN: the context fails the call), rebuilt then and the
program run once more: its inputs are restored storages. A graph whose input storage was lost
with a device (nothing to restore it from) fails with that storage's ``DeviceLostError``.
Under a memory limit the inputs are pinned while the program runs, and evicted ones come back
first (``webaccel.budget``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..device import Device
from ..errors import DeviceLostError
from ..ir import Node, Program, lower, pending_nodes
from .passes import optimize
from .placement import partition, place_node


def realize(roots: Sequence[Node]) -> None:
    """Compute every pending node behind *roots* and keep the outputs.

    Nodes are placed per op (``placement``): usually the whole graph runs on its home backend
    as one program; ops the home backend lacks run on another backend, in maximal
    same-backend partitions, with tensors copied across only at partition edges.
    """
    nodes = pending_nodes(roots)
    if not nodes:
        return
    where = {n.id: place_node(n).device for n in nodes}
    groups = partition(nodes, where)
    wanted = {n.id for n in roots}
    for i, (device, group) in enumerate(groups):
        later_reads = {r.node.id for _, g in groups[i + 1 :] for n in g for r in n.srcs}
        _run_group(device, group, wanted | later_reads)


def _run_group(device: Device, nodes: list[Node], requested: set[int]) -> None:
    device.ensure_live()  # a lost device is rebuilt before anything is compiled on it
    generation = device.generation
    try:
        _run_program(device, nodes, requested)
    except DeviceLostError:
        if not device.needs_recovery and device.generation == generation:
            raise  # an input storage was lost, not this call's device
        device.ensure_live()
        _run_program(device, nodes, requested)


def _run_program(device: Device, nodes: list[Node], requested: set[int]) -> None:
    program, input_nodes, output_nodes = lower(nodes, requested)
    stats = device.cache
    compiled = stats.compiled.get(program)
    if compiled is None:
        stats.misses += 1
        # graph-level rewrites; cached under the original program
        compiled = device.compile(optimize(program, device))
        stats.compiled[program] = compiled
    else:
        stats.hits += 1
    stats.runs += 1
    inputs, moved = [], []
    for node in input_nodes:
        storage = node.storage
        if storage.device is not device:  # a partition edge: copy across once
            storage = device.transfer(storage)
            moved.append(storage)
        inputs.append(storage)
    try:
        # Under a memory limit: the inputs are pinned (never evicted while the program runs),
        # evicted ones come back first, and room is made for the outputs before anything is
        # queued (webaccel.budget).
        with device.in_use(inputs):
            if device.memory_limit is not None or device._readmitting is not None:
                device.make_resident(inputs)
                device.reserve(_output_bytes(program), "a program's outputs")
            storages = device.run(compiled, inputs)
    finally:
        for storage in moved:
            storage.release()
    for node, storage in zip(output_nodes, storages, strict=True):
        node.storage = storage
        node.srcs = ()  # the graph behind a realized node can go


def _output_bytes(program: Program) -> int:
    return sum(
        program.steps[i].dtype.nbytes(math.prod(program.steps[i].shape)) for i in program.outputs
    )

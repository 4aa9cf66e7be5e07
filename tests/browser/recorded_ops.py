"""Running ``tests/op_cases.py`` on a browser backend: shared by the WebGPU and WebNN lanes.

Each case's graph is built on the host with the same webaccel code the browser runs, lowered to
its ``Program`` (plain, picklable data: steps, views, dtypes), and shipped with its input bytes
into Pyodide, where the named device compiles and runs it exactly as ``realize`` would. The
outputs come back as bytes and are checked on the host against the case's float64 NumPy
reference with the case's tolerance.

Browser backends may flush subnormal float32 values to zero (WGSL allows it; SwiftShader and
WebNN's XNNPACK do), with either sign, so subnormal inputs are replaced by signed zeros before a
case runs (on both sides) and subnormal results count as zero.
"""

from __future__ import annotations

import dataclasses
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import op_cases

import webaccel as wa
from webaccel import ir
from webaccel.tensor import apply


def flush(a: np.ndarray) -> np.ndarray:
    """Subnormal float32 values as signed zero."""
    if a.dtype != np.float32:
        return a
    tiny = np.finfo(np.float32).tiny
    return np.where((np.abs(a) < tiny) & (a != 0), np.copysign(0.0, a), a).astype(np.float32)


def _flush64(w: object) -> object:
    w = np.asarray(w)
    if w.dtype.kind != "f":
        return w
    tiny = np.finfo(np.float32).tiny
    return np.where((np.abs(w) < tiny) & (w != 0), np.copysign(0.0, w), w)


def flush_subnormals(case: op_cases.OpCase) -> op_cases.OpCase:
    """The case with subnormal float32 inputs flushed and its reference's results flushed."""
    ref = case.ref

    def flushed_ref(*args: np.ndarray) -> object:
        want = ref(*args)
        if isinstance(want, list | tuple):
            return [_flush64(w) for w in want]
        return _flush64(want)

    inputs = tuple(flush(a) for a in case.inputs)
    return dataclasses.replace(case, inputs=inputs, ref=flushed_ref)


def record(case: op_cases.OpCase) -> tuple:
    """The case's lowered program, its input bytes, and where each output comes back."""
    tensors = [wa.tensor(a) for a in case.inputs]
    out = case.fn(*tensors)
    outs = list(out) if isinstance(out, list | tuple) else [out]
    dense = [apply("contiguous", t) for t in outs]  # every output as its own dense buffer
    nodes = ir.pending_nodes([t._node for t in dense])
    program, input_nodes, output_nodes = ir.lower(nodes, {t._node.id for t in dense})
    inputs = [(bytes(n.storage.handle), n.storage.numel, n.storage.dtype.name) for n in input_nodes]
    positions = [output_nodes.index(t._node) for t in dense]
    meta = [(t.shape, t.dtype.numpy) for t in dense]
    return program, inputs, positions, meta


def run_cases(
    selenium, runner, device_name: str, cases: list[op_cases.OpCase], chunk: int = 60
) -> dict[str, tuple]:
    """Every case's (status, output bytes) and output meta, run in chunks of programs.

    *runner* is the calling test module's ``run_programs``: pytest-pyodide only ships functions
    defined in a collected test module into the browser, so each lane module keeps that small
    in-browser loop itself."""
    recorded = {case.id: record(case) for case in cases}
    results: dict[str, tuple] = {}
    ids = list(recorded)
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        payload = pickle.dumps([recorded[i][:3] for i in part])
        answers = pickle.loads(runner(selenium, device_name, payload))
        for case_id, result in zip(part, answers, strict=True):
            results[case_id] = (result, recorded[case_id][3])
    return results


def check(case: op_cases.OpCase, result: tuple) -> None:
    (status, value), meta = result
    assert status == "ok", f"{case.id}: {value}"
    got = [
        np.frombuffer(data, dtype=dtype).reshape(shape)
        for data, (shape, dtype) in zip(value, meta, strict=True)
    ]
    op_cases.check_case(case, [flush(g) for g in got])


def ops_used(cases: list[op_cases.OpCase]) -> set[str]:
    used: set[str] = set()
    for case in cases:
        used |= {step.op for step in record(case)[0].steps}
    return used

"""The host op-set suite (``tests/op_cases.py``), run on the webgpu device in the browser.

Each case's graph is built on the host with the same webaccel code the browser runs, lowered to
its ``Program`` (plain, picklable data: steps, views, dtypes), and shipped with its input bytes
into Pyodide, where the webgpu device compiles and runs it exactly as ``realize`` would. The
outputs come back as bytes and are checked here against the case's float64 NumPy reference with
the case's tolerance.

WGSL lets an implementation flush subnormal f32 values to zero, with either sign (SwiftShader
does), so this lane replaces subnormal inputs by signed zeros before a case runs (on both
sides) and counts subnormal results as zero; everything else is compared as on the host.

Cases on uint8/int8/int4 data are not sent: on WebGPU those dtypes are weight storage, read by
the dequantizing kernels of the model issue; ``test_weight_storage_dtypes_are_refused`` checks
that computing on them gives a clear error instead.
"""

from __future__ import annotations

import dataclasses
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from pytest_pyodide import run_in_pyodide

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import op_cases

import webaccel as wa
from webaccel import graph
from webaccel.tensor import apply

STORAGE_ONLY = ("uint8", "int8", "int4")
CHUNK = 60  # programs per browser call


def _uses_storage_dtypes(case: op_cases.OpCase) -> bool:
    if case.dtype in STORAGE_ONLY or any(a.dtype.name in STORAGE_ONLY for a in case.inputs):
        return True
    return any(name in case.id for name in STORAGE_ONLY)


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


CASES = [flush_subnormals(c) for c in op_cases.CASES if not _uses_storage_dtypes(c)]


def record(case: op_cases.OpCase) -> tuple:
    """The case's lowered program, its input bytes, and where each output comes back."""
    tensors = [wa.tensor(a) for a in case.inputs]
    out = case.fn(*tensors)
    outs = list(out) if isinstance(out, list | tuple) else [out]
    dense = [apply("contiguous", t) for t in outs]  # every output as its own dense buffer
    nodes = graph.pending_nodes([t._node for t in dense])
    program, input_nodes, output_nodes = graph.lower(nodes, {t._node.id for t in dense})
    inputs = [(bytes(n.storage.handle), n.storage.numel, n.storage.dtype.name) for n in input_nodes]
    positions = [output_nodes.index(t._node) for t in dense]
    meta = [(t.shape, t.dtype.numpy) for t in dense]
    return program, inputs, positions, meta


@run_in_pyodide(packages=["webaccel"])
def run_programs(selenium, payload):
    import pickle

    import webaccel as wa
    from webaccel.dtypes import DTYPES

    device = wa.get_device("webgpu")
    results = []
    for program, inputs, positions in pickle.loads(payload):
        storages = []
        try:
            storages = [
                device.upload(memoryview(data), numel, DTYPES[dtype])
                for data, numel, dtype in inputs
            ]
            outs = device.run(device.compile(program), storages)
            storages += outs
            results.append(
                ("ok", [bytes(device.copy_out(outs[p].handle, outs[p].nbytes)) for p in positions])
            )
        except Exception as exc:
            results.append(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            for s in storages:
                s.release()
    return pickle.dumps(results)


@pytest.fixture(scope="module")
def webgpu_results(selenium_module_scope) -> dict[str, tuple]:
    recorded = {case.id: record(case) for case in CASES}
    results: dict[str, tuple] = {}
    ids = list(recorded)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        payload = pickle.dumps([recorded[i][:3] for i in chunk])
        for case_id, result in zip(
            chunk, pickle.loads(run_programs(selenium_module_scope, payload)), strict=True
        ):
            results[case_id] = (result, recorded[case_id][3])
    return results


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_case_on_webgpu(case, webgpu_results):
    (status, value), meta = webgpu_results[case.id]
    assert status == "ok", f"{case.id}: {value}"
    got = [
        np.frombuffer(data, dtype=dtype).reshape(shape)
        for data, (shape, dtype) in zip(value, meta, strict=True)
    ]
    op_cases.check_case(case, [flush(g) for g in got])


def test_every_op_is_covered_on_webgpu():
    ops_used = set()
    for case in CASES:
        program = record(case)[0]
        ops_used |= {step.op for step in program.steps}
    missing = set(wa.OPS) - ops_used
    assert not missing, f"ops without a webgpu case: {sorted(missing)}"


@run_in_pyodide(packages=["webaccel"])
def test_weight_storage_dtypes_are_refused(selenium):
    import pytest

    import webaccel as wa

    w = wa.from_buffer(bytes(range(8)), (8,), "int8", device="webgpu")
    # No NumPy in this Pyodide, so no cpu backend to fall back to: a clear refusal.
    with pytest.raises(NotImplementedError, match=r"webgpu does not support cast\(int8"):
        w.cast("float32").tolist()

"""The backend table: every backend covers ``ops.OPS``, and placement, ``init()`` and
``detect()`` read the table instead of knowing backend names."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import numpy as np
import pytest

import webaccel as wa
from webaccel import _compat
from webaccel import device as device_mod
from webaccel._compat.cpython_host import CPythonHost
from webaccel.backends.cpu import CPUDevice
from webaccel.device import Backend, Implementation, backend_names, backends, get_backend
from webaccel.engine import placement
from webaccel.ops import OPS


@pytest.mark.parametrize("backend", backends(), ids=lambda b: b.name)
def test_every_op_is_implemented_or_declared_unsupported(backend):
    """Each op of the op table has an implementation here, or a reason it falls back; never
    both, and nothing outside the op table."""
    impl, unsupported = backend.device_class.ops, backend.device_class.unsupported
    missing = [op for op in OPS if op not in impl and op not in unsupported]
    assert not missing, f"{backend.name}: ops neither implemented nor declared: {missing}"
    assert not set(impl) & set(unsupported), f"{backend.name}: both implemented and unsupported"
    assert not set(impl) - set(OPS), f"{backend.name}: implements ops OPS lacks"
    assert not set(unsupported) - set(OPS)
    assert all(isinstance(why, str) and why for why in unsupported.values())
    assert all(callable(fn) for fn in impl.values())


def test_the_table_orders_fallback_and_names_the_backends():
    assert backend_names() == ("webnn", "webgpu", "cpu")
    ranks = [b.fallback_rank for b in backends()]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    with pytest.raises(wa.WebAccelError, match=r"unknown backend 'tpu'; registered: \['cpu'"):
        get_backend("tpu")


class HalfCPU(CPUDevice):
    """A backend of the tinygrad ``ops_null`` kind: the CPU's kernels minus softmax, which it
    declares unsupported (so softmax falls back per op)."""

    name = "halfcpu"
    ops: ClassVar = {op: fn for op, fn in CPUDevice.ops.items() if op != "softmax"}
    unsupported: ClassVar = {"softmax": "this test backend leaves softmax to the next backend"}


@pytest.fixture
def halfcpu():
    async def probe() -> dict:
        return {"available": True, "error": None}

    async def create() -> HalfCPU:
        return HalfCPU()

    row = Backend("halfcpu", -1, "NumPy", probe, lambda: Implementation(HalfCPU, HalfCPU, create))
    device_mod.register_backend(row)
    try:
        yield row
    finally:
        device_mod._BACKENDS.pop("halfcpu")
        device_mod.forget_device("halfcpu")


def test_a_registered_backend_joins_placement_detect_and_init(halfcpu):
    """Registering a row is all it takes: detect() probes it, init() can choose it, placement
    runs its ops there and moves the ops it declares unsupported to the next backend."""
    report = wa.detect(storage=False, webgpu=False, webnn=False)
    assert report["halfcpu"] == {"available": True, "error": None}
    assert report["webnn"] == {"available": False, "error": "not probed"}
    assert asyncio.run(wa.init_async("halfcpu")).name == "halfcpu"
    try:
        wa.get_device("cpu")  # a running fallback
        x = wa.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
        assert x.device.name == "halfcpu"
        y = wa.softmax(x * 2.0, -1)
        text = wa.explain(y)
        assert "partition 0: halfcpu" in text
        assert "halfcpu does not support softmax(float32; rank 2) -> cpu" in text
        ref = np.exp(2 * np.asarray([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]))
        np.testing.assert_allclose(y.numpy(), ref / ref.sum(-1, keepdims=True), rtol=1e-6)
        placement.deny("mul", "halfcpu")
        assert "mul is denied on halfcpu -> cpu" in wa.explain(x * 3.0)
    finally:
        placement.allow()
        wa.set_default_device("cpu")


def test_detect_rejects_an_unknown_backend_keyword():
    with pytest.raises(TypeError, match=r"unknown backend\(s\) \['tpu'\]"):
        wa.detect(tpu=False)


def test_init_names_the_backends_it_knows():
    with pytest.raises(ValueError, match=r"one of \('webnn', 'webgpu', 'cpu'\)"):
        wa.init("tpu")


class PageWithoutJSPI(CPythonHost):
    """A page as far as device creation asks: Pyodide, but no JSPI to wait with."""

    kind = "browser"
    in_pyodide = True

    def can_run_sync(self) -> bool:
        return False


@pytest.mark.parametrize("name", ["webgpu", "webnn"])
def test_browser_backends_say_why_a_sync_device_cannot_be_made(name):
    with pytest.raises(wa.WebAccelError, match=rf"the {name} backend runs inside Pyodide"):
        get_backend(name).create()  # CPython
    with _compat.use_host(PageWithoutJSPI()), pytest.raises(wa.SyncUnavailableError) as err:
        get_backend(name).create()
    assert f"await webaccel.init_async('{name}')" in str(err.value)

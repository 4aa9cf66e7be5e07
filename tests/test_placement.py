"""Per-op placement on the host: a second, limited CPU backend stands in for WebNN."""

from __future__ import annotations

import numpy as np
import pytest

import webaccel as wa
from webaccel import device as devices
from webaccel import ir
from webaccel.backends.cpu import CPUDevice
from webaccel.engine import placement


class LimitedCPU(CPUDevice):
    """A real NumPy backend that, like a browser backend, lacks some ops."""

    name = "webnn"  # takes the WebNN slot of the fallback order
    lacks = ("erf", "gelu")

    def supports(self, step: ir.Step) -> bool:
        return step.op not in self.lacks and all(d.name != "int32" for _, _, d in step.srcs)


@pytest.fixture
def limited():
    dev = devices.adopt_device(LimitedCPU())
    wa.get_device("cpu")  # the fallback is running
    yield dev
    devices.forget_device("webnn")
    placement.allow()


RNG = np.random.default_rng(3)
X = RNG.standard_normal((4, 6)).astype(np.float32)
W = RNG.standard_normal((6, 5)).astype(np.float32)


def block(device: str) -> wa.Tensor:
    x, w = wa.tensor(X, device=device), wa.tensor(W, device=device)
    return wa.softmax(wa.gelu(x @ w) * 2.0 + 1.0, -1)


def test_unsupported_op_falls_back_and_numbers_match(limited):
    want = block("cpu").numpy()
    y = block("webnn")
    text = wa.explain(y)
    assert "partition 0: webnn" in text and "partition 1: cpu" in text
    assert "webnn does not support gelu(float32; rank 2) -> cpu" in text
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-6, atol=1e-7)
    # Three partitions: matmul (webnn) | gelu (cpu) | mul, add, softmax (webnn).
    assert limited.cache.runs == 2 and wa.get_device("cpu").cache.runs >= 1


def test_deny_list_forces_an_op_off_its_home(limited):
    wa.deny("matmul", "webnn")
    y = block("webnn")
    text = wa.explain(y)
    assert "matmul is denied on webnn" in text
    np.testing.assert_allclose(y.numpy(), block("cpu").numpy(), rtol=1e-6, atol=1e-7)
    wa.allow("matmul", "webnn")
    assert "matmul is denied" not in wa.explain(block("webnn"))


def test_no_backend_left_is_a_clear_error(limited):
    wa.deny(["gelu"], "cpu")
    with pytest.raises(NotImplementedError, match=r"gelu.*denied on cpu"):
        block("webnn").numpy()


def test_partitions_respect_dependencies(limited):
    a = wa.tensor(X, device="webnn")
    b = wa.erf(a)  # cpu
    c = a * 3.0  # webnn, independent of b
    d = b + c  # webnn, needs b
    nodes = ir.pending_nodes([d._node])
    where = {n.id: placement.place_node(n).device for n in nodes}
    groups = placement.partition(nodes, where)
    order = [(dev.name, [n.op for n in g]) for dev, g in groups]
    # erf first (add needs it); mul joins add's partition: two partitions, not three.
    assert order == [("cpu", ["erf"]), ("webnn", ["full", "mul", "add"])]  # full: the 3.0
    from math import erf

    want = np.vectorize(erf)(X.astype(np.float64)) + X * 3.0
    np.testing.assert_allclose(d.numpy(), want, rtol=1e-6, atol=1e-6)


def test_explain_on_computed_tensors(limited):
    y = block("cpu").realize()
    assert "nothing pending" in wa.explain(y)

"""The device-memory budget on the host (``webaccel.budget``): ``set_memory_limit``'s checks,
least-recently-used eviction of resident weights to their restore records and their return on
use (same answers), pinning of what a running program reads, ``MemoryLimitError`` naming what
holds the memory, and ``memory_report()``'s limit and evictions.

A device of its own stands in for the default ``cpu`` device (the NumPy backend under another
name), so that a limit set here never reaches another test. The browser lanes run the same
three-model check on webgpu and webnn (``tests/browser/test_memory_budget_browser.py``).
"""

from __future__ import annotations

import array
import asyncio
import warnings

import pytest
import tiny_bert as tb

import webaccel as wa
from webaccel import device as device_mod
from webaccel.backends.cpu.device import CPUDevice
from webaccel.models import SentenceEmbedder
from webaccel.restore import Reread


class BudgetCPU(CPUDevice):
    name = "budgetcpu"


@pytest.fixture
def dev():
    async def probe() -> dict:
        return {"available": True, "error": None}

    async def create_async() -> BudgetCPU:
        return BudgetCPU()

    impl = device_mod.Implementation(BudgetCPU, BudgetCPU, create_async)
    device_mod.register_backend(device_mod.Backend("budgetcpu", 97, "NumPy", probe, lambda: impl))
    try:
        yield wa.get_device("budgetcpu")
    finally:
        device_mod._BACKENDS.pop("budgetcpu")
        device_mod.forget_device("budgetcpu")


VARIANTS = ("uncased_mean", "cased_cls", "mean_max")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Three small BERT checkpoints (hidden 96, 3 layers), each with weights of its own."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            tb.write_checkpoint(tmp_path_factory.mktemp(v), tb.VARIANTS[v], seed=k)
            for k, v in enumerate(VARIANTS)
        ]


def vals(n: int, seed: int) -> array.array:
    return array.array("f", [((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5 for i in range(n)])


def rereadable(t: wa.Tensor, data: array.array, what: str) -> wa.Tensor:
    """*t* (a weight) with a restore record that reads *data* again: evictable."""
    device_mod.set_restore(t._node.storage, Reread(lambda: bytes(data), what))
    return t


# -- the call's arguments ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "backend", "error", "match"),
    [
        ("1GB", None, TypeError, r"set_memory_limit: the limit must be a number of bytes"),
        (1.5e9, None, TypeError, r"an int\) or None, not float"),
        (True, None, TypeError, r"not bool True"),
        (-1, None, ValueError, r"must be >= 0 bytes, got -1"),
        (1 << 20, 3, TypeError, r"backend must be a backend name or a Device, not int"),
        (1 << 20, "tpu", ValueError, r"unknown backend 'tpu'; registered: \["),
    ],
)
def test_set_memory_limit_checks_its_arguments(dev, limit, backend, error, match):
    with pytest.raises(error, match=match):
        wa.set_memory_limit(limit, backend=backend or dev)
    assert dev.memory_limit is None


def test_the_limit_is_per_device_and_none_lifts_it(dev):
    assert wa.set_memory_limit(1 << 20, backend="budgetcpu") is dev
    assert dev.memory_limit == 1 << 20 and wa.get_device("cpu").memory_limit is None
    assert dev.budget_stats()["limit"] == 1 << 20
    wa.set_memory_limit(None, backend=dev)
    assert dev.memory_limit is None


# -- eviction and return ----------------------------------------------------------------------


def test_least_recently_used_weights_are_evicted_and_come_back(dev):
    data = [vals(25_000, k) for k in range(3)]  # 100,000 bytes each
    w = [
        rereadable(wa.tensor(d, device=dev).realize(), d, f"weight {k}") for k, d in enumerate(data)
    ]
    want = [(t * 2.0).sum().tolist() for t in w]
    wa.set_memory_limit(260_000, backend=dev)  # two weights and a little more
    assert w[0]._node.storage.evicted  # the least recently used went at once
    assert not w[1]._node.storage.evicted and not w[2]._node.storage.evicted
    for k in (0, 1, 2, 0, 2, 1):
        assert (w[k] * 2.0).sum().tolist() == want[k]
        assert dev.live_bytes <= 260_000
        assert not w[k]._node.storage.evicted  # the one just used is resident
    stats = dev.budget_stats()
    assert stats["evictions"] >= 5 and stats["readmissions"] >= 4
    assert stats["peak_bytes"] <= 260_000 and stats["refused"] == 0
    assert w[0].tolist() == list(data[0])  # a read-back brings it back too


def test_storages_without_a_record_are_never_evicted(dev):
    x = wa.tensor(vals(25_000, 1), device=dev).realize()  # host data not kept: no record
    y = (x + 1.0).realize()  # computed on the device
    wa.set_memory_limit(dev.live_bytes, backend=dev)
    with pytest.raises(wa.MemoryLimitError) as info:
        (x * 3.0).realize()
    text = str(info.value)
    assert "a program's outputs of 100000 bytes" in text
    assert f"budgetcpu device's memory limit of {dev.memory_limit} bytes" in text
    assert (
        "frees only 0" in text and "computed on the device (nothing to restore them from)" in text
    )
    assert isinstance(info.value, MemoryError) and isinstance(info.value, wa.WebAccelError)
    assert not x._node.storage.evicted and not y._node.storage.evicted
    assert dev.budget_stats()["refused"] == 1


def test_what_a_program_reads_is_pinned_while_it_runs(dev):
    a_data, b_data = vals(25_000, 1), vals(25_000, 2)
    a = rereadable(wa.tensor(a_data, device=dev).realize(), a_data, "a")
    b = rereadable(wa.tensor(b_data, device=dev).realize(), b_data, "b")
    wa.set_memory_limit(250_000, backend=dev)  # a and b fit, and their sum does not beside them
    with pytest.raises(wa.MemoryLimitError, match=r"in use by the program being run 200000 bytes"):
        (a + b).realize()
    assert not a._node.storage.evicted and not b._node.storage.evicted
    wa.set_memory_limit(300_000, backend=dev)
    assert (a + b).tolist()[:2] == pytest.approx([a_data[0] + b_data[0], a_data[1] + b_data[1]])


def test_lowering_the_limit_below_what_must_stay_is_refused_and_changes_nothing(dev):
    x = wa.tensor(vals(25_000, 1), device=dev).realize()
    wa.set_memory_limit(1 << 20, backend=dev)
    with pytest.raises(wa.MemoryLimitError, match=r"set_memory_limit of 0 bytes does not fit"):
        wa.set_memory_limit(50_000, backend=dev)
    assert dev.memory_limit == 1 << 20 and not x._node.storage.evicted


def test_a_record_that_fails_on_return_loses_its_storage_with_the_reason(dev):
    data = vals(25_000, 3)
    state = {"gone": False}

    def read():
        if state["gone"]:
            raise FileNotFoundError("the file is gone")
        return bytes(data)

    w = wa.tensor(data, device=dev).realize()
    device_mod.set_restore(w._node.storage, Reread(read, "a file"))
    other = wa.tensor(vals(25_000, 4), device=dev).realize()
    wa.set_memory_limit(250_000, backend=dev)  # both fit, and not a third beside them
    rereadable(other, vals(25_000, 4), "other")
    (other + 0.0).realize()  # w is the least recently used: evicted for the result
    assert w._node.storage.evicted
    state["gone"] = True
    with pytest.raises(
        wa.DeviceLostError, match=r"evicted under the budgetcpu memory limit .*file is gone"
    ):
        w.tolist()


# -- three models over a budget ---------------------------------------------------------------


def test_three_models_over_a_budget_give_the_same_answers(dev, checkpoints):
    """Three embedders whose weights together exceed the limit, used in turn: the answers of
    an unlimited run, and the device's bytes never above the limit (checked after every call,
    and its peak at every allocation)."""
    models = [SentenceEmbedder.load(c, device=dev) for c in checkpoints]
    want = [m.encode(tb.SENTENCES, batch_size=4) for m in models]
    weights = dev.live_bytes  # the three models' weights (nothing else is live)
    limit = weights * 3 // 4  # two models fit, not three
    wa.set_memory_limit(limit, backend=dev)
    assert dev.live_bytes <= limit
    for k in (0, 1, 2, 0, 2, 1, 1, 0):
        assert models[k].encode(tb.SENTENCES, batch_size=4) == want[k]
        assert dev.live_bytes <= limit
    stats = dev.budget_stats()
    assert stats["peak_bytes"] <= limit and stats["refused"] == 0
    assert stats["evictions"] > 0 and stats["readmissions"] > 0
    assert stats["invalidated_traces"] > 0  # their captured graphs were dropped, recompiled
    report = wa.memory_report(["budgetcpu"])
    row = report.backend("budgetcpu")
    assert row.limit == limit and row.evictions == stats["evictions"]
    assert "memory limits (webaccel.set_memory_limit)" in str(report)
    print(f"\nthree models of {weights} bytes under {limit}: {stats}")


def test_three_models_over_a_budget_async(dev, checkpoints):
    async def main():
        models = [await SentenceEmbedder.load_async(c, device=dev) for c in checkpoints]
        want = [await m.encode_async(tb.SENTENCES[:3]) for m in models]
        limit = dev.live_bytes * 3 // 4
        wa.set_memory_limit(limit, backend=dev)
        for k in (2, 0, 1, 2):
            assert await models[k].encode_async(tb.SENTENCES[:3]) == want[k]
            assert dev.live_bytes <= limit
        return dev.budget_stats()

    stats = asyncio.run(main())
    assert stats["readmissions"] > 0 and stats["peak_bytes"] <= stats["limit"]


def test_a_model_larger_than_the_limit_is_refused_and_named(dev, checkpoints):
    model = SentenceEmbedder.load(checkpoints[0], device=dev)
    want = model.encode(tb.SENTENCES[:2])
    wa.set_memory_limit(dev.live_bytes // 2, backend=dev)
    with pytest.raises(wa.MemoryLimitError) as info:
        model.encode(tb.SENTENCES[:2])
    text = str(info.value)
    assert f"memory limit of {dev.memory_limit} bytes" in text and "budgetcpu" in text
    assert "in use by the program being run" in text and "memory_report()" in text
    wa.set_memory_limit(None, backend=dev)
    assert model.encode(tb.SENTENCES[:2]) == want  # nothing lost: it runs once there is room

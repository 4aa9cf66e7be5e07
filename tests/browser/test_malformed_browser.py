"""The malformed-call table (``tests/malformed_calls.py``) in the page: on webgpu (chromium and
the headless shell) and on webnn (headless shell), with the tensors on that device.

The table's source travels into Pyodide as text and runs there as a module (the page has no
NumPy, and the table needs none). Every call must raise its error, naming the op, the
argument and the rule; no RecursionError, ZeroDivisionError, IndexError, KeyError,
AttributeError or JsException may come out; and the device's graph counters and memory (live
storages, and on WebGPU the buffer pool) must be unchanged after each rejected call: nothing
was queued. The device-limit entries (``only=BIG``) run here, against the real
``maxStorageBufferBindingSize`` / ``maxBufferSize`` (WebGPU) and ``maxTensorByteLength``
(WebNN), read into ``Device.max_buffer_bytes``.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from malformed_calls import BAD, GOOD, check, check_good  # tests/ is on the path now

pytestmark = pytest.mark.lanes("chromium", "headless-shell")

SOURCE = (Path(__file__).resolve().parents[1] / "malformed_calls.py").read_text()
# webgpu runs in both lanes; webnn only in the headless shell (the lanes mark picks per item)
DEVICES = [
    pytest.param("webgpu", id="webgpu"),
    pytest.param("webnn", id="webnn", marks=pytest.mark.lanes("headless-shell")),
]


@run_in_pyodide(packages=["webaccel"])
def run_table_in_page(selenium, source, device_name):
    import pickle
    import sys
    import types

    import webaccel as wa

    module = types.ModuleType("malformed_calls")
    sys.modules["malformed_calls"] = module
    exec(source, module.__dict__)
    dev = wa.get_device(device_name)
    limit = dev.max_buffer_bytes
    bad = module.run_table(wa, device_name)
    good = module.run_good(wa, device_name)
    return pickle.dumps((bad, good, limit))


_RESULTS: dict[str, tuple] = {}


@pytest.fixture(scope="module")
def results(selenium_module_scope):
    def on(device_name: str) -> tuple:
        if device_name not in _RESULTS:
            raw = run_table_in_page(selenium_module_scope, SOURCE, device_name)
            _RESULTS[device_name] = pickle.loads(raw)
        return _RESULTS[device_name]

    return on


@pytest.mark.parametrize("device_name", DEVICES)
def test_device_limit_is_read(device_name, results):
    """The device's buffer limit is known (the size entries below test it)."""
    _, _, limit = results(device_name)
    assert isinstance(limit, int) and 2**20 <= limit < 2**40, limit


@pytest.mark.parametrize("entry", BAD, ids=[e.id for e in BAD])
@pytest.mark.parametrize("device_name", DEVICES)
def test_malformed_call_in_page(device_name, entry, results):
    bad, _, _ = results(device_name)
    if entry.only and device_name not in entry.only:
        assert entry.id not in bad
        return
    check(entry, bad[entry.id])


@pytest.mark.parametrize("entry", GOOD, ids=[e.id for e in GOOD])
@pytest.mark.parametrize("device_name", DEVICES)
def test_edge_call_still_works_in_page(device_name, entry, results):
    _, good, _ = results(device_name)
    check_good(entry, good[entry.id])

from __future__ import annotations

import subprocess
import sys

import pytest

from webaccel import _compat


def test_cpython_side_of_the_compat_layer():
    assert _compat.IN_PYODIDE is False
    assert _compat.host_kind() == "cpython"
    assert _compat.navigator() is None
    assert _compat.pyodide_version() is None
    assert _compat.can_run_sync() is True
    assert _compat.to_js_object({"a": 1}) == {"a": 1}
    assert _compat.wasm_address(bytearray(8)) is None  # addresses mean something in wasm only


def test_run_sync_runs_a_coroutine_on_cpython():
    async def answer() -> int:
        return 42

    assert _compat.run_sync(answer()) == 42


def test_run_js_needs_pyodide():
    with pytest.raises(RuntimeError, match="needs Pyodide"):
        _compat.run_js("1 + 1")


def test_import_never_needs_numpy():
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import webaccel\n"
        "r = webaccel.detect()\n"
        "assert r['tier'] == 'cpu-only', r\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

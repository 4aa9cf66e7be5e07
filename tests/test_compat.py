from __future__ import annotations

import asyncio
import inspect
import json
import subprocess
import sys

import pytest

from webaccel import _compat
from webaccel._compat import cpython_host  # noqa: F401  (the base of the fake host below)
from webaccel.errors import SyncUnavailableError


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


def test_sync_twin_has_the_signature_and_result_of_its_coroutine_function():
    async def load_async(name: str, *, times: int = 1) -> str:
        return name * times

    class Shelf:
        async def import_async(self, name: str) -> str:
            return f"{self.__class__.__name__}:{name}"

        @classmethod
        async def open_async(cls, path: str) -> str:
            return f"{cls.__name__}@{path}"

        import_ = _compat.sync_twin(import_async)
        open = classmethod(_compat.sync_twin(open_async.__func__))

    load = _compat.sync_twin(load_async)
    assert load("ab", times=2) == "abab" and load.__name__ == "load"
    assert str(inspect.signature(load)) == str(inspect.signature(load_async))
    assert load.__doc__.startswith("Sync ``load_async``")
    assert Shelf().import_("x") == "Shelf:x"
    assert Shelf.import_.__qualname__.endswith("Shelf.import_")  # a keyword keeps its "_"
    assert Shelf.open("/p") == "Shelf@/p"
    assert list(inspect.signature(Shelf.open).parameters) == ["path"]

    async def inside_a_loop() -> None:
        load("a")

    with pytest.raises(SyncUnavailableError, match="await the async form"):
        asyncio.run(inside_a_loop())


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


class FakeStorage:
    """``localStorage`` as a page has it: strings under string keys."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def getItem(self, key: str) -> str | None:
        return self.items.get(key)

    def setItem(self, key: str, value: str) -> None:
        self.items[key] = value


class FakeBrowser(_compat.cpython_host.CPythonHost):
    """A page as far as the host interface goes: JS globals, no JSPI."""

    kind = "browser"
    in_pyodide = True

    def __init__(self) -> None:
        self.globals = {"localStorage": FakeStorage(), "navigator": object()}

    def js_global(self, name: str):
        return self.globals.get(name)

    def can_run_sync(self) -> bool:
        return False


def test_a_fake_host_stands_in_for_the_browser():
    fake = FakeBrowser()
    with _compat.use_host(fake):
        assert _compat.host() is fake
        assert _compat.host_kind() == "browser"
        assert _compat.navigator() is fake.globals["navigator"]
        assert _compat.can_run_sync() is False
    assert _compat.host_kind() == "cpython"  # restored on exit


def test_remembered_values_go_to_local_storage_in_a_page(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBACCEL_CACHE_DIR", str(tmp_path))
    fake = FakeBrowser()
    with _compat.use_host(fake):
        _compat.remember("calibration", {"choice": "webnn"})
        assert _compat.recall("calibration") == {"choice": "webnn"}
    assert json.loads(fake.globals["localStorage"].items["webaccel.calibration"]) == {
        "choice": "webnn"
    }
    assert not list(tmp_path.iterdir())  # nothing written on the host's disk
    assert _compat.recall("calibration") == {}  # the host's own cache is separate


def test_remembered_values_go_to_a_file_on_cpython(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBACCEL_CACHE_DIR", str(tmp_path))
    _compat.remember("tuning", {"a": [1, 2]})
    assert json.loads((tmp_path / "tuning.json").read_text()) == {"a": [1, 2]}
    assert _compat.recall("tuning") == {"a": [1, 2]}
    (tmp_path / "tuning.json").write_text("{broken")
    assert _compat.recall("tuning") == {}  # a broken cache is a cold cache

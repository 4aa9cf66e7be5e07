"""The wheel inside Pyodide: imports without NumPy, reads its resources, sync and async detect."""

from __future__ import annotations

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["webaccel"])
def test_import_does_not_need_numpy(selenium):
    import sys

    sys.modules["numpy"] = None  # any `import numpy` now raises ImportError
    try:
        for name in [m for m in sys.modules if m.startswith("webaccel")]:
            del sys.modules[name]
        import webaccel

        assert webaccel.IN_PYODIDE is True
        assert "numpy" not in [m for m in sys.modules if sys.modules[m] is not None]
    finally:
        del sys.modules["numpy"]


@run_in_pyodide(packages=["webaccel"])
def test_resources_come_from_the_installed_wheel(selenium):
    from pathlib import Path

    import webaccel
    from webaccel import resources
    from webaccel.backends.webgpu import shaders

    package_dir = Path(webaccel.__file__).parent
    folder = Path(str(resources.resource_dir("js_glue")))
    assert folder.parent == package_dir, folder
    assert "idbRequest" in resources.read_text("js_glue", "webaccel_glue.js")
    assert (package_dir / "backends" / "webgpu" / "probe.wgsl").is_file()
    assert "@compute" in shaders.probe()
    assert "@compute" in shaders.read("webaccel.backends.webgpu.kernels", "matmul_tiled.wgsl")


@run_in_pyodide(packages=["webaccel"])
def test_sync_detect_runs_through_jspi(selenium):
    import webaccel
    from webaccel import _compat

    assert _compat.can_run_sync() is True
    report = webaccel.detect(webnn=False, storage=False)
    assert report["jspi"] is True
    assert report["webgpu"]["available"] is True


@run_in_pyodide(packages=["webaccel"])
def test_sync_call_without_jspi_raises_a_clear_error(selenium):
    # runPython (not runPythonAsync) cannot suspend: run_sync is unavailable in there.
    from pyodide.code import run_js

    message = run_js(
        """pyodide.runPython(`
import webaccel
try:
    webaccel.detect(webnn=False, storage=False)
    result = "no error"
except webaccel.SyncUnavailableError as exc:
    result = str(exc)
result
`)"""
    )
    assert "JSPI" in message and "detect_async" in message, message

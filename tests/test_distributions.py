"""The three distributions of the repository, built and opened: the runtime wheel holds the
runtime only (no lab, CLI, benchmark, embed demo or Selenium code, no console script); the pages
wheel holds the pages' Python and needs only webaccel; the lab wheel carries the command."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from webaccel_lab import wheels

SELENIUM_IMPORT = re.compile(r"^\s*(import|from)\s+selenium\b", re.MULTILINE)
LAB_IMPORT = re.compile(r"^\s*(import|from)\s+webaccel_lab\b", re.MULTILINE)
BENCHMARKS = ("ops", "webnn", "store", "bert", "chart")
HOST_MODULES = ("lab", "cli", "serve", "doctor", "benchmarks", "embed", "__main__", "footprint")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    return {project: wheels.build_wheel(out, project) for project in wheels.PROJECTS}


def _contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _metadata(files: dict[str, bytes]) -> str:
    return next(v for k, v in files.items() if k.endswith(".dist-info/METADATA")).decode()


def _requires(files: dict[str, bytes]) -> list[str]:
    lines = _metadata(files).splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]


def test_runtime_wheel_holds_no_host_tools(built):
    files = _contents(built["webaccel"])
    modules = {
        Path(name).with_suffix("").parts[1]
        for name in files
        if name.startswith("webaccel/") and name.count("/") >= 1
    }
    assert "tensor" in modules and "backends" in modules  # the runtime is there
    assert not modules & set(HOST_MODULES), sorted(modules & set(HOST_MODULES))
    assert not [n for n in files if n.startswith(("webaccel_lab/", "webaccel_pages/"))]
    python = {name: data.decode() for name, data in files.items() if name.endswith(".py")}
    assert not [name for name, text in python.items() if SELENIUM_IMPORT.search(text)]
    assert not [name for name, text in python.items() if LAB_IMPORT.search(text)]
    assert not [name for name, text in python.items() if "selenium" in text.lower()]
    assert not [name for name in files if name.endswith("entry_points.txt")]
    assert not [r for r in _requires(files) if "extra ==" not in r]  # no hard dependency


def test_pages_wheel_is_the_pages_python_and_needs_only_webaccel(built):
    files = _contents(built["webaccel-pages"])
    packages = {name.split("/")[0] for name in files if not name.startswith("webaccel_pages-")}
    assert packages == {"webaccel_pages"}
    for module in ("embed", "sources", *(f"benchmarks/{b}" for b in BENCHMARKS)):
        assert f"webaccel_pages/{module}.py" in files, module
    assert _requires(files) == ["webaccel==0.1.0"]
    texts = [data.decode() for name, data in files.items() if name.endswith(".py")]
    assert not [t for t in texts if SELENIUM_IMPORT.search(t) or LAB_IMPORT.search(t)]
    assert not [name for name in files if name.endswith("entry_points.txt")]


def test_lab_wheel_carries_the_webaccel_command(built):
    files = _contents(built["webaccel-lab"])
    (entry_points,) = [v for k, v in files.items() if k.endswith("entry_points.txt")]
    assert "webaccel = webaccel_lab.cli:main" in entry_points.decode()
    assert "webaccel_lab/cli.py" in files and "webaccel_lab/__main__.py" in files
    requires = _requires(files)
    assert "webaccel==0.1.0" in requires and "webaccel-pages==0.1.0" in requires
    assert any(r.startswith("selenium") for r in requires)


def test_import_webaccel_loads_no_host_tool():
    code = (
        "import sys, webaccel\n"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('selenium', 'webaccel_lab', 'webaccel_pages')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_page_uses_the_page_library():
    """The run / finish / failure protocol and the loading live in static_site/page.js only."""
    site = Path(__file__).parent.parent / "static_site"
    scripts = {p.name: p.read_text() for p in site.glob("*.js") if p.name != "page.js"}
    pages = {p.name for p in site.glob("*.html")}
    assert {"app.js", "embed.js", "bench.js", "footprint.js"} <= set(scripts)
    for name, text in scripts.items():
        assert 'from "./page.js"' in text, name
        for own in ("dataset.state =", "window.benchError", "window.webaccelError", "loadPyodide("):
            assert own not in text, (name, own)
    for name in pages:
        html = (site / name).read_text()
        assert 'data-state="loading"' in html and 'id="status"' in html, name
        assert 'id="error"' in html, name

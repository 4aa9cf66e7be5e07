"""Shaders and JS glue are package resources, in the checkout and inside the built wheel."""

from __future__ import annotations

import zipfile

import pytest

from webaccel import resources
from webaccel_lab import wheels


def test_read_resources_from_the_checkout():
    assert "@compute" in resources.read_text("wgsl", "probe.wgsl")
    assert "idbRequest" in resources.read_text("js_glue", "webaccel_glue.js")
    assert "probe.wgsl" in resources.list_resources("wgsl")


def test_missing_resource_names_what_exists():
    with pytest.raises(FileNotFoundError, match=r"probe\.wgsl"):
        resources.read_text("wgsl", "nope.wgsl")
    with pytest.raises(ValueError, match="unknown resource kind"):
        resources.read_text("css", "x")


def test_wheel_is_pure_and_carries_wgsl_and_js_glue(tmp_path):
    wheel = wheels.build_wheel(tmp_path)
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "webaccel/wgsl/probe.wgsl" in names
    assert "webaccel/js_glue/webaccel_glue.js" in names
    assert "webaccel/__init__.py" in names
    assert "Requires-Python: >=3.11" in metadata
    # NumPy is an extra, never a hard requirement. (Each Requires-Dist line is checked: the
    # old check, "nothing before the first extra names numpy", passed only while the `lab`
    # extra sorted before `numpy`.)
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    numpy = [line for line in requires if line.split()[1].startswith("numpy")]
    assert numpy and all("extra == 'numpy'" in line for line in numpy), requires
    assert not [n for n in names if n.endswith((".so", ".pyd"))]

"""Shaders and JS glue are package resources, in the checkout and inside the built wheel: the JS
glue read through ``resources``, the WGSL beside the WebGPU modules that use it."""

from __future__ import annotations

import zipfile

import pytest

from webaccel import resources
from webaccel.backends.webgpu import shaders
from webaccel_lab import wheels

KERNEL_SHADERS = (
    "conv_im2col.wgsl",
    "dequantize.wgsl",
    "elementwise.wgsl",
    "gather.wgsl",
    "matmul_direct.wgsl",
    "matmul_q.wgsl",
    "matmul_reg.wgsl",
    "matmul_subgroup.wgsl",
    "matmul_tiled.wgsl",
    "pool2d.wgsl",
    "reduce.wgsl",
    "rows.wgsl",
)


def test_read_resources_from_the_checkout():
    assert "@compute" in shaders.probe()
    assert "fn wa_relu" in shaders.common()
    for name in KERNEL_SHADERS:
        assert "${BINDINGS}" in shaders.read("webaccel.backends.webgpu.kernels", name), name
    assert "idbRequest" in resources.read_text("js_glue", "webaccel_glue.js")
    assert "webaccel_glue.js" in resources.list_resources("js_glue")


def test_missing_resource_names_what_exists():
    with pytest.raises(FileNotFoundError, match=r"probe\.wgsl"):
        shaders.read("webaccel.backends.webgpu", "nope.wgsl")
    with pytest.raises(FileNotFoundError, match=r"webaccel_glue\.js"):
        resources.read_text("js_glue", "nope.js")
    with pytest.raises(ValueError, match="unknown resource kind"):
        resources.read_text("wgsl", "probe.wgsl")  # the shaders left the resource folders


def test_wheel_is_pure_and_carries_wgsl_and_js_glue(tmp_path):
    wheel = wheels.build_wheel(tmp_path)
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "webaccel/backends/webgpu/probe.wgsl" in names
    assert "webaccel/backends/webgpu/common.wgsl" in names
    for name in KERNEL_SHADERS:
        assert f"webaccel/backends/webgpu/kernels/{name}" in names
    assert not [n for n in names if n.startswith("webaccel/wgsl/")]
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

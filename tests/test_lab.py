"""The lab's lanes and its failure mode: a missing browser fails the lane, never skips it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from webaccel_lab import lab


def test_five_lanes_with_their_requirements():
    assert list(lab.LANES) == [
        "host",
        "chromium",
        "headless-shell",
        "pyodide-0.27",
        "node-lavapipe",
    ]
    assert lab.BROWSER_LANES == ("chromium", "headless-shell", "pyodide-0.27")
    assert lab.NODE_LANES == ("node-lavapipe",)
    assert lab.LANES["node-lavapipe"].requires == ("webgpu",)
    assert lab.LANES["node-lavapipe"].pyodide == "314.0.7"
    assert lab.LANES["headless-shell"].requires == ("webgpu", "webnn")
    assert lab.LANES["pyodide-0.27"].pyodide == "0.27.7"
    assert lab.LANES["chromium"].pyodide == "314.0.7"


def test_unmet_requirements_name_the_reason():
    lane = lab.LANES["headless-shell"]
    report = {"webgpu": {"available": True}, "webnn": {"available": False, "error": "no ctx"}}
    assert lab.unmet_requirements(lane, report) == ["webnn: no ctx"]
    assert lab.unmet_requirements(lab.LANES["pyodide-0.27"], {"webgpu": {"available": True}}) == [
        "numpy: not installed"
    ]


def test_page_url_carries_the_lane():
    url = lab.page_url("http://127.0.0.1:1/", lab.LANES["pyodide-0.27"])
    assert url == "http://127.0.0.1:1/index.html?source=local&pyodide=0.27.7&packages=numpy"


def test_check_lane_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBACCEL_LAB", str(tmp_path))
    with pytest.raises(lab.LabError, match=r"headless-shell.*browser binary .*chromium"):
        lab.check_lane(lab.LANES["headless-shell"])


def test_node_lane_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBACCEL_LAB", str(tmp_path / "lab"))  # no Pyodide dist
    monkeypatch.setenv("WEBACCEL_CACHE", str(tmp_path / "cache"))  # no lavapipe
    with pytest.raises(lab.LabError) as err:
        lab.check_lane(lab.LANES["node-lavapipe"])
    text = str(err.value)
    assert "lane 'node-lavapipe' is missing" in text
    assert f"Mesa lavapipe (its ICD file {tmp_path / 'cache' / 'lavapipe'}" in text
    assert "Pyodide 314.0.7 distribution" in text
    assert "make setup" in text


def test_lavapipe_env_points_only_at_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBACCEL_CACHE", str(tmp_path))
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/x")
    env = lab.lavapipe_env()
    assert env["VK_DRIVER_FILES"] == str(tmp_path / "lavapipe" / "lvp_icd.abs.json")
    lib = tmp_path / "lavapipe" / "root" / "usr" / "lib" / "x86_64-linux-gnu"
    assert env["LD_LIBRARY_PATH"] == f"{lib}:/opt/x"
    monkeypatch.delenv("LD_LIBRARY_PATH")
    assert lab.lavapipe_env()["LD_LIBRARY_PATH"] == str(lib)


@pytest.mark.parametrize("lane", ["headless-shell", "chromium", "node-lavapipe"])
def test_lane_without_its_browser_fails_instead_of_skipping(tmp_path, lane):
    env = {**os.environ, "WEBACCEL_LAB": str(tmp_path)}  # an empty lab: no shell, no dists
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--lane", lane, "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=env,
        cwd=lab.repo_root(),
        timeout=120,
    )
    assert out.returncode not in (0, 5), out.stdout  # 5 would be "no tests ran"
    assert f"lane {lane!r} is missing" in out.stderr + out.stdout
    assert "skipped" not in out.stdout

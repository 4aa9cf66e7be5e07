"""The wheels the pages install, built from the checkout, and their entries in a Pyodide dist.

Three distributions live in the repository: ``webaccel`` (the runtime, at the root),
``webaccel-pages`` (``pages/``: the pages' own Python) and ``webaccel-lab`` (``lab/``: these
host tools). The pages install the first two with micropip; the lanes add both to each Pyodide
dist's lock, so that ``loadPackage``/pytest-pyodide find them too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .lab import LabError, lab_dir, pyodide_dist, repo_root

# distribution -> its folder in the checkout
PROJECTS = {"webaccel": ".", "webaccel-pages": "pages", "webaccel-lab": "lab"}
RUNTIME, PAGES = "webaccel", "webaccel-pages"


def wheel_prefix(project: str) -> str:
    """How *project*'s wheel files start (the name with ``-`` as ``_``, then ``-``)."""
    return project.replace("-", "_") + "-"


def build_wheel(out_dir: Path | None = None, project: str = RUNTIME) -> Path:
    """Build *project*'s pure ``py3-none-any`` wheel from the checkout and return its path.

    Built in a private temporary folder and moved into place atomically, so that concurrent
    test runs never see a half-written wheel; older wheels of the project in *out_dir* go.
    """
    if project not in PROJECTS:
        raise ValueError(f"unknown project {project!r}; the repository has {sorted(PROJECTS)}")
    root = repo_root()
    source = (root / PROJECTS[project]).resolve()
    prefix = wheel_prefix(project)
    out = out_dir or lab_dir() / "wheels"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        cmd += ["-w", tmp, str(source)]
        subprocess.run(cmd, check=True, cwd=root)
        wheels = sorted(Path(tmp).glob(f"{prefix}*-py3-none-any.whl"))
        if len(wheels) != 1:
            raise LabError(f"expected one {project} wheel, pip built {wheels}")
        target = out / wheels[0].name
        os.replace(wheels[0], target)
    for old in out.glob(f"{prefix}*.whl"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def build_page_wheels(out_dir: Path | None = None) -> tuple[Path, Path]:
    """The two wheels a page installs: (the runtime's, the pages')."""
    return build_wheel(out_dir, RUNTIME), build_wheel(out_dir, PAGES)


def read_lock(path: Path) -> tuple[Any, dict[str, Any]]:
    """A ``pyodide-lock.json`` as a pyodide-lock spec, plus its raw ``info`` block.

    pyodide-lock 0.1.2 predates 314's lock format (no ``info.version``, empty ``tool``
    tables), so those are normalized before parsing and the raw info is kept to write back.
    """
    from pyodide_lock import PyodideLockSpec

    raw = json.loads(path.read_text())
    info = dict(raw["info"])
    raw.pop("tool", None)
    raw["info"].setdefault("version", path.parent.name)
    for pkg in raw["packages"].values():
        pkg.pop("tool", None)
    return PyodideLockSpec(**raw), info


def write_lock(path: Path, spec: Any, info: dict[str, Any]) -> None:
    """Write *spec*, giving the runtime back the ``info`` block exactly as its own lock had it."""
    data = json.loads(spec.model_dump_json(exclude_none=True))
    data["info"] = info
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


def add_wheels_to_dist(wheels: Sequence[Path], version: str) -> None:
    """Copy *wheels* into a Pyodide dist and (re)write their lock entries with pyodide-lock,
    in one step (a wheel's dependency on another of them resolves within the step)."""
    from pyodide_lock.utils import add_wheels_to_spec

    dist = pyodide_dist(version)
    lock_path = dist / "pyodide-lock.json"
    if not lock_path.is_file():
        raise LabError(f"no Pyodide {version} distribution at {dist} (run `make setup`)")
    targets, names = [], []
    for wheel in wheels:
        name = wheel.name.split("-")[0]  # webaccel, webaccel_pages
        target = dist / wheel.name
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        shutil.copy2(wheel, tmp)
        os.replace(tmp, target)
        for old in dist.glob(f"{name}-*.whl"):
            if old != target:
                old.unlink(missing_ok=True)
        targets.append(target)
        names += [name, name.replace("_", "-")]  # the lock keys the canonical name
    spec, info = read_lock(lock_path)
    for name in names:
        spec.packages.pop(name, None)
    write_lock(lock_path, add_wheels_to_spec(spec, targets, base_path=dist), info)


def install_in_dist(version: str) -> tuple[Path, Path]:
    """Build the runtime and pages wheels from the checkout and add both to Pyodide *version*'s
    dist (what a browser lane does before its tests); returns the two wheels."""
    wheels = build_page_wheels()
    add_wheels_to_dist(wheels, version)
    return wheels

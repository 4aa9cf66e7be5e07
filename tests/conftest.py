"""Test lanes: ``pytest`` runs the host lane; ``pytest --lane NAME`` runs one browser lane.

A browser lane runs ``tests/browser`` in that lane's headless browser through pytest-pyodide
(``--rt chrome`` and the lane's Pyodide dist are set here), after building the runtime's and the
pages' wheels and adding them to that dist's lock. A node lane (``node-lavapipe``) runs
``tests/node``, whose tests start Pyodide under Node + Dawn themselves
(``webaccel_lab.lab.run_node``). A lane missing a piece of its browser, driver, runtime or dist
fails at start with the reason; it never skips. Tests marked
``@pytest.mark.lanes(...)`` are deselected in other lanes (deselected, not skipped).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from webaccel_lab import lab, wheels

BROWSER_TESTS = Path(__file__).parent / "browser"
NODE_TESTS = Path(__file__).parent / "node"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lane",
        default="host",
        choices=list(lab.LANES),
        help="the lane to test in (default: host); see webaccel_lab.lab.LANES",
    )


def current_lane(config: pytest.Config) -> lab.Lane:
    return lab.LANES[config.getoption("--lane")]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    lane = current_lane(config)
    if lane.browser is None:
        return
    try:
        lab.check_lane(lane)
    except lab.LabError as exc:
        raise pytest.UsageError(str(exc)) from exc
    if lane.browser == "node":
        return  # no browser: tests/node runs Pyodide under Node itself
    # Runs before pytest-pyodide reads these options.
    config.option.runtime = "chrome"
    config.option.dist_dir = str(lab.pyodide_dist(lane.pyodide))
    wheels.install_in_dist(lane.pyodide)  # the runtime's and the pages' wheels
    _use_lane_driver(lane)


def _use_lane_driver(lane: lab.Lane) -> None:
    """Make pytest-pyodide start the lane's browser with the lab's flags and driver setup."""
    from pytest_pyodide import runner

    def get_driver(self: object, jspi: bool = False) -> object:
        return lab.start_driver(lane)

    runner.SeleniumChromeRunner.get_driver = get_driver


def _within(path: Path, tree: Path) -> bool:
    return tree == path or tree in path.parents


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Each lane collects its own tree: host ``tests/*.py``, browsers ``tests/browser``,
    node lanes ``tests/node``."""
    browser = current_lane(config).browser
    own = {None: None, "node": NODE_TESTS}.get(browser, BROWSER_TESTS)
    for tree in (BROWSER_TESTS, NODE_TESTS):
        if tree != own and _within(collection_path, tree):
            return True
    if own is None:
        return None
    if collection_path.is_file() and collection_path.suffix == ".py":
        return True if not _within(collection_path, own) else None
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    lane = current_lane(config).name
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("lanes")
        (keep if marker is None or lane in marker.args else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str:
    lane = current_lane(config)
    return f"webaccel lane: {lane.name} ({lane.description}); requires {list(lane.requires)}"

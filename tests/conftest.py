"""Test lanes: ``pytest`` runs the host lane; ``pytest --lane NAME`` runs one browser lane.

A browser lane runs ``tests/browser`` in that lane's headless browser through pytest-pyodide
(``--rt chrome`` and the lane's Pyodide dist are set here), after building the wheel and adding
it to that dist's lock. A lane missing a piece of its browser, driver or dist fails at start with
the reason; it never skips. Tests marked ``@pytest.mark.lanes(...)`` are deselected in other
lanes (deselected, not skipped).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from webaccel import lab

BROWSER_TESTS = Path(__file__).parent / "browser"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lane",
        default="host",
        choices=list(lab.LANES),
        help="the lane to test in (default: host); see webaccel.lab.LANES",
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
    # Runs before pytest-pyodide reads these options.
    config.option.runtime = "chrome"
    config.option.dist_dir = str(lab.pyodide_dist(lane.pyodide))
    wheel = lab.build_wheel()
    lab.add_wheel_to_dist(wheel, lane.pyodide)
    _use_lane_driver(lane)


def _use_lane_driver(lane: lab.Lane) -> None:
    """Make pytest-pyodide start the lane's browser with the lab's flags and driver setup."""
    from pytest_pyodide import runner

    def get_driver(self: object, jspi: bool = False) -> object:
        return lab.start_driver(lane)

    runner.SeleniumChromeRunner.get_driver = get_driver


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    in_browser_tree = BROWSER_TESTS == collection_path or BROWSER_TESTS in collection_path.parents
    if current_lane(config).browser is None:
        return True if in_browser_tree else None
    if collection_path.is_file() and collection_path.suffix == ".py" and not in_browser_tree:
        return True
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

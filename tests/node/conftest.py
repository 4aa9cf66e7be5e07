from __future__ import annotations

from pathlib import Path

import pytest

from webaccel_lab import lab, wheels


@pytest.fixture(scope="session")
def lane(pytestconfig: pytest.Config) -> lab.Lane:
    return lab.LANES[pytestconfig.getoption("--lane")]


@pytest.fixture(scope="session")
def wheel() -> Path:
    """The package as it is in this checkout, built once per run."""
    return wheels.build_wheel()

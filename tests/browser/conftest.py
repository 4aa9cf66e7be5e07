from __future__ import annotations

import pytest

from webaccel_lab import lab


@pytest.fixture(scope="session")
def lane(pytestconfig: pytest.Config) -> lab.Lane:
    return lab.LANES[pytestconfig.getoption("--lane")]

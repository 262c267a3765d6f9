"""Suite-wide set-up: offscreen Qt, the slow marker, the shared fixtures."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ROCARS_SITE_SECRET", "test-site-secret-not-for-production")

pytest_plugins = ["tests.fixtures.brokers", "tests.fixtures.central", "tests.fixtures.local_api"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow", action="store_true", default=False, help="run the long soak/fault tests"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow") or os.environ.get("ROCARS_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow or ROCARS_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

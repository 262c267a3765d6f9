"""What the AVRS adapter's tests share: the replay guard's log as it is made."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.fixtures.logs import Said, said_by


@pytest.fixture
def said() -> Iterator[Said]:
    """The replay guard's log, as it is made (caplog may get an earlier test's, late)."""
    with said_by("avrs_adapter.replay") as said:
        yield said


def replay_warnings(said: Said) -> list[str]:
    """The warnings about replayed reads among what the guard said."""
    return [
        r.getMessage()
        for r in said.records
        if r.levelno == logging.WARNING and "replayed" in r.getMessage()
    ]

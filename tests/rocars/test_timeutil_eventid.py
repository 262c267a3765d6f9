"""Event ids and wire times: the hand-made fast paths against the reference ones."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from ulid import ULID

from rocars.eventid import is_event_id, new_event_id
from rocars.timeutil import HK_TZ, parse_rfc3339, to_rfc3339


def test_event_ids_are_ulids_of_now_and_unique() -> None:
    ids = [new_event_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:500]:
        assert is_event_id(text)
        assert str(ULID.from_str(text)) == text  # the reference decoder reads it back alike
    age_ms = time.time() * 1000 - ULID.from_str(ids[-1]).milliseconds
    assert 0 <= age_ms < 5000


def test_event_ids_sort_by_time() -> None:
    first = new_event_id()
    time.sleep(0.003)
    assert new_event_id() > first


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC), "2026-11-21T08:00:00.000Z"),
        (datetime(2026, 11, 21, 8, 0, 0, 999_999, tzinfo=UTC), "2026-11-21T08:00:00.999Z"),
        (datetime(2026, 11, 21, 16, 0, 0, 123_456, tzinfo=HK_TZ), "2026-11-21T08:00:00.123Z"),
        (
            datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            "2025-12-31T23:30:00.000Z",
        ),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05.000Z"),
    ],
)
def test_wire_times(value: datetime, text: str) -> None:
    assert to_rfc3339(value) == text
    reference = value.astimezone(UTC)
    assert parse_rfc3339(text) == reference.replace(
        microsecond=reference.microsecond // 1000 * 1000
    )


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_rfc3339(datetime(2026, 11, 21, 8, 0, 0))

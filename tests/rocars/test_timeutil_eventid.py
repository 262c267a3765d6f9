"""Event ids and wire times: the hand-made fast paths against the reference ones."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from ulid import ULID

from rocars import eventid
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


def test_event_ids_take_random_bytes_from_the_os_a_pool_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = os.urandom

    def counting(size: int) -> bytes:
        calls.append(size)
        return real(size)

    monkeypatch.setattr(eventid, "_pool", eventid._Pool())
    monkeypatch.setattr(eventid.os, "urandom", counting)
    ids = [new_event_id() for _ in range(eventid._POOL_IDS * 2 + 1)]
    # one system call (which lets the GIL go) every _POOL_IDS ids, never a byte twice
    assert calls == [eventid._RANDOM_BYTES * eventid._POOL_IDS] * 3
    assert len({text[10:] for text in ids}) == len(ids)


def test_event_ids_are_unique_across_threads() -> None:
    made: list[list[str]] = [[] for _ in range(8)]

    def make(out: list[str]) -> None:
        out.extend(new_event_id() for _ in range(3000))

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for out in made for text in out]
    assert len({text[10:] for text in every}) == len(every) == 8 * 3000


def test_a_forked_child_makes_other_ids_than_its_parent() -> None:
    new_event_id()  # the parent's pool holds bytes it has not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(write, " ".join(new_event_id() for _ in range(5)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [new_event_id() for _ in range(5)]
    assert len(child) == 5
    assert not {text[10:] for text in child} & {text[10:] for text in parent}


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


def test_a_time_out_of_range_in_utc_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_rfc3339("0001-01-01T00:00:00+01:00")  # was an OverflowError


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_rfc3339(datetime(2026, 11, 21, 8, 0, 0))


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " "])
def test_an_event_id_with_a_line_end_after_it_is_not_one(suffix: str) -> None:
    """``$`` matched before a final newline: a ULID or UUID with "\\n" was an event id."""
    ulid, uuid = new_event_id(), "0190e4e4-1c2b-7d3e-8f40-1a2b3c4d5e6f"
    assert is_event_id(ulid)
    assert is_event_id(uuid)
    assert not is_event_id(ulid + suffix)
    assert not is_event_id(uuid + suffix)

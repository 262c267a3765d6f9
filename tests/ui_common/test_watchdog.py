"""The GUI-thread watchdog: overdue feed -> on_stall, once; fed -> nothing."""

from __future__ import annotations

import threading

import pytest

from ui_common.watchdog import MAX_POLL_S, Watchdog


def test_overdue_feed_calls_on_stall_once() -> None:
    now = [100.0]
    calls: list[int] = []
    dog = Watchdog(5.0, lambda: calls.append(1), monotonic=lambda: now[0])
    now[0] += 4.9
    assert not dog.check()
    dog.feed()
    now[0] += 4.9
    assert not dog.check()
    now[0] += 0.2
    assert dog.check()
    assert dog.check()
    assert calls == [1]


def test_thread_notices_a_stall() -> None:
    stalled = threading.Event()
    dog = Watchdog(0.2, stalled.set)
    dog.start()
    try:
        assert stalled.wait(5)
    finally:
        dog.stop()


def test_bad_timeout() -> None:
    with pytest.raises(ValueError, match="positive"):
        Watchdog(0)


def test_the_thread_looks_when_the_feed_falls_due() -> None:
    """It waits no longer than ``MAX_POLL_S`` and no later than the feed is due: polled
    every min(1 s, timeout / 4), a freeze was caught up to a second late, 11 s at the
    10 s a PROCEED may outlive a frozen screen by (found in review)."""
    now = [100.0]
    dog = Watchdog(10.0, lambda: None, monotonic=lambda: now[0])
    assert dog._until_due() == MAX_POLL_S <= 0.1  # noqa: SLF001
    now[0] = 109.95
    assert dog._until_due() == pytest.approx(0.05)  # noqa: SLF001
    now[0] = 110.5
    assert dog._until_due() == pytest.approx(0.01)  # noqa: SLF001

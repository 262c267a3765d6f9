"""The GUI-thread watchdog: overdue feed -> on_stall, once; fed -> nothing."""

from __future__ import annotations

import threading

import pytest

from ui_common.watchdog import Watchdog


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

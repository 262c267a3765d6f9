"""Background threads in SCHED_BATCH: the thread itself, what it starts, nothing else;
and each with its name in the OS."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from rocars.threads import batch_thread, name_thread, start_in_background

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SCHED_BATCH is Linux's")


def _tid(thread: threading.Thread) -> int:
    """A started thread's native id (never 0, which would ask about the calling thread)."""
    assert thread.native_id
    return thread.native_id


def _policies(enabled: bool) -> dict[str, int]:
    seen: dict[str, int] = {}
    go = threading.Event()

    def child() -> None:
        seen["child"] = os.sched_getscheduler(0)

    def body() -> None:
        go.wait(5)
        seen["worker"] = os.sched_getscheduler(0)
        started = threading.Thread(target=child)
        started.start()
        started.join(5)

    thread = threading.Thread(target=body)
    start_in_background(thread, enabled)
    seen["right after start"] = os.sched_getscheduler(_tid(thread))
    go.set()
    thread.join(5)
    seen["caller"] = os.sched_getscheduler(0)
    return seen


def test_a_background_thread_and_its_children_are_batch_the_caller_is_not() -> None:
    before = os.sched_getscheduler(0)
    assert before == os.SCHED_OTHER
    assert _policies(True) == {
        "right after start": os.SCHED_BATCH,
        "worker": os.SCHED_BATCH,
        "child": os.SCHED_BATCH,
        "caller": os.SCHED_OTHER,
    }


def test_disabled_leaves_the_policy_alone() -> None:
    assert set(_policies(False).values()) == {os.SCHED_OTHER}


def test_the_calling_thread_alone() -> None:
    seen: dict[str, object] = {}

    def body() -> None:
        seen["moved"] = batch_thread()
        seen["policy"] = os.sched_getscheduler(0)
        seen["again"] = batch_thread()  # already there: nothing to do

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(5)
    assert seen == {"moved": True, "policy": os.SCHED_BATCH, "again": False}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def _wait_gone(thread: threading.Thread, timeout: float = 5.0) -> None:
    """``join`` returns once the thread's Python part is done; the OS thread may still be
    ending (its ``/proc/self/task`` entry there, writable) for a moment after."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/self/task/{thread.native_id}").exists():
        assert time.monotonic() < deadline, "the thread did not end in the OS"
        time.sleep(0.001)


def test_a_thread_that_is_gone_is_no_error() -> None:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join(5)
    assert thread.native_id is not None
    _wait_gone(thread)
    assert batch_thread(thread.native_id) is False


def test_a_real_time_thread_is_left_where_it_is() -> None:
    """A thread an operator put at SCHED_FIFO (chrt) stays there: lowering it would be
    allowed, but the operator's choice wins; without the privilege to set it, skip."""
    seen: dict[str, object] = {}

    def body() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except PermissionError:
            seen["skip"] = True
            return
        seen["moved"] = batch_thread()
        seen["policy"] = os.sched_getscheduler(0)
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(5)
    if seen.get("skip"):
        pytest.skip("no privilege for SCHED_FIFO here")
    assert seen == {"moved": False, "policy": os.SCHED_FIFO}


def _os_name(thread: threading.Thread) -> str:
    return Path(f"/proc/self/task/{_tid(thread)}/comm").read_text().rstrip("\n")


def test_a_background_thread_has_its_name_in_the_os_cut_to_15_bytes() -> None:
    go = threading.Event()
    thread = threading.Thread(target=go.wait, args=(5,), name="sync-uploader-of-records")
    start_in_background(thread)
    try:
        assert _os_name(thread) == "sync-uploader-o"
        assert name_thread(thread, "other")
        assert _os_name(thread) == "other"
        # the process's own name (the main thread's) is untouched
        assert Path("/proc/self/comm").read_text() != "other\n"
    finally:
        go.set()
        thread.join(5)


def test_naming_a_thread_that_is_gone_or_never_started_is_no_error() -> None:
    never = threading.Thread(target=lambda: None)
    assert name_thread(never) is False
    gone = threading.Thread(target=lambda: None)
    gone.start()
    gone.join(5)
    _wait_gone(gone)
    assert name_thread(gone) is False

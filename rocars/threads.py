"""Background threads that never take a CPU from the threads an answer waits for.

Linux wakes a thread on the CPU it last ran on or its waker's, and a woken thread that
slept a while usually *preempts* whatever runs there. When that is a lane's reading
thread (or the broker it answers through), the reader waits in the run queue until the
woken thread sleeps again or the next scheduler tick moves it to the other CPU: up to
4 ms at ``CONFIG_HZ=250`` (Debian's kernel), even beside an idle CPU. Traced with
``perf`` at 100 lanes, the agent's own timer, puller and uploader threads were most of
what preempted its reading thread in the slowest reads (docs/benchmarks.md).

A thread in ``SCHED_BATCH`` gets its fair share of the CPU as before, but its wake-ups
never preempt: it runs when a CPU comes free. Any thread may put itself there without
privileges; Linux-only, a no-op elsewhere.

Each thread started here also gets its name in the OS (``name_thread``), so that
``top -H``, ``ps -L -o tid,cls,comm`` and ``perf`` tell the agent's threads apart (they
all show the process's name otherwise); ``bench/sched_trace.py`` finds them by it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

logger = logging.getLogger(__name__)


def batch_thread(tid: int = 0) -> bool:
    """Put one thread (``tid``, a native thread id; 0: the calling thread) in
    ``SCHED_BATCH``; True if it was moved.

    Only from the default policy: a thread an operator put elsewhere (``chrt`` to a
    real-time policy, ``SCHED_IDLE``) keeps the operator's choice."""
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None:
        return False
    try:
        if os.sched_getscheduler(tid) != os.SCHED_OTHER:
            return False
        os.sched_setscheduler(tid, policy, os.sched_param(0))
    except OSError as err:  # gone already, or a container's seccomp filter: run as it is
        logger.debug("thread %d stays in its scheduling policy: %s", tid, err)
        return False
    return True


#: the longest thread name Linux keeps (16 bytes with the terminating NUL)
OS_NAME_MAX = 15


def name_thread(thread: threading.Thread, name: str | None = None) -> bool:
    """Give a started thread ``name`` (default: its Python name) in the OS as well, cut
    to 15 bytes; True if it was set. Any thread of the process may name another
    (``/proc/self/task/TID/comm``); a thread that is gone, or no ``/proc``: False."""
    tid = thread.native_id
    if tid is None:
        return False
    wanted = (name or thread.name).encode("ascii", "replace")[:OS_NAME_MAX]
    try:
        Path(f"/proc/self/task/{tid}/comm").write_bytes(wanted)
    except OSError as err:
        logger.debug("thread %d keeps its OS name: %s", tid, err)
        return False
    return True


def start_in_background(thread: threading.Thread, enabled: bool = True) -> None:
    """``thread.start()``, its name in the OS, then the thread in ``SCHED_BATCH`` (when
    ``enabled``).

    Set from here, once ``start`` has returned, so the policy is in place when the
    caller goes on; threads the thread starts later inherit it (uvicorn's workers)."""
    thread.start()
    name_thread(thread)
    if enabled and thread.native_id is not None:
        batch_thread(thread.native_id)

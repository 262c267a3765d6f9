"""Background logging: every line written, in order, by the time the process exits."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging, os, sys, threading
from rocars.logs import setup_logging
setup_logging(background=True)
log = logging.getLogger("t")
assert threading.active_count() == 2  # the listener
writer = next(t for t in threading.enumerate() if t.name == "log-writer")
if sys.platform == "linux":  # it never preempts a thread that logs (rocars.threads)
    assert os.sched_getscheduler(writer.native_id) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
for n in range(2000):
    log.info("line %d", n)
try:
    raise ValueError("boom")
except ValueError:
    log.exception("failed")
"""


def test_background_logging_writes_every_line_in_order_at_exit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [line for line in done.stderr.splitlines() if " t: line " in line]
    assert [int(line.rsplit(" ", 1)[1]) for line in lines] == list(range(2000))
    assert " INFO    t: line 0" in lines[0]
    assert "ERROR   t: failed" in done.stderr
    assert "ValueError: boom" in done.stderr  # the traceback, formatted by the listener

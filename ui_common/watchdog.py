"""A frozen screen must not keep showing its last instruction: the GUI-thread watchdog.

If the GUI thread stops turning its event loop (a deadlock, a runaway paint), the window
keeps its last frame, which could be a PROCEED. The app feeds the watchdog from a Qt
timer; a plain thread checks the feed and, past the timeout, calls ``on_stall`` (by default:
log and exit the process, so the window disappears and systemd restarts the app).
Plain Python (no Qt) so a test drives it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

EXIT_STALLED = 70


def exit_process() -> None:
    logger.critical("GUI thread stalled: exiting so the screen goes dark and is restarted")
    logging.shutdown()
    os._exit(EXIT_STALLED)


#: The longest wait between two looks at the feed (seconds): past when it is due, a
#: freeze is caught within this (the wait is cut to when it falls due)
MAX_POLL_S = 0.1


class Watchdog:
    """Calls ``on_stall`` once when ``feed`` has not been called for ``timeout`` seconds."""

    def __init__(
        self,
        timeout: float = 5.0,
        on_stall: Callable[[], None] = exit_process,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self._on_stall = on_stall
        self._monotonic = monotonic
        self._last = monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stalled = False

    def feed(self, *_: object) -> None:
        self._last = self._monotonic()

    def check(self) -> bool:
        """True (and ``on_stall`` called, once) when the feed is overdue."""
        if not self.stalled and self._monotonic() - self._last > self.timeout:
            self.stalled = True
            self._on_stall()
        return self.stalled

    def start(self) -> None:
        self.feed()
        self._thread = threading.Thread(target=self._run, name="gui-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        # until the feed is due, at most a tenth of a second past it: polled every
        # min(1 s, timeout / 4), a freeze was caught up to a second late (11 s at 10 s,
        # the bound a PROCEED may outlive a frozen screen by: found in review)
        while not self._stop.wait(self._until_due()):
            if self.check():
                return

    def _until_due(self) -> float:
        """How long to wait before the next look: until the feed is overdue (from the
        last one), no less than 10 ms, no more than ``MAX_POLL_S``."""
        due = self._last + self.timeout - self._monotonic()
        return min(max(due, 0.01), MAX_POLL_S)

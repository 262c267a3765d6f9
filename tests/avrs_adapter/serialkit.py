"""Test helpers: a SerialSource running on a thread, its observations in a queue."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from avrs_adapter.observation import Observation
from avrs_adapter.serial_source import SerialSource


class Reader:
    """Runs ``source.observations`` on a thread; ``get`` waits for the next one."""

    def __init__(self, source: SerialSource) -> None:
        self.source = source
        self.stop_event = threading.Event()
        self.queue: queue.Queue[Observation] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for obs in self.source.observations(self.stop_event):
            self.queue.put(obs)

    def get(self, timeout: float = 5.0) -> Observation:
        return self.queue.get(timeout=timeout)

    def vrns(self, count: int, timeout: float = 5.0) -> list[str]:
        return [self.get(timeout).vrn for _ in range(count)]

    def wait_status(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll ``status()`` until ``check`` holds (status has no event to wait on)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.source.status()
            if check(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"status never matched: {status}")
            time.sleep(0.02)

    def close(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        assert not self.thread.is_alive()

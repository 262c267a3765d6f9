"""Test helpers: a SerialSource running on a thread, its observations in a queue; a
serial device server's TCP port on loopback."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from avrs_adapter.observation import Observation
from avrs_adapter.protocols import make_protocol
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


class DeviceServer:
    """A serial device server's raw TCP port (or a camera streaming its serial format over
    TCP) on loopback: it takes one connection at a time and writes what it is given."""

    def __init__(self, protocol: str) -> None:
        self.encoder = make_protocol(protocol)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()

    def send_read(self, plate: str, *, split: bool = False) -> None:
        assert self.conn is not None
        frame = self.encoder.encode(plate, 0.9, "CAM1", datetime.now().replace(microsecond=0))
        for piece in (frame[:5], frame[5:]) if split else (frame,):
            self.conn.sendall(piece)
            time.sleep(0.01)

    def hang_up(self) -> None:
        assert self.conn is not None
        self.conn.close()
        self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()

"""A centre (or a local API) that is slow or hangs up, over real HTTP on loopback, and the
real local API in front of it: what the kiosk meets when ROCARS is slow to answer."""

from __future__ import annotations

import contextlib
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI

from sync.local_api import build_router
from sync.puller import CentralClient
from sync.replica import Replica
from tests.fixtures.asgi import serving


class _HangUp(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request = self.rfile.readline().decode("latin-1").strip()
        length = 0
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        self.rfile.read(length)
        assert isinstance(self.server, HangUpCentre)
        self.server.arrived(request)
        try:
            self.server.released.wait(self.server.delay)
            if self.server.answer:
                with contextlib.suppress(OSError):  # the client may have given up meanwhile
                    self.wfile.write(self.server.answer)
            # ... or the connection closes without an answer, as when the centre crashed
        finally:
            self.server.left()


class HangUpCentre(socketserver.ThreadingTCPServer):
    """A centre that reads each whole request, then hangs up unanswered: it may have acted.

    Set ``delay`` to say nothing that long first (or until ``gone``), ``answer`` to
    answer after all (raw HTTP). ``most_at_once`` is the most requests it held at once.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HangUp)
        self.received: list[str] = []
        self.delay = 0.0
        self.answer = b""
        self.most_at_once = 0
        self._held = 0
        self._lock = threading.Lock()
        self.released = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def arrived(self, request: str) -> None:
        with self._lock:
            self.received.append(request)
            self._held += 1
            self.most_at_once = max(self.most_at_once, self._held)

    def left(self) -> None:
        with self._lock:
            self._held -= 1

    def gone(self) -> None:
        """The centre's process is gone: its port refuses connections."""
        self.released.set()
        self.shutdown()
        self.server_close()
        self.thread.join(10)


@contextlib.contextmanager
def local_api_before(centre: str, data: Path, *, agent_timeout: float = 5.0) -> Iterator[str]:
    """The real local API (uvicorn, loopback) in front of the centre at ``centre``, waiting
    ``agent_timeout`` for it (the agent's ``central.timeout_s``); its replica has never
    caught up. Yields the local API's URL."""
    central = CentralClient(centre, timeout=agent_timeout)
    replica = Replica(data / "replica.sqlite")
    app = FastAPI()
    app.include_router(build_router(central, replica, lambda: True))
    try:
        with serving(app, name="local-api") as url:
            yield url
    finally:
        central.close()
        replica.close()

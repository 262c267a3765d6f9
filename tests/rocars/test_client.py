"""The HTTP client drops an idle connection before the server would close it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from rocars.broker import free_port
from rocars.client import KEEPALIVE_EXPIRY_S, SERVER_KEEPALIVE_S, RocarsClient


async def peer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the client's port: a new port is a new connection."""
    assert scope["type"] == "http"
    body = json.dumps({"port": scope["client"][1]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        peer, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_keep_alive=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "server did not start"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_an_idle_connection_is_dropped_before_the_server_closes_it(server: str) -> None:
    # The server closes an idle connection after 1 s; the client gives up on it at 0.3 s.
    with RocarsClient(server, keepalive_s=0.3) as client:
        first = client._call("GET", "/")["port"]
        assert client._call("GET", "/")["port"] == first  # reused while fresh
        time.sleep(0.5)
        assert client._call("GET", "/")["port"] != first  # a new connection, no error


def test_the_default_expiry_is_shorter_than_any_server_keep_alive() -> None:
    uvicorn_default = uvicorn.Config(peer).timeout_keep_alive
    assert KEEPALIVE_EXPIRY_S < uvicorn_default
    assert KEEPALIVE_EXPIRY_S < SERVER_KEEPALIVE_S

"""The HTTP client drops an idle connection before the server would close it, and says
so clearly when a success answer is not what the call returns."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from rocars.client import (
    KEEPALIVE_EXPIRY_S,
    MALFORMED_ANSWER,
    SERVER_KEEPALIVE_S,
    ApiError,
    RocarsClient,
)
from tests.fixtures.asgi import serving


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
    with serving(peer, keep_alive_s=1) as url:
        yield url


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


#: what the proxy-like server answers, by path: a 200 of the wrong kind each time
WRONG_ANSWERS: dict[str, tuple[bytes, bytes]] = {
    "/v1/cargo/1000000001": (b"text/html", b"<html><body>Proxy login required</body></html>"),
    "/v1/cargo/1000000002": (b"application/json", b""),
    "/v1/bundles/7000000001": (b"application/json", b'{"ubr": "7000000001"}'),
    "/v1/bundles": (b"application/json", b'["not", "an", "object"]'),
}


async def wrong(scope: dict[str, Any], receive: Any, send: Any) -> None:
    content_type, body = WRONG_ANSWERS[scope["path"]]
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]}
    )
    await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize(
    ("call", "said"),
    [
        (lambda c: c.get_cargo("1000000001"), "not JSON: '<html><body>Proxy login required"),
        (lambda c: c.get_cargo("1000000002"), "an empty answer"),
        (lambda c: c.get_bundle("7000000001"), "Field required"),
        (lambda c: c.bundles_for_ccrn("1000000001"), "the answer: Input should be"),
    ],
)
def test_a_success_answer_that_is_not_the_calls_is_a_clear_error(call: Any, said: str) -> None:
    """A proxy's login page or a broken server answering 200: one ApiError, not a
    JSONDecodeError, ValidationError or KeyError each caller would have to know."""
    with serving(wrong) as url, RocarsClient(url) as client:
        with pytest.raises(ApiError) as info:
            call(client)
    assert (info.value.key, info.value.status) == (MALFORMED_ANSWER, 200)
    assert said in str(info.value.detail)

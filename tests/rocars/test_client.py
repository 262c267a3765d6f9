"""The HTTP client drops an idle connection before the server would close it, and says
so clearly when a success answer is not what the call returns."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from rocars.client import (
    KEEPALIVE_EXPIRY_S,
    MALFORMED_ANSWER,
    NOT_SENT,
    SERVER_KEEPALIVE_S,
    UNREADABLE_ERROR,
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
    with serving(peer, keep_alive_s=3) as url:
        yield url


def test_an_idle_connection_is_dropped_before_the_server_closes_it(server: str) -> None:
    # The server closes an idle connection after 3 s; the client gives up on it at 1 s
    # (reused until then: two calls in a row are well within it, even on a loaded machine)
    with RocarsClient(server, keepalive_s=1.0) as client:
        first = client._call("GET", "/")["port"]
        assert client._call("GET", "/")["port"] == first  # reused while fresh
        time.sleep(1.2)  # the server would still take it
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


def mocked(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> RocarsClient:
    """A client whose every call ``handler`` answers (the edge of the world: the network)."""
    client = RocarsClient("http://central.test", **kwargs)
    timeout = client._http.timeout
    client._http.close()
    client._http = httpx.Client(
        base_url="http://central.test", transport=httpx.MockTransport(handler), timeout=timeout
    )
    return client


@pytest.mark.parametrize("status", [200, 500])
def test_json_nested_past_the_recursion_limit_is_an_api_error(status: int) -> None:
    """``json.loads`` raises RecursionError, not ValueError, for arrays nested too deep:
    it escaped as itself (the uploader's worker died, a local-API forward answered a
    bare 500)."""
    body = b"[" * 50_000 + b"]" * 50_000 if status == 200 else b"[" * 50_000
    client = mocked(lambda request: httpx.Response(status, content=body))
    with client, pytest.raises(ApiError) as info:
        client.upload_event_json(['{"id": "x"}'])
    assert info.value.status == status
    assert info.value.key == (MALFORMED_ANSWER if status == 200 else UNREADABLE_ERROR)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def trickling(clock: FakeClock, pieces: int, every_s: float = 9.0) -> Iterator[bytes]:
    """An answer of ``{}`` sent a byte at a time, ``every_s`` apart (within the read
    timeout each, so httpx's timeouts never end it)."""
    for _ in range(pieces):
        clock.now += every_s
        yield b" "
    yield b"{}"


def test_an_answer_trickled_past_the_calls_deadline_ends_the_call() -> None:
    """httpx's timeouts are per read: one byte every 9 s against a 10-s timeout held a
    call for as long as the proxy liked (2.5 hours here)."""
    clock = FakeClock()
    client = mocked(
        lambda request: httpx.Response(200, content=trickling(clock, 1000)),
        timeout=10,
        clock=clock,
    )
    with client, pytest.raises(ApiError) as info:
        client._call("POST", "/v1/events", content=b"{}")
    assert info.value.key == "central_unreachable"
    assert "deadline" in str(info.value)
    assert 1030 < clock.now <= 1030 + 9  # 3 x 10 s, then one piece more at most
    # a timeout after sending: "maybe applied" to the local API and the kiosk, a
    # transport failure to the link (sync/local_api.py), never "not sent"
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    assert not isinstance(info.value.__cause__, NOT_SENT)


def test_a_large_answer_that_comes_steadily_is_read_past_the_deadline() -> None:
    """2 MB at 64 KB/s takes 32 s, past 3 x 10 s: cut every time, a page of the feed
    stopped the replica for good. Each 8 KB come in earns a second more."""
    clock = FakeClock()

    def steady() -> Iterator[bytes]:
        yield b'{"x": "'
        for _ in range(32):
            clock.now += 1.0
            yield b"a" * 64 * 1024
        yield b'"}'

    with mocked(
        lambda request: httpx.Response(200, content=steady()), timeout=10, clock=clock
    ) as client:
        assert len(client._call("GET", "/v1/changes")["x"]) == 32 * 64 * 1024
    assert clock.now > 30


def test_a_call_deadline_follows_the_calls_own_timeout_or_the_one_given() -> None:
    clock = FakeClock()
    # the kiosk waits up to 130 s for an answer (kiosk/api.py): 3 x that, not the client's
    client = mocked(
        lambda request: httpx.Response(200, content=trickling(clock, 20)), timeout=15, clock=clock
    )
    with client:
        assert client._call("GET", "/", timeout=httpx.Timeout(15, read=130)) == {}
    clock = FakeClock()
    client = mocked(
        lambda request: httpx.Response(200, content=trickling(clock, 20)),
        timeout=15,
        clock=clock,
        deadline_s=5,
    )
    with client, pytest.raises(ApiError, match="deadline"):
        client._call("GET", "/")

    def slow_headers(request: httpx.Request) -> httpx.Response:
        clock.now += 31  # the headers came within each read's timeout, but late
        return httpx.Response(200, content=b"{}")

    clock = FakeClock()
    with mocked(slow_headers, timeout=10, clock=clock) as client:
        with pytest.raises(ApiError, match="deadline"):
            client._call("GET", "/")


def test_a_token_over_plain_http_to_another_machine_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control point's bearer token went with every call in clear to an ``http://``
    centre on another machine."""
    from rocars.config import ConfigError

    monkeypatch.delenv("ROCARS_CENTRAL_PLAIN_HTTP", raising=False)
    with pytest.raises(ConfigError, match="https://10.0.0.5") as err:
        RocarsClient("http://10.0.0.5:8700", token="tok-sbc-secret")
    assert err.value.key == "plain_credentials"
    assert "tok-sbc-secret" not in str(err.value)
    for fine in (
        RocarsClient("http://127.0.0.1:8700", token="t"),  # the simulated centre, `up`
        RocarsClient("http://localhost:8700", token="t"),
        RocarsClient("https://10.0.0.5", token="t"),
        RocarsClient("http://10.0.0.5:8710"),  # no token (a kiosk: kiosk/cli.py decides)
        RocarsClient("http://10.0.0.5:8700", token="t", allow_plain=True),  # a lab says so
    ):
        fine.close()
    monkeypatch.setenv("ROCARS_CENTRAL_PLAIN_HTTP", "1")
    RocarsClient("http://10.0.0.5:8700", token="t").close()

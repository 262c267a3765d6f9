"""The local API's limit on refused credentials per kiosk (client address), in front of the
real simulated centre: one kiosk cannot spread password guesses over many accounts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hardware_sim.launch import CentralProcess
from rocars.broker import free_port
from rocars.models import Bundle, BundleRequest, CancelRequest
from sync.api import ApiServer
from sync.local_api import (
    DEFAULT_FAILURE_WINDOW_S,
    DEFAULT_MAX_FAILURES,
    AttemptLimit,
    LocalApiError,
    build_router,
)
from sync.puller import CentralClient
from sync.replica import Replica
from tests.fixtures.logs import said_by
from tests.hardware_sim.centralkit import accounts, items

BUNDLED_UBR = "9110635860"  # the demo centre's first bundle (seed 7)
BUNDLED_CCRN = "1001041258"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingClient(CentralClient):
    """The real client to the centre, counting the calls with credentials it sends."""

    sent = 0

    def bundle(self, request: BundleRequest) -> Bundle:
        self.sent += 1
        return super().bundle(request)

    def cancel_bundle(self, ubr: str, request: CancelRequest) -> Bundle:
        self.sent += 1
        return super().cancel_bundle(ubr, request)

    def cancel_ccrn(self, ubr: str, ccrn: str, request: CancelRequest) -> Bundle:
        self.sent += 1
        return super().cancel_ccrn(ubr, ccrn, request)


@dataclass
class Limited:
    url: str
    central: CentralProcess
    client: CountingClient
    clock: Clock

    def kiosk(self, address: str = "127.0.0.1") -> httpx.Client:
        """A kiosk calling from ``address`` (any of 127/8 reaches the loopback server)."""
        transport = httpx.HTTPTransport(local_address=address)
        return httpx.Client(base_url=self.url, transport=transport, timeout=10)


@pytest.fixture
def limited(central: CentralProcess, tmp_path: Path) -> Iterator[Limited]:
    clock = Clock()
    client = CountingClient(central.url, token=central.token, timeout=5)
    replica = Replica(tmp_path / "replica.sqlite")
    app = FastAPI()
    app.include_router(
        build_router(client, replica, lambda: True, attempts=AttemptLimit(clock=clock))
    )
    server = ApiServer(app, "127.0.0.1", free_port())  # the agent's own server settings
    server.start()
    try:
        yield Limited(server.url, central, client, clock)
    finally:
        server.stop()
        client.close()
        replica.close()


def bundle_body(
    central: CentralProcess, driver: dict[str, Any], ccrn: str, *, password: str | None = None
) -> Any:
    code = central.security_code(driver) if password is None else "000000"
    return {
        "account": driver["account"],
        "password": driver["password"] if password is None else password,
        "auth": {"method": "security_code", "code": code},
        "vrn": "KX 321",
        "cp": "SBC",
        "direction": "import",
        "ccrns": [ccrn],
    }


def wrong_cancel(driver: dict[str, Any]) -> Any:
    return {
        "account": driver["account"],
        "password": "not-the-password",
        "auth": {"method": "security_code", "code": "000000"},
    }


def test_a_kiosk_over_the_limit_is_refused_without_asking_the_centre(limited: Limited) -> None:
    """Wrong passwords spread over five accounts (four each: no account of the centre
    locks): the next call from that kiosk, even with the right credentials, is answered
    429 here and never reaches the centre (its security code is still good after), and
    another kiosk is not affected."""
    drivers = [d for d in accounts(limited.central) if d["cert_case"] == "valid"]
    drivers += [d for d in accounts(limited.central) if d["cert_case"] != "valid"]
    spread = drivers[:5]
    with limited.kiosk() as kiosk, limited.kiosk("127.0.0.2") as other:
        ccrn = kiosk.post("/v1/cargo", json=items().model_dump(mode="json")).json()["ccrn"]
        # bundling and both cancels count, through the same counter
        for n in range(DEFAULT_MAX_FAILURES):
            driver = spread[n % len(spread)]
            if n % 3 == 0:
                answer = kiosk.post(
                    "/v1/bundles", json=bundle_body(limited.central, driver, ccrn, password="x")
                )
            elif n % 3 == 1:
                answer = kiosk.request(
                    "DELETE", f"/v1/bundles/{BUNDLED_UBR}", json=wrong_cancel(driver)
                )
            else:
                answer = kiosk.request(
                    "DELETE",
                    f"/v1/bundles/{BUNDLED_UBR}/ccrns/{BUNDLED_CCRN}",
                    json=wrong_cancel(driver),
                )
            assert (answer.status_code, answer.json()["error"]) == (403, "credentials_invalid")
        assert limited.client.sent == DEFAULT_MAX_FAILURES

        limited.clock.now += 60
        right = bundle_body(limited.central, drivers[0], ccrn)
        with said_by("sync.local_api", logging.WARNING) as said:
            refused = kiosk.post("/v1/bundles", json=right)
            cancelling = kiosk.request(
                "DELETE", f"/v1/bundles/{BUNDLED_UBR}", json=wrong_cancel(drivers[0])
            )
        assert refused.status_code == 429
        body = refused.json()
        assert body["error"] == "too_many_attempts"
        retry_after = DEFAULT_FAILURE_WINDOW_S - 60
        assert body["detail"]["retry_after"] == retry_after
        assert refused.headers["Retry-After"] == str(retry_after)
        assert (cancelling.status_code, cancelling.json()["error"]) == (429, "too_many_attempts")
        assert limited.client.sent == DEFAULT_MAX_FAILURES  # neither was forwarded
        warnings = [m for m in said.messages if "127.0.0.1" in m]
        assert len(warnings) == 1  # once when the address is first limited

        # the refused request's code was never claimed: the same request from another
        # kiosk is accepted by the centre
        made = other.post("/v1/bundles", json=right)
        assert made.status_code == 200, made.text
        assert made.json()["ccrns"] == [ccrn]
        assert limited.client.sent == DEFAULT_MAX_FAILURES + 1


def test_a_forwarded_for_header_does_not_change_the_kiosk(limited: Limited) -> None:
    """The agent's server takes the peer's address, never ``X-Forwarded-For`` (uvicorn's
    default trusts it from loopback): a kiosk on the agent's own host cannot give each
    guess another address. An account the centre has locked counts for nothing (a
    driver trying his locked account again must not lock the kiosk for all)."""
    drivers = accounts(limited.central)
    locked = drivers[0]
    with limited.kiosk() as kiosk:
        ccrn = kiosk.post("/v1/cargo", json=items().model_dump(mode="json")).json()["ccrn"]
        for _ in range(5):  # the centre locks this account
            kiosk.post("/v1/bundles", json=bundle_body(limited.central, locked, ccrn, password="x"))
        for _ in range(DEFAULT_MAX_FAILURES):
            answer = kiosk.post(
                "/v1/bundles", json=bundle_body(limited.central, locked, ccrn, password="x")
            )
            assert answer.json()["error"] == "account_locked"
        for n in range(DEFAULT_MAX_FAILURES - 5):
            driver = drivers[1 + n % (len(drivers) - 1)]
            answer = kiosk.post(
                "/v1/bundles",
                json=bundle_body(limited.central, driver, ccrn, password="x"),
                headers={"X-Forwarded-For": f"10.1.2.{n}"},
            )
            assert answer.json()["error"] == "credentials_invalid", answer.text
        refused = kiosk.post(
            "/v1/bundles",
            json=bundle_body(limited.central, drivers[1], ccrn),
            headers={"X-Forwarded-For": "10.1.2.250"},
        )
        assert (refused.status_code, refused.json()["error"]) == (429, "too_many_attempts")


def test_the_limit_ages_out_and_successes_do_not_clear_it(limited: Limited) -> None:
    """The window slides: each refusal ages out 15 minutes after it was counted. A
    success in between does not clear the count (a sprayer may own one account)."""
    drivers = accounts(limited.central)
    with limited.kiosk() as kiosk:
        ccrn = kiosk.post("/v1/cargo", json=items().model_dump(mode="json")).json()["ccrn"]
        # bad bodies: no credentials refused, never counted
        for _ in range(2 * DEFAULT_MAX_FAILURES):
            assert kiosk.post("/v1/bundles", json={"account": "1"}).status_code == 422
        for n in range(DEFAULT_MAX_FAILURES - 1):
            driver = drivers[n % len(drivers)]
            answer = kiosk.post(
                "/v1/bundles", json=bundle_body(limited.central, driver, ccrn, password="x")
            )
            assert answer.json()["error"] == "credentials_invalid"
            limited.clock.now += 10
        made = kiosk.post("/v1/bundles", json=bundle_body(limited.central, drivers[0], ccrn))
        assert made.status_code == 200, made.text
        last = kiosk.post(
            "/v1/bundles", json=bundle_body(limited.central, drivers[2], ccrn, password="x")
        )
        assert last.json()["error"] == "credentials_invalid"
        refused = kiosk.post(
            "/v1/bundles", json=bundle_body(limited.central, drivers[3], ccrn, password="x")
        )
        assert refused.status_code == 429
        elapsed = (DEFAULT_MAX_FAILURES - 1) * 10  # since the first refusal
        assert refused.json()["detail"]["retry_after"] == DEFAULT_FAILURE_WINDOW_S - elapsed

        limited.clock.now = 1000.0 + DEFAULT_FAILURE_WINDOW_S  # the first refusal aged out
        again = kiosk.post(
            "/v1/bundles", json=bundle_body(limited.central, drivers[4], ccrn, password="x")
        )
        assert again.json()["error"] == "credentials_invalid"
        full = kiosk.post(
            "/v1/bundles", json=bundle_body(limited.central, drivers[5], ccrn, password="x")
        )
        assert full.json()["detail"]["retry_after"] == 10  # the second ages out next

        limited.clock.now += DEFAULT_FAILURE_WINDOW_S  # all of them
        free = kiosk.request(
            "DELETE", f"/v1/bundles/{made.json()['ubr']}", json=cancel(limited.central, drivers[0])
        )
        assert free.status_code == 200, free.text
        assert free.json()["status"] == "cancelled"


def cancel(central: CentralProcess, driver: dict[str, Any]) -> Any:
    code = central.security_code(driver)
    auth = {"method": "security_code", "code": code}
    return {"account": driver["account"], "password": driver["password"], "auth": auth}


def test_calls_in_flight_count_and_the_table_is_bounded() -> None:
    """Calls sent at once hold places until answered: no more are checked by the centre
    than the limit, whatever their answers. Only ``max_clients`` addresses are kept (the
    least recently seen go first), and an address with nothing counted is not kept."""
    clock = Clock()
    limit = AttemptLimit(3, 60, max_clients=4, clock=clock)
    held = [limit.reserve("10.0.0.5") for _ in range(3)]
    with pytest.raises(LocalApiError, match="too many") as info:
        limit.reserve("10.0.0.5")
    assert (info.value.key, info.value.status) == ("too_many_attempts", 429)
    assert info.value.detail["retry_after"] == 1  # in flight only: soon free again
    for client in held:
        limit.release("10.0.0.5", client, failed=False)
    assert len(limit) == 0  # answered, nothing counted: forgotten
    limit.release("10.0.0.5", limit.reserve("10.0.0.5"), failed=True)
    clock.now += 1
    for n in range(1, 6):
        address = f"10.0.0.{10 + n}"
        limit.release(address, limit.reserve(address), failed=True)
    assert len(limit) == 4  # 10.0.0.5 was the least recently seen: dropped
    for _ in range(3):
        limit.release("10.0.0.5", limit.reserve("10.0.0.5"), failed=True)
    with pytest.raises(LocalApiError, match="too many"):
        limit.reserve("10.0.0.5")
    assert len(limit) == 4
    with pytest.raises(ValueError, match="positive"):
        AttemptLimit(0)

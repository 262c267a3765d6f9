"""The local API in front of the real simulated centre and a replica pulled from it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rocars.client import ApiError, RocarsClient
from rocars.ids import ControlPoint, Direction
from rocars.models import BundleRequest, CancelRequest, CargoItems, SecurityCodeAuth
from rocars.timeutil import HK_TZ, utc_now
from sync.local_api import STALE_HEADER, build_router
from tests.fixtures.local_api import LocalApi

BUNDLED_UBR = "9110635860"  # the demo centre's first bundle (seed 7)
BUNDLED_CCRN = "1001041258"


@pytest.fixture
def http(local_api: LocalApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_api.url, timeout=10) as client:
        yield client


@pytest.fixture
def kiosk(local_api: LocalApi) -> Iterator[RocarsClient]:
    with RocarsClient(local_api.url, timeout=10) as client:
        yield client


def demo_account(local_api: LocalApi, case: str = "valid") -> dict[str, Any]:
    body = local_api.client._call("GET", "/sim/accounts")
    return next(a for a in body["accounts"] if a["cert_case"] == case and not a["immediate"])


def items(**changes: Any) -> CargoItems:
    data: dict[str, Any] = {
        "packages": 12,
        "package_description": "CARTONS",
        "article_description": "LED LAMPS",
        "consignor_name": "SHENZHEN LIGHTS CO",
        "consignor_address": "1 HIGH-TECH ROAD, SHENZHEN",
        "consignee_name": "KWUN TONG TRADING LTD",
        "consignee_address": "8 HOI BUN ROAD, KWUN TONG",
        "expected_date": utc_now().astimezone(HK_TZ).date() + timedelta(days=1),
        "direction": "import",
    }
    data.update(changes)
    return CargoItems.model_validate(data)


def test_queries_are_forwarded_while_the_centre_is_up(
    local_api: LocalApi, http: httpx.Client, kiosk: RocarsClient
) -> None:
    direct = local_api.client.get_bundle(BUNDLED_UBR)
    response = http.get(f"/v1/bundles/{BUNDLED_UBR}")
    assert response.status_code == 200
    assert STALE_HEADER not in response.headers
    assert "stale_since" not in response.json()
    assert kiosk.get_bundle(BUNDLED_UBR) == direct
    assert [b.ubr for b in kiosk.bundles_for_ccrn(BUNDLED_CCRN)] == [BUNDLED_UBR]
    assert kiosk.get_cargo(BUNDLED_CCRN).ubr == BUNDLED_UBR


def test_errors_pass_through_with_key_and_status(local_api: LocalApi, kiosk: RocarsClient) -> None:
    with pytest.raises(ApiError) as missing:
        kiosk.get_bundle("9999999999")
    assert (missing.value.key, missing.value.status) == ("ubr_not_found", 404)
    with pytest.raises(ApiError) as bundled:
        kiosk.amend_cargo(BUNDLED_CCRN, items())
    assert bundled.value.key == "cargo_bundled"
    account = demo_account(local_api)
    request = BundleRequest(
        account=account["account"],
        password=account["password"],
        auth=SecurityCodeAuth(code="000000"),
        vrn="KX123",
        cp=ControlPoint.SBC,
        direction=Direction.IMPORT,
        ccrns=[kiosk.submit_cargo(items()).ccrn],
    )
    with pytest.raises(ApiError) as wrong:
        kiosk.bundle(request)
    assert (wrong.value.key, wrong.value.status) == ("security_code_invalid", 403)


def test_submit_amend_bundle_cancel_through_the_local_api(
    local_api: LocalApi, kiosk: RocarsClient
) -> None:
    cargo = kiosk.submit_cargo(items())
    amended = kiosk.amend_cargo(cargo.ccrn, items(packages=30))
    assert amended.items.packages == 30
    account = demo_account(local_api)
    # a security code is accepted once: the bundle and the cancellation need one each
    bundle = kiosk.bundle(
        BundleRequest(
            account=account["account"],
            password=account["password"],
            auth=SecurityCodeAuth(code=local_api.central.security_code(account)),
            vrn="KX 124",
            cp=ControlPoint.SBC,
            direction=Direction.IMPORT,
            ccrns=[cargo.ccrn],
        )
    )
    assert bundle.vrn == "KX124"
    assert bundle.earliest_at - bundle.bundled_at == timedelta(minutes=30)
    assert kiosk.get_cargo(cargo.ccrn).status == "bundled"
    cancel = CancelRequest(
        account=account["account"],
        password=account["password"],
        auth=SecurityCodeAuth(code=local_api.central.security_code(account)),
    )
    assert kiosk.cancel_bundle(bundle.ubr, cancel).status == "cancelled"


def test_centre_down_queries_from_the_replica_and_writes_refused_then_back(
    local_api: LocalApi, http: httpx.Client, kiosk: RocarsClient
) -> None:
    synced = local_api.replica.last_sync_at()
    assert synced is not None
    local_api.central_down()

    response = http.get(f"/v1/bundles/{BUNDLED_UBR}")
    assert response.status_code == 200
    since = response.headers[STALE_HEADER]
    assert since == response.json()["stale_since"]
    assert since.startswith(synced.strftime("%Y-%m-%dT%H:%M:%S"))
    assert kiosk.get_bundle(BUNDLED_UBR).ubr == BUNDLED_UBR

    by_ccrn = http.get("/v1/bundles", params={"ccrn": BUNDLED_CCRN})
    assert [b["ubr"] for b in by_ccrn.json()["bundles"]] == [BUNDLED_UBR]
    assert by_ccrn.headers[STALE_HEADER] == since
    cargo = http.get(f"/v1/cargo/{BUNDLED_CCRN}")
    assert cargo.json()["ubr"] == BUNDLED_UBR
    assert cargo.json()["stale_since"] == since

    for path, params in (
        ("/v1/bundles/9999999999", None),
        ("/v1/cargo/9999999999", None),
        ("/v1/bundles", {"ccrn": "9999999999"}),
    ):
        unknown = http.get(path, params=params)
        assert unknown.status_code == 404, path
        assert unknown.json()["error"] in ("ubr_not_found", "ccrn_not_found")
        assert unknown.headers[STALE_HEADER] == since
        # in the body too, and in its detail: the kiosk's client reads no headers
        assert unknown.json()["stale_since"] == since
        assert unknown.json()["detail"]["stale_since"] == since

    for method, path, body in (
        ("POST", "/v1/cargo", items().model_dump(mode="json")),
        ("PUT", "/v1/cargo/1001041283", items().model_dump(mode="json")),
        (
            "POST",
            "/v1/bundles",
            {
                "account": "110928",
                "password": "x",
                "auth": {"method": "security_code", "code": "123456"},
                "vrn": "KX1",
                "cp": "SBC",
                "direction": "import",
                "ccrns": ["1001041283"],
            },
        ),
        (
            "DELETE",
            f"/v1/bundles/{BUNDLED_UBR}",
            {
                "account": "110928",
                "password": "x",
                "auth": {"method": "security_code", "code": "123456"},
            },
        ),
    ):
        refused = http.request(method, path, json=body)
        assert refused.status_code == 503, (path, refused.text)
        assert refused.json()["error"] == "central_unavailable"
        assert "cannot be reached" in refused.json()["detail"]["message"]
        assert refused.json()["detail"]["maybe_applied"] is False

    local_api.central_back()
    fresh = http.get(f"/v1/bundles/{BUNDLED_UBR}")
    assert fresh.status_code == 200
    assert STALE_HEADER not in fresh.headers
    assert kiosk.submit_cargo(items()).status == "submitted"


def test_centre_gone_while_the_agent_still_thinks_it_up(
    local_api: LocalApi, http: httpx.Client
) -> None:
    local_api.central.kill()
    assert local_api.up  # the agent has not noticed yet
    answer = http.get(f"/v1/bundles/{BUNDLED_UBR}")
    assert answer.status_code == 200
    assert STALE_HEADER in answer.headers
    refused = http.post("/v1/cargo", json=items().model_dump(mode="json"))
    assert refused.status_code == 503
    assert refused.json()["error"] == "central_unavailable"
    assert refused.json()["detail"]["maybe_applied"] is False  # the connection was refused
    local_api.central.start()
    assert http.post("/v1/cargo", json=items().model_dump(mode="json")).status_code == 200


def test_bad_input_is_refused_clearly_and_changes_nothing(
    local_api: LocalApi, http: httpx.Client
) -> None:
    before = local_api.client.changes(local_api.replica.cursor(), 1000).next
    huge = b'{"packages": 1, "x": "' + b"a" * (70 * 1024) + b'"}'
    too_big = http.post("/v1/cargo", content=huge, headers={"content-type": "application/json"})
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"a" * 1024

    streamed = http.post("/v1/cargo", content=chunks())
    assert streamed.status_code == 413

    for body in (b"{not json", b"[" * 20_000, b'{"packages": ' + b"1" * 5000 + b"}"):
        # not JSON; nested past the recursion limit; an integer of 4300+ digits (a 500)
        not_json = http.post("/v1/cargo", content=body)
        assert not_json.status_code == 422, body[:20]
        assert not_json.json()["error"] == "validation_error"
        assert not_json.json()["detail"][0]["field"] == "body"

    bad = items().model_dump(mode="json")
    bad.update(packages=0, consignor_name="", vrn="IOQ-NOT-A-PLATE")
    fields = http.post("/v1/cargo", json=bad)
    assert fields.status_code == 422
    named = {d["field"] for d in fields.json()["detail"]}
    assert {"packages", "consignor_name", "vrn"} <= named
    assert all(d["message"] for d in fields.json()["detail"])

    bad_ubr = http.get("/v1/bundles/12345")
    assert bad_ubr.status_code == 422
    assert bad_ubr.json()["detail"] == [
        {"field": "ubr", "message": "ubr must be 10 digits, got '12345'"}
    ]
    assert http.get("/v1/bundles").json()["error"] == "validation_error"
    assert http.get("/v1/bundles", params={"ccrn": "1", "x": "2"}).status_code == 422
    # nothing reached the centre
    assert local_api.client.changes(local_api.replica.cursor(), 1000).next == before


@pytest.mark.parametrize(
    ("cause", "maybe_applied"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("no answer to the connect"), False),
        (httpx.PoolTimeout("no free connection"), False),
        (httpx.ReadTimeout("sent, no answer"), True),
        (httpx.RemoteProtocolError("sent, then hung up"), True),
    ],
)
def test_a_write_is_maybe_applied_only_once_it_may_have_left(
    cause: httpx.HTTPError, maybe_applied: bool
) -> None:
    """Whether the centre may have acted is told from where the transport failed: a
    connection never made (refused, or not in time) sent nothing."""

    class Unreachable:
        def submit_cargo(self, _: object) -> object:
            raise ApiError("POST /v1/cargo failed", key="central_unreachable") from cause

    app = FastAPI()
    app.include_router(
        build_router(Unreachable(), None, lambda: True)  # type: ignore[arg-type]
    )

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            return await client.post("/v1/cargo", json=items().model_dump(mode="json"))

    answer = asyncio.run(post())
    assert answer.status_code == 503
    assert answer.json()["detail"]["maybe_applied"] is maybe_applied

"""The local API in front of the real simulated centre and a replica pulled from it, and in
the agent (`kiosk_router`): the link it marks down when the centre does not answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hardware_sim.launch import CentralProcess
from rocars.broker import EmbeddedBroker
from rocars.client import ApiError, RocarsClient
from rocars.ids import ControlPoint, Direction
from rocars.messages import InstructionCode
from rocars.models import BundleRequest, CancelRequest, CargoItems, SecurityCodeAuth
from rocars.timeutil import HK_TZ, utc_now
from sync.agent import SyncAgent
from sync.local_api import STALE_HEADER, build_router
from sync.puller import CentralLink, LinkState
from tests.fixtures.asgi import proxy_page, serving
from tests.fixtures.local_api import LocalApi, hung, serve_local_api, stop_local_api
from tests.sync.agentkit import Watcher, agent_config, demo_trucks, started_agent, wait_for

C = InstructionCode

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
    # all but the selection, which kiosks are never told
    assert kiosk.get_bundle(BUNDLED_UBR) == direct.model_copy(update={"result": None, "bay": None})
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


def bundle_request(
    local_api: LocalApi, account: dict[str, Any], vrn: str, ccrn: str
) -> BundleRequest:
    """``ccrn`` bundled to ``vrn`` at SBC, import, with a fresh security code."""
    return BundleRequest(
        account=account["account"],
        password=account["password"],
        auth=SecurityCodeAuth(code=local_api.central.security_code(account)),
        vrn=vrn,
        cp=ControlPoint.SBC,
        direction=Direction.IMPORT,
        ccrns=[ccrn],
    )


def test_submit_amend_bundle_cancel_through_the_local_api(
    local_api: LocalApi, kiosk: RocarsClient
) -> None:
    cargo = kiosk.submit_cargo(items())
    amended = kiosk.amend_cargo(cargo.ccrn, items(packages=30))
    assert amended.items.packages == 30
    account = demo_account(local_api)
    # a security code is accepted once: the bundle and the cancellation need one each
    bundle = kiosk.bundle(bundle_request(local_api, account, "KX 124", cargo.ccrn))
    assert bundle.vrn == "KX124"
    assert bundle.earliest_at - bundle.bundled_at == timedelta(minutes=30)
    assert kiosk.get_cargo(cargo.ccrn).status == "bundled"
    cancel = CancelRequest(
        account=account["account"],
        password=account["password"],
        auth=SecurityCodeAuth(code=local_api.central.security_code(account)),
    )
    assert kiosk.cancel_bundle(bundle.ubr, cancel).status == "cancelled"


def test_kiosks_are_never_told_customs_selection(
    local_api: LocalApi, http: httpx.Client, kiosk: RocarsClient
) -> None:
    """A bundle's ``result`` and ``bay`` (customs' pre-selection) are in no answer to a
    kiosk, from the centre or the replica: the local API asks no credentials for a query,
    and a driver who read INSPECT could cancel and bundle the same CCRNs again."""
    cargo = kiosk.submit_cargo(items())
    request = bundle_request(local_api, demo_account(local_api), "KX 125", cargo.ccrn)
    made = http.post("/v1/bundles", json=request.model_dump(mode="json"))
    assert made.status_code == 200, made.text
    answers = [made.json()]
    for _ in range(2):  # the centre's answers, then the replica's
        answers.append(http.get(f"/v1/bundles/{BUNDLED_UBR}").json())
        answers += http.get("/v1/bundles", params={"ccrn": BUNDLED_CCRN}).json()["bundles"]
        local_api.central_down()
    assert len(answers) == 5
    for answer in answers:
        assert answer["ubr"]
        assert not {"result", "bay"} & set(answer), answer
    assert "stale_since" in answers[-2]  # the last two came from the replica


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


def test_a_cargo_submission_sent_again_with_its_key_reaches_the_centre_once(
    local_api: LocalApi, http: httpx.Client, kiosk: RocarsClient
) -> None:
    """The kiosk's Idempotency-Key is passed on: the same submission sent twice (its
    first answer lost) is one CCRN at the centre; a bad key is refused here, unsent."""
    key = "kiosk-7:01JEXAMPLE0000000000000000"
    first = kiosk.submit_cargo(items(packages=5), key)
    assert kiosk.submit_cargo(items(packages=5), key) == first
    assert local_api.client.get_cargo(first.ccrn) == first
    with pytest.raises(ApiError) as reused:
        kiosk.submit_cargo(items(packages=6), key)
    assert (reused.value.status, reused.value.key) == (409, "idempotency_key_reused")
    bad = http.post(
        "/v1/cargo", json=items().model_dump(mode="json"), headers={"Idempotency-Key": "a/b"}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "Idempotency-Key"


def test_centre_gone_while_the_agent_still_thinks_it_up(
    local_api: LocalApi, http: httpx.Client
) -> None:
    local_api.central.kill()
    assert local_api.up  # the agent has not noticed yet
    refused = http.post("/v1/cargo", json=items().model_dump(mode="json"))
    assert refused.status_code == 503
    assert refused.json()["error"] == "central_unavailable"
    assert refused.json()["detail"]["maybe_applied"] is False  # the connection was refused
    # the call told the agent: its link is down now, as if the puller had failed
    assert not local_api.up
    assert len(local_api.lost) == 1
    assert local_api.lost[0].startswith("central_unreachable (kiosk call POST /v1/cargo")
    answer = http.get(f"/v1/bundles/{BUNDLED_UBR}")
    assert answer.status_code == 200
    assert STALE_HEADER in answer.headers
    assert len(local_api.lost) == 1  # not forwarded: the link is down
    local_api.central_back()
    assert http.post("/v1/cargo", json=items().model_dump(mode="json")).status_code == 200


def test_a_hung_centre_is_waited_for_once_then_the_replica_answers_until_it_is_back(
    central: CentralProcess, tmp_path: Path
) -> None:
    """A centre that takes the connection and never answers cost every kiosk call the
    whole timeout until the puller noticed (10 s by default, each). The first call waits
    for it; it marks the link down, and the calls after it are answered at once."""
    timeout = 3.0
    api = serve_local_api(central, tmp_path / "sync", timeout_s=timeout)
    try:
        with httpx.Client(base_url=api.url, timeout=30) as http:
            assert STALE_HEADER not in http.get(f"/v1/bundles/{BUNDLED_UBR}").headers
            with hung(central):
                started = time.monotonic()
                first = http.get(f"/v1/bundles/{BUNDLED_UBR}")
                waited = time.monotonic() - started
                assert first.status_code == 200
                assert STALE_HEADER in first.headers
                assert waited >= 0.9 * timeout  # it was forwarded, and waited
                assert not api.up
                assert api.lost == [
                    f"central_unreachable (kiosk call GET /v1/bundles/{BUNDLED_UBR}: timed out)"
                ]

                started = time.monotonic()
                second = http.get(f"/v1/bundles/{BUNDLED_UBR}")
                assert time.monotonic() - started < timeout / 3  # milliseconds, in fact
                assert second.status_code == 200
                assert second.headers[STALE_HEADER] == first.headers[STALE_HEADER]
                started = time.monotonic()
                refused = http.post("/v1/cargo", json=items().model_dump(mode="json"))
                assert time.monotonic() - started < timeout / 3
                assert refused.status_code == 503
                assert refused.json()["error"] == "central_unavailable"
                assert refused.json()["detail"]["maybe_applied"] is False  # never sent
                assert len(api.lost) == 1

            # the centre answers again, but nobody has seen it yet: still the replica
            assert STALE_HEADER in http.get(f"/v1/bundles/{BUNDLED_UBR}").headers
            api.central_back()  # the puller's next poll succeeds: the link is up
            again = http.get(f"/v1/bundles/{BUNDLED_UBR}")
            assert again.status_code == 200
            assert STALE_HEADER not in again.headers
            assert http.post("/v1/cargo", json=items().model_dump(mode="json")).status_code == 200
            assert len(api.lost) == 1
    finally:
        stop_local_api(api)


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
        def submit_cargo(self, *_: object) -> object:
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


def _failed(key: str, status: int = 0, cause: Exception | None = None) -> ApiError:
    err = ApiError(f"the call failed ({key})", key=key, status=status)
    err.__cause__ = cause
    return err


class _EmptyReplica:
    def bundle(self, ubr: str) -> None:
        return None

    def last_sync_at(self) -> None:
        return None


def _case(failure: ApiError, lost: bool, name: str) -> Any:
    return pytest.param(failure, lost, id=name)


@pytest.mark.parametrize(
    ("failure", "lost"),
    [
        _case(_failed("central_unreachable", cause=httpx.ConnectError("x")), True, "refused"),
        _case(_failed("central_unreachable", cause=httpx.ConnectTimeout("x")), True, "no-syn-ack"),
        _case(_failed("central_unreachable", cause=httpx.ReadTimeout("x")), True, "no-answer"),
        _case(
            _failed("central_unreachable", cause=httpx.RemoteProtocolError("x")), True, "hung-up"
        ),
        # the centre (or a proxy in front of it) answered, whatever it said
        _case(_failed("central_unreachable", cause=httpx.DecodingError("x")), False, "bad-gzip"),
        _case(_failed("internal_error", 500), False, "500"),
        _case(_failed("api_error", 502), False, "502"),
        _case(_failed("service_unavailable", 503), False, "503"),
        _case(_failed("ubr_not_found", 404), False, "404"),
    ],
)
def test_only_a_centre_that_does_not_answer_is_lost(failure: ApiError, lost: bool) -> None:
    """``central_lost`` (the agent's link goes down) is for no answer at all; an error
    the centre answers with is its answer, passed through, and the link stays up."""

    class Failing:
        def submit_cargo(self, *_: object) -> object:
            raise failure

        def get_bundle(self, _: str) -> object:
            raise failure

    told: list[str] = []
    app = FastAPI()
    app.include_router(
        build_router(
            Failing(),  # type: ignore[arg-type]
            _EmptyReplica(),  # type: ignore[arg-type]
            lambda: True,
            central_lost=told.append,
        )
    )

    async def calls() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            return [
                await client.post("/v1/cargo", json=items().model_dump(mode="json")),
                await client.get(f"/v1/bundles/{BUNDLED_UBR}"),
            ]

    write, query = asyncio.run(calls())
    assert len(told) == (2 if lost else 0)
    assert all(reason.startswith("central_unreachable (kiosk call ") for reason in told)
    if failure.key == "central_unreachable":  # the replica's answer, or 503: as before
        assert write.status_code == 503
        assert STALE_HEADER in query.headers
    else:
        assert (write.status_code, query.status_code) == (failure.status, failure.status)
        assert write.json()["error"] == failure.key


def test_a_following_link_keeps_a_kiosk_finding_until_newer_news_or_its_hold() -> None:
    """``CentralLink.mark_lost`` on a shard that follows the pulling shard's record (here
    rather than in test_puller.py: the kiosks' finding is what it is for)."""
    now = [datetime(2026, 11, 21, 8, 0, tzinfo=UTC)]
    link = CentralLink(lambda: now[0])
    recorded = LinkState(True, now[0], "")
    link.follow(recorded)
    now[0] += timedelta(seconds=5)
    link.mark_lost("central_unreachable (kiosk call GET /v1/bundles/1: timed out)", 60)
    assert not link.up
    assert link.state().since == now[0]
    link.follow(recorded)  # made before the finding: older news
    assert not link.up
    assert link.state().error.startswith("central_unreachable (kiosk call")
    link.follow(recorded, now[0] - timedelta(seconds=1))  # its last answer before, too
    assert not link.up
    # the record is as old, but the pulling shard's puller had an answer since
    link.follow(recorded, now[0] + timedelta(seconds=1))
    assert link.state() == recorded
    link.mark_lost("central_unreachable (kiosk call GET /v1/bundles/1: timed out)", 60)
    # the pulling shard's puller saw the centre after the finding: taken at once
    newer = LinkState(True, now[0] + timedelta(seconds=1), "")
    link.follow(newer)
    assert link.state() == newer
    # the pulling shard found it down too: its record is taken, and then its "up" again
    link.mark_lost("central_unreachable (kiosk call GET /v1/bundles/1: timed out)", 60)
    down = LinkState(False, now[0] + timedelta(seconds=2), "central_unreachable")
    link.follow(down)
    assert link.state() == down
    link.follow(newer)
    assert link.up
    # no newer news within the hold: the record is followed again after it
    now[0] += timedelta(seconds=5)
    link.mark_lost("central_unreachable (kiosk call GET /v1/bundles/1: timed out)", 0.0)
    link.follow(newer)
    assert link.state() == newer
    # a finding on the pulling shard itself ends with its puller's next success
    link.mark_lost("central_unreachable (kiosk call GET /v1/bundles/1: timed out)", 60)
    link.mark_up()
    assert link.up


# -- in the agent (``sync.agent.kiosk_router``) ----------------------------------------------

#: The agents' polls are this far apart: the puller polls as the agent starts
#: (``started_agent`` returns once it has) and not again within a test, whose steps
#: take seconds even on a loaded machine; a test polls when it means to (``poll``).
#: Under the replica's default maximum age (300 s), as the config requires.
POLL_S = 120.0


def poll(agent: SyncAgent) -> None:
    """The poll the agent's puller makes every ``POLL_S`` (``catch_up``), made now; again
    while the centre does not answer in time (the puller's worker would retry too),
    as a centre that has just come back may not."""
    deadline = time.monotonic() + 20
    while True:
        try:
            agent.puller.catch_up()
            return
        except ApiError:
            assert time.monotonic() < deadline, "the centre never answered the feed"
            time.sleep(0.1)


def centre_calls(client: RocarsClient) -> list[str]:
    """The calls ``client`` makes from now on (method and path), as they start."""
    calls: list[str] = []
    request = client._request

    def counted(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"{method} {path}")
        return request(method, path, *args, **kwargs)

    client._request = counted  # type: ignore[method-assign]
    return calls


def test_the_agents_link_goes_down_when_a_kiosk_call_finds_the_centre_unreachable(
    embedded_broker: EmbeddedBroker, central: CentralProcess, tmp_path: Path
) -> None:
    """As if the puller had failed: ``central: down`` in the status and recorded for the
    other shards, the lanes decide from the replica (flagged offline, never closed for
    it), the kiosks' next calls are answered at once; the puller's next poll ends it."""
    truck = demo_trucks(central)["laden_proceed"][0]
    watcher = Watcher(embedded_broker.url)
    config = agent_config(
        tmp_path,
        embedded_broker.url,
        central.url,
        central={"url": central.url, "timeout_s": 1},
        pull_interval_s=POLL_S,
    )
    agent = started_agent(config)
    try:
        api = agent.api_url
        assert api is not None
        assert agent.replica.bundle(truck["ubr"]) is not None
        bundle = f"{api}/v1/bundles/{truck['ubr']}"
        assert STALE_HEADER not in httpx.get(bundle, timeout=30).headers
        with hung(central):
            first = httpx.get(bundle, timeout=30)
            assert STALE_HEADER in first.headers
            state = agent.link.state()
            assert not state.up
            assert state.error.startswith("central_unreachable (kiosk call GET /v1/bundles/")
            calls = centre_calls(agent.api_client)
            second = httpx.get(bundle, timeout=30)
            assert calls == []  # answered at once: it did not wait for the centre again
            assert STALE_HEADER in second.headers
            # the same meaning as the puller's finding, for this agent and the shards that
            # follow it through the replica
            health = httpx.get(f"{api}/health", timeout=10).json()
            assert health["central"]["state"] == "down"
            assert not [p for p in health["problems"] if "fail closed" in p]
            assert wait_for(lambda: agent.replica.central() == (False, state.since, state.error))
            watcher.plate("L02", truck["vrn"])
            watcher.expect("L02", C.PROCEED)  # the replica is fresh: the lane is open
            assert agent.puller.last_error == ""  # the puller has not polled since
        poll(agent)  # its next poll
        assert agent.link.up
        again = httpx.get(bundle, timeout=30)
        assert again.status_code == 200
        assert STALE_HEADER not in again.headers
        watcher.expect("L02", C.READY, timeout=5)
        assert agent.outbox.flush(5)
        assert [r["offline"] for r in agent.outbox.recent(5) if r["lane"] == "L02"] == [True]
    finally:
        watcher.close()
        agent.stop()


def test_a_shard_that_does_not_pull_keeps_what_its_kiosk_call_found(
    embedded_broker: EmbeddedBroker, central: CentralProcess, tmp_path: Path
) -> None:
    """The kiosks' shard may be one that does not pull: it follows the pulling shard's
    record of the centre every second, and that still says "up" until the pulling shard's
    puller fails too. Followed at once, the finding lasted a second and the kiosk calls
    waited for the centre again; it holds against the older "up" until the pulling shard
    has polled again (and says down, if the centre is), then follows it again."""
    lane = {"hold_s": 0.5, "manifest_required": False}
    common: dict[str, Any] = {
        "central": {"url": central.url, "timeout_s": 1},
        "pull_interval_s": POLL_S,
    }
    a = started_agent(
        agent_config(
            tmp_path,
            embedded_broker.url,
            central.url,
            shard="a",
            lanes=[{"id": "L01", **lane}],
            api={"port": 0, "kiosk": False},
            **common,
        )
    )
    b = SyncAgent(
        agent_config(
            tmp_path,
            embedded_broker.url,
            central.url,
            shard="b",
            lanes=[{"id": "L02", **lane}],
            pull=False,
            **common,
        )
    )
    try:
        b.start()
        assert wait_for(lambda: b.link.up and b.replica.last_sync_at() is not None)
        assert b.api_url is not None
        bundle = f"{b.api_url}/v1/bundles/{BUNDLED_UBR}"
        with hung(central):
            assert STALE_HEADER in httpx.get(bundle, timeout=30).headers
            assert not b.link.up
            assert "kiosk call" in b.link.state().error
            # two of b's readings of the record (still "up": a has not polled) later
            assert not wait_for(lambda: b.link.up, 2.5)
            assert a.link.up
            calls = centre_calls(b.api_client)
            assert STALE_HEADER in httpx.get(bundle, timeout=30).headers
            assert calls == []  # answered at once
        # a polls again and finds the centre: b follows it (its next reading, within 1 s)
        poll(a)
        assert wait_for(lambda: b.link.up, 10)
        assert STALE_HEADER not in httpx.get(bundle, timeout=30).headers
    finally:
        b.stop()
        a.stop()


async def _too_large(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A 200 that says it is 100 MB (over the client's bound: not read)."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"100000000")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


@pytest.mark.parametrize("app", [proxy_page, _too_large], ids=["proxy_page", "too_large"])
def test_a_centre_answer_that_is_no_answer_is_not_passed_on(local_api: LocalApi, app: Any) -> None:
    """A proxy's login page (a 200 in HTML) between the agent and the centre, or an answer
    too large to read: a query is answered from the replica, a write may have reached
    the centre (maybe applied), and the link is not marked lost, since something
    answered. Before, both were a bare 500 (the client's JSONDecodeError out of the
    route); a too large one was a 502 passed on, as if the centre had refused."""
    with serving(app) as url, httpx.Client(base_url=local_api.url, timeout=30) as http:
        local_api.client._http.base_url = httpx.URL(url)
        answer = http.get(f"/v1/bundles/{BUNDLED_UBR}")
        assert answer.status_code == 200
        assert STALE_HEADER in answer.headers
        assert answer.json()["ubr"] == BUNDLED_UBR
        refused = http.post("/v1/cargo", json=items().model_dump(mode="json"))
        assert refused.status_code == 503
        assert refused.json()["error"] == "central_unavailable"
        assert refused.json()["detail"]["maybe_applied"] is True
    assert local_api.up
    assert local_api.lost == []

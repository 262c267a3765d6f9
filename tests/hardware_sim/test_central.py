"""The simulated centre over real HTTP: every endpoint and every error key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hardware_sim.central import CentralConfig, create_app
from hardware_sim.launch import CentralProcess
from hardware_sim.store import MAX_EVENTS_PAGE_BYTES, Store, encode_event
from rocars.client import ApiError, RocarsClient
from rocars.ids import normalize_plate, normalize_vrn
from rocars.messages import Alternate, PlateRead
from rocars.models import (
    EARLIEST_CROSSING_DELAY,
    Bundle,
    BundleStatus,
    CargoStatus,
    ChangePage,
)
from rocars.timeutil import to_rfc3339, utc_now
from tests.hardware_sim import centralkit as kit


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralProcess]:
    """One centre for the tests that each make their own cargo and bundles."""
    proc = CentralProcess(tmp_path_factory.mktemp("central") / "data", seed=7, test_clock=True)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def client(shared: CentralProcess) -> Iterator[RocarsClient]:
    with RocarsClient(shared.url, token=shared.token) as c:
        yield c


def api_error(fn: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args)
    return info.value


def all_changes(client: RocarsClient, since: str = "", limit: int = 1000) -> list[Any]:
    out: list[Any] = []
    for _ in range(1000):
        page = client.changes(since, limit)
        out += page.changes
        if page.next == since:
            return out
        since = page.next
    raise AssertionError("change feed never caught up")


# -- devices: tokens, health ---------------------------------------------------------------


def test_health_needs_no_token_and_v1_needs_one(shared: CentralProcess) -> None:
    assert httpx.get(f"{shared.url}/health").json()["status"] == "ok"
    for hdrs in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {shared.token}"}):
        for path in ("/v1/changes", "/v1/bundles?vrn=AB1", "/sim/trucks", "/sim/accounts"):
            r = httpx.get(f"{shared.url}{path}", headers=hdrs)
            assert r.status_code == 401, path
            assert r.json()["error"] == "unauthorized"
    r = httpx.post(f"{shared.url}/v1/cargo", json=kit.items().model_dump(mode="json"))
    assert r.status_code == 401


def test_unknown_path_is_a_json_404(shared: CentralProcess) -> None:
    r = httpx.get(f"{shared.url}/v1/nothing", headers=kit.headers(shared))
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


# -- the change feed -------------------------------------------------------------------------


def test_change_feed_pages_in_seq_order_and_holds_every_control_point(
    client: RocarsClient, shared: CentralProcess
) -> None:
    changes = all_changes(client, "", limit=7)
    seqs = [c.seq for c in changes]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert [c.seq for c in all_changes(client, "0", 1000)][: len(seqs)] == seqs
    bundles = {c.key: c.bundle for c in changes if c.kind == "bundle"}
    cps = {b.cp for b in bundles.values()}
    assert "SBC" in cps
    assert len(cps) >= 2, "bundles of other control points are in the feed too"
    for truck in kit.trucks(shared):
        if truck["ubr"]:
            assert truck["ubr"] in bundles
    assert any(c.kind == "cargo" for c in changes)


def test_change_feed_caught_up_answers_the_same_cursor(client: RocarsClient) -> None:
    first = client.changes("", 10)
    assert first.next == str(first.changes[-1].seq)
    tail = all_changes(client, first.next)
    last = str(tail[-1].seq) if tail else first.next
    page = client.changes(last, 100)
    assert page.changes == []
    assert page.next == last


def test_change_feed_refuses_bad_cursor_and_limit(client: RocarsClient) -> None:
    for since in ("abc", "-1", "1.5"):
        err = api_error(client.changes, since, 10)
        assert (err.status, err.key) == (422, "cursor_invalid")
    for limit in (0, 10_001):
        err = api_error(client.changes, "", limit)
        assert (err.status, err.key) == (422, "limit_invalid")
    assert len(client.changes("", 10_000).changes) > 0


def test_a_cursor_of_other_scripts_digits_is_invalid(shared: CentralProcess) -> None:
    """``str.isdigit`` took "²" (then ``int`` failed: a 500) and "١٢" (read as 12)."""
    with kit.http(shared) as h:
        for path in ("/v1/changes", "/v1/events"):
            for since in ("²", "١٢", "１２", "12\n", "0" * 19):
                r = h.get(path, params={"since": since})
                assert (r.status_code, r.json()["error"]) == (422, "cursor_invalid"), (path, since)
            assert h.get(path, params={"since": "0" * 18}).status_code == 200


class WriteWhenFree:
    """The store's lock, but another writer's change goes in the moment it is let go
    (once, when armed): what a busy centre does between two holds of the lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.inner = store._lock
        self.depth = 0
        self.armed = False

    def __enter__(self) -> None:
        self.inner.acquire()
        self.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        self.inner.release()
        if self.depth == 0 and self.armed:
            self.armed = False
            self.store.add_cargo(kit.items(), utc_now())


def test_a_cursor_ahead_is_never_caught_up_whatever_is_written_meanwhile(
    tmp_path: Path,
) -> None:
    """The page and the head are read in one hold of the store's lock: read apart, a
    change written between them answered a cursor past the end as caught up, and the
    replica then never got the change the centre numbered at its cursor."""
    app = create_app(CentralConfig(data_dir=tmp_path, demo=False))
    store: Store = app.state.central.store
    for _ in range(3):
        store.add_cargo(kit.items(), utc_now())
    lock = WriteWhenFree(store)
    store._lock = lock  # type: ignore[assignment]
    token = {"Authorization": "Bearer dev-central-token"}

    async def ask(since: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as c:
            lock.armed = True
            return await c.get("/v1/changes", params={"since": since}, headers=token)

    r = asyncio.run(ask("4"))
    assert store.last_seq() == 4, "the other write went in"
    assert (r.status_code, r.json()["error"]) == (409, "cursor_ahead")
    assert (r.json()["detail"]["since"], r.json()["detail"]["last"]) == ("4", "3")
    r = asyncio.run(ask("3"))  # the change written meanwhile is served, not skipped
    assert [c["seq"] for c in r.json()["changes"]] == [4]
    store._lock = lock.inner
    app.state.central.close()


TOKEN = {"Authorization": "Bearer dev-central-token"}


def in_process(app: Any, method: str, path: str, **kw: Any) -> httpx.Response:
    """One call to ``app`` in this process (no server; the app's lifespan not run)."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as c:
            return await c.request(method, path, headers=TOKEN, **kw)

    return asyncio.run(call())


def test_an_event_cursor_ahead_is_never_caught_up(tmp_path: Path) -> None:
    """``since`` as for /v1/changes: a cursor past the last event was answered 200 with an
    empty page (caught up), while /v1/changes answered 409 ``cursor_ahead``."""
    app = create_app(CentralConfig(data_dir=tmp_path, demo=False))
    try:
        for since, last in (("1", "0"), ("999999999999999999", "0")):
            r = in_process(app, "GET", "/v1/events", params={"since": since})
            assert (r.status_code, r.json().get("error")) == (409, "cursor_ahead"), r.text
            assert (r.json()["detail"]["since"], r.json()["detail"]["last"]) == (since, last)
            assert "past the end" in r.json()["detail"]["message"]
        event = record("01JD00000000000000000000C1", outcome="NO_BUNDLE")
        r = in_process(app, "POST", "/v1/events", json={"events": [event]})
        assert r.json()["results"][0]["status"] == "accepted"
        for since in ("", "0"):
            page = in_process(app, "GET", "/v1/events", params={"since": since}).json()
            assert ([e["seq"] for e in page["events"]], page["next"]) == ([1], "1")
        page = in_process(app, "GET", "/v1/events", params={"since": "1"}).json()
        assert page == {"events": [], "next": "1"}  # caught up
        r = in_process(app, "GET", "/v1/events", params={"since": "2"})
        assert (r.status_code, r.json()["error"]) == (409, "cursor_ahead")
        assert (r.json()["detail"]["since"], r.json()["detail"]["last"]) == ("2", "1")
    finally:
        app.state.central.close()


def test_new_cargo_and_bundles_append_to_the_feed(client: RocarsClient) -> None:
    head = all_changes(client)
    cursor = str(head[-1].seq)
    cargo = kit.new_cargo(client)
    page = client.changes(cursor, 100)
    assert [(c.kind, c.key) for c in page.changes] == [("cargo", cargo.ccrn)]
    assert page.changes[0].cargo == cargo


# -- cargo -------------------------------------------------------------------------------------


def test_cargo_submit_query_amend(client: RocarsClient) -> None:
    a = kit.new_cargo(client)
    b = kit.new_cargo(client, vrn="ab 123", container_no="MSCU1234565")
    assert a.ccrn != b.ccrn
    assert len(a.ccrn) == 10
    assert a.ccrn.isdigit()
    assert a.status is CargoStatus.SUBMITTED
    assert b.items.vrn == "AB123"
    assert client.get_cargo(b.ccrn) == b
    amended = client.amend_cargo(a.ccrn, kit.items(packages=99))
    assert amended.items.packages == 99
    assert amended.submitted_at == a.submitted_at
    assert client.get_cargo(a.ccrn).items.packages == 99


def test_cargo_errors(client: RocarsClient, shared: CentralProcess) -> None:
    err = api_error(client.get_cargo, "12345")
    assert (err.status, err.key) == (422, "ccrn_invalid")
    err = api_error(client.get_cargo, "1999999999")
    assert (err.status, err.key) == (404, "ccrn_not_found")
    err = api_error(client.amend_cargo, "1999999999", kit.items())
    assert (err.status, err.key) == (404, "ccrn_not_found")
    late = kit.items(expected_date=kit.today() + timedelta(days=15))
    err = api_error(client.submit_cargo, late)
    assert (err.status, err.key) == (422, "expected_date_out_of_window")
    past = kit.items(expected_date=kit.today() - timedelta(days=1))
    assert api_error(client.submit_cargo, past).key == "expected_date_out_of_window"


def test_a_cargo_submission_sent_again_with_its_key_is_not_made_twice(
    client: RocarsClient, shared: CentralProcess
) -> None:
    """A lost answer: the kiosk sends the same submission with the same Idempotency-Key
    and gets the CCRN it made, as the cargo is now; the key with other items is refused;
    without a key every submission is a new CCRN."""
    key = "0f8fad5b-d9cb-469f-a165-70867728950e"
    first = client.submit_cargo(kit.items(packages=7), key)
    head = all_changes(client)
    again = client.submit_cargo(kit.items(packages=7), key)
    assert again == first
    assert all_changes(client, str(head[-1].seq)) == []  # nothing new in the feed
    client.amend_cargo(first.ccrn, kit.items(packages=8))
    assert client.submit_cargo(kit.items(packages=7), key).items.packages == 8  # as it is now
    err = api_error(client.submit_cargo, kit.items(packages=9), key)
    assert (err.status, err.key) == (409, "idempotency_key_reused")
    assert err.detail["ccrn"] == first.ccrn
    for bad in ("", "a b", "x" * 65, "a/b"):
        response = httpx.post(
            f"{shared.url}/v1/cargo",
            json=kit.items().model_dump(mode="json"),
            headers={"Authorization": f"Bearer {shared.token}", "Idempotency-Key": bad},
        )
        assert (response.status_code, response.json()["error"]) == (
            422,
            "idempotency_key_invalid",
        ), bad
    assert client.submit_cargo(kit.items()).ccrn != client.submit_cargo(kit.items()).ccrn


def test_fastapi_validation_names_each_field(shared: CentralProcess) -> None:
    body = kit.items().model_dump(mode="json")
    body.update(packages=0, vrn="IQ!!", surprise=1)
    del body["consignor_name"]
    with kit.http(shared) as h:
        r = h.post("/v1/cargo", json=body)
        assert r.status_code == 422
        answer = r.json()
        assert answer["error"] == "validation_error"
        fields = {d["field"]: d for d in answer["detail"]}
        assert set(fields) == {"packages", "vrn", "surprise", "consignor_name"}
        assert all(d["message"] for d in answer["detail"])
        assert fields["vrn"]["key"] == "vrn_invalid"
        r = h.post("/v1/cargo", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert r.json()["error"] == "validation_error"


# -- bundles -----------------------------------------------------------------------------------


def test_bundle_by_security_code(client: RocarsClient, shared: CentralProcess) -> None:
    acc = kit.account(shared, "valid", 0)
    c1, c2 = kit.new_cargo(client, vrn="KL88"), kit.new_cargo(client)
    before = utc_now()
    bundle = client.bundle(kit.bundle_request(acc, "kl 88", [c1.ccrn, c2.ccrn]))
    assert len(bundle.ubr) == 10
    assert bundle.vrn == "KL88"
    assert (bundle.cp, bundle.direction, bundle.status) == ("SBC", "import", BundleStatus.ACTIVE)
    assert bundle.ccrns == [c1.ccrn, c2.ccrn]
    assert before - timedelta(seconds=1) <= bundle.bundled_at <= utc_now()
    assert bundle.earliest_at == bundle.bundled_at + EARLIEST_CROSSING_DELAY
    assert bundle.result in ("PROCEED", "INSPECT")
    assert (bundle.bay is not None) == (bundle.result == "INSPECT")
    for ccrn in (c1.ccrn, c2.ccrn):
        cargo = client.get_cargo(ccrn)
        assert (cargo.status, cargo.ubr) == (CargoStatus.BUNDLED, bundle.ubr)
        assert [b.ubr for b in client.bundles_for_ccrn(ccrn)] == [bundle.ubr]
    assert client.get_bundle(bundle.ubr) == bundle
    with kit.http(shared) as h:
        found = h.get("/v1/bundles", params={"vrn": "KL 88"}).json()["bundles"]
    assert [Bundle.model_validate(b).ubr for b in found] == [bundle.ubr]
    err = api_error(client.amend_cargo, c1.ccrn, kit.items())
    assert (err.status, err.key) == (409, "cargo_bundled")


def test_immediate_account_may_cross_at_once(client: RocarsClient, shared: CentralProcess) -> None:
    acc = kit.immediate_account(shared)
    cargo = kit.new_cargo(client)
    bundle = client.bundle(kit.bundle_request(acc, "TT1", [cargo.ccrn]))
    assert bundle.earliest_at == bundle.bundled_at


def test_inspect_share_is_applied(tmp_path: Path) -> None:
    with CentralProcess(tmp_path / "c", inspect_share=1.0, test_clock=True) as proc:
        with RocarsClient(proc.url, token=proc.token) as client:
            acc = kit.account(proc, "valid", 0)
            cargo = kit.new_cargo(client)
            bundle = client.bundle(kit.bundle_request(acc, "TT2", [cargo.ccrn]))
    assert bundle.result == "INSPECT"
    assert bundle.bay is not None
    assert bundle.bay.startswith("B")


def test_bundle_errors_change_nothing(client: RocarsClient, shared: CentralProcess) -> None:
    acc = kit.account(shared, "valid", 1)
    free = kit.new_cargo(client, vrn="MN5")
    export = kit.new_cargo(client, direction="export")
    taken = kit.new_cargo(client)
    client.bundle(kit.bundle_request(acc, "MN6", [taken.ccrn]))
    cursor = all_changes(client)[-1].seq

    def refused(body: dict[str, Any]) -> ApiError:
        with kit.http(shared) as h:
            r = h.post("/v1/bundles", json=body)
        assert r.status_code >= 400
        answer = r.json()
        return ApiError("", key=answer["error"], status=r.status_code, detail=answer["detail"])

    # (vrn, ccrns, other fields): each body made just before it is sent, so each gets a
    # security code of its own (a code is accepted once)
    cases: list[tuple[str, list[str], dict[str, Any], int, str]] = [
        ("MN5", [free.ccrn], {"password": "000000"}, 403, "credentials_invalid"),
        (
            "MN5",
            [free.ccrn],
            {"auth": {"method": "security_code", "code": "000000"}},
            403,
            "security_code_invalid",
        ),
        ("MN5", [free.ccrn, "1999999999"], {}, 404, "ccrn_not_found"),
        ("MN5", [free.ccrn, taken.ccrn], {}, 409, "ccrn_already_bundled"),
        ("MN5", [free.ccrn, export.ccrn], {}, 422, "ccrn_direction_mismatch"),
        ("MN7", [free.ccrn], {}, 422, "ccrn_vrn_mismatch"),
    ]
    for vrn, ccrns, fields, status, key in cases:
        err = refused(kit.bundle_body(acc, vrn, ccrns, **fields))
        assert (err.status, err.key) == (status, key)
    with kit.http(shared) as h:
        r = h.post("/v1/bundles", json={**kit.bundle_body(acc, "MN5", [free.ccrn]), "vrn": "AB!"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "vrn"
    assert client.changes(str(cursor), 100).changes == []
    assert client.get_cargo(free.ccrn).status is CargoStatus.SUBMITTED
    # The failures above did not lock the account (4 of 5), and success resets the count.
    client.bundle(kit.bundle_request(acc, "MN5", [free.ccrn]))


def test_a_password_with_spaces_around_it_is_a_wrong_password(
    client: RocarsClient, shared: CentralProcess
) -> None:
    """Request bodies strip their text fields, and the password was one of them:
    "159013  " was taken as "159013" and bundled (or cancelled)."""
    acc = kit.account(shared, "valid", 0)
    cargo = kit.new_cargo(client)
    typed = [acc["password"] + "  ", " " + acc["password"], acc["password"] + "\t"]
    with kit.http(shared) as h:
        for password in typed:
            r = h.post(
                "/v1/bundles", json=kit.bundle_body(acc, "PW1", [cargo.ccrn], password=password)
            )
            assert (r.status_code, r.json().get("error")) == (403, "credentials_invalid"), password
        assert client.get_cargo(cargo.ccrn).status is CargoStatus.SUBMITTED
        bundle = client.bundle(kit.bundle_request(acc, "PW1", [cargo.ccrn]))  # resets the count
        body = {"account": acc["account"], "password": typed[0], "auth": kit.code_auth(acc)}
        r = h.request("DELETE", f"/v1/bundles/{bundle.ubr}", json=body)
        assert (r.status_code, r.json()["error"]) == (403, "credentials_invalid")
        assert client.get_bundle(bundle.ubr).status is BundleStatus.ACTIVE
    client.cancel_bundle(bundle.ubr, kit.cancel_request(acc))


def test_cancel_one_ccrn_then_the_last(client: RocarsClient, shared: CentralProcess) -> None:
    owner, other = kit.account(shared, "valid", 2), kit.account(shared, "valid", 0)
    c1, c2 = kit.new_cargo(client), kit.new_cargo(client)
    bundle = client.bundle(kit.bundle_request(owner, "CC12", [c1.ccrn, c2.ccrn]))
    err = api_error(client.cancel_ccrn, bundle.ubr, c1.ccrn, kit.cancel_request(other))
    assert (err.status, err.key) == (403, "bundle_not_yours")
    err = api_error(client.cancel_ccrn, "9999999999", c1.ccrn, kit.cancel_request(owner))
    assert (err.status, err.key) == (404, "ubr_not_found")
    err = api_error(client.cancel_ccrn, bundle.ubr, "1999999998", kit.cancel_request(owner))
    assert (err.status, err.key) == (404, "ccrn_not_in_bundle")
    err = api_error(client.cancel_ccrn, bundle.ubr, "12", kit.cancel_request(owner))
    assert (err.status, err.key) == (422, "ccrn_invalid")
    after = client.cancel_ccrn(bundle.ubr, c1.ccrn, kit.cancel_request(owner))
    assert (after.status, after.ccrns) == (BundleStatus.ACTIVE, [c2.ccrn])
    released = client.get_cargo(c1.ccrn)
    assert (released.status, released.ubr) == (CargoStatus.SUBMITTED, None)
    assert client.bundles_for_ccrn(c1.ccrn) == []
    last = client.cancel_ccrn(bundle.ubr, c2.ccrn, kit.cancel_request(owner))
    assert last.status is BundleStatus.CANCELLED
    assert client.get_cargo(c2.ccrn).status is CargoStatus.SUBMITTED
    err = api_error(client.cancel_bundle, bundle.ubr, kit.cancel_request(owner))
    assert (err.status, err.key) == (409, "bundle_not_active")


def test_the_last_ccrn_removed_stays_listed_as_its_cancelled_bundle_names_it(
    client: RocarsClient, shared: CentralProcess
) -> None:
    """Removing a bundle's last CCRN cancels it, and the bundle keeps naming the CCRN; its
    ``bundle_ccrns`` row was deleted all the same, so ``?ccrn=`` answered no bundle while
    the edge's replica, which answers from the bundle's own list, answered this one: the
    kiosk got two answers, online and offline. Now it is listed as a whole cancel's are."""
    owner = kit.account(shared, "valid", 2)
    c1, c2 = kit.new_cargo(client), kit.new_cargo(client)
    bundle = client.bundle(kit.bundle_request(owner, "CC14", [c1.ccrn, c2.ccrn]))
    client.cancel_ccrn(bundle.ubr, c1.ccrn, kit.cancel_request(owner))
    last = client.cancel_ccrn(bundle.ubr, c2.ccrn, kit.cancel_request(owner))
    assert (last.status, last.ccrns) == (BundleStatus.CANCELLED, [c2.ccrn])
    assert client.get_bundle(bundle.ubr).ccrns == [c2.ccrn]
    listed = client.bundles_for_ccrn(c2.ccrn)
    assert [(b.ubr, b.status, b.ccrns) for b in listed] == [
        (bundle.ubr, BundleStatus.CANCELLED, [c2.ccrn])
    ]
    assert client.bundles_for_ccrn(c1.ccrn) == []  # taken out while c2 stayed
    # bundled again: both are listed, as after a whole cancel
    again = client.bundle(kit.bundle_request(owner, "CC14", [c2.ccrn]))
    assert [(b.ubr, b.status) for b in client.bundles_for_ccrn(c2.ccrn)] == [
        (bundle.ubr, BundleStatus.CANCELLED),
        (again.ubr, BundleStatus.ACTIVE),
    ]


def test_cancel_whole_bundle_frees_its_cargo(client: RocarsClient, shared: CentralProcess) -> None:
    owner = kit.account(shared, "valid", 2)
    c1, c2 = kit.new_cargo(client), kit.new_cargo(client)
    bundle = client.bundle(kit.bundle_request(owner, "CC13", [c1.ccrn, c2.ccrn]))
    err = api_error(client.cancel_bundle, "12345", kit.cancel_request(owner))
    assert (err.status, err.key) == (422, "ubr_invalid")
    cancelled = client.cancel_bundle(bundle.ubr, kit.cancel_request(owner))
    assert cancelled.status is BundleStatus.CANCELLED
    assert client.get_bundle(bundle.ubr).status is BundleStatus.CANCELLED
    assert {client.get_cargo(c).status for c in (c1.ccrn, c2.ccrn)} == {CargoStatus.SUBMITTED}
    with kit.http(shared) as h:
        assert h.get("/v1/bundles", params={"vrn": "CC13"}).json() == {"bundles": []}
    assert [b.ubr for b in client.bundles_for_ccrn(c1.ccrn)] == [bundle.ubr]
    again = client.bundle(kit.bundle_request(owner, "CC13", [c1.ccrn]))
    assert again.ubr != bundle.ubr
    listed = client.bundles_for_ccrn(c1.ccrn)
    assert [(b.ubr, b.status) for b in listed] == [
        (bundle.ubr, BundleStatus.CANCELLED),
        (again.ubr, BundleStatus.ACTIVE),
    ]


def test_bundle_queries(client: RocarsClient, shared: CentralProcess) -> None:
    err = api_error(client.get_bundle, "9999999999")
    assert (err.status, err.key) == (404, "ubr_not_found")
    err = api_error(client.get_bundle, "99")
    assert (err.status, err.key) == (422, "ubr_invalid")
    assert client.bundles_for_ccrn("1999999999") == []
    with kit.http(shared) as h:
        r = h.get("/v1/bundles")
        assert (r.status_code, r.json()["error"]) == (422, "query_missing")
        r = h.get("/v1/bundles", params={"vrn": "!!"})
        assert (r.status_code, r.json()["error"]) == (422, "vrn_invalid")


def test_lockout_after_five_failures(client: RocarsClient, shared: CentralProcess) -> None:
    acc = kit.account(shared, "expired")  # a driver no other test signs in as
    cargo = kit.new_cargo(client)
    bad = {"method": "security_code", "code": "000000"}
    for attempt in range(5):
        body = kit.bundle_body(acc, "LK1", [cargo.ccrn], auth=bad)
        if attempt % 2:
            body = kit.bundle_body(acc, "LK1", [cargo.ccrn], password="111111")
        err = api_error(
            client.bundle, kit.bundle_request(acc, "LK1", [cargo.ccrn], **_auth_kw(body))
        )
        assert err.key in ("security_code_invalid", "credentials_invalid")
    with kit.http(shared) as h:
        r = h.post("/v1/bundles", json=kit.bundle_body(acc, "LK1", [cargo.ccrn]))
    assert r.status_code == 429
    assert r.json()["error"] == "account_locked"
    retry_after = r.json()["detail"]["retry_after"]
    assert 0 < retry_after <= 15 * 60
    assert int(r.headers["retry-after"]) == retry_after
    assert client.get_cargo(cargo.ccrn).status is CargoStatus.SUBMITTED


def test_a_security_code_is_refused_the_second_time(
    client: RocarsClient, shared: CentralProcess
) -> None:
    """RFC 6238 5.2: a code the centre accepted for an account does not work again, even
    within its own 30 s (one step either side), and the refusal changes nothing."""
    acc = kit.account(shared, "valid", 2)
    c1, c2 = kit.new_cargo(client), kit.new_cargo(client)
    code = kit.code_auth(acc)
    bundle = client.bundle(kit.bundle_request(acc, "RP1", [c1.ccrn], auth=code))
    cursor = all_changes(client)[-1].seq
    err = api_error(client.cancel_bundle, bundle.ubr, kit.cancel_request(acc, auth=code))
    assert (err.status, err.key) == (403, "security_code_used")
    assert "already used" in err.detail["message"]
    err = api_error(client.bundle, kit.bundle_request(acc, "RP1", [c2.ccrn], auth=code))
    assert (err.status, err.key) == (403, "security_code_used")
    assert client.changes(str(cursor), 100).changes == []
    assert client.get_bundle(bundle.ubr).status is BundleStatus.ACTIVE
    assert client.get_cargo(c2.ccrn).status is CargoStatus.SUBMITTED
    # the token's next code does the cancellation
    assert client.cancel_bundle(bundle.ubr, kit.cancel_request(acc)).status is (
        BundleStatus.CANCELLED
    )


def test_one_security_code_sent_many_times_at_once_works_once(
    client: RocarsClient, shared: CentralProcess
) -> None:
    acc = kit.account(shared, "foreign")  # a driver no other test here signs in as
    code = kit.code_auth(acc)
    # five: four refusals stay under the lockout's five failures
    bodies = [
        kit.bundle_body(acc, "RP2", [kit.new_cargo(client).ccrn], auth=code) for _ in range(5)
    ]

    def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with kit.http(shared) as h:
            r = h.post("/v1/bundles", json=body)
        return r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(post, bodies))
    assert sorted(status for status, _ in answers) == [200] + [403] * 4
    assert {a["error"] for s, a in answers if s == 403} == {"security_code_used"}


def test_the_code_clock_only_goes_forward_and_only_on_a_test_centre(
    shared: CentralProcess, tmp_path: Path
) -> None:
    with kit.http(shared) as h:
        before = h.get("/sim/code-clock").json()["offset_s"]
        r = h.post("/sim/code-clock", json={"advance_s": 30})
        assert r.json() == {"offset_s": before + 30}
        for bad in (-30, "soon", 10**9):
            r = h.post("/sim/code-clock", json={"advance_s": bad})
            assert (r.status_code, r.json()["error"]) == (422, "validation_error")
        assert h.get("/sim/code-clock").json() == {"offset_s": before + 30}
    plain = create_app(CentralConfig(data_dir=tmp_path, demo=False))
    token = {"Authorization": "Bearer dev-central-token"}

    async def ask() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=plain)
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as c:
            return [
                await c.get("/sim/code-clock", headers=token),
                await c.post("/sim/code-clock", json={"advance_s": 30}, headers=token),
                await c.get("/sim/code-clock"),
            ]

    got, moved, no_token = asyncio.run(ask())
    for r in (got, moved):
        assert (r.status_code, r.json()["error"]) == (404, "not_test_clock")
    assert no_token.status_code == 401


def _auth_kw(body: dict[str, Any]) -> dict[str, Any]:
    return {"auth": body["auth"], "password": body["password"]}


def test_success_resets_the_failure_count(client: RocarsClient, shared: CentralProcess) -> None:
    acc = kit.account(shared, "revoked")  # password + code still work for this driver
    bad = {"method": "security_code", "code": "000000"}
    for _ in range(2):
        for _ in range(4):
            cargo = kit.new_cargo(client)
            err = api_error(client.bundle, kit.bundle_request(acc, "RS1", [cargo.ccrn], auth=bad))
            assert err.key == "security_code_invalid"
        client.bundle(kit.bundle_request(acc, "RS1", [cargo.ccrn]))


# -- events ----------------------------------------------------------------------------------


def record(
    event_id: str, *, ubr: str | None = None, outcome: str = "PROCEED", **fields: Any
) -> dict[str, Any]:
    now = utc_now()
    return {
        "id": event_id,
        "kind": "clearance",
        "cp": "SBC",
        "lane": "L1",
        "direction": "import",
        "started_at": to_rfc3339(now - timedelta(seconds=40)),
        "ended_at": to_rfc3339(now),
        "vrn": "AB1",
        "ubr": ubr,
        "outcome": outcome,
        "reason": "released",
        "offline": False,
    } | fields


def events_received(shared: CentralProcess) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    since = ""
    with kit.http(shared) as h:
        for _ in range(100):
            body = h.get("/v1/events", params={"since": since, "limit": 50}).json()
            out += body["events"]
            if body["next"] == since:
                return out
            since = body["next"]
    raise AssertionError("events never caught up")


def test_events_are_idempotent_and_stored_once(
    client: RocarsClient, shared: CentralProcess
) -> None:
    acc = kit.account(shared, "valid", 0)
    cargo = kit.new_cargo(client)
    bundle = client.bundle(kit.bundle_request(acc, "EV1", [cargo.ccrn]))
    crossed = record("01JD0000000000000000000001", ubr=bundle.ubr, vrn="EV1")
    unladen = record("01JD0000000000000000000002", outcome="NO_BUNDLE")
    broken = {**record("01JD0000000000000000000003"), "outcome": "MAYBE"}
    result = client.upload_events([crossed, unladen, broken, crossed])
    assert [(r.id, r.status) for r in result.results] == [
        (crossed["id"], "accepted"),
        (unladen["id"], "accepted"),
        (broken["id"], "rejected"),
        (crossed["id"], "duplicate"),
    ]
    assert "outcome" in (result.results[2].reason or "")
    again = client.upload_events([unladen, crossed, {"no": "id"}])
    assert [r.status for r in again.results] == ["duplicate", "duplicate", "rejected"]
    received = events_received(shared)
    ids = [e["id"] for e in received]
    assert ids.count(crossed["id"]) == 1
    assert ids.count(unladen["id"]) == 1
    assert broken["id"] not in ids
    mine = next(e for e in received if e["id"] == crossed["id"])
    assert mine["event"] == crossed
    assert mine["received_at"].endswith("Z")
    used = client.get_bundle(bundle.ubr)
    assert used.status is BundleStatus.USED
    with kit.http(shared) as h:
        assert h.get("/v1/bundles", params={"vrn": "EV1"}).json() == {"bundles": []}
    feed = [c for c in all_changes(client) if c.key == bundle.ubr]
    assert [c.bundle.status for c in feed if c.bundle] == [BundleStatus.ACTIVE, BundleStatus.USED]


def post_events(central: CentralProcess, body: Any, token: str | None = None) -> httpx.Response:
    """``POST /v1/events`` with ``body`` as JSON, or as the text given (escapes as sent)."""
    headers = {"Authorization": f"Bearer {token or central.token}"}
    if isinstance(body, str):
        headers["Content-Type"] = "application/json"
        return httpx.post(f"{central.url}/v1/events", content=body, headers=headers, timeout=10)
    return httpx.post(f"{central.url}/v1/events", json=body, headers=headers, timeout=10)


def answers(r: httpx.Response) -> list[tuple[str, str, str | None]]:
    assert r.status_code == 200, r.text
    return [(x["id"], x["status"], x["reason"]) for x in r.json()["results"]]


def test_an_event_with_text_that_is_not_unicode_is_rejected_alone(
    shared: CentralProcess,
) -> None:
    """A lone surrogate (``\\udc00`` in the JSON text) cannot be stored as UTF-8: that
    event is rejected ``unencodable``, the rest of the batch stored (the whole batch was
    answered 500, and the edge sent it again and again)."""
    good = record("01JD00000000000000000000U1", outcome="NO_BUNDLE")
    bad = record("01JD00000000000000000000U2", outcome="NO_BUNDLE")
    bad_id = record("01JD00000000000000000000U3", outcome="NO_BUNDLE")
    texts = [
        json.dumps(good),
        json.dumps(bad).replace('"released"', '"timeout\\udc00"'),
        json.dumps(bad_id).replace(
            '"01JD00000000000000000000U3"', '"01JD0000000000000000000U3\\udc00"'
        ),
    ]
    assert "\\udc00" in texts[1]
    r = post_events(shared, '{"events": [' + ", ".join(texts) + "]}")
    assert answers(r) == [
        (good["id"], "accepted", None),
        (bad["id"], "rejected", "unencodable"),
        ("01JD0000000000000000000U3?", "rejected", "unencodable"),
    ]
    ids = [e["id"] for e in events_received(shared)]
    assert good["id"] in ids
    assert bad["id"] not in ids
    assert not [i for i in ids if i.startswith("01JD0000000000000000000U3")]


def nested(levels: int) -> Any:
    """``levels`` lists one inside the other."""
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def test_an_event_the_centre_could_not_serve_back_is_rejected_alone(
    shared: CentralProcess,
) -> None:
    """An event is stored as sent (unknown fields too): one nested ~900 levels deep was
    accepted, and every ``GET /v1/events`` page that held it answered 500 (from ~260 on);
    ``NaN`` / ``1e999`` were stored as the bare words, which are not JSON. Now deeper than
    32 levels (the event one of them) is ``nested_too_deep``, a number JSON has not is
    ``unencodable``, each alone; the rest of the batch is stored and served."""
    ids = [f"01JD00000000000000000000D{n}" for n in range(7)]
    deepest = record(ids[0], outcome="NO_BUNDLE", note={"x": nested(30)})  # 32 levels
    events = [
        record(ids[1], outcome="NO_BUNDLE", note={"x": nested(31)}),  # 33
        record(ids[2], outcome="NO_BUNDLE", note=nested(900)),
        record(ids[3], outcome="NO_BUNDLE", plate_reads=[], actions=[], note=nested(300)),
    ]
    texts = [json.dumps(deepest)] + [json.dumps(e) for e in events]
    for n, word in ((4, "NaN"), (5, "1e999"), (6, "-Infinity")):
        event = json.dumps(record(ids[n], outcome="NO_BUNDLE", note=0))
        texts.append(event.replace('"note": 0', f'"note": {{"x": [1, {word}]}}'))
    r = post_events(shared, '{"events": [' + ", ".join(texts) + "]}")
    assert answers(r) == [
        (ids[0], "accepted", None),
        (ids[1], "rejected", "nested_too_deep"),
        (ids[2], "rejected", "nested_too_deep"),
        (ids[3], "rejected", "nested_too_deep"),
        (ids[4], "rejected", "unencodable"),
        (ids[5], "rejected", "unencodable"),
        (ids[6], "rejected", "unencodable"),
    ]
    stored = {e["id"]: e["event"] for e in events_received(shared)}
    assert stored[ids[0]] == deepest
    assert not set(ids[1:]) & set(stored)


def test_events_stored_before_the_limits_are_served(tmp_path: Path) -> None:
    """What was accepted is never lost: pages are joined from the stored texts (as the
    change feed's are), so one stored deep before the limit no longer fails every page
    that holds it, and the bare ``NaN`` / ``Infinity`` stored then are served as null."""
    app = create_app(CentralConfig(data_dir=tmp_path, demo=False))
    store: Store = app.state.central.store
    try:
        deep = record("01JD00000000000000000000L1", outcome="NO_BUNDLE", note=nested(900))
        odd = record("01JD00000000000000000000L2", outcome="NO_BUNDLE", note=[float("nan")])
        odd["vrn"] = "NaN1"
        odd["extra"] = {"hot": float("inf"), "cold": float("-inf"), "text": "NaN"}
        plain = record("01JD00000000000000000000L3", outcome="NO_BUNDLE")
        as_stored = [
            (e["id"], json.dumps(e, ensure_ascii=False).encode(), None) for e in (deep, odd, plain)
        ]
        assert [x.status for x in store.record_events(as_stored, utc_now())] == ["accepted"] * 3
        r = in_process(app, "GET", "/v1/events", params={"limit": 2})
        assert r.status_code == 200, r.text[:300]
        page = r.json()
        assert [e["id"] for e in page["events"]] == [deep["id"], odd["id"]]
        assert page["events"][0]["event"] == deep
        served = page["events"][1]["event"]
        assert (served["note"], served["vrn"]) == ([None], "NaN1")
        assert served["extra"] == {"hot": None, "cold": None, "text": "NaN"}
        assert "NaN" not in r.text.replace('"NaN1"', "").replace('"NaN"', "")
        nxt = in_process(app, "GET", "/v1/events", params={"since": page["next"]}).json()
        assert [e["event"] for e in nxt["events"]] == [plain]
    finally:
        app.state.central.close()


def test_an_events_page_stops_at_its_byte_budget_and_the_next_pages_hold_the_rest(
    tmp_path: Path,
) -> None:
    """A page was bounded by its count alone: 10,000 stored events of up to 8 MB each
    made one answer GBs, built under the store's lock. Three of 6 MiB each now come as
    two pages (about 16 MiB at most, one event at least), and following ``next`` until
    a page is empty, as every reader does, gets each of them once."""
    app = create_app(CentralConfig(data_dir=tmp_path, demo=False))
    store: Store = app.state.central.store
    try:
        events = [
            record(f"01JD00000000000000000000B{n}", outcome="NO_BUNDLE", note="x" * (6 << 20))
            for n in range(3)
        ]
        stored = [(e["id"], encode_event(e), None) for e in events]
        assert [x.status for x in store.record_events(stored, utc_now())] == ["accepted"] * 3
        pages: list[list[str]] = []
        served: list[dict[str, Any]] = []
        since = ""
        for _ in range(10):
            r = in_process(app, "GET", "/v1/events", params={"since": since, "limit": 10_000})
            assert r.status_code == 200, r.text[:300]
            page = r.json()
            if not page["events"]:
                assert page["next"] == since
                break
            if len(page["events"]) > 1:
                assert len(r.content) <= MAX_EVENTS_PAGE_BYTES + 1024
            pages.append([e["id"] for e in page["events"]])
            served += [e["event"] for e in page["events"]]
            since = page["next"]
        assert pages == [[events[0]["id"], events[1]["id"]], [events[2]["id"]]]
        assert served == events
    finally:
        app.state.central.close()


def test_an_event_id_reused_for_another_event_is_rejected(shared: CentralProcess) -> None:
    """Answered ``duplicate``, the edge took the second record for delivered and lost it:
    now only the same event again is a duplicate (also within one batch)."""
    first = record("01JD00000000000000000000I1", outcome="NO_BUNDLE")
    other = first | {"reason": "timeout", "lane": "L2"}
    assert answers(post_events(shared, {"events": [first]})) == [(first["id"], "accepted", None)]
    assert answers(post_events(shared, {"events": [other, first]})) == [
        (first["id"], "rejected", "id_reused"),
        (first["id"], "duplicate", None),
    ]
    fresh = record("01JD00000000000000000000I2", outcome="NO_BUNDLE")
    assert answers(post_events(shared, {"events": [fresh, fresh | {"offline": True}, fresh]})) == [
        (fresh["id"], "accepted", None),
        (fresh["id"], "rejected", "id_reused"),
        (fresh["id"], "duplicate", None),
    ]
    stored = {e["id"]: e["event"] for e in events_received(shared)}
    assert (stored[first["id"]], stored[fresh["id"]]) == (first, fresh)


def test_an_event_id_is_one_to_64_characters(shared: CentralProcess) -> None:
    """The edge's ids are ULIDs; UUIDs are taken too; an empty id (which every other
    event without one would then be a duplicate of) or a longer one is rejected."""
    uuid = "0192f3a4-5b6c-7d8e-9f01-23456789abcd"
    longest = "X" * 64
    events = [record(i, outcome="NO_BUNDLE") for i in ("", "Y" * 65, uuid, longest)]
    assert answers(post_events(shared, {"events": events})) == [
        ("", "rejected", "id_invalid"),
        ("Y" * 65, "rejected", "id_invalid"),
        (uuid, "accepted", None),
        (longest, "accepted", None),
    ]
    ids = [e["id"] for e in events_received(shared)]
    assert "" not in ids
    assert {uuid, longest} <= set(ids)


def test_a_device_reports_crossings_of_its_own_control_point_on_their_own_bundles(
    tmp_path: Path,
) -> None:
    """An event of another control point than the token's is rejected (alone); a
    crossing marks its bundle used only at the bundle's control point, in its direction,
    by one of its plates (the record's VRN, a plate read, the second plate). Other
    crossings are stored, the bundle left active, and the centre logs a warning."""
    proc = CentralProcess(tmp_path / "c", token="tok-sbc", extra_args=["--token", "LMC=tok-lmc"])
    with proc, kit.http(proc) as h:

        def status(truck: dict[str, Any]) -> str:
            return str(h.get(f"/v1/bundles/{truck['ubr']}").json()["status"])

        trucks = kit.trucks(proc)
        first, second = [t for t in trucks if t["kind"] == "laden_proceed"]
        mainland = next(t for t in trucks if t["kind"] == "second_plate")

        def crossing(n: int, truck: dict[str, Any], **fields: Any) -> dict[str, Any]:
            return (
                record(f"01JD00000000000000000000X{n}", ubr=truck["ubr"], vrn=truck["vrn"]) | fields
            )

        claimed = crossing(1, first)  # cp SBC, sent with LMC's token
        own = record("01JD00000000000000000000X2", outcome="NO_BUNDLE", cp="LMC")
        assert answers(post_events(proc, {"events": [claimed, own]}, "tok-lmc")) == [
            (claimed["id"], "rejected", "wrong_control_point"),
            (own["id"], "accepted", None),
        ]
        assert status(first) == "active"
        wrong = [
            (crossing(3, first, cp="LMC"), "tok-lmc"),  # an LMC lane names SBC's bundle
            (crossing(4, first, direction="export"), "tok-sbc"),
            (crossing(5, first, vrn="ZZ999"), "tok-sbc"),  # another truck
            (crossing(6, first, vrn=None), "tok-sbc"),  # no plate at all
        ]
        for event, token in wrong:
            assert answers(post_events(proc, {"events": [event]}, token)) == [
                (event["id"], "accepted", None)
            ]
        assert status(first) == "active"
        read = PlateRead(vrn=second["vrn"], confidence=0.9, source="serial", device="lpr1")
        # read by a Mainland plate its bundle does not name, its Hong Kong plate the
        # read's alternate: the one alternate the lanes trust (it was left active)
        inspected = next(t for t in trucks if t["kind"] == "laden_inspect")
        by_mainland = PlateRead(
            vrn="粤Z9876港",
            confidence=0.9,
            source="serial",
            device="lpr1",
            alternates=[Alternate(vrn=inspected["vrn"], confidence=0.8)],
        )
        right = [
            crossing(7, first),
            crossing(8, second, vrn="ZZ999", plate_reads=[read.model_dump(mode="json")]),
            crossing(9, mainland, vrn=mainland["second_plate"]),
            crossing(
                10,
                inspected,
                vrn="粤Z9876港",
                outcome="INSPECT",
                plate_reads=[by_mainland.model_dump(mode="json")],
            ),
        ]
        assert [a[1] for a in answers(post_events(proc, {"events": right}, "tok-sbc"))] == [
            "accepted"
        ] * 4
        assert [status(t) for t in (first, second, mainland, inspected)] == ["used"] * 4
        stored = [e["id"] for e in events_received(proc)]
        assert claimed["id"] not in stored
        assert len(stored) == 9
    log = proc.log_path.read_text()
    assert "uploaded with a token of LMC: rejected" in log
    warnings = [
        line for line in log.splitlines() if f"does not match bundle {first['ubr']}" in line
    ]
    assert len(warnings) == 4
    assert all("WARNING" in line for line in warnings)


def test_event_batch_limits(shared: CentralProcess) -> None:
    with kit.http(shared) as h:
        r = h.post("/v1/events", json={"events": [record(f"id{i}") for i in range(1001)]})
        assert (r.status_code, r.json()["error"]) == (422, "validation_error")
        r = h.post("/v1/events", json={"events": []})
        assert r.status_code == 422


def test_oversized_body_is_refused_without_harm(shared: CentralProcess) -> None:
    big = b'{"events": [' + b" " * (9 * 1024 * 1024) + b"]}"
    with kit.http(shared) as h:
        r = h.post("/v1/events", content=big, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")

    def stream() -> Iterator[bytes]:
        yield b'{"events": ['
        for _ in range(40):
            yield b" " * (256 * 1024)

    with kit.http(shared) as h:
        r = h.post("/v1/events", content=stream(), headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
        assert h.get("/v1/changes", params={"limit": 1}).status_code == 200


def test_the_frameworks_errors_have_the_documented_shape(shared: CentralProcess) -> None:
    """``detail`` is an object with ``message`` (docs/central.md, Errors): Starlette's 404
    and 405 gave its bare string, the body limit's 413 ``{"limit"}`` alone, and a body
    the JSON parser could not read FastAPI's 400 ``http_error``."""
    deep = ("[" * 1000 + "]" * 1000).encode()
    calls: list[tuple[str, str, bytes | None, int, str]] = [
        ("GET", "/v1/nothing", None, 404, "not_found"),
        ("DELETE", "/v1/changes", None, 405, "method_not_allowed"),
        (
            "POST",
            "/v1/events",
            b'{"events": [' + b" " * (9 * 1024 * 1024) + b"]}",
            413,
            "payload_too_large",
        ),
        ("POST", "/v1/events", deep, 400, "body_invalid"),
        ("POST", "/v1/events", b'{"events": ["\xff"]}', 400, "body_invalid"),
    ]
    with kit.http(shared) as h:
        for method, path, body, status, key in calls:
            r = h.request(method, path, content=body, headers={"content-type": "application/json"})
            answer = r.json()
            assert (r.status_code, answer["error"]) == (status, key), (path, r.text[:200])
            assert isinstance(answer["detail"], dict), answer
            assert isinstance(answer["detail"]["message"], str), answer
            assert answer["detail"]["message"]
        r = h.delete("/v1/changes")
        assert r.headers["allow"] == "GET"
        r = h.post("/v1/events", content=b" " * 9 * 1024 * 1024)
        assert r.json()["detail"]["limit"] == 8 * 1024 * 1024
        assert h.get("/v1/changes", params={"limit": 1}).status_code == 200


# -- UBR blocks ------------------------------------------------------------------------------


def test_ubr_blocks_never_overlap(client: RocarsClient, shared: CentralProcess) -> None:
    a = client.lease_ubr_block(100)
    b = client.lease_ubr_block(50)
    assert a.cp == "SBC"
    assert a.count == 100
    assert a.expires_at > a.leased_at
    ranges = [range(int(a.first), int(a.first) + 100), range(int(b.first), int(b.first) + 50)]
    assert not set(ranges[0]) & set(ranges[1])
    acc = kit.account(shared, "valid", 1)
    bundle = client.bundle(kit.bundle_request(acc, "UB1", [kit.new_cargo(client).ccrn]))
    assert all(int(bundle.ubr) not in r for r in ranges)
    issued = {c.key for c in all_changes(client) if c.kind == "bundle"}
    assert not {str(n) for r in ranges for n in r} & issued
    with kit.http(shared) as h:
        assert h.post("/v1/ubr-blocks", json={"count": 0}).status_code == 422


# -- the demo --------------------------------------------------------------------------------


def test_demo_trucks_cover_every_case(client: RocarsClient, shared: CentralProcess) -> None:
    now = utc_now()
    trucks = kit.trucks(shared)
    kinds = [t["kind"] for t in trucks]
    assert {k: kinds.count(k) for k in kinds} == {
        k: 2
        for k in (
            "laden_proceed",
            "laden_inspect",
            "too_early",
            "wrong_cp",
            "second_plate",
            "cancelled",
            "unladen",
            "laden_no_bundle",
        )
    }
    with kit.http(shared) as h:

        def active(plate: str) -> list[Bundle]:
            body = h.get("/v1/bundles", params={"vrn": plate}).json()
            return [Bundle.model_validate(b) for b in body["bundles"]]

        for t in trucks:
            assert normalize_vrn(t["vrn"]) == t["vrn"]
            found = active(t["vrn"])
            kind = t["kind"]
            if kind in ("cancelled", "unladen", "laden_no_bundle"):
                assert found == [], kind
                if kind == "cancelled":
                    assert client.get_bundle(t["ubr"]).status is BundleStatus.CANCELLED
                continue
            (bundle,) = found
            assert bundle.ubr == t["ubr"]
            assert bundle.direction == "import"
            if kind == "wrong_cp":
                assert bundle.cp != "SBC"
                continue
            assert bundle.cp == "SBC"
            if kind == "too_early":
                assert bundle.earliest_at > now
            else:
                assert bundle.earliest_at < now
            assert bundle.result == ("INSPECT" if kind == "laden_inspect" else "PROCEED")
            assert (bundle.bay is not None) == (kind == "laden_inspect")
            if kind == "second_plate":
                assert normalize_plate(t["second_plate"]) == t["second_plate"]
                assert t["second_plate"].startswith("粤Z")
                assert [b.ubr for b in active(t["second_plate"])] == [t["ubr"]]


def test_demo_accounts_can_act(shared: CentralProcess) -> None:
    accounts = kit.accounts(shared)
    assert {a["cert_case"] for a in accounts} == {"valid", "expired", "revoked", "foreign"}
    assert sum(a["immediate"] for a in accounts) == 1
    for a in accounts:
        assert Path(a["cert_path"]).is_file()
        assert len(a["account"]) == len(a["password"]) == 6


# -- whole-process behaviour -----------------------------------------------------------------


def test_restart_keeps_everything(central: CentralProcess) -> None:
    with RocarsClient(central.url, token=central.token) as client:
        acc = kit.account(central, "valid", 0)
        cargo = kit.new_cargo(client)
        bundle = client.bundle(kit.bundle_request(acc, "RS9", [cargo.ccrn]))
        client.upload_events([record("01JD00000000000000000000R1", ubr=bundle.ubr, vrn="RS9")])
        feed = client.changes("", 10_000)
        trucks, accounts = kit.trucks(central), kit.accounts(central)
    pid = central.pid
    central.stop()
    with pytest.raises(ApiError) as info:
        RocarsClient(central.url, token=central.token).changes("", 1)
    assert info.value.key == "central_unreachable"
    central.start()
    assert central.pid != pid
    with RocarsClient(central.url, token=central.token) as client:
        assert client.changes("", 10_000) == feed
        assert client.get_bundle(bundle.ubr).status is BundleStatus.USED
        assert client.get_cargo(cargo.ccrn).ubr == bundle.ubr
        assert kit.trucks(central) == trucks
        assert kit.accounts(central) == accounts
        assert [e["id"] for e in events_received(central)] == ["01JD00000000000000000000R1"]
        again = client.bundle(kit.bundle_request(acc, "RS9", [kit.new_cargo(client).ccrn]))
        assert int(again.ubr) > int(bundle.ubr)


def test_tokens_per_control_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROCARS_CENTRAL_TOKENS", "LMC=ignored-when-flags-given")
    proc = CentralProcess(tmp_path / "c", token="tok-sbc", extra_args=["--token", "LMC=tok-lmc"])
    with proc:
        with RocarsClient(proc.url, token="tok-lmc") as lmc:
            assert lmc.lease_ubr_block(5).cp == "LMC"
        with RocarsClient(proc.url, token="tok-sbc") as sbc:
            assert sbc.lease_ubr_block(5).cp == "SBC"
        with RocarsClient(proc.url, token="ignored-when-flags-given") as other:
            assert api_error(other.changes, "", 1).key == "unauthorized"


def test_delay_and_synthetic_bundles(tmp_path: Path) -> None:
    proc = CentralProcess(tmp_path / "c", demo=False, synthetic_bundles=2000, delay_ms=200)
    with proc, RocarsClient(proc.url, token=proc.token) as client:
        started = utc_now()
        changes = all_changes(client, "", 10_000)
        elapsed = utc_now() - started
        assert elapsed >= timedelta(milliseconds=2 * 200)
        assert len(changes) == 2000
        bundles = [c.bundle for c in changes if c.bundle]
        assert len({b.ubr for b in bundles}) == 2000
        assert {b.status for b in bundles} == {BundleStatus.ACTIVE}
        assert sum(b.result == "INSPECT" for b in bundles) == 200
        with kit.http(proc) as h:
            found = h.get("/v1/bundles", params={"vrn": bundles[1234].vrn}).json()["bundles"]
            assert [b["ubr"] for b in found] == [bundles[1234].ubr]
            r = h.get("/sim/accounts")
            assert (r.status_code, r.json()["error"]) == (404, "not_demo")
        assert ChangePage.model_validate({"changes": [], "next": "1"}).next == "1"


def test_concurrent_bundles_of_one_ccrn_exactly_one_wins(
    client: RocarsClient, shared: CentralProcess
) -> None:
    acc = kit.account(shared, "valid", 1)
    cargo = kit.new_cargo(client)
    others = [kit.new_cargo(client) for _ in range(6)]

    at = utc_now()

    def signed(vrn: str, ccrns: list[str], n: int = 0) -> dict[str, Any]:
        # signed by certificate, each request its own signature (a signature, like a
        # security code, is accepted once): 1 ms apart, so the signatures differ
        body = kit.bundle_body(acc, vrn, ccrns, auth={"method": "certificate"})
        body["auth"] = kit.cert_auth(acc, "bundle", body, at + timedelta(milliseconds=n))
        return body

    bodies = [signed("CO1", [cargo.ccrn], n) for n in range(6)]
    bodies += [signed("CO2", [c.ccrn]) for c in others]

    def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with kit.http(shared) as h:
            r = h.post("/v1/bundles", json=body)
        return r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(post, bodies))
    same = answers[:6]
    assert sorted(status for status, _ in same) == [200] + [409] * 5
    assert {a["error"] for s, a in same if s == 409} == {"ccrn_already_bundled"}
    ubrs = [a["ubr"] for s, a in answers if s == 200]
    assert len(ubrs) == 7
    assert len(set(ubrs)) == 7
    winner = next(a["ubr"] for s, a in same if s == 200)
    assert client.get_cargo(cargo.ccrn).ubr == winner

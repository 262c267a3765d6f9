"""The change-feed puller against the real simulated centre (and a misbehaving one)."""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hardware_sim.launch import CentralProcess
from rocars.client import ANSWER_TOO_LARGE, ApiError, RocarsClient
from rocars.models import BundleStatus, Change
from sync.errors import MalformedPage
from sync.feed import parse_page
from sync.puller import CentralClient, CentralLink, Puller, max_page_bytes
from sync.replica import Replica
from tests.hardware_sim.centralkit import accounts, cancel_request, new_cargo, trucks
from tests.sync.agentkit import FeedServer, feed_page


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def centre_seq(central: CentralProcess) -> int:
    return int(httpx.get(f"{central.url}/health", timeout=5).json()["seq"])


def make_puller(central_url: str, token: str, replica: Replica, **kw: object) -> Puller:
    client = CentralClient(central_url, token=token, timeout=5)
    return Puller(replica, client, CentralLink(), **kw)  # type: ignore[arg-type]


def test_catch_up_in_batches_and_restart_mid_feed(tmp_path: Path) -> None:
    central = CentralProcess(tmp_path / "central", synthetic_bundles=2500)
    central.start()
    try:
        total = centre_seq(central)
        assert total > 2500
        replica = Replica(tmp_path / "replica.db")
        puller = make_puller(central.url, central.token, replica, batch=1000)
        # one page, then the agent "dies"
        assert puller.catch_up(max_pages=1) == 1000
        assert replica.cursor() == "1000"
        assert replica.last_sync_at() is None  # half way: not current, lanes stay closed
        replica.close()
        puller.client.close()
        # a new process: it goes on from the stored cursor, nothing twice, nothing skipped
        replica = Replica(tmp_path / "replica.db")
        puller = make_puller(central.url, central.token, replica, batch=1000)
        assert puller.catch_up() == total - 1000
        assert replica.cursor() == str(total)
        assert puller.link.up
        assert replica.count_bundles() >= 2500
        first = trucks(central)[0]
        assert first["ubr"] is None or replica.bundle(first["ubr"]) is not None
        # caught up: an empty page moves last_sync_at only
        before = replica.last_sync_at()
        assert puller.catch_up() == 0
        after = replica.last_sync_at()
        assert before is not None
        assert after is not None
        assert after >= before
        replica.close()
        puller.client.close()
    finally:
        central.stop()


def test_run_loop_follows_changes_and_survives_the_centre_going_away(
    central: CentralProcess, tmp_path: Path
) -> None:
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(
        central.url,
        central.token,
        replica,
        interval_s=0.1,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    stop = threading.Event()
    thread = threading.Thread(target=puller.run, args=(stop,))
    thread.start()
    try:
        assert wait_for(lambda: replica.cursor() == str(centre_seq(central)))
        truck = next(t for t in trucks(central) if t["kind"] == "laden_proceed")
        bundle = replica.bundle(truck["ubr"])
        assert bundle is not None
        assert bundle.status is BundleStatus.ACTIVE
        # a cancellation at the centre reaches the replica
        acc = next(a for a in accounts(central) if a["account"] == truck["account"])
        with RocarsClient(central.url, token=central.token) as client:
            client.cancel_bundle(truck["ubr"], cancel_request(acc))
        assert wait_for(
            lambda: replica.bundle(truck["ubr"]).status is BundleStatus.CANCELLED  # type: ignore[union-attr]
        )
        # the centre goes away: the link says so, the replica stays as it was
        central.stop()
        assert wait_for(lambda: not puller.link.up)
        assert puller.last_error == "central_unreachable"
        cursor = replica.cursor()
        central.start()
        assert wait_for(lambda: puller.link.up and puller.last_error == "")
        assert replica.cursor() == cursor == str(centre_seq(central))
    finally:
        stop.set()
        thread.join(10)
        puller.client.close()
        replica.close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


def _one_bundle_change(seq: int, status: str = "active") -> dict[str, object]:
    bundle = {
        "ubr": "9110635860",
        "vrn": "AB1234",
        "cp": "SBC",
        "direction": "import",
        "ccrns": ["1001041258"],
        "bundled_at": "2026-11-21T07:00:00.000Z",
        "earliest_at": "2026-11-21T07:30:00.000Z",
        "status": status,
        "result": "PROCEED",
        "updated_at": f"2026-11-21T07:{seq:02d}:00.000Z",
    }
    return {"seq": seq, "kind": "bundle", "key": "9110635860", "bundle": bundle}


def test_malformed_page_is_logged_retried_and_never_applied(
    feed_server: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = _one_bundle_change(1)
    bad = {**good, "bundle": {**good["bundle"], "ccrns": ["12"]}}  # type: ignore[dict-item]
    feed_server.body = json.dumps({"changes": [good, bad], "next": "2"}).encode()
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(
        feed_server.url, "t", replica, interval_s=0.05, backoff_initial_s=0.02, backoff_max_s=0.05
    )
    stop = threading.Event()
    thread = threading.Thread(target=puller.run, args=(stop,))
    caplog.set_level(logging.INFO, logger="sync.puller")
    thread.start()
    try:
        assert wait_for(lambda: len(feed_server.requests) >= 3)
        assert replica.cursor() == ""
        assert replica.bundle("9110635860") is None
        assert puller.last_error == "central_malformed_page"
        assert "ccrns" in caplog.text
        # the next page is fetched while one is checked: wait for the checks, not requests
        assert wait_for(
            lambda: (
                puller.metrics.value("rocars_sync_feed_errors_total", key="central_malformed_page")
                >= 3
            )
        )
        # the centre sends a good page again: applied once
        feed_server.body = json.dumps({"changes": [good], "next": "1"}).encode()
        assert wait_for(lambda: replica.cursor() == "1")
        assert replica.bundle("9110635860") is not None
        assert all("since=&" in r or "since=1&" in r for r in feed_server.requests)
        # the operator who read the error reads that it is over
        assert wait_for(lambda: puller.last_error == "")
        assert "change feed: applied again (after central_malformed_page)" in caplog.text
    finally:
        stop.set()
        thread.join(10)
        puller.client.close()
        replica.close()


@pytest.mark.parametrize("count", [1, 2])
def test_a_page_of_changes_that_does_not_move_the_cursor_is_not_caught_up(
    feed_server: FeedServer, tmp_path: Path, count: int
) -> None:
    """A centre stuck on one page (full: 2 of 2 asked; or repeating a short one) answers
    next == since: taken for caught up, it kept the replica fresh while nothing after that
    page ever came (no cancellation, no lane failing closed)."""
    changes = [_one_bundle_change(n + 1) for n in range(count)]
    feed_server.body = json.dumps({"changes": changes, "next": ""}).encode()
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(feed_server.url, "t", replica, batch=2)
    try:
        with pytest.raises(MalformedPage, match="did not move the cursor"):
            puller.catch_up()
        assert replica.last_sync_at() is None
        assert replica.bundle("9110635860") is None
        feed_server.body = json.dumps({"changes": [], "next": ""}).encode()
        puller.catch_up()  # no changes, the same cursor: that is caught up
        assert replica.last_sync_at() is not None
    finally:
        puller.client.close()
        replica.close()


def test_a_page_that_takes_the_cursor_back_is_refused_and_the_replica_ages(
    feed_server: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A centre restored from a backup (or failed over to a copy that lags) answers a page
    that ends behind the cursor the replica committed. It was applied: its older change
    overwrote a newer one (a cancelled bundle active again), the cursor went back, and the
    page counted as caught up, so the replica looked fresh. It is refused like a malformed
    page instead: nothing written, the cursor and ``last_sync_at`` as they were."""
    now = [datetime(2026, 11, 21, 8, 0, tzinfo=UTC)]
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(
        feed_server.url,
        "t",
        replica,
        interval_s=0.05,
        backoff_initial_s=0.02,
        backoff_max_s=0.05,
        clock=lambda: now[0],
    )
    active, cancelled = _one_bundle_change(1), _one_bundle_change(2, "cancelled")
    feed_server.body = feed_page([active, cancelled], "2")
    stop = threading.Event()
    thread = threading.Thread(target=puller.run, args=(stop,))
    try:
        assert puller.catch_up() == 2
        synced = replica.last_sync_at()
        assert synced == now[0]
        # asked from 2, the centre answers with change 1 again and a cursor of 1; asked
        # from 1 it would say it is caught up
        now[0] += timedelta(minutes=1)
        feed_server.pages = {"2": feed_page([active], "1"), "1": feed_page([], "1")}
        with pytest.raises(MalformedPage, match="went back") as refused:
            puller.catch_up()
        assert refused.value.key == "central_cursor_backwards"
        assert (refused.value.params["since"], refused.value.params["next"]) == ("2", "1")
        assert replica.cursor() == "2"
        assert replica.bundle("9110635860").status is BundleStatus.CANCELLED  # type: ignore[union-attr]
        assert replica.last_sync_at() == synced  # the replica ages: the lanes fail closed
        # the worker: logged with both cursors, counted under its own key, retried from
        # the replica's cursor (never from the centre's), and says why it is stuck
        caplog.set_level(logging.ERROR, logger="sync.puller")
        thread.start()
        metric = "rocars_sync_feed_errors_total"
        assert wait_for(lambda: puller.metrics.value(metric, key="central_cursor_backwards") >= 3)
        assert puller.metrics.value(metric, key="central_malformed_page") == 0
        assert puller.last_error == "central_cursor_backwards"
        assert "from cursor 2 to 1" in puller.last_detail
        assert puller.link.up  # the centre answers: what it says is the problem
        refusals = [r.getMessage() for r in caplog.records if "went back" in r.getMessage()]
        assert refusals
        assert all("asked from '2'" in m and "ends at '1'" in m for m in refusals)
        assert not any("since=1&" in r for r in feed_server.requests)
        assert replica.cursor() == "2"
        assert replica.last_sync_at() == synced
        # the centre is right again: its next change is applied, the error clears
        feed_server.pages = {"2": feed_page([_one_bundle_change(3)], "3")}
        assert wait_for(lambda: replica.cursor() == "3" and puller.last_error == "")
        assert puller.last_detail == ""
        assert replica.bundle("9110635860").status is BundleStatus.ACTIVE  # type: ignore[union-attr]
        assert replica.last_sync_at() == now[0]
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(10)
        puller.client.close()
        replica.close()


def assert_refused(puller: Puller, key: str, detail: str) -> None:
    """The centre refuses the replica's cursor with 409 ``key``; run, the puller says so
    (``detail`` in its status), takes the centre for up, and applies nothing."""
    with pytest.raises(ApiError) as refused:
        puller.catch_up()
    assert (refused.value.status, refused.value.key) == (409, key)
    stop = threading.Event()
    thread = threading.Thread(target=puller.run, args=(stop,))
    thread.start()
    try:
        assert wait_for(lambda: puller.last_error == key)
        assert detail in puller.last_detail
        assert puller.link.up  # the centre answers: what it says is the problem
    finally:
        stop.set()
        thread.join(5)


def test_a_centre_restored_from_a_backup_refuses_the_replicas_cursor_and_it_ages(
    tmp_path: Path,
) -> None:
    """A centre restored from a backup numbers its changes again from where the backup
    ends. Asked from a cursor past that end it said "caught up" (``next == since``, no
    changes): the replica stayed fresh for ever and never got the changes the centre
    numbers again up to its cursor. The centre now answers 409 ``cursor_ahead``; the
    puller keeps its replica as it was, which ages, so the lanes fail closed."""
    data = tmp_path / "central"
    central = CentralProcess(data, synthetic_bundles=50)
    central.start()
    central.stop()
    shutil.copytree(data, tmp_path / "backup")
    central.start()
    now = [datetime(2026, 11, 21, 8, 0, tzinfo=UTC)]
    replica = Replica(tmp_path / "replica.db")
    try:
        with RocarsClient(central.url, token=central.token) as client:
            for _ in range(3):  # changes the backup does not have
                new_cargo(client)
        puller = make_puller(central.url, central.token, replica, clock=lambda: now[0])
        puller.catch_up()
        cursor, synced = replica.cursor(), replica.last_sync_at()
        assert cursor == str(centre_seq(central))
    finally:
        central.stop()
    restored = CentralProcess(tmp_path / "backup", synthetic_bundles=50)
    restored.start()
    try:
        assert centre_seq(restored) < int(cursor)
        now[0] += timedelta(minutes=1)
        puller = make_puller(
            restored.url,
            restored.token,
            replica,
            interval_s=0.05,
            backoff_initial_s=0.02,
            backoff_max_s=0.05,
            clock=lambda: now[0],
        )
        assert_refused(puller, "cursor_ahead", f"before this replica's cursor {cursor}")
        assert (replica.cursor(), replica.last_sync_at()) == (cursor, synced)
        # once the restored centre has numbered past the cursor again, "cursor_ahead" no
        # longer says so: the puller took the changes after it, and those numbered again
        # up to it (a cancellation among them) were never pulled, the replica fresh
        # (found in review). The cursor's mark is not of the restored centre's change
        with RocarsClient(restored.url, token=restored.token) as client:
            while centre_seq(restored) <= int(cursor) + 1:
                new_cargo(client)
        assert_refused(puller, "cursor_diverged", f"at this replica's cursor {cursor} is not")
        assert (replica.cursor(), replica.last_sync_at()) == (cursor, synced)
    finally:
        restored.stop()
        replica.close()


def test_a_page_has_a_mark_only_for_a_reader_that_asks_with_one(central: CentralProcess) -> None:
    """An agent from before marks asks without one and gets the page as before (its fast
    parse path cut at a page that did not end at ``next``: ten times slower, found in
    review); one that asks with a mark, empty too, gets the page's."""
    client = CentralClient(central.url, token=central.token)
    try:
        old = client._request("GET", "/v1/changes", params={"since": "", "limit": 5}).content
        assert old.endswith(b'"}')
        assert b'"mark"' not in old
        new = client.changes_raw("", 5)
        answer = httpx.get(
            f"{central.url}/v1/changes",
            params={"since": "", "mark": "", "limit": 5},
            headers={"Authorization": f"Bearer {central.token}"},
        )
        assert answer.headers["cache-control"] == "no-store"  # never kept by a proxy
        assert re.search(rb',"mark":"[0-9a-f]{32}"\}$', new)
        assert parse_page(old).mark == ""
        assert parse_page(new).mark == re.findall(rb'"mark":"(\w+)"', new)[0].decode()
    finally:
        client.close()


def test_the_cursor_goes_with_the_mark_of_its_change(tmp_path: Path) -> None:
    """Each page gives the mark of the change its cursor stands on, kept with the cursor
    in the replica and sent back with it; the centre's own history passes, also across
    a restart, and so does a replica from before marks (none sent: it gets one)."""
    central = CentralProcess(tmp_path / "central", synthetic_bundles=20)
    central.start()
    replica = Replica(tmp_path / "replica.db")
    try:
        puller = make_puller(central.url, central.token, replica)
        puller.catch_up()
        mark = replica.cursor_mark()
        assert re.fullmatch("[0-9a-f]{32}", mark)
        central.stop()
        central.start()  # the same history: the same mark
        with RocarsClient(central.url, token=central.token) as client:
            new_cargo(client)
        puller = make_puller(central.url, central.token, replica)
        assert puller.catch_up() == 1
        assert replica.cursor_mark() not in ("", mark)
        with replica._write() as conn:  # a replica from before marks
            conn.execute("DELETE FROM meta WHERE key = 'cursor_mark'")
        assert replica.cursor_mark() == ""
        assert puller.catch_up() == 0
        assert len(replica.cursor_mark()) == 32
        # an agent from before marks ran on this replica meanwhile (rolled back, then
        # upgraded again): it moved the cursor and left the mark, which sent with the new
        # cursor made the centre refuse its own history (found in review). A mark goes
        # with its own cursor only
        with RocarsClient(central.url, token=central.token) as client:
            new_cargo(client)
        with replica._write() as conn:
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'cursor'", (str(centre_seq(central)),)
            )
        assert replica.cursor_mark() == ""
        assert puller.catch_up() == 0
        assert len(replica.cursor_mark()) == 32
        # a mark the centre never gave is refused, the replica as it was
        cursor = replica.cursor()
        with replica._write() as conn:
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'cursor_mark'", (f"{cursor} {'0' * 32}",)
            )
        with pytest.raises(ApiError) as refused:
            puller.catch_up()
        assert refused.value.key == "cursor_diverged"
        assert replica.cursor() == cursor
    finally:
        central.stop()
        replica.close()


def test_cursors_are_ordered_as_the_centre_numbers_them(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """The centre's cursor is its last seq as text ("" or "0" before the first change), so
    "10" comes after "9" (as text it sorts before it). A ``next`` that is not a cursor
    cannot be ordered at all: the page is malformed."""
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(feed_server.url, "t", replica)
    try:
        feed_server.pages = {"": feed_page([_one_bundle_change(9)], "9")}
        puller.catch_up()
        feed_server.pages = {"9": feed_page([_one_bundle_change(10, "cancelled")], "10")}
        assert puller.catch_up() == 1
        assert replica.cursor() == "10"
        for bad in ("x11", "١١", "11 ", "1" * 19):  # not ASCII digits, or longer than a seq
            feed_server.pages = {"10": feed_page([_one_bundle_change(11)], bad)}
            with pytest.raises(MalformedPage, match="not a change-feed cursor"):
                puller.catch_up()
        assert replica.cursor() == "10"
        assert replica.bundle("9110635860").status is BundleStatus.CANCELLED  # type: ignore[union-attr]
    finally:
        puller.client.close()
        replica.close()


@pytest.mark.parametrize(
    "body",
    [
        # nested past the recursion limit
        b'{"changes":[{"seq":1,"kind":"bundle","key":"9110635860","bundle":'
        + b"[" * 20_000
        + b"]" * 20_000
        + b'}],"next":"1"}',
        # a time without an offset, which cannot be written back
        json.dumps(
            {
                "changes": [
                    {
                        **_one_bundle_change(1),
                        "bundle": {
                            **_one_bundle_change(1)["bundle"],  # type: ignore[dict-item]
                            "bundled_at": "2026-11-21T07:00:00",
                        },
                    }
                ],
                "next": "1",
            }
        ).encode(),
    ],
)
def test_a_hostile_page_is_a_malformed_page_not_a_dead_puller(body: bytes) -> None:
    with pytest.raises(MalformedPage):
        parse_page(body)


def test_a_page_size_the_centre_refuses_is_refused_in_the_config() -> None:
    """The centre answers 422 to a limit over 10,000: an agent set to more never synced
    (and took the centre's answer for the centre being down)."""
    from pydantic import ValidationError

    from sync.config import SyncConfig

    lanes = [{"id": "L01"}]
    assert SyncConfig.model_validate({"lanes": lanes, "pull_batch": 10_000}).pull_batch == 10_000
    with pytest.raises(ValidationError, match="pull_batch"):
        SyncConfig.model_validate({"lanes": lanes, "pull_batch": 10_001})


def _canonical(change: dict[str, object]) -> dict[str, object]:
    """``change`` as the centre writes it: the form ``sync.feed``'s fast path cuts out."""
    full = json.loads(Change.model_validate(change).model_dump_json())
    kind = full["kind"]  # the centre leaves the other kind's null out (hardware_sim.store)
    return {name: full[name] for name in ("seq", "kind", "key", "op", kind)}


@pytest.mark.parametrize("form", ["canonical", "general"])
@pytest.mark.parametrize(
    ("changes", "nxt", "why"),
    [
        ([(2, "cancelled"), (1, "active")], "2", "follows seq 2"),  # an old change replayed
        ([(1, "active")], "2", "begins with change 1"),  # one the replica has
        ([(2, "cancelled")], "5", "last change is 2 and its cursor '5'"),  # 3-5 skipped
        ([], "500", "empty page moved the cursor"),  # 2-500 skipped
    ],
)
def test_a_page_whose_seqs_are_not_the_ones_after_its_cursor_is_refused(
    feed_server: FeedServer,
    tmp_path: Path,
    changes: list[tuple[int, str]],
    nxt: str,
    why: str,
    form: str,
) -> None:
    """The cursor is the centre's last seq: a page asked from 1 holds changes after 1, in
    rising order, ending at its ``next``. Each seq was ignored: a page replaying an old
    change (the bundle active again after its cancellation) or one whose cursor leapt past
    changes (a cancellation among them never arriving) was applied."""
    shape = _canonical if form == "canonical" else (lambda change: change)
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(feed_server.url, "t", replica)
    try:
        feed_server.pages = {"": feed_page([shape(_one_bundle_change(1))], "1")}
        puller.catch_up()
        synced = replica.last_sync_at()
        body = [shape(_one_bundle_change(seq, status)) for seq, status in changes]
        feed_server.pages = {"1": feed_page(body, nxt)}
        with pytest.raises(MalformedPage, match=why):
            puller.catch_up()
        assert replica.cursor() == "1"
        assert replica.bundle("9110635860").status is BundleStatus.ACTIVE  # type: ignore[union-attr]
        assert replica.last_sync_at() == synced  # it ages: the lanes fail closed
        # the same changes in order, ending at the cursor given: taken
        feed_server.pages = {"1": feed_page([shape(_one_bundle_change(2, "cancelled"))], "2")}
        assert puller.catch_up() == 1
        assert replica.bundle("9110635860").status is BundleStatus.CANCELLED  # type: ignore[union-attr]
    finally:
        puller.client.close()
        replica.close()


def test_the_canonical_form_is_the_fast_paths() -> None:
    from sync.feed import _BUNDLE_UPSERT

    text = json.dumps(_canonical(_one_bundle_change(7)), separators=(",", ":"))
    match = _BUNDLE_UPSERT.fullmatch(text)
    assert match is not None
    assert match.group(1) == "7"


@pytest.mark.parametrize("declared", [True, False], ids=["content_length", "until_close"])
def test_a_page_larger_than_its_bound_is_not_read(
    feed_server: FeedServer, tmp_path: Path, declared: bool
) -> None:
    """A page over ``max_page_bytes`` (here one change a page: 80 KiB) is not read past
    the bound, whether its length is declared or not: a broken or hostile centre cannot
    fill the agent's memory (the whole body was read, then copied). Nothing applied."""
    change = json.dumps(_one_bundle_change(1), separators=(",", ":")).encode()
    padded = b'{"changes":[' + change + b"]" + b" " * 200_000 + b',"next":"1"}'
    assert len(padded) > max_page_bytes(1)
    feed_server.body = padded
    feed_server.declare_length = declared
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(feed_server.url, "t", replica, batch=1)
    try:
        with pytest.raises(MalformedPage) as refused:
            puller.catch_up()
        assert refused.value.key == ANSWER_TOO_LARGE
        assert puller.link.up  # the centre answered
        assert (replica.cursor(), replica.bundle("9110635860")) == ("", None)
        # the same page in bound, then the end of the feed
        feed_server.pages = {"": padded.replace(b" " * 200_000, b""), "1": feed_page([], "1")}
        assert puller.catch_up() == 1
    finally:
        puller.client.close()
        replica.close()


def test_the_replica_is_current_as_of_when_the_page_was_asked_for(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """``last_sync_at`` is when the page that caught up was asked for, not when it was
    written: the centre's state is known as of the request, and the answer may wait
    (here a minute) for the page before it to be written."""
    now = [datetime(2026, 11, 21, 8, 0, tzinfo=UTC)]

    def minute_passes() -> None:
        now[0] += timedelta(minutes=1)

    feed_server.on_request = minute_passes
    feed_server.pages = {"": feed_page([_one_bundle_change(1)], "1")}
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(feed_server.url, "t", replica, clock=lambda: now[0])
    try:
        assert puller.catch_up() == 1
        assert replica.last_sync_at() == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    finally:
        puller.client.close()
        replica.close()


def test_a_hong_kong_second_plate_makes_the_page_malformed() -> None:
    """A bundle's second plate is the truck's Mainland plate; a Hong Kong one would let a
    second truck cross on it (the lanes trust the second plate)."""
    change = _canonical(_one_bundle_change(1))
    bundle = {**change["bundle"], "second_plate": "CD5678"}  # type: ignore[dict-item]
    with pytest.raises(MalformedPage, match="not a Mainland plate"):
        parse_page(feed_page([{**change, "bundle": bundle}], "1"))


def test_error_keys_of_any_text_do_not_make_a_metric_series_each(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """The error key of an answer is the centre's (or a proxy's) text: each distinct one
    made a series of ``rocars_sync_feed_errors_total``, without limit. A key not of the
    centre's form is counted as ``central_error``; the log and the status say it cut."""
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(
        feed_server.url, "t", replica, backoff_initial_s=0.001, backoff_max_s=0.001
    )
    keys = iter(
        [f"Upstream Error #{n} <html>" if n % 2 else f"x{n}" * 100 for n in range(100)]
        + ["central_unreachable"]  # the centre's form: its own series
    )
    feed_server.status = 502

    def next_key() -> None:
        feed_server.body = json.dumps({"error": next(keys, "central_unreachable")}).encode()

    feed_server.on_request = next_key
    stop = threading.Event()
    thread = threading.Thread(target=puller.run, args=(stop,))
    thread.start()
    try:
        assert wait_for(lambda: len(feed_server.requests) > 101)
    finally:
        stop.set()
        thread.join(10)
        puller.client.close()
        replica.close()
    series = [
        line
        for line in puller.metrics.render().splitlines()
        if line.startswith("rocars_sync_feed_errors_total{")
    ]
    assert len(series) == 2, series
    assert puller.metrics.value("rocars_sync_feed_errors_total", key="central_error") == 100
    assert puller.metrics.value("rocars_sync_feed_errors_total", key="central_unreachable") >= 1
    assert not puller.link.up
    assert puller.last_error == "central_unreachable"
    # a long one is said cut
    feed_server.on_request = lambda: None
    feed_server.body = json.dumps({"error": "y" * 5000}).encode()
    replica = Replica(tmp_path / "replica.db")
    puller = make_puller(feed_server.url, "t", replica)
    stop = threading.Event()
    thread = threading.Thread(target=puller.run, args=(stop,))
    thread.start()
    try:
        assert wait_for(lambda: puller.last_error != "")
    finally:
        stop.set()
        thread.join(10)
        puller.client.close()
        replica.close()
    assert puller.last_error == "y" * 200
    assert puller.link.state().error == "y" * 200

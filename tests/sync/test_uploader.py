"""The uploader against the real centre: accepted, duplicate, rejected, centre down and back;
refusals of a whole batch against the real centre (413) and a loopback one (other codes)."""

from __future__ import annotations

import json
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hardware_sim.launch import CentralProcess
from rocars.client import ApiError
from rocars.ids import ControlPoint
from sync.outbox import Outbox
from sync.puller import CentralClient
from sync.uploader import (
    ANOTHER_ID,
    MALFORMED_ANSWER,
    SERVER_ERROR_ROUNDS,
    SIZE_SUSPECT_BYTES,
    SIZE_SUSPECT_FAILURES,
    UNREADABLE,
    Uploader,
)
from tests.sync.agentkit import RECORDS_AT, big_record, centre_events, record, wait_for

NOW = RECORDS_AT


def test_accepted_duplicate_and_rejected(central: CentralProcess, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.save("L01", 1, None, [record(n) for n in range(5)], NOW)
    # a malformed record in the outbox (an older agent's bug): the centre rejects it
    bad = {**record(9).model_dump(mode="json"), "outcome": "MAYBE"}
    with sqlite3.connect(tmp_path / "outbox.db") as conn:
        conn.execute(
            "INSERT INTO records (id, lane, ended_at, body, created_at) VALUES (?, ?, ?, ?, ?)",
            (bad["id"], "L01", bad["ended_at"], json.dumps(bad), bad["ended_at"]),
        )
    client = CentralClient(central.url, token=central.token)
    # the first two reached the centre before, but the answer was lost
    client.upload_events([record(0).model_dump(mode="json"), record(1).model_dump(mode="json")])
    uploader = Uploader(outbox, client, batch=4)
    assert uploader.upload_once() == 4
    assert uploader.upload_once() == 2
    assert uploader.upload_once() == 0
    assert (outbox.depth(), outbox.count("uploaded"), outbox.count("rejected")) == (0, 5, 1)
    assert outbox.rejected()[0][0] == bad["id"]
    assert "outcome" in outbox.rejected()[0][1]
    ids = [e["id"] for e in centre_events(central)]
    assert sorted(ids) == sorted(record(n).id for n in range(5))
    assert uploader.metrics.total("rocars_sync_uploaded_total") == 5
    assert uploader.metrics.total("rocars_sync_rejected_total") == 1
    client.close()
    outbox.close()


def test_a_token_of_another_control_point_rejects_no_record_for_good(tmp_path: Path) -> None:
    """The agent given another control point's token (a site with a token per control
    point): the centre answers each record ``rejected`` ``wrong_control_point``. Taken
    as the records' final answer, every one stayed rejected for good, none sent again
    once the token was put right. It is the token's answer: nothing is marked, the
    problem says so, and with the right token every record arrives."""
    central = CentralProcess(tmp_path / "central", extra_args=["--token", "LMC=lmc-token"])
    outbox = Outbox(tmp_path / "outbox.db")
    with central:
        outbox.save("L01", 1, None, [record(n) for n in range(3)], NOW)
        wrong = CentralClient(central.url, token="lmc-token")
        uploader = Uploader(outbox, wrong, batch=10, cp="SBC")
        with pytest.raises(ApiError) as raised:
            uploader.upload_once()
        assert raised.value.key == "wrong_control_point"
        assert (outbox.depth(), outbox.count("rejected")) == (3, 0)
        stop = threading.Event()
        worker = threading.Thread(target=uploader.run, args=(stop,))
        worker.start()
        try:
            assert wait_for(lambda: bool(uploader.problem), 10)
            assert "ROCARS_CENTRAL_TOKEN" in uploader.problem
            assert "wrong_control_point" in uploader.problem
        finally:
            stop.set()
            worker.join(10)
        assert (outbox.depth(), outbox.count("rejected")) == (3, 0)
        right = CentralClient(central.url, token=central.token)
        assert Uploader(outbox, right, batch=10).upload_once() == 3
        assert (outbox.depth(), outbox.count("uploaded")) == (0, 3)
        assert sorted(e["id"] for e in centre_events(central)) == [record(n).id for n in range(3)]
        wrong.close()
        right.close()
    outbox.close()


def test_records_of_another_control_point_do_not_hold_up_the_rest(
    central: CentralProcess, tmp_path: Path
) -> None:
    """Records written while ``site.cp`` was set wrong (LMC), then the setting put right
    (SBC, the token's): the centre answers those ``wrong_control_point``. Taken for the
    token's answer, every round failed on them and no record behind them went up: they
    are the records', rejected as before, and the rest upload."""
    outbox = Outbox(tmp_path / "outbox.db")
    mislabelled = [record(n).model_copy(update={"cp": ControlPoint.LMC}) for n in range(3)]
    outbox.save("L01", 1, None, [*mislabelled, *(record(n) for n in range(3, 5))], NOW)
    client = CentralClient(central.url, token=central.token)
    uploader = Uploader(outbox, client, batch=10, cp="SBC")
    assert uploader.upload_once() == 5
    assert (outbox.depth(), outbox.count("uploaded"), outbox.count("rejected")) == (0, 2, 3)
    assert {reason for _, reason in outbox.rejected()} == {"wrong_control_point"}
    client.close()
    outbox.close()


def test_records_go_as_stored_and_an_unreadable_one_is_set_aside(
    central: CentralProcess, tmp_path: Path
) -> None:
    """The centre gets each record's stored text (not decoded and encoded again); a row
    whose text is not a JSON object (a damaged disk, a hand edit) is kept, marked
    rejected with the reason, and does not hold up the records behind it."""
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.save("L01", 1, None, [record(0)], NOW)
    with sqlite3.connect(tmp_path / "outbox.db") as conn:
        # 9: bytes that are not UTF-8 (read as text, they failed the whole batch's query);
        # 10: nested deeper than json reads (RecursionError killed the uploader each round)
        deep = "[" * 100_000 + "]" * 100_000
        # 11, 12: a JSON object naming another id, or none: the centre answers by the
        # text's id, never matched to the row, which went in every batch for good
        other = record(0).model_dump(mode="json") | {"id": record(13).id}
        unnamed = {k: v for k, v in record(12).model_dump(mode="json").items() if k != "id"}
        for n, text in (
            (7, "{not json"),
            (8, '["a list"]'),
            (9, b'{"id": "\xff"}'),
            (10, deep),
            (11, json.dumps(other)),
            (12, json.dumps(unnamed)),
        ):
            conn.execute(
                "INSERT INTO records (id, lane, ended_at, body, created_at) VALUES (?, ?, ?, ?, ?)",
                (record(n).id, "L01", "2026-11-21T08:00:07Z", text, "2026-11-21T08:00:07Z"),
            )
    outbox.save("L01", 2, None, [record(1)], NOW)
    client = CentralClient(central.url, token=central.token)
    uploader = Uploader(outbox, client, batch=10)
    assert uploader.upload_once() == 8
    assert (outbox.depth(), outbox.count("uploaded"), outbox.count("rejected")) == (0, 2, 6)
    reasons = dict(outbox.rejected())
    assert reasons == {record(n).id: UNREADABLE for n in (7, 8, 9, 10)} | {
        record(n).id: ANOTHER_ID for n in (11, 12)
    }
    stored = {e["id"]: e for e in centre_events(central)}
    assert set(stored) == {record(0).id, record(1).id}
    for n in (0, 1):
        assert stored[record(n).id]["event"] == json.loads(record(n).model_dump_json())
    assert uploader.metrics.total("rocars_sync_rejected_total") == 6
    assert uploader.upload_once() == 0
    client.close()
    outbox.close()


def test_records_pile_up_while_the_centre_is_down_then_arrive_once(
    central: CentralProcess, uploads: Uploads
) -> None:
    outbox, uploader = uploads.make(
        central.url,
        token=central.token,
        timeout=2,
        batch=3,
        interval_s=0.05,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    central.stop()
    uploads.run(uploader)
    for n in range(10):
        outbox.save("L01", n + 1, None, [record(n)], NOW)
    assert wait_for(lambda: uploader.last_error == "central_unreachable")
    assert outbox.depth() == 10
    central.start()
    assert wait_for(lambda: outbox.depth() == 0)
    ids = [e["id"] for e in centre_events(central)]
    assert sorted(ids) == sorted(record(n).id for n in range(10))
    assert uploader.last_error == ""


# -- refusals: what the centre will never take must not stall what it would -------------


@pytest.fixture
def small_body_central(tmp_path: Path) -> Iterator[CentralProcess]:
    """The real simulated centre with a 4 KiB body limit (its own, or a proxy's in front)."""
    proc = CentralProcess(tmp_path / "central", seed=7, extra_args=["--max-body-bytes", "4096"])
    proc.start()
    yield proc
    proc.stop()


def run_uploader(uploader: Uploader) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=uploader.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def stop_uploader(uploader: Uploader, stop: threading.Event, thread: threading.Thread) -> None:
    """``stop`` set and the worker ended. Between two rounds it waits on the outbox's
    ``new_records`` (up to ``interval_s``, 1 s by default), which ``stop`` does not wake:
    that is set until the worker is gone."""
    stop.set()
    deadline = time.monotonic() + 10
    while thread.is_alive() and time.monotonic() < deadline:
        uploader.outbox.new_records.set()
        thread.join(0.05)


class Uploads:
    """A test's outboxes and uploaders (``make``) and the threads they run on (``run``):
    the threads stopped, then the clients and outboxes closed, when the test ends."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._open: list[tuple[Outbox, CentralClient]] = []
        self._runs: list[tuple[Uploader, threading.Event, threading.Thread]] = []

    def make(
        self, url: str, *, token: str = "t", timeout: float = 5, **settings: Any
    ) -> tuple[Outbox, Uploader]:
        """The outbox in ``tmp_path`` and its uploader to the centre at ``url``
        (``settings``: the Uploader's)."""
        outbox = Outbox(self.tmp_path / "outbox.db")
        client = CentralClient(url, token=token, timeout=timeout)
        self._open.append((outbox, client))
        return outbox, Uploader(outbox, client, **settings)

    def run(self, uploader: Uploader) -> tuple[threading.Event, threading.Thread]:
        """``uploader`` at work on a thread (the agent's worker loop)."""
        stop, thread = run_uploader(uploader)
        self._runs.append((uploader, stop, thread))
        return stop, thread

    def close(self) -> None:
        for uploader, stop, thread in self._runs:
            stop_uploader(uploader, stop, thread)
        for outbox, client in self._open:
            client.close()
            outbox.close()


@pytest.fixture
def uploads(tmp_path: Path) -> Iterator[Uploads]:
    made = Uploads(tmp_path)
    yield made
    made.close()


def test_a_batch_too_large_is_split_and_a_record_too_large_alone_is_parked(
    small_body_central: CentralProcess, tmp_path: Path
) -> None:
    """413 for a batch of many is a reason to split it; for one record alone, the record
    is parked: kept, marked refused with the status and the reason, out of the way of the
    records behind it, counted, and still parked when the outbox opens again."""
    central = small_body_central
    outbox = Outbox(tmp_path / "outbox.db")
    for n in range(30):  # ~330 bytes each: 30 records ~10 KB, over the limit together
        outbox.save("L01", n + 1, None, [big_record(n) if n == 10 else record(n)], NOW)
    client = CentralClient(central.url, token=central.token, timeout=5)
    uploader = Uploader(
        outbox, client, batch=100, interval_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.2
    )
    stop, thread = run_uploader(uploader)
    try:
        assert wait_for(lambda: outbox.depth() == 0, timeout=15), (
            f"{outbox.depth()} records still pending, last error {uploader.last_error!r}"
        )
        ids = sorted(e["id"] for e in centre_events(central))
        assert ids == sorted(record(n).id for n in range(30) if n != 10)
        assert outbox.count("refused") == 1
        assert outbox.count("uploaded") == 29
        [(refused_id, status, reason)] = outbox.refused()
        assert (refused_id, status) == (record(10).id, 413)
        assert "payload_too_large" in reason
        assert len(reason) <= 500
        assert uploader.metrics.total("rocars_sync_refused_total") == 1
        assert uploader.last_error == ""  # the uploads go on: nothing is wrong with them
        # records behind it upload as they come
        outbox.save("L01", 31, None, [record(31)], NOW)
        assert wait_for(lambda: record(31).id in {e["id"] for e in centre_events(central)})
    finally:
        stop_uploader(uploader, stop, thread)
    outbox.close()
    # persisted: a restart does not send it again on its own ...
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        assert outbox.count("refused") == 1
        assert uploader_for(outbox, client).upload_once() == 0
        # ... the agent's start-up puts it back in the queue, once (here by hand)
        assert outbox.retry_refused() == 1
        assert (outbox.depth(), outbox.count("refused")) == (1, 0)
        # refused again, alone: nothing tells the record from the call, so it stays pending
        with pytest.raises(ApiError):
            uploader_for(outbox, client).upload_once()
        assert (outbox.depth(), outbox.count("refused")) == (1, 0)
        # ... and is parked again once the centre takes a record beside it
        outbox.save("L01", 32, None, [record(32)], NOW)
        assert uploader_for(outbox, client).upload_once() == 2
        assert outbox.refused()[0][:2] == (record(10).id, 413)
        assert len(outbox.recent(100)) == 32  # nothing deleted
        assert outbox.recent(100)[-11]["upload"]["state"] == "refused"
    finally:
        client.close()
        outbox.close()


def uploader_for(outbox: Outbox, client: CentralClient) -> Uploader:
    return Uploader(outbox, client, batch=100)


class EventsCentre:
    """A loopback ``POST /v1/events`` whose answer the test decides: ``refuse(ids)``
    gives (status, error key) to refuse the batch, or None to accept every event;
    ``answer`` (status, content type, body), when set, answers every call instead (a
    proxy's page). A body over ``limit`` bytes is answered 413 (``payload_too_large``)
    after it is read, or, with ``reset``, not at all: the connection is reset, the body
    unread (a proxy that drops it). The next ``resets_left`` calls are reset whatever
    their size (a centre failing on every call). ``sizes``: every body's size in order;
    ``too_large``: those over ``limit``; ``dropped``: those of the calls reset;
    ``batches``: the ids of every body read."""

    def __init__(self, port: int = 0) -> None:
        self.refuse: Callable[[list[str]], tuple[int, str] | None] = lambda ids: None
        self.answer: tuple[int, str, bytes] | None = None
        self.limit: int | None = None
        self.reset = False
        self.resets_left = 0
        self.sizes: list[int] = []
        self.too_large: list[int] = []
        self.dropped: list[int] = []
        self.batches: list[list[str]] = []
        self.accepted: list[str] = []
        self.detail = "x" * 10_000  # a long detail: the reason kept must be bounded
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                size = int(self.headers["Content-Length"])
                outer.sizes.append(size)
                over = outer.limit is not None and size > outer.limit
                if over:
                    outer.too_large.append(size)
                if outer.resets_left > 0 or (over and outer.reset):
                    outer.resets_left -= 1
                    outer.dropped.append(size)
                    # closed at once, the body unread: the kernel resets the connection
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return
                body = self.rfile.read(size)
                if over:
                    limit = {"error": "payload_too_large", "detail": {"limit": outer.limit}}
                    self.send(413, "application/json", json.dumps(limit).encode())
                    return
                ids = [e["id"] for e in json.loads(body)["events"]]
                outer.batches.append(ids)
                if outer.answer is not None:
                    self.send(*outer.answer)
                    return
                refusal = outer.refuse(ids)
                if refusal is None:
                    outer.accepted += ids
                    status = 200
                    data = {"results": [{"id": i, "status": "accepted"} for i in ids]}
                else:
                    status, key = refusal
                    data = {"error": key, "detail": outer.detail}
                self.send(status, "application/json", json.dumps(data).encode())

            def send(self, status: int, content_type: str, raw: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # shutdown() waits for the loop's next look at it: every 0.5 s by default
        serve = {"poll_interval": 0.05}
        threading.Thread(target=self.server.serve_forever, kwargs=serve, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def events_centre() -> Iterator[EventsCentre]:
    centre = EventsCentre()
    yield centre
    centre.close()


@pytest.mark.parametrize(("status", "key"), [(400, "bad_request"), (422, "validation_error")])
def test_a_record_the_centre_refuses_is_isolated_by_halving_and_parked(
    events_centre: EventsCentre, uploads: Uploads, status: int, key: str
) -> None:
    poisoned = {record(13).id, record(70).id}
    events_centre.refuse = lambda ids: (status, key) if poisoned & set(ids) else None
    outbox, uploader = uploads.make(events_centre.url, batch=100)
    outbox.save("L01", 1, None, [record(n) for n in range(100)], NOW)
    assert uploader.upload_once() == 100
    assert sorted(events_centre.accepted) == sorted(
        record(n).id for n in range(100) if record(n).id not in poisoned
    )
    assert {(id_, s) for id_, s, _ in outbox.refused()} == {(i, status) for i in poisoned}
    assert all(r.startswith(f"HTTP {status} {key}") for _, _, r in outbox.refused())
    assert all(len(r) <= 500 for _, _, r in outbox.refused())
    # halving: a few calls a refused record, not one a record
    assert len(events_centre.batches) <= 2 * 2 * 7 + 1
    assert (outbox.depth(), outbox.count("uploaded")) == (0, 98)
    assert uploader.metrics.total("rocars_sync_refused_total") == 2
    assert uploader.last_error == ""
    calls = len(events_centre.batches)
    assert uploader.upload_once() == 0  # parked records are not sent again
    assert len(events_centre.batches) == calls


def test_a_centre_that_refuses_every_record_parks_none(
    events_centre: EventsCentre, uploads: Uploads
) -> None:
    """A proxy's 400 to every call (or a centre that changed its API) is about the call,
    not the records: parked, every record would stop uploading until a restart."""
    events_centre.refuse = lambda ids: (400, "bad_request")
    outbox, uploader = uploads.make(
        events_centre.url, batch=100, interval_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.1
    )
    outbox.save("L01", 1, None, [record(n) for n in range(20)], NOW)
    stop, thread = uploads.run(uploader)
    assert wait_for(lambda: uploader.last_error == "bad_request")
    assert "refuses every record" in uploader.problem
    assert (outbox.depth(), outbox.count("refused")) == (20, 0)
    # the proxy is mended between two rounds (mended within one, the records refused
    # before it in that round are parked, the centre having taken others: sent again
    # at the next start): all of them go
    stop_uploader(uploader, stop, thread)
    events_centre.refuse = lambda ids: None
    uploads.run(uploader)
    assert wait_for(lambda: outbox.depth() == 0)
    assert (outbox.count("uploaded"), outbox.count("refused")) == (20, 0)
    assert wait_for(lambda: uploader.problem == "")


def test_a_run_of_refused_records_longer_than_a_batch_does_not_stop_the_rest(
    events_centre: EventsCentre, uploads: Uploads
) -> None:
    """150 records the centre refuses (a bug made them), then good ones: each batch of
    the oldest 100 was refused, each record alone, and kept pending as "about the call",
    so the good records behind them never went. The newest record, sent alone, tells
    records from the call: taken, the refused ones are parked and the rest upload."""
    bad = {record(n).id for n in range(150)}
    events_centre.refuse = lambda ids: (422, "validation_error") if bad & set(ids) else None
    outbox, uploader = uploads.make(events_centre.url, batch=100)
    outbox.save("L01", 1, None, [record(n) for n in range(180)], NOW)
    for _ in range(4):
        uploader.upload_once()
    assert outbox.depth() == 0
    assert (outbox.count("uploaded"), outbox.count("refused")) == (30, 150)
    assert sorted(events_centre.accepted) == sorted(record(n).id for n in range(150, 180))


def test_a_record_that_makes_the_centre_fail_does_not_stop_the_rest(
    events_centre: EventsCentre, uploads: Uploads
) -> None:
    """One record the centre's handler fails on (HTTP 500, a bug of the centre's): every
    5xx was taken for a passing fault, and the same oldest batch was sent again for good,
    no record behind it ever going. After ``SERVER_ERROR_ROUNDS`` rounds in a row with the
    same oldest record the batch is halved as for a refusal, and that record parked (the
    newest record goes in: the centre works). A centre failing for every record parks
    none."""
    poison = record(7).id
    events_centre.refuse = lambda ids: (500, "internal_error") if poison in ids else None
    outbox, uploader = uploads.make(events_centre.url, batch=50)
    outbox.save("L01", 1, None, [record(n) for n in range(30)], NOW)
    for _ in range(SERVER_ERROR_ROUNDS):
        with pytest.raises(ApiError):
            uploader.upload_once()
    assert outbox.depth() == 30
    assert uploader.upload_once() == 29  # the rest goes; the one failing alone stays, once
    assert (outbox.count("uploaded"), outbox.depth()) == (29, 1)
    # alone, it blocks nobody; a record behind it: it fails alone a second round, parked
    outbox.save("L01", 2, None, [record(31)], NOW)
    for _ in range(SERVER_ERROR_ROUNDS + 1):
        try:
            uploader.upload_once()
        except ApiError:
            continue
    assert (outbox.count("uploaded"), [r[:2] for r in outbox.refused()]) == (30, [(poison, 500)])
    # every record fails: none is parked, and the halving is not tried every round
    events_centre.refuse = lambda ids: (500, "internal_error")
    outbox.save("L01", 2, None, [record(n) for n in range(100, 110)], NOW)
    calls = []
    for _ in range(2 * SERVER_ERROR_ROUNDS + 2):
        before = len(events_centre.batches)
        with pytest.raises(ApiError):
            uploader.upload_once()
        calls.append(len(events_centre.batches) - before)
    assert (outbox.depth(), outbox.count("refused")) == (10, 1)  # the poison only
    assert calls.count(1) >= 2 * SERVER_ERROR_ROUNDS  # one call a round but when halving


@pytest.mark.parametrize("back_after", [4, 5, 6, 8, 9, 12])
def test_a_centre_back_during_a_halving_round_parks_nothing(
    events_centre: EventsCentre, uploads: Uploads, back_after: int
) -> None:
    """A centre answering 503 for a while (a restart): the rounds fail, the halving round
    comes, and the centre is back during it (after a few of its calls: at 8, the oldest
    record has just failed alone). Nothing is parked: every record goes (a record is
    parked only the second round it fails alone while the rest of its batch goes in)."""
    calls = [0]

    def restarting(ids: list[str]) -> tuple[int, str] | None:
        calls[0] += 1
        return (503, "unavailable") if calls[0] <= back_after else None

    events_centre.refuse = restarting
    outbox, uploader = uploads.make(events_centre.url, batch=50)
    outbox.save("L01", 1, None, [record(n) for n in range(30)], NOW)
    for _ in range(SERVER_ERROR_ROUNDS):
        with pytest.raises(ApiError):
            uploader.upload_once()
    for _ in range(3):
        try:
            uploader.upload_once()
        except ApiError:
            continue
    assert (outbox.count("uploaded"), outbox.count("refused")) == (30, 0)


@pytest.mark.parametrize(("status", "key"), [(401, "unauthorized"), (403, "forbidden")])
def test_credentials_the_centre_refuses_are_retried_and_said_plainly(
    events_centre: EventsCentre, uploads: Uploads, status: int, key: str
) -> None:
    """Every batch would be refused: nothing is parked, the uploads are retried with
    backoff and the status says what to fix; once fixed, everything arrives."""
    events_centre.refuse = lambda ids: (status, key)
    outbox, uploader = uploads.make(
        events_centre.url, batch=2, backoff_initial_s=0.02, backoff_max_s=0.05
    )
    outbox.save("L01", 1, None, [record(n) for n in range(5)], NOW)
    uploads.run(uploader)
    assert wait_for(lambda: len(events_centre.batches) >= 3)
    assert (outbox.depth(), outbox.count("refused")) == (5, 0)
    assert all(len(batch) == 2 for batch in events_centre.batches)  # never split
    assert uploader.last_error == key
    assert "credentials" in uploader.problem
    assert str(status) in uploader.problem
    events_centre.refuse = lambda ids: None  # the token is fixed
    assert wait_for(lambda: outbox.depth() == 0)
    assert sorted(events_centre.accepted) == sorted(record(n).id for n in range(5))
    assert wait_for(lambda: uploader.problem == "")


@pytest.mark.parametrize(
    ("status", "key"), [(500, "internal"), (503, "unavailable"), (408, "timeout"), (429, "slow")]
)
def test_transient_answers_are_retried_never_split_nor_parked(
    events_centre: EventsCentre, uploads: Uploads, status: int, key: str
) -> None:
    answers = iter([(status, key)] * 3)
    events_centre.refuse = lambda ids: next(answers, None)
    outbox, uploader = uploads.make(
        events_centre.url, batch=4, backoff_initial_s=0.02, backoff_max_s=0.05
    )
    outbox.save("L01", 1, None, [record(n) for n in range(4)], NOW)
    uploads.run(uploader)
    assert wait_for(lambda: outbox.depth() == 0)
    assert [len(batch) for batch in events_centre.batches] == [4, 4, 4, 4]
    assert outbox.count("refused") == 0
    assert outbox.count("uploaded") == 4
    assert uploader.metrics.total("rocars_sync_upload_errors_total") == 3


def test_error_keys_of_any_text_do_not_make_a_metric_series_each(
    events_centre: EventsCentre, uploads: Uploads
) -> None:
    """A proxy's error keys (any text) were each a series of
    ``rocars_sync_upload_errors_total``: counted as ``central_error`` instead."""
    answers = iter([(503, f"Upstream Error #{n} <html>") for n in range(12)])
    events_centre.refuse = lambda ids: next(answers, None)
    outbox, uploader = uploads.make(
        events_centre.url, batch=4, backoff_initial_s=0.01, backoff_max_s=0.01
    )
    outbox.save("L01", 1, None, [record(n) for n in range(4)], NOW)
    uploads.run(uploader)
    assert wait_for(lambda: outbox.count("uploaded") == 4)
    series = [
        line
        for line in uploader.metrics.render().splitlines()
        if line.startswith("rocars_sync_upload_errors_total{")
    ]
    assert [line.split(" ")[0] for line in series] == [
        'rocars_sync_upload_errors_total{key="central_error"}'
    ]
    assert uploader.metrics.total("rocars_sync_upload_errors_total") >= 12


# -- answers that are not upload results; bodies the way to the centre cannot take ------


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ((200, "text/html", b"<html><body><h1>Proxy login</h1></body></html>"), "Proxy login"),
        ((200, "application/json", b'["accepted"]'), "valid dictionary"),
        ((200, "application/json", b'{"results": []}'), "any of the 5 records"),
    ],
    ids=["html", "not-an-object", "no-result"],
)
def test_an_answer_that_is_not_an_upload_result_is_retried_and_named(
    events_centre: EventsCentre, uploads: Uploads, answer: tuple[int, str, bytes], named: str
) -> None:
    """A 200 that is a proxy's HTML page (or JSON of another shape, or results for none
    of the records sent) killed the worker, or passed for success: now it is transient,
    retried with backoff, named in ``problem``, and nothing is marked meanwhile."""
    events_centre.answer = answer
    outbox, uploader = uploads.make(
        events_centre.url, batch=100, interval_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.1
    )
    outbox.save("L01", 1, None, [record(n) for n in range(5)], NOW)
    _, thread = uploads.run(uploader)
    assert wait_for(lambda: uploader.backoff.failures >= 3)  # backing off, not looping
    assert thread.is_alive()  # handled: the worker did not die
    assert uploader.last_error == MALFORMED_ANSWER
    assert "not an upload result" in uploader.problem
    assert named in uploader.problem
    counts = [outbox.count(state) for state in ("pending", "uploaded", "rejected", "refused")]
    assert counts == [5, 0, 0, 0]
    assert all(len(batch) == 5 for batch in events_centre.batches)  # never split
    errors = uploader.metrics.value("rocars_sync_upload_errors_total", key=MALFORMED_ANSWER)
    assert errors >= 3
    events_centre.answer = None  # the proxy lets the calls through again
    assert wait_for(lambda: outbox.depth() == 0)
    assert sorted(events_centre.accepted) == sorted(record(n).id for n in range(5))
    assert wait_for(lambda: uploader.problem == "")


def test_a_proxy_that_resets_big_bodies_gets_every_record_in_smaller_ones(
    events_centre: EventsCentre, uploads: Uploads
) -> None:
    """A proxy that drops a body over its limit (96 KiB) by resetting the connection,
    without a 413: the same batch of ~730 KB was sent again for ever. Now a big body
    whose connection breaks twice in a row is halved; every record arrives, once, and
    once the limit is learned the bodies stay under it: a few resets in all."""
    events_centre.limit, events_centre.reset = 96 * 1024, True
    outbox, uploader = uploads.make(
        events_centre.url, batch=100, interval_s=0.05, backoff_initial_s=0.02, backoff_max_s=0.05
    )
    uploads.run(uploader)
    outbox.save("L01", 1, None, [big_record(n) for n in range(600)], NOW)  # ~7.3 KB each
    assert wait_for(lambda: outbox.depth() == 0, timeout=60), (
        f"{outbox.depth()} pending, {len(events_centre.too_large)} resets, "
        f"budget {uploader.body_budget}"
    )
    resets = len(events_centre.too_large)
    assert SIZE_SUSPECT_FAILURES <= resets <= 14
    budget = uploader.body_budget
    assert budget is not None
    assert budget <= 96 * 1024
    # learned: more rounds, no more resets
    outbox.save("L01", 2, None, [big_record(n) for n in range(600, 900)], NOW)
    assert wait_for(lambda: outbox.depth() == 0, timeout=60)
    assert len(events_centre.too_large) == resets
    accepted = events_centre.accepted
    assert sorted(accepted) == sorted(big_record(n).id for n in range(900))
    assert len(set(accepted)) == len(accepted)  # once each
    assert (outbox.count("refused"), outbox.count("uploaded")) == (0, 900)
    assert uploader.last_error == ""


def test_a_record_whose_body_alone_breaks_the_connection_is_parked(
    events_centre: EventsCentre, uploads: Uploads
) -> None:
    """A record over the proxy's limit even alone, which it drops without an answer:
    parked once the centre takes the records behind it, as a 413 alone would be; they
    are not held up behind it."""
    events_centre.limit, events_centre.reset = 96 * 1024, True
    huge = big_record(5).model_copy(update={"plate_reads": big_record(5).plate_reads * 20})
    outbox, uploader = uploads.make(
        events_centre.url, batch=100, interval_s=0.05, backoff_initial_s=0.02, backoff_max_s=0.05
    )
    records = [big_record(n) for n in range(5)] + [huge] + [big_record(n) for n in range(6, 40)]
    outbox.save("L01", 1, None, records, NOW)
    uploads.run(uploader)
    assert wait_for(lambda: outbox.depth() == 0, timeout=30)
    [(parked, status, reason)] = outbox.refused()
    assert (parked, status) == (huge.id, 0)
    assert reason.startswith("no answer (central_unreachable): the connection broke")
    assert sorted(events_centre.accepted) == sorted(r.id for r in records if r is not huge)
    assert uploader.metrics.total("rocars_sync_refused_total") == 1


def test_an_outage_does_not_make_the_batches_smaller(uploads: Uploads) -> None:
    """No connection at all (the centre down), one broken connection (a restart), then
    every call's connection broken whatever its size (a centre failing on every call):
    bodies are cut only while over SIZE_SUSPECT_BYTES, never to a record a call; back,
    the centre gets every record."""
    centre = EventsCentre()
    centre.close()  # down: its port refuses connections
    outbox, uploader = uploads.make(
        centre.url, batch=100, interval_s=0.05, backoff_initial_s=0.02, backoff_max_s=0.05
    )
    outbox.save("L01", 1, None, [big_record(n) for n in range(800)], NOW)  # ~730 KB a batch
    uploads.run(uploader)
    try:
        assert wait_for(lambda: uploader.backoff.failures >= 6)
        assert uploader.last_error == "central_unreachable"
        assert uploader.body_budget is None  # refused connections shrink nothing
        centre = EventsCentre(port=centre.port)  # back, but the first call breaks
        centre.resets_left = 1
        assert wait_for(lambda: len(centre.batches) >= 2)
        assert uploader.body_budget is None  # one broken connection is not a limit
        assert [len(batch) for batch in centre.batches[:2]] == [100, 100]
        centre.resets_left = 1_000_000  # now every call breaks, big or small
        assert wait_for(lambda: len(centre.dropped) >= 12)
        assert min(centre.dropped) > SIZE_SUSPECT_BYTES // 2  # a few halvings at most
        centre.resets_left = 0  # mended
        assert wait_for(lambda: outbox.depth() == 0, timeout=30)
        accepted = centre.accepted
        assert sorted(accepted) == sorted(big_record(n).id for n in range(800))
        assert len(set(accepted)) == len(accepted)
    finally:
        centre.close()


def test_a_body_limit_is_learned_once_and_the_batches_grow_back_when_it_goes(
    events_centre: EventsCentre, uploads: Uploads
) -> None:
    """A 413 for bodies over 8 KiB: each round began again with a full batch and halved
    it down (seven 413s a round of 100 records). Now the size that went in is kept: a
    few 413s while it is learned, then none; every record once. An hour after the last
    413 the batches grow back, up to the configured batch, when the limit has gone."""
    events_centre.limit = 8 * 1024
    now = [NOW]
    outbox, uploader = uploads.make(
        events_centre.url,
        batch=100,
        interval_s=0.05,
        backoff_initial_s=0.02,
        backoff_max_s=0.05,
        clock=lambda: now[0],
    )
    uploads.run(uploader)
    outbox.save("L01", 1, None, [record(n) for n in range(1000)], NOW)  # ~312 bytes each
    assert wait_for(lambda: outbox.depth() == 0, timeout=30)
    learned = len(events_centre.too_large)
    assert 1 <= learned <= 8
    outbox.save("L01", 2, None, [record(n) for n in range(1000, 2000)], NOW)
    assert wait_for(lambda: outbox.depth() == 0, timeout=30)
    assert len(events_centre.too_large) == learned  # more rounds, no more 413s
    assert max(events_centre.sizes[-20:]) <= 8 * 1024
    assert outbox.count("refused") == 0
    # the limit is raised at the proxy; an hour on, the uploads grow back to 100 records
    events_centre.limit = None
    now[0] += timedelta(hours=2)
    calls = len(events_centre.batches)
    outbox.save("L01", 3, None, [record(n) for n in range(2000, 4000)], NOW)
    assert wait_for(lambda: outbox.depth() == 0, timeout=30)
    grown = [len(batch) for batch in events_centre.batches[calls:]]
    assert grown[-5:] == [100] * 5, grown
    accepted = events_centre.accepted
    assert sorted(accepted) == sorted(record(n).id for n in range(4000))
    assert len(set(accepted)) == len(accepted)


def test_uploaded_records_are_pruned_after_the_clock_is_put_back(
    events_centre: EventsCentre, uploads: Uploads
) -> None:
    """The clock ran ten days ahead (pruning ran then), and was put back: uploaded
    records older than ``keep_days`` are pruned within the hour as usual, not once the
    clock has caught up with the last pruning (found in review: ten days more)."""
    now = [NOW + timedelta(days=10)]
    outbox, uploader = uploads.make(
        events_centre.url, batch=100, interval_s=0.02, keep_days=1, clock=lambda: now[0]
    )
    uploads.run(uploader)
    assert wait_for(lambda: uploader._last_prune == now[0])  # pruned, ten days ahead
    now[0] = NOW - timedelta(days=2)  # put back (and on the way, two days are uploaded)
    outbox.save("L01", 1, None, [record(n) for n in range(5)], NOW)
    assert wait_for(lambda: outbox.count("uploaded") == 5)
    now[0] = NOW  # two days on: those five are a day past keep_days
    assert wait_for(lambda: outbox.count("uploaded") == 0)
    assert sorted(events_centre.accepted) == sorted(record(n).id for n in range(5))

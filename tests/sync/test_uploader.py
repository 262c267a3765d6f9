"""The uploader against the real centre: accepted, duplicate, rejected, centre down and back."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hardware_sim.launch import CentralProcess
from rocars.messages import InstructionCode
from rocars.models import ClearanceRecord
from sync.outbox import Outbox
from sync.puller import CentralClient
from sync.uploader import UNREADABLE, Uploader

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def record(n: int) -> ClearanceRecord:
    return ClearanceRecord(
        id=f"01JD{n:022d}",
        cp="SBC",
        lane="L01",
        direction="import",
        started_at=NOW,
        ended_at=NOW + timedelta(seconds=n),
        vrn="AB1234",
        outcome=InstructionCode.NO_BUNDLE,
        reason="next_vehicle",
        offline=True,
    )


def centre_events(central: CentralProcess) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{central.url}/v1/events",
        params={"limit": 10_000},
        headers={"Authorization": f"Bearer {central.token}"},
        timeout=10,
    )
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


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


def test_records_go_as_stored_and_an_unreadable_one_is_set_aside(
    central: CentralProcess, tmp_path: Path
) -> None:
    """The centre gets each record's stored text (not decoded and encoded again); a row
    whose text is not a JSON object (a damaged disk, a hand edit) is kept, marked
    rejected with the reason, and does not hold up the records behind it."""
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.save("L01", 1, None, [record(0)], NOW)
    with sqlite3.connect(tmp_path / "outbox.db") as conn:
        for n, text in ((7, "{not json"), (8, '["a list"]')):
            conn.execute(
                "INSERT INTO records (id, lane, ended_at, body, created_at) VALUES (?, ?, ?, ?, ?)",
                (record(n).id, "L01", "2026-11-21T08:00:07Z", text, "2026-11-21T08:00:07Z"),
            )
    outbox.save("L01", 2, None, [record(1)], NOW)
    client = CentralClient(central.url, token=central.token)
    uploader = Uploader(outbox, client, batch=10)
    assert uploader.upload_once() == 4
    assert (outbox.depth(), outbox.count("uploaded"), outbox.count("rejected")) == (0, 2, 2)
    assert {id_ for id_, _ in outbox.rejected()} == {record(7).id, record(8).id}
    assert {reason for _, reason in outbox.rejected()} == {UNREADABLE}
    stored = {e["id"]: e for e in centre_events(central)}
    assert set(stored) == {record(0).id, record(1).id}
    for n in (0, 1):
        assert stored[record(n).id]["event"] == json.loads(record(n).model_dump_json())
    assert uploader.metrics.total("rocars_sync_rejected_total") == 2
    assert uploader.upload_once() == 0
    client.close()
    outbox.close()


def test_records_pile_up_while_the_centre_is_down_then_arrive_once(
    central: CentralProcess, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    client = CentralClient(central.url, token=central.token, timeout=2)
    uploader = Uploader(
        outbox, client, batch=3, interval_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.2
    )
    central.stop()
    stop = threading.Event()
    thread = threading.Thread(target=uploader.run, args=(stop,))
    thread.start()
    try:
        for n in range(10):
            outbox.save("L01", n + 1, None, [record(n)], NOW)
        assert wait_for(lambda: uploader.last_error == "central_unreachable")
        assert outbox.depth() == 10
        central.start()
        assert wait_for(lambda: outbox.depth() == 0)
        ids = [e["id"] for e in centre_events(central)]
        assert sorted(ids) == sorted(record(n).id for n in range(10))
        assert uploader.last_error == ""
    finally:
        stop.set()
        thread.join(10)
        client.close()
        outbox.close()

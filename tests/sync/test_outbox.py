"""The outbox: lane state and records in one transaction, marks that never repeat, pruning."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rocars.messages import InstructionCode
from rocars.models import ClearanceRecord
from sync.errors import OutboxError
from sync.lane import Session
from sync.outbox import Outbox

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def record(n: int, lane: str = "L01") -> ClearanceRecord:
    return ClearanceRecord(
        id=f"01JD{n:022d}",
        cp="SBC",
        lane=lane,
        direction="import",
        started_at=NOW,
        ended_at=NOW + timedelta(seconds=n),
        vrn="AB1234",
        outcome=InstructionCode.PROCEED,
        reason="released",
        offline=False,
    )


def test_lane_state_and_records_commit_together(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    assert outbox.lane("L01") is None
    session = Session(vrn="AB1234", started_at=NOW, code=InstructionCode.NO_BUNDLE, code_at=NOW)
    outbox.save("L01", 17, session, [], NOW)
    row = outbox.lane("L01")
    assert row is not None
    assert (row.last_seq, row.session) == (17, session)
    assert not outbox.new_records.is_set()
    outbox.save("L01", 18, None, [record(1)], NOW)
    assert outbox.new_records.is_set()
    row = outbox.lane("L01")
    assert row is not None
    assert (row.last_seq, row.session, outbox.depth()) == (18, None, 1)
    # the same record twice (a retried write) is stored once
    outbox.save("L01", 19, None, [record(1)], NOW)
    assert outbox.depth() == 1
    outbox.close()
    # durable: a new process sees it all
    again = Outbox(tmp_path / "outbox.db")
    assert again.depth() == 1
    assert again.lane("L01").last_seq == 19  # type: ignore[union-attr]
    again.close()


def test_failed_transaction_leaves_neither(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.save("L01", 1, None, [], NOW)
    conn = sqlite3.connect(tmp_path / "outbox.db")
    conn.execute(
        "CREATE TRIGGER no_more BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    conn.commit()
    conn.close()
    with pytest.raises(OutboxError):
        outbox.save("L01", 2, None, [record(1)], NOW)
    assert outbox.lane("L01").last_seq == 1  # type: ignore[union-attr]
    assert outbox.depth() == 0
    # through the writer: the change waits and is retried, never dropped
    outbox.submit("L01", 3, None, [record(2)], NOW)
    assert not outbox.flush(0.3)
    assert outbox.error == "outbox_error"
    assert outbox.depth() == 0
    conn = sqlite3.connect(tmp_path / "outbox.db")
    conn.execute("DROP TRIGGER no_more")
    conn.commit()
    conn.close()
    assert outbox.flush(10)
    assert outbox.error == ""
    assert outbox.lane("L01").last_seq == 3  # type: ignore[union-attr]
    assert [p.id for p in outbox.pending(10)] == [record(2).id]
    outbox.close()


def test_group_commit_keeps_every_record_and_the_last_lane_state(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    for n in range(200):
        outbox.submit(f"L{n % 3}", n, None, [record(n, lane=f"L{n % 3}")], NOW)
    assert outbox.flush(10)
    assert outbox.new_records.is_set()
    assert outbox.depth() == 200
    assert [outbox.lane(f"L{k}").last_seq for k in range(3)] == [198, 199, 197]  # type: ignore[union-attr]
    outbox.submit("L0", 500, None, [record(500)], NOW)
    outbox.close()  # commits what is queued
    again = Outbox(tmp_path / "outbox.db")
    assert again.depth() == 201
    again.close()


def test_mark_only_moves_pending_records(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.save("L01", 1, None, [record(n) for n in range(5)], NOW)
    pending = outbox.pending(3)
    assert [p.id for p in pending] == [record(n).id for n in range(3)]
    assert pending[0].body["vrn"] == "AB1234"
    marks = {
        record(0).id: ("uploaded", None),
        record(1).id: ("rejected", "bad field"),
        record(2).id: ("uploaded", None),
    }
    assert outbox.mark(marks, NOW) == 3
    assert outbox.mark(marks, NOW) == 0  # never marked twice
    assert (outbox.depth(), outbox.count("uploaded"), outbox.count("rejected")) == (2, 2, 1)
    assert outbox.rejected() == [(record(1).id, "bad field")]
    recent = outbox.recent(10)
    assert recent[0]["id"] == record(4).id
    assert recent[-1]["upload"] == {"state": "uploaded", "reason": None}
    assert [r["id"] for r in outbox.recent(10, lane="L02")] == []
    # pruning: uploaded and old only
    assert outbox.prune(7, NOW + timedelta(days=6)) == 0
    assert outbox.prune(7, NOW + timedelta(days=8)) == 2
    assert (outbox.depth(), outbox.count("uploaded"), outbox.count("rejected")) == (2, 0, 1)
    outbox.close()

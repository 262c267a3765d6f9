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


def test_after_runs_only_once_committed_and_in_order(tmp_path: Path) -> None:
    """A held write lock holds the commit: no callback runs before its change is on disk."""
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.save("L01", 1, None, [], NOW)  # the tables exist, no writer yet
    seen: list[tuple[int, int | None]] = []

    def on_disk_seq(lane: str) -> int | None:
        # what a fresh process would read: another connection, not the writer's
        conn = sqlite3.connect(tmp_path / "outbox.db")
        try:
            row = conn.execute("SELECT last_seq FROM lanes WHERE lane = ?", (lane,)).fetchone()
        finally:
            conn.close()
        return None if row is None else int(row[0])

    blocker = sqlite3.connect(tmp_path / "outbox.db", timeout=1, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the commit waits for this lock
    for seq in range(2, 7):
        lane = "L01" if seq % 2 else "L02"
        outbox.submit(
            lane,
            seq,
            None,
            [record(seq, lane=lane)],
            NOW,
            after=lambda seq=seq, lane=lane: seen.append((seq, on_disk_seq(lane))),
        )
    assert not outbox.flush(0.5)
    assert seen == []  # nothing may be published while the commit is held
    blocker.execute("COMMIT")
    blocker.close()
    assert outbox.flush(10)
    # every callback, in submission order, each seeing its own change (or a later one) on disk
    assert [s for s, _ in seen] == [2, 3, 4, 5, 6]
    assert all(disk is not None and disk >= s for s, disk in seen)
    assert outbox.depth() == 5
    outbox.close()


def test_a_failing_commit_publishes_nothing_until_it_succeeds(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.save("L01", 1, None, [], NOW)
    conn = sqlite3.connect(tmp_path / "outbox.db")
    conn.execute(
        "CREATE TRIGGER no_more BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    conn.commit()
    called: list[int] = []
    outbox.submit("L01", 2, None, [record(1)], NOW, after=lambda: called.append(2))
    outbox.submit("L01", 3, None, [], NOW, after=lambda: called.append(3))
    assert not outbox.flush(0.3)
    assert called == []
    assert outbox.error == "outbox_error"
    conn.execute("DROP TRIGGER no_more")
    conn.commit()
    conn.close()
    assert outbox.flush(10)
    assert called == [2, 3]
    assert outbox.lane("L01").last_seq == 3  # type: ignore[union-attr]
    outbox.close()


def test_marks_and_pruning_go_through_the_writer(tmp_path: Path) -> None:
    """With the writer running, the uploader's marks share its transactions (one writer)."""
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.submit("L01", 1, None, [record(n) for n in range(3)], NOW)
    assert outbox.flush(10)
    blocker = sqlite3.connect(tmp_path / "outbox.db", timeout=1, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(OutboxError, match="busy"):
        outbox.mark({record(0).id: ("uploaded", None)}, NOW, timeout=0.3)
    blocker.execute("COMMIT")
    blocker.close()
    assert outbox.flush(10)  # the queued mark went in once the lock was free
    assert outbox.count("uploaded") == 1
    marks = {record(0).id: ("uploaded", None), record(1).id: ("rejected", "bad")}
    assert outbox.mark(marks, NOW) == 1  # record 0 was marked already
    assert outbox.prune(7, NOW + timedelta(days=8)) == 1
    assert (outbox.depth(), outbox.count("rejected")) == (1, 1)
    stats = outbox.commit_stats()
    assert stats["count"] >= 4
    assert 0 < stats["p50_ms"] <= stats["max_ms"]
    outbox.close()
    with pytest.raises(OutboxError):
        outbox.mark(marks, NOW)

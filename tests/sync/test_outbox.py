"""The outbox: lane state and records in one transaction, marks that never repeat, pruning;
its schema version, and what start-up finds it cannot read."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rocars.messages import InstructionCode
from rocars.models import InstructionLog
from rocars.timeutil import utc_now
from sync import outbox as outbox_module
from sync.config import SyncConfig
from sync.controller import LaneController
from sync.errors import OutboxError, OutboxTooNew
from sync.journal import encode, journal_paths
from sync.lane import Session
from sync.outbox import MARK_CHUNK, SCHEMA_VERSION, Outbox
from sync.puller import CentralLink
from sync.replica import Replica
from tests.sync.agentkit import RECORDS_AT, record

NOW = RECORDS_AT  # when the sessions of ``record`` started


def _tid(thread: threading.Thread) -> int:
    """A started thread's native id (never 0, which would ask about the calling thread)."""
    assert thread.native_id
    return thread.native_id


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


def test_the_wal_shrinks_after_a_burst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst grows the WAL; once checkpointed, the next commit that starts it again
    cuts it back to ``WAL_KEEP_BYTES`` (it used to stay at its largest for good)."""
    monkeypatch.setattr(outbox_module, "WAL_KEEP_BYTES", 64 << 10)
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    wal = path.with_name(path.name + "-wal")
    outbox.save("L01", 1, None, [record(i) for i in range(1, 2001)], NOW)
    burst = wal.stat().st_size
    assert burst > 1 << 20
    # the checkpoint thread's PASSIVE checkpoint, run here so the test knows it is done
    conn = sqlite3.connect(path)
    busy, frames, moved = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    conn.close()
    assert (busy, moved) == (0, frames)
    outbox.save("L01", 2, None, [record(2001)], NOW)
    assert wal.stat().st_size <= 64 << 10
    assert outbox.depth() == 2001
    outbox.close()


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
    # through the writer (a lane change with one record: one statement): the change
    # waits and is retried, never dropped, and nothing of it is written meanwhile
    outbox.submit("L01", 3, None, [record(2)], NOW)
    assert not outbox.flush(0.3)
    assert outbox.error == "outbox_error"
    assert outbox.depth() == 0
    assert outbox.lane("L01").last_seq == 1  # type: ignore[union-attr]
    conn = sqlite3.connect(tmp_path / "outbox.db")
    conn.execute("DROP TRIGGER no_more")
    conn.commit()
    conn.close()
    assert outbox.flush(10)
    assert outbox.error == ""
    assert outbox.lane("L01").last_seq == 3  # type: ignore[union-attr]
    assert [p.id for p in outbox.pending(10)] == [record(2).id]
    outbox.close()


class _RollbackFails:
    """The writer connection whose COMMIT and then ROLLBACK fail (an I/O error): its
    transaction is left open."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql in ("COMMIT", "ROLLBACK"):
            raise sqlite3.OperationalError("disk I/O error")
        return self.conn.execute(sql, *args)

    def executemany(self, sql: str, rows: object) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)  # type: ignore[arg-type]

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def close(self) -> None:
        self.conn.close()


def test_a_writer_left_inside_a_transaction_is_opened_anew(tmp_path: Path) -> None:
    """A ROLLBACK that failed left the writer inside the transaction: the next lane
    changes (one statement each) went into it, never committed, while their
    instructions went out. The writer is opened anew, and they are on disk."""
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        real = outbox._wconn
        outbox._wconn = _RollbackFails(real)  # type: ignore[assignment]
        with pytest.raises(OutboxError):
            outbox.save("L01", 1, None, [record(1), record(2)], NOW)
        assert outbox._wconn is not real  # the old one closed: SQLite rolled it back
        shown: list[int] = []
        outbox.submit("L01", 2, None, [record(3)], NOW, after=lambda: shown.append(2))
        assert outbox.flush(10)
        assert shown == [2]
        conn = sqlite3.connect(tmp_path / "outbox.db")
        try:
            stored = conn.execute("SELECT id FROM records").fetchall()
            lane = conn.execute("SELECT last_seq FROM lanes WHERE lane = 'L01'").fetchall()
        finally:
            conn.close()
        assert (stored, lane) == ([(record(3).id,)], [(2,)])
    finally:
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
    assert json.loads(pending[0].body)["vrn"] == "AB1234"
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


def test_the_refused_count_reads_the_parked_rows_only(tmp_path: Path) -> None:
    """The status asks for the refused count every second, and rejected records are kept
    for good: the count went through every rejected row (670 ms a count at a million).
    Now it reads the parked rows only, through their own index, and the rejected count
    is an index-only count; both stay exact."""
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.save("L01", 1, None, [record(n) for n in range(3003)], NOW)
    assert outbox.mark({record(n).id: ("rejected", "bad") for n in range(3000)}, NOW) == 3000
    for n in range(3000, 3003):
        assert outbox.refuse(record(n).id, 413, "too large", NOW) == 1
    conn = outbox._conn()  # this thread's reading connection: count SQLite's VM steps
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    def counted(state: str) -> tuple[int, int]:
        steps[0] = 0
        return outbox.count(state), steps[0]

    conn.set_progress_handler(step, 1)
    (refused, refused_steps), (rejected, rejected_steps) = counted("refused"), counted("rejected")
    conn.set_progress_handler(None, 1)
    assert (refused, rejected) == (3, 3000)
    assert refused_steps < 200  # ~15,000 through every rejected row
    assert rejected_steps < 4 * 3000  # ~8 a row with each row read too
    assert [row[:2] for row in outbox.refused()] == [
        (record(n).id, 413) for n in (3002, 3001, 3000)
    ]
    assert outbox.retry_refused() == 3
    assert (outbox.count("refused"), outbox.count("rejected"), outbox.depth()) == (0, 3000, 3)
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


def test_a_large_batch_is_marked_in_chunks_and_a_failed_chunk_stays_pending(
    tmp_path: Path,
) -> None:
    """Marks go in ``MARK_CHUNK`` rows a transaction (a plate read's commit waits for one
    chunk at most): a chunk that fails leaves the chunks before it marked and itself and
    the rest pending, to be sent again."""
    outbox = Outbox(tmp_path / "outbox.db")
    count = MARK_CHUNK * 3
    outbox.save("L01", 1, None, [record(n) for n in range(count)], NOW)
    poisoned = record(MARK_CHUNK + 3).id  # in the second chunk
    spoiler = sqlite3.connect(tmp_path / "outbox.db", isolation_level=None)
    spoiler.execute(
        "CREATE TRIGGER spoil BEFORE UPDATE ON records "
        f"WHEN new.id = '{poisoned}' BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    spoiler.close()
    marks = {record(n).id: ("uploaded", None) for n in range(count)}
    with pytest.raises(OutboxError, match="disk says no"):
        outbox.mark(marks, NOW)
    assert outbox.count("uploaded") == MARK_CHUNK  # the first chunk only
    assert [p.id for p in outbox.pending(1)] == [record(MARK_CHUNK).id]
    spoiler = sqlite3.connect(tmp_path / "outbox.db", isolation_level=None)
    spoiler.execute("DROP TRIGGER spoil")
    spoiler.close()
    assert outbox.mark(marks, NOW) == count - MARK_CHUNK  # the rest, each once
    assert (outbox.depth(), outbox.count("uploaded")) == (0, count)
    outbox.close()


class OrderedLock:
    """The writer's lock, noting which thread took it, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.asked: list[str] = []
        self.taken: list[str] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.asked.append(threading.current_thread().name)
        got = self._lock.acquire(blocking, timeout)
        if got:
            self.taken.append(threading.current_thread().name)
        return got

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_a_lane_change_waiting_for_the_writer_goes_in_before_the_next_mark_chunk(
    tmp_path: Path,
) -> None:
    """A lock is not fair: the uploader, releasing the writer after one chunk of marks,
    took it again for the next before a waiting lane thread woke (seen in the running
    agent: a plate read's commit waited 5 ms for a whole batch). A mark now lets every
    lane change that waits go first."""
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.save("L01", 1, None, [record(n) for n in range(MARK_CHUNK * 3)], NOW)
    lock = OrderedLock()
    outbox._wlock = lock  # type: ignore[assignment]
    lane = threading.Thread(target=outbox.submit, args=("L02", 2, None, [], NOW), name="lane")
    paused: list[bool] = []

    def pause() -> None:
        """Inside the first chunk's transaction: a plate read comes and waits."""
        if paused:
            return
        paused.append(True)
        lane.start()
        deadline = time.monotonic() + 5
        while "lane" not in lock.asked and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # from asking to waiting on the lock

    outbox._wconn.create_function("pause", 0, pause)
    outbox._wconn.execute(
        "CREATE TEMP TRIGGER pause AFTER UPDATE ON records BEGIN SELECT pause(); END"
    )
    marks = {record(n).id: ("uploaded", None) for n in range(MARK_CHUNK * 3)}
    marked: list[int] = []
    mark = threading.Thread(target=lambda: marked.append(outbox.mark(marks, NOW)), name="mark")
    mark.start()
    mark.join(10)
    lane.join(10)
    assert marked == [MARK_CHUNK * 3]
    assert lock.taken == ["mark", "lane", "mark", "mark"]
    assert outbox.lane("L02") is not None
    outbox.close()


def test_marks_and_pruning_share_the_writer_and_refuse_a_foreign_lock(tmp_path: Path) -> None:
    """The uploader's marks take the lanes' writer connection. Another program holding the
    write lock makes a mark fail at once with nothing changed (the uploader sends the
    batch again: the centre answers ``duplicate``); a lane change waits and goes in."""
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.submit("L01", 1, None, [record(n) for n in range(3)], NOW)
    assert outbox.flush(10)
    blocker = sqlite3.connect(tmp_path / "outbox.db", timeout=1, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(OutboxError, match="busy"):
        outbox.mark({record(0).id: ("uploaded", None)}, NOW, timeout=0.3)
    outbox.submit("L02", 2, None, [record(9, lane="L02")], NOW)
    assert not outbox.flush(0.3)
    assert outbox.error == ""  # waiting for another program, not failing (yet)
    blocker.execute("COMMIT")
    blocker.close()
    assert outbox.flush(10)
    assert outbox.count("uploaded") == 0
    assert outbox.depth() == 4
    assert outbox.mark({record(0).id: ("uploaded", None)}, NOW) == 1
    marks = {record(0).id: ("uploaded", None), record(1).id: ("rejected", "bad")}
    assert outbox.mark(marks, NOW) == 1  # record 0 was marked already
    assert outbox.prune(7, NOW + timedelta(days=8)) == 1
    assert (outbox.depth(), outbox.count("rejected")) == (2, 1)
    stats = outbox.commit_stats()  # the lane changes' commits (the two above)
    assert stats["count"] == 2
    assert 0 < stats["p50_ms"] <= stats["max_ms"]
    flushes = outbox.flush_stats()
    assert flushes["count"] >= 1
    assert 0 < flushes["p50_ms"] <= flushes["max_ms"]
    outbox.close()
    with pytest.raises(OutboxError):
        outbox.mark(marks, NOW)


@pytest.mark.parametrize("durability", ["write", "flush"])
def test_durability_says_whether_an_answer_waits_for_the_disk_flush(
    tmp_path: Path, durability: str
) -> None:
    """A slow disk flush (held here) holds the callbacks of ``flush``, not of ``write``;
    either way ``flush()`` returns only once the WAL is synced, and order holds."""
    outbox = Outbox(tmp_path / "outbox.db", durability=durability)  # type: ignore[arg-type]
    real_fsync = outbox._fsync_wal  # noqa: SLF001 (the disk, held for the test)
    disk = threading.Event()
    synced: list[int] = []

    def slow_fsync() -> None:
        disk.wait(10)
        real_fsync()
        synced.append(len(seen))

    outbox._fsync_wal = slow_fsync  # type: ignore[method-assign]  # noqa: SLF001
    seen: list[int] = []
    for seq in range(1, 6):
        outbox.submit("L01", seq, None, [record(seq)], NOW, after=lambda seq=seq: seen.append(seq))
    assert seen == ([1, 2, 3, 4, 5] if durability == "write" else [])
    assert not outbox.flush(0.3)  # not on disk yet
    assert outbox.depth() == 5  # written: another connection reads every record
    disk.set()
    assert outbox.flush(10)
    assert seen == [1, 2, 3, 4, 5]
    assert synced  # the WAL was synced before flush() said so
    if durability == "flush":
        assert synced[0] == 0  # no callback ran before the first sync finished
    outbox.close()


def test_a_failed_flush_is_for_good(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A flush that fails (EIO): after a failed fsync the kernel may have dropped the
    pages it could not write, so a later flush that succeeds says nothing of them. It
    was retried and the callbacks ran once one succeeded: with ``flush``, an instruction
    went out whose change a power cut could still lose. Now no callback runs after it and
    ``error`` stays set (the status offline, the displays fail closed) until a restart."""
    outbox = Outbox(tmp_path / "outbox.db", durability="flush")
    real_fsync = outbox._fsync_wal  # noqa: SLF001 (the disk, failing once)
    failed: list[int] = []

    def fsync_fails_once() -> None:
        if not failed:
            failed.append(1)
            raise OSError(5, "Input/output error")
        real_fsync()

    outbox._fsync_wal = fsync_fails_once  # type: ignore[method-assign]  # noqa: SLF001
    seen: list[int] = []
    try:
        outbox.submit("L01", 1, None, [record(1)], NOW, after=lambda: seen.append(1))
        assert not outbox.flush(1.0)
        outbox.submit("L01", 2, None, [record(2)], NOW, after=lambda: seen.append(2))
        assert not outbox.flush(0.5)
        assert seen == []  # nothing goes out
        assert outbox.error == "outbox_flush_failed"  # a commit since does not clear it
        assert "Input/output error" in outbox.flush_failed
        assert "restart the agent" in caplog.text
        assert outbox.depth() == 2  # what was written stays: SQLite decides at the restart
        # nor are the callbacks of the changes since kept (they grew the memory by every
        # lane change until the restart: found in review)
        queued = len(outbox._after_flush)  # noqa: SLF001
        for seq in range(10, 20):
            outbox.submit("L03", seq, None, [], NOW, after=lambda: seen.append(3))
        assert not outbox.flush(0.2)
        assert len(outbox._after_flush) == queued  # noqa: SLF001
        assert seen == []
        # a lane state without a record goes to the journal, which is not folded and
        # emptied at close: emptied after a flush that says nothing, it could be lost
        outbox.submit("L02", 3, None, [], NOW)
    finally:
        outbox.close()
    assert any(path.stat().st_size for path in journal_paths(tmp_path / "outbox.db"))


def test_with_write_a_flush_waits_its_interval_unless_flush_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``"write"`` and ``flush_interval_s``, the commits after a flush wait for the
    interval (one flush for all of them, and no wake-up of the flusher each); ``flush()``
    does not wait it out, nor does ``close``. With ``"flush"`` the interval does not
    apply: an answer never waits for it."""
    monkeypatch.setattr(outbox_module, "MAX_FLUSH_INTERVAL_S", 120.0)  # a gap no test outlasts
    outbox = Outbox(tmp_path / "outbox.db", flush_interval_s=60.0)
    outbox.submit("L01", 1, None, [record(1)], NOW)
    assert outbox.flush(5)
    flushed = outbox.flush_stats()["count"]
    for seq in range(2, 12):
        outbox.submit("L01", seq, None, [record(seq)], NOW)
    time.sleep(0.3)
    assert outbox.flush_stats()["count"] == flushed  # the ten commits wait for the interval
    assert outbox.flush(5)  # ... unless asked for
    assert outbox.flush_stats()["count"] == flushed + 1
    outbox.submit("L01", 12, None, [record(12)], NOW)
    started = time.monotonic()
    outbox.close()  # flushes what is left, without waiting out the interval
    assert time.monotonic() - started < 5
    reopened = Outbox(tmp_path / "outbox.db")
    assert reopened.depth() == 12
    reopened.close()

    answered: list[int] = []
    flush_mode = Outbox(tmp_path / "flush.db", durability="flush", flush_interval_s=60.0)
    for seq in range(1, 4):
        flush_mode.submit("L01", seq, None, [], NOW, after=lambda seq=seq: answered.append(seq))
        deadline = time.monotonic() + 10
        while len(answered) < seq:  # each answer after its own flush, not the interval
            assert time.monotonic() < deadline, "an answer waited for the flush interval"
            time.sleep(0.01)
    flush_mode.close()


def test_a_flush_interval_out_of_range_is_refused(tmp_path: Path) -> None:
    for bad in (-0.1, 5.0):
        with pytest.raises(ValueError, match="flush_interval_s"):
            Outbox(tmp_path / "outbox.db", flush_interval_s=bad)


def test_unknown_durability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        Outbox(tmp_path / "outbox.db", durability="maybe")  # type: ignore[arg-type]


def test_a_commit_that_fails_at_commit_time_is_rolled_back_and_retried(tmp_path: Path) -> None:
    """A deferred foreign key fails the COMMIT itself (not a statement): the transaction
    must be rolled back, or every later BEGIN would fail and nothing be written again."""
    outbox = Outbox(tmp_path / "outbox.db")
    conn = outbox._wconn  # noqa: SLF001 (a constraint only COMMIT checks, on the writer)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute(
        "CREATE TABLE child (pid INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    conn.execute(
        "CREATE TRIGGER dangling AFTER INSERT ON records BEGIN INSERT INTO child VALUES (9); END"
    )
    called: list[int] = []
    outbox.submit("L01", 1, None, [record(1)], NOW, after=lambda: called.append(1))
    outbox.submit("L01", 2, None, [], NOW, after=lambda: called.append(2))
    assert not outbox.flush(0.3)
    assert called == []
    assert outbox.error == "outbox_error"
    with outbox._wlock:  # noqa: SLF001
        conn.execute("DROP TRIGGER dangling")
    assert outbox.flush(10)
    assert called == [1, 2]
    assert outbox.depth() == 1
    assert outbox.lane("L01").last_seq == 2  # type: ignore[union-attr]
    outbox.close()


@pytest.mark.parametrize(
    ("durability", "flusher"), [("write", "SCHED_BATCH"), ("flush", "SCHED_OTHER")]
)
def test_upkeep_threads_run_in_batch_but_a_flusher_answers_wait_for(
    tmp_path: Path, durability: str, flusher: str
) -> None:
    """With "flush" every answer waits for the flusher: it keeps the default policy."""
    outbox = Outbox(tmp_path / "outbox.db", durability=durability, background_batch=True)  # type: ignore[arg-type]
    try:
        policies = {t.name: os.sched_getscheduler(_tid(t)) for t in outbox._threads}
        assert policies == {
            "outbox-flusher": getattr(os, flusher),
            "outbox-retry": os.SCHED_BATCH,
            "outbox-checkpoint": os.SCHED_BATCH,
        }
    finally:
        outbox.close()
    plain = Outbox(tmp_path / "plain.db")
    try:
        assert {os.sched_getscheduler(_tid(t)) for t in plain._threads} == {os.SCHED_OTHER}
    finally:
        plain.close()


# -- the schema's version, and what start-up cannot read ---------------------------------

#: The outbox as agents wrote it before it carried a version (``PRAGMA user_version`` 0),
#: frozen here on purpose: sync.outbox.SCHEMA moves on, the files agents wrote do not.
UNVERSIONED_SCHEMA = """
CREATE TABLE lanes (
    lane TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, session TEXT, updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE records (
    pos INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    lane TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'uploaded', 'rejected')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    done_at TEXT
);
CREATE INDEX records_state ON records (state, pos);
"""


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_new_outbox_is_stamped_and_an_unversioned_one_is_brought_up_in_place(
    tmp_path: Path,
) -> None:
    Outbox(tmp_path / "new.db").close()
    assert user_version(tmp_path / "new.db") == SCHEMA_VERSION
    path = tmp_path / "outbox.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(UNVERSIONED_SCHEMA)
        conn.execute("INSERT INTO lanes VALUES ('L01', 41, NULL, '2026-11-21T08:00:00.000Z')")
        conn.execute(
            "INSERT INTO records (id, lane, ended_at, body, created_at) VALUES (?, ?, ?, ?, ?)",
            (record(0).id, "L01", "2026-11-21T08:00:00Z", record(0).model_dump_json(), "x"),
        )
    conn.close()
    outbox = Outbox(path)
    try:
        assert user_version(path) == SCHEMA_VERSION
        assert outbox.lane("L01").last_seq == 41  # type: ignore[union-attr]
        assert [p.id for p in outbox.pending(10)] == [record(0).id]
        assert outbox.refuse(record(0).id, 413, "HTTP 413 payload_too_large", NOW) == 1
        assert outbox.refused() == [(record(0).id, 413, "HTTP 413 payload_too_large")]
    finally:
        outbox.close()


def test_an_outbox_of_a_newer_version_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    outbox.save("L01", 3, None, [record(0)], NOW)
    outbox.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    # a newer agent was killed with a lane state in its journal (a format it may have changed)
    journal_paths(path)[0].write_bytes(encode("L01", 4, "2026-11-21T08:00:01.000Z", None))
    files = [path, *journal_paths(path)]
    before = [f.read_bytes() for f in files]
    with pytest.raises(OutboxTooNew) as refused:
        Outbox(path)
    message = str(refused.value)
    assert str(path) in message
    assert f"version {SCHEMA_VERSION + 1}" in message
    assert f"version {SCHEMA_VERSION}" in message
    assert isinstance(refused.value, OutboxError)
    assert [f.read_bytes() for f in files] == before  # nothing changed, nothing folded
    assert user_version(path) == SCHEMA_VERSION + 1


@pytest.mark.parametrize("case", ["end_lost", "ended", "same_session", "unreadable"])
def test_a_stored_session_a_newer_journal_line_replaces_unrecorded_is_kept(
    tmp_path: Path, case: str
) -> None:
    """Truck A's session stored open in SQLite; a power cut lost the write that ended it
    (its record and READY) but kept the journal line of the next truck's session,
    appended after it (the kernel wrote the journal's page first). Folded at start, the
    newer line replaced A's session with no record of it, nowhere on disk (found in
    review): it is kept in the quarantine table. Ended with its record, or the same
    session changed since, it is replaced as before."""
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    a = open_session(NOW)
    stored = "{not a session" if case == "unreadable" else a.model_dump_json()
    outbox.save("L01", 5, a, [], NOW)
    if case == "ended":
        ended = record(0).model_copy(update={"id": a.id})
        outbox.save("L01", 6, None, [ended], NOW)
    outbox.close()
    if case == "unreadable":
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE lanes SET session = ? WHERE lane = 'L01'", (stored,))
    b = a if case == "same_session" else open_session(NOW).model_copy(update={"vrn": "CD5678"})
    journal_paths(path)[0].write_bytes(
        encode("L01", 15, "2026-11-21T08:00:05.000Z", b.model_dump_json())
    )
    outbox = Outbox(path)
    try:
        row = outbox.lane("L01")
        assert row is not None
        assert (row.last_seq, row.session) == (15, b)  # the newer state, as before
        kept = outbox.quarantined()
        if case in ("ended", "same_session"):
            assert kept == []
        else:
            assert [(k["source"], k["lane"], k["last_seq"], k["body"]) for k in kept] == [
                ("lanes", "L01", 5, stored)
            ]
            assert "no record" in kept[0]["error"]
    finally:
        outbox.close()


def open_session(now: datetime) -> Session:
    """A PROCEED shown to a truck, the session still open (the agent was killed)."""
    return Session(
        vrn="AB1234",
        plates=["AB1234"],
        started_at=now - timedelta(seconds=3),
        code=InstructionCode.PROCEED,
        code_at=now - timedelta(seconds=1),
        ubr="9110635860",
        reason="released",
        instructions=[InstructionLog(seq=10, code=InstructionCode.PROCEED, ts=now)],
    )


class Published:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.payloads.append(payload)


def test_an_open_session_that_does_not_validate_is_kept_aside_not_overwritten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored session this version cannot read (damaged, hand-edited, a field it does
    not know) was dropped at start-up and the lane's READY overwrote its row: the PROCEED
    a display showed was in no record and no longer on disk. Now it is moved, as it was
    stored, to the outbox's ``quarantine`` table, logged, and the lane starts as after
    any restart, its seq still rising."""
    config = SyncConfig.model_validate(
        {
            "site": {"cp": "SBC", "direction": "import"},
            "data_dir": str(tmp_path),
            "lanes": [{"id": "L01"}],
        }
    )
    stored = json.loads(open_session(utc_now()).model_dump_json())
    stored["lane_mode"] = "express"  # a field this version does not know
    text = json.dumps(stored)
    Outbox(config.outbox_path).close()
    conn = sqlite3.connect(config.outbox_path)
    with conn:
        conn.execute(
            "INSERT INTO lanes (lane, last_seq, session, updated_at) VALUES (?, ?, ?, ?)",
            ("L01", 10, text, "2026-11-21T08:00:00.000Z"),
        )
    conn.close()
    outbox = Outbox(config.outbox_path)
    replica = Replica(config.replica_path)
    bus = Published()
    controller = LaneController(
        config,
        publisher=bus,
        replica=replica,
        outbox=outbox,
        link=CentralLink(),
        site_secret=b"s",
    )
    try:
        controller.start()
        assert [json.loads(p)["code"] for p in bus.payloads] == ["READY"]
        assert json.loads(bus.payloads[0])["seq"] > 10
    finally:
        outbox.close()
        replica.close()
    assert any(
        r.levelno == logging.ERROR and "L01" in r.getMessage() and "quarantine" in r.getMessage()
        for r in caplog.records
    )
    again = Outbox(config.outbox_path)
    try:
        [kept] = again.quarantined()
        assert (kept["source"], kept["lane"], kept["last_seq"], kept["body"]) == (
            "lanes",
            "L01",
            10,
            text,
        )
        assert "lane_mode" in kept["error"]
        row = again.lane("L01")
        assert row is not None
        assert row.last_seq > 10
        assert row.session is None
    finally:
        again.close()

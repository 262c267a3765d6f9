"""The outbox: lane state and clearance records, the one file that cannot be rebuilt.

``synchronous=FULL`` in WAL mode: a commit is on disk when it returns. A session's record
is written in the same transaction as the lane state change that ends it, so after a
crash either both are there or neither (and then the lane state still holds the open
session, which start-up closes with reason ``agent_restart``).

Lane changes go through ``submit``: one writer thread commits whatever has queued up in
one transaction (group commit), then runs each change's ``after`` callback in
submission order; the lane controller publishes the change's instructions there. So an
instruction reaches the bus only once its lane state (and record) is on disk: an agent
killed at any moment has recorded every instruction a display can have seen. A lane
does not wait for the disk while it decides; reads that come in during one fsync share
the next one. A failed commit is retried with backoff, nothing queued is dropped (nor
published), and ``error`` says what is wrong.

The uploader's marks and the pruning go through the same writer (``mark``, ``prune``
wait for it): one writer, so a commit never sleeps in SQLite's busy handler (1, 2,
5 ... ms) behind another connection's transaction.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rocars.models import ClearanceRecord
from rocars.timeutil import to_rfc3339
from sync.errors import OutboxError
from sync.lane import Session

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS lanes (
    lane TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    session TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX IF NOT EXISTS records_state ON records (state, pos);
CREATE INDEX IF NOT EXISTS records_lane ON records (lane, pos);
"""


@dataclass(frozen=True, slots=True)
class LaneRow:
    lane: str
    last_seq: int
    session: Session | None


@dataclass(frozen=True, slots=True)
class _Write:
    lane: str
    last_seq: int
    session: str | None
    records: list[tuple[str, str, str, str]]
    stamp: str
    after: Callable[[], None] | None = None


@dataclass(slots=True)
class _Op:
    """A write of another part (the uploader's marks, pruning) done by the writer thread."""

    run: Callable[[sqlite3.Connection], int]
    done: threading.Event = field(default_factory=threading.Event)
    result: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class PendingRecord:
    pos: int
    id: str
    body: dict[str, Any]


class Outbox:
    """Lane state + records. Thread-safe (a connection per thread, SQLite serialises writers)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self.new_records = threading.Event()
        self.error = ""
        self._queue: list[_Write | _Op] = []
        self._cond = threading.Condition()
        self._submitted = 0
        self._committed = 0
        self._writer: threading.Thread | None = None
        #: (seconds, changes) of the last commits of the writer, for ``commit_stats``
        self._commits: deque[tuple[float, int]] = deque(maxlen=10_000)
        self._checkpointer: threading.Thread | None = None
        self._checkpoint_due = threading.Event()
        with self._tx() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise OutboxError("outbox is closed")
            try:
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as err:
                raise OutboxError(f"cannot open outbox {self.path}: {err}") from err
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            with conn:
                yield conn
        except sqlite3.Error as err:
            raise OutboxError(f"outbox write failed: {err}") from err

    def _read(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise OutboxError(f"outbox read failed: {err}") from err

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, stop the writer, close every connection."""
        if self._writer is not None:
            self.flush(timeout)
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._writer.join(timeout)
        self._checkpoint_due.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout)
        self._closed = True
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- lanes -------------------------------------------------------------------------

    def lane(self, lane: str) -> LaneRow | None:
        rows = self._read("SELECT last_seq, session FROM lanes WHERE lane = ?", lane)
        if not rows:
            return None
        last_seq, session = rows[0]
        try:
            parsed = None if session is None else Session.model_validate_json(session)
        except ValueError:
            logger.exception("lane %s: stored session does not validate; dropped", lane)
            parsed = None
        return LaneRow(lane, int(last_seq), parsed)

    def save(
        self,
        lane: str,
        last_seq: int,
        session: Session | None,
        records: list[ClearanceRecord],
        now: datetime,
    ) -> None:
        """Lane state and the records of sessions that ended, in one durable transaction.

        Synchronous, for callers without the writer (tools, tests); the lanes use ``submit``.
        """
        stamp = to_rfc3339(now)
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO lanes (lane, last_seq, session, updated_at) "
                "VALUES (?, ?, ?, ?)",
                (lane, last_seq, None if session is None else session.model_dump_json(), stamp),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO records (id, lane, ended_at, body, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (r.id, r.lane, to_rfc3339(r.ended_at), r.model_dump_json(), stamp)
                    for r in records
                ],
            )
        if records:
            self.new_records.set()

    def submit(
        self,
        lane: str,
        last_seq: int,
        session: Session | None,
        records: list[ClearanceRecord],
        now: datetime,
        *,
        after: Callable[[], None] | None = None,
    ) -> None:
        """Queue a lane change for the writer thread (``save`` semantics, committed soon).

        ``after`` runs on the writer thread once the transaction holding this change is
        committed, after the ``after`` of every change submitted before it; never when
        the change is not committed. The lane controller publishes the instructions there.
        """
        write = _Write(
            lane=lane,
            last_seq=last_seq,
            session=None if session is None else session.model_dump_json(),
            records=[(r.id, r.lane, to_rfc3339(r.ended_at), r.model_dump_json()) for r in records],
            stamp=to_rfc3339(now),
            after=after,
        )
        self._enqueue(write)

    def _enqueue(self, item: _Write | _Op) -> None:
        with self._cond:
            if self._closed:
                raise OutboxError("outbox is closed")
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="outbox-writer", daemon=True
                )
                self._writer.start()
                self._checkpointer = threading.Thread(
                    target=self._checkpoint_loop, name="outbox-checkpoint", daemon=True
                )
                self._checkpointer.start()
            self._queue.append(item)
            self._submitted += 1
            self._cond.notify_all()

    def _through_writer(self, run: Callable[[sqlite3.Connection], int], timeout: float) -> int:
        """Run ``run(conn)`` in the writer's next transaction (directly when there is no writer)."""
        with self._cond:
            direct = self._writer is None
        if direct:
            with self._tx() as conn:
                return run(conn)
        op = _Op(run)
        self._enqueue(op)
        if not op.done.wait(timeout):
            raise OutboxError(f"outbox writer busy for {timeout:g} s ({self.error or 'slow disk'})")
        if op.error:
            raise OutboxError(op.error)
        return op.result

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed; False on timeout."""
        with self._cond:
            target = self._submitted
            return self._cond.wait_for(lambda: self._committed >= target, timeout)

    def _checkpoint_loop(self) -> None:
        """Move the WAL into the database beside the writer, never in its commit.

        SQLite's automatic checkpoint runs inside the commit that crosses 1000 WAL pages:
        that commit (and every plate read waiting for it) pays for writing the pages back
        and a second fsync. The writer's connection has it off; this thread runs a
        PASSIVE checkpoint (it never blocks the writer) after every 200 commits.
        """
        while not self._closed:
            self._checkpoint_due.wait()
            self._checkpoint_due.clear()
            if self._closed:
                return
            try:
                self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except (sqlite3.Error, OutboxError) as err:
                logger.warning("outbox checkpoint failed (retried later): %s", err)

    def _write_loop(self) -> None:
        try:
            self._conn().execute("PRAGMA wal_autocheckpoint=0")  # see _checkpoint_loop
        except (sqlite3.Error, OutboxError) as err:
            logger.warning("outbox: automatic checkpoints stay on: %s", err)
        delay = 0.05
        commits = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closed)
                if not self._queue:
                    return  # closed and drained
                batch = list(self._queue)
            started = time.perf_counter()
            try:
                self._commit(batch)
            except OutboxError as err:
                if self._closed:
                    logger.error(
                        "outbox closed with %d lane changes not written: %s", len(batch), err
                    )
                    return
                if self.error != err.key:
                    logger.error("outbox: %d lane changes not written yet: %s", len(batch), err)
                self.error = err.key
                time.sleep(delay)  # the writer's own backoff; lanes go on meanwhile
                delay = min(delay * 2, 5.0)
                continue
            self._commits.append((time.perf_counter() - started, len(batch)))
            commits += 1
            if commits % 200 == 0:
                self._checkpoint_due.set()
            delay = 0.05
            self.error = ""
            with self._cond:
                del self._queue[: len(batch)]
            # committed: now (and only now) the world may hear of it, in submission order
            for item in batch:
                if isinstance(item, _Op):
                    item.done.set()
                elif item.after is not None:
                    try:
                        item.after()
                    except Exception:  # top-level of a callback: the writer must go on
                        logger.exception("outbox: after-commit callback of lane %s", item.lane)
            with self._cond:
                self._committed += len(batch)
                self._cond.notify_all()
            if any(isinstance(w, _Write) and w.records for w in batch):
                self.new_records.set()

    def _commit(self, batch: list[_Write | _Op]) -> None:
        writes = [w for w in batch if isinstance(w, _Write)]
        lanes: dict[str, _Write] = {}
        for write in writes:
            lanes[write.lane] = write
        with self._tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO lanes (lane, last_seq, session, updated_at) "
                "VALUES (?, ?, ?, ?)",
                [(w.lane, w.last_seq, w.session, w.stamp) for w in lanes.values()],
            )
            conn.executemany(
                "INSERT OR IGNORE INTO records (id, lane, ended_at, body, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(*record, w.stamp) for w in writes for record in w.records],
            )
            for op in batch:
                if isinstance(op, _Op):
                    # an op that fails on its own must not hold up the lanes: a savepoint
                    conn.execute("SAVEPOINT op")
                    try:
                        op.result = op.run(conn)
                        op.error = ""
                    except sqlite3.Error as err:
                        conn.execute("ROLLBACK TO op")
                        op.error = f"outbox write failed: {err}"
                    conn.execute("RELEASE op")

    def commit_stats(self) -> dict[str, float]:
        """The writer's last commits: count, ms p50/p99/max, mean changes per commit."""
        commits = list(self._commits)
        if not commits:
            return {}
        took = sorted(t for t, _ in commits)
        n = len(took)
        return {
            "count": n,
            "p50_ms": round(took[n // 2] * 1000, 3),
            "p99_ms": round(took[min(n - 1, int(n * 0.99))] * 1000, 3),
            "max_ms": round(took[-1] * 1000, 3),
            "batch_mean": round(sum(c for _, c in commits) / n, 2),
        }

    # -- records -----------------------------------------------------------------------

    def pending(self, limit: int) -> list[PendingRecord]:
        """The oldest records not yet uploaded (nor rejected)."""
        rows = self._read(
            "SELECT pos, id, body FROM records WHERE state = 'pending' ORDER BY pos LIMIT ?",
            limit,
        )
        return [PendingRecord(int(pos), str(id_), json.loads(body)) for pos, id_, body in rows]

    def mark(
        self, results: dict[str, tuple[str, str | None]], now: datetime, timeout: float = 30.0
    ) -> int:
        """Set uploaded / rejected for pending ids; returns how many rows changed.

        Only ``pending`` rows move, so a record is never marked twice.
        """
        stamp = to_rfc3339(now)
        uploaded = [(stamp, id_) for id_, (state, _) in results.items() if state == "uploaded"]
        rejected = [
            (reason or "", stamp, id_)
            for id_, (state, reason) in results.items()
            if state == "rejected"
        ]

        def run(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "UPDATE records SET state = 'uploaded', done_at = ?, attempts = attempts + 1 "
                "WHERE id = ? AND state = 'pending'",
                uploaded,
            )
            conn.executemany(
                "UPDATE records SET state = 'rejected', reason = ?, done_at = ?, "
                "attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
                rejected,
            )
            return conn.total_changes - before

        return self._through_writer(run, timeout)

    def count(self, state: str = "pending") -> int:
        return int(self._read("SELECT count(*) FROM records WHERE state = ?", state)[0][0])

    def depth(self) -> int:
        """Records waiting for upload."""
        return self.count("pending")

    def rejected(self, limit: int = 100) -> list[tuple[str, str]]:
        """(id, reason) of rejected records, newest first."""
        rows = self._read(
            "SELECT id, reason FROM records WHERE state = 'rejected' ORDER BY pos DESC LIMIT ?",
            limit,
        )
        return [(str(a), str(b or "")) for a, b in rows]

    def recent(self, limit: int = 50, lane: str | None = None) -> list[dict[str, Any]]:
        """The newest records (any state), with their upload state."""
        if lane is None:
            rows = self._read(
                "SELECT body, state, reason FROM records ORDER BY pos DESC LIMIT ?", limit
            )
        else:
            rows = self._read(
                "SELECT body, state, reason FROM records WHERE lane = ? ORDER BY pos DESC LIMIT ?",
                lane,
                limit,
            )
        out = []
        for body, state, reason in rows:
            record = json.loads(body)
            record["upload"] = {"state": state, "reason": reason}
            out.append(record)
        return out

    def prune(self, keep_days: float, now: datetime, timeout: float = 30.0) -> int:
        """Delete uploaded records older than ``keep_days`` (rejected ones are kept)."""
        cutoff = to_rfc3339(now - timedelta(days=keep_days))

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "DELETE FROM records WHERE state = 'uploaded' AND done_at < ?", (cutoff,)
            )
            return cur.rowcount

        return self._through_writer(run, timeout)

"""The outbox: lane state and clearance records, the one file that cannot be rebuilt.

A session's record is written in the same transaction as the lane state change that
ends it, so after a crash either both are there or neither (and then the lane state
still holds the open session, which start-up closes with reason ``agent_restart``).

How a lane change reaches the disk (``submit``):

1. **Written**: the calling thread (paho's, for a plate read) writes the change at once.
   A change without a record (a plate read, a press) is a line appended to the lanes'
   journal (``sync.journal``, 5-20 us), which the checkpoint thread folds into the
   ``lanes`` table now and then; a change with a record is its own transaction on the
   one writer connection (~0.1 ms). WAL mode, ``synchronous=NORMAL``: either is in the
   operating system's hands when it returns, so an agent killed at any later moment
   (crash, OOM, SIGKILL) still has it. No other thread is woken for it.
2. **Flushed**: the flusher thread ``fdatasync``s the WAL and the journal after,
   covering every change since its last flush (a group flush). This is what
   ``synchronous=FULL`` does, moved out of the committing thread: the next lane commits
   while the disk flushes. With ``"write"`` and ``flush_interval_s`` (the agent's
   ``outbox_flush_interval_s``) the flusher waits that long after each flush, and the
   commits meanwhile wake nobody: at 100 lanes a flush and a wake-up for every commit
   (~320 a second) cost the plate reads' p99 about 1 ms (docs/benchmarks.md, tenth
   session). ``flush()`` and ``close`` do not wait for it.

``durability`` says when a change's ``after`` callback runs (the lane controller
publishes its instructions there), always in submission order:

- ``"write"`` (step 1): a display never shows an instruction an agent crash could lose;
  a power cut before the flush could: up to ``flush_interval_s`` plus a flush's time
  (``flush_stats`` measures the flushes). The instruction does not wait for the disk.
- ``"flush"`` (step 2): not even a power cut loses what a display showed; every answer
  waits for one disk flush (1-6 ms p99 on a good SSD, 30 ms and more on a shared VM);
  ``flush_interval_s`` does not apply.

A commit that fails (disk full, I/O error, the file locked by another program) is
retried by the retry thread with backoff; changes submitted meanwhile queue behind it,
so order holds, nothing is dropped and nothing is published before it is written;
``error`` says what is wrong. The uploader's marks and the pruning take the same
writer connection under the same lock (one writer: no SQLite busy waits between ours),
a chunk at a time, each after the lane changes waiting for the writer.

The file carries its schema's version (``PRAGMA user_version``, ``SCHEMA_VERSION``): a
new file is stamped, an older one brought up in place, and one a newer agent wrote is
refused (``OutboxTooNew``) before anything in it is touched. What start-up finds it
cannot read, a stored session that does not validate or a damaged line of the lanes'
journal, is moved as it was to the ``quarantine`` table, never dropped; the lane starts
as after any restart. A record the centre refuses when sent alone is parked (``refuse``):
kept as ``rejected`` with the HTTP status, out of the uploads' way, until
``retry_refused``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from rocars.messages import InstructionCode
from rocars.models import ClearanceRecord
from rocars.threads import start_in_background
from rocars.timeutil import parse_rfc3339, to_rfc3339, utc_now
from sync.config import MAX_FLUSH_INTERVAL_S
from sync.errors import OutboxError, OutboxTooNew
from sync.journal import DamagedLine, LaneJournal, encode, newest
from sync.lane import Session

logger = logging.getLogger(__name__)

Durability = Literal["write", "flush"]

#: A PASSIVE checkpoint (WAL into the database, beside the writer) after this many commits.
CHECKPOINT_EVERY = 500
#: The WAL is cut back to this size when it starts again after a checkpoint (SQLite's
#: ``journal_size_limit``). Without it a burst (an upload backlog marked, a prune, a
#: fold) left the file at its largest for good: SQLite reuses a WAL, never shrinks it.
#: 500 commits of a few 1 KiB pages fit with room to spare.
WAL_KEEP_BYTES = 4 << 20
#: The lanes' journal is folded into the ``lanes`` table once its file is this big (about
#: 20 s of 100 lanes at 2 trucks/s). A fold writes one row a lane whatever the size.
JOURNAL_FOLD_BYTES = 4 << 20
#: A fold writes this many lanes a transaction (a plate read may wait for one).
FOLD_CHUNK = 20
#: A fold that failed is tried again after this long.
FOLD_RETRY_S = 5.0
#: Another program holding the write lock this long counts as an error (before: waiting).
BUSY_GRACE_S = 5.0
#: Uploaded records are pruned this many rows a transaction (the lanes wait for no more).
PRUNE_CHUNK = 500
#: Upload results are marked this many rows a transaction: a batch of 100 in one took
#: the writer for 2-11 ms in the running agent, and a plate read's commit waits for it.
MARK_CHUNK = 20
#: ``error`` once a flush has failed: for good, until the agent restarts (``_flush_loop``)
FLUSH_FAILED = "outbox_flush_failed"
#: Before each of its transactions, a mark or a prune waits (at most this long) while a
#: lane change waits for the writer: the lock alone is not fair, and the thread that
#: has just released it takes it again before a waiting lane thread wakes.
LANE_FIRST_WAIT_S = 0.05
#: The outbox's schema as ``PRAGMA user_version``. 0 is a file from before versions (no
#: ``records.refused_status``, no ``quarantine``), brought up in place when it opens. A
#: file of a higher version is refused and left as it is: a newer agent may have changed
#: what a row, or a line of the lanes' journal, means (a change to either is a new
#: version).
SCHEMA_VERSION = 1
#: Text kept about a refusal or an unreadable state is cut to this many characters.
REASON_MAX = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS lanes (
    lane TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    session TEXT,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    pos INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    lane TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'uploaded', 'rejected')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    done_at TEXT,
    -- version 1: the HTTP status with which the centre refused the record sent alone
    -- (state 'rejected', reason the refusal); NULL for a record it answered 'rejected'
    refused_status INTEGER
);
CREATE INDEX IF NOT EXISTS records_state ON records (state, pos);
-- version 1: what start-up could not read, as it was stored ('lanes': a session that
-- does not validate, its lane row then without it; 'journal': a damaged line, its bytes)
CREATE TABLE IF NOT EXISTS quarantine (
    pos INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    lane TEXT,
    last_seq INTEGER,
    body BLOB NOT NULL,
    error TEXT NOT NULL,
    stamp TEXT,
    quarantined_at TEXT NOT NULL
);
-- A lane change with one record (a session that ended) as one statement, which SQLite
-- runs as one transaction: the trigger writes the record and the lane row, or neither.
CREATE VIEW IF NOT EXISTS lane_ends AS
    SELECT lane, last_seq, session, updated_at, NULL AS record_id, NULL AS record_lane,
        NULL AS ended_at, NULL AS body
    FROM lanes WHERE 0;
CREATE TRIGGER IF NOT EXISTS lane_ends_insert INSTEAD OF INSERT ON lane_ends BEGIN
    INSERT OR IGNORE INTO records (id, lane, ended_at, body, created_at)
        VALUES (NEW.record_id, NEW.record_lane, NEW.ended_at, NEW.body, NEW.updated_at);
    INSERT OR REPLACE INTO lanes (lane, last_seq, session, updated_at)
        VALUES (NEW.lane, NEW.last_seq, NEW.session, NEW.updated_at);
END;
"""

#: The parked records (version 1's column, so made once the file is brought up to it).
#: Rejected records are kept for good, and the refused count, which the status asks for
#: every second, went through all of them: 670 ms a count at a million rejected rows,
#: 0.02 ms through this index (it holds the parked rows only: a lane's write never
#: touches it).
#: Adding it changes no row's meaning: not a new schema version.
REFUSED_INDEX = (
    "CREATE INDEX IF NOT EXISTS records_refused ON records (pos) WHERE refused_status IS NOT NULL"
)
#: Parked records, through ``records_refused``: the unary ``+`` keeps ``records_state``
#: out of the plan, which SQLite would take (an equality on ``state``) and scan every
#: rejected row with.
_REFUSED = "+state = 'rejected' AND refused_status IS NOT NULL"


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


#: a lane's stored state as a ``lanes`` row: lane, last_seq, session JSON, stamp
_LaneState = tuple[str, int, str | None, str]
#: a ``quarantine`` row: source, lane, last_seq, body as stored, error, stamp
_Aside = tuple[str, str | None, int | None, str | bytes, str, str | None]

#: ``count`` by state: a refused record is stored ``rejected`` with its HTTP status. Each
#: walks an index (``records_state``, or ``records_refused`` and the few parked rows), never
#: every rejected row: rejected records are counted as every rejected row less the parked
#: ones.
_COUNTS = {
    "pending": "SELECT count(*) FROM records WHERE state = 'pending'",
    "uploaded": "SELECT count(*) FROM records WHERE state = 'uploaded'",
    "rejected": "SELECT (SELECT count(*) FROM records WHERE state = 'rejected') - "
    f"(SELECT count(*) FROM records WHERE {_REFUSED})",
    "refused": f"SELECT count(*) FROM records WHERE {_REFUSED}",
}


@dataclass(frozen=True, slots=True)
class PendingRecord:
    pos: int
    id: str
    #: the record as stored: its JSON text, which the uploader sends as it is ("" for a
    #: body that is not UTF-8: the uploader keeps it, set aside as unreadable)
    body: str
    #: its stored size in bytes (what it adds to an upload's body)
    size: int = 0


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A clearance record as the outbox holds it, its text not decoded yet: one that does
    not read (a damaged disk, a hand edit) is kept there, and must not hide the others."""

    id: str
    lane: str
    ended_at: str
    body: bytes
    #: its upload state: ``state`` and ``reason``; a parked one ``refused`` with ``status``
    upload: dict[str, Any]


def _stats(samples: list[tuple[float, int]], per: str) -> dict[str, float]:
    if not samples:
        return {}
    took = sorted(t for t, _ in samples)
    n = len(took)
    return {
        "count": n,
        "p50_ms": round(took[n // 2] * 1000, 3),
        "p99_ms": round(took[min(n - 1, int(n * 0.99))] * 1000, 3),
        "max_ms": round(took[-1] * 1000, 3),
        per: round(sum(c for _, c in samples) / n, 2),
    }


class Outbox:
    """Lane state + records. Thread-safe: one writer connection under a lock, a
    connection per thread for reads."""

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = "write",
        flush_interval_s: float = 0.0,
        background_batch: bool = False,
    ) -> None:
        """``background_batch``: the upkeep threads run in ``SCHED_BATCH``
        (``rocars.threads``); the flusher too with ``"write"``, where no answer waits for
        it (with ``"flush"`` every answer does)."""
        if durability not in ("write", "flush"):
            raise ValueError(f"durability must be 'write' or 'flush', not {durability!r}")
        if not 0.0 <= flush_interval_s <= MAX_FLUSH_INTERVAL_S:
            raise ValueError(
                f"flush_interval_s must be 0-{MAX_FLUSH_INTERVAL_S:g} s, not {flush_interval_s!r}"
            )
        #: with "write": after a flush, the next waits this long (``flush()`` cuts it short)
        self.flush_interval_s = flush_interval_s
        self._flush_now = threading.Event()
        self._flush_wanted = 0  # the most lane changes a flush() waits for (under _cond)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.durability: Durability = durability
        self._wal = self.path.with_name(self.path.name + "-wal")
        self._local = threading.local()
        self._lock = threading.Lock()  # the list of connections
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self.new_records = threading.Event()
        self._error = ""
        #: why a flush of the WAL or the journal failed: for good (below, ``_flush_loop``)
        self.flush_failed = ""
        #: the writer connection, its lock, and what waits for a failed commit to go in
        self._wlock = threading.Lock()
        #: lane changes waiting for (or holding) the writer; marks and prunes let them first
        self._lanes_waiting = 0
        self._lanes_done = threading.Condition()
        self._backlog: list[_Write] = []
        #: told (on the submitting thread: it must be quick) when a lane change starts to
        #: wait for the writer: its instruction is not published until it is written,
        #: and the last one published stands before a truck it was not for
        self.on_backlog: Callable[[], None] | None = None
        self._retry_due = threading.Event()  # a change went to the backlog, or closing
        self._busy_since: float | None = None
        #: commits made and flushed so far, flush callbacks waiting (commit number, after)
        self._cond = threading.Condition()
        self._submitted = 0  # lane changes, under _wlock
        self._committed = 0  # transactions
        self._committed_changes_n = 0  # lane changes
        self._flushed = 0  # transactions
        self._delivered = 0  # lane changes flushed, their callbacks run
        self._after_flush: deque[tuple[int, Callable[[], None]]] = deque()
        self._commits: deque[tuple[float, int]] = deque(maxlen=10_000)
        self._flushes: deque[tuple[float, int]] = deque(maxlen=10_000)
        self._threads: list[threading.Thread] = []
        self._checkpoint_due = threading.Event()
        self._sqlite_commits = 0  # what the checkpoints count (the journal's appends are not)
        #: the newest journaled state of each lane not yet folded into SQLite, as a row
        #: (lane, last_seq, session, stamp), under _wlock; and those of the file a fold
        #: is writing to SQLite now
        self._journaled: dict[str, _LaneState] = {}
        self._folding: dict[str, _LaneState] = {}
        self._left = 0  # the journal file being folded
        self._fold_due = False
        self._folds = 0
        # before anything is opened for writing: a newer agent's file (and its journal,
        # whose lines it may write differently) is left exactly as it is
        found = _stored_version(self.path)
        if found > SCHEMA_VERSION:
            raise OutboxTooNew(
                f"outbox {self.path} has schema version {found}, newer than this agent's "
                f"version {SCHEMA_VERSION}: it was written by a newer rocars-edge; run "
                "that version (nothing in the file was changed)"
            )
        try:
            # its lock refuses a second process before anything is written
            self._journal = LaneJournal(self.path)
        except OSError as err:
            raise OutboxError(f"cannot open outbox {self.path}: {err}") from err
        try:
            # timeout 0: a lock held by another program fails the commit at once (then
            # the retry thread waits), never a lane thread in SQLite's busy handler
            self._wconn = self._connect_writer()
            with self._wlock:
                self._wconn.executescript(SCHEMA)
                self._upgrade()
                self._wconn.execute(REFUSED_INDEX)
            self._fsync_wal()
        except (sqlite3.Error, OSError) as err:
            self._journal.close()
            raise OutboxError(f"cannot open outbox {self.path}: {err}") from err
        except OutboxTooNew:  # stamped newer since it was checked (another program)
            self._journal.close()
            self._wconn.close()
            raise
        try:
            self._recover_journal()
            self._check_sessions()
        except (sqlite3.Error, OSError) as err:
            self._journal.close()
            self._wconn.close()
            raise OutboxError(f"cannot fold the lane journal of {self.path}: {err}") from err
        for name, target, background in (
            ("outbox-flusher", self._flush_loop, background_batch and durability == "write"),
            ("outbox-retry", self._retry_loop, background_batch),
            ("outbox-checkpoint", self._checkpoint_loop, background_batch),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            start_in_background(thread, background)
            self._threads.append(thread)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection for reads."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise OutboxError("outbox is closed")
            try:
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.Error as err:
                raise OutboxError(f"cannot open outbox {self.path}: {err}") from err
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @property
    def error(self) -> str:
        """Why lane changes are not being written now ("" when they are); after a failed
        flush, ``FLUSH_FAILED`` whatever a commit since says (no writer clears it)."""
        return FLUSH_FAILED if self.flush_failed else self._error

    @error.setter
    def error(self, value: str) -> None:
        self._error = value

    def _connect_writer(self) -> sqlite3.Connection:
        """The writer connection, set up (sqlite3.Error if it cannot be)."""
        # timeout 0: a lock held by another program fails the commit at once (then the
        # retry thread waits), never a lane thread in SQLite's busy handler
        conn = sqlite3.connect(self.path, timeout=0, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 0")
            # before the file exists (WAL mode fixes it): a commit writes a few small
            # pages, 1 KiB each instead of 4 (measured: the WAL grows 2.3x slower)
            conn.execute("PRAGMA page_size = 1024")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # the flusher syncs (above)
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread does
            conn.execute(f"PRAGMA journal_size_limit = {int(WAL_KEEP_BYTES)}")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the writer connection; the caller holds ``_wlock``."""
        conn = self._wconn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # also when COMMIT itself failed (busy, I/O): the transaction is still open,
            # and the next BEGIN must not find it
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    logger.exception(
                        "outbox: rollback failed: the writer connection is opened anew"
                    )
                    self._writer_anew()
            raise

    def _writer_anew(self) -> None:
        """A writer connection left inside a transaction (its ROLLBACK failed) would take the
        next single-statement writes into that transaction, never committed, while their
        instructions went out: closed (SQLite rolls it back) and opened again. If it cannot
        be, the old one stays and every write fails (``error``) until it can."""
        try:
            fresh = self._connect_writer()
        except sqlite3.Error:
            logger.exception("outbox: the writer connection cannot be opened anew")
            return
        old, self._wconn = self._wconn, fresh
        try:
            old.close()
        except sqlite3.Error:
            logger.exception("outbox: closing the old writer connection failed")

    def _upgrade(self) -> None:
        """Stamp a new file, bring an older one up to ``SCHEMA_VERSION`` (writer lock held,
        the schema's tables made): one transaction, the version read again inside it."""
        with self._transaction() as conn:
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if found > SCHEMA_VERSION:
                raise OutboxTooNew(
                    f"outbox {self.path} has schema version {found}, newer than this "
                    f"agent's version {SCHEMA_VERSION}"
                )
            if found == SCHEMA_VERSION:
                return
            columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
            if "refused_status" not in columns:  # 0 -> 1; the other table is new
                conn.execute("ALTER TABLE records ADD COLUMN refused_status INTEGER")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        logger.info("outbox %s: schema version %d -> %d", self.path, found, SCHEMA_VERSION)

    def _read(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise OutboxError(f"outbox read failed: {err}") from err

    def close(self, timeout: float = 10.0) -> None:
        """Commit and flush what is queued, stop the threads, close every connection."""
        if self._closed:
            return
        if not self.flush(timeout):
            logger.error("outbox closed with %d lane changes not written", len(self._backlog))
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._retry_due.set()
        self._checkpoint_due.set()
        self._flush_now.set()
        for thread in self._threads:
            thread.join(timeout)
        with self._wlock:
            if not self._backlog:  # else the next start folds the journal
                self._fold_all()
            self._journal.close()
            self._wconn.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- lanes -------------------------------------------------------------------------

    def lane(self, lane: str) -> LaneRow | None:
        """The lane's newest stored state: from SQLite or, when newer, the journal."""
        with self._wlock:  # before SQLite: a fold moves a state there, then forgets it
            journaled = [s for s in (self._journaled.get(lane), self._folding.get(lane)) if s]
        rows = self._read("SELECT last_seq, session FROM lanes WHERE lane = ?", lane)
        found = [(seq, text) for _, seq, text, _ in journaled] + [
            (int(seq), text) for seq, text in rows
        ]
        if not found:
            return None
        last_seq, session = max(found, key=lambda row: row[0])
        if session is None:
            return LaneRow(lane, int(last_seq), None)
        parsed, problem = _parse_session(session)
        if parsed is not None:
            return LaneRow(lane, int(last_seq), parsed)
        # start-up set every such session aside (``_check_sessions``): not seen here
        # unless the file was changed by hand since; set aside too, never dropped
        self._write_now(
            functools.partial(
                _set_aside_sessions, rows=[(lane, int(last_seq), session, None, problem)]
            ),
            30.0,
        )
        return LaneRow(lane, int(last_seq), None)

    def save(
        self,
        lane: str,
        last_seq: int,
        session: Session | None,
        records: list[ClearanceRecord],
        now: datetime,
        timeout: float = 10.0,
    ) -> None:
        """Lane state and the records of sessions that ended, committed and flushed.

        For callers that want to wait (tools, tests); the lanes use ``submit``. A change
        that cannot be written raises OutboxError and is not kept.
        """
        write = _prepare(lane, last_seq, session, records, now, None)
        with self._wlock:
            if self._closed:
                raise OutboxError("outbox is closed")
            if self._backlog:
                raise OutboxError("outbox: lane changes are waiting for the disk")
            try:
                with self._transaction() as conn:
                    _write_changes(conn, [write])
            except sqlite3.Error as err:
                raise OutboxError(f"outbox write failed: {err}") from err
            self._submitted += 1
            self._committed_changes([write])
        if not self.flush(timeout):
            raise OutboxError(f"outbox: change not on disk after {timeout:g} s ({self.error})")

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
        """Commit a lane change now (or queue it behind a failed one, see the module doc).

        ``after`` runs once the change is written (``durability="write"``: in this call,
        on this thread) or flushed (``"flush"``: on the flusher thread), after the
        ``after`` of every change submitted before it; never when the change is not
        committed. The lane controller publishes the instructions there.
        """
        write = _prepare(lane, last_seq, session, records, now, after)
        # a change without a record goes to the journal: its line made before the lock
        line = None if records else encode(lane, last_seq, write.stamp, write.session)
        with self._lanes_done:
            self._lanes_waiting += 1
        try:
            with self._wlock:
                if self._closed:
                    raise OutboxError("outbox is closed")
                self._submitted += 1
                if line is not None and not self._backlog and self._append(write, line):
                    self._committed_changes([write], journaled=True)
                    return
                if self._backlog or not self._try_commit([write]):
                    self._backlog.append(write)  # the retry thread takes it from here
                    self._retry_due.set()
                    if len(self._backlog) == 1 and self.on_backlog is not None:
                        self.on_backlog()
                    return
                self._committed_changes([write])
        finally:
            with self._lanes_done:
                self._lanes_waiting -= 1
                if not self._lanes_waiting:
                    self._lanes_done.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is committed and flushed; False on timeout
        (at once once a flush has failed: nothing more is, ``flush_failed``)."""
        target = self._submitted
        with self._cond:
            if self._delivered >= target:
                return True
            self._flush_wanted = max(self._flush_wanted, target)
            self._flush_now.set()  # the flusher does not wait out its interval for this
            return (
                self._cond.wait_for(
                    lambda: self._delivered >= target or bool(self.flush_failed), timeout
                )
                and self._delivered >= target
            )

    # -- the writer (callers hold _wlock) ----------------------------------------------

    def _try_commit(self, writes: list[_Write]) -> bool:
        """One transaction for ``writes``; False (and ``error`` set) when it failed."""
        started = time.perf_counter()
        try:
            if self._wconn.in_transaction:  # left open (a failed ROLLBACK): not written into
                self._writer_anew()
                if self._wconn.in_transaction:
                    raise sqlite3.OperationalError("the writer connection is inside a transaction")
            if len(writes) == 1 and len(writes[0].records) <= 1:
                # one lane change with at most one record (every change a lane makes):
                # one statement, its own transaction. Each SQLite call lets the GIL go,
                # and another thread may keep it a while (holding the writer meanwhile):
                # one call here instead of four (BEGIN, two inserts, COMMIT)
                w = writes[0]
                if w.records:
                    self._wconn.execute(
                        _INSERT_LANE_END, (w.lane, w.last_seq, w.session, w.stamp, *w.records[0])
                    )
                else:
                    self._wconn.execute(_UPSERT_LANE, (w.lane, w.last_seq, w.session, w.stamp))
            else:
                with self._transaction() as conn:
                    _write_changes(conn, writes)
        except sqlite3.Error as err:
            self._failed(err, len(writes))
            return False
        self._commits.append((time.perf_counter() - started, len(writes)))
        self._busy_since = None
        if self.error and not self.flush_failed:
            logger.warning("outbox: writing again (%d lane changes waited)", len(writes))
        self.error = ""
        return True

    def _failed(self, err: sqlite3.Error, changes: int) -> None:
        busy = _is_busy(err)
        now = time.monotonic()
        if busy:
            # another program (a shell, a backup) holds the write lock: wait a while first
            self._busy_since = self._busy_since or now
            if now - self._busy_since < BUSY_GRACE_S:
                return
        key = OutboxError.key
        if self.error != key:
            logger.error("outbox: %d lane changes not written yet (retried): %s", changes, err)
        self.error = key

    def _append(self, write: _Write, line: bytes) -> bool:
        """A change without a record, as its journal line; False when it did not go in
        (the caller commits it to SQLite instead)."""
        started = time.perf_counter()
        journal = self._journal
        if not journal.append(line):
            return False
        self._journaled[write.lane] = (write.lane, write.last_seq, write.session, write.stamp)
        self._commits.append((time.perf_counter() - started, 1))
        if journal.size >= JOURNAL_FOLD_BYTES and not self._fold_due:
            self._fold_due = True
            self._checkpoint_due.set()
        return True

    def _committed_changes(self, writes: list[_Write], *, journaled: bool = False) -> None:
        """After a commit (or a journal append): run or queue the callbacks, count it,
        wake the flusher.

        With ``"write"`` the callbacks run first: once ``flush`` sees the change
        counted, its instructions are out.
        """
        if self.durability == "write":
            _run_callbacks(w.after for w in writes)
        with self._cond:
            self._committed += 1
            self._committed_changes_n += len(writes)
            number = self._committed
            if self.durability == "flush" and not self.flush_failed:
                # after a failed flush none runs (``_flush_loop``): queued, they grew the
                # memory by every lane change until the restart (found in review)
                self._after_flush.extend((number, w.after) for w in writes if w.after)
            self._cond.notify_all()
        if journaled:
            return
        self._sqlite_commits += 1
        if self._sqlite_commits % CHECKPOINT_EVERY == 0:
            self._checkpoint_due.set()
        if any(w.records for w in writes):
            self.new_records.set()

    def _write_now(self, run: Callable[[sqlite3.Connection], int], timeout: float) -> int:
        """Run ``run(conn)`` in a transaction of its own on the writer connection, after
        the lane changes waiting for it (``LANE_FIRST_WAIT_S`` at most)."""
        with self._lanes_done:
            self._lanes_done.wait_for(lambda: not self._lanes_waiting, LANE_FIRST_WAIT_S)
        if not self._wlock.acquire(timeout=timeout):
            raise OutboxError(f"outbox writer busy for {timeout:g} s ({self.error or 'slow disk'})")
        try:
            if self._closed:
                raise OutboxError("outbox is closed")
            try:
                with self._transaction() as conn:
                    result = run(conn)
            except sqlite3.Error as err:
                if _is_busy(err):
                    raise OutboxError(f"outbox busy (another program writes): {err}") from err
                raise OutboxError(f"outbox write failed: {err}") from err
            with self._cond:
                self._committed += 1
                self._cond.notify_all()
            return result
        finally:
            self._wlock.release()

    # -- threads -----------------------------------------------------------------------

    def _retry_loop(self) -> None:
        """Commit the backlog (changes a failed commit held up), with backoff."""
        delay = 0.05
        while True:
            if not self._backlog:  # its own wake-up: not one per commit (checked below)
                self._retry_due.wait(1.0)
                self._retry_due.clear()
            with self._wlock:
                if not self._backlog:
                    if self._closed:
                        return
                    continue
                batch = list(self._backlog)
                if self._try_commit(batch):
                    del self._backlog[: len(batch)]
                    self._committed_changes(batch)
                    delay = 0.05
                    continue
                if self._closed:
                    logger.error("outbox closed with %d lane changes not written", len(batch))
                    return
            time.sleep(delay)  # lanes go on meanwhile; their changes queue behind
            delay = min(delay * 2, 5.0)

    def _fsync_wal(self) -> None:
        """``fdatasync`` the WAL (or the database when there is no WAL file)."""
        try:
            fd = os.open(self._wal, os.O_RDONLY)
        except FileNotFoundError:
            fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def _flush_loop(self) -> None:
        """Flush the WAL after commits (one flush for all made meanwhile), then run the
        callbacks of ``durability="flush"``; a flush that fails ends it (``flush_failed``)."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._committed > self._flushed or self._closed)
                if self._committed == self._flushed:
                    return  # closed, all flushed
                target = self._committed
                changes = self._committed_changes_n
            started = time.perf_counter()
            try:
                self._fsync_wal()
                self._journal.sync()
            except OSError as err:
                # For good: after a failed fsync the kernel may have dropped the pages it
                # could not write and marked them clean, so a later flush that succeeds
                # says nothing of them ("fsyncgate"). No more callbacks (with "flush",
                # no instruction goes out that is not on disk), ``error`` stays set (the
                # status is offline: the displays fail closed) until a restart, when
                # SQLite and the journal recover from what is on the disk.
                self.flush_failed = f"{type(err).__name__}: {err}"
                self.error = FLUSH_FAILED
                logger.critical(
                    "outbox: flushing %s to disk failed (%s): nothing more is confirmed"
                    " written; restart the agent",
                    self.path,
                    err,
                )
                with self._cond:
                    self._cond.notify_all()
                return
            with self._cond:
                self._flushes.append((time.perf_counter() - started, target - self._flushed))
                self._flushed = target
                ready = []
                while self._after_flush and self._after_flush[0][0] <= target:
                    ready.append(self._after_flush.popleft()[1])
            _run_callbacks(ready)
            with self._cond:
                self._delivered = changes
                if self._flush_wanted <= changes and not self._closed:
                    self._flush_now.clear()  # every flush() waiting is served
                self._cond.notify_all()
            if self.durability == "write" and self.flush_interval_s:
                # commits meanwhile wake nobody: the flusher is not waiting on _cond
                self._flush_now.wait(self.flush_interval_s)

    def _checkpoint_loop(self) -> None:
        """Move the WAL into the database beside the writer, never in a lane's commit.

        SQLite's automatic checkpoint runs inside the commit that crosses 1000 WAL pages:
        that commit (and the plate read waiting for it) would pay for writing the pages
        back. The writer has it off; this thread runs a PASSIVE checkpoint (it never
        blocks the writer) every ``CHECKPOINT_EVERY`` commits.
        """
        while not self._closed:
            self._checkpoint_due.wait(FOLD_RETRY_S if self._fold_due else None)
            self._checkpoint_due.clear()
            if self._closed:
                return
            if self._fold_due:
                self._fold()
            try:
                self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except (sqlite3.Error, OutboxError) as err:
                logger.warning("outbox checkpoint failed (retried later): %s", err)

    # -- the lanes' journal (sync.journal) ----------------------------------------------

    def _fold(self) -> None:
        """The journal's newest lane states into the ``lanes`` table (checkpoint thread).

        Appends switch to the other file first (it is empty), so the lanes go on while
        the states of the file left behind are written, ``FOLD_CHUNK`` lanes a
        transaction, each only over an older row (a session end may have come since);
        once the WAL is synced the file is emptied. A fold that fails is tried again
        (``FOLD_RETRY_S``), the same file left behind.
        """
        if self.flush_failed:
            return  # a fold ends in a flush and the journal emptied: nothing is sure now
        with self._wlock:
            if not self._folding:
                if not self._journal.empty(1 - self._journal.current):
                    # a fold that failed before it took its snapshot cannot happen; a
                    # file left behind by one that did is still in _folding
                    logger.error("lane journal: the other file is not empty; fold skipped")
                    return
                self._folding, self._journaled = self._journaled, {}
                self._left = self._journal.switch()
            rows = list(self._folding.values())
        try:
            for start in range(0, len(rows), FOLD_CHUNK):
                self._write_now(
                    functools.partial(_fold_rows, rows=rows[start : start + FOLD_CHUNK]), 30.0
                )
            self._fsync_wal()
            with self._wlock:
                self._journal.clear(self._left)
                self._folding = {}
                self._folds += 1
                self._fold_due = self._journal.size >= JOURNAL_FOLD_BYTES
        except (OutboxError, OSError) as err:
            logger.warning("lane journal: fold failed (retried): %s", err)

    def _recover_journal(self) -> None:
        """At start: what the journal holds (a crash, a power cut, a stop that could not
        fold) into the ``lanes`` table, synced, then both files emptied."""
        entries, damaged = self._journal.scan()
        rows = [(e.lane, e.last_seq, e.session, e.stamp) for e in newest(entries).values()]
        with self._wlock:
            self._fold_now(rows, [_damaged_aside(line) for line in damaged], at_start=True)
        if entries:
            logger.info(
                "lane journal: %d lane states from %d entries folded", len(rows), len(entries)
            )
        if damaged:
            logger.error(
                "lane journal: %d damaged lines kept in the quarantine table of %s",
                len(damaged),
                self.path,
            )

    def _check_sessions(self) -> None:
        """At start, after the journal's fold: every stored session this version cannot
        read is moved, as stored, to ``quarantine`` and its lane row keeps its seq with no
        session. Dropped (as before), the lane's first change overwrote it: a session
        whose instructions a display showed was then in no record and nowhere on disk."""
        with self._wlock:
            stored = self._wconn.execute(
                "SELECT lane, last_seq, session, updated_at FROM lanes WHERE session IS NOT NULL"
            ).fetchall()
            unreadable = [
                (str(lane), int(seq), text, stamp, problem)
                for lane, seq, text, stamp in stored
                if (problem := _parse_session(text)[1])
            ]
            if not unreadable:
                return
            with self._transaction() as conn:
                _set_aside_sessions(conn, unreadable)
            self._fsync_wal()

    def quarantined(self, limit: int = 100) -> list[dict[str, Any]]:
        """What start-up could not read, oldest first: ``source`` (``lanes``: a stored
        session; ``journal``: a damaged line), ``lane``, ``last_seq``, ``body`` as it was
        stored (a line's bytes), ``error``, ``stamp``, ``quarantined_at``."""
        rows = self._read(
            "SELECT source, lane, last_seq, body, error, stamp, quarantined_at "
            "FROM quarantine ORDER BY pos LIMIT ?",
            limit,
        )
        names = ("source", "lane", "last_seq", "body", "error", "stamp", "quarantined_at")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def set_aside(self, lane: str, last_seq: int, session: str, problem: str) -> None:
        """A lane's stored session kept in ``quarantine`` (``source`` ``lanes``), never
        dropped: one the lane could not end at start (its record cannot be made)."""
        logger.error(
            "lane %s: its stored session (seq %d) kept in the outbox's quarantine table: %s",
            lane,
            last_seq,
            problem,
        )

        def run(conn: sqlite3.Connection) -> int:
            _insert_aside(conn, [("lanes", lane, last_seq, session, problem, None)])
            return 1

        self._write_now(run, 30.0)
        try:  # on disk before the lane's READY (a journal line) replaces the session
            self._fsync_wal()
        except OSError as err:
            raise OutboxError(f"outbox: {self.path} not synced: {err}") from err

    def quarantine_count(self) -> int:
        return int(self._read("SELECT count(*) FROM quarantine")[0][0])

    def _fold_all(self) -> None:
        """At close (writer lock held): every state still journaled into SQLite, synced,
        the files emptied, so a stopped agent's ``outbox.db`` is all there is. On failure
        the files stay, and the next start folds them."""
        if self.flush_failed:
            # the journal stays as it is: emptied after a flush that says nothing, the
            # states it holds could be lost with the WAL frames the kernel dropped
            logger.error("lane journal: not folded at close (a flush failed); the next start does")
            return
        # a lane's state appended since the fold began is newer than the one it folds
        pending = {**self._folding, **self._journaled}
        try:
            self._fold_now(list(pending.values()))
            self._folding, self._journaled = {}, {}
        except (sqlite3.Error, OSError) as err:
            logger.error("lane journal: not folded at close (the next start does): %s", err)

    def _fold_now(
        self, rows: list[_LaneState], aside: list[_Aside] | None = None, *, at_start: bool = False
    ) -> None:
        """``rows`` into the ``lanes`` table (and ``aside``, damaged lines, into
        ``quarantine``) in one transaction, the WAL synced, then both journal files
        emptied (writer lock held; start-up and close). At start, a stored open session
        a row replaces with no record of it is kept in ``quarantine`` (``_unrecorded``)."""
        if rows or aside:
            with self._transaction() as conn:
                lost = _unrecorded(conn, rows) if at_start else []
                _fold_rows(conn, rows)
                _insert_aside(conn, [*(aside or []), *lost])
            self._fsync_wal()
        self._journal.clear_all()

    def commit_stats(self) -> dict[str, float]:
        """The last commits: count, ms p50/p99/max, mean lane changes per commit."""
        return _stats(list(self._commits), "changes_mean")

    def flush_stats(self) -> dict[str, float]:
        """The last WAL flushes: count, ms p50/p99/max, mean commits per flush.

        With ``durability="write"`` a flush's time, plus ``flush_interval_s`` before it,
        is how long the last commits could still be lost to a power cut after their
        instructions went out.
        """
        return _stats(list(self._flushes), "commits_mean")

    def journal_stats(self) -> dict[str, int]:
        """The lanes' journal: bytes in its files, appends that failed (then written to
        SQLite), folds into the ``lanes`` table since the outbox opened."""
        return {
            "bytes": self._journal.total_bytes(),
            "failures": self._journal.failures,
            "folds": self._folds,
        }

    # -- records -----------------------------------------------------------------------

    def pending(self, limit: int) -> list[PendingRecord]:
        """The oldest records not yet uploaded (nor rejected), each its stored JSON text."""
        return self._pending("ASC", limit)

    def newest_pending(self) -> PendingRecord | None:
        """The newest record not yet uploaded (nor rejected), or None."""
        return next(iter(self._pending("DESC", 1)), None)

    def _pending(self, order: Literal["ASC", "DESC"], limit: int) -> list[PendingRecord]:
        rows = self._read(
            "SELECT pos, id, CAST(body AS BLOB) FROM records WHERE state = 'pending' "
            f"ORDER BY pos {order} LIMIT ?",
            limit,
        )
        # the body as stored bytes (CAST AS BLOB): its length is what it adds to an upload
        return [
            PendingRecord(int(pos), str(id_), _text(body), len(body)) for pos, id_, body in rows
        ]

    def mark(
        self, results: dict[str, tuple[str, str | None]], now: datetime, timeout: float = 30.0
    ) -> int:
        """Set uploaded / rejected for pending ids; returns how many rows changed.

        Only ``pending`` rows move, so a record is never marked twice. ``MARK_CHUNK`` ids
        a transaction, so lane changes go in between: when one fails (OutboxError), the
        chunks before it stay marked and the rest stay pending, to be sent again and
        answered ``duplicate`` (the event id is the idempotency key).
        """
        stamp = to_rfc3339(now)
        items = list(results.items())
        total = 0
        for start in range(0, len(items), MARK_CHUNK):
            chunk = items[start : start + MARK_CHUNK]
            uploaded = [(stamp, id_) for id_, (state, _) in chunk if state == "uploaded"]
            rejected = [
                (reason or "", stamp, id_) for id_, (state, reason) in chunk if state == "rejected"
            ]

            def run(
                conn: sqlite3.Connection,
                uploaded: list[tuple[str, str]] = uploaded,
                rejected: list[tuple[str, str, str]] = rejected,
            ) -> int:
                before = conn.total_changes
                conn.executemany(
                    "UPDATE records SET state = 'uploaded', done_at = ?, attempts = attempts + 1"
                    " WHERE id = ? AND state = 'pending'",
                    uploaded,
                )
                conn.executemany(
                    "UPDATE records SET state = 'rejected', reason = ?, done_at = ?, "
                    "attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
                    rejected,
                )
                return conn.total_changes - before

            total += self._write_now(run, timeout)
        return total

    def refuse(
        self, record_id: str, status: int, reason: str, now: datetime, timeout: float = 30.0
    ) -> int:
        """Park a pending record the centre refused when sent alone (HTTP ``status``):
        kept, never deleted nor pruned, stored ``rejected`` with ``refused_status`` and
        the reason (cut to ``REASON_MAX``), no longer sent until ``retry_refused``."""

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE records SET state = 'rejected', refused_status = ?, reason = ?, "
                "done_at = ?, attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
                (status, reason[:REASON_MAX], to_rfc3339(now), record_id),
            )
            return cur.rowcount

        return self._write_now(run, timeout)

    def refused(self, limit: int = 100) -> list[tuple[str, int, str]]:
        """(id, HTTP status, reason) of the records the centre refused, newest first."""
        rows = self._read(
            f"SELECT id, refused_status, reason FROM records WHERE {_REFUSED} "
            "ORDER BY pos DESC LIMIT ?",
            limit,
        )
        return [(str(a), int(b), str(c or "")) for a, b, c in rows]

    def retry_refused(self, timeout: float = 30.0) -> int:
        """Every refused record back in the queue (the agent does it once at start); how
        many. ``PRUNE_CHUNK`` rows a transaction, so lanes wait for one chunk at most."""

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE records SET state = 'pending', refused_status = NULL, reason = NULL, "
                f"done_at = NULL WHERE pos IN (SELECT pos FROM records WHERE {_REFUSED} LIMIT ?)",
                (PRUNE_CHUNK,),
            )
            return cur.rowcount

        total = 0
        while (moved := self._write_now(run, timeout)) > 0:
            total += moved
        if total:
            self.new_records.set()
        return total

    def count(self, state: str = "pending") -> int:
        """Records in ``state``: pending, uploaded, rejected (by the centre's answer) or
        refused (an HTTP refusal of the record alone)."""
        sql = _COUNTS.get(state)
        if sql is None:
            raise ValueError(f"no record state {state!r}")
        return int(self._read(sql)[0][0])

    def depth(self) -> int:
        """Records waiting for upload."""
        return self.count("pending")

    @property
    def waiting(self) -> int:
        """Lane changes waiting for the writer (another program holds its lock, the disk
        is full): decided, neither written nor published."""
        return len(self._backlog)

    def lanes_left_open(self) -> list[str]:
        """The lanes whose stored state holds an open session, by name (the journal is
        folded into ``lanes`` when the outbox opens)."""
        rows = self._read("SELECT lane FROM lanes WHERE session IS NOT NULL ORDER BY lane")
        return [str(row[0]) for row in rows]

    def oldest_pending_at(self) -> datetime | None:
        """When the oldest record waiting for upload ended (None: none waits). With the
        depth it tells a queue that moves from one that is stuck: a record the centre
        never answers for is sent again for ever (nothing accepted is dropped)."""
        rows = self._read(
            "SELECT ended_at FROM records WHERE state = 'pending' ORDER BY pos LIMIT 1"
        )
        if not rows:
            return None
        try:
            return parse_rfc3339(str(rows[0][0]))
        except ValueError:  # a row written by hand: the queue's age is then unknown
            return None

    def rejected(self, limit: int = 100) -> list[tuple[str, str]]:
        """(id, reason) of the records the centre answered rejected, newest first."""
        rows = self._read(
            "SELECT id, reason FROM records WHERE state = 'rejected' AND refused_status IS NULL"
            " ORDER BY pos DESC LIMIT ?",
            limit,
        )
        return [(str(a), str(b or "")) for a, b in rows]

    def stored(self, limit: int = 50, lane: str | None = None) -> list[StoredRecord]:
        """The newest records (any state), newest first, as stored: the body as bytes (one
        that is not UTF-8 would fail the whole query as text), with the upload state."""
        where, args = ("WHERE lane = ? ", (lane, limit)) if lane is not None else ("", (limit,))
        rows = self._read(
            "SELECT id, lane, ended_at, CAST(body AS BLOB), state, reason, refused_status "
            f"FROM records {where}ORDER BY pos DESC LIMIT ?",
            *args,
        )
        return [
            StoredRecord(
                str(id_),
                str(lane_),
                str(ended_at),
                bytes(body),
                {"state": state, "reason": reason}
                if refused_status is None
                else {"state": "refused", "status": refused_status, "reason": reason},
            )
            for id_, lane_, ended_at, body, state, reason, refused_status in rows
        ]

    def inspected_since(self, since: datetime) -> list[ClearanceRecord]:
        """The records ended at or after ``since`` that showed INSPECT, oldest first (what
        the lanes recall after a restart: ``sync.lane.Inspections``). The newest records
        are walked back (by ``pos``, the table's key: no scan of a week of records) until
        one ended before ``since``; one that does not read is left out and logged."""
        cutoff = to_rfc3339(since)
        found: list[ClearanceRecord] = []
        try:
            cursor = self._conn().execute(
                "SELECT id, ended_at, CAST(body AS BLOB) FROM records ORDER BY pos DESC"
            )
            while rows := cursor.fetchmany(500):
                for id_, ended_at, body in rows:
                    if ended_at < cutoff:
                        return found[::-1]
                    if b'"INSPECT"' not in body:
                        continue
                    try:
                        record = ClearanceRecord.model_validate_json(body)
                    except ValidationError as err:
                        logger.error("outbox: record %s does not read, not recalled: %s", id_, err)
                        continue
                    if any(i.code is InstructionCode.INSPECT for i in record.instructions):
                        found.append(record)
        except sqlite3.Error as err:
            raise OutboxError(f"outbox read failed: {err}") from err
        return found[::-1]

    def recent(self, limit: int = 50, lane: str | None = None) -> list[dict[str, Any]]:
        """The newest records (any state), decoded, with their upload state (``upload``);
        ``ValueError`` for one that does not read (``/records`` reads ``stored``)."""
        out = []
        for row in self.stored(limit, lane):
            record = json.loads(row.body)
            record["upload"] = row.upload
            out.append(record)
        return out

    def prune(self, keep_days: float, now: datetime, timeout: float = 30.0) -> int:
        """Delete uploaded records older than ``keep_days`` (rejected ones are kept).

        In chunks of ``PRUNE_CHUNK`` rows, each its own transaction: a lane that commits
        meanwhile waits for one chunk at most.
        """
        cutoff = to_rfc3339(now - timedelta(days=keep_days))

        def run(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "DELETE FROM records WHERE pos IN (SELECT pos FROM records "
                "WHERE state = 'uploaded' AND done_at < ? LIMIT ?)",
                (cutoff, PRUNE_CHUNK),
            )
            return cur.rowcount

        total = 0
        while (deleted := self._write_now(run, timeout)) > 0:
            total += deleted
        return total


def _prepare(
    lane: str,
    last_seq: int,
    session: Session | None,
    records: list[ClearanceRecord],
    now: datetime,
    after: Callable[[], None] | None,
) -> _Write:
    """The change as rows (serialised outside the writer's lock)."""
    return _Write(
        lane=lane,
        last_seq=last_seq,
        session=None if session is None else session.model_dump_json(),
        records=[(r.id, r.lane, to_rfc3339(r.ended_at), r.model_dump_json()) for r in records],
        stamp=to_rfc3339(now),
        after=after,
    )


_UPSERT_LANE = (
    "INSERT OR REPLACE INTO lanes (lane, last_seq, session, updated_at) VALUES (?, ?, ?, ?)"
)
_INSERT_LANE_END = (
    "INSERT INTO lane_ends (lane, last_seq, session, updated_at, record_id, record_lane, "
    "ended_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _write_changes(conn: sqlite3.Connection, writes: list[_Write]) -> None:
    """Lane states (the last of each lane) and every record of ``writes``."""
    lanes = {w.lane: w for w in writes}
    conn.executemany(
        _UPSERT_LANE, [(w.lane, w.last_seq, w.session, w.stamp) for w in lanes.values()]
    )
    records = [(*record, w.stamp) for w in writes for record in w.records]
    if records:
        conn.executemany(
            "INSERT OR IGNORE INTO records (id, lane, ended_at, body, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            records,
        )


_FOLD_LANE = (
    "INSERT INTO lanes (lane, last_seq, session, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (lane) DO UPDATE SET last_seq = excluded.last_seq, "
    "session = excluded.session, updated_at = excluded.updated_at "
    "WHERE excluded.last_seq > lanes.last_seq"
)


def _unrecorded(conn: sqlite3.Connection, rows: list[_LaneState]) -> list[_Aside]:
    """The stored open sessions that ``rows`` (journaled lane states, newer) replace with
    another session or none while no record of them was written: a power cut can keep a
    journal line and lose the write before it that ended the stored session (its record
    and READY; the kernel may write the journal's page first). Replaced, the session
    whose instructions a display showed was in no record and nowhere on disk (found in
    review); kept in ``quarantine`` instead, and logged."""
    aside: list[_Aside] = []
    for lane, last_seq, session, _ in rows:
        stored = conn.execute(
            "SELECT last_seq, session, updated_at FROM lanes WHERE lane = ?", (lane,)
        ).fetchone()
        if stored is None or stored[1] is None or int(stored[0]) >= last_seq:
            continue
        old_id, new_id = _session_id(stored[1]), _session_id(session)
        if old_id is not None and old_id == new_id:
            continue  # the same session, changed since
        if (
            old_id is not None
            and conn.execute("SELECT 1 FROM records WHERE id = ?", (old_id,)).fetchone()
        ):
            continue  # ended, its record written
        problem = (
            f"replaced at start by a newer journal line (seq {last_seq}) with no record "
            "of it: the write that ended it was lost (a power cut)"
        )
        logger.error(
            "lane %s: its stored session %s (seq %d) kept in the outbox's quarantine table: %s",
            lane,
            old_id or "(unreadable)",
            int(stored[0]),
            problem,
        )
        aside.append(("lanes", lane, int(stored[0]), stored[1], problem, stored[2]))
    return aside


def _session_id(text: str | bytes | None) -> str | None:
    """A stored session's id, or None (none, or not readable)."""
    if text is None:
        return None
    try:
        found = json.loads(text).get("id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return found if isinstance(found, str) else None


def _fold_rows(conn: sqlite3.Connection, rows: list[_LaneState]) -> int:
    """Journaled lane states (lane, last_seq, session, stamp), each only over an older row."""
    conn.executemany(_FOLD_LANE, rows)
    return len(rows)


def _text(body: bytes) -> str:
    """A stored body as text; "" when it is not UTF-8 (as text it failed the whole query,
    and the uploader stalled on it: now it sets it aside as unreadable, kept)."""
    try:
        return bytes(body).decode()
    except UnicodeDecodeError:
        return ""


def _stored_version(path: Path) -> int:
    """A file's ``user_version`` (0 when there is no file yet), read through a read-only
    connection: it sees what is in the WAL too, and its close never checkpoints, so a
    file it refuses is not written at all (a writer's last close would write the WAL back)."""
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as err:
        raise OutboxError(f"cannot open outbox {path}: {err}") from err
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as err:
        raise OutboxError(f"cannot read the schema version of outbox {path}: {err}") from err
    finally:
        conn.close()


def _parse_session(text: str | bytes) -> tuple[Session | None, str]:
    """A stored session, or None and why it does not validate (cut to ``REASON_MAX``)."""
    try:
        return Session.model_validate_json(text), ""
    except ValueError as err:
        return None, str(err)[:REASON_MAX] or "does not validate"


def _damaged_aside(line: DamagedLine) -> _Aside:
    return ("journal", None, None, line.line, f"{line.path.name} line {line.number}: damaged", None)


def _insert_aside(conn: sqlite3.Connection, rows: list[_Aside]) -> None:
    if rows:
        now = to_rfc3339(utc_now())
        conn.executemany(
            "INSERT INTO quarantine (source, lane, last_seq, body, error, stamp, quarantined_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*row, now) for row in rows],
        )


def _set_aside_sessions(
    conn: sqlite3.Connection, rows: list[tuple[str, int, str | bytes, str | None, str]]
) -> int:
    """Stored sessions that do not validate (lane, last_seq, text, stamp, error) into
    ``quarantine``, each lane row left with its seq and no session (in the caller's
    transaction); logged, one line a lane."""
    for lane, last_seq, _, _, problem in rows:
        logger.error(
            "lane %s: its stored session (seq %d) does not validate, kept in the outbox's "
            "quarantine table; the lane starts without it: %s",
            lane,
            last_seq,
            problem.replace("\n", " "),
        )
    _insert_aside(
        conn, [("lanes", lane, seq, text, err, stamp) for lane, seq, text, stamp, err in rows]
    )
    conn.executemany(
        "UPDATE lanes SET session = NULL WHERE lane = ? AND last_seq = ? AND session = ?",
        [(lane, seq, text) for lane, seq, text, _, _ in rows],
    )
    return len(rows)


def _is_busy(err: sqlite3.Error) -> bool:
    """Another connection (another program: ours share one writer) holds the write lock."""
    return isinstance(err, sqlite3.OperationalError) and "locked" in str(err)


def _run_callbacks(callbacks: Iterable[Callable[[], None] | None]) -> None:
    for after in callbacks:
        if after is None:
            continue
        try:
            after()
        except Exception:  # top-level of a callback: the writer must go on
            logger.exception("outbox: after-commit callback failed")

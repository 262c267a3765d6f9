"""The trucks told INSPECT, shared by the agents (shards) of one data folder.

``sync.lane.Inspections`` is one agent's memory of the trucks it told INSPECT lately: read
again within the window at any of its lanes, such a truck is told INSPECT again. Shards
of a site split its lanes between agents, so a truck told INSPECT at one shard's lane
that backed out and queued at another shard's lane was decided afresh there (an unladen
one drew the sampling share again). The shards share a data folder (the replica), so
each also writes the plates it tells INSPECT into ``inspections.db`` there, and takes
the others' into its own memory every ``poll_s`` (0.5 s: far less than a truck needs to
reach another lane). Started, a shard takes what the others told within the window.
Each row names the direction of the shard that told it: the import and export shards of
a control point share the folder, and a truck told INSPECT coming in (its import bundle's
selection, or the unladen share) and leaving within the hour is not told INSPECT again on
its way out for it (its export bundle, or the share, decide). A row written before the
column (or by a log given no direction) is every shard's, as all rows were before. A row
of a plate that was not the truck's own (a runner-up of its read, which may be the next
truck's plate: ``Inspections.remember``) names the truck's own plates (``told_with``),
so a shard that takes it knows it as the lane that told it did; a row of a truck's own
plate names them too (itself among them: the truck's plates, all renewed when it is told
INSPECT again by one, ``Inspections``); a row without them (told with no firm plates
named, or written before) is a truck's own plate. Each row also says when it was told by the machine's monotonic clock
(``mono``) and which start of the machine that clock is of (``boot``, the kernel's boot
id): a shard of the same start takes a row as pending for the window after that, and
for the window after its wall-clock time if that is later (a row told while this
shard's clock ran ahead, or behind, is still the inspection it was); it prunes no row
told within the day by that clock. A row of another start (a file kept over a restart
of the machine, or written before the columns) goes by its wall-clock time, as before.
Rows are kept a day (``KEEP_S``, the longest window a shard may have). A single agent
(``shard`` "") keeps the file too: its outbox's records hold the plates of a session's
first read and its bundle, not a plate a later read of the truck added, so a restart
reads back from here every plate its lanes told.

Off a read's path: a lane hands the plates over (a deque append under the lane lock);
the ``inspections`` worker writes them and reads the others'. A truck told INSPECT just
before its shard died may be missing for the others (the shard itself recalls it from
its outbox). The file is SQLite in WAL mode, a row a plate; any shard prunes the old
rows. Nothing here can stop a lane: a file that cannot be opened, written or read is
logged (once a problem), reported in ``problem`` and tried again; plates waiting beyond
``MAX_WAITING`` meanwhile are dropped from the oldest, and counted.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rocars.timeutil import utc_now
from sync.lane import MONO_SLACK_S, SYNC_CLOCK_SKEW, Inspections

logger = logging.getLogger(__name__)

#: how often a shard writes its own and reads the others' (seconds)
POLL_S = 0.5
#: how often old rows are deleted (seconds)
PRUNE_EVERY_S = 60.0
#: rows older than this are deleted: the longest window a shard may have (each shard
#: takes in only what falls within its own; one with a shorter window must not delete
#: what another's still needs)
KEEP_S = 86_400.0
#: plates waiting to be written beyond this (a file unwritable for hours): the oldest go
MAX_WAITING = 10_000
#: columns added since the first files: the table's last ones (``_SCHEMA``), and added to
#: an older file by ``_open``
_ADDED = {
    "direction": "TEXT",
    "told_with": "TEXT",
    "boot": "TEXT",
    "mono": "REAL",
}
#: where the kernel says which start of the machine this is
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def boot_id(path: Path = BOOT_ID_PATH) -> str | None:
    """This start of the machine (the monotonic clock's), or None if it cannot be told."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


#: a row as it waits to be written: (number, plate, at as epoch seconds, monotonic, bay,
#: told with)
_Told = tuple[int, str, float, float, str | None, str | None]
#: a row as it is taken in: (id, plate, at, bay, told with, boot, monotonic)
_Row = tuple[int, str, float, str | None, str | None, str | None, float | None]
#: the columns of a ``_Row``, and how many (a query selects more after them)
_ROW = "id, plate, at, bay, told_with, boot, mono"
_WIDTH = len(_ROW.split(","))

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS told (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plate TEXT NOT NULL,
    at REAL NOT NULL,
    bay TEXT,
    shard TEXT NOT NULL,
    {", ".join(f"{column} {kind}" for column, kind in _ADDED.items())}
);
CREATE INDEX IF NOT EXISTS told_at ON told (at);
"""


class InspectionLog:
    """``inspections``' link to the file the shards share (module doc)."""

    def __init__(
        self,
        path: Path,
        shard: str,
        inspections: Inspections,
        *,
        poll_s: float = POLL_S,
        clock: Callable[[], datetime] = utc_now,
        direction: str | None = None,
        boot: str | None = None,
    ) -> None:
        self.path = path
        self.shard = shard
        #: the shard's direction (``import``/``export``): the rows it writes name it, and
        #: it takes in only rows of its direction or of none; None: every row (module doc)
        self.direction = direction
        #: this start of the machine (``boot_id``; "" or None: rows go by the wall clock)
        self.boot = (boot_id() if boot is None else boot) or None
        self.inspections = inspections
        self.poll_s = poll_s
        self._clock = clock
        self._lock = threading.Lock()
        #: told here and not written yet (``_Told``; told with: the truck's own plates,
        #: space-separated, for a plate not one)
        self._waiting: deque[_Told] = deque()
        self._numbered = 0
        self.dropped = 0
        self._conn: sqlite3.Connection | None = None
        #: the newest row taken in (rows are numbered in the order they were committed)
        self._last_id = 0
        self._pruned_at = -math.inf
        #: why the file is not in use now ("" when it is)
        self.problem = ""
        self.written = 0
        self.taken = 0
        inspections.on_told = self.told

    # -- a lane's side ---------------------------------------------------------------

    def told(
        self,
        plates: Iterable[str],
        at: datetime,
        mono: float,
        bay: str | None,
        firm: tuple[str, ...] | None = None,
    ) -> None:
        """The plates of a truck told INSPECT here now (``at``, and ``mono`` by the
        monotonic clock; ``firm``: its own among them; None: all): written by the worker."""
        stamp = at.timestamp()
        with_firm = None if firm is None else " ".join(firm)
        with self._lock:
            for plate in plates:
                if plate:
                    self._numbered += 1
                    # a truck's own plate names the truck's (itself among them): another
                    # shard renews them all when it tells the truck INSPECT again by one
                    told_with = with_firm
                    self._waiting.append((self._numbered, plate, stamp, mono, bay, told_with))
            while len(self._waiting) > MAX_WAITING:
                self._waiting.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.error(
                        "inspections: %s unwritable for long: %d plates told INSPECT "
                        "dropped unshared (kept in this agent's memory)",
                        self.path,
                        self.dropped,
                    )

    @property
    def waiting(self) -> int:
        """Plates told here and not written yet."""
        with self._lock:
            return len(self._waiting)

    # -- the worker ------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """The ``inspections`` worker: every ``poll_s``, write ours and take the others'."""
        while True:
            self.sync_once()
            if stop.wait(self.poll_s):
                break
        self.sync_once()  # what was told last goes out before the agent stops
        self.close()

    def sync_once(self) -> None:
        try:
            if self._conn is None:
                self._open()
            self._write()
            self._take()
            if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
                self._prune()
        except (sqlite3.Error, OSError) as err:
            self._failed(f"{type(err).__name__}: {err}")
            return
        if self.problem:
            logger.info("inspections shared again through %s", self.path)
            self.problem = ""

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the file --------------------------------------------------------------------

    def _open(self) -> None:
        conn = sqlite3.connect(
            self.path, timeout=5.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(told)")}
            for column, kind in _ADDED.items():
                if column not in columns:  # a file from before the column
                    try:
                        conn.execute(f"ALTER TABLE told ADD COLUMN {column} {kind}")
                    except sqlite3.OperationalError as err:
                        # another shard upgraded the file between the look and the change
                        if "duplicate column" not in str(err):
                            raise
            # started: what was told within the window, by the others and by this shard
            # before a restart (its outbox says so too; twice is harmless), by the wall
            # clock or, since the machine started, by the monotonic one
            window = self.inspections.window.total_seconds()
            since = self._clock().timestamp() - window
            mono_since = self.inspections.monotonic() - window
            conn.execute("BEGIN")  # one snapshot: no row committed between the two reads
            rows = conn.execute(
                f"SELECT {_ROW}, direction FROM told "
                "WHERE at > ? OR (boot = ? AND mono > ?) ORDER BY id",
                (since, self.boot, mono_since),
            ).fetchall()
            (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM told").fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        ours = [row[:_WIDTH] for row in rows if self._ours(row[_WIDTH])]
        self._remember(ours)
        # this file's: the rows of the window were taken above (twice is harmless). The
        # higher id of a file replaced since (deleted as corrupt, made again by a shard)
        # skipped the new file's rows until their ids passed it (found in review)
        self._last_id = int(last)
        if ours:
            logger.info(
                "inspections: %d plates told INSPECT lately taken from %s", len(ours), self.path
            )

    def _write(self) -> None:
        with self._lock:
            rows = list(self._waiting)
        if not rows:
            return
        assert self._conn is not None
        with self._conn:  # one transaction
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO told (plate, at, bay, shard, direction, told_with, boot, mono) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (plate, at, bay, self.shard, self.direction, told_with, self.boot, mono)
                    for _, plate, at, mono, bay, told_with in rows
                ],
            )
        last = rows[-1][0]
        with self._lock:  # those written (some may have been dropped meanwhile)
            while self._waiting and self._waiting[0][0] <= last:
                self._waiting.popleft()
        self.written += len(rows)

    def _take(self) -> None:
        assert self._conn is not None
        rows = self._conn.execute(
            f"SELECT {_ROW}, shard, direction FROM told WHERE id > ? ORDER BY id",
            (self._last_id,),
        ).fetchall()
        if not rows:
            return
        self._last_id = int(rows[-1][0])
        self._remember(
            [
                row[:_WIDTH]
                for row in rows
                if row[_WIDTH] != self.shard and self._ours(row[_WIDTH + 1])
            ]
        )

    def _ours(self, direction: object) -> bool:
        """A row of this shard's direction, or one that names none."""
        return self.direction is None or direction is None or direction == self.direction

    def _remember(self, rows: list[_Row]) -> None:
        """Take rows in; one no shard would write (a time that does not convert, or one
        ahead of this clock: remembering it would end every inspection before it) is
        skipped and logged, and the rest taken. A row of this start of the machine is
        taken as told when its monotonic stamp says, by this clock, or when its wall-clock
        time says if that is later and not ahead of this clock: the wall clocks of the
        shard that wrote it and of this one may differ (one of them stepped), and either
        clock that says the truck is still within its window keeps it so."""
        now = self._clock()
        latest = now + SYNC_CLOCK_SKEW
        mono_now = self.inspections.monotonic()
        for row_id, plate, at, bay, told_with, boot, mono in rows:
            try:
                told = datetime.fromtimestamp(at, UTC)
            except (TypeError, ValueError, OverflowError, OSError) as err:
                logger.error("inspections: row %s of %s skipped: %s", row_id, self.path, err)
                continue
            mono_at = self._monotonic_stamp(boot, mono, mono_now)
            if mono_at is not None:
                by_mono = now - timedelta(seconds=max(mono_now - mono_at, 0.0))
                told = by_mono if told > latest else max(told, by_mono)
            elif told > latest:
                logger.error(
                    "inspections: row %s of %s skipped: told at %s, ahead of this clock",
                    row_id,
                    self.path,
                    told,
                )
                continue
            firm = None if told_with is None else tuple(str(told_with).split())
            self.inspections.remember(
                (str(plate),), told, None if bay is None else str(bay), firm, mono_at=mono_at
            )
            self.taken += 1

    def _monotonic_stamp(self, boot: object, mono: object, mono_now: float) -> float | None:
        """A row's monotonic stamp, if it is of this start of the machine, a number, and
        within the rows' day of now by it (not ahead: another start's, or a file copied
        from another machine)."""
        if self.boot is None or boot != self.boot or not isinstance(mono, int | float):
            return None
        if not -MONO_SLACK_S <= mono_now - mono <= KEEP_S:  # false for NaN too
            return None
        return float(mono)

    def _prune(self) -> None:
        assert self._conn is not None
        keep = max(KEEP_S, self.inspections.window.total_seconds())
        before = self._clock().timestamp() - keep
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            if self.boot is None:
                self._conn.execute("DELETE FROM told WHERE at <= ?", (before,))
            else:
                # not a row this start of the machine told within the day by its monotonic
                # clock: a shard whose clock runs a day ahead must not delete the others'
                # rows of the last minute
                mono = self.inspections.monotonic()
                self._conn.execute(
                    "DELETE FROM told WHERE at <= ? AND NOT (coalesce(boot = ?, 0) AND "
                    "typeof(mono) IN ('real', 'integer') AND mono > ? AND mono <= ?)",
                    (before, self.boot, mono - keep, mono + MONO_SLACK_S),
                )
        self._pruned_at = time.monotonic()

    def _failed(self, problem: str) -> None:
        self.close()  # opened again next time
        if problem != self.problem:
            logger.error(
                "inspections: %s cannot be used (%s); the other shards' trucks told "
                "INSPECT are not known here until it can",
                self.path,
                problem,
            )
        self.problem = problem

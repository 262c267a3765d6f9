"""The replica: a SQLite (WAL) cache of the centre's bundles and cargo for this control point.

It can always be rebuilt from the change feed, so it commits with ``synchronous=NORMAL``;
the feed cursor and ``last_sync_at`` live in the same file and are committed in the same
transaction as the rows of a page, so a page is applied exactly once.

Reads are point lookups on a connection per thread (the lane controller, the local API,
the puller each have their own); the puller is the only writer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from rocars.models import Bundle, Cargo, ChangePage
from rocars.timeutil import parse_rfc3339, to_rfc3339
from sync.errors import CursorMismatch, ReplicaError
from sync.feed import BUNDLE_COLUMNS, PageRows, bundle_from_row, rows_from_changes

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS bundles (
    ubr TEXT PRIMARY KEY,
    vrn TEXT NOT NULL,
    second_plate TEXT,
    cp TEXT NOT NULL,
    direction TEXT NOT NULL,
    ccrns TEXT NOT NULL,
    bundled_at TEXT NOT NULL,
    earliest_at TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL,
    bay TEXT,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bundles_vrn ON bundles (vrn);
CREATE INDEX IF NOT EXISTS bundles_second_plate ON bundles (second_plate)
    WHERE second_plate IS NOT NULL;
-- ccrn -> ubr; rows of a CCRN later taken out of its bundle stay (never deleted on the
-- write path): a lookup keeps only bundles whose ccrns still list the CCRN.
CREATE TABLE IF NOT EXISTS bundle_ccrns (
    ccrn TEXT NOT NULL,
    ubr TEXT NOT NULL,
    PRIMARY KEY (ccrn, ubr)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cargo (
    ccrn TEXT PRIMARY KEY,
    body TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

_COLUMNS = ", ".join(BUNDLE_COLUMNS)
_BUNDLE_QUERY = f"SELECT {_COLUMNS} FROM bundles WHERE ubr = ?"
_PLATE_QUERY = (
    f"SELECT {_COLUMNS} FROM bundles WHERE vrn = ?1 "
    f"UNION SELECT {_COLUMNS} FROM bundles WHERE second_plate = ?1"
)
_CCRN_QUERY = (
    f"SELECT {', '.join('b.' + c for c in BUNDLE_COLUMNS)} FROM bundle_ccrns c "
    "JOIN bundles b ON b.ubr = c.ubr WHERE c.ccrn = ? ORDER BY b.ubr"
)
_INSERT_BUNDLE = (
    f"INSERT OR REPLACE INTO bundles ({_COLUMNS}) VALUES ({', '.join('?' for _ in BUNDLE_COLUMNS)})"
)


class Replica:
    """Bundles by UBR / plate / CCRN, cargo by CCRN, the feed cursor. Thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self._last_sync: tuple[datetime | None, float] = (None, -1e9)
        with self._write() as conn:
            conn.executescript(SCHEMA)

    # -- connections -------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise ReplicaError("replica is closed")
            try:
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA cache_size=-65536")
            except sqlite3.Error as err:
                raise ReplicaError(f"cannot open replica {self.path}: {err}") from err
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            with conn:
                yield conn
        except sqlite3.Error as err:
            raise ReplicaError(f"replica write failed: {err}") from err

    def close(self) -> None:
        """Close every thread's connection (call when no thread uses the replica any more)."""
        self._closed = True
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    # -- reads (the kiosk's local API and the lanes code against these) ----------------

    def _one(self, sql: str, *args: object) -> str | None:
        try:
            row = self._conn().execute(sql, args).fetchone()
        except sqlite3.Error as err:
            raise ReplicaError(f"replica read failed: {err}") from err
        return None if row is None else str(row[0])

    def _bundles(self, sql: str, *args: object) -> list[Bundle]:
        try:
            rows = self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise ReplicaError(f"replica read failed: {err}") from err
        return [_bundle(row) for row in rows]

    def bundle(self, ubr: str) -> Bundle | None:
        bundles = self._bundles(_BUNDLE_QUERY, ubr)
        return bundles[0] if bundles else None

    def bundles_for_ccrn(self, ccrn: str) -> list[Bundle]:
        """Bundles that hold ``ccrn`` now, any status."""
        return [b for b in self._bundles(_CCRN_QUERY, ccrn) if ccrn in b.ccrns]

    def bundles_for_plate(self, plate: str) -> list[Bundle]:
        """Bundles whose vrn or Mainland second plate is ``plate`` (normalised), any status."""
        bundles = self._bundles(_PLATE_QUERY, plate)
        return sorted(bundles, key=lambda b: b.ubr)

    def cargo(self, ccrn: str) -> Cargo | None:
        body = self._one("SELECT body FROM cargo WHERE ccrn = ?", ccrn)
        if body is None:
            return None
        try:
            return Cargo.model_validate_json(body)
        except ValidationError as err:
            raise ReplicaError(f"cargo {ccrn} in the replica does not validate") from err

    def last_sync_at(self) -> datetime | None:
        """When the replica was last known current (caught up with the feed).

        Every plate read asks: the value is kept in memory, updated by this object's
        writes and read again from the file at most once a second (another writer).
        """
        value, read_at = self._last_sync
        if time.monotonic() - read_at > 1.0:
            text = self._meta("last_sync_at")
            value = None if text is None else parse_rfc3339(text)
            self._last_sync = (value, time.monotonic())
        return value

    def _remember_sync(self, now: datetime | None) -> None:
        value = None if now is None else parse_rfc3339(to_rfc3339(now))
        self._last_sync = (value, time.monotonic())

    def cursor(self) -> str:
        """The change-feed cursor to ask with next ("" before the first page)."""
        return self._meta("cursor") or ""

    def count_bundles(self) -> int:
        try:
            row = self._conn().execute("SELECT count(*) FROM bundles").fetchone()
        except sqlite3.Error as err:
            raise ReplicaError(f"replica read failed: {err}") from err
        return int(row[0])

    def _meta(self, key: str) -> str | None:
        return self._one("SELECT value FROM meta WHERE key = ?", key)

    # -- writes (the puller) -----------------------------------------------------------

    def apply(self, since: str, page: ChangePage, now: datetime) -> None:
        """Apply one validated page (see ``apply_rows``)."""
        self.apply_rows(since, rows_from_changes(page.changes, page.next), now)

    def apply_rows(
        self, since: str, rows: PageRows, now: datetime, *, caught_up: bool = True
    ) -> None:
        """Apply one feed page and move the cursor to ``rows.next``, in one transaction.

        Refuses (CursorMismatch) when the stored cursor is not ``since``: the page was
        fetched for another position, applying it would repeat or skip changes.
        ``last_sync_at`` moves only with ``caught_up``: a replica half way through a long
        catch-up is not current, and the lanes must not take it for current.
        """
        bundle_rows = [row for row, _ in rows.bundles.values()]
        ccrn_rows = [(ccrn, row[0]) for row, ccrns in rows.bundles.values() for ccrn in ccrns]
        with self._write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
            stored = "" if row is None else str(row[0])
            if stored != since:
                raise CursorMismatch(
                    f"page for cursor {since!r} but the replica is at {stored!r}",
                    since=since,
                    stored=stored,
                )
            conn.executemany("DELETE FROM bundles WHERE ubr = ?", [(u,) for u in rows.dropped_ubrs])
            conn.executemany(_INSERT_BUNDLE, bundle_rows)
            conn.executemany("INSERT OR IGNORE INTO bundle_ccrns VALUES (?, ?)", ccrn_rows)
            conn.executemany("DELETE FROM cargo WHERE ccrn = ?", [(c,) for c in rows.dropped_ccrns])
            conn.executemany("INSERT OR REPLACE INTO cargo VALUES (?, ?)", rows.cargo.items())
            meta = [("cursor", rows.next)]
            if caught_up:
                meta.append(("last_sync_at", to_rfc3339(now)))
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
        if caught_up:
            self._remember_sync(now)

    def mark_synced(self, now: datetime) -> None:
        """The centre answered and there was nothing new: the replica is fresh as of ``now``."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_sync_at', ?)", (to_rfc3339(now),)
            )
        self._remember_sync(now)

    def reset(self) -> None:
        """Forget everything (a rebuild from the start of the feed follows)."""
        with self._write() as conn:
            for table in ("bundles", "bundle_ccrns", "cargo", "meta"):
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        self._remember_sync(None)


def _bundle(row: tuple[object, ...]) -> Bundle:
    try:
        return bundle_from_row(row)
    except ValidationError as err:
        raise ReplicaError("a bundle in the replica does not validate") from err

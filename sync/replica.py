"""The replica: a SQLite (WAL) cache of the centre's bundles and cargo for this control point.

It can always be rebuilt from the change feed, so it commits with ``synchronous=NORMAL``;
the feed cursor and ``last_sync_at`` live in the same file and are committed in the same
transaction as the rows of a page, so a page is applied exactly once.

Reads are point lookups on a connection per thread (the lane controller, the local API,
the puller each have their own); the pulling agent is the only writer (its puller, and
the centre's up/down state that the agents of the site without a puller follow).
"""

from __future__ import annotations

import json
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
from sync.feed import CCRN_SEPARATOR, PageRows, bundle_from_body, rows_from_changes

logger = logging.getLogger(__name__)

#: Bumped when the tables change: a replica of another version is dropped and rebuilt
#: from the start of the feed (it is a cache of the centre). 3 (2026-12-07): rows that
#: version 2 wrote through the full model hold ``"result":"PROCEED"`` and
#: ``"status":"active"`` where the centre's change left them out (the model's defaults
#: then); nothing in a row tells those from the centre's own, so all are pulled again.
#: 4 (2026-12-07): the bundle's status is a column, and the plate indexes hold active
#: bundles only (a plate's used and cancelled bundles pile up with every crossing).
SCHEMA_VERSION = 4

SCHEMA = """
-- body: the bundle's JSON (as the centre sent it, or the full model's canonical JSON);
-- the other columns are what lookups search. ubr: the 10-digit UBR as an integer (the
-- rowid: the fastest key SQLite has), bodies carry the UBR text. status: the body's.
CREATE TABLE IF NOT EXISTS bundles (
    ubr INTEGER PRIMARY KEY,
    vrn TEXT NOT NULL,
    second_plate TEXT,
    ccrns TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL
);
-- ccrn -> ubr; rows of a CCRN later taken out of its bundle stay (never deleted on the
-- write path): a lookup keeps only bundles whose ccrns still list the CCRN.
CREATE TABLE IF NOT EXISTS bundle_ccrns (
    ccrn TEXT NOT NULL,
    ubr INTEGER NOT NULL,
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
#: Secondary indexes: dropped for a bulk load into an empty replica, built when it is
#: caught up (one sort each instead of a million random inserts). The plate indexes hold
#: active bundles only: a truck that crosses twice a day has ~700 used bundles after a
#: year, and a lane's look-up must not read (and validate) them all on every read.
INDEXES = """
CREATE INDEX IF NOT EXISTS bundles_active_vrn ON bundles (vrn) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS bundles_active_second_plate ON bundles (second_plate)
    WHERE status = 'active' AND second_plate IS NOT NULL;
"""
_DROP_INDEXES = (
    "DROP INDEX IF EXISTS bundles_active_vrn; DROP INDEX IF EXISTS bundles_active_second_plate;"
)
# ccrns: the inside of a JSON list (a","b), see sync.feed.BundleRow
_FILL_BUNDLE_CCRNS = (
    "INSERT OR IGNORE INTO bundle_ccrns SELECT ccrns, ubr FROM bundles"
    " WHERE instr(ccrns, '\"') = 0;"
    " INSERT OR IGNORE INTO bundle_ccrns SELECT j.value, b.ubr FROM bundles b,"
    " json_each('[\"' || b.ccrns || '\"]') j WHERE instr(b.ccrns, '\"') > 0"
)
_LISTS_CCRN = "instr('\"' || b.ccrns || '\"', '\"' || ?1 || '\"') > 0"

_CACHE_KIB = 65536
_SORT_CACHE_KIB = 16384

_BUNDLE_QUERY = "SELECT body FROM bundles WHERE ubr = ?"
# two look-ups, each on its partial index (an OR of the two would not use them)
_ACTIVE_PLATE_QUERY = (
    "SELECT ubr, body FROM bundles WHERE vrn = ?1 AND status = 'active'"
    " UNION ALL SELECT ubr, body FROM bundles"
    " WHERE second_plate = ?1 AND status = 'active' AND second_plate IS NOT NULL AND vrn <> ?1"
    " ORDER BY 1"
)
_CCRN_QUERY = (
    "SELECT b.body FROM bundle_ccrns c JOIN bundles b ON b.ubr = c.ubr"
    f" WHERE c.ccrn = ?1 AND {_LISTS_CCRN} ORDER BY c.ubr"
)
# while a bulk load has not built bundle_ccrns yet (lanes are closed then: not synced)
_CCRN_SCAN = f"SELECT b.body FROM bundles b WHERE {_LISTS_CCRN} ORDER BY b.ubr"
_INSERT_BUNDLE = (
    "INSERT OR REPLACE INTO bundles (body, ubr, vrn, second_plate, ccrns, status)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def _ubr_key(ubr: str) -> int | None:
    """The rowid of a UBR; None for anything that is not 10 ASCII digits."""
    if len(ubr) == 10 and ubr.isascii() and ubr.isdigit():
        return int(ubr)
    return None


class Replica:
    """Bundles by UBR / plate / CCRN, cargo by CCRN, the feed cursor. Thread-safe."""

    def __init__(self, path: str | Path, *, rebuild: bool = True) -> None:
        """``rebuild``: a file of another schema version is rebuilt from the feed (the
        pulling agent); False: ReplicaError instead (a shard that does not pull shares the
        pulling one's file: during an upgrade, an agent of another version would wipe it
        and every lane of the site would stop until it was pulled again)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        self._last_sync: tuple[datetime | None, float] = (None, -1e9)
        self._sync_lock = threading.Lock()
        self._sync_generation = 0  # moved by this object's writes of last_sync_at
        conn = self._conn()
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.Error as err:
            self.close()
            raise ReplicaError(f"cannot open replica {self.path}: {err}") from err
        stale = version != SCHEMA_VERSION and tables > 0
        if stale and not rebuild:
            self.close()
            raise ReplicaError(
                f"replica {self.path} has schema {version}, this agent's is {SCHEMA_VERSION}:"
                " only the agent that pulls the feed rebuilds it (upgrade that one first, or"
                " give this agent a data_dir of its own)",
                version=version,
            )
        try:
            if stale:
                logger.warning(
                    "replica %s has schema %d, not %d: rebuilding it from the feed",
                    self.path,
                    version,
                    SCHEMA_VERSION,
                )
                conn.executescript(
                    "DROP TABLE IF EXISTS bundles; DROP TABLE IF EXISTS bundle_ccrns;"
                    " DROP TABLE IF EXISTS cargo; DROP TABLE IF EXISTS meta;"
                )
            conn.executescript(SCHEMA)
            if self._meta("loading") is None:
                conn.executescript(INDEXES)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as err:
            self.close()
            raise ReplicaError(f"cannot set up replica {self.path}: {err}") from err

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
                conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
            except sqlite3.Error as err:
                raise ReplicaError(f"cannot open replica {self.path}: {err}") from err
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (DDL included), taken with the write lock up front."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
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

    def _bundles(self, sql: str, *args: object, column: int = 0) -> list[Bundle]:
        try:
            rows = self._conn().execute(sql, args).fetchall()
        except sqlite3.Error as err:
            raise ReplicaError(f"replica read failed: {err}") from err
        return [_bundle(row[column]) for row in rows]

    def bundle(self, ubr: str) -> Bundle | None:
        key = _ubr_key(ubr)
        body = None if key is None else self._one(_BUNDLE_QUERY, key)
        return None if body is None else _bundle(body)

    def bundles_for_ccrn(self, ccrn: str) -> list[Bundle]:
        """Bundles that hold ``ccrn`` now, any status, in UBR order."""
        if '"' in ccrn:  # never in a CCRN; would cross the separators of the ccrns column
            return []
        found = self._bundles(_CCRN_QUERY, ccrn)
        if not found and self._meta("loading") is not None:
            found = self._bundles(_CCRN_SCAN, ccrn)
        return found

    def active_bundles_for_plate(self, plate: str) -> list[Bundle]:
        """Active bundles whose vrn or Mainland second plate is ``plate`` (normalised), in
        UBR order: what a lane looks up. Used and cancelled ones are never read, so the
        look-up costs the same after a year of a truck's crossings as on its first."""
        return self._bundles(_ACTIVE_PLATE_QUERY, plate, column=1)

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
        Another thread's read of the file can start before this object's write commits
        and end after it: that read is not stored over the value the write remembered
        (for up to a second every caller saw the older time).
        """
        value, read_at = self._last_sync
        if time.monotonic() - read_at > 1.0:
            generation = self._sync_generation
            text = self._meta("last_sync_at")
            try:
                value = None if text is None else parse_rfc3339(text)
            except ValueError as err:  # the lanes fail closed on a ReplicaError
                raise ReplicaError(f"replica: last_sync_at unreadable: {text!r}") from err
            with self._sync_lock:
                if self._sync_generation == generation:
                    self._last_sync = (value, time.monotonic())
                else:  # a write of ours came between: it is the newer
                    value = self._last_sync[0]
        return value

    def _remember_sync(self, now: datetime | None) -> None:
        value = None if now is None else parse_rfc3339(to_rfc3339(now))
        with self._sync_lock:
            self._sync_generation += 1
            self._last_sync = (value, time.monotonic())

    def central(self) -> tuple[bool, datetime, str] | None:
        """The centre's state as the pulling agent last recorded it: up, since, error."""
        text = self._meta("central")
        if text is None:
            return None
        try:
            data = json.loads(text)
            return bool(data["up"]), parse_rfc3339(str(data["since"])), str(data["error"])
        except (ValueError, KeyError, TypeError) as err:
            raise ReplicaError(
                f"replica: the centre's recorded state is unreadable: {err}"
            ) from err

    def record_central(self, up: bool, since: datetime, error: str) -> None:
        """Record the centre's state for agents that read this replica without pulling."""
        value = json.dumps({"up": up, "since": to_rfc3339(since), "error": error})
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('central', ?)", (value,))

    def cursor(self) -> str:
        """The change-feed cursor to ask with next ("" before the first page)."""
        return self._meta("cursor") or ""

    def cursor_mark(self) -> str:
        """The mark of the change the cursor stands on, as the centre gave it with the
        cursor ("" before the first page, from a centre that gives none, or when the
        cursor has moved since without one): asked with both, the centre refuses a
        cursor of another history (``cursor_diverged``). Kept with the cursor it is of: an
        agent from before marks moves the cursor and leaves the mark, which sent with the
        new cursor made the centre refuse its own history (found in review)."""
        try:  # one statement: one snapshot of the two
            rows = dict(
                self._conn()
                .execute("SELECT key, value FROM meta WHERE key IN ('cursor', 'cursor_mark')")
                .fetchall()
            )
        except sqlite3.Error as err:
            raise ReplicaError(f"replica read failed: {err}") from err
        at, _, mark = str(rows.get("cursor_mark", "")).partition(" ")
        return mark if at == str(rows.get("cursor", "")) else ""

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
        self.apply_rows(since, rows_from_changes(page.changes, page.next, page.mark), now)

    def apply_rows(
        self, since: str, rows: PageRows, now: datetime, *, caught_up: bool = True
    ) -> None:
        """Apply one feed page and move the cursor to ``rows.next``, in one transaction.

        Refuses (CursorMismatch) when the stored cursor is not ``since``: the page was
        fetched for another position, applying it would repeat or skip changes.
        ``last_sync_at`` moves only with ``caught_up``: a replica half way through a long
        catch-up is not current, and the lanes must not take it for current.

        The first page of a long load into an empty replica starts a bulk load (meta
        ``loading``): the secondary indexes are dropped and ``bundle_ccrns`` is not
        written per page; the page that catches up builds both in its own transaction.
        An agent stopped half way goes on in bulk after a restart.
        """
        with self._write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
            stored = "" if row is None else str(row[0])
            if stored != since:
                raise CursorMismatch(
                    f"page for cursor {since!r} but the replica is at {stored!r}",
                    since=since,
                    stored=stored,
                )
            loading = (
                conn.execute("SELECT 1 FROM meta WHERE key = 'loading'").fetchone() is not None
            )
            if (
                not loading
                and not caught_up
                and stored == ""
                and conn.execute("SELECT 1 FROM bundles LIMIT 1").fetchone() is None
            ):
                _script(conn, _DROP_INDEXES)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('loading', '1')")
                loading = True
                logger.info("replica: bulk load into an empty replica")
            conn.executemany("DELETE FROM bundles WHERE ubr = ?", [(u,) for u in rows.dropped_ubrs])
            conn.executemany(_INSERT_BUNDLE, rows.bundles.values())
            if not loading:
                conn.executemany(
                    "INSERT OR IGNORE INTO bundle_ccrns VALUES (?, ?)",
                    [
                        (ccrn, row[1])
                        for row in rows.bundles.values()
                        for ccrn in row[4].split(CCRN_SEPARATOR)
                    ],
                )
            conn.executemany("DELETE FROM cargo WHERE ccrn = ?", [(c,) for c in rows.dropped_ccrns])
            conn.executemany("INSERT OR REPLACE INTO cargo VALUES (?, ?)", rows.cargo.items())
            # the cursor and its mark together, the mark naming its cursor (``cursor_mark``)
            meta = [("cursor", rows.next), ("cursor_mark", f"{rows.next} {rows.mark}")]
            if caught_up:
                meta.append(("last_sync_at", to_rfc3339(now)))
                if loading:
                    # the sorts below may use up to cache_size of memory next to the page
                    # cache: a smaller bound keeps the agent's RSS where it was (they spill)
                    conn.execute(f"PRAGMA cache_size = -{_SORT_CACHE_KIB}")
                    try:
                        _script(conn, _FILL_BUNDLE_CCRNS)
                        _script(conn, INDEXES)
                    finally:
                        conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
                    conn.execute("DELETE FROM meta WHERE key = 'loading'")
                    logger.info("replica: bulk load done, indexes built")
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
            _script(conn, INDEXES)
        self._remember_sync(None)


def _script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated DDL inside the open transaction (executescript would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _bundle(body: str) -> Bundle:
    try:
        return bundle_from_body(body)
    except ValidationError as err:
        raise ReplicaError("a bundle in the replica does not validate") from err

"""The simulated centre's state in SQLite (WAL): cargo, bundles, the change feed, events.

Every write appends to the change feed in the same transaction. A change's JSON text is
made once, when it is written, and stored as UTF-8 bytes; ``GET /v1/changes`` serves a
page by joining those bytes, so a replica can pull a million bundles without a single
model being built on the read path. The current state of a bundle or of cargo is the
entity inside its latest change (``bundles.seq`` / ``cargo.seq`` point at it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hardware_sim.errors import SimError
from rocars.ids import ControlPoint, Direction
from rocars.messages import InstructionCode
from rocars.models import (
    Bundle,
    BundleStatus,
    Cargo,
    CargoItems,
    CargoStatus,
    EventResult,
    UbrBlock,
)
from rocars.timeutil import to_rfc3339

logger = logging.getLogger(__name__)


#: hex digits of a change's mark: 128 bits, enough that two histories' changes never share
#: one by chance
MARK_HEX = 32


def change_mark(text: str | bytes) -> str:
    """A change's mark: the start of the SHA-256 of its stored text, in hex."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    return hashlib.sha256(data).hexdigest()[:MARK_HEX]


#: First CCRN / UBR the centre issues; UBRs leased to control points come from the same
#: counter, so a leased block never overlaps a centre-issued UBR or another block.
FIRST_CCRN = 1_001_041_258
FIRST_UBR = 9_110_635_860
LAST_NUMBER = 9_999_999_999
UBR_BLOCK_LEASE = timedelta(days=7)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes(
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, json BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS cargo(
    ccrn TEXT PRIMARY KEY, status TEXT NOT NULL, ubr TEXT, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bundles(
    ubr TEXT PRIMARY KEY, vrn TEXT NOT NULL, second_plate TEXT, status TEXT NOT NULL,
    account TEXT, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bundle_ccrns(
    ccrn TEXT NOT NULL, ubr TEXT NOT NULL, PRIMARY KEY (ccrn, ubr)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events(
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, received_at TEXT NOT NULL,
    json BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS accounts(
    account TEXT PRIMARY KEY, salt BLOB NOT NULL, pw_hash BLOB NOT NULL,
    totp_secret TEXT NOT NULL, immediate INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS code_steps(account TEXT PRIMARY KEY, step INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS vehicles(vrn TEXT PRIMARY KEY, second_plate TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ubr_blocks(
    first TEXT PRIMARY KEY, count INTEGER NOT NULL, cp TEXT NOT NULL,
    leased_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_certs(serial TEXT PRIMARY KEY, revoked_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cert_signatures(
    digest BLOB PRIMARY KEY, keep_until_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cargo_keys(
    key TEXT PRIMARY KEY, ccrn TEXT NOT NULL, items BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS demo_accounts(account TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS demo_trucks(pos INTEGER PRIMARY KEY, json TEXT NOT NULL);
"""

_INDEXES = """
CREATE INDEX IF NOT EXISTS bundles_active_vrn ON bundles(vrn) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS bundles_active_plate ON bundles(second_plate)
    WHERE status = 'active' AND second_plate IS NOT NULL;
CREATE INDEX IF NOT EXISTS cert_signatures_keep ON cert_signatures(keep_until_ms);
"""


def _items_json(items: CargoItems) -> bytes:
    """A submission's items as compared for an idempotency key: canonical JSON."""
    return json.dumps(items.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


class CentralError(SimError):
    """A request the centre refuses: ``key`` is the API's error key, ``status`` the HTTP code."""

    key = "central_error"

    def __init__(self, message: str, *, key: str, status: int, **params: Any) -> None:
        super().__init__(message, key=key, **params)
        self.status = status


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _json_text(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


#: The deepest nesting of objects and lists an event may have (the event itself is one;
#: a clearance record needs five). Deeper, it was stored all the same, and every
#: ``GET /v1/events`` page that held it failed (500) from ~260 levels on.
MAX_EVENT_DEPTH = 32


#: About the most event text one ``GET /v1/events`` page holds (``Store.events_page``);
#: a single event larger than this still gets a page of its own.
MAX_EVENTS_PAGE_BYTES = 16 * 1024 * 1024
#: What a page adds around each stored event (``{"seq":…,"id":…,"received_at":…}``).
_EVENT_WRAPPER_BYTES = 64


class UnstorableEvent(ValueError):
    """An event the centre will not store: ``reason`` is the key it is rejected with."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: What ``_depth_over`` takes from a container's iterator once it has no more values.
_DONE = object()


def _children(container: dict[Any, Any] | list[Any]) -> Iterator[object]:
    return iter(container.values() if isinstance(container, dict) else container)


def _depth_over(value: object, limit: int) -> bool:
    """Whether ``value`` nests objects and lists more than ``limit`` deep (no recursion:
    the body's parser took ~1000 levels).

    The stack holds one iterator per open container, so it is never longer than the
    nesting. It held an entry for every value still to look at: one valid event with a
    list of four million zeros (8 MB of text) took ~260 MB and 3 s before it was stored.
    """
    if not isinstance(value, dict | list):
        return False
    if limit < 1:
        return True
    stack = [_children(value)]
    while stack:
        child = next(stack[-1], _DONE)
        if child is _DONE:
            stack.pop()
        elif isinstance(child, dict | list):
            if len(stack) >= limit:  # the child is one level deeper than the stack
                return True
            stack.append(_children(child))
    return False


def encode_event(event: dict[str, Any]) -> bytes:
    """An event as ``record_events`` stores it: standard JSON in UTF-8, or
    ``UnstorableEvent``: ``nested_too_deep`` for nesting over ``MAX_EVENT_DEPTH``,
    ``unencodable`` for text that is not Unicode (a lone surrogate, which a JSON
    ``\\udc00`` escape gives) or a number JSON has not (``NaN``, ``Infinity``, ``1e999``:
    stored as the bare words, the text was not JSON)."""
    if _depth_over(event, MAX_EVENT_DEPTH):
        raise UnstorableEvent("nested_too_deep")
    try:
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode()
    except ValueError as err:  # UnicodeEncodeError is one, as is a non-finite number
        raise UnstorableEvent("unencodable") from err


def _standard_json(text: bytes) -> bytes:
    """A stored event's text as standard JSON: one stored before non-finite numbers were
    refused holds ``NaN`` / ``Infinity``, which become ``null`` here (only rows with
    those words are decoded again)."""
    if b"NaN" not in text and b"Infinity" not in text:
        return text
    try:
        value = json.loads(text, parse_constant=lambda _: None)
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not ours to fix: served as stored
        logger.warning("a stored event is not standard JSON and could not be made so")
        return text


def _ms(at: datetime) -> int:
    """Milliseconds since the epoch: an instant that compares right in SQL, whatever zone."""
    return (at - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class AccountRow:
    """A driver account as the store keeps it (password hashed)."""

    account: str
    salt: bytes
    pw_hash: bytes
    totp_secret: str
    immediate: bool
    name: str


@dataclass(frozen=True)
class Crossing:
    """A record's claim that a truck crossed on bundle ``ubr``: where, which way, and the
    plates the lane saw (normalised). The bundle is used only if they are its own."""

    ubr: str
    cp: str
    direction: str
    plates: frozenset[str]


@dataclass(frozen=True)
class NewBundle:
    """What the centre decided for a bundle request (identity checked, result pre-selected)."""

    vrn: str
    cp: ControlPoint
    direction: Direction
    ccrns: list[str]
    account: str
    immediate: bool
    result: InstructionCode
    bay: str | None


class Store:
    """One SQLite file; every method is thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = self._connect()
        self.is_new = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        self._conn.executescript(_SCHEMA + _INDEXES)
        row = self._conn.execute("SELECT max(seq) FROM changes").fetchone()
        self._next_seq = int(row[0] or 0) + 1

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # What the centre has acknowledged (an event, a UBR) must survive a power cut.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-65536")
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the seq counter rolls back with it.

        COMMIT is inside: one that fails (a full disk, an I/O error) is rolled back like
        any other failure. Outside, the connection stayed inside the transaction, so the
        feed served the change that was never committed and the next write failed.
        """
        with self._lock:
            seq_before = self._next_seq
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._abort()
                self._next_seq = seq_before
                raise

    def _abort(self) -> None:
        """Under ``_lock``: roll back; a connection still inside its transaction after
        that is closed (which rolls it back) and replaced, so no later read sees what was
        never committed and no later write finds the database locked by it."""
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error as err:  # e.g. SQLite already rolled back a failed COMMIT
            logger.warning("ROLLBACK failed: %s", err)
        if not self._conn.in_transaction:
            return
        logger.error("the store's connection is still in a transaction: opening a new one")
        try:
            self._conn.close()
        except sqlite3.Error as err:
            logger.warning("closing the store's connection failed: %s", err)
        self._conn = self._connect()

    # -- meta and counters -----------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _take_numbers(self, conn: sqlite3.Connection, name: str, first: int, count: int) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
        start = int(row[0]) if row else first
        if start + count - 1 > LAST_NUMBER:
            raise CentralError(f"{name} exhausted", key="numbers_exhausted", status=503)
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (name, str(start + count))
        )
        return start

    # -- the change feed -------------------------------------------------------------------

    def _append(self, conn: sqlite3.Connection, kind: str, key: str, entity: dict[str, Any]) -> int:
        seq = self._next_seq
        self._next_seq += 1
        text = _dumps({"seq": seq, "kind": kind, "key": key, "op": "upsert", kind: entity})
        conn.execute(
            "INSERT INTO changes(seq, kind, key, json) VALUES (?, ?, ?, ?)", (seq, kind, key, text)
        )
        return seq

    def feed_page(self, since: int, limit: int) -> tuple[bytes, int, int, int]:
        """The stored change texts after ``since`` joined by commas, the last seq, the
        count, and the feed's last seq, as of one moment (one hold of the lock).

        SQLite joins them (``group_concat`` over the seq-ordered rows): no Python object
        per change, which is what lets a replica pull a million bundles quickly. Read
        apart, a write between the page and the head made a cursor past the end look
        caught up: the page was empty, and the head had moved up to the cursor by then.
        """
        with self._lock:
            joined, last, count = self._conn.execute(
                "SELECT CAST(group_concat(json, ',') AS BLOB), max(seq), count(*)"
                " FROM (SELECT seq, json FROM changes WHERE seq > ? ORDER BY seq LIMIT ?)",
                (since, limit),
            ).fetchone()
            head = self._next_seq - 1
        if not count:
            return b"", since, 0, head
        return bytes(joined), int(last), int(count), head

    def change_mark(self, seq: int) -> str | None:
        """The mark of change ``seq`` (``change_mark``'s of its stored text), None when
        the feed has no such change: what a cursor was given with, to tell this feed's
        change at that seq from another history's (docs/central.md)."""
        with self._lock:
            row = self._conn.execute("SELECT json FROM changes WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else change_mark(row[0])

    def last_seq(self) -> int:
        with self._lock:
            return self._next_seq - 1

    def _entity(self, conn: sqlite3.Connection, seq: int, kind: str) -> dict[str, Any]:
        row = conn.execute("SELECT json FROM changes WHERE seq = ?", (seq,)).fetchone()
        value: dict[str, Any] = json.loads(row[0])[kind]
        return value

    # -- cargo -----------------------------------------------------------------------------

    def _write_cargo(self, conn: sqlite3.Connection, cargo: Cargo) -> None:
        seq = self._append(conn, "cargo", cargo.ccrn, cargo.model_dump(mode="json"))
        conn.execute(
            "INSERT OR REPLACE INTO cargo(ccrn, status, ubr, seq) VALUES (?, ?, ?, ?)",
            (cargo.ccrn, cargo.status.value, cargo.ubr, seq),
        )

    def _cargo(self, conn: sqlite3.Connection, ccrn: str) -> Cargo:
        row = conn.execute("SELECT seq FROM cargo WHERE ccrn = ?", (ccrn,)).fetchone()
        if row is None:
            raise CentralError(f"no cargo {ccrn}", key="ccrn_not_found", status=404, ccrn=ccrn)
        return Cargo.model_validate(self._entity(conn, int(row[0]), "cargo"))

    def add_cargo(self, items: CargoItems, now: datetime, key: str | None = None) -> Cargo:
        """A new CCRN; with ``key`` (``Idempotency-Key``) one submitted with that key before
        is answered as it is now, not made again (``cargo_for_key``)."""
        with self._tx() as conn:
            if key is not None:
                found = self._cargo_for_key(conn, key, items)
                if found is not None:
                    return found
            number = self._take_numbers(conn, "next_ccrn", FIRST_CCRN, 1)
            cargo = Cargo(ccrn=str(number), submitted_at=now, updated_at=now, items=items)
            self._write_cargo(conn, cargo)
            if key is not None:
                conn.execute(
                    "INSERT INTO cargo_keys(key, ccrn, items) VALUES (?, ?, ?)",
                    (key, cargo.ccrn, _items_json(items)),
                )
        return cargo

    def cargo_for_key(self, key: str, items: CargoItems) -> Cargo | None:
        """The cargo first submitted with ``key``, as it is now (amended since, bundled);
        None for a new key; 409 ``idempotency_key_reused`` if that submission's items
        were not these."""
        with self._lock:
            return self._cargo_for_key(self._conn, key, items)

    def _cargo_for_key(self, conn: sqlite3.Connection, key: str, items: CargoItems) -> Cargo | None:
        row = conn.execute("SELECT ccrn, items FROM cargo_keys WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if bytes(row[1]) != _items_json(items):
            raise CentralError(
                f"idempotency key {key} was used for another submission (cargo {row[0]})",
                key="idempotency_key_reused", status=409, ccrn=row[0],
            )  # fmt: skip
        return self._cargo(conn, str(row[0]))

    def amend_cargo(self, ccrn: str, items: CargoItems, now: datetime) -> Cargo:
        with self._tx() as conn:
            cargo = self._cargo(conn, ccrn)
            if cargo.status is not CargoStatus.SUBMITTED:
                raise CentralError(
                    f"cargo {ccrn} is bundled", key="cargo_bundled", status=409, ccrn=ccrn,
                    ubr=cargo.ubr,
                )  # fmt: skip
            cargo = cargo.model_copy(update={"items": items, "updated_at": now})
            self._write_cargo(conn, cargo)
        return cargo

    def get_cargo(self, ccrn: str) -> Cargo:
        with self._lock:
            return self._cargo(self._conn, ccrn)

    # -- bundles ---------------------------------------------------------------------------

    def _write_bundle(self, conn: sqlite3.Connection, bundle: Bundle, account: str | None) -> None:
        seq = self._append(conn, "bundle", bundle.ubr, bundle.model_dump(mode="json"))
        conn.execute(
            "INSERT OR REPLACE INTO bundles(ubr, vrn, second_plate, status, account, seq)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (bundle.ubr, bundle.vrn, bundle.second_plate, bundle.status.value, account, seq),
        )

    def _bundle(self, conn: sqlite3.Connection, ubr: str) -> tuple[Bundle, str | None]:
        row = conn.execute("SELECT seq, account FROM bundles WHERE ubr = ?", (ubr,)).fetchone()
        if row is None:
            raise CentralError(f"no bundle {ubr}", key="ubr_not_found", status=404, ubr=ubr)
        return Bundle.model_validate(self._entity(conn, int(row[0]), "bundle")), row[1]

    def get_bundle(self, ubr: str) -> Bundle:
        with self._lock:
            return self._bundle(self._conn, ubr)[0]

    def bundles_for_ccrn(self, ccrn: str) -> list[Bundle]:
        """Every bundle that lists this CCRN now (any status), in UBR order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT b.seq FROM bundle_ccrns x JOIN bundles b ON b.ubr = x.ubr"
                " WHERE x.ccrn = ? ORDER BY b.ubr",
                (ccrn,),
            ).fetchall()
            return [Bundle.model_validate(self._entity(self._conn, r[0], "bundle")) for r in rows]

    def active_bundles_for_plate(self, plate: str) -> list[Bundle]:
        """Active bundles whose VRN or second plate is ``plate`` (normalised)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq FROM bundles WHERE vrn = ? AND status = 'active' UNION"
                " SELECT seq FROM bundles WHERE second_plate = ? AND status = 'active'",
                (plate, plate),
            ).fetchall()
            return [Bundle.model_validate(self._entity(self._conn, r[0], "bundle")) for r in rows]

    def create_bundle(self, req: NewBundle, now: datetime, earliest_delay: timedelta) -> Bundle:
        """Check every CCRN, issue a UBR, write the bundle and mark its cargo bundled."""
        with self._tx() as conn:
            cargos = [self._cargo(conn, ccrn) for ccrn in req.ccrns]
            for cargo in cargos:
                self._check_bundlable(cargo, req)
            ubr = str(self._take_numbers(conn, "next_ubr", FIRST_UBR, 1))
            row = conn.execute(
                "SELECT second_plate FROM vehicles WHERE vrn = ?", (req.vrn,)
            ).fetchone()
            bundle = Bundle(
                ubr=ubr,
                vrn=req.vrn,
                second_plate=row[0] if row else None,
                cp=req.cp,
                direction=req.direction,
                ccrns=req.ccrns,
                bundled_at=now,
                earliest_at=now if req.immediate else now + earliest_delay,
                status=BundleStatus.ACTIVE,
                result=req.result,
                bay=req.bay,
                updated_at=now,
            )
            self._write_bundle(conn, bundle, req.account)
            conn.executemany(
                "INSERT OR IGNORE INTO bundle_ccrns(ccrn, ubr) VALUES (?, ?)",
                [(ccrn, ubr) for ccrn in req.ccrns],
            )
            for cargo in cargos:
                self._write_cargo(
                    conn,
                    cargo.model_copy(
                        update={"status": CargoStatus.BUNDLED, "ubr": ubr, "updated_at": now}
                    ),
                )
        logger.info("bundle %s: vrn %s, %d ccrn(s), %s", ubr, req.vrn, len(req.ccrns), req.result)
        return bundle

    @staticmethod
    def _check_bundlable(cargo: Cargo, req: NewBundle) -> None:
        ccrn = cargo.ccrn
        if cargo.status is not CargoStatus.SUBMITTED:
            raise CentralError(
                f"cargo {ccrn} is in bundle {cargo.ubr}",
                key="ccrn_already_bundled", status=409, ccrn=ccrn, ubr=cargo.ubr,
            )  # fmt: skip
        if cargo.items.direction is not req.direction:
            raise CentralError(
                f"cargo {ccrn} is {cargo.items.direction}, bundle is {req.direction}",
                key="ccrn_direction_mismatch", status=422, ccrn=ccrn,
                cargo_direction=cargo.items.direction.value,
            )  # fmt: skip
        if cargo.items.vrn is not None and cargo.items.vrn != req.vrn:
            raise CentralError(
                f"cargo {ccrn} is for {cargo.items.vrn}, bundle is for {req.vrn}",
                key="ccrn_vrn_mismatch", status=422, ccrn=ccrn, cargo_vrn=cargo.items.vrn,
            )  # fmt: skip

    def _owned_active(self, conn: sqlite3.Connection, ubr: str, account: str) -> Bundle:
        bundle, owner = self._bundle(conn, ubr)
        if owner != account:
            raise CentralError(
                f"bundle {ubr} belongs to another account",
                key="bundle_not_yours",
                status=403,
                ubr=ubr,
            )
        if bundle.status is not BundleStatus.ACTIVE:
            raise CentralError(
                f"bundle {ubr} is {bundle.status}",
                key="bundle_not_active", status=409, ubr=ubr, status_now=bundle.status.value,
            )  # fmt: skip
        return bundle

    def check_owner(self, ubr: str, account: str) -> None:
        """``bundle_not_yours`` / ``ubr_not_found`` / ``bundle_not_active`` before a cancel."""
        with self._lock:
            self._owned_active(self._conn, ubr, account)

    def _release_cargo(
        self,
        conn: sqlite3.Connection,
        ccrns: Iterable[str],
        ubr: str,
        now: datetime,
        *,
        unlist: bool,
    ) -> None:
        """The cargo is free to bundle again; ``unlist``: the bundle no longer lists it."""
        for ccrn in ccrns:
            cargo = self._cargo(conn, ccrn)
            self._write_cargo(
                conn,
                cargo.model_copy(
                    update={"status": CargoStatus.SUBMITTED, "ubr": None, "updated_at": now}
                ),
            )
            if unlist:
                conn.execute("DELETE FROM bundle_ccrns WHERE ccrn = ? AND ubr = ?", (ccrn, ubr))

    def cancel_bundle(self, ubr: str, account: str, now: datetime) -> Bundle:
        with self._tx() as conn:
            bundle = self._owned_active(conn, ubr, account)
            bundle = bundle.model_copy(update={"status": BundleStatus.CANCELLED, "updated_at": now})
            self._write_bundle(conn, bundle, account)
            self._release_cargo(conn, bundle.ccrns, ubr, now, unlist=False)
        logger.info("bundle %s cancelled", ubr)
        return bundle

    def remove_ccrn(self, ubr: str, ccrn: str, account: str, now: datetime) -> Bundle:
        """Take one CCRN out; taking the last one cancels the bundle, which keeps it in its
        ``ccrns`` and so stays listed for it (``bundles_for_ccrn``), as a whole cancel
        does. Unlisted, ``?ccrn=`` answered no bundle while the bundle named the CCRN,
        and the edge's replica, which answers from that list, gave the kiosk the bundle:
        two answers, online and offline."""
        with self._tx() as conn:
            bundle = self._owned_active(conn, ubr, account)
            if ccrn not in bundle.ccrns:
                raise CentralError(
                    f"{ccrn} is not in bundle {ubr}",
                    key="ccrn_not_in_bundle", status=404, ubr=ubr, ccrn=ccrn,
                )  # fmt: skip
            left = [c for c in bundle.ccrns if c != ccrn]
            if left:
                bundle = bundle.model_copy(update={"ccrns": left, "updated_at": now})
            else:
                bundle = bundle.model_copy(
                    update={"status": BundleStatus.CANCELLED, "updated_at": now}
                )
            self._write_bundle(conn, bundle, account)
            self._release_cargo(conn, [ccrn], ubr, now, unlist=bool(left))
        return bundle

    # -- events ----------------------------------------------------------------------------

    def record_events(
        self, events: Sequence[tuple[str, bytes, Crossing | None]], now: datetime
    ) -> list[EventResult]:
        """Store each new event once (``encode_event``'s bytes); a ``Crossing`` marks its
        bundle used. An id stored before is ``duplicate`` if the event is the same bytes,
        else ``rejected`` (``id_reused``): answered ``duplicate``, the uploader took the
        second record for delivered and it was lost."""
        results: list[EventResult] = []
        received_at = to_rfc3339(now)
        with self._tx() as conn:
            for event_id, text, crossing in events:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO events(id, received_at, json) VALUES (?, ?, ?)",
                    (event_id, received_at, text),
                )
                if cur.rowcount == 0:
                    row = conn.execute("SELECT json FROM events WHERE id = ?", (event_id,))
                    if bytes(row.fetchone()[0]) == text:
                        results.append(EventResult(id=event_id, status="duplicate"))
                    else:
                        logger.warning("event id %s reused for another event: rejected", event_id)
                        results.append(
                            EventResult(id=event_id, status="rejected", reason="id_reused")
                        )
                    continue
                results.append(EventResult(id=event_id, status="accepted"))
                if crossing is not None:
                    self._mark_used(conn, event_id, crossing, now)
        return results

    def _mark_used(
        self, conn: sqlite3.Connection, event_id: str, crossing: Crossing, now: datetime
    ) -> None:
        """An active bundle becomes used: its stored JSON with the two fields changed.

        Only a crossing at the bundle's control point, in its direction, by a truck with
        one of its plates: else a record of any lane (a misread, a wrong UBR) would use up
        another truck's bundle. Such an event is kept, the bundle left as it is.

        One call a crossing truck in every upload, so no model round trip: the stored
        entity was validated when it was written (``_write_bundle``, or the bulk load's
        template of the same shape), and the JSON written is what ``model_dump`` would
        give (tests/hardware_sim/test_store.py). A 50-record upload: 7.7 -> 3.0 ms."""
        ubr = crossing.ubr
        row = conn.execute(
            "SELECT seq, status, vrn, second_plate FROM bundles WHERE ubr = ?", (ubr,)
        ).fetchone()
        if row is None:
            logger.info("event names bundle %s the centre does not know", ubr)
            return
        if row[1] != BundleStatus.ACTIVE.value:
            return
        entity = self._entity(conn, int(row[0]), "bundle")
        own_plates = {row[2], row[3]} - {None}
        if (
            entity["cp"] != crossing.cp
            or entity["direction"] != crossing.direction
            or not own_plates & crossing.plates
        ):
            logger.warning(
                "event %s: a crossing at %s %s by %s does not match bundle %s (%s %s, %s):"
                " the bundle is left %s",
                event_id, crossing.cp, crossing.direction, sorted(crossing.plates) or "no plate",
                ubr, entity["cp"], entity["direction"], sorted(own_plates), row[1],
            )  # fmt: skip
            return
        entity["status"] = BundleStatus.USED.value
        entity["updated_at"] = to_rfc3339(now)
        seq = self._append(conn, "bundle", ubr, entity)
        conn.execute(
            "UPDATE bundles SET status = ?, seq = ? WHERE ubr = ?",
            (BundleStatus.USED.value, seq, ubr),
        )

    def events_page(
        self, since: int, limit: int, max_bytes: int = MAX_EVENTS_PAGE_BYTES
    ) -> tuple[bytes, int, int, int]:
        """The events after ``since`` as ``{"seq", "id", "received_at", "event"}`` texts
        joined by commas, the last seq, the count, and the last event's seq, as of one
        moment (``feed_page``'s shape).

        At most ``limit`` events and about ``max_bytes`` of them, but always one when any
        follow ``since``: the sizes are read first (SQLite's ``length`` of a blob does not
        read the blob), then only the events that fit. Bounded by the count alone, a page
        of 10,000 events of up to 8 MB each could be GBs, all read under the lock.

        ``event`` is the stored text as it is: parsed and serialised again, an event
        nested a few hundred levels deep failed every page that held it (500).
        """
        with self._lock:
            sizes = self._conn.execute(
                "SELECT seq, length(json) + length(id) + length(received_at) FROM events"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (since, limit),
            ).fetchall()
            upto, total = since, 0
            for seq, size in sizes:
                total += int(size) + _EVENT_WRAPPER_BYTES
                if total > max_bytes and upto > since:
                    break
                upto = int(seq)
            rows = self._conn.execute(
                "SELECT seq, id, received_at, json FROM events WHERE seq > ? AND seq <= ?"
                " ORDER BY seq",
                (since, upto),
            ).fetchall()
            head = int(self._conn.execute("SELECT max(seq) FROM events").fetchone()[0] or 0)
        if not rows:
            return b"", since, 0, head
        joined = b",".join(
            b'{"seq":%d,"id":%s,"received_at":%s,"event":%s}'
            % (seq, _json_text(event_id), _json_text(received_at), _standard_json(bytes(text)))
            for seq, event_id, received_at, text in rows
        )
        return joined, int(rows[-1][0]), len(rows), head

    # -- UBR blocks --------------------------------------------------------------------------

    def lease_ubr_block(self, cp: ControlPoint, count: int, now: datetime) -> UbrBlock:
        with self._tx() as conn:
            first = self._take_numbers(conn, "next_ubr", FIRST_UBR, count)
            block = UbrBlock(
                cp=cp,
                first=str(first),
                count=count,
                leased_at=now,
                expires_at=now + UBR_BLOCK_LEASE,
            )
            conn.execute(
                "INSERT INTO ubr_blocks(first, count, cp, leased_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (block.first, count, cp.value, to_rfc3339(now), to_rfc3339(block.expires_at)),
            )
        logger.info("leased UBRs %s..+%d to %s", block.first, count, cp)
        return block

    # -- accounts, vehicles, revocations -----------------------------------------------------

    def put_account(self, row: AccountRow) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?, ?, ?)",
                (row.account, row.salt, row.pw_hash, row.totp_secret, int(row.immediate), row.name),
            )

    def get_account(self, account: str) -> AccountRow | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT account, salt, pw_hash, totp_secret, immediate, name FROM accounts"
                " WHERE account = ?",
                (account,),
            ).fetchone()
        if row is None:
            return None
        return AccountRow(row[0], row[1], row[2], row[3], bool(row[4]), row[5])

    def claim_code_step(self, account: str, step: int) -> bool:
        """Record ``step`` as the account's last accepted security-code step if it is later
        than the one recorded; False if it is not (the code, or an older one, was used).

        One statement, so two requests with the same code cannot both claim it.
        """
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO code_steps(account, step) VALUES (?, ?)"
                " ON CONFLICT(account) DO UPDATE SET step = excluded.step"
                " WHERE excluded.step > code_steps.step",
                (account, step),
            )
            return cursor.rowcount == 1

    def claim_cert_signature(self, digest: bytes, keep_until: datetime, now: datetime) -> bool:
        """Record an accepted certificate signature (its SHA-256) until ``keep_until``;
        False if it is recorded already (the signature was used).

        Signatures whose ``keep_until`` is before ``now`` are dropped first, so the table
        holds only those of the last few minutes. The claim is one statement, so two
        requests with the same signature cannot both claim it.
        """
        with self._tx() as conn:
            conn.execute("DELETE FROM cert_signatures WHERE keep_until_ms < ?", (_ms(now),))
            cursor = conn.execute(
                "INSERT INTO cert_signatures(digest, keep_until_ms) VALUES (?, ?)"
                " ON CONFLICT(digest) DO NOTHING",
                (digest, _ms(keep_until)),
            )
            return cursor.rowcount == 1

    def revoke_cert(self, serial: int, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO revoked_certs VALUES (?, ?)", (str(serial), to_rfc3339(now))
            )

    def is_revoked(self, serial: int) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM revoked_certs WHERE serial = ?", (str(serial),)
            ).fetchone()
        return row is not None

    # -- seeding -----------------------------------------------------------------------------

    def seed(
        self,
        *,
        cargo: Sequence[Cargo],
        bundles: Sequence[tuple[Bundle, str | None]],
        vehicles: dict[str, str],
        demo_accounts: Sequence[dict[str, Any]],
        demo_trucks: Sequence[dict[str, Any]],
    ) -> None:
        """Write seeded data through the change feed, in one transaction."""
        with self._tx() as conn:
            for item in cargo:
                self._write_cargo(conn, item)
            for bundle, account in bundles:
                self._write_bundle(conn, bundle, account)
                conn.executemany(
                    "INSERT OR IGNORE INTO bundle_ccrns(ccrn, ubr) VALUES (?, ?)",
                    [(c, bundle.ubr) for c in bundle.ccrns],
                )
            conn.executemany(
                "INSERT OR REPLACE INTO vehicles(vrn, second_plate) VALUES (?, ?)",
                sorted(vehicles.items()),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO demo_accounts(account, json) VALUES (?, ?)",
                [(a["account"], json.dumps(a)) for a in demo_accounts],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO demo_trucks(pos, json) VALUES (?, ?)",
                [(i, json.dumps(t, ensure_ascii=False)) for i, t in enumerate(demo_trucks)],
            )
            top_ccrn = max((int(c.ccrn) for c in cargo), default=FIRST_CCRN - 1)
            top_ubr = max((int(b.ubr) for b, _ in bundles), default=FIRST_UBR - 1)
            for name, top in (("next_ccrn", top_ccrn), ("next_ubr", top_ubr)):
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
                current = int(row[0]) if row else 0
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    (name, str(max(current, top + 1))),
                )

    def demo_accounts(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT json FROM demo_accounts ORDER BY account").fetchall()
        return [json.loads(r[0]) for r in rows]

    def demo_trucks(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT json FROM demo_trucks ORDER BY pos").fetchall()
        return [json.loads(r[0]) for r in rows]

    def bulk_synthetic(
        self, count: int, cp: ControlPoint | str, direction: Direction | str, now: datetime
    ) -> tuple[int, int]:
        """Load ``count`` deterministic active bundles (and their change texts) at once.

        For the replica benchmark: one ``executemany`` per table in one transaction, the
        JSON made by string formatting, not by models. Returns the first UBR and count.
        The bundles carry no cargo rows (their CCRNs are synthetic too).
        """
        cp, direction = ControlPoint(cp), Direction(direction)
        bundled_at = to_rfc3339(now - timedelta(hours=1))
        earliest_at = to_rfc3339(now - timedelta(minutes=30))
        with self._tx() as conn:
            first_ubr = self._take_numbers(conn, "next_ubr", FIRST_UBR, count)
            first_ccrn = self._take_numbers(conn, "next_ccrn", FIRST_CCRN, count)
            first_seq = self._next_seq
            self._next_seq += count
            template = (
                '{"seq":%d,"kind":"bundle","key":"%d","op":"upsert","bundle":{"ubr":"%d",'
                '"vrn":"%s","second_plate":null,"cp":"' + cp.value + '","direction":"'
                + direction.value + '","ccrns":["%d"],"bundled_at":"' + bundled_at
                + '","earliest_at":"' + earliest_at + '","status":"active","result":"%s",'
                '"bay":%s,"updated_at":"' + bundled_at + '"}}'
            )  # fmt: skip

            vrns = [synthetic_vrn(i) for i in range(count)]

            def rows() -> Iterator[tuple[int, str, bytes]]:
                for i, vrn in enumerate(vrns):
                    ubr = first_ubr + i
                    inspect = i % 10 == 9
                    text = template % (
                        first_seq + i,
                        ubr,
                        ubr,
                        vrn,
                        first_ccrn + i,
                        "INSPECT" if inspect else "PROCEED",
                        f'"B{i % 8 + 1}"' if inspect else "null",
                    )
                    yield first_seq + i, str(ubr), text.encode()

            conn.executemany(
                "INSERT INTO changes(seq, kind, key, json) VALUES (?, 'bundle', ?, ?)", rows()
            )
            conn.executemany(
                "INSERT INTO bundles(ubr, vrn, second_plate, status, account, seq)"
                " VALUES (?, ?, NULL, 'active', NULL, ?)",
                ((str(first_ubr + i), vrn, first_seq + i) for i, vrn in enumerate(vrns)),
            )
        logger.info("loaded %d synthetic bundles from UBR %d", count, first_ubr)
        return first_ubr, count


_VRN_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def synthetic_vrn(index: int) -> str:
    """The ``index``-th synthetic plate: two letters and four digits (23*23*10000 of them)."""
    letters, digits = divmod(index % (23 * 23 * 10_000), 10_000)
    first, second = divmod(letters, 23)
    return f"{_VRN_LETTERS[first]}{_VRN_LETTERS[second]}{digits:04d}"

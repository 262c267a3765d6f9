"""The store's bulk loader and the synthetic plates it uses."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hardware_sim.store import Crossing, Store, _depth_over, encode_event, synthetic_vrn
from rocars.ids import normalize_vrn
from rocars.models import BundleStatus, CargoItems, ChangePage


def test_synthetic_vrns_are_valid_and_distinct() -> None:
    vrns = [synthetic_vrn(i) for i in range(0, 5_290_000, 997)]
    assert len(set(vrns)) == len(vrns)
    assert all(normalize_vrn(v) == v and len(v) == 6 for v in vrns)


def test_bulk_synthetic_rows_are_changes_of_valid_bundles(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    assert store.is_new
    now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    first, count = store.bulk_synthetic(500, "SBC", "import", now)
    joined, last, count = store.feed_page(0, 1000)[:3]
    assert (count, last, store.last_seq()) == (500, 500, 500)
    page = ChangePage.model_validate_json(b'{"changes":[' + joined + b'],"next":"500"}')
    assert store.feed_page(500, 10)[:3] == (b"", 500, 0)
    joined, last, count = store.feed_page(100, 7)[:3]
    assert (count, last) == (7, 107)
    assert [c["seq"] for c in json.loads(b"[" + joined + b"]")] == list(range(101, 108))
    assert [c.seq for c in page.changes] == list(range(1, 501))
    assert page.changes[0].bundle is not None
    assert page.changes[0].bundle.ubr == str(first)
    assert store.get_bundle(str(first + 9)).result == "INSPECT"
    assert [b.ubr for b in store.active_bundles_for_plate(synthetic_vrn(3))] == [str(first + 3)]
    store.close()
    reopened = Store(tmp_path / "c.sqlite3")
    assert not reopened.is_new
    assert reopened.last_seq() == 500
    reopened.close()


def test_a_crossing_marks_its_bundle_used_as_the_model_would(tmp_path: Path) -> None:
    """The used bundle's change is what ``model_copy`` + ``model_dump`` gave before the
    store edited the stored JSON directly; unknown and already used bundles: no change."""
    store = Store(tmp_path / "c.sqlite3")
    loaded = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    first, _ = store.bulk_synthetic(20, "SBC", "import", loaded)
    # one bundle written the model's way (a kiosk bundle), with an account and a second plate
    made = store.get_bundle(str(first + 9)).model_copy(
        update={"ubr": str(first + 100), "second_plate": "粤Z1234港"}
    )
    with store._tx() as conn:
        store._write_bundle(conn, made, "123456")
    crossed = datetime(2026, 11, 22, 2, 30, 5, 123000, tzinfo=UTC)
    expected = {
        ubr: store.get_bundle(ubr).model_copy(
            update={"status": BundleStatus.USED, "updated_at": crossed}
        )
        for ubr in (str(first + 3), str(first + 100))
    }
    before = store.last_seq()

    def at_sbc(n: int, ubr: str, plate: str) -> tuple[str, bytes, Crossing]:
        event_id = f"e{n}"
        return event_id, encode_event({"id": event_id}), crossing(ubr, plate)

    events = [
        at_sbc(1, str(first + 3), synthetic_vrn(3)),
        at_sbc(2, str(first + 100), "粤Z1234港"),  # by its second plate
        at_sbc(3, "9999999999", "AB12"),  # not a bundle of this centre
        at_sbc(4, str(first + 3), synthetic_vrn(3)),  # already used
        ("e5", encode_event({"id": "e5"}), None),  # no crossing
    ]
    results = store.record_events(events, crossed)
    assert [r.status for r in results] == ["accepted"] * 5
    joined, last, count = store.feed_page(before, 100)[:3]
    changes = json.loads(b"[" + joined + b"]")
    assert count == 2
    assert [c["key"] for c in changes] == [str(first + 3), str(first + 100)]
    for change in changes:
        assert change["bundle"] == expected[change["key"]].model_dump(mode="json")
        assert store.get_bundle(change["key"]) == expected[change["key"]]
    assert store.active_bundles_for_plate(synthetic_vrn(3)) == []
    assert [b.ubr for b in store.active_bundles_for_plate(synthetic_vrn(4))] == [str(first + 4)]
    store.close()


def crossing(ubr: str, *plates: str, cp: str = "SBC", direction: str = "import") -> Crossing:
    return Crossing(ubr, cp, direction, frozenset(plates))


def test_a_crossing_uses_only_a_bundle_of_its_control_point_direction_and_plate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A record naming another truck's bundle (another control point's lane, the other
    direction, another plate: a misread or a wrong UBR) is kept, the bundle left active,
    with a warning; the bundle's own truck then still crosses on it."""
    store = Store(tmp_path / "c.sqlite3")
    now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    first, _ = store.bulk_synthetic(5, "SBC", "import", now)
    ubr, vrn = str(first), synthetic_vrn(0)
    before = store.last_seq()
    wrong = [
        crossing(ubr, vrn, cp="LMC"),
        crossing(ubr, vrn, direction="export"),
        crossing(ubr, synthetic_vrn(1)),
        crossing(ubr),  # no plate at all
    ]
    events = [(f"w{n}", encode_event({"id": f"w{n}"}), c) for n, c in enumerate(wrong)]
    with caplog.at_level(logging.WARNING, logger="hardware_sim.store"):
        results = store.record_events(events, now)
    assert [r.status for r in results] == ["accepted"] * 4
    assert store.last_seq() == before
    assert store.get_bundle(ubr).status is BundleStatus.ACTIVE
    mismatches = [r for r in caplog.records if f"does not match bundle {ubr}" in r.getMessage()]
    assert [r.levelno for r in mismatches] == [logging.WARNING] * 4
    # one of its plate reads is enough (the record's vrn another plate, or none)
    right = crossing(ubr, synthetic_vrn(1), vrn)
    assert store.record_events([("r1", encode_event({"id": "r1"}), right)], now)[0].status == (
        "accepted"
    )
    assert store.get_bundle(ubr).status is BundleStatus.USED
    assert store.last_seq() == before + 1
    store.close()


def _cargo_items() -> CargoItems:
    return CargoItems(
        packages=1,
        package_description="CARTONS",
        article_description="PHONES",
        consignor_name="A",
        consignor_address="B",
        consignee_name="C",
        consignee_address="D",
        expected_date=date(2026, 11, 22),
        direction="import",
    )


class FailingConnection:
    """The store's connection, but the statements named in ``fail`` raise, once each
    (a full disk or an I/O error at COMMIT)."""

    def __init__(self, real: sqlite3.Connection, *fail: str) -> None:
        self.real = real
        self.fail = set(fail)

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql in self.fail:
            self.fail.discard(sql)
            raise sqlite3.OperationalError(f"disk I/O error (simulated at {sql})")
        return self.real.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _committed_changes(path: Path) -> int:
    with sqlite3.connect(path) as other:
        return int(other.execute("SELECT count(*) FROM changes").fetchone()[0])


@pytest.mark.parametrize("fail", [("COMMIT",), ("COMMIT", "ROLLBACK")])
def test_a_failed_commit_changes_nothing_and_the_next_write_goes_in(
    tmp_path: Path, fail: tuple[str, ...]
) -> None:
    """COMMIT raising (and ROLLBACK too: the connection is then still inside its
    transaction and is replaced): the feed and ``last_seq`` do not move, nothing of it is
    in the file, and the next write is stored with the next seq."""
    path = tmp_path / "c.sqlite3"
    store = Store(path)
    now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    store.add_cargo(_cargo_items(), now)
    real = store._conn
    store._conn = FailingConnection(real, *fail)  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError, match="COMMIT"):
        store.add_cargo(_cargo_items(), now)
    assert not store._conn.in_transaction
    assert store.last_seq() == 1
    assert store.feed_page(0, 100)[1:3] == (1, 1)
    assert store.feed_page(0, 100)[1:] == (1, 1, 1)
    assert _committed_changes(path) == 1
    cargo = store.add_cargo(_cargo_items(), now)
    assert (store.last_seq(), _committed_changes(path)) == (2, 2)
    changes = json.loads(b"[" + store.feed_page(0, 100)[0] + b"]")
    assert [c["seq"] for c in changes] == [1, 2]
    assert changes[1]["cargo"]["ccrn"] == cargo.ccrn
    store.close()


def test_feed_page_gives_the_head_with_the_page(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    store.bulk_synthetic(30, "SBC", "import", datetime(2026, 11, 22, 1, 0, tzinfo=UTC))
    joined, last, count, head = store.feed_page(10, 5)
    assert (last, count, head) == (15, 5, 30)
    assert (joined, last, count) == store.feed_page(10, 5)[:3]
    assert store.feed_page(30, 5) == (b"", 30, 0, 30)
    assert store.feed_page(31, 5) == (b"", 31, 0, 30)  # a cursor ahead: the head says so
    store.close()


def _kept(store: Store) -> int:
    with store._lock:
        return int(store._conn.execute("SELECT count(*) FROM cert_signatures").fetchone()[0])


def test_a_certificate_signature_is_claimed_once_and_dropped_after_its_time(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "c.sqlite3")
    now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    first, second, third = (hashlib.sha256(bytes([n])).digest() for n in range(3))
    keep = now + timedelta(minutes=6)
    assert store.claim_cert_signature(first, keep, now)
    assert not store.claim_cert_signature(first, keep, now + timedelta(minutes=5))
    assert store.claim_cert_signature(second, keep + timedelta(minutes=1), now)
    store.close()
    store = Store(tmp_path / "c.sqlite3")  # a restart keeps them
    assert not store.claim_cert_signature(first, keep, now)
    assert _kept(store) == 2
    # at its keep_until it is still kept; after it, the next claim drops it
    assert store.claim_cert_signature(third, keep + timedelta(minutes=6), keep)
    assert _kept(store) == 3
    later = keep + timedelta(milliseconds=1)
    assert not store.claim_cert_signature(third, keep + timedelta(minutes=6), later)
    assert _kept(store) == 2
    # so the table holds only signatures whose time is not over: bounded
    for minute in range(60):
        at = later + timedelta(minutes=minute)
        assert store.claim_cert_signature(
            hashlib.sha256(b"n%d" % minute).digest(), at + timedelta(minutes=6), at
        )
    assert _kept(store) == 7
    store.close()


def test_one_signature_claimed_at_once_through_two_connections_is_claimed_once(
    tmp_path: Path,
) -> None:
    """The claim is one SQL statement: it holds across connections, not only behind one
    store's lock."""
    stores = [Store(tmp_path / "c.sqlite3") for _ in range(2)]
    now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    digest = hashlib.sha256(b"signature").digest()
    tries = 16
    start = threading.Barrier(tries)

    def claim(n: int) -> bool:
        start.wait(timeout=10)
        return stores[n % 2].claim_cert_signature(digest, now + timedelta(minutes=6), now)

    with ThreadPoolExecutor(max_workers=tries) as pool:
        won = list(pool.map(claim, range(tries)))
    assert won.count(True) == 1
    for store in stores:
        store.close()


def _depth(value: object) -> int:
    """How deep ``value`` nests objects and lists, by recursion (the reference)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def test_the_depth_check_answers_by_nesting() -> None:
    shapes: list[Any] = [
        0,
        "text",
        [],
        {},
        {"a": [{"b": [1, {"c": []}]}]},
        [[0] * 10, _nested(5)],
        [[[[]]], [[[[]]]], 0],  # a deeper one after a shallower one closed
        {"x": _nested(30)},
        {"x": _nested(31), "y": {"z": "w"}},
        [{"a": {}}, {"b": [[], [[{"c": 1}]]]}, {}],
    ]
    for shape in shapes:
        for limit in range(12):
            assert _depth_over(shape, limit) == (_depth(shape) > limit), (shape, limit)
        assert _depth_over(shape, 32) == (_depth(shape) > 32)
    assert not _depth_over({"x": _nested(31)}, 32)  # 32 levels
    assert _depth_over({"x": _nested(32)}, 32)


def test_the_depth_check_holds_no_entry_per_value() -> None:
    """One valid event with a list of four million zeros (8 MB of text) peaked at ~260
    MB and 3 s in the check before it was stored: its stack held every value still to
    look at. It holds one iterator per open container now; a million zeros took ~70 MB
    before, and take a few hundred bytes."""
    wide = {"id": "e1", "x": [0] * 1_000_000, "y": [{"z": [0] * 1000}]}
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        assert not _depth_over(wide, 32)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if started:
            tracemalloc.stop()
    assert peak < 100_000, f"{peak} bytes"


def _stored(n: int, size: int) -> tuple[str, bytes, None]:
    """Event ``e{n}`` whose stored text is ``size`` bytes."""
    text = encode_event({"id": f"e{n}", "note": ""})
    return f"e{n}", encode_event({"id": f"e{n}", "note": "x" * (size - len(text))}), None


def test_an_events_page_stops_at_its_byte_budget_with_one_event_at_least(
    tmp_path: Path,
) -> None:
    """A page was bounded by its count alone (up to 10,000 events of up to 8 MB each,
    read under the lock): now also by ``max_bytes``, but it always holds one event when
    any follow, so a reader that follows ``next`` until an empty page gets them all."""
    store = Store(tmp_path / "c.sqlite3")
    now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    sizes = [1000, 1000, 1000, 5000, 1000, 1000, 1000]
    events = [_stored(n, size) for n, size in enumerate(sizes, start=1)]
    assert [len(text) for _, text, _ in events] == sizes
    assert [r.status for r in store.record_events(events, now)] == ["accepted"] * 7

    def pages(limit: int, max_bytes: int) -> list[list[str]]:
        out: list[list[str]] = []
        since = 0
        while True:
            joined, last, count, head = store.events_page(since, limit, max_bytes)
            assert head == 7
            if not count:
                assert (joined, last) == (b"", since)
                return out
            page = json.loads(b"[" + joined + b"]")
            assert len(page) == count
            assert page[-1]["seq"] == last
            if count > 1:  # over the budget only when alone
                assert len(joined) <= max_bytes
            out.append([e["id"] for e in page])
            since = last

    assert pages(100, 2500) == [["e1", "e2"], ["e3"], ["e4"], ["e5", "e6"], ["e7"]]
    assert pages(2, 1 << 20) == [["e1", "e2"], ["e3", "e4"], ["e5", "e6"], ["e7"]]
    assert pages(100, 1) == [[f"e{n}"] for n in range(1, 8)]
    assert pages(100, 1 << 20) == [[f"e{n}" for n in range(1, 8)]]
    assert store.events_page(7, 100, 1) == (b"", 7, 0, 7)
    store.close()

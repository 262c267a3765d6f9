"""The store's bulk loader and the synthetic plates it uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hardware_sim.store import Store, synthetic_vrn
from rocars.ids import normalize_vrn
from rocars.models import BundleStatus, ChangePage


def test_synthetic_vrns_are_valid_and_distinct() -> None:
    vrns = [synthetic_vrn(i) for i in range(0, 5_290_000, 997)]
    assert len(set(vrns)) == len(vrns)
    assert all(normalize_vrn(v) == v and len(v) == 6 for v in vrns)


def test_bulk_synthetic_rows_are_changes_of_valid_bundles(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    assert store.is_new
    now = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    first, count = store.bulk_synthetic(500, "SBC", "import", now)
    joined, last, count = store.changes_page(0, 1000)
    assert (count, last, store.last_seq()) == (500, 500, 500)
    page = ChangePage.model_validate_json(b'{"changes":[' + joined + b'],"next":"500"}')
    assert store.changes_page(500, 10) == (b"", 500, 0)
    joined, last, count = store.changes_page(100, 7)
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
        update={"ubr": str(first + 100), "second_plate": "XY12"}
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
    events = [
        ("e1", {"id": "e1"}, str(first + 3)),
        ("e2", {"id": "e2"}, str(first + 100)),
        ("e3", {"id": "e3"}, "9999999999"),  # not a bundle of this centre
        ("e4", {"id": "e4"}, str(first + 3)),  # already used
        ("e5", {"id": "e5"}, None),  # no crossing
    ]
    results = store.record_events(events, crossed)
    assert [r.status for r in results] == ["accepted"] * 5
    joined, last, count = store.changes_page(before, 100)
    changes = json.loads(b"[" + joined + b"]")
    assert count == 2
    assert [c["key"] for c in changes] == [str(first + 3), str(first + 100)]
    for change in changes:
        assert change["bundle"] == expected[change["key"]].model_dump(mode="json")
        assert store.get_bundle(change["key"]) == expected[change["key"]]
    assert store.active_bundles_for_plate(synthetic_vrn(3)) == []
    assert [b.ubr for b in store.active_bundles_for_plate(synthetic_vrn(4))] == [str(first + 4)]
    store.close()

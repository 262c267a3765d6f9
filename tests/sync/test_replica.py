"""The replica: lookups, the cursor in the same transaction, fast and full page paths."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hardware_sim.launch import CentralProcess
from rocars.models import Bundle, ChangePage
from sync.errors import CursorMismatch, MalformedPage, ReplicaError
from sync.feed import CCRN_SEPARATOR, parse_page, rows_from_changes
from sync.puller import CentralClient
from sync.replica import _ACTIVE_PLATE_QUERY, Replica

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def bundle_json(ubr: str, vrn: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ubr": ubr,
        "vrn": vrn,
        "second_plate": None,
        "cp": "SBC",
        "direction": "import",
        "ccrns": ["1001041258", "1001041259"],
        "bundled_at": "2026-11-21T07:00:00.000Z",
        "earliest_at": "2026-11-21T07:30:00.000Z",
        "status": "active",
        "result": "PROCEED",
        "bay": None,
        "updated_at": "2026-11-21T07:00:00.000Z",
    }
    body.update(extra)
    return body


def page(changes: list[dict[str, Any]], nxt: str) -> bytes:
    return json.dumps({"changes": changes, "next": nxt}, ensure_ascii=False).encode()


def upsert(seq: int, bundle: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "kind": "bundle", "key": bundle["ubr"], "op": "upsert", "bundle": bundle}


def test_lookups_by_ubr_plate_second_plate_and_ccrn(tmp_path: Path) -> None:
    replica = Replica(tmp_path / "replica.db")
    assert (replica.cursor(), replica.last_sync_at(), replica.count_bundles()) == ("", None, 0)
    raw = page(
        [
            upsert(1, bundle_json("9110635860", "AB1234", second_plate="粤Z1234港")),
            upsert(
                2, bundle_json("9110635861", "AB1234", status="cancelled", ccrns=["1001041260"])
            ),
            upsert(3, bundle_json("9110635862", "CD5678", ccrns=["1001041259"])),
        ],
        "3",
    )
    replica.apply_rows("", parse_page(raw), NOW)
    assert replica.cursor() == "3"
    assert replica.last_sync_at() == NOW
    assert replica.count_bundles() == 3
    found = replica.bundle("9110635860")
    assert isinstance(found, Bundle)
    assert (found.vrn, found.second_plate, found.ccrns) == (
        "AB1234",
        "粤Z1234港",
        ["1001041258", "1001041259"],
    )
    assert found.earliest_at == datetime(2026, 11, 21, 7, 30, tzinfo=UTC)
    assert replica.bundle("9999999999") is None
    # 9110635861 is cancelled: a lane's look-up never reads it
    assert [b.ubr for b in replica.active_bundles_for_plate("AB1234")] == ["9110635860"]
    assert replica.bundle("9110635861") is not None  # by UBR, any status
    assert [b.ubr for b in replica.active_bundles_for_plate("粤Z1234港")] == ["9110635860"]
    assert replica.active_bundles_for_plate("ZZ1") == []
    assert [b.ubr for b in replica.bundles_for_ccrn("1001041259")] == ["9110635860", "9110635862"]
    # a CCRN taken out of its bundle is not found through the old join row
    replica.apply_rows(
        "3", parse_page(page([upsert(4, bundle_json("9110635862", "CD5678"))], "4")), NOW
    )
    assert [b.ubr for b in replica.bundles_for_ccrn("1001041260")] == ["9110635861"]
    replica.apply_rows(
        "4",
        parse_page(
            page(
                [
                    upsert(5, bundle_json("9110635860", "AB1234", ccrns=["1001041258"])),
                    {"seq": 6, "kind": "bundle", "key": "9110635861", "op": "delete"},
                ],
                "6",
            )
        ),
        NOW,
    )
    assert [b.ubr for b in replica.bundles_for_ccrn("1001041259")] == ["9110635862"]
    assert replica.bundle("9110635861") is None
    assert replica.count_bundles() == 2
    replica.close()


def test_cursor_must_match_or_nothing_is_applied(tmp_path: Path) -> None:
    replica = Replica(tmp_path / "replica.db")
    first = parse_page(page([upsert(1, bundle_json("9110635860", "AB1234"))], "1"))
    replica.apply_rows("", first, NOW)
    # the same page again (fetched for cursor "") is refused: never applied twice
    with pytest.raises(CursorMismatch):
        replica.apply_rows("", first, NOW + timedelta(seconds=5))
    # a page for a later cursor is refused: never skipped
    later = parse_page(page([upsert(9, bundle_json("9110635869", "ZZ9"))], "9"))
    with pytest.raises(CursorMismatch):
        replica.apply_rows("8", later, NOW)
    assert (replica.cursor(), replica.count_bundles(), replica.last_sync_at()) == ("1", 1, NOW)
    # state survives a reopen
    replica.close()
    again = Replica(tmp_path / "replica.db")
    assert (again.cursor(), again.count_bundles()) == ("1", 1)
    again.close()


def test_malformed_pages_are_refused() -> None:
    good = bundle_json("9110635860", "AB1234")
    bad_pages = [
        b"not json",
        b"[]",
        page([upsert(1, {**good, "ubr": "123"})], "1"),
        page([upsert(1, {**good, "cp": "XXX"})], "1"),
        page([upsert(1, {**good, "earliest_at": "yesterday"})], "1"),
        page([upsert(1, {**good, "ccrns": []})], "1"),
        # a status left out or misspelt: it stood as an active bundle
        page([upsert(1, {k: v for k, v in good.items() if k != "status"})], "1"),
        page([upsert(1, {**good, "status": "Cancelled"})], "1"),
        page([{"seq": 1, "kind": "bundle", "key": "9110635860", "op": "upsert"}], "1"),
        json.dumps({"changes": [upsert(1, good)]}).encode(),  # no next
    ]
    for raw in bad_pages:
        with pytest.raises(MalformedPage):
            parse_page(raw)


def test_a_page_s_mark_is_read_on_both_paths_and_a_bad_one_refused() -> None:
    """The mark of the change a page's cursor stands on, after ``next``: read in the
    centre's own form and in any other; one that is not lowercase hex of at most 64
    digits makes the page malformed; a page without one (a centre that gives none) has
    none."""
    body = bundle_json("9110635860", "AB1234")
    mark = "0123456789abcdef" * 2
    for make in (compact, page):
        raw = make([upsert(1, body)], "1")
        assert parse_page(raw).mark == ""
        marked = raw[:-1] + f',"mark":"{mark}"}}'.encode()
        assert parse_page(marked).mark == mark
        empty = make([], "1")[:-1] + f',"mark":"{mark}"}}'.encode()
        assert (parse_page(empty).mark, parse_page(empty).changes) == (mark, 0)
        for wrong in ("ABCDEF", "g" * 8, "a" * 65):
            with pytest.raises(MalformedPage):
                parse_page(raw[:-1] + f',"mark":"{wrong}"}}'.encode())


def test_a_bundle_without_its_result_is_kept_without_one() -> None:
    """A change that leaves the selection out (or misspells its name) was stored as a
    bundle selected for release; it is kept with no result, which stops the truck."""
    for body in (
        {k: v for k, v in bundle_json("9110635860", "AB1234").items() if k != "result"},
        {
            **{k: v for k, v in bundle_json("9110635860", "AB1234").items() if k != "result"},
            "Result": "INSPECT",
        },
    ):
        row = parse_page(page([upsert(1, body)], "1")).bundles["9110635860"]
        assert Bundle.model_validate_json(row[0]).result is None


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-05:00", "0001-01-01T01:00:00+05:00"])
def test_a_time_with_no_utc_is_refused_in_the_centres_form_as_in_any_other(when: str) -> None:
    """Every bundle the fast path takes is one the full model takes: a time that has no
    UTC (the year's end crossed by the offset) makes the page malformed either way."""
    body = bundle_json("9110635860", "AB1234", earliest_at=when)
    for raw in (compact([upsert(1, body)], "1"), page([upsert(1, body)], "1")):
        with pytest.raises(MalformedPage):
            parse_page(raw)


def test_non_canonical_page_goes_through_the_full_models() -> None:
    raw = page([upsert(1, bundle_json("9110-635860", "ab 1234", second_plate="粤z1234港"))], "1")
    rows = parse_page(raw)
    row = rows.bundles["9110635860"]
    assert row[1:4] == ("9110635860", "AB1234", "粤Z1234港")
    assert row[4].split(CCRN_SEPARATOR) == ["1001041258", "1001041259"]
    assert row[5] == "active"
    assert Bundle.model_validate_json(row[0]).second_plate == "粤Z1234港"


def test_fast_and_full_paths_agree_on_a_real_centre_page(
    central: CentralProcess, tmp_path: Path
) -> None:
    client = CentralClient(central.url, token=central.token)
    raw = client.changes_raw("", 10_000)
    full = ChangePage.model_validate_json(raw)
    assert any(c.bundle and c.bundle.second_plate for c in full.changes)
    assert any(c.kind == "cargo" for c in full.changes)  # the demo page takes the full path
    bundles_only = json.loads(raw)
    bundles_only["changes"] = [c for c in bundles_only["changes"] if c["kind"] == "bundle"]
    fast = parse_page(json.dumps(bundles_only, ensure_ascii=False).encode())
    slow = rows_from_changes([c for c in full.changes if c.kind == "bundle"], full.next)
    assert fast.bundles.keys() == slow.bundles.keys()
    a, b = Replica(tmp_path / "a.db"), Replica(tmp_path / "b.db")
    a.apply_rows("", fast, NOW)
    b.apply_rows("", slow, NOW)
    for ubr in fast.bundles:
        assert a.bundle(ubr) == b.bundle(ubr)
    client.close()


def test_reads_from_many_threads_while_writing(tmp_path: Path) -> None:
    replica = Replica(tmp_path / "replica.db")
    replica.apply_rows(
        "", parse_page(page([upsert(1, bundle_json("9110635860", "AB1"))], "1")), NOW
    )
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                assert replica.bundle("9110635860") is not None
                assert replica.active_bundles_for_plate("AB1")
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            errors.append(err)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    cursor = "1"
    for n in range(2, 60):
        rows = parse_page(page([upsert(n, bundle_json(f"91106358{n:02d}", f"AB{n}"))], str(n)))
        replica.apply_rows(cursor, rows, NOW)
        cursor = str(n)
    done.set()
    for t in threads:
        t.join(10)
    assert errors == []
    assert replica.count_bundles() == 59
    replica.close()


def compact(changes: list[dict[str, Any]], nxt: str) -> bytes:
    """A page in the centre's own form (compact, the models' field order)."""
    return json.dumps(
        {"changes": changes, "next": nxt}, ensure_ascii=False, separators=(",", ":")
    ).encode()


def test_the_centres_form_is_cut_out_as_sent_and_other_changes_take_the_full_model() -> None:
    fast = bundle_json("9110635860", "AB1234", earliest_at="2026-11-21T15:30:00.000+08:00")
    cargo = {
        "seq": 2,
        "kind": "cargo",
        "key": "1001041258",
        "op": "upsert",
        "cargo": {
            "ccrn": "1001041258",
            "submitted_at": "2026-11-21T07:00:00.000Z",
            "updated_at": "2026-11-21T07:00:00.000Z",
            "items": {
                "packages": 1,
                "package_description": "CARTONS",
                "article_description": "toys",
                "consignor_name": "a",
                "consignor_address": "b",
                "consignee_name": "c",
                "consignee_address": "d",
                "expected_date": "2026-11-22",
                "direction": "import",
            },
        },
    }
    odd = bundle_json("9110-635861", "cd 5678", ccrns=["1001041259", "1001041260"])
    raw = compact(
        [
            upsert(1, fast),
            cargo,
            upsert(3, odd),
            {"seq": 4, "kind": "bundle", "key": "9110635862", "op": "delete"},
        ],
        "4",
    )
    rows = parse_page(raw)
    assert (rows.next, rows.changes) == ("4", 4)
    body, *columns = rows.bundles["9110635860"]
    # the fast path stores the bundle's text as sent (the full model would write ...Z)
    assert '"earliest_at":"2026-11-21T15:30:00.000+08:00"' in body
    assert body in raw.decode()
    ccrns = "1001041258" + CCRN_SEPARATOR + "1001041259"
    assert columns == ["9110635860", "AB1234", None, ccrns, "active"]
    # the non-canonical one went through the model: normalised
    assert rows.bundles["9110635861"][1:3] == ("9110635861", "CD5678")
    assert rows.bundles["9110635861"][4].split(CCRN_SEPARATOR) == ["1001041259", "1001041260"]
    assert set(rows.cargo) == {"1001041258"}
    assert rows.dropped_ubrs == {"9110635862"}
    # the same page with whitespace everywhere reads the same
    spaced = parse_page(page(json.loads(raw)["changes"], "4"))
    assert spaced.bundles.keys() == rows.bundles.keys()
    assert spaced.bundles["9110635861"] == rows.bundles["9110635861"]


def test_centre_form_pages_that_break_a_rule_are_refused_whole() -> None:
    good = bundle_json("9110635860", "AB1234")
    bad = [
        {**good, "ubr": "٩١١٠٦٣٥٨٦٠"},  # digits of another script: the model takes them
        {**good, "vrn": "AB 1234!"},
        {**good, "ccrns": ["1001041258"] * 100},
        {**good, "status": "lost"},
        {**good, "bay": "x" * 17},
        {**good, "updated_at": "2026-13-01T00:00:00Z"},
    ]
    for bundle in bad:
        with pytest.raises(MalformedPage):
            parse_page(compact([upsert(1, good), upsert(2, bundle)], "2"))
    for raw in (
        compact([upsert(1, good)], "1")[:-2],  # cut short
        compact([upsert(1, good)], "1") + b"[]",
        compact([upsert(1, good)], "1").replace(b'"op":"upsert",', b'"op":"upsert","x":'),
    ):
        with pytest.raises(MalformedPage):
            parse_page(raw)


def test_bulk_load_builds_indexes_when_caught_up_and_survives_a_restart(tmp_path: Path) -> None:
    replica = Replica(tmp_path / "replica.db")
    multi = bundle_json("9110635861", "CD5678", second_plate="粤Z1234港", ccrns=["1001041260", "1001041261"])  # fmt: skip
    replica.apply_rows(
        "",
        parse_page(
            compact([upsert(1, bundle_json("9110635860", "AB1234")), upsert(2, multi)], "2")
        ),
        NOW,
        caught_up=False,
    )

    def indexes(r: Replica) -> set[str]:
        rows = r._conn().execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {str(n) for (n,) in rows if not str(n).startswith("sqlite_")}

    assert indexes(replica) == set()  # a bulk load: no secondary index yet
    assert replica.last_sync_at() is None
    # lookups are right while loading (scans): plate, second plate, every CCRN
    assert [b.ubr for b in replica.active_bundles_for_plate("CD5678")] == ["9110635861"]
    assert [b.ubr for b in replica.active_bundles_for_plate("粤Z1234港")] == ["9110635861"]
    assert [b.ubr for b in replica.bundles_for_ccrn("1001041261")] == ["9110635861"]
    assert [b.ubr for b in replica.bundles_for_ccrn("1001041259")] == ["9110635860"]
    assert replica.bundles_for_ccrn("100104126") == []  # a prefix is not a CCRN
    assert replica.bundles_for_ccrn('1001041260","1001041261') == []
    replica.close()
    replica = Replica(tmp_path / "replica.db")  # the agent restarts half way
    assert indexes(replica) == set()
    replica.apply_rows(
        "2",
        parse_page(
            compact(
                [
                    upsert(3, bundle_json("9110635862", "EF9", ccrns=["1001041262"])),
                    {"seq": 4, "kind": "bundle", "key": "9110635860", "op": "delete"},
                ],
                "4",
            )
        ),
        NOW,
        caught_up=False,
    )
    replica.apply_rows("4", parse_page(compact([], "4")), NOW)  # caught up
    assert indexes(replica) == {"bundles_active_vrn", "bundles_active_second_plate"}
    assert replica.last_sync_at() == NOW
    ccrn_rows = replica._conn().execute("SELECT ccrn, ubr FROM bundle_ccrns ORDER BY 1")
    assert list(ccrn_rows) == [  # built from the bundles there are (9110635860 is deleted)
        ("1001041260", 9110635861),
        ("1001041261", 9110635861),
        ("1001041262", 9110635862),
    ]
    assert replica.bundles_for_ccrn("1001041258") == []
    assert [b.ubr for b in replica.bundles_for_ccrn("1001041260")] == ["9110635861"]
    assert [b.ubr for b in replica.active_bundles_for_plate("粤Z1234港")] == ["9110635861"]
    assert_plate_lookup_uses_the_active_indexes(replica)
    # from here pages are applied with the indexes in place
    replica.apply_rows(
        "4", parse_page(compact([upsert(5, bundle_json("9110635863", "EF9"))], "5")), NOW
    )
    assert [b.ubr for b in replica.active_bundles_for_plate("EF9")] == ["9110635862", "9110635863"]
    assert [b.ubr for b in replica.bundles_for_ccrn("1001041259")] == ["9110635863"]
    replica.close()


def assert_plate_lookup_uses_the_active_indexes(replica: Replica) -> None:
    plan = replica._conn().execute(f"EXPLAIN QUERY PLAN {_ACTIVE_PLATE_QUERY}", ("AB1",))
    details = [str(row[-1]) for row in plan]
    assert not [d for d in details if "SCAN" in d and "bundles" in d], details
    used = " ".join(details)
    assert "bundles_active_vrn" in used, details
    assert "bundles_active_second_plate" in used, details


def test_a_plates_used_and_cancelled_bundles_are_not_read_by_a_lane(tmp_path: Path) -> None:
    """A truck that crosses twice a day has ~700 used bundles after a year: the lane's
    look-up reads its active ones only, through indexes that hold nothing else, and a
    bundle that becomes active again (or used) moves in (or out) of them."""
    replica = Replica(tmp_path / "replica.db")
    changes = [
        upsert(
            seq,
            bundle_json(
                str(9110630000 + seq),
                "AB1234",
                second_plate="粤Z1234港",
                status="used" if seq % 2 else "cancelled",
            ),
        )
        for seq in range(1, 601)
    ]
    changes.append(upsert(601, bundle_json("9110639999", "AB1234", second_plate="粤Z1234港")))
    replica.apply_rows("", parse_page(compact(changes, "601")), NOW)
    assert [b.ubr for b in replica.active_bundles_for_plate("AB1234")] == ["9110639999"]
    assert [b.ubr for b in replica.active_bundles_for_plate("粤Z1234港")] == ["9110639999"]
    assert_plate_lookup_uses_the_active_indexes(replica)
    count = replica._conn().execute(
        "SELECT count(*) FROM bundles INDEXED BY bundles_active_vrn WHERE vrn = 'AB1234'"
        " AND status = 'active'"
    )
    assert count.fetchone()[0] == 1
    # the active one is used; an old one comes back active (the centre's change)
    used = bundle_json("9110639999", "AB1234", second_plate="粤Z1234港", status="used")
    back = bundle_json("9110630002", "AB1234", second_plate="粤Z1234港")
    replica.apply_rows(
        "601", parse_page(compact([upsert(602, used), upsert(603, back)], "603")), NOW
    )
    assert [b.ubr for b in replica.active_bundles_for_plate("粤Z1234港")] == ["9110630002"]
    # the full model's path (not the centre's canonical form) keeps the status too
    slow = bundle_json("9110-630002", "ab 1234", status="cancelled")
    replica.apply_rows("603", parse_page(page([upsert(604, slow)], "604")), NOW)
    assert replica.active_bundles_for_plate("AB1234") == []
    replica.close()


def test_a_replica_of_schema_2_is_pulled_again(tmp_path: Path) -> None:
    """Version 2 wrote a bundle change without its result as a release (the model's
    default then), a row nothing tells from the centre's own PROCEED: such a file is
    dropped and the feed pulled again from its start."""
    path = tmp_path / "replica.db"
    replica = Replica(path)
    replica.apply_rows(
        "", parse_page(page([upsert(1, bundle_json("9110635860", "AB1"))], "1")), NOW
    )
    replica.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 2")
    conn.close()
    again = Replica(path, rebuild=True)
    assert (again.cursor(), again.count_bundles(), again.bundle("9110635860")) == ("", 0, None)
    again.close()


def test_a_replica_of_an_older_schema_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "replica.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE bundles (ubr TEXT PRIMARY KEY, vrn TEXT NOT NULL);"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('cursor', '77');"
        )
    conn.close()
    # by the agent that pulls only: a shard that does not pull shares the file, and one
    # of another version (an upgrade half done) wiped it, every lane stopping until the
    # feed was pulled again
    with pytest.raises(ReplicaError, match="only the agent that pulls the feed rebuilds it"):
        Replica(path, rebuild=False)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchall() == [("77",)]
    conn.close()
    replica = Replica(path)
    assert (replica.cursor(), replica.count_bundles()) == ("", 0)
    replica.apply_rows("", parse_page(compact([upsert(1, bundle_json("9110635860", "AB1"))], "1")), NOW)  # fmt: skip
    assert replica.bundle("9110635860") is not None
    for key in ("911063586", "91106358600", "9110 35860", "٩١١٠٦٣٥٨٦٠", ""):
        assert replica.bundle(key) is None
    replica.close()


def test_an_unreadable_last_sync_is_a_replica_error(tmp_path: Path) -> None:
    """A ValueError got past the lanes' ReplicaError handling: the read raised and nothing
    was published, so the previous truck's PROCEED stayed on the display."""
    replica = Replica(tmp_path / "replica.db")
    try:
        damage = sqlite3.connect(tmp_path / "replica.db")  # as a disk or a tool could leave it
        with damage:
            damage.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_sync_at', 'x')")
        damage.close()
        with pytest.raises(ReplicaError, match="last_sync_at unreadable"):
            replica.last_sync_at()
    finally:
        replica.close()


def test_a_change_key_is_the_identifier_the_replica_keys() -> None:
    """A delete whose key is written otherwise (9110-635-860) dropped nothing, and the
    bundle stayed active; an upsert whose key is not its bundle's own is malformed."""
    delete = '{"seq":2,"kind":"bundle","key":"9110-635-860","op":"delete"}'
    rows = parse_page(f'{{"changes":[{delete}],"next":"2"}}'.encode())
    assert rows.dropped_ubrs == {"9110635860"}
    other = {**upsert(3, bundle_json("9110635860", "AB1")), "key": "9110635861"}
    with pytest.raises(MalformedPage, match="is not the bundle's own"):
        parse_page(compact([other], "3"))
    bad = '{"seq":4,"kind":"cargo","key":"12","op":"delete"}'
    with pytest.raises(MalformedPage, match="key of a cargo change"):
        parse_page(f'{{"changes":[{bad}],"next":"4"}}'.encode())


def test_a_read_of_last_sync_older_than_a_write_of_it_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lane's once-a-second re-read of last_sync_at from the file, started before the
    puller's commit and ended after it, was stored over the time the puller had just
    remembered: for up to a second every lane took a current replica for stale (the
    agent's test of a centre's CA saw None just after it caught up)."""
    replica = Replica(tmp_path / "replica.db")
    try:
        read = replica._meta

        def read_then_the_puller_writes(key: str) -> str | None:
            text = read(key)
            if key == "last_sync_at":
                puller = threading.Thread(target=replica.mark_synced, args=(NOW,))
                puller.start()
                puller.join()
            return text

        monkeypatch.setattr(replica, "_meta", read_then_the_puller_writes)
        assert replica.last_sync_at() == NOW  # what the write remembered, not the read
        monkeypatch.undo()
        assert replica.last_sync_at() == NOW
    finally:
        replica.close()

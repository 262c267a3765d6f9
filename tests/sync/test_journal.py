"""The lanes' journal: a lane change without a record is appended to a file, is there
before its instruction goes out, survives a crash, and is folded into the outbox's
``lanes`` table without ever overwriting a newer state."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sync import outbox as outbox_module
from sync.journal import LaneJournal, decode, encode, journal_paths
from sync.outbox import Outbox
from tests.sync.agentkit import break_journal, record, wait_for
from tests.sync.test_outbox import open_session

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
STAMP = "2026-11-21T08:00:00.000Z"
SESSION = '{"id":"01JD0000000000000000000001","vrn":"AB1234"}'


@contextlib.contextmanager
def journal_log() -> Iterator[list[logging.LogRecord]]:
    """What ``sync.journal`` logs at WARNING and above, each record once (a handler on
    its own logger: the root's handlers depend on what other tests set up)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    log = logging.getLogger("sync.journal")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def table_rows(path: Path) -> dict[str, int]:
    """lane -> last_seq of the ``lanes`` table, as a fresh connection reads it."""
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT lane, last_seq FROM lanes").fetchall())
    finally:
        conn.close()


def test_a_line_is_checked_end_to_end() -> None:
    line = encode("L01", 42, STAMP, SESSION)
    entry = decode(line)
    assert entry is not None
    assert (entry.lane, entry.last_seq, entry.stamp, entry.session) == ("L01", 42, STAMP, SESSION)
    assert decode(encode("L01", 43, STAMP, None)).session is None  # type: ignore[union-attr]
    assert decode(line[:-1]) is None  # torn: no end of line
    assert decode(line.replace(b"AB1234", b"AB1235")) is None  # a byte changed
    assert decode(b"zzzzzzzz\tL01\t1\n") is None  # not a checksum
    assert decode(b"\n") is None


def test_a_plate_read_change_is_in_the_journal_before_its_after_runs(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    seen: list[list[int]] = []

    def after() -> None:  # what a fresh reader finds in the files when the answer goes out
        entries = [decode(line) for file in journal_paths(path) for line in file.open("rb")]
        seen.append([e.last_seq for e in entries if e is not None and e.lane == "L01"])

    outbox.submit("L01", 7, None, [], NOW, after=after)
    outbox.submit("L01", 8, None, [], NOW, after=after)
    assert seen == [[7], [7, 8]]
    assert table_rows(path) == {}  # not in SQLite: only in the journal ...
    assert outbox.lane("L01").last_seq == 8  # type: ignore[union-attr]  # ... and read from it
    outbox.submit("L01", 9, None, [record(1)], NOW)  # a session end: SQLite, with its record
    assert table_rows(path) == {"L01": 9}
    outbox.submit("L01", 10, None, [], NOW)
    assert outbox.lane("L01").last_seq == 10  # type: ignore[union-attr]  # the newest wins
    outbox.close()  # folds the journal: outbox.db alone holds every lane's state
    assert table_rows(path) == {"L01": 10}
    assert [f.stat().st_size for f in journal_paths(path)] == [0, 0]
    again = Outbox(path)
    assert again.lane("L01").last_seq == 10  # type: ignore[union-attr]
    assert again.depth() == 1
    again.close()


def test_start_folds_what_a_crash_left_newest_first_and_skips_damaged_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.db"
    Outbox(path).close()
    conn = sqlite3.connect(path)
    with conn:  # as the session ends committed them
        conn.execute("INSERT INTO lanes VALUES ('L01', 20, NULL, ?)", (STAMP,))
        conn.execute("INSERT INTO lanes VALUES ('L02', 5, NULL, ?)", (STAMP,))
    conn.close()
    a, b = journal_paths(path)
    a.write_bytes(
        encode("L01", 19, STAMP, SESSION)  # older than its session end: not taken
        + encode("L02", 6, STAMP, SESSION)
        + encode("L03", 3, STAMP, SESSION).replace(b"AB1234", b"XX1234")  # damaged
    )
    b.write_bytes(
        encode("L02", 7, STAMP, None)  # the newest of L02 (in the other file)
        + encode("L03", 2, STAMP, SESSION)
        + encode("L04", 9, STAMP, SESSION)[:-5]  # torn by the power cut
    )
    with journal_log() as logged:
        outbox = Outbox(path)
    assert table_rows(path) == {"L01": 20, "L02": 7, "L03": 2}
    assert outbox.lane("L02").session is None  # type: ignore[union-attr]
    assert outbox.lane("L04") is None
    assert sum("damaged" in r.getMessage() for r in logged) == 2
    assert [f.stat().st_size for f in journal_paths(path)] == [0, 0]
    outbox.close()


def test_a_fold_keeps_a_newer_session_end_and_empties_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "JOURNAL_FOLD_BYTES", 1000)
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    outbox.submit("L01", 1, None, [], NOW)  # journaled ...
    outbox.submit("L01", 2, None, [record(1)], NOW)  # ... then ended in SQLite
    newest = {"L01": 2}
    for seq in range(3, 60):  # other lanes' reads: past the fold size
        outbox.submit(f"L{seq % 5 + 2:02d}", seq, None, [], NOW)
        newest[f"L{seq % 5 + 2:02d}"] = seq
    assert wait_for(lambda: len(table_rows(path)) == 6, 10)  # folded meanwhile
    assert table_rows(path)["L01"] == 2  # the session end stays: the journaled read is older
    assert {lane: outbox.lane(lane).last_seq for lane in newest} == newest  # type: ignore[union-attr]
    assert wait_for(lambda: min(f.stat().st_size for f in journal_paths(path)) == 0, 10)
    assert wait_for(lambda: outbox.journal_stats()["folds"] >= 1, 10)
    outbox.submit("L01", 60, None, [], NOW)  # the appends go on, in the other file
    assert outbox.lane("L01").last_seq == 60  # type: ignore[union-attr]
    outbox.close()
    assert table_rows(path)["L01"] == 60


def test_a_journal_that_cannot_be_written_sends_changes_to_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    outbox.submit("L01", 1, None, [], NOW)
    break_journal(outbox)
    answered: list[int] = []
    with journal_log() as logged:
        for seq in (2, 3):
            outbox.submit("L01", seq, None, [], NOW, after=lambda seq=seq: answered.append(seq))
    assert answered == [2, 3]
    assert table_rows(path) == {"L01": 3}  # in SQLite instead
    assert outbox.journal_stats()["failures"] == 2
    # the failure and the cut back (EINVAL on a read-only descriptor) once, not a change
    assert [r.getMessage().split(":")[1] for r in logged] == [
        " append failed (changes go to SQLite meanwhile)",
        " cannot take back a failed append",
    ]
    assert outbox.lane("L01").last_seq == 3  # type: ignore[union-attr]
    outbox.close()
    again = Outbox(path)
    assert again.lane("L01").last_seq == 3  # type: ignore[union-attr]
    again.close()


def test_a_second_outbox_on_the_same_files_is_refused(tmp_path: Path) -> None:
    """Two processes (two agents given one data folder) would fold and empty the
    journal under each other: the second is refused and the first goes on."""
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    outbox.submit("L01", 1, None, [], NOW)
    second = subprocess.run(
        [sys.executable, "-c", f"from sync.outbox import Outbox; Outbox({str(path)!r})"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "in use by another process" in second.stderr
    outbox.submit("L01", 2, None, [], NOW)
    assert [decode(line).last_seq for line in journal_paths(path)[0].open("rb")] == [1, 2]  # type: ignore[union-attr]
    outbox.close()


def test_a_failed_append_leaves_no_half_line(tmp_path: Path) -> None:
    journal = LaneJournal(tmp_path / "outbox.db")
    assert journal.append(encode("L01", 1, STAMP, SESSION))
    fd = journal._fds[0]  # noqa: SLF001
    writable = os.dup(fd)
    read_only = os.open(journal.paths[0], os.O_RDONLY)
    os.dup2(read_only, fd)  # a write fails, and so does the cut back
    assert not journal.append(encode("L01", 2, STAMP, SESSION))
    os.dup2(writable, fd)  # the disk is back
    assert journal.append(encode("L01", 3, STAMP, SESSION))
    assert [e.last_seq for e in journal.read()] == [1, 3]
    for extra in (writable, read_only):
        os.close(extra)
    journal.close()


def test_with_flush_a_journaled_answer_waits_for_the_journal_sync(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", durability="flush")
    real_sync = outbox._journal.sync  # noqa: SLF001
    disk = threading.Event()

    def slow_sync() -> None:
        disk.wait(10)
        real_sync()

    outbox._journal.sync = slow_sync  # type: ignore[method-assign]  # noqa: SLF001
    answered: list[int] = []
    outbox.submit("L01", 1, None, [], NOW, after=lambda: answered.append(1))
    time.sleep(0.3)
    assert answered == []  # appended, not synced: not shown
    disk.set()
    assert outbox.flush(10)
    assert answered == [1]
    outbox.close()


CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from sync.outbox import Outbox

    outbox = Outbox(sys.argv[1])
    now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    seq = 0
    while True:
        seq += 1
        lane = f"L{seq % 10:02d}"
        outbox.submit(lane, seq, None, [], now, after=lambda: print(seq, flush=True))
    """
)


def test_a_killed_agent_keeps_every_change_it_answered(tmp_path: Path) -> None:
    """SIGKILL mid-stream (no close, no fold): every change whose answer went out is
    there on the next start."""
    path = tmp_path / "outbox.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
        text=True,
    )
    assert child.stdout is not None
    answered = 0
    deadline = time.monotonic() + 30
    while answered < 3000 and time.monotonic() < deadline:
        answered = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert answered >= 3000
    outbox = Outbox(path)
    for lane in range(10):
        last = max(s for s in range(answered - 9, answered + 1) if s % 10 == lane)
        assert outbox.lane(f"L{lane:02d}").last_seq >= last  # type: ignore[union-attr]
    outbox.close()


def test_a_damaged_line_and_an_unreadable_session_are_kept_aside_not_dropped(
    tmp_path: Path,
) -> None:
    """A line that fails its checksum in the middle of a file is not a write a power cut
    tore (that is the last line, without its end): it is kept, as its bytes, in the
    outbox's ``quarantine`` table before the files are emptied. A line that reads but
    whose session this version cannot validate goes to the ``lanes`` table and is then
    kept aside like any stored session (tests/sync/test_outbox.py)."""
    path = tmp_path / "outbox.db"
    Outbox(path).close()
    good = open_session(NOW).model_dump_json()
    damaged = encode("L02", 6, STAMP, good).replace(b"AB1234", b"XX1234")
    a, b = journal_paths(path)
    a.write_bytes(encode("L01", 5, STAMP, good) + damaged + encode("L03", 8, STAMP, SESSION))
    b.write_bytes(encode("L04", 9, STAMP, good)[:-5])  # torn by a power cut: dropped
    outbox = Outbox(path)
    try:
        assert table_rows(path) == {"L01": 5, "L03": 8}
        assert outbox.lane("L01").session is not None  # type: ignore[union-attr]
        assert outbox.lane("L03").session is None  # type: ignore[union-attr]
        kept = {row["source"]: row for row in outbox.quarantined()}
        assert set(kept) == {"journal", "lanes"}
        assert kept["journal"]["body"] == damaged
        assert "line 2" in kept["journal"]["error"]
        assert (kept["lanes"]["lane"], kept["lanes"]["last_seq"]) == ("L03", 8)
        assert kept["lanes"]["body"] == SESSION
        assert [f.stat().st_size for f in journal_paths(path)] == [0, 0]
    finally:
        outbox.close()


class _HalfWrites:
    """``os`` for the journal, but a write puts half its bytes in and says so, and a
    take-back fails: a disk that fills up mid-line, then refuses the cut."""

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    @staticmethod
    def write(fd: int, data: bytes) -> int:
        return os.write(fd, data[: len(data) // 2])

    @staticmethod
    def ftruncate(fd: int, size: int) -> None:
        raise OSError(28, "No space left on device")


def test_a_failed_append_that_could_not_be_taken_back_is_skipped_not_kept_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The half line stays; the next append ends it before its own. It was read as a
    damaged whole line and kept in quarantine, with /health not ok for good, though its
    change had gone to SQLite when the append failed."""
    journal = LaneJournal(tmp_path / "outbox.db")
    with monkeypatch.context() as patch:
        patch.setattr("sync.journal.os", _HalfWrites())
        assert journal.append(encode("L01", 1, STAMP, SESSION)) is False
    assert journal.append(encode("L01", 2, STAMP, SESSION)) is True
    entries, damaged = journal.scan()
    assert [(e.lane, e.last_seq) for e in entries] == [("L01", 2)]
    assert damaged == []
    journal.close()

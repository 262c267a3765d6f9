"""The lanes' journal: lane changes without a record, appended to a file beside the outbox.

A plate read (or a press) changes its lane's state and nothing else: the new state has
to be on disk before the instruction goes out, and it is the only thing written. A
SQLite transaction for it cost a read about 0.1 ms of its ~0.6 ms (strace: about seven
``pwrite`` and six ``fcntl`` lock calls a commit) and let the GIL go in the middle; a line
appended to a file costs 5-20 us. The outbox (``sync.outbox``) appends those changes here
and folds the newest state of each lane into its ``lanes`` table now and then; a change
that ends a session (its record and the lane state in one transaction) still goes to
SQLite. The newest state of a lane is the one with the highest ``last_seq``, in either
place: a lane's every change has a higher ``seq`` than the one before.

Two files, ``<outbox>-lanes-a`` and ``-lanes-b``, made once (and their folder synced)
when the outbox opens: appends go to one; a fold switches to the other, which is empty,
writes what the first held into SQLite, syncs the WAL and only then empties the first.
No file is created or renamed while the agent runs, so a file's data is all a sync has
to cover. The outbox holds an exclusive ``flock`` on the first file while it is open:
a second process on the same files is refused. Each line is
``crc32<TAB>lane<TAB>last_seq<TAB>stamp<TAB>session JSON`` (empty for a lane with no
session). A line torn by a power cut, or a write that did not get
through, lacks its end of line (it is the last of its file) and is skipped with a
warning; an append that fails takes back what it wrote, so the next line starts clean.
When it cannot (the take-back fails too), the next append starts with ``TAKE_BACK``
(``~`` and an end of line): the half line then ends with it, and is skipped like a torn
one (its change went to SQLite when the append failed). A whole line that fails its checksum or its format was not torn: it is damaged (bit rot,
a hand edit), and start-up keeps its bytes in the outbox's ``quarantine`` table before
the files are emptied. A change to this format is a new outbox ``SCHEMA_VERSION``: an
older agent refuses the outbox (and its journal) instead of reading it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    lane: str
    last_seq: int
    stamp: str
    session: str | None


@dataclass(frozen=True, slots=True)
class DamagedLine:
    """A whole line (with its end of line) that fails its checksum or its format."""

    path: Path
    number: int
    line: bytes


def journal_paths(outbox_path: Path) -> tuple[Path, Path]:
    """The journal's two files beside ``outbox_path`` (what a backup copies too)."""
    name = outbox_path.name
    return outbox_path.with_name(name + "-lanes-a"), outbox_path.with_name(name + "-lanes-b")


def newest(entries: list[JournalEntry]) -> dict[str, JournalEntry]:
    """The entry with the highest ``last_seq`` of each lane."""
    out: dict[str, JournalEntry] = {}
    for entry in entries:
        known = out.get(entry.lane)
        if known is None or entry.last_seq > known.last_seq:
            out[entry.lane] = entry
    return out


def encode(lane: str, last_seq: int, stamp: str, session: str | None) -> bytes:
    """One line: lane ids, numbers and RFC 3339 stamps have no tabs, JSON text no newline."""
    body = f"{lane}\t{last_seq}\t{stamp}\t{session or ''}".encode()
    return b"%08x\t%s\n" % (zlib.crc32(body), body)


def decode(line: bytes) -> JournalEntry | None:
    """The entry of one line (with its ``\\n``); None when it is torn or damaged."""
    if not line.endswith(b"\n"):
        return None
    crc, sep, body = line[:-1].partition(b"\t")
    try:
        if not sep or int(crc, 16) != zlib.crc32(body):
            return None
        lane, seq, stamp, session = body.decode().split("\t", 3)
        return JournalEntry(lane, int(seq), stamp, session or None)
    except ValueError:  # not hex, not a number, not UTF-8, too few fields
        return None


#: What the next append starts with after a failed one could not be taken back: it ends
#: the half line with a mark no whole line has (each ends with a session's JSON or a tab).
TAKE_BACK = b"~\n"


class LaneJournal:
    """The two files. Not thread-safe: the outbox calls it under its writer lock (and
    ``sync`` from its flusher, which only syncs)."""

    def __init__(self, outbox_path: Path) -> None:
        self.paths = journal_paths(outbox_path)
        created = not all(path.exists() for path in self.paths)
        self._fds: list[int] = []
        try:
            for path in self.paths:
                self._fds.append(os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600))
            try:
                # one process a journal: a second one would fold and empty the files
                # under the first (the lock goes with the process, also when it dies)
                fcntl.flock(self._fds[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OSError(f"{self.paths[0]} is in use by another process") from None
            if created:  # the files' names on disk before anything is written to them
                _sync_dir(outbox_path.parent)
        except OSError:
            self.close()
            raise
        #: the file appends go to, and its size (where a failed append is cut back to)
        self.current = 0
        self.size = os.fstat(self._fds[0]).st_size
        #: appends that failed so far (the outbox then writes the change to SQLite)
        self.failures = 0
        #: a failed append could not be taken back: the next line starts with a newline
        self._torn = False
        #: the last append failed (one log line when appends start and stop failing)
        self._failing = False

    def read(self) -> list[JournalEntry]:
        """Every good entry of both files (a bad line is logged and skipped)."""
        return self.scan()[0]

    def scan(self) -> tuple[list[JournalEntry], list[DamagedLine]]:
        """Every good entry of both files, and every damaged whole line (logged); a torn
        last line (no end of line: a power cut) is logged and skipped."""
        entries: list[JournalEntry] = []
        damaged: list[DamagedLine] = []
        for path in self.paths:
            with path.open("rb") as file:
                for number, line in enumerate(file, 1):
                    if line in (b"\n", TAKE_BACK):  # where a failed append was cut short
                        continue
                    entry = decode(line)
                    if entry is not None:
                        entries.append(entry)
                    elif line.endswith(TAKE_BACK):
                        logger.warning(
                            "lane journal %s: line %d is a failed append's half, skipped",
                            path,
                            number,
                        )
                    elif not line.endswith(b"\n"):
                        logger.warning(
                            "lane journal %s: line %d is damaged (torn), skipped", path, number
                        )
                    else:
                        logger.error(
                            "lane journal %s: line %d is damaged, kept aside", path, number
                        )
                        damaged.append(DamagedLine(path, number, line))
        return entries, damaged

    def append(self, line: bytes) -> bool:
        """Append one line (``encode``: made before the caller's lock); False (and nothing
        of it left) when it did not go in."""
        fd = self._fds[self.current]
        if self._torn:
            line = TAKE_BACK + line
        try:
            written = os.write(fd, line)
        except OSError as err:
            problem = str(err)
        else:
            if written == len(line):
                self.size += written
                self._torn = False
                if self._failing:
                    self._failing = False
                    logger.warning("lane journal: appending again")
                return True
            problem = f"short write: {written} of {len(line)} bytes"
        self.failures += 1
        first, self._failing = not self._failing, True
        if first:
            logger.error(
                "lane journal: append failed (changes go to SQLite meanwhile): %s", problem
            )
        try:
            os.ftruncate(fd, self.size)  # a torn line would spoil the next one
        except OSError as cut:
            # the line may be half there: the next append ends it with TAKE_BACK
            if first:
                logger.error("lane journal: cannot take back a failed append: %s", cut)
            self._torn = True
            with contextlib.suppress(OSError):
                self.size = os.fstat(fd).st_size
        return False

    def switch(self) -> int:
        """Appends go to the other file from now on (the caller made sure it is empty);
        returns the file left behind, for ``clear``."""
        left = self.current
        self.current = 1 - left
        self.size = os.fstat(self._fds[self.current]).st_size
        return left

    def clear(self, which: int) -> None:
        """Empty one file (its entries are in SQLite, synced) and sync that."""
        fd = self._fds[which]
        os.ftruncate(fd, 0)
        os.fsync(fd)
        if which == self.current:
            self.size = 0

    def empty(self, which: int) -> bool:
        return os.fstat(self._fds[which]).st_size == 0

    def clear_all(self) -> None:
        """Empty both files (what they held is in SQLite, synced)."""
        for which in (0, 1):
            if not self.empty(which):
                self.clear(which)

    def total_bytes(self) -> int:
        """Both files' sizes (0 once closed)."""
        try:
            return sum(os.fstat(fd).st_size for fd in self._fds)
        except OSError:
            return 0

    def sync(self) -> None:
        """``fdatasync`` both files (the one left behind may still be on its way to SQLite)."""
        for fd in self._fds:
            os.fdatasync(fd)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Where the USB sticks are under the kiosk's ``--media`` folder, and what is on them.

The kiosk's unit mounts a stick through udisks at ``MEDIA/LABEL`` (with ``--media
/media/rocars-kiosk``: ``/media/rocars-kiosk/KINGSTON``): every mount point directly
under ``MEDIA`` is a stick's root. Without one, ``MEDIA`` itself is the stick when it is
a mount point (a stick mounted there by fstab) or holds files directly (a folder copied
by hand, the tests' folders). Anything else, an empty folder among them, is "no stick".

Batch files and the blank template are at a stick's root; certificates may be in its
folders too. A stick is only walked so far (``MAX_ENTRIES`` names, ``depth`` folders
down: one with 100 000 files does not hold the screen), symbolic links are never
followed (a link may point anywhere on the kiosk, or at a FIFO or a ``/proc`` file), and
only regular files are listed, not the hidden ones nor Excel's lock files (``._x.csv``
that macOS leaves beside each file, ``~$x.xlsx`` while Excel has it open). ``open_regular``
opens one for reading only if it still is one (no link, no FIFO: opening a FIFO would wait
for a writer forever); ``write_new`` writes a new file, never over one or through a link.
"""

from __future__ import annotations

import itertools
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

#: Names of ``MEDIA`` looked at for mount points (udisks makes one per stick).
MAX_MEDIA_ENTRIES = 256
#: Sticks used at once (one is usual; a second one plugged in is listed too).
MAX_STICKS = 4
#: Directory entries looked at in one walk of a stick, all its folders together.
MAX_ENTRIES = 5000
#: Names never listed: hidden files (macOS's ``._x.xlsx`` beside each file it copies) and
#: Excel's lock files (``~$x.xlsx`` while the workbook is open); neither is the file.
JUNK_PREFIXES = (".", "~$")


def is_mount(path: Path | str) -> bool:
    """``os.path.ismount``, looked up at each call (a test makes a folder a mounted stick
    by standing in for it)."""
    return os.path.ismount(path)


def _entries(folder: Path | str, limit: int) -> list[os.DirEntry[str]]:
    """At most ``limit`` entries of ``folder`` (none when it cannot be read)."""
    try:
        with os.scandir(folder) as found:
            return list(itertools.islice(found, limit))
    except OSError as err:
        logger.info("cannot read %s: %s", folder, err)
        return []


def _is_regular(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def stick_roots(media: Path) -> list[Path]:
    """The roots of the USB sticks under ``media``, in name order; [] when there is none."""
    entries = _entries(media, MAX_MEDIA_ENTRIES)
    mounts = sorted(
        (Path(e.path) for e in entries if _is_folder(e) and is_mount(e.path)),
        key=lambda p: p.name.lower(),
    )
    if mounts:
        return mounts[:MAX_STICKS]
    if media.is_dir() and (is_mount(media) or any(_is_regular(e) for e in entries)):
        return [media]
    return []


def files_on_sticks(
    media: Path,
    suffixes: tuple[str, ...],
    *,
    depth: int,
    limit: int,
    skip: Callable[[str], bool] | None = None,
) -> list[Path]:
    """Regular files named ``*suffix`` on the sticks, at most ``depth`` folders below a
    root (0: the root only), in path order; at most ``limit`` of them, and the walk ends
    after ``MAX_ENTRIES`` names. Hidden folders (``.Trash-1000``) are not walked, hidden
    and lock files (``JUNK_PREFIXES``) not listed, nor files whose name ``skip`` takes."""
    found: list[Path] = []
    budget = MAX_ENTRIES
    for root in stick_roots(media):
        todo: list[tuple[Path, int]] = [(root, 0)]
        while todo and budget > 0 and len(found) < limit:
            folder, level = todo.pop()
            entries = _entries(folder, budget)
            budget -= len(entries)
            entries.sort(key=lambda e: e.name.lower())
            below: list[Path] = []
            for entry in entries:
                if entry.name.startswith(JUNK_PREFIXES) or (skip and skip(entry.name)):
                    continue
                if _is_regular(entry) and entry.name.lower().endswith(suffixes):
                    found.append(Path(entry.path))
                elif level < depth and _is_folder(entry):
                    below.append(Path(entry.path))
            todo.extend((sub, level + 1) for sub in reversed(below))
        if budget <= 0:
            logger.warning("stopped looking through %s after %d names", media, MAX_ENTRIES)
            break
    found.sort(key=lambda p: str(p).lower())
    return found[:limit]


def open_regular(path: Path) -> int:
    """A file descriptor of ``path`` for reading, if it is a regular file and no link.

    Opened without waiting (``O_NONBLOCK``: a FIFO would wait for a writer) and not
    through a link (``O_NOFOLLOW``); OSError otherwise. The caller closes it.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        os.close(fd)
        raise
    if not regular:
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file")
    return fd


def read_regular(path: Path, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes of the regular file ``path`` (more: too large)."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb", buffering=0) as file:
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = file.read(min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    return b"".join(chunks)


def _sync_folder(folder: Path) -> None:
    """The folder's entry for a new file on the stick too (its directory written)."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(folder: Path, name: str, suffix: str, data: bytes, *, copies: int) -> Path:
    """Write ``data`` to ``folder`` as ``name + suffix``, or, that name taken, the first
    free of ``name (2)``, ``name (3)``... up to ``copies``; a file already there is kept.

    Each name is created exclusively and not through a link (``O_EXCL``, ``O_NOFOLLOW``), so
    a file or link that appears between looking and writing is neither overwritten nor
    followed. A file half written is removed. FileExistsError when every name is taken,
    another OSError when the folder cannot be written, or the file not made durable
    (``fsync``: the screen then does not say it was saved).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for number in range(1, copies + 1):
        path = folder / f"{name if number == 1 else f'{name} ({number})'}{suffix}"
        try:
            fd = os.open(path, flags, 0o644)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                # on the stick before the screen says so: the shipper pulls it then
                os.fsync(handle.fileno())
            _sync_folder(folder)
        except OSError:
            path.unlink(missing_ok=True)  # ours, half written: not left for a shipper to pick
            raise
        return path
    raise FileExistsError(f"{copies} copies of {name}{suffix} in {folder} already")

"""A simulated serial device: a real pseudo-terminal behind a stable link path.

The program under test opens ``path`` like a real port (``/dev/ttyUSB0``); unplugging
closes the pty (the reader sees EIO) and removes the link, replugging makes a new pty
behind the same path, as a USB adapter pulled and put back does.
"""

from __future__ import annotations

import logging
import os
import threading
import tty
from pathlib import Path
from typing import Self

logger = logging.getLogger(__name__)


class VirtualPort:
    """The pty lifecycle the virtual LPR camera and the drop-box sensor share."""

    #: what the log calls this device
    kind = "virtual port"

    def __init__(self, directory: str | Path, name: str) -> None:
        self.directory = Path(directory)
        self.name = name
        self._lock = threading.RLock()
        self._master: int | None = None
        self._slave: int | None = None
        self.pts: str | None = None

    @property
    def path(self) -> str:
        """The stable port path the program opens (a link to the current pty)."""
        return str(self.directory / self.name)

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def start(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.replug()
        return self

    def stop(self) -> None:
        self.unplug()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unplug(self) -> None:
        """Pull the cable: the pty closes (the reader sees EIO) and the link goes."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            self.pts = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            logger.info("%s %s unplugged", self.kind, self.path)

    def replug(self) -> None:
        """Plug in again: a new pty behind the same link path (replaced atomically)."""
        with self._lock:
            if self._master is not None:
                self.unplug()
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no line editing: bytes go through as they are
            os.set_blocking(master, False)
            self._master, self._slave = master, slave
            self.pts = os.ttyname(slave)
            tmp = self.directory / f".{self.name}.{os.getpid()}.tmp"
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(self.pts, tmp)
            os.replace(tmp, self.path)
            logger.info("%s %s -> %s", self.kind, self.path, self.pts)

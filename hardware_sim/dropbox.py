"""A simulated manifest drop-box contact sensor on a real pseudo-terminal, at a stable path.

It speaks the line protocol of ``aiop_panel.dropbox`` (``C1 <ms>`` closed, ``C0 <ms>``
open, ``<ms>`` its own millisecond counter; ``timestamps=False`` for bare ``C1``/``C0``)::

    box = SimulatedDropBox(tmp_dir).start()
    box.path                 # what the panel opens (a symlink to /dev/pts/N)
    box.drop()               # a manifest goes in: closed for hold_ms, then open
    box.chatter()            # a bouncing contact around one drop
    box.noise(b"\\x00zz")     # a line of garbage
    box.unplug(); box.replug()
    box.stop()
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

from hardware_sim.errors import SimError
from hardware_sim.ptyport import VirtualPort

logger = logging.getLogger(__name__)


class DropBoxSimError(SimError):
    """The simulated drop box cannot do what was asked (unplugged, bad timing)."""

    key = "sim_dropbox"


class SimulatedDropBox(VirtualPort):
    """One drop-box sensor. Thread-safe; ``drop``/``chatter`` block for their hold time."""

    kind = "simulated drop box"

    def __init__(
        self,
        directory: str | Path,
        *,
        name: str = "dropbox0",
        timestamps: bool = True,
        rate: float = 1.0,
    ) -> None:
        if not 0.5 <= rate <= 2.0:
            raise DropBoxSimError("rate must be 0.5-2.0", key="sim_bad_rate")
        super().__init__(directory, name)
        self.timestamps = timestamps
        #: the sensor's counter ms per host ms: a cheap resonator is off by up to 0.5 %
        self.rate = rate
        self._booted = time.monotonic()
        self.lines_sent = 0

    # -- the contact -------------------------------------------------------------------

    def now_ms(self) -> int:
        """The sensor's millisecond counter (what it stamps its lines with)."""
        return int((time.monotonic() - self._booted) * self.rate * 1000) % 2**32

    def contact(self, closed: bool) -> None:
        """Report the contact closed (``C1``) or open (``C0``), stamped with the sensor's ms."""
        word = "C1" if closed else "C0"
        if self.timestamps:
            word += f" {self.now_ms()}"
        self.write(f"{word}\r\n".encode("ascii"))

    def drop(self, hold_ms: int = 150) -> None:
        """A manifest passes the flap: closed for ``hold_ms``, then open."""
        if not 0 <= hold_ms <= 10_000:
            raise DropBoxSimError("hold_ms must be 0-10000", key="sim_bad_hold")
        self.contact(True)
        time.sleep(hold_ms / 1000)  # the flap's own physical time
        self.contact(False)

    def chatter(self, bounces: int = 6, gap_ms: int = 3, hold_ms: int = 150) -> None:
        """One drop through a bouncing contact: short blips, the hold, blips on release.

        Stamped, the bounces are exact: the whole sequence plays out in time and its lines
        go out together at the end, stamped when each change happened (as a reader that
        was held up would get them). Unstamped, each line goes out as it happens.
        """
        if not 0 <= bounces <= 100 or not 0 <= gap_ms <= 1000 or not 0 <= hold_ms <= 10_000:
            raise DropBoxSimError(
                "bounces 0-100, gap_ms 0-1000, hold_ms 0-10000", key="sim_bad_chatter"
            )
        steps: list[tuple[bool, int]] = []  # (closed, ms after the start)
        t = 0
        for _ in range(bounces):
            steps += [(True, t), (False, t + gap_ms)]
            t += 2 * gap_ms
        steps += [(True, t), (False, t + hold_ms)]
        t += hold_ms
        for _ in range(bounces):
            t += gap_ms
            steps += [(True, t), (False, t + gap_ms)]
            t += gap_ms
        if not self.timestamps:
            start = time.monotonic()
            for closed, at_ms in steps:
                delay = start + at_ms / 1000 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # the contact's own physical time
                self.contact(closed)
            return
        start_ms = self.now_ms()
        time.sleep(t / 1000)  # the contact's own physical time, then the lines, stamped
        lines = "".join(
            f"{'C1' if closed else 'C0'} {(start_ms + at_ms) % 2**32}\r\n"
            for closed, at_ms in steps
        )
        self.write(lines.encode("ascii"))

    def noise(self, data: bytes) -> None:
        """Raw bytes on the line (a damaged cable, a wrong baud rate)."""
        self.write(data)

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._master is None:
                raise DropBoxSimError("the drop box is unplugged", key="sim_unplugged")
            try:
                sent = os.write(self._master, data)
            except OSError as err:
                if err.errno != errno.EAGAIN:
                    raise
                sent = 0
            if sent < len(data):  # the pty's buffer is full: nobody reads the line
                logger.warning(
                    "drop box %s: nobody reads the line; %d bytes lost", self.path, len(data) - sent
                )
            self.lines_sent += data[:sent].count(b"\n")

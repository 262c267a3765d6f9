"""The manifest drop-box contact sensor on a serial line.

Line protocol (ASCII, 9600 8N1, one message per line, ``\\n`` ends a line, a ``\\r``
before it and spaces around it are ignored, case-insensitive):

* ``C1`` or ``C1 <ms>``: the contact closed (a manifest is passing the flap);
* ``C0`` or ``C0 <ms>``: the contact opened;
* anything else (a line of noise, over 32 bytes, not ASCII) is counted and ignored.

``<ms>`` is optional: the sensor's own millisecond counter (0 to 2**32-1, may wrap) when
the change happened. With it, the debounce runs on the sensor's clock, so a reader that was
held up and gets ``C1`` and ``C0`` in one read still sees exactly how long the contact was
closed; without it, the arrival time of each line is used.

A drop is counted when the contact opens (``C0``) after it was closed (``C1``) for at
least ``min_closed_ms``; chatter (the contact bouncing open and closed) before the flap
has stayed open for ``refractory_ms`` after a drop is the same drop, however long the
flap was held closed. Counted on the ``C0``, not once the closure has lasted: the line has
no parity or checksum, and a brush of the flap whose ``C0`` was lost to noise (garbled,
or one bit turning it into ``C1``) was counted as a drop once ``min_closed_ms`` had passed
here, which released the truck without its manifest (before 2026-12-07). A flap held
closed (a manifest jammed in it) counts when it opens, if it opens within
``max_closed_ms`` (5 s): a jam freed later, when the truck has timed out and the next one
is asked for its manifest, is not that truck's drop (a warning, no drop).
Each drop publishes ``ManifestDropped(source="sensor")``. When the port disappears (USB
unplugged) the reader retries with a capped backoff until it is back; the contact's
state is then unknown, so an open line is assumed until the sensor says otherwise.

A ``C1`` while the contact is already closed means a ``C0`` was lost (or the flap is
stuck): how long the contact was closed cannot be told, so that closure is never counted
(logged once); the lane times that truck out to STOP rather than release it on a doubtful
drop. The next ``C0`` ends it, and the drop after counts. A ``C1`` with the same stamp as
the one that began the closure is the sensor saying it again, and changes nothing.

The sensor is *healthy* while its port is open and its line is not only noise: over
``GARBLED_BYTES`` bytes with no contact report between (a wrong baud rate, a line ending
in CR only) makes it unhealthy until a report parses. That is logged and goes to
``on_status`` (the panel's retained status), not to the screen: the box may still work,
and a driver told it is out of order would not drop the manifest that puts it right.
``on_connection`` is the port's coming and going, which the screen shows. A port that
cannot be opened is logged at WARNING at once, then every ``ABSENT_LOG_EVERY`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from aiop_panel.errors import Error
from rocars.messages import ManifestDropped

logger = logging.getLogger(__name__)

MAX_LINE = 32
#: bytes in a row with no contact report between: the line gives only noise
GARBLED_BYTES = 64
#: a port that cannot be opened is logged at WARNING at most this often, s
ABSENT_LOG_EVERY = 300.0


class DropBoxError(Error):
    """The drop-box settings make no sense."""

    key = "dropbox_error"


SENSOR_WRAP = 2**32


@dataclass(frozen=True, slots=True)
class Reading:
    closed: bool
    sensor_ms: int | None = None


def parse_line(raw: bytes) -> Reading | None:
    """A contact report, or None for noise."""
    if len(raw) > MAX_LINE:
        return None
    try:
        parts = raw.decode("ascii").upper().split()
    except UnicodeDecodeError:
        return None
    if not parts or parts[0] not in ("C1", "C0") or len(parts) > 2:
        return None
    sensor_ms = None
    if len(parts) == 2:
        if not parts[1].isdigit() or int(parts[1]) >= SENSOR_WRAP:
            return None
        sensor_ms = int(parts[1])
    return Reading(parts[0] == "C1", sensor_ms)


class SensorClock:
    """The sensor's millisecond counter as its stamps give it: contact durations come
    straight from them (exact, however late the lines arrive), so a counter that goes
    back (wrapped, or the sensor restarted) starts the debounce afresh."""

    def __init__(self) -> None:
        self._last_ms: int | None = None

    def observe(self, sensor_ms: int) -> bool:
        """Record a stamped line; True when the counter went back (wrapped or restarted)."""
        restarted = self._last_ms is not None and sensor_ms < self._last_ms
        self._last_ms = sensor_ms
        return restarted

    def reset(self) -> None:
        self._last_ms = None


class Debouncer:
    """Contact changes with their times in, drops out. Times are monotonic seconds."""

    def __init__(
        self, min_closed_ms: int = 60, refractory_ms: int = 1500, max_closed_ms: int = 5000
    ) -> None:
        if min_closed_ms <= 0 or refractory_ms < 0 or max_closed_ms <= min_closed_ms:
            raise DropBoxError(
                "min_closed_ms must be > 0, refractory_ms >= 0, max_closed_ms > min_closed_ms"
            )
        self.min_closed = min_closed_ms / 1000
        self.refractory = refractory_ms / 1000
        self.max_closed = max_closed_ms / 1000
        self._closed_since: float | None = None
        #: a C1 came while the contact was closed: this closure is never counted
        self._doubtful = False
        #: when the flap last opened after a closure of ``min_closed`` or longer (a drop,
        #: or chatter of one): the refractory time runs from there, not from the closure,
        #: so a flap held closed longer than it and then bouncing is still the same drop
        self._opened_at: float | None = None

    def feed(self, closed: bool, at: float) -> bool:
        """A contact report; True when it completes a drop (a ``C0`` that ends one)."""
        if closed:
            if self._closed_since is None:
                self._closed_since = at
            elif at != self._closed_since and not self._doubtful:  # not a stamp said again
                self._doubtful = True
                logger.warning(
                    "drop-box: the contact closed again without opening (%.3f s after it "
                    "closed): a C0 was lost or the flap is stuck; this closure is not "
                    "counted as a drop",
                    at - self._closed_since,
                )
            return False
        since, doubtful = self._closed_since, self._doubtful
        self._closed_since, self._doubtful = None, False
        if since is None or doubtful or at - since < self.min_closed - 1e-9:  # ms as floats
            return False
        jammed = at - since > self.max_closed
        if jammed:
            logger.warning(
                "drop-box: the contact opened %.1f s after it closed (a jam freed?): not "
                "counted as a drop (the truck before may have timed out since)",
                at - since,
            )
        counted = not jammed and (
            self._opened_at is None or since - self._opened_at >= self.refractory
        )
        self._opened_at = at  # a jam or chatter too: its end restarts the refractory time
        return counted

    def reset(self) -> None:
        """The line went away (or its clock changed): the contact's state is unknown again."""
        self._closed_since = None
        self._doubtful = False
        self._opened_at = None


class DropBoxSensor:
    """Reads the sensor on its own thread and calls ``on_drop`` once per manifest.

    ``on_drop`` runs on the reader thread (publishing on the bus is thread-safe).
    """

    def __init__(
        self,
        port: str,
        on_drop: Callable[[ManifestDropped], None],
        *,
        min_closed_ms: int = 60,
        refractory_ms: int = 1500,
        max_closed_ms: int = 5000,
        poll_seconds: float = 0.01,
        max_backoff: float = 2.0,
        on_connection: Callable[[bool], None] | None = None,
        on_status: Callable[[], None] | None = None,
    ) -> None:
        if not port or any(ord(c) < 0x20 or c == "\x7f" for c in port):
            # never opens (a NUL: not even an OSError, logged as the reader failing, every
            # 2 s): refused, named
            raise DropBoxError(f"drop-box port {port!r} is not a device path")
        self.port = port
        self._on_drop = on_drop
        self._on_connection = on_connection
        self._on_status = on_status
        self.debouncer = Debouncer(min_closed_ms, refractory_ms, max_closed_ms)
        self.sensor_clock = SensorClock()
        self._stamped = False
        self._poll = poll_seconds
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self.connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.drops = 0
        self.noise = 0
        self.connects = 0
        #: the line gives only noise (module doc); with ``connected``, ``healthy``
        self.garbled = False
        self._junk = 0  # bytes since the last contact report

    @property
    def healthy(self) -> bool:
        """The port is open and its line is not only noise."""
        return self.connected.is_set() and not self.garbled

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dropbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        backoff = 0.05
        told_absent: float | None = None  # when a port that would not open was last logged
        while not self._stop.is_set():
            opened = False
            try:
                with serial.Serial(self.port, 9600, timeout=self._poll) as port:
                    opened = True
                    told_absent = None
                    self._connected(True)
                    backoff = 0.05
                    self._read(port)
            except (serial.SerialException, OSError) as err:
                now = time.monotonic()
                if opened or (told_absent is not None and now - told_absent < ABSENT_LOG_EVERY):
                    logger.debug("drop-box port %s: %s", self.port, err)
                else:
                    told_absent = now
                    logger.warning(
                        "drop-box sensor on %s cannot be opened (%s); retrying, manifests "
                        "are not seen meanwhile",
                        self.port,
                        err,
                    )
            except Exception:  # top-level loop of the reader thread: log and carry on
                logger.exception("drop-box reader failed; restarting")
            if self._stop.is_set():
                self.connected.clear()
                return
            if self.connected.is_set():
                logger.warning("drop-box sensor on %s went away; retrying", self.port)
                self.garbled = False
                self._junk = 0
                try:
                    self._connected(False)
                except Exception:  # the reader thread must live on (it died, found in review)
                    logger.exception("drop-box: the connection callback failed")
            self.debouncer.reset()
            self.sensor_clock.reset()
            self._stop.wait(backoff)
            backoff = min(self._max_backoff, backoff * 2)

    def _connected(self, up: bool) -> None:
        if up:
            self.connects += 1
            self.connected.set()
            logger.info("drop-box sensor on %s connected", self.port)
        else:
            self.connected.clear()
        if self._on_connection is not None:
            self._on_connection(up)

    def _garbled(self, garbled: bool) -> None:
        """The line turned to only noise, or back: logged, and the health passed on."""
        if garbled == self.garbled:
            return
        self.garbled = garbled
        if garbled:
            logger.warning(
                "drop-box sensor on %s sends only noise (%d bytes without a contact report: "
                "a wrong baud rate or line ending?); manifests are not seen",
                self.port,
                self._junk,
            )
        else:
            logger.info("drop-box sensor on %s reports again", self.port)
        if self._on_status is not None:
            self._on_status()

    def _read(self, port: serial.Serial) -> None:
        buffer = b""
        discarding = False  # inside an over-long line: its tail up to the newline is noise too
        while not self._stop.is_set():
            chunk = port.read(256)
            now = time.monotonic()
            buffer += chunk
            self._junk += len(chunk)  # back to 0 at the next contact report
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if discarding:  # the tail of an over-long line (counted once, below)
                    discarding = False
                    continue
                reading = parse_line(line)
                if reading is None:
                    self.noise += 1
                    logger.debug("drop-box noise %r", line[:MAX_LINE])
                    continue
                self._junk = 0
                self._garbled(False)
                stamped = reading.sensor_ms is not None
                if stamped != self._stamped:  # a change of time base: start afresh
                    self.debouncer.reset()
                    self._stamped = stamped
                at = now
                if reading.sensor_ms is not None:
                    if self.sensor_clock.observe(reading.sensor_ms):
                        self.debouncer.reset()
                    at = reading.sensor_ms / 1000
                if self.debouncer.feed(reading.closed, at):
                    self._dropped()
            if discarding:
                buffer = b""  # still inside the over-long line
            elif len(buffer) > MAX_LINE:
                self.noise += 1
                buffer = b""
                discarding = True
            if self._junk >= GARBLED_BYTES:
                self._garbled(True)

    def _dropped(self) -> None:
        self.drops += 1
        logger.info("manifest dropped (sensor, drop %d)", self.drops)
        self._on_drop(ManifestDropped(source="sensor"))
        if self._on_status is not None:  # its counts, as of this drop
            self._on_status()

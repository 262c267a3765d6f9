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

A drop is counted when the contact has stayed closed for ``min_closed_ms``; chatter (the
contact bouncing open and closed) before the flap has stayed open for ``refractory_ms``
after a drop is the same drop, however long the flap was held closed.
Each drop publishes ``ManifestDropped(source="sensor")``. When the port disappears (USB
unplugged) the reader retries with a capped backoff until it is back; the contact's
state is then unknown, so an open line is assumed until the sensor says otherwise.

A closure is never credited, while its ``C0`` is not in, with more time than has passed
here since its ``C1`` arrived: the sensor's counter may run slower than this machine's
clock, and the estimate of its time now would run ahead (a blip counted as a drop). A
``C1`` while the contact is already closed and counted, after the refractory time, means
a ``C0`` was lost (or the flap is stuck): it is logged, never counted as a drop, so the
lane times that truck out to STOP rather than release it on a doubtful drop.

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
from collections import deque
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
    """Where the sensor's millisecond counter is now, as seen from this machine.

    Contact durations come straight from the sensor's stamps (exact, however late the
    lines arrive). Only "has it been closed long enough *yet*" needs the sensor's time
    now: the smallest (arrival - stamp) offset seen lately is the least delayed line, so
    ``now - that offset`` is the sensor's time now (never ahead of it).
    """

    def __init__(self, window: int = 64) -> None:
        self._offsets: deque[float] = deque(maxlen=window)
        self._last_ms: int | None = None

    def observe(self, sensor_ms: int, arrived: float) -> bool:
        """Record a stamped line; True when the counter went back (wrapped or restarted)."""
        restarted = self._last_ms is not None and sensor_ms < self._last_ms
        if restarted:
            self._offsets.clear()
        self._last_ms = sensor_ms
        self._offsets.append(arrived - sensor_ms / 1000)
        return restarted

    def sensor_now(self, now: float) -> float | None:
        """The sensor's time (seconds) at local ``now``; None before any stamped line."""
        return now - min(self._offsets) if self._offsets else None

    def reset(self) -> None:
        self._offsets.clear()
        self._last_ms = None


class Debouncer:
    """Contact changes with their times in, drops out. Times are monotonic seconds."""

    def __init__(self, min_closed_ms: int = 60, refractory_ms: int = 1500) -> None:
        if min_closed_ms <= 0 or refractory_ms < 0:
            raise DropBoxError("min_closed_ms must be > 0 and refractory_ms >= 0")
        self.min_closed = min_closed_ms / 1000
        self.refractory = refractory_ms / 1000
        self._closed_since: float | None = None
        self._latched = False
        #: the time of the last report, and whether a C0 was found lost (logged once)
        self._last_at: float | None = None
        self._lost_told = False
        #: when the flap last opened after a counted closure (a drop, or chatter of one):
        #: the refractory time runs from there, not from the closure, so a flap held
        #: closed longer than it and then bouncing is still the same drop
        self._opened_at: float | None = None

    def feed(self, closed: bool, at: float) -> bool:
        """A contact report; True when it completes a drop (checked as of ``at``)."""
        dropped = self.poll(at)
        last, self._last_at = self._last_at, at
        if closed:
            if self._closed_since is None:
                self._closed_since = at
            elif (
                self._latched
                and not self._lost_told
                and last is not None
                and at - last >= self.refractory
            ):
                self._lost_told = True
                logger.warning(
                    "drop-box: the contact closed again without opening (%.1f s after the "
                    "last report): a C0 was lost or the flap is stuck; no drop is counted "
                    "until it opens",
                    at - last,
                )
        else:
            self._lost_told = False
            if self._latched:
                self._opened_at = at
            self._closed_since = None
            self._latched = False
        return dropped

    def poll(self, at: float) -> bool:
        """True once per closure that has lasted ``min_closed``, after the flap has been
        open for the refractory time since the last drop (or its chatter) ended."""
        if self._closed_since is None or self._latched:
            return False
        if at - self._closed_since < self.min_closed:
            return False
        self._latched = True  # chatter too: its end restarts the refractory time
        return self._opened_at is None or self._closed_since - self._opened_at >= self.refractory

    @property
    def closed_since(self) -> float | None:
        """When the current closure began (the time its report gave); None while open."""
        return self._closed_since

    def reset(self) -> None:
        """The line went away (or its clock changed): the contact's state is unknown again."""
        self._closed_since = None
        self._latched = False
        self._opened_at = None
        self._last_at = None
        self._lost_told = False


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
        poll_seconds: float = 0.01,
        max_backoff: float = 2.0,
        on_connection: Callable[[bool], None] | None = None,
        on_status: Callable[[], None] | None = None,
    ) -> None:
        self.port = port
        self._on_drop = on_drop
        self._on_connection = on_connection
        self._on_status = on_status
        self.debouncer = Debouncer(min_closed_ms, refractory_ms)
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
        #: local arrival of the C1 that began the current closure (module doc)
        self._closure_arrived: float | None = None

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
                self._connected(False)
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
                    if self.sensor_clock.observe(reading.sensor_ms, now):
                        self.debouncer.reset()
                    at = reading.sensor_ms / 1000
                began = self.debouncer.closed_since
                if self.debouncer.feed(reading.closed, at):
                    self._dropped()
                if self.debouncer.closed_since != began:
                    self._closure_arrived = now if reading.closed else None
            if discarding:
                buffer = b""  # still inside the over-long line
            elif len(buffer) > MAX_LINE:
                self.noise += 1
                buffer = b""
                discarding = True
            if self._junk >= GARBLED_BYTES:
                self._garbled(True)
            current = self.sensor_clock.sensor_now(now) if self._stamped else now
            since, arrived = self.debouncer.closed_since, self._closure_arrived
            if current is not None and since is not None and arrived is not None:
                # no more than has passed here since its C1 came (module doc)
                current = min(current, since + (now - arrived))
            if current is not None and self.debouncer.poll(current):
                self._dropped()

    def _dropped(self) -> None:
        self.drops += 1
        logger.info("manifest dropped (sensor, drop %d)", self.drops)
        self._on_drop(ManifestDropped(source="sensor"))
        if self._on_status is not None:  # its counts, as of this drop
            self._on_status()

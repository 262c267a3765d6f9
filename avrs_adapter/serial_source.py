"""A serial LPR device as a plate ``Source``: pyserial, one protocol parser, reconnects.

The port is opened by path (a udev symlink such as /dev/lpr0, or the virtual device's
link), read with a short timeout, and when it disappears (USB adapter pulled, the
device's pty closed) it is reopened at the same path with capped exponential backoff.
Nothing here raises for bad input or a dead port: it counts, logs and says so in
``status()``.
"""

from __future__ import annotations

import logging
import termios
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import serial

from avrs_adapter.errors import PortError, ProtocolConfigError
from avrs_adapter.observation import Observation
from avrs_adapter.protocols import LprProtocol, make_protocol
from rocars.ids import validate_device

logger = logging.getLogger(__name__)

MAX_CHUNK = 65_536


class SerialSource:
    """Reads one LPR device. ``protocol`` is a name (``delimited``, ``framed``, ``nedap``)
    or a parser instance; ``protocol_options`` go to the named protocol.

    ``idle_flush``: after that many seconds without a byte, a partial frame is abandoned
    (noise that never finished must not glue itself to the next read).
    """

    def __init__(
        self,
        port: str,
        protocol: str | LprProtocol,
        baud: int = 9600,
        device: str = "lpr0",
        *,
        protocol_options: dict[str, Any] | None = None,
        read_timeout: float = 0.2,
        idle_flush: float = 1.0,
        backoff_min: float = 0.1,
        backoff_max: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not port:
            raise PortError("no serial port given", key="avrs_port_missing")
        if not isinstance(baud, int) or not 50 <= baud <= 4_000_000:
            raise ProtocolConfigError(
                f"baud must be 50-4000000, got {baud!r}", key="avrs_bad_baud", baud=str(baud)
            )
        if not 0.01 <= read_timeout <= 5 or not 0 < backoff_min <= backoff_max <= 300:
            raise ProtocolConfigError("read_timeout 0.01-5 s, 0 < backoff_min <= backoff_max")
        self.port = port
        self.baud = baud
        self.device = validate_device(device)
        self.parser: LprProtocol = (
            make_protocol(protocol, **(protocol_options or {}))
            if isinstance(protocol, str)
            else protocol
        )
        self.read_timeout = read_timeout
        self.idle_flush = idle_flush
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self._clock = clock
        self._lock = threading.Lock()
        self._state = "closed"
        self._bytes = 0
        self._opens = 0
        self._open_failures = 0
        self._port_errors = 0
        self._last_error = ""
        self._last_read_at: float | None = None
        self._last_byte_at: float | None = None

    # -- Source ----------------------------------------------------------------------------

    def observations(self, stop: threading.Event) -> Iterator[Observation]:
        backoff = self.backoff_min
        while not stop.is_set():
            port = self._open()
            if port is not None:
                try:
                    worked = yield from self._read(port, stop)
                finally:
                    self._close(port)
                # a port that opens but fails at once (EIO, hung up, another process on it)
                # must back off like one that cannot be opened; one that read fine before
                # it was lost starts again from the shortest pause
                if worked:
                    backoff = self.backoff_min
            stop.wait(backoff)
            backoff = min(backoff * 2, self.backoff_max)

    def status(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            state = self._state
            figures: dict[str, Any] = {
                "port": self.port,
                "protocol": self.parser.name,
                "baud": self.baud,
                "port_state": state,
                "bytes": self._bytes,
                "opens": self._opens,
                "open_failures": self._open_failures,
                "port_errors": self._port_errors,
                "last_read_age": (
                    None if self._last_read_at is None else round(now - self._last_read_at, 3)
                ),
                "last_error": self._last_error,
            }
        figures.update(self.parser.stats.as_dict())
        figures["ok"] = state == "open"
        figures["problem"] = "" if state == "open" else f"port {state}: {self._last_error}"
        return figures

    def probe(self) -> None:
        """Open and close the port once; PortError says why it cannot be opened."""
        try:
            port = serial.Serial(self.port, self.baud, timeout=0)
        except (serial.SerialException, OSError, ValueError, termios.error) as err:
            raise PortError(
                f"cannot open serial port {self.port}: {err}", port=self.port, reason=str(err)
            ) from err
        port.close()

    # -- internals ---------------------------------------------------------------------

    def _set(self, state: str, error: str | None = None) -> None:
        with self._lock:
            self._state = state
            if error is not None:
                self._last_error = error

    def _open(self) -> serial.Serial | None:
        try:
            port = serial.Serial(self.port, self.baud, timeout=self.read_timeout)
        # pyserial lets termios.error (not an OSError) out when setting up the port fails,
        # e.g. EIO from a USB adapter pulled while it is being opened
        except (serial.SerialException, OSError, ValueError, termios.error) as err:
            with self._lock:
                first = self._open_failures == 0 or self._state != "absent"
                self._open_failures += 1
            self._set("absent", str(err))
            if first:
                logger.warning("serial port %s cannot be opened: %s", self.port, err)
            return None
        self.parser.reset()
        with self._lock:
            self._opens += 1
            self._last_byte_at = self._clock()
        self._set("open")
        logger.info(
            "serial port %s open (%s, %d baud, device %s)",
            self.port,
            self.parser.name,
            self.baud,
            self.device,
        )
        return port

    def _close(self, port: serial.Serial) -> None:
        try:
            port.close()
        except (serial.SerialException, OSError) as err:
            logger.debug("closing %s: %s", self.port, err)
        with self._lock:
            if self._state == "open":
                self._state = "closed"

    def _read(
        self, port: serial.Serial, stop: threading.Event
    ) -> Generator[Observation, None, bool]:
        """Observations until the port is lost or ``stop``; returns True if a read worked."""
        worked = False
        while not stop.is_set():
            try:
                waiting = port.in_waiting
                data = port.read(min(max(1, waiting), MAX_CHUNK))
            except (serial.SerialException, OSError) as err:
                with self._lock:
                    self._port_errors += 1
                self._set("lost", str(err))
                logger.warning("serial port %s lost: %s; reconnecting", self.port, err)
                return worked
            worked = True
            now = self._clock()
            if data:
                with self._lock:
                    self._bytes += len(data)
                    self._last_byte_at = now
                reads = self.parser.feed(data)
            else:
                with self._lock:
                    last_byte_at = self._last_byte_at
                quiet = last_byte_at is not None and now - last_byte_at >= self.idle_flush
                reads = self.parser.idle() if quiet else []
            for read in reads:
                with self._lock:
                    self._last_read_at = now
                yield Observation(
                    vrn=read.vrn,
                    raw=read.raw,
                    confidence=read.confidence,
                    source="serial",
                    device=self.device,
                    at=now,
                )
        return worked

"""A serial LPR device as a plate ``Source``: pyserial, one protocol parser, reconnects.

The port is opened by path (a udev symlink such as /dev/lpr0, or the virtual device's
link), read with a short timeout, and when it disappears (USB adapter pulled, the
device's pty closed) it is reopened at the same path with capped exponential backoff.
Nothing here raises for bad input or a dead port: it counts, logs and says so in
``status()``.

An RS485 camera is often wired to a serial device server on the booth LAN rather than
to the PC: the port is then a pyserial URL, ``socket://HOST:PORT`` (the server's raw
TCP mode) or ``rfc2217://HOST:PORT`` (RFC 2217, the baud rate set over the network),
read and reconnected the same way. A camera that streams its serial format over TCP
itself (a Nedap ANPR camera's network output) is a ``socket://`` port too.

A device that kept its reads while its link was down sends them when it is back: a read
whose device time is too late for the device's usual lag is not passed on
(``avrs_adapter.replay``, counted in ``replayed``). The device's lag learnt is kept in a
file (``replay_state``) so that a restart of the adapter does not forget it.
"""

from __future__ import annotations

import errno
import logging
import termios
import threading
import time
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import serial

from avrs_adapter.errors import PortError, PortUnavailable, ProtocolConfigError
from avrs_adapter.observation import Observation
from avrs_adapter.protocols import LprProtocol, make_protocol
from avrs_adapter.replay import LagFile, ReplayGuard
from rocars.ids import validate_device

logger = logging.getLogger(__name__)

#: Why a serial port may not open now but may later: not there (yet), gone, busy, not
#: ours (a permission put right): its service tries again (``PortUnavailable``)
_COMES_RIGHT = frozenset(
    {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EBUSY, errno.EACCES, errno.EIO, errno.EAGAIN}
)


def _errno(err: BaseException) -> int | None:
    """The OS error number behind a port's failure to open: pyserial's own, or that of
    the error it was raised from (``Could not configure port: (5, ...)`` has none of its
    own: the device node is there, its configuration failed with EIO)."""
    for found in (err, err.__context__):
        number = getattr(found, "errno", None)
        if number is None and isinstance(found, termios.error) and found.args:
            number = found.args[0]
        if isinstance(number, int):
            return number
    return None


MAX_CHUNK = 65_536

#: ports that are pyserial URLs on the network, not device paths (module doc)
NETWORK_SCHEMES = ("socket", "rfc2217")


def network_address(port: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``socket://`` or ``rfc2217://`` port; None for a device path.
    ``PortError`` for a URL of one of those schemes without a host and port."""
    scheme, sep, _ = port.partition("://")
    if not sep or scheme.lower() not in NETWORK_SCHEMES:
        return None
    split = urlsplit(port)
    try:
        number = split.port
    except ValueError:
        number = None
    if not split.hostname or number is None or not 0 < number < 65536:
        raise PortError(
            f"{port} must look like {scheme}://HOST:PORT",
            key="avrs_port_error",
            port=port,
            reason="no host and port",
        )
    return split.hostname, number


class SerialSource:
    """Reads one LPR device. ``protocol`` is a name (``delimited``, ``framed``, ``nedap``)
    or a parser instance; ``protocol_options`` go to the named protocol.

    ``idle_flush``: after that many seconds without a byte, a partial frame is abandoned
    (noise that never finished must not glue itself to the next read).

    ``replay_bound``: a read whose device time is later than the device's usual lag by
    more than that many seconds was kept by the device and replayed: it is dropped
    (``avrs_adapter.replay``; 0 turns this off). ``replay_rebaseline_reads`` spaced reads
    in a row with the same larger lag, over a minute or more, are a device clock stepped
    back.
    ``replay_device_lag``: the device's lag known beforehand (0 for a device NTP-synced to
    this machine's local time), so that a replay at the first connect is told too; by
    default the first read sets it.
    ``replay_state``: a file that keeps the device's lag across restarts: at start, without
    ``replay_device_lag``, the lag saved there is the first baseline (when it is usable and
    under 7 days old); the lag learnt is saved there as it changes and when the source
    ends (``avrs_adapter.replay.LagFile``).
    A line's time of arrival is ``wall_clock`` as it was at start, advanced by ``clock``: a
    step of this machine's own clock (NTP at boot) must not look like a replay.
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
        replay_bound: float = 5.0,
        replay_rebaseline_reads: int = 3,
        replay_device_lag: float | None = None,
        replay_state: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = datetime.now,
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
        #: on the network (module doc): checked at start, connected and re-connected later
        self.network = network_address(port) is not None
        #: pyserial's socket:// port says 1 for ``in_waiting`` (``_rest``); rfc2217:// says
        #: the count, and setting its timeout renegotiates the line with the server (50 ms+)
        self._drain = port.lower().startswith("socket://")
        self._what = "LPR connection" if self.network else "serial port"
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
        #: (naive local time, ``clock``) at start: a line's time of arrival (class doc)
        self._wall_origin = (wall_clock(), clock())
        #: the device's lag across restarts (class doc); None without a file or a guard
        self.lag_file = (
            LagFile(replay_state, self.device)
            if replay_state is not None and replay_bound
            else None
        )
        expected_lag = replay_device_lag
        expected_at = self._wall_origin[1]  # a lag given is borne out now (NTP)
        if self.lag_file is not None and expected_lag is None:
            expected_lag = self.lag_file.load(self._utc_now(self._wall_origin[1]))
            expected_at -= self.lag_file.saved_age  # the clock may have drifted since
        self.replay = (
            ReplayGuard(
                bound=replay_bound,
                rebaseline_reads=replay_rebaseline_reads,
                expected_lag=expected_lag,
                expected_at=expected_at if expected_lag is not None else None,
                device=self.device,
            )
            if replay_bound
            else None
        )
        self._taken = 0  # the guard's ``taken`` when the lag was last offered to the file
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
        try:
            while not stop.is_set():
                port = self._open()
                if port is not None:
                    try:
                        worked = yield from self._read(port, stop)
                    finally:
                        self._close(port)
                    # a port that opens but fails at once (EIO, hung up, another process on
                    # it) must back off like one that cannot be opened; one that read fine
                    # before it was lost starts again from the shortest pause
                    if worked:
                        backoff = self.backoff_min
                stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)
        finally:
            self._keep_lag(self._clock(), final=True)

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
        replay = self.replay
        figures["replayed"] = 0 if replay is None else replay.stats.replayed
        figures["replay_rebaselines"] = 0 if replay is None else replay.stats.rebaselines
        baseline = None if replay is None else replay.baseline
        figures["device_lag"] = None if baseline is None else round(baseline, 1)
        figures["ok"] = state == "open"
        figures["problem"] = "" if state == "open" else f"port {state}: {self._last_error}"
        return figures

    def probe(self) -> None:
        """Open and close the port once; PortError says why it cannot be opened.

        A network port is only checked for its form (``__init__``): a device server or
        camera that is not up yet when the adapter starts (a power cut, the switch still
        booting) is connected to when it is, as a serial port that comes back is."""
        if self.network:
            return
        try:
            port = serial.Serial(self.port, self.baud, timeout=0)
        except (serial.SerialException, OSError, ValueError, termios.error) as err:
            # a device that is not there (yet), busy or not ours to open may come right
            # (a USB adapter enumerated late, a permission fixed): tried again; a path
            # that is no serial port at all (not a tty: a config mistake) is not
            error = PortUnavailable if _errno(err) in _COMES_RIGHT else PortError
            raise error(
                f"cannot open serial port {self.port}: {err}", port=self.port, reason=str(err)
            ) from err
        port.close()

    # -- internals ---------------------------------------------------------------------

    def _utc_now(self, at: float) -> datetime:
        """This machine's time at monotonic ``at``, as the source tells a line's arrival."""
        wall_at, clock_at = self._wall_origin
        return (wall_at + timedelta(seconds=at - clock_at)).astimezone(UTC)

    def _keep_lag(self, at: float, *, final: bool = False) -> None:
        """Offer the guard's baseline to the lag file (it saves when due; never raises)."""
        if self.lag_file is None or self.replay is None or self.replay.baseline is None:
            return
        confirmed = self.replay.taken != self._taken  # a read taken bore the lag out
        self._taken = self.replay.taken
        self.lag_file.offer(
            self.replay.baseline, at=at, now=self._utc_now(at), confirmed=confirmed, final=final
        )

    def _set(self, state: str, error: str | None = None) -> None:
        with self._lock:
            self._state = state
            if error is not None:
                self._last_error = error

    def _open(self) -> serial.Serial | None:
        try:
            # a device path, or a URL (module doc); socket:// connects with a 5 s timeout
            port = serial.serial_for_url(self.port, self.baud, timeout=self.read_timeout)
        # pyserial lets termios.error (not an OSError) out when setting up the port fails,
        # e.g. EIO from a USB adapter pulled while it is being opened
        except (serial.SerialException, OSError, ValueError, termios.error) as err:
            with self._lock:
                first = self._open_failures == 0 or self._state != "absent"
                self._open_failures += 1
            self._set("absent", str(err))
            if first:
                logger.warning("%s %s cannot be opened: %s", self._what, self.port, err)
            return None
        self.parser.reset()
        with self._lock:
            self._opens += 1
            self._last_byte_at = self._clock()
        self._set("open")
        logger.info(
            "%s %s open (%s, %d baud, device %s)",
            self._what,
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
                if data and self._drain:
                    data += _rest(port)
            except (serial.SerialException, OSError) as err:
                with self._lock:
                    self._port_errors += 1
                self._set("lost", str(err))
                logger.warning("%s %s lost: %s; reconnecting", self._what, self.port, err)
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
            wall_at, clock_at = self._wall_origin
            wall = wall_at + timedelta(seconds=now - clock_at)
            for read in reads:
                with self._lock:
                    self._last_read_at = now  # a replayed read too: the link works
                if self.replay is not None:
                    taken = self.replay.check(read.device_time, now, wall, read.vrn)
                    self._keep_lag(now)
                    if not taken:
                        continue
                yield Observation(
                    vrn=read.vrn,
                    raw=read.raw,
                    confidence=read.confidence,
                    source="serial",
                    device=self.device,
                    at=now,
                )
        return worked


def _rest(port: serial.SerialBase) -> bytes:
    """What a network port holds after the first byte, without waiting.

    pyserial's ``socket://`` port says 1 for ``in_waiting`` whenever anything is there,
    so a frame would be read a byte a call; a read with no timeout takes all there is."""
    timeout = port.timeout
    port.timeout = 0
    try:
        return bytes(port.read(MAX_CHUNK))
    finally:
        port.timeout = timeout

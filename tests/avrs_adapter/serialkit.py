"""Test helpers: a SerialSource running on a thread, its observations in a queue; a
serial device server's TCP port on loopback, raw or RFC 2217."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import serial
from serial import rfc2217

from avrs_adapter.observation import Observation
from avrs_adapter.protocols import make_protocol
from avrs_adapter.serial_source import SerialSource


class Reader:
    """Runs ``source.observations`` on a thread; ``get`` waits for the next one."""

    def __init__(self, source: SerialSource) -> None:
        self.source = source
        self.stop_event = threading.Event()
        self.queue: queue.Queue[Observation] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for obs in self.source.observations(self.stop_event):
            self.queue.put(obs)

    def get(self, timeout: float = 5.0) -> Observation:
        return self.queue.get(timeout=timeout)

    def vrns(self, count: int, timeout: float = 5.0) -> list[str]:
        return [self.get(timeout).vrn for _ in range(count)]

    def wait_status(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll ``status()`` until ``check`` holds (status has no event to wait on)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.source.status()
            if check(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"status never matched: {status}")
            time.sleep(0.02)

    def close(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


class DeviceServer:
    """A serial device server's raw TCP port (or a camera streaming its serial format over
    TCP) on loopback: it takes one connection at a time and writes what it is given."""

    def __init__(self, protocol: str) -> None:
        self.encoder = make_protocol(protocol)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()

    def send_read(self, plate: str, *, split: bool = False, when: datetime | None = None) -> None:
        """One read, taken ``when`` by the device's clock (now unless given)."""
        assert self.conn is not None
        when = when or datetime.now().replace(microsecond=0)
        frame = self.encoder.encode(plate, 0.9, "CAM1", when)
        for piece in (frame[:5], frame[5:]) if split else (frame,):
            self.conn.sendall(piece)
            time.sleep(0.01)

    def hang_up(self) -> None:
        assert self.conn is not None
        self.conn.close()
        self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


#: how long the RFC 2217 server's threads wait on a socket or the port before looking
#: again whether they are to stop
_POLL = 0.05


class PtyEnd(serial.Serial):
    """A device server's end of a pseudo-terminal (a ``VirtualLpr``'s path). A pty has no
    modem lines (their ioctls fail with ENOTTY), so it answers as a three-wire RS232 or
    an RS485 converter does: CTS, DSR and CD on, RI off, and the DTR and RTS the client
    sets go nowhere."""

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass


class _Link:
    """The ``connection`` a ``PortManager`` writes its answers to: the client's socket,
    shared with the thread that forwards the device's bytes."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self.conn.sendall(data)


class _RecordingPortManager(rfc2217.PortManager):
    """pyserial's server side of RFC 2217, noting every COM-PORT-OPTION request."""

    def __init__(self, port: serial.Serial, link: _Link, record: Callable[[bytes], None]) -> None:
        self._record = record
        # the stubs type the connection as a Serial; PortManager only calls its write()
        super().__init__(port, link)  # type: ignore[arg-type]

    def _telnet_process_subnegotiation(self, suboption: bytes) -> None:
        if suboption[:1] == rfc2217.COM_PORT_OPTION:
            self._record(bytes(suboption[1:]))
        rfc2217.PortManager._telnet_process_subnegotiation(self, suboption)  # type: ignore[attr-defined]


class Rfc2217Server:
    """An RFC 2217 serial device server on loopback in front of a serial port, built on
    pyserial's ``PortManager`` as its examples/rfc2217_server.py builds one: what the
    device writes goes to the client escaped (a 0xFF byte doubled), what the client sends
    goes through the Telnet/RFC 2217 filter, which answers its negotiations (baud rate and
    line settings, flow control, DTR/RTS, purges) and passes any data on to the device.

    One client at a time; ``hang_up`` drops it (a device server rebooted) and the next
    is taken. ``requests()``: every COM-PORT-OPTION request received, its option byte
    first (1 baud rate, 2-4 line settings, 5 control, 12 purge). Everything runs on two
    threads that stop at ``close`` or after ``lifetime`` seconds at the latest."""

    def __init__(self, device: str, *, lifetime: float = 120.0) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(_POLL)
        try:
            self.port = PtyEnd(device, 9600, timeout=_POLL)
        except BaseException:
            self.listener.close()
            raise
        self.url = f"rfc2217://127.0.0.1:{self.listener.getsockname()[1]}"
        self._deadline = time.monotonic() + lifetime
        self._closing = threading.Event()
        self._hang_up = threading.Event()
        self._changed = threading.Condition()
        self._requests: list[bytes] = []
        self.connections = 0
        self.hang_ups = 0
        self._thread = threading.Thread(target=self._serve, name="rfc2217 server", daemon=True)
        self._thread.start()

    def requests(self) -> list[bytes]:
        with self._changed:
            return list(self._requests)

    def hang_up(self, timeout: float = 5.0) -> None:
        """Drop the client connected now; returns once it is closed."""
        with self._changed:
            assert self.connections > self.hang_ups, "no client to hang up on"
            ended = self.hang_ups
            self._hang_up.set()
            assert self._changed.wait_for(lambda: self.hang_ups > ended, timeout)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        alive = self._thread.is_alive()
        self.listener.close()
        self.port.close()
        assert not alive, "the RFC 2217 server did not stop"

    def _running(self) -> bool:
        return not self._closing.is_set() and time.monotonic() < self._deadline

    def _record(self, request: bytes) -> None:
        with self._changed:
            self._requests.append(request)

    def _serve(self) -> None:
        while self._running():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(_POLL)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(conn)
        ended = threading.Event()
        manager = _RecordingPortManager(self.port, link, self._record)
        pump = threading.Thread(
            target=self._pump, args=(manager, link, ended), name="rfc2217 device", daemon=True
        )
        pump.start()
        with self._changed:
            self.connections += 1
            self._changed.notify_all()
        try:
            while self._running() and not self._hang_up.is_set() and not ended.is_set():
                try:
                    data = conn.recv(1024)
                except TimeoutError:
                    manager.check_modem_lines()
                    continue
                except OSError:
                    break
                if not data:
                    break  # the client went away
                self.port.write(b"".join(manager.filter(data)))
        finally:
            ended.set()
            pump.join(5)
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client was gone first
            with self._changed:
                self._hang_up.clear()
                self.hang_ups += 1
                self._changed.notify_all()

    def _pump(self, manager: rfc2217.PortManager, link: _Link, ended: threading.Event) -> None:
        """The device's bytes to the client, escaped."""
        while not ended.is_set():
            try:
                data = self.port.read(self.port.in_waiting or 1)
                if data:
                    link.write(b"".join(manager.escape(data)))
            except (serial.SerialException, OSError):
                break
        ended.set()

"""SerialSource on real pseudo-terminals (the virtual LPR device): every protocol, every fault."""

from __future__ import annotations

import errno
import json
import socket
import termios
import time
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import serial

from avrs_adapter.errors import (
    AvrsError,
    PortError,
    PortUnavailable,
    ProtocolConfigError,
    UnknownProtocol,
)
from avrs_adapter.protocols import PROTOCOLS, DelimitedProtocol, ParsedRead
from avrs_adapter.serial_source import SerialSource
from hardware_sim.lpr_device import VirtualLpr
from rocars.errors import InvalidIdentifier
from tests.avrs_adapter.conftest import replay_warnings
from tests.avrs_adapter.serialkit import DeviceServer, Reader
from tests.fixtures.logs import Said

FAULTS: dict[str, dict[str, Any]] = {
    "noise": {"noise": 24},
    "split": {"split": True},
    "bad_checksum": {"bad_checksum": True},
    "baud_garbage": {"baud_garbage": 40},
    "all": {"noise": 24, "split": True, "bad_checksum": True, "baud_garbage": 40},
}


@pytest.fixture(params=sorted(PROTOCOLS))
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lpr(tmp_path: Path, protocol: str) -> Iterator[VirtualLpr]:
    device = VirtualLpr(tmp_path, protocol).start()
    yield device
    device.stop()


def open_reader(lpr: VirtualLpr, protocol: str, **kwargs: object) -> Reader:
    reader = Reader(SerialSource(lpr.path, protocol, 9600, "lpr0", **kwargs))  # type: ignore[arg-type]
    # pyserial flushes the input when it opens: send only once the port is open
    reader.wait_status(lambda s: s["port_state"] == "open")
    return reader


def test_reads_a_truck(lpr: VirtualLpr, protocol: str) -> None:
    reader = open_reader(lpr, protocol)
    try:
        assert lpr.send_truck("AB 1234", confidence=0.9, repeats=2, second_plate="粤Z1234港") == 4
        got = [reader.get() for _ in range(4)]
        assert [o.vrn for o in got] == ["AB1234", "粤Z1234港", "AB1234", "粤Z1234港"]
        assert all(o.source == "serial" and o.device == "lpr0" for o in got)
        assert got[0].confidence == pytest.approx(0.9)
        assert got[0].raw == "AB 1234"
        status = reader.source.status()
        assert status["good"] == 4
        assert status["ok"] is True
        assert status["last_read_age"] is not None
        assert status["bytes"] > 0
    finally:
        reader.close()
    assert reader.source.status()["port_state"] == "closed"


def test_unread_plate_is_an_observation_with_empty_vrn(lpr: VirtualLpr, protocol: str) -> None:
    reader = open_reader(lpr, protocol)
    try:
        lpr.send_truck("", confidence=0.3, repeats=1)
        lpr.send_truck("AB1234", repeats=1)
        assert reader.vrns(2) == ["", "AB1234"]
        assert reader.source.status()["unread"] == 1
    finally:
        reader.close()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_then_next_good_read(lpr: VirtualLpr, protocol: str, fault: str) -> None:
    reader = open_reader(lpr, protocol)
    try:
        lpr.set_faults(**FAULTS[fault])
        lpr.send_truck("AB1234", repeats=3)
        lpr.set_faults(noise=0, split=False, bad_checksum=False, baud_garbage=0)
        lpr.send_truck("CD5678", repeats=1)
        assert reader.vrns(4) == ["AB1234", "AB1234", "AB1234", "CD5678"]
        status = reader.source.status()
        assert status["good"] == 4
        if FAULTS[fault].get("bad_checksum"):
            assert status["bad"] >= 3
        if FAULTS[fault].get("noise") or FAULTS[fault].get("baud_garbage"):
            assert status["noise_bytes"] > 0
        assert reader.queue.empty()
    finally:
        reader.close()


def test_ten_megabyte_line_without_newline(lpr: VirtualLpr, protocol: str) -> None:
    reader = open_reader(lpr, protocol)
    try:
        start = {"delimited": b"AB1234,", "framed": b"\x02AB", "nedap": b"\x89\xab\xcd\xef"}
        lpr.send_raw(start[protocol] + b"7" * (10 * 1024 * 1024))
        lpr.send_raw(b"\n")
        lpr.send_truck("AB1234", repeats=1)
        assert reader.vrns(1, timeout=30) == ["AB1234"]
        status = reader.source.status()
        assert status["oversize"] >= 1
        assert status["bytes"] > 10 * 1024 * 1024
        assert len(reader.source.parser._buf) < 70_000  # type: ignore[attr-defined]
    finally:
        reader.close()


def test_unplug_and_replug_same_path(lpr: VirtualLpr, protocol: str) -> None:
    reader = open_reader(lpr, protocol, backoff_min=0.05, backoff_max=0.2)
    try:
        lpr.send_truck("AB1234", repeats=1)
        assert reader.vrns(1) == ["AB1234"]
        old_pts = lpr.pts
        lpr.unplug()
        assert not Path(lpr.path).exists()
        status = reader.wait_status(lambda s: s["port_state"] in ("lost", "absent"))
        assert status["ok"] is False
        assert status["problem"]
        lpr.replug()
        assert Path(lpr.path).resolve() == Path(str(lpr.pts))
        reader.wait_status(lambda s: s["port_state"] == "open" and s["opens"] == 2)
        lpr.send_truck("CD5678", repeats=1)
        assert reader.vrns(1) == ["CD5678"]
        status = reader.source.status()
        assert status["port_errors"] >= 1
        assert old_pts is not None
    finally:
        reader.close()


def test_port_that_appears_later(tmp_path: Path) -> None:
    lpr = VirtualLpr(tmp_path, "framed")
    source = SerialSource(lpr.path, "framed", 9600, "lpr0", backoff_min=0.05, backoff_max=0.2)
    reader = Reader(source)
    try:
        reader.wait_status(lambda s: s["open_failures"] >= 2 and s["port_state"] == "absent")
        lpr.start()
        reader.wait_status(lambda s: s["port_state"] == "open")
        lpr.send_truck("AB1234", repeats=1)
        assert reader.vrns(1) == ["AB1234"]
    finally:
        reader.close()
        lpr.stop()


class ReadFaults:
    """Read errors on a real pty, as a hung-up tty or a USB adapter answering EIO gives
    them (a pty cannot be made to fail that way and still open): the next ``fail_opens``
    ports opened fail on every read; ``cut()`` makes the port that is open now fail too.
    ``opened``: when each port was opened."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fail_opens = 0
        self.opened: list[float] = []
        self._broken: weakref.WeakSet[serial.Serial] = weakref.WeakSet()
        self._current: serial.Serial | None = None
        real_open, real_read = serial.Serial.open, serial.Serial.read

        def open_port(port: serial.Serial) -> None:
            real_open(port)
            self.opened.append(time.monotonic())
            self._current = port
            if self.fail_opens > 0:
                self.fail_opens -= 1
                self._broken.add(port)

        def read(port: serial.Serial, size: int = 1) -> bytes:
            if port in self._broken:
                # what pyserial says when the other end of the tty has hung up
                raise serial.SerialException(
                    "device reports readiness to read but returned no data"
                )
            return real_read(port, size)

        monkeypatch.setattr(serial.Serial, "open", open_port)
        monkeypatch.setattr(serial.Serial, "read", read)

    def cut(self) -> None:
        assert self._current is not None
        self._broken.add(self._current)


def test_port_that_fails_on_read_is_reopened_with_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lpr = VirtualLpr(tmp_path, "framed").start()
    faults = ReadFaults(monkeypatch)
    faults.fail_opens = 3
    source = SerialSource(
        lpr.path, "framed", 9600, "lpr0", read_timeout=0.05, backoff_min=0.1, backoff_max=1.0
    )
    reader = Reader(source)
    try:
        # three ports that open and fail at once: the pauses double as for a missing port
        status = reader.wait_status(lambda s: s["opens"] == 4 and s["port_state"] == "open")
        assert status["port_errors"] == 3
        gaps = [b - a for a, b in zip(faults.opened, faults.opened[1:], strict=False)]
        for gap, pause in zip(gaps, (0.1, 0.2, 0.4), strict=True):
            assert gap >= pause * 0.95, gaps
        # the fourth works
        lpr.send_truck("AB1234", repeats=1)
        assert reader.vrns(1) == ["AB1234"]
        # it read fine before it was lost: the next try comes after the shortest pause
        # (0.1 s), not the next of the doubling (0.8 s)
        cut_at = time.monotonic()
        faults.cut()
        reader.wait_status(lambda s: s["opens"] == 5 and s["port_state"] == "open")
        assert 0.1 * 0.95 <= faults.opened[4] - cut_at < 0.7
        lpr.send_truck("CD5678", repeats=1)
        assert reader.vrns(1) == ["CD5678"]
    finally:
        reader.close()
        lpr.stop()


def test_port_that_fails_to_set_up_is_retried_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyserial lets termios.error, which is no OSError, out of opening a port when setting
    its attributes fails (EIO: a USB adapter pulled while it is being opened)."""
    lpr = VirtualLpr(tmp_path, "framed").start()
    real_tcsetattr = termios.tcsetattr
    failures = [3]

    def tcsetattr(fd: int, when: int, attributes: list[Any]) -> None:
        if failures[0] > 0:
            failures[0] -= 1
            raise termios.error(errno.EIO, "Input/output error")
        real_tcsetattr(fd, when, attributes)

    monkeypatch.setattr(termios, "tcsetattr", tcsetattr)
    with pytest.raises(PortError) as err:
        SerialSource(lpr.path, "framed", 9600, "lpr0").probe()
    assert "Input/output error" in str(err.value)
    source = SerialSource(lpr.path, "framed", 9600, "lpr0", backoff_min=0.05, backoff_max=0.2)
    reader = Reader(source)
    try:
        status = reader.wait_status(lambda s: s["port_state"] == "open")
        assert status["open_failures"] == 2
        assert "Input/output error" in status["last_error"]
        lpr.send_truck("AB1234", repeats=1)
        assert reader.vrns(1) == ["AB1234"]
    finally:
        reader.close()
        lpr.stop()


def test_printable_noise_then_silence_does_not_glue_to_next_line(tmp_path: Path) -> None:
    lpr = VirtualLpr(tmp_path, "delimited").start()
    reader = open_reader(lpr, "delimited", idle_flush=0.3)
    try:
        lpr.send_raw(b"ZZ")  # a fragment with no end, then the line goes quiet
        reader.wait_status(lambda s: s["noise_bytes"] >= 2)
        # the next line may be the fragment's rest (below): bad; the one after is read
        lpr.send_truck("AB1234", repeats=2)
        assert reader.vrns(1) == ["AB1234"]
        assert reader.wait_status(lambda s: s["good"] == 1)["bad"] == 1
    finally:
        reader.close()
        lpr.stop()


def test_line_paused_over_idle_flush_is_not_read_by_its_tail(tmp_path: Path) -> None:
    """``AB1234`` whose bytes pause after the ``A`` for longer than ``idle_flush``: the
    head is dropped, and the tail alone, whole-looking, read as plate ``B1234``."""
    lpr = VirtualLpr(tmp_path, "delimited").start()
    reader = open_reader(lpr, "delimited", idle_flush=0.3)
    try:
        line = DelimitedProtocol().encode("AB1234", 0.93, "CAM1", datetime.now())
        lpr.send_raw(line[:1])
        reader.wait_status(lambda s: s["noise_bytes"] >= 1)  # idle dropped the head
        lpr.send_raw(line[1:])
        reader.wait_status(lambda s: s["bad"] == 1)
        lpr.send_truck("CD5678", repeats=1)
        assert reader.vrns(1) == ["CD5678"]
        assert reader.wait_status(lambda s: s["good"] == 1)["bad"] == 1
    finally:
        reader.close()
        lpr.stop()


def test_probe_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(PortError) as err:
        SerialSource(str(tmp_path / "nothing"), "framed", 9600, "lpr0").probe()
    assert err.value.key == "avrs_port_error"
    with pytest.raises(UnknownProtocol):
        SerialSource("/dev/null", "morse", 9600, "lpr0")
    with pytest.raises(ProtocolConfigError):
        SerialSource("/dev/null", "framed", 0, "lpr0")
    with pytest.raises(InvalidIdentifier):
        SerialSource("/dev/null", "framed", 9600, "lpr 0")
    with pytest.raises(PortError):
        SerialSource("", "framed", 9600, "lpr0")


def test_a_port_that_may_come_right_is_unavailable_a_wrong_one_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not there yet (ENOENT), or there and failing to configure with EIO (a USB adapter
    pulled while opening; pyserial's error then has no errno of its own): tried again by
    its service (PortUnavailable, exit 69). A path that is no tty: a config error."""
    with pytest.raises(PortUnavailable):
        SerialSource(str(tmp_path / "ttyUSB0"), "framed", 9600, "lpr0").probe()
    lpr = VirtualLpr(tmp_path / "lpr", "framed").start()
    try:
        monkeypatch.setattr(termios, "tcgetattr", _raise(termios.error(errno.EIO, "I/O error")))
        with pytest.raises(PortUnavailable):
            SerialSource(lpr.path, "framed", 9600, "lpr0").probe()
    finally:
        monkeypatch.undo()
        lpr.stop()
    with pytest.raises(PortError) as err:
        SerialSource("/dev/null", "framed", 9600, "lpr0").probe()
    assert not isinstance(err.value, PortUnavailable)


def _raise(error: BaseException) -> Any:
    def raising(*args: object) -> None:
        raise error

    return raising


def test_reads_over_tcp_and_connects_again_after_a_hang_up(protocol: str) -> None:
    """A device server's ``socket://`` port: frames whole and in pieces, then the server
    hangs up (rebooted, the switch lost) and the adapter connects again."""
    server = DeviceServer(protocol)
    reader = Reader(SerialSource(server.url, protocol, 9600, "lpr0", backoff_min=0.05))
    try:
        server.accept()
        reader.wait_status(lambda s: s["port_state"] == "open")
        server.send_read("AB1234")
        server.send_read("CD5678", split=True)
        assert reader.vrns(2) == ["AB1234", "CD5678"]
        server.hang_up()
        status = reader.wait_status(lambda s: s["port_state"] in ("lost", "absent"))
        assert "socket disconnected" in status["problem"]
        server.accept()
        reader.wait_status(lambda s: s["port_state"] == "open" and s["opens"] == 2)
        server.send_read("EF9012")
        assert reader.vrns(1) == ["EF9012"]
        assert reader.source.status()["good"] == 3
    finally:
        reader.close()
        server.close()


def test_a_tcp_frame_is_read_at_once_not_a_byte_a_call() -> None:
    """pyserial's socket port says 1 byte waiting whenever any are: read that way, a
    frame of 60 bytes took 60 reads. Checked by counting the parser's feeds."""
    server = DeviceServer("nedap")
    source = SerialSource(server.url, "nedap", 9600, "lpr0")
    feeds: list[int] = []
    feed = source.parser.feed

    def counting_feed(data: bytes) -> list[ParsedRead]:
        feeds.append(len(data))
        return feed(data)

    source.parser.feed = counting_feed  # type: ignore[method-assign]
    reader = Reader(source)
    try:
        server.accept()
        reader.wait_status(lambda s: s["port_state"] == "open")
        server.send_read("AB1234")
        assert reader.vrns(1) == ["AB1234"]
        assert len(feeds) <= 2  # one, or two where the frame came in two segments
    finally:
        reader.close()
        server.close()


def test_a_network_port_not_up_yet_is_retried_not_refused(caplog: pytest.LogCaptureFixture) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        url = f"socket://127.0.0.1:{taken.getsockname()[1]}"
    source = SerialSource(url, "framed", 9600, "lpr0", backoff_min=0.05, backoff_max=0.1)
    source.probe()  # nothing listens: the adapter starts all the same
    reader = Reader(source)
    try:
        status = reader.wait_status(lambda s: s["open_failures"] >= 3)
        assert status["port_state"] == "absent"
        assert status["ok"] is False
    finally:
        reader.close()
    warnings = [r.getMessage() for r in caplog.records if "cannot be opened" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"LPR connection {url} cannot be opened")


@pytest.mark.parametrize("url", ["socket://127.0.0.1", "socket://:4001", "rfc2217://host:99999"])
def test_a_network_port_without_host_and_port_is_refused(url: str) -> None:
    with pytest.raises(PortError, match="must look like"):
        SerialSource(url, "framed", 9600, "lpr0")


# -- replayed reads (avrs_adapter.replay) ----------------------------------------------------


def test_a_replayed_burst_after_steady_reads_is_dropped_and_counted(
    lpr: VirtualLpr, protocol: str, said: Said
) -> None:
    reader = open_reader(lpr, protocol)
    try:
        lpr.send_read("AB1234")
        lpr.send_read("CD5678")
        assert reader.vrns(2) == ["AB1234", "CD5678"]
        # reads the device kept for the last 10 minutes, sent all at once
        kept = datetime.now().replace(microsecond=0) - timedelta(minutes=10)
        for i in range(30):
            lpr.send_read(f"EF{1000 + i}", when=kept + timedelta(seconds=19 * i))
        lpr.send_read("GH9012")  # then a live read: the first passed on after them
        assert reader.vrns(1) == ["GH9012"]
        assert reader.queue.empty()
        status = reader.source.status()
        assert (status["good"], status["replayed"], status["replay_rebaselines"]) == (33, 30, 0)
        assert abs(status["device_lag"]) < 2  # the device's clock is this machine's
    finally:
        reader.close()
    assert len(replay_warnings(said)) == 1  # the first of the run, not one per read


def test_reads_kept_while_a_tcp_link_was_down_are_dropped_when_replayed() -> None:
    """A camera streaming over TCP keeps its reads while the link is down and sends them
    when the adapter connects again, before the live ones."""
    server = DeviceServer("nedap")
    reader = Reader(SerialSource(server.url, "nedap", 9600, "lpr0", backoff_min=0.05))
    try:
        server.accept()
        reader.wait_status(lambda s: s["port_state"] == "open")
        server.send_read("AB1234")
        assert reader.vrns(1) == ["AB1234"]
        server.hang_up()
        reader.wait_status(lambda s: s["port_state"] in ("lost", "absent"))
        server.accept()
        reader.wait_status(lambda s: s["port_state"] == "open" and s["opens"] == 2)
        now = datetime.now().replace(microsecond=0)
        for i, vrn in enumerate(("CD5678", "EF9012", "GH3456")):
            server.send_read(vrn, when=now - timedelta(seconds=90 - 20 * i))
        server.send_read("KL7788")
        assert reader.vrns(1) == ["KL7788"]
        assert reader.source.status()["replayed"] == 3
    finally:
        reader.close()
        server.close()


class Clocks:
    """The adapter's monotonic and wall clocks, moved by hand: the test moves them only
    while the reader waits for bytes, so a read's time of arrival is the time set."""

    def __init__(self) -> None:
        self.now = 100.0
        self.start = datetime(2026, 12, 7, 9, 30, 0)

    def clock(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.now - 100.0)


def test_a_device_clock_stepped_back_is_rebaselined_after_spaced_reads(
    lpr: VirtualLpr, protocol: str
) -> None:
    clocks = Clocks()
    reader = open_reader(lpr, protocol, clock=clocks.clock, wall_clock=clocks.wall)
    # the device's clock: on UTC, 2 s slow; then put back an hour
    behind = timedelta(hours=8, seconds=2)
    try:
        for vrn in ("AB1234", "CD5678"):
            lpr.send_read(vrn, when=clocks.wall() - behind)
            assert reader.vrns(1) == [vrn]
            clocks.now += 30.0
        behind += timedelta(hours=1)

        def truck(vrn: str) -> None:
            """A truck read twice at once (the second read is no evidence of a step)."""
            lpr.send_read(vrn, when=clocks.wall() - behind)
            lpr.send_read(vrn, when=clocks.wall() - behind)

        truck("EF9012")  # trucks 30 s apart: dropped
        reader.wait_status(lambda s: s["replayed"] == 2)
        clocks.now += 30.0
        truck("EF9013")
        reader.wait_status(lambda s: s["replayed"] == 4)
        clocks.now += 30.0
        # the third: its first read makes three spaced ones, the baseline is theirs
        truck("GH3456")
        assert reader.vrns(1) == ["GH3456"]
        status = reader.source.status()
        assert (status["replayed"], status["replay_rebaselines"]) == (5, 1)
        assert status["device_lag"] == 8 * 3600 + 2 + 3600
        clocks.now += 30.0
        lpr.send_read("KL7788", when=clocks.wall() - behind)
        assert reader.vrns(1) == ["KL7788"]
        assert reader.queue.empty()
    finally:
        reader.close()


def test_a_saved_lag_tells_a_replay_at_the_first_connect_after_a_restart(
    tmp_path: Path, said: Said
) -> None:
    """A camera streaming over TCP keeps its reads while the adapter is down (a restart,
    an upgrade) and sends them when it connects again: the lag saved by the adapter
    before is the new one's first baseline."""
    state = tmp_path / "replay-lpr0.json"
    clocks = Clocks()
    behind = timedelta(hours=8, seconds=2)  # the camera's clock: on UTC, 2 s slow
    server = DeviceServer("nedap")

    def adapter() -> Reader:
        source = SerialSource(
            server.url,
            "nedap",
            9600,
            "lpr0",
            backoff_min=0.05,
            replay_state=state,
            clock=clocks.clock,
            wall_clock=clocks.wall,
        )
        reader = Reader(source)
        server.accept()
        reader.wait_status(lambda s: s["port_state"] == "open")
        return reader

    reader = adapter()  # no file yet: it learns the lag from the reads
    try:
        server.send_read("AB1234", when=clocks.wall() - behind)
        assert reader.vrns(1) == ["AB1234"]
        assert json.loads(state.read_text())["device_lag"] == 8 * 3600 + 2
        clocks.now += 10.0
        behind -= timedelta(seconds=1)  # a read with a smaller lag, 10 s after the save
        server.send_read("CD5678", when=clocks.wall() - behind)
        assert reader.vrns(1) == ["CD5678"]
        assert json.loads(state.read_text())["device_lag"] == 8 * 3600 + 2  # not yet
        reader.close()  # a clean stop: saved now
        server.hang_up()
        assert json.loads(state.read_text())["device_lag"] == 8 * 3600 + 1
        # the adapter is down for 10 minutes; the camera keeps 3 trucks' reads
        kept = [clocks.wall() - behind + timedelta(minutes=m) for m in (2, 5, 8)]
        clocks.now += 600.0
        reader = adapter()
        for i, when in enumerate(kept):
            server.send_read(f"EF{1000 + i}", when=when)
        server.send_read("GH9012", when=clocks.wall() - behind)
        assert reader.vrns(1) == ["GH9012"]
        assert reader.queue.empty()
        status = reader.source.status()
        assert (status["replayed"], status["device_lag"]) == (3, 8 * 3600 + 1)
    finally:
        reader.close()
        server.close()
    assert len(replay_warnings(said)) == 1


def test_a_lag_that_cannot_be_saved_does_not_stop_the_reads(
    lpr: VirtualLpr, protocol: str, tmp_path: Path, said: Said
) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    clocks = Clocks()
    reader = open_reader(
        lpr,
        protocol,
        replay_state=folder / "replay-lpr0.json",
        clock=clocks.clock,
        wall_clock=clocks.wall,
    )
    try:
        folder.rmdir()  # the state directory gone: every save fails
        for i in range(3):
            lpr.send_read(f"AB{1000 + i}", when=clocks.wall() - timedelta(seconds=i))
            assert reader.vrns(1) == [f"AB{1000 + i}"]
            clocks.now += 61.0
    finally:
        reader.close()
    saves = [m for m in said.messages if "cannot save the device lag" in m]
    assert len(saves) == 1  # logged once, though tried at each change and at the end


def test_steady_reads_are_all_published(lpr: VirtualLpr, protocol: str) -> None:
    """A device clock 2 s fast that drifts (faster than any does), its time in whole
    seconds: every read is published."""
    clocks = Clocks()
    reader = open_reader(lpr, protocol, clock=clocks.clock, wall_clock=clocks.wall)
    try:
        for i in range(60):
            ahead = timedelta(seconds=2 - 0.1 * i)
            lpr.send_read(f"AB{1000 + i}", when=(clocks.wall() + ahead).replace(microsecond=0))
            assert reader.vrns(1) == [f"AB{1000 + i}"]
            clocks.now += 41.3
        assert reader.source.status()["replayed"] == 0
    finally:
        reader.close()


def test_reads_without_a_device_time_are_never_dropped(tmp_path: Path) -> None:
    fields = ("plate", "confidence", "camera")
    lpr = VirtualLpr(tmp_path, "delimited", fields=fields).start()
    clocks = Clocks()
    reader = open_reader(
        lpr,
        "delimited",
        protocol_options={"fields": fields},
        clock=clocks.clock,
        wall_clock=clocks.wall,
    )
    try:
        lpr.send_read("AB1234")
        assert reader.vrns(1) == ["AB1234"]
        clocks.now += 3600.0
        for i in range(10):  # a burst: what a replay would look like, without its times
            lpr.send_read(f"CD{1000 + i}")
        assert reader.vrns(10) == [f"CD{1000 + i}" for i in range(10)]
        status = reader.source.status()
        assert (status["replayed"], status["device_lag"]) == (0, None)
    finally:
        reader.close()
        lpr.stop()


def test_replay_guard_off_and_bad_bound(lpr: VirtualLpr, protocol: str) -> None:
    reader = open_reader(lpr, protocol, replay_bound=0)
    try:
        lpr.send_read("AB1234")
        lpr.send_read("CD5678", when=datetime.now() - timedelta(hours=1))
        assert reader.vrns(2) == ["AB1234", "CD5678"]
        assert reader.source.status()["replayed"] == 0
    finally:
        reader.close()
    with pytest.raises(AvrsError):
        SerialSource(lpr.path, protocol, 9600, "lpr0", replay_bound=0.5)

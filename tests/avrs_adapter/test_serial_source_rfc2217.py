"""SerialSource on an ``rfc2217://`` port: a real RFC 2217 device server on loopback
(pyserial's PortManager, ``serialkit.Rfc2217Server``) in front of the virtual LPR's pty."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from serial import rfc2217

from avrs_adapter.protocols import PROTOCOLS, make_protocol
from avrs_adapter.serial_source import SerialSource
from hardware_sim.lpr_device import VirtualLpr
from tests.avrs_adapter.serialkit import Reader, Rfc2217Server

# pyserial's rfc2217 client names its reader thread the old way, on every open
pytestmark = pytest.mark.filterwarnings(
    r"ignore:set(Daemon|Name)\(\) is deprecated:DeprecationWarning"
)


@pytest.fixture(params=sorted(PROTOCOLS))
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Booth:
    """The virtual LPR on its pty, an RFC 2217 server in front of it, and the adapter's
    source reading the server's ``rfc2217://`` URL."""

    def __init__(self, directory: Path, protocol: str, baud: int = 9600) -> None:
        self.lpr = VirtualLpr(directory, protocol).start()
        try:
            self.server = Rfc2217Server(self.lpr.path)
        except BaseException:
            self.lpr.stop()
            raise
        source = SerialSource(self.server.url, protocol, baud, "lpr0", backoff_min=0.05)
        self.reader = Reader(source)
        try:
            # the client purges the server's input when it connects: send only once open
            self.reader.wait_status(lambda s: s["port_state"] == "open")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            try:
                self.server.close()
            finally:
                self.lpr.stop()


@pytest.fixture
def booth(tmp_path: Path, protocol: str) -> Iterator[Booth]:
    booth = Booth(tmp_path, protocol)
    yield booth
    booth.close()


def test_reads_plates_through_an_rfc2217_device_server(booth: Booth) -> None:
    booth.lpr.send_truck("AB 1234", confidence=0.9, repeats=1, second_plate="粤Z1234港")
    booth.lpr.set_faults(split=True)
    booth.lpr.send_truck("CD5678", repeats=1)
    got = [booth.reader.get() for _ in range(3)]
    assert [o.vrn for o in got] == ["AB1234", "粤Z1234港", "CD5678"]
    assert got[0].raw == "AB 1234"
    assert got[0].confidence == pytest.approx(0.9)
    assert all(o.source == "serial" and o.device == "lpr0" for o in got)
    status = booth.reader.source.status()
    assert status["good"] == 3
    assert status["ok"] is True
    assert status["opens"] == 1
    assert booth.reader.queue.empty()


@pytest.mark.parametrize("protocol", ["nedap"])
def test_a_0xff_byte_in_a_frame_comes_through_rfc2217(booth: Booth) -> None:
    """0xFF is Telnet's IAC: the server doubles it in the data and the client undoubles
    it. A Nedap frame has one where its XOR is 0xFF (one frame in 256)."""
    encoder = make_protocol("nedap")
    start = datetime(2026, 11, 22, 8, 15, 30)
    for second in range(3600):
        frame = encoder.encode("AB1234", 0.9, "CAM1", start + timedelta(seconds=second))
        if 0xFF in frame:
            break
    else:
        pytest.fail("no Nedap frame with a 0xFF byte in an hour of timestamps")
    booth.lpr.send_raw(frame)
    booth.lpr.send_read("CD5678")
    assert booth.reader.vrns(2) == ["AB1234", "CD5678"]
    assert booth.reader.source.status()["bad"] == 0


def test_rfc2217_server_that_hangs_up_is_connected_to_again(booth: Booth) -> None:
    """The device server hangs up (rebooted, the switch lost) and the adapter connects
    again, negotiates the line again and reads on."""
    booth.lpr.send_read("AB1234")
    assert booth.reader.vrns(1) == ["AB1234"]
    booth.server.hang_up()
    status = booth.reader.wait_status(lambda s: s["port_state"] in ("lost", "absent"))
    assert status["ok"] is False
    assert status["problem"]
    booth.reader.wait_status(lambda s: s["port_state"] == "open" and s["opens"] == 2)
    assert booth.server.connections == 2
    booth.lpr.send_read("CD5678")
    assert booth.reader.vrns(1) == ["CD5678"]
    status = booth.reader.source.status()
    assert status["good"] == 2
    assert status["port_errors"] == 1


@pytest.mark.parametrize("protocol", ["framed"])
def test_rfc2217_reads_do_not_renegotiate_the_line(tmp_path: Path, protocol: str) -> None:
    """Setting an rfc2217 port's timeout sends the baud rate, line settings and flow
    control to the server again and waits for the answers (0.1 s and more a time); an
    adapter that did it around every read lost about 0.4 s a plate. The line is set
    once, when the port is opened (at the adapter's baud rate), and never per read."""
    booth = Booth(tmp_path, protocol, baud=19200)
    try:
        at_open = booth.server.requests()
        baud_requests = [r for r in at_open if r[:1] == rfc2217.SET_BAUDRATE]
        assert baud_requests == [rfc2217.SET_BAUDRATE + struct.pack("!I", 19200)]
        assert booth.server.port.baudrate == 19200
        plates = [f"AB{n:04d}" for n in range(6)]
        for plate in plates:  # one at a time: each is a read of its own
            booth.lpr.send_read(plate)
            assert booth.reader.vrns(1) == [plate]
        assert booth.server.requests() == at_open
        assert booth.reader.source.status()["opens"] == 1
    finally:
        booth.close()

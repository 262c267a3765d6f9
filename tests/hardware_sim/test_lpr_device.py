"""The virtual LPR device: a real pty at a stable path, each protocol's bytes, each fault."""

from __future__ import annotations

import os
import select
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from avrs_adapter.protocols import PROTOCOLS, make_protocol
from hardware_sim.errors import LprDeviceError
from hardware_sim.lpr_device import VirtualLpr


class Port:
    """The other end, opened the way an adapter opens it (by the link path)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def read_until(self, size: int, timeout: float = 5.0) -> bytes:
        data = b""
        for _ in range(10_000):
            if len(data) >= size:
                break
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                break
            data += os.read(self.fd, 65536)
        return data

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def lpr(tmp_path: Path) -> Iterator[VirtualLpr]:
    device = VirtualLpr(tmp_path / "dev", "framed").start()
    yield device
    device.stop()


def test_stable_link_to_a_pty(lpr: VirtualLpr, tmp_path: Path) -> None:
    link = Path(lpr.path)
    assert link == tmp_path / "dev" / "lpr0"
    assert link.is_symlink()
    assert os.readlink(link) == lpr.pts
    assert str(lpr.pts).startswith("/dev/pts/")
    port = Port(lpr.path)
    try:
        assert os.isatty(port.fd)
        # raw mode: no echo, no line editing
        lflag = termios.tcgetattr(port.fd)[3]
        assert not lflag & (termios.ECHO | termios.ICANON)
    finally:
        port.close()


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_send_truck_writes_the_protocol_frames(tmp_path: Path, protocol: str) -> None:
    lpr = VirtualLpr(tmp_path, protocol).start()
    port = Port(lpr.path)
    try:
        assert lpr.send_truck("AB1234", confidence=0.9, repeats=2, second_plate="粤Z1234港") == 4
        data = port.read_until(lpr.bytes_sent)
        assert len(data) == lpr.bytes_sent
        reads = make_protocol(protocol).feed(data)
        assert [r.vrn for r in reads] == ["AB1234", "粤Z1234港", "AB1234", "粤Z1234港"]
        assert {r.camera for r in reads} == {"CAM1"}
        assert lpr.frames_sent == 4
    finally:
        port.close()
        lpr.stop()


def test_faults_change_the_bytes(lpr: VirtualLpr) -> None:
    port = Port(lpr.path)
    try:
        lpr.send_read("AB1234", 0.9)
        clean = port.read_until(lpr.bytes_sent)
        assert clean.startswith(b"\x02AB1234|90|")
        sent = lpr.bytes_sent
        lpr.set_faults(noise=10, baud_garbage=20, bad_checksum=True, split=True)
        lpr.send_read("AB1234", 0.9)
        faulty = port.read_until(lpr.bytes_sent - sent)
        # garbage + noise + a damaged copy, then the same again before the good frame
        assert len(faulty) == 2 * (20 + 10) + 2 * len(clean)
        assert faulty.count(b"\x02AB1234|90|") == 2
        assert all(b >= 0x80 for b in faulty[:20])  # baud garbage: high, framing-error bytes
        parser = make_protocol("framed")
        assert [r.vrn for r in parser.feed(faulty)] == ["AB1234"]
        assert parser.stats.bad == 1
    finally:
        port.close()


def test_unplug_and_replug_keep_the_path(lpr: VirtualLpr) -> None:
    port = Port(lpr.path)
    first_pts = lpr.pts
    lpr.unplug()
    assert not lpr.plugged
    assert not os.path.lexists(lpr.path)
    # the open end sees the cable go
    ready, _, _ = select.select([port.fd], [], [], 5)
    assert ready
    assert os.read(port.fd, 10) == b""  # hang-up: readable, but nothing to read
    port.close()
    with pytest.raises(LprDeviceError) as err:
        lpr.send_truck("AB1234")
    assert err.value.key == "sim_lpr_unplugged"
    lpr.replug()
    assert lpr.plugged
    assert os.readlink(lpr.path) == lpr.pts
    assert first_pts is not None
    port = Port(lpr.path)
    try:
        lpr.send_read("CD5678")
        assert b"CD5678" in port.read_until(10)
    finally:
        port.close()


def test_send_raw_and_stalled_reader_times_out(tmp_path: Path) -> None:
    lpr = VirtualLpr(tmp_path, "delimited", write_timeout=0.5).start()
    try:
        # nobody reads the port: the pty buffer fills and the write gives up
        with pytest.raises(LprDeviceError) as err:
            lpr.send_raw(b"x" * (4 * 1024 * 1024))
        assert err.value.key == "sim_lpr_stalled"
    finally:
        lpr.stop()


def test_bad_requests(lpr: VirtualLpr) -> None:
    with pytest.raises(LprDeviceError):
        lpr.set_faults(colour="red")
    with pytest.raises(LprDeviceError):
        lpr.set_faults(noise=-1)
    with pytest.raises(LprDeviceError):
        lpr.send_truck("AB1234", repeats=0)
    assert lpr.faults.noise == 0


def test_protocol_options_reach_the_encoder(tmp_path: Path) -> None:
    lpr = VirtualLpr(tmp_path, "delimited", delimiter=";", confidence_scale=1).start()
    port = Port(lpr.path)
    try:
        lpr.send_read("AB1234", 0.5)
        assert port.read_until(10).startswith(b"AB1234;0.500;")
    finally:
        port.close()
        lpr.stop()


def test_context_manager_removes_the_link(tmp_path: Path) -> None:
    with VirtualLpr(tmp_path, "nedap", name="lpr7") as lpr:
        assert os.path.lexists(tmp_path / "lpr7")
        assert lpr.path.endswith("lpr7")
    assert not os.path.lexists(tmp_path / "lpr7")

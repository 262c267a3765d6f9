"""SerialSource on real pseudo-terminals (the virtual LPR device): every protocol, every fault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from avrs_adapter.errors import PortError, ProtocolConfigError, UnknownProtocol
from avrs_adapter.protocols import PROTOCOLS
from avrs_adapter.serial_source import SerialSource
from hardware_sim.lpr_device import VirtualLpr
from rocars.errors import InvalidIdentifier
from tests.avrs_adapter.serialkit import Reader

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


def test_printable_noise_then_silence_does_not_glue_to_next_line(tmp_path: Path) -> None:
    lpr = VirtualLpr(tmp_path, "delimited").start()
    reader = open_reader(lpr, "delimited", idle_flush=0.3)
    try:
        lpr.send_raw(b"ZZ")  # a fragment with no end, then the line goes quiet
        reader.wait_status(lambda s: s["noise_bytes"] >= 2)
        lpr.send_truck("AB1234", repeats=1)
        assert reader.vrns(1) == ["AB1234"]
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

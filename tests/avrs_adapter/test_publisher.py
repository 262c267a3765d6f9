"""The whole serial pipeline on a real broker: virtual LPR -> SerialSource -> bus."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from avrs_adapter.grammar import one_char_off
from avrs_adapter.observation import Observation
from avrs_adapter.protocols import PROTOCOLS
from avrs_adapter.publisher import AvrsPublisher
from avrs_adapter.serial_source import SerialSource
from hardware_sim.lpr_device import VirtualLpr
from rocars.bus import Bus
from rocars.messages import DeviceStatus, PlateRead, parse
from rocars.topics import device_status_topic, plate_topic
from tests.fixtures.brokers import Cut, Mosquitto

PLATES = plate_topic("SBC", "L01")
STATUS = device_status_topic("SBC", "L01", "avrs")


class Watcher:
    """Subscribes to the lane's plate and avrs status topics."""

    def __init__(self, url: str) -> None:
        self.plates: queue.Queue[PlateRead] = queue.Queue()
        self.statuses: queue.Queue[DeviceStatus] = queue.Queue()
        self.bus = Bus(url, "watcher")
        self.bus.subscribe(PLATES, lambda t, p: self.plates.put(parse(PlateRead, p)))
        self.bus.subscribe(STATUS, lambda t, p: self.statuses.put(parse(DeviceStatus, p)))
        self.bus.start()
        assert self.bus.wait_connected(10)

    def status_until(
        self, check: Callable[[DeviceStatus], bool], timeout: float = 15.0, limit: int = 200
    ) -> DeviceStatus:
        for _ in range(limit):
            status = self.statuses.get(timeout=timeout)
            if check(status):
                return status
        raise AssertionError(f"no status matched in {limit} messages")

    def stop(self) -> None:
        self.bus.stop()


def port_open(status: DeviceStatus) -> bool:
    return status.state == "online" and status.metrics.get("port_state") == "open"


def test_truck_arrives_as_exactly_one_plate_read(broker_url: str, tmp_path: Path) -> None:
    watcher = Watcher(broker_url)
    lpr = VirtualLpr(tmp_path, "framed").start()
    publisher = AvrsPublisher(
        SerialSource(lpr.path, "framed", 9600, "lpr0"),
        cp="SBC",
        lane="L01",
        broker_url=broker_url,
        status_interval=0.2,
    )
    publisher.start()
    try:
        status = watcher.status_until(port_open)
        assert status.detail == ""
        assert status.metrics["healthy"] == 1
        assert status.metrics["protocol"] == "framed"
        lpr.set_faults(noise=8, bad_checksum=True)
        lpr.send_truck("AB 1234", confidence=0.92, repeats=3, second_plate="粤Z1234港")
        read = watcher.plates.get(timeout=10)
        assert (read.vrn, read.raw, read.source, read.device) == (
            "AB1234",
            "AB 1234",
            "serial",
            "lpr0",
        )
        assert read.confidence == 0.92
        assert [(a.vrn, a.confidence) for a in read.alternates] == [("粤Z1234港", 0.92)]
        # the next truck: anything published twice for the first would come before it
        lpr.send_truck("KL9876", repeats=2)
        assert watcher.plates.get(timeout=10).vrn == "KL9876"
        assert watcher.plates.empty()
        status = watcher.status_until(lambda s: s.metrics.get("published") == 2)
        assert status.metrics["good"] == 8
        assert isinstance(status.metrics["bad"], int)
        assert status.metrics["bad"] >= 8
        assert status.metrics["last_read_age"] is not None
    finally:
        publisher.stop()
        lpr.stop()
    # a clean stop leaves "offline" retained
    assert watcher.status_until(lambda s: s.state == "offline").detail
    watcher.stop()


def test_port_lost_and_back_is_reported(mosquitto: Mosquitto, tmp_path: Path) -> None:
    watcher = Watcher(mosquitto.url)
    lpr = VirtualLpr(tmp_path, "delimited").start()
    source = SerialSource(lpr.path, "delimited", 9600, "lpr0", backoff_min=0.05, backoff_max=0.2)
    publisher = AvrsPublisher(
        source, cp="SBC", lane="L01", broker_url=mosquitto.url, status_interval=0.2
    )
    publisher.start()
    try:
        watcher.status_until(port_open)
        lpr.unplug()
        lost = watcher.status_until(lambda s: s.metrics.get("port_state") in ("lost", "absent"))
        assert lost.state == "online"
        assert lost.metrics["healthy"] == 0
        assert "port" in lost.detail
        lpr.replug()
        back = watcher.status_until(port_open)
        assert back.detail == ""
        lpr.send_truck("AB1234", repeats=1)
        assert watcher.plates.get(timeout=10).vrn == "AB1234"
    finally:
        publisher.stop()
        lpr.stop()
        watcher.stop()


class QuietSource:
    """A source that reads nothing until stopped."""

    def observations(self, stop: threading.Event) -> Iterator[Observation]:
        stop.wait()
        yield from ()

    def status(self) -> dict[str, Any]:
        return {}


def test_status_is_not_queued_while_the_broker_is_away(mosquitto: Mosquitto) -> None:
    """A QoS 1 status queued every interval through an outage filled the bus's queue (then
    plate reads were refused) and went out stale on reconnect. Not queued now; one fresh
    status comes on reconnect."""
    link = Cut(mosquitto.port)
    watcher = Watcher(mosquitto.url)
    started = time.monotonic()
    publisher = AvrsPublisher(
        QuietSource(), cp="SBC", lane="L01", broker_url=link.url, status_interval=0.05
    )
    publisher.start()
    try:
        watcher.status_until(lambda s: s.state == "online")
        assert publisher.bus.wait_connected(10)
        link.cut()
        deadline = time.monotonic() + 10
        while publisher.bus.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not publisher.bus.connected.is_set()
        # the statuses' uptime is in tenths of a second: a margin at each end
        down_from = time.monotonic() - started + 0.15
        time.sleep(1.2)  # 24 intervals without the broker
        down_to = time.monotonic() - started - 0.15
        link.mend()
        assert publisher.bus.wait_connected(20)
        back = time.monotonic() - started
        stale: list[float] = []

        def fresh(status: DeviceStatus) -> bool:
            uptime = status.metrics.get("uptime_s")
            if not isinstance(uptime, int | float):
                return False  # the broker's last will of the cut connection
            if down_from < uptime < down_to:
                stale.append(uptime)
            return uptime >= back - 0.1  # the one sent on reconnect

        watcher.status_until(fresh, timeout=10)
        assert stale == []
    finally:
        publisher.stop()
        watcher.stop()
        link.close()


class FlakySource:
    """A source that fails on its first run, then reads one truck."""

    def __init__(self) -> None:
        self.runs = 0

    def observations(self, stop: threading.Event) -> Iterator[Observation]:
        self.runs += 1
        if self.runs == 1:
            raise OSError("camera gone")
        yield Observation("AB1234", "AB1234", 0.9, "camera", "cam0", time.monotonic())
        stop.wait(30)

    def status(self) -> dict[str, Any]:
        return {"runs": self.runs}


def test_failing_source_is_restarted_and_status_says_why(
    mosquitto: Mosquitto,
) -> None:
    watcher = Watcher(mosquitto.url)
    source = FlakySource()
    publisher = AvrsPublisher(
        source,
        cp="SBC",
        lane="L01",
        broker_url=mosquitto.url,
        status_interval=0.1,
        restart_min=0.5,
    )
    publisher.start()
    try:
        failed = watcher.status_until(lambda s: "camera gone" in s.detail)
        assert failed.metrics["healthy"] == 0
        assert failed.metrics["source_restarts"] == 1
        read = watcher.plates.get(timeout=10)
        assert (read.vrn, read.source, read.device) == ("AB1234", "camera", "cam0")
        # a status snapshot reads the source's figures and the error flag a moment apart:
        # wait for the state that matters, the restarted (second) run reported healthy
        healthy = watcher.status_until(
            lambda s: s.metrics.get("healthy") == 1 and s.metrics.get("runs") == 2
        )
        assert healthy.detail == ""
    finally:
        publisher.stop()
        watcher.stop()


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
@pytest.mark.parametrize("trucks", [6, pytest.param(200, marks=pytest.mark.slow)])
def test_soak_random_faults_every_truck_once(
    mosquitto: Mosquitto, tmp_path: Path, protocol: str, trucks: int
) -> None:
    rng = random.Random(trucks * 31 + len(protocol))
    watcher = Watcher(mosquitto.url)
    lpr = VirtualLpr(tmp_path, protocol).start()
    source = SerialSource(lpr.path, protocol, 9600, "lpr0", backoff_min=0.05, backoff_max=0.2)
    publisher = AvrsPublisher(
        source, cp="SBC", lane="L01", broker_url=mosquitto.url, status_interval=0.5
    )
    publisher.start()
    try:
        watcher.status_until(port_open)
        previous = ""
        for i in range(trucks):
            vrn = previous
            while vrn == previous or one_char_off(vrn, previous):
                vrn = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
                vrn += str(rng.randrange(1, 10_000))
            lpr.set_faults(
                noise=rng.choice([0, 0, 5, 40]),
                split=rng.random() < 0.3,
                bad_checksum=rng.random() < 0.3,
                baud_garbage=rng.choice([0, 0, 12, 64]),
            )
            if i and rng.random() < 0.1:
                lpr.unplug()
                lpr.replug()
                opens = source.status()["opens"]

                def reopened(status: DeviceStatus, before: object = opens) -> bool:
                    return port_open(status) and status.metrics["opens"] != before

                watcher.status_until(reopened)
            second = "粤Z" + vrn[-4:].rjust(4, "1") + "港" if rng.random() < 0.5 else None
            lpr.send_truck(vrn, confidence=0.9, repeats=rng.randint(1, 4), second_plate=second)
            read = watcher.plates.get(timeout=10)
            assert read.vrn == vrn, (i, read)
            previous = vrn
        assert watcher.plates.empty()
        # the count goes up just after the publish: the watcher may hear the plate first
        deadline = time.monotonic() + 5
        while publisher.published < trucks and time.monotonic() < deadline:
            time.sleep(0.01)
        assert publisher.published == trucks
    finally:
        publisher.stop()
        lpr.stop()
        watcher.stop()

"""A driver waits for a read's answer, and nothing else goes first: the timer gives way to
a lane input being handled, the log line comes after the instruction. And what the
controller tells the lanes about the replica's freshness."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rocars.messages import InstructionCode, PlateRead
from rocars.models import Bundle, Change, ChangePage
from sync import controller as controller_module
from sync.config import SyncConfig
from sync.controller import LaneController
from sync.outbox import Outbox
from sync.puller import FOLLOW_MARGIN_S, CentralLink
from sync.replica import Replica
from tests.sync.test_lane import T0, make_bundle

HELD = "HE1D"  # a plate whose lookup is held until the test lets it go


class HeldReplica(Replica):
    """A real replica whose lookup of ``HELD`` waits for ``release``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.entered = threading.Event()
        self.release = threading.Event()

    def active_bundles_for_plate(self, plate: str) -> list[Bundle]:
        if plate == HELD:
            self.entered.set()
            assert self.release.wait(10)
        return super().active_bundles_for_plate(plate)


class Published:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        with self.lock:
            self.seen.append((topic.split("/")[3], payload))


Setup = tuple[LaneController, HeldReplica, Published, list[datetime], threading.Event]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    now = [T0]
    replica = HeldReplica(tmp_path / "replica.db")
    bundles = [make_bundle("9000000001", "AB1234"), make_bundle("9000000002", HELD)]
    replica.apply(
        "",
        ChangePage(
            changes=[
                Change(seq=n + 1, kind="bundle", key=b.ubr, bundle=b) for n, b in enumerate(bundles)
            ],
            next="c1",
        ),
        T0,
    )
    outbox = Outbox(tmp_path / "outbox.db")
    link = CentralLink(lambda: now[0])
    link.mark_up()
    config = SyncConfig.model_validate(
        {
            "lanes": [
                {"id": lane, "manifest_required": False, "hold_s": 3.0} for lane in ("L01", "L02")
            ],
            "data_dir": str(tmp_path),
        }
    )
    published = Published()
    waiting = threading.Event()  # the bus has input not yet handled
    controller = LaneController(
        config,
        publisher=published,
        replica=replica,
        outbox=outbox,
        link=link,
        site_secret=b"test-site-secret",
        clock=lambda: now[0],
        input_waiting=waiting.is_set,
    )
    controller.start()
    yield controller, replica, published, now, waiting
    replica.release.set()
    outbox.close()
    replica.close()


def read(vrn: str) -> bytes:
    """A read taken at T0, when the controller's clock starts (it moves a few seconds)."""
    return PlateRead(vrn=vrn, confidence=0.97, source="serial", device="t", ts=T0).to_bytes()


def due_hold_and_held_read(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, wait_s: float
) -> threading.Thread:
    """L02 shows PROCEED and its hold is over (the timer would end it now) while a read
    on L01 is being handled, held in its lookup; returns that read's thread. The timer
    gives way to a read for ``wait_s``."""
    controller, replica, _, now, _ = setup
    monkeypatch.setattr(controller_module, "READ_PRIORITY_WAIT_S", wait_s)
    controller.on_message("rocars/SBC/lanes/L02/plate", read("AB1234"))
    now[0] += timedelta(seconds=4)
    reader = threading.Thread(
        target=controller.on_message, args=("rocars/SBC/lanes/L01/plate", read(HELD))
    )
    reader.start()
    assert replica.entered.wait(5)
    return reader


def test_the_timer_waits_for_a_read_being_handled(
    setup: Setup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, replica, published, _, _ = setup
    reader = due_hold_and_held_read(setup, monkeypatch, wait_s=10.0)
    timer = threading.Thread(target=controller.tick)
    timer.start()
    timer.join(0.5)
    assert timer.is_alive()  # waiting for the read ...
    assert controller.lanes["L02"].session is not None  # ... L02 not ended yet
    replica.release.set()
    reader.join(5)
    timer.join(5)
    assert not timer.is_alive()
    assert controller.lanes["L02"].session is None
    lanes = [lane for lane, _ in published.seen]
    # the read's answer went out before the READY that ended L02's hold
    assert lanes.index("L01", 2) < len(lanes) - 1 - lanes[::-1].index("L02")


def test_the_timer_waits_a_bounded_time_only(
    setup: Setup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, replica, _, _, _ = setup
    reader = due_hold_and_held_read(setup, monkeypatch, wait_s=0.2)
    controller.tick()  # returns although the read is still held
    assert controller.lanes["L02"].session is None
    assert reader.is_alive()
    replica.release.set()
    reader.join(5)
    assert controller.lanes["L01"].session is not None


def test_the_timer_waits_for_input_the_bus_has_not_handed_over_yet(
    setup: Setup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read still in the socket (or read but not parsed) counts as one being handled:
    paho's thread gets to it before the timer ends a hold; a bounded wait all the same."""
    controller, _, published, now, waiting = setup
    monkeypatch.setattr(controller_module, "READ_PRIORITY_WAIT_S", 10.0)
    controller.on_message("rocars/SBC/lanes/L02/plate", read("AB1234"))
    now[0] += timedelta(seconds=4)
    waiting.set()
    timer = threading.Thread(target=controller.tick)
    timer.start()
    timer.join(0.5)
    assert timer.is_alive()  # the bus says input is waiting: the timer gives way ...
    assert controller.lanes["L02"].session is not None
    controller.on_message("rocars/SBC/lanes/L01/plate", read("AB1234"))  # ... to this read
    waiting.clear()
    timer.join(5)
    assert not timer.is_alive()
    assert controller.lanes["L02"].session is None
    lanes = [lane for lane, _ in published.seen]
    assert lanes.index("L01", 2) < len(lanes) - 1 - lanes[::-1].index("L02")
    # input that stays waiting holds the timer for READ_PRIORITY_WAIT_S only
    monkeypatch.setattr(controller_module, "READ_PRIORITY_WAIT_S", 0.2)
    now[0] += timedelta(seconds=4)
    waiting.set()
    controller.tick()  # returns although the bus still has input waiting
    assert controller.lanes["L01"].session is None


def test_a_decision_is_logged_after_its_instruction_is_out(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    controller, _, published, _, _ = setup
    caplog.set_level(logging.INFO, logger="sync.lane")
    logged_when_published: list[int] = []
    publish = published.publish

    def watching(topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        logged_when_published.append(sum("PROCEED" in r.getMessage() for r in caplog.records))
        publish(topic, payload, qos=qos, retain=retain)

    published.publish = watching  # type: ignore[method-assign]
    controller.on_message("rocars/SBC/lanes/L01/plate", read("AB1234"))
    assert logged_when_published == [0]
    assert [r.getMessage() for r in caplog.records if "PROCEED" in r.getMessage()] == [
        "lane L01: AB1234 PROCEED (released)"
    ]


def test_only_the_input_topics_of_our_lanes_are_remembered(setup: Setup) -> None:
    """A read's topic is parsed once (then looked up); made-up lanes, other control
    points and topics that are not inputs are parsed, reported and never remembered."""
    controller, _, published, _, _ = setup
    for n in range(50):
        controller.on_message(f"rocars/SBC/lanes/X{n}/plate", read("AB1234"))
    controller.on_message("rocars/HYW/lanes/L01/plate", read("AB1234"))
    controller.on_message("rocars/SBC/lanes/L01/instruction", read("AB1234"))
    assert controller.metrics.total("rocars_sync_bad_payloads_total") == 52
    before = len(published.seen)
    for _ in range(2):  # the second: the same truck, ignored
        controller.on_message("rocars/SBC/lanes/L01/plate", read("AB1234"))
    controller.on_message("rocars/SBC/lanes/L02/plate", read("XY1"))
    assert [lane for lane, _ in published.seen[before:]] == ["L01", "L02"]
    assert set(controller._inputs) == {
        "rocars/SBC/lanes/L01/plate",
        "rocars/SBC/lanes/L02/plate",
    }


def test_a_replica_the_centre_answers_for_but_not_caught_up_flags_decisions_offline(
    setup: Setup,
) -> None:
    """The centre answers, but the feed has not applied for longer than a poll takes (a
    page that does not validate, say: the puller marks the link up, the centre answered):
    the replica is not known current, so what the lanes decide is flagged offline, as a
    follower shard's lanes do. Its age alone still closes the lanes (rule 6)."""
    controller, _, _, now, _ = setup
    config = controller.config
    poll = config.pull_interval_s + config.central.timeout_s + FOLLOW_MARGIN_S
    assert controller.link.up
    controller.on_message("rocars/SBC/lanes/L01/plate", read("AB1234"))
    session = controller.lanes["L01"].session
    assert session is not None
    assert session.code is InstructionCode.PROCEED
    assert not session.offline  # caught up at T0
    now[0] = T0 + timedelta(seconds=poll + 1)
    assert now[0] - T0 < timedelta(seconds=config.replica_max_age_s)
    late = PlateRead(vrn="AB1234", confidence=0.97, source="serial", device="t", ts=now[0])
    controller.on_message("rocars/SBC/lanes/L02/plate", late.to_bytes())
    session = controller.lanes["L02"].session
    assert session is not None
    assert session.code is InstructionCode.PROCEED  # from the replica, as offline
    assert session.offline
    assert controller.link.up  # the kiosks' calls still go to the centre

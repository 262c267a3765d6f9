"""The traffic scenario and ``up``'s summary of it, without a control point: fake lanes."""

from __future__ import annotations

import io
import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hardware_sim import scenario, up
from hardware_sim.errors import LprDeviceError
from hardware_sim.launch import CentralProcess
from hardware_sim.scenario import (
    Journey,
    LaneDriver,
    Reporter,
    Scenario,
    Truck,
    plan_trucks,
)
from rocars.broker import free_port
from rocars.ids import ControlPoint
from rocars.messages import Instruction, InstructionCode
from rocars.models import EARLIEST_CROSSING_DELAY
from rocars.signing import lane_key, sign_instruction
from rocars.timeutil import parse_rfc3339, utc_now

C = InstructionCode
SECRET = b"s" * 32


def _record(n: int, outcome: str, read: str) -> dict[str, Any]:
    return {
        "id": f"r{n}",
        "outcome": outcome,
        "reason": "released",
        "plate_reads": [{"vrn": read, "device": "lpr0"}],
        "instructions": [],
    }


def _proceed(n: int, lane: str = "L01") -> Journey:
    """A laden truck released as it should be: manifest, PROCEED, READY, its record."""
    truck = Truck(n, "laden_proceed", f"AB{n}", f"AB{n}", 0.95)
    journey = Journey(truck, lane)
    journey.codes = [C.DROP_MANIFEST, C.PROCEED, C.READY]
    journey.record = _record(n, "PROCEED", truck.read)
    return journey


class _Driver:
    """A lane that releases every truck, or raises for the trucks in ``fail_on``."""

    def __init__(self, lane: str, fail_on: frozenset[int] = frozenset()) -> None:
        self.lane = lane
        self.fail_on = fail_on

    def drive(self, truck: Truck) -> Journey:
        if truck.n in self.fail_on:
            raise LprDeviceError("virtual LPR: write timed out")
        return _proceed(truck.n, self.lane)


def _trucks() -> Iterator[Truck]:
    n = 0
    while True:
        n += 1
        yield Truck(n, "laden_proceed", f"AB{n}", f"AB{n}", 0.95)


class _Central:
    """What ``_summary`` asks of a centre: its URL and token (the events are faked)."""

    url = "http://127.0.0.1:9"
    token = "t"


def _summary(journeys: list[Journey], **kwargs: Any) -> dict[str, Any]:
    printer = up.JourneyPrinter(io.StringIO())
    return up._summary(journeys, printer, "", _Central(), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def every_record_uploaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(up, "_central_event_ids", lambda central: {f"r{n}" for n in range(100)})


def test_a_lane_whose_driver_raises_keeps_its_trucks(every_record_uploaded: None) -> None:
    """A driver that raises (the virtual LPR's write timed out) is that truck's journey, an
    unexpected one with no record (lost), and the lane goes on with its next trucks."""
    drivers = [_Driver("L01", frozenset({1})), _Driver("L02")]
    journeys = Scenario(drivers, _trucks()).run(6, threading.Event())  # type: ignore[arg-type]
    assert [j.truck.n for j in journeys] == [1, 2, 3, 4, 5, 6]
    failed = journeys[0]
    assert failed.lane == "L01"
    assert not failed.expected
    assert failed.record is None
    summary = _summary(journeys, wanted=6)
    assert summary["trucks"] == 6
    assert summary["lost"] == 1
    assert summary["unexpected"] == 1
    assert up.exit_code(summary) == 1


def test_a_failed_journey_is_printed_with_its_error() -> None:
    out = io.StringIO()
    scenario = Scenario(
        [_Driver("L01", frozenset({1}))],  # type: ignore[list-item]
        _trucks(),
        reporter=up.JourneyPrinter(out),
        retry_pause_s=0,
    )
    (journey,) = scenario.run(1, threading.Event())
    assert journey.error == "LprDeviceError: virtual LPR: write timed out"
    assert "!! driver failed: LprDeviceError: virtual LPR: write timed out" in out.getvalue()
    assert "UNEXPECTED" in out.getvalue()


def test_fewer_trucks_than_asked_for_are_missing(every_record_uploaded: None) -> None:
    journeys = [_proceed(n) for n in range(1, 5)]
    summary = _summary(journeys, wanted=6, stopped=False)
    assert summary["missing"] == 2
    assert summary["lost"] == summary["unexpected"] == 0
    assert up.exit_code(summary) == 1
    # a stop signal ends a run early: nothing is missing
    stopped = _summary(journeys, wanted=6, stopped=True)
    assert "missing" not in stopped
    assert up.exit_code(stopped) == 0


def test_an_unreachable_centre_still_gives_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """A centre that is gone (killed, or stopped by a Ctrl-C that reached it): the JSON
    line all the same, every record lost, and a failing exit."""
    monkeypatch.setattr(up, "UNREACHABLE_AFTER_S", 0.5, raising=False)
    central = CentralProcess(Path("/nonexistent"), port=free_port())  # never started
    journeys = [_proceed(n) for n in range(1, 4)]
    printer = up.JourneyPrinter(io.StringIO())
    summary = up._summary(journeys, printer, "", central)
    assert summary["central"] == "unreachable"
    assert summary["trucks"] == summary["records"] == 3
    assert summary["uploaded"] == 0
    assert summary["lost"] == 3
    assert up.exit_code(summary) == 1


def test_a_journey_is_expected_only_if_it_ended_and_its_record_says_so() -> None:
    ok = _proceed(1)
    assert ok.expected
    # the lane never came back to READY: stuck on PROCEED
    stuck = _proceed(2)
    stuck.codes = [C.DROP_MANIFEST, C.PROCEED]
    stuck.timed_out = True
    assert not stuck.expected
    # no record of it
    unrecorded = _proceed(3)
    unrecorded.record = None
    assert not unrecorded.expected
    # a record of another outcome
    other = _proceed(4)
    other.record = _record(4, "STOP_SEE_OFFICER", "AB4")
    assert not other.expected
    # a record that read another truck's plate (the truck before's record)
    misread = _proceed(5)
    misread.record = _record(5, "PROCEED", "ZZ999")
    assert not misread.expected
    # the wrong final instruction
    wrong = _proceed(6)
    wrong.codes = [C.DROP_MANIFEST, C.INSPECT, C.READY]
    wrong.record = _record(6, "INSPECT", "AB6")
    assert not wrong.expected


def test_a_truck_may_be_read_by_any_plate_it_carries() -> None:
    """A cross-boundary truck read by its Mainland plate (the LPR) or its HK one (the
    camera reads that first); an unread truck's record reads no plate."""
    truck = Truck(7, "second_plate", "JX104", "粤ZJ129港", 0.95, (("JX104", 0.4),), "9110635873")
    for read in ("粤ZJ129港", "JX104"):
        journey = Journey(truck, "L01")
        journey.codes = [C.DROP_MANIFEST, C.PROCEED, C.READY]
        journey.record = _record(7, "PROCEED", read)
        assert journey.expected, read
    unread = Journey(Truck(8, "unread", "PD788", "", 0.0), "L01")
    unread.codes = [C.STOP_SEE_OFFICER, C.READY]
    unread.record = _record(8, "STOP_SEE_OFFICER", "")
    assert unread.expected
    unread.record = _record(8, "STOP_SEE_OFFICER", "PD788")
    assert not unread.expected


class _Bus:
    """What a LaneDriver needs of the bus: it subscribes to its lane's instructions."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []

    def subscribe(self, topic: str, handler: Any) -> None:
        self.handlers.append(handler)

    def publish(self, topic: str, message: Any, **kwargs: Any) -> None:
        pass


def test_an_instruction_between_two_trucks_is_a_stray_and_unexpected(
    every_record_uploaded: None,
) -> None:
    """drive() throws away what came before its truck: a PROCEED there (a lane out of step,
    a retained one of another run) is counted as stray and unexpected; the READY the
    truck arrives at is not a stray."""
    bus = _Bus()
    key = lane_key(SECRET, ControlPoint.SBC, "L01")
    seq = iter(range(1, 100))

    def send(code: InstructionCode) -> None:
        ins = sign_instruction(Instruction(seq=next(seq), code=code), key)
        for handler in bus.handlers:
            handler("instruction", ins.to_bytes())

    truck = Truck(1, "laden_proceed", "AB1", "AB1", 0.95)

    def plate(_: Truck) -> None:
        send(C.PROCEED)
        send(C.READY)

    driver = LaneDriver(
        bus,  # type: ignore[arg-type]
        ControlPoint.SBC,
        "L01",
        SECRET,
        Reporter(),
        lambda journey: _record(1, "PROCEED", "AB1"),
        journey_timeout=5,
        reaction_s=0,
        send_plate=plate,
    )
    send(C.READY)
    send(C.PROCEED)  # nobody's
    send(C.READY)
    journey = driver.drive(truck)
    assert journey.strays == [C.READY, C.PROCEED]
    assert journey.codes == [C.PROCEED, C.READY]
    assert journey.expected  # the truck itself went as it should
    summary = _summary([journey], wanted=1)
    assert summary["stray"] == 2
    assert summary["unexpected"] == 1  # the stray PROCEED
    assert up.exit_code(summary) == 1
    # only the READY the truck arrived at: no stray
    send(C.READY)
    assert driver.drive(Truck(2, "laden_proceed", "AB1", "AB1", 0.95)).strays == []


def _demo_trucks(per_kind: int) -> list[dict[str, Any]]:
    kinds = (
        "laden_proceed", "laden_inspect", "too_early", "wrong_cp",
        "second_plate", "cancelled", "unladen", "laden_no_bundle",
    )  # fmt: skip
    return [
        {"vrn": f"{kind[:2].upper()}{n}", "kind": kind, "ubr": f"{i}{n}", "second_plate": None}
        for i, kind in enumerate(kinds)
        for n in range(1, per_kind + 1)
    ]


def test_a_kind_whose_bundles_are_used_up_is_said_once_and_the_rest_go_on() -> None:
    """One seeded bundle of each kind: the one-use kinds (a crossing uses the bundle) drop
    out after their first round, each said once; the kinds whose bundle no crossing uses
    (wrong control point, cancelled) go on with the reusable ones."""
    notices: list[str] = []
    plan = plan_trucks(_demo_trucks(1), 7, notice=notices.append)
    trucks = [next(plan) for _ in range(60)]
    kinds = Counter(t.kind for t in trucks)
    for kind in ("laden_proceed", "laden_inspect", "second_plate", "too_early"):
        assert kinds[kind] == 1, kind
    for kind in ("wrong_cp", "cancelled", "unladen", "laden_no_bundle", "unread"):
        assert kinds[kind] > 1, kind
    assert len(notices) == 4  # once each, however many rounds follow
    for kind in ("laden_proceed", "laden_inspect", "second_plate", "too_early"):
        (said,) = [n for n in notices if f"[{kind}]" in n]
        assert "stopped" in said
    # the journey output says it
    out = io.StringIO()
    up.JourneyPrinter(out).notice(notices[0])
    assert notices[0] in out.getvalue()


@pytest.fixture(scope="module")
def test_clock_centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralProcess]:
    """A centre whose security-code clock a test moves: a driver bundles again at once."""
    proc = CentralProcess(
        tmp_path_factory.mktemp("central") / "data",
        seed=7,
        trucks_per_kind=2,
        inspect_share=0.0,
        test_clock=True,
    )
    proc.start()
    yield proc
    proc.stop()


def test_too_early_trucks_get_fresh_bundles_once_the_seeded_ones_are_due(
    test_clock_centre: CentralProcess,
) -> None:
    """A seeded too-early truck's bundle is due 30 min after the centre began; after that
    it would PROCEED. The plan keeps its too-early trucks too early: it uses a seeded one
    again until it is nearly due (a TOO_EARLY uses no bundle), then bundles a new truck
    through the centre's API (cargo, then a demo driver's password and security code)."""
    central = test_clock_centre
    trucks = up._fetch_trucks(central)
    seeded = {str(t["ubr"]) for t in trucks if t["kind"] == "too_early"}
    offset = [timedelta(0)]

    def clock() -> datetime:
        return utc_now() + offset[0]

    bundles = up.CentreBundles(central, "SBC", "import", trucks)
    plan = plan_trucks(trucks, 7, too_early=bundles, clock=clock)

    def next_too_early() -> Truck:
        found = next((t for t in itertools.islice(plan, 100) if t.kind == "too_early"), None)
        assert found is not None, "too-early trucks are no longer planned"
        return found

    # more too-early trucks than were seeded, all on the seeded bundles while not due
    early = [next_too_early() for _ in range(4)]
    assert {t.ubr for t in early} == seeded
    # the clock moved on to when the seeded bundles are nearly due: they would PROCEED by
    # the time a truck reached its lane (the centre's bundles are made on its real clock:
    # the seeded ones are a moment older than a fresh one)
    due = bundles.earliest_at(next(iter(seeded)))
    offset[0] = due - scenario.DUE_MARGIN - utc_now()
    fresh = [next_too_early() for _ in range(4)]
    assert not {t.ubr for t in fresh} & seeded
    plates = {t["vrn"] for t in trucks}
    headers = {"Authorization": f"Bearer {central.token}"}
    for truck in fresh:
        assert truck.vrn not in plates
        assert truck.ubr is not None
        bundle = httpx.get(f"{central.url}/v1/bundles/{truck.ubr}", headers=headers).json()
        assert bundle["vrn"] == truck.vrn
        assert (bundle["status"], bundle["cp"], bundle["direction"]) == (
            "active", "SBC", "import",
        )  # fmt: skip
        # made now, by a driver who is not immediate: a lane says TOO_EARLY for 30 min
        earliest = parse_rfc3339(bundle["earliest_at"])
        assert earliest == parse_rfc3339(bundle["bundled_at"]) + EARLIEST_CROSSING_DELAY
        assert earliest > utc_now() + timedelta(minutes=29)
    assert len({t.ubr for t in fresh}) == 2  # two fresh ones, used in turn

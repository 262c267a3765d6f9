"""The clearance rules, one by one, on the plain state machine with a fake clock."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from rocars.ids import ControlPoint, Direction
from rocars.messages import (
    Alternate,
    Instruction,
    InstructionCode,
    ManifestDropped,
    PlateRead,
    UnladenPressed,
)
from rocars.models import Bundle, BundleStatus, ClearanceRecord, InstructionLog
from rocars.signing import lane_key, signed_payload, verify_payload
from sync.config import LaneConfig
from sync.errors import ReplicaError
from sync.lane import (
    MAX_IGNORED_ACTIONS,
    MAX_SESSION_READS,
    Doubts,
    Freshness,
    Inspections,
    Lane,
    LaneOutput,
    Session,
)

C = InstructionCode
KEY = lane_key(b"test-secret", "SBC", "L01")
T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
#: what a lane step takes that carries its own time
Dated = TypeVar("Dated", PlateRead, ManifestDropped, UnladenPressed)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_bundle(
    ubr: str,
    vrn: str,
    *,
    cp: str = "SBC",
    direction: str = "import",
    earliest_at: datetime | None = None,
    result: str = "PROCEED",
    bay: str | None = None,
    status: str = "active",
    second_plate: str | None = None,
) -> Bundle:
    return Bundle.model_validate(
        {
            "ubr": ubr,
            "vrn": vrn,
            "second_plate": second_plate,
            "cp": cp,
            "direction": direction,
            "ccrns": ["1001041258"],
            "bundled_at": T0 - timedelta(hours=1),
            "earliest_at": earliest_at or T0 - timedelta(minutes=30),
            "status": status,
            "result": result,
            "bay": bay,
            "updated_at": T0 - timedelta(hours=1),
        }
    )


class Rig:
    """A lane with a fake clock, an in-memory replica and a switchable centre."""

    def __init__(self, bundles: list[Bundle] | None = None, **lane: Any) -> None:
        self.clock = Clock()
        self.bundles = list(bundles or [])
        self.fresh = Freshness(last_sync_at=T0, central_up=True)
        self.fail_lookup = False
        #: every plate the lane looked up, in order
        self.asked: list[str] = []
        self.rng = random.Random(1)
        self.lane = Lane(
            LaneConfig(id="L01", **lane),
            cp=ControlPoint.SBC,
            direction=Direction.IMPORT,
            key=KEY,
            clock=self.clock,
            lookup=self.lookup,
            freshness=lambda: self.fresh,
            max_age_s=300,
            rng=self.rng,
        )

        self.lane.plate = self._dated(self.lane.plate)  # type: ignore[method-assign]
        self.lane.manifest = self._dated(self.lane.manifest)  # type: ignore[method-assign]
        self.lane.unladen = self._dated(self.lane.unladen)  # type: ignore[method-assign]

    def _dated(self, step: Callable[[Dated], LaneOutput]) -> Callable[[Dated], LaneOutput]:
        """``step`` with its read or action taken now by the rig's clock, unless the test
        gave its ``ts``."""

        def dated(event: Dated) -> LaneOutput:
            if "ts" not in event.model_fields_set:
                event = event.model_copy(update={"ts": self.clock.now})
            return step(event)

        return dated

    def lookup(self, plate: str) -> list[Bundle]:
        self.asked.append(plate)
        if self.fail_lookup:
            raise ReplicaError("disk on fire")
        return [b for b in self.bundles if plate in (b.vrn, b.second_plate)]


def read(vrn: str = "AB1234", confidence: float = 0.95, **kw: Any) -> PlateRead:
    return PlateRead(vrn=vrn, confidence=confidence, source="serial", device="lpr1", **kw)


def codes(out: LaneOutput) -> list[C]:
    return [i.code for i in out.instructions]


def only_record(out: LaneOutput) -> ClearanceRecord:
    assert len(out.records) == 1
    return out.records[0]


# -- rule 1 ------------------------------------------------------------------------------


def test_rule1_no_plate_stops_then_ready_after_hold() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    out = rig.lane.plate(read(vrn="", confidence=0.0))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.instructions[0].vrn is None
    rig.clock.advance(7.9)
    assert not rig.lane.tick().changed
    rig.clock.advance(0.1)
    out = rig.lane.tick()
    assert codes(out) == [C.READY]
    record = only_record(out)
    assert (record.outcome, record.reason, record.vrn) == (C.STOP_SEE_OFFICER, "no_plate", None)
    assert rig.lane.session is None


@pytest.mark.parametrize("then", ["held", "waiting"])
def test_a_wall_clock_stepped_back_does_not_stretch_a_hold_or_a_wait(then: str) -> None:
    """The lane's clock stepped back an hour (a site's NTP source put right) while a
    PROCEED is held: by the wall clock the hold went negative, no READY came, and the
    truck before's PROCEED stood for the hour (found in review). The hold, and the wait
    for a driver, go by the monotonic clock too."""
    bundles = [] if then == "waiting" else [make_bundle("9110635860", "AB1234")]
    rig = Rig(bundles, manifest_required=False)
    mono = [100.0]
    rig.lane._monotonic = lambda: mono[0]
    shown = codes(rig.lane.plate(read()))
    assert shown == ([C.NO_BUNDLE] if then == "waiting" else [C.PROCEED])
    rig.clock.advance(-3600)
    wait = rig.lane.config.timeout_s if then == "waiting" else rig.lane.config.hold_s
    mono[0] += wait - 0.5
    assert not rig.lane.tick().changed
    mono[0] += 0.5
    out = rig.lane.tick()
    assert codes(out) == ([C.STOP_SEE_OFFICER] if then == "waiting" else [C.READY])


def test_rule1_low_confidence_stops_even_with_a_bundle() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")], confidence_threshold=0.9)
    out = rig.lane.plate(read(confidence=0.89))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "low_confidence"


def test_a_late_plate_read_stops_whoever_is_at_the_booth() -> None:
    """A read taken more than max_read_age_s ago (queued by a reader or an agent that
    lost the broker) saw a truck that may have gone: STOP_SEE_OFFICER, not its bundle's
    PROCEED for whoever is at the booth now."""
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    out = rig.lane.plate(read(ts=T0 - timedelta(seconds=10.5)))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "late_read"
    assert rig.asked == []
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    assert codes(rig.lane.plate(read(ts=T0 - timedelta(seconds=9)))) == [C.PROCEED]
    # a reader's clock a little ahead is no reason to stop
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    assert codes(rig.lane.plate(read(ts=T0 + timedelta(seconds=2)))) == [C.PROCEED]
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False, max_read_age_s=60)
    assert codes(rig.lane.plate(read(ts=T0 - timedelta(seconds=30)))) == [C.PROCEED]


def test_a_reader_whose_clock_runs_ahead_is_not_trusted() -> None:
    """Its reads' age says nothing (a late one would pass as fresh): STOP until its clock
    is put right; a few seconds ahead are the clocks' leeway."""
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    assert codes(rig.lane.plate(read(ts=T0 + timedelta(seconds=5.5)))) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "read_clock_ahead"
    # the same truck, read by a reader with its clock right: decided (a reread)
    out = rig.lane.plate(read())
    assert codes(out) == [C.PROCEED]
    assert only_record(out).reason == "reread"


def test_a_late_read_leaves_the_truck_at_the_lane_alone() -> None:
    """A late read of a truck that came before the one at the lane changes nothing for
    it; after a late read, the truck read in time is decided (not ignored as the same)."""
    rig = Rig([make_bundle("9110635860", "AB1234"), make_bundle("9110635861", "CD5678")])
    assert codes(rig.lane.plate(read(vrn="CD5678"))) == [C.DROP_MANIFEST]
    rig.clock.advance(20)
    out = rig.lane.plate(read(ts=T0 - timedelta(seconds=1)))
    assert not out.changed
    assert out.ignored == ["late_read"]
    assert rig.lane.session is not None
    assert (rig.lane.session.vrn, rig.lane.code) == ("CD5678", C.DROP_MANIFEST)
    # a late read of a truck since: the lane stops; the same truck read in time: decided
    assert codes(rig.lane.plate(read(ts=rig.clock.now - timedelta(seconds=11)))) == [
        C.STOP_SEE_OFFICER
    ]
    out = rig.lane.plate(read())
    assert codes(out) == [C.DROP_MANIFEST]
    assert only_record(out).reason == "reread"


def test_a_good_read_of_a_doubtful_plate_is_decided() -> None:
    """Read first under the lane's confidence, then well: the same truck read better."""
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    assert codes(rig.lane.plate(read(confidence=0.5))) == [C.STOP_SEE_OFFICER]
    out = rig.lane.plate(read(confidence=0.95))
    assert codes(out) == [C.PROCEED]
    assert only_record(out).reason == "reread"


# -- rule 2 ------------------------------------------------------------------------------


def test_rule2_drop_manifest_then_proceed() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    out = rig.lane.plate(read())
    assert codes(out) == [C.DROP_MANIFEST]
    assert out.instructions[0].ubr == "9110635860"
    rig.clock.advance(5)
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert codes(out) == [C.PROCEED]
    rig.clock.advance(8)
    record = only_record(rig.lane.tick())
    assert record.outcome is C.PROCEED
    assert record.reason == "released"
    assert record.ubr == "9110635860"
    assert [i.code for i in record.instructions] == [C.DROP_MANIFEST, C.PROCEED]
    assert [a.kind for a in record.actions] == ["manifest"]
    assert record.offline is False
    assert record.ended_at - record.started_at == timedelta(seconds=13)


def test_rule2_inspect_with_the_bundle_bay() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234", result="INSPECT", bay="B7")])
    assert codes(rig.lane.plate(read())) == [C.DROP_MANIFEST]
    out = rig.lane.manifest(ManifestDropped(source="panel"))
    assert codes(out) == [C.INSPECT]
    assert out.instructions[0].bay == "B7"


def test_an_inspection_whose_bay_the_displays_cannot_show_stops_the_truck() -> None:
    """A bundle selected for inspection at a bay a board cannot show (a control
    character, nothing visible: ``check_bay``) is STOP_SEE_OFFICER (``bay_unshowable``),
    decided by the lane at the read and at the manifest: not a rule that raised
    (``lane_error``), and not remembered as an INSPECT the truck was told."""
    for bay in ("B\u200b7", " ", "B\n7"):
        unshowable = make_bundle("9110635860", "AB1234", result="INSPECT", bay=bay)
        rig = Rig([unshowable], manifest_required=False)
        out = rig.lane.plate(read())
        assert (codes(out), out.decisions[0][2]) == ([C.STOP_SEE_OFFICER], "bay_unshowable")
        assert out.instructions[0].ubr == "9110635860"
        assert rig.lane._inspections.pending(["AB1234"], T0) is None
        rig = Rig([unshowable])
        assert codes(rig.lane.plate(read())) == [C.DROP_MANIFEST]
        out = rig.lane.manifest(ManifestDropped(source="panel"))
        assert (codes(out), out.decisions[0][2]) == ([C.STOP_SEE_OFFICER], "bay_unshowable")


def test_rule2_no_manifest_needed_gives_the_result_at_once() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    assert codes(rig.lane.plate(read())) == [C.PROCEED]
    rig2 = Rig([make_bundle("9110635860", "AB1234", result="INSPECT")], manifest_required=False)
    out = rig2.lane.plate(read())
    assert codes(out) == [C.INSPECT]
    assert out.instructions[0].bay == "U1"  # no bay on the bundle: the lane's


def test_rule2_too_early_carries_earliest_at() -> None:
    earliest = T0 + timedelta(minutes=10)
    rig = Rig([make_bundle("9110635860", "AB1234", earliest_at=earliest)])
    out = rig.lane.plate(read())
    assert codes(out) == [C.TOO_EARLY]
    assert out.instructions[0].earliest_at == earliest
    # the driver waits the hold out: the session ends, a later read at the right time passes
    rig.clock.advance(8)
    assert only_record(rig.lane.tick()).outcome is C.TOO_EARLY
    rig.clock.now = earliest
    rig.fresh = Freshness(last_sync_at=earliest, central_up=True)
    assert codes(rig.lane.plate(read())) == [C.DROP_MANIFEST]


def test_rule2_alternate_and_mainland_second_plate_match() -> None:
    both = [make_bundle("9110635860", "AB1234", second_plate="粤Z1234港")]
    mainland = Alternate(vrn="粤Z1234港", confidence=0.9)
    # the Mainland plate read as the vrn itself
    assert codes(Rig(both).lane.plate(read(vrn="粤Z1234港"))) == [C.DROP_MANIFEST]
    # the Hong Kong plate, the Mainland one as an alternate
    assert codes(Rig(both).lane.plate(read(alternates=[mainland]))) == [C.DROP_MANIFEST]
    # the Mainland plate read, the Hong Kong one an alternate of a bundle that names
    # no Mainland plate: the truck's other plate, read less well
    hk_only = [make_bundle("9110635860", "AB1234")]
    out = Rig(hk_only).lane.plate(
        read(vrn="粤Z1234港", alternates=[Alternate(vrn="AB1234", confidence=0.85)])
    )
    assert codes(out) == [C.DROP_MANIFEST]


@pytest.mark.parametrize(
    ("vrn", "alternates", "bundles"),
    [
        # A: the Hong Kong plate read says another truck than the Mainland alternate's bundle
        ("AB1234", ["粤Z1234港"], [("9110635860", "CD5678", "粤Z1234港", None)]),
        # B: the same, with the truck's own bundle not due yet (the other's would be chosen)
        (
            "AB1234",
            ["粤Z1234港"],
            [("9110635860", "CD5678", "粤Z1234港", None), ("9110635861", "AB1234", None, 20)],
        ),
        # C: the Mainland plate read, a bundle with the Hong Kong alternate and another
        # Mainland plate
        ("粤Z1234港", ["AB1234"], [("9110635860", "AB1234", "粤Z1284港", None)]),
        # D: two Mainland readings; the bundle of the runner-up names another Hong Kong plate
        ("AB1234", ["粤Z1234港", "粤Z1284港"], [("9110635860", "CD5678", "粤Z1284港", None)]),
        # the Hong Kong plate read, XY99, matching nothing; its Mainland alternate's does
        ("XY99", ["粤Z1234港"], [("9110635860", "AB1234", "粤Z1234港", None)]),
    ],
    ids=["A", "B", "C", "D", "other_hk"],
)
def test_rule2_a_bundle_that_does_not_carry_the_read_plate_stops_the_truck(
    vrn: str, alternates: list[str], bundles: list[tuple[str, str, str | None, int | None]]
) -> None:
    """Every bundle names its truck's Hong Kong plate: one that carries neither the read
    plate nor (for a Mainland read) the only Hong Kong alternate, where it names no
    Mainland plate of its own, is another truck's. Its PROCEED must not release this one."""
    rig = Rig(
        [
            make_bundle(
                ubr,
                plate,
                second_plate=second,
                earliest_at=None if later is None else T0 + timedelta(minutes=later),
            )
            for ubr, plate, second, later in bundles
        ]
    )
    out = rig.lane.plate(
        read(vrn=vrn, alternates=[Alternate(vrn=a, confidence=0.9) for a in alternates])
    )
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "ambiguous_plate"


def test_a_read_whose_plate_of_a_kind_differs_from_the_trucks_is_another_truck() -> None:
    """AB1234 (bundle AB1234 / 粤Z1234港) told PROCEED; CD5678 pulls up, read with
    粤Z1234港 as a runner-up: its Hong Kong plate is not the truck's, so it is another
    truck (AB1234's PROCEED does not stay up), and the bundle its runner-up finds is not
    its own: STOP. A Mainland read of a truck known by its Hong Kong plate only, with
    that plate as a runner-up, is still the same truck."""
    rig = Rig(
        [make_bundle("9110635860", "AB1234", second_plate="粤Z1234港")], manifest_required=False
    )
    assert codes(rig.lane.plate(read())) == [C.PROCEED]
    rig.clock.advance(1)
    out = rig.lane.plate(
        read(vrn="CD5678", alternates=[Alternate(vrn="粤Z1234港", confidence=0.9)])
    )
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert only_record(out).reason == "next_vehicle"
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "ambiguous_plate"
    # no bundle: known by AB1234 alone; read by a Mainland plate and AB1234
    rig = Rig()
    assert codes(rig.lane.plate(read())) == [C.NO_BUNDLE]
    again = read(vrn="粤Z9876港", alternates=[Alternate(vrn="AB1234", confidence=0.9)])
    assert rig.lane.plate(again).ignored == ["same_truck"]


def test_a_plate_the_truck_before_is_known_by_only_as_a_runner_up_does_not_keep_its_proceed() -> (
    None
):
    """AB1234 (no bundle) read with two Mainland runner-ups, one its own plate and one a
    misreading of it, is released as unladen. Truck CD5678, whose Mainland plate is that
    misreading, pulls up and is read by it: a truck has one Mainland plate, so neither
    runner-up names AB1234 for sure, and CD5678 is another truck (AB1234's PROCEED does
    not stay up in front of it). With AB1234 read with one Mainland runner-up that is
    CD5678's plate, CD5678's read naming CD5678 as its own runner-up is another truck
    too; without a runner-up of its own, it cannot be told from AB1234."""
    selected = make_bundle("9110635860", "CD5678", result="INSPECT", bay="B3")
    own, misread = (
        Alternate(vrn="粤Z1234港", confidence=0.9),
        Alternate(vrn="粤Z1284港", confidence=0.85),
    )
    rig = Rig([selected], unladen_inspect_share=0.0)
    assert codes(rig.lane.plate(read(alternates=[own, misread]))) == [C.NO_BUNDLE]
    assert codes(rig.lane.unladen(UnladenPressed(vrn="AB1234"))) == [C.PROCEED]
    rig.clock.advance(1)
    out = rig.lane.plate(read(vrn="粤Z1284港"))
    assert out.ignored == []
    assert only_record(out).reason == "next_vehicle"
    assert codes(out) == [C.NO_BUNDLE]  # its bundle names only its Hong Kong plate
    # its Hong Kong plate as its own runner-up: another truck, found by its bundle
    for first in ([misread], [own, misread]):
        rig = Rig([selected], unladen_inspect_share=0.0, manifest_required=False)
        assert codes(rig.lane.plate(read(alternates=first))) == [C.NO_BUNDLE]
        assert codes(rig.lane.unladen(UnladenPressed(vrn="AB1234"))) == [C.PROCEED]
        rig.clock.advance(1)
        cd = Alternate(vrn="CD5678", confidence=0.9)
        out = rig.lane.plate(read(vrn="粤Z1284港", alternates=[cd]))
        assert (out.ignored, only_record(out).reason) == ([], "next_vehicle")
        assert (codes(out), out.instructions[0].bay) == ([C.INSPECT], "B3")
    # AB1234 read again by its Mainland plate, its Hong Kong plate the runner-up: the same
    rig = Rig(unladen_inspect_share=0.0)
    assert codes(rig.lane.plate(read(alternates=[own]))) == [C.NO_BUNDLE]
    assert codes(rig.lane.unladen(UnladenPressed(vrn="AB1234"))) == [C.PROCEED]
    again = read(vrn="粤Z1234港", alternates=[Alternate(vrn="AB1234", confidence=0.9)])
    assert rig.lane.plate(again).ignored == ["same_truck"]
    assert rig.lane.plate(read(vrn="粤Z1234港")).ignored == ["same_truck"]


def test_a_trucks_hong_kong_plate_read_after_its_mainland_plate_finds_its_bundle() -> None:
    """Read by its Mainland plate alone, the truck has no bundle (the centre names the
    Mainland plate only for vehicles it knows): NO_BUNDLE. Its Hong Kong plate then
    comes, with the Mainland plate as a runner-up: the same truck, and it was ignored,
    so an Unladen press released a laden truck whose bundle was selected for inspection.
    Now the lane looks the truck up by its new plate and goes by its bundle."""
    selected = make_bundle("9110635860", "CD5678", result="INSPECT", bay="B3")
    rig = Rig([selected], unladen_inspect_share=0.0)
    assert codes(rig.lane.plate(read(vrn="粤Z1234港"))) == [C.NO_BUNDLE]
    rig.clock.advance(1)
    both = read(vrn="CD5678", alternates=[Alternate(vrn="粤Z1234港", confidence=0.9)])
    out = rig.lane.plate(both)
    assert codes(out) == [C.DROP_MANIFEST]
    assert (out.ignored, out.records) == (["same_truck"], [])  # one truck, one session
    session = rig.lane.session
    assert session is not None
    assert (session.vrn, session.plates) == ("粤Z1234港", ["粤Z1234港", "CD5678"])
    assert rig.lane.unladen(UnladenPressed(vrn="粤Z1234港")).ignored == ["unladen_at_drop_manifest"]
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert (codes(out), out.instructions[0].bay) == ([C.INSPECT], "B3")
    # the same when the truck stands released as unladen already
    rig = Rig([selected], unladen_inspect_share=0.0, manifest_required=False)
    rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(rig.lane.unladen(UnladenPressed(vrn="粤Z1234港"))) == [C.PROCEED]
    assert codes(rig.lane.plate(both)) == [C.INSPECT]
    # no bundle by either plate: the truck stays as it was, known by both now
    rig = Rig(unladen_inspect_share=0.0)
    rig.lane.plate(read(vrn="粤Z1234港"))
    out = rig.lane.plate(both)
    assert (out.payloads, out.ignored) == ([], ["same_truck"])
    assert rig.lane.session is not None
    assert rig.lane.session.plates == ["粤Z1234港", "CD5678"]
    # released as unladen, no bundle by either plate: asked again, for the read may be
    # the next truck's (its read carrying this one's plate as a runner-up), laden with no
    # bundle and about to drive off on this PROCEED; the same truck presses once more
    rig = Rig(unladen_inspect_share=0.0)
    rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(rig.lane.unladen(UnladenPressed(vrn="粤Z1234港"))) == [C.PROCEED]
    out = rig.lane.plate(both)
    assert (codes(out), out.ignored, out.decisions[0][2]) == (
        [C.NO_BUNDLE],
        ["same_truck"],
        "unladen_asked_again",
    )
    assert codes(rig.lane.unladen(UnladenPressed(vrn="粤Z1234港"))) == [C.PROCEED]
    # a doubtful read of the new plate is not taken (a fresh one would be STOP)
    rig = Rig([selected], unladen_inspect_share=0.0)
    rig.lane.plate(read(vrn="粤Z1234港"))
    doubtful = both.model_copy(update={"confidence": 0.4})
    assert (rig.lane.plate(doubtful).payloads, rig.lane.session.plates) == ([], ["粤Z1234港"])  # type: ignore[union-attr]
    # released as unladen, its bundle says PROCEED too: shown again, so the record has it
    rig = Rig([make_bundle("9110635860", "CD5678")], manifest_required=False)
    rig.lane.plate(read(vrn="粤Z1234港"))
    rig.lane.unladen(UnladenPressed(vrn="粤Z1234港"))
    out = rig.lane.plate(both)
    assert (codes(out), out.instructions[0].ubr) == ([C.PROCEED], "9110635860")


def test_a_trucks_other_plate_seen_before_the_lane_opened_its_session_is_taken() -> None:
    """The reader stamps a read when it saw the plate (``ts``); the lane opens the
    session on its own clock a settle time and a broker's trip later. A Hong Kong plate
    seen after the truck's Mainland plate is this truck's, even seen before the lane's
    session began (it was refused, the truck left known by its Mainland plate alone); one
    seen before the Mainland plate is not."""
    selected = make_bundle("9110635860", "CD5678", result="INSPECT", bay="B3")
    mainland = read(vrn="粤Z1234港", ts=T0 - timedelta(seconds=0.5))
    runner_up = [Alternate(vrn="粤Z1234港", confidence=0.9)]
    rig = Rig([selected], unladen_inspect_share=0.0)
    assert codes(rig.lane.plate(mainland)) == [C.NO_BUNDLE]
    assert rig.lane.session is not None
    assert rig.lane.session.started_at == T0
    before = read(vrn="CD5678", alternates=runner_up, ts=T0 - timedelta(seconds=0.8))
    assert rig.lane.plate(before).payloads == []  # seen before the truck: not its plate
    assert rig.lane.session.plates == ["粤Z1234港"]
    after = read(vrn="CD5678", alternates=runner_up, ts=T0 - timedelta(seconds=0.2))
    assert codes(rig.lane.plate(after)) == [C.DROP_MANIFEST]
    assert rig.lane.session.plates == ["粤Z1234港", "CD5678"]


def test_a_bundle_whose_selection_the_replica_lacks_stops_the_truck() -> None:
    """A bundle stored without its result (the centre's change left it out) is neither a
    release nor an inspection: STOP, at the read and at the manifest, and never a
    release on another of the truck's bundles that could pass over an inspection."""
    unknown = make_bundle("9110635860", "AB1234").model_copy(update={"result": None})
    out = Rig([unknown], manifest_required=False).lane.plate(read())
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.decisions[0][2] == "bundle_incomplete"
    rig = Rig([make_bundle("9110635861", "AB1234")])
    assert codes(rig.lane.plate(read())) == [C.DROP_MANIFEST]
    rig.bundles.append(unknown)  # arrives with the next page, before the manifest
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert (codes(out), out.decisions[0][2]) == ([C.STOP_SEE_OFFICER], "bundle_incomplete")


def test_a_trucks_other_plate_does_not_trust_its_first_reads_runner_up() -> None:
    """AB1234 read with AB1284 as a runner-up (one plate read two ways: untrusted), then
    by its Mainland plate with AB1234 as the runner-up, released as unladen: truck AB1284
    pulling up within the hold is another truck, not one of this truck's plates (its
    read ignored, AB1234's PROCEED left up in front of it)."""
    rig = Rig([], unladen_inspect_share=0.0)
    assert codes(rig.lane.plate(read(alternates=[Alternate(vrn="AB1284", confidence=0.9)]))) == [
        C.NO_BUNDLE
    ]
    other = read(vrn="粤Z1234港", alternates=[Alternate(vrn="AB1234", confidence=0.9)])
    assert rig.lane.plate(other).ignored == ["same_truck"]
    assert rig.lane.session is not None
    assert rig.lane.session.plates == ["AB1234", "AB1284", "粤Z1234港"]
    assert codes(rig.lane.unladen(UnladenPressed(vrn="AB1234"))) == [C.PROCEED]
    rig.clock.advance(1)
    out = rig.lane.plate(read(vrn="AB1284"))
    assert codes(out) == [C.NO_BUNDLE]
    assert only_record(out).reason == "next_vehicle"


def test_a_trucks_other_plate_never_takes_an_inspect_back() -> None:
    """Drawn for inspection as unladen, then read by its Hong Kong plate whose bundle says
    PROCEED (the memory of trucks told INSPECT off): the INSPECT stands."""
    rig = Rig([make_bundle("9110635860", "CD5678")], unladen_inspect_share=1.0)
    rig.lane._inspections = Inspections(window_s=0)
    rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(rig.lane.unladen(UnladenPressed(vrn="粤Z1234港"))) == [C.INSPECT]
    out = rig.lane.plate(
        read(vrn="CD5678", alternates=[Alternate(vrn="粤Z1234港", confidence=0.9)])
    )
    assert (out.payloads, out.ignored) == ([], ["same_truck"])


def test_a_truck_whose_plate_was_the_runner_up_of_the_truck_before_is_another_truck() -> None:
    """AB1234 (runner-up AB1284) told PROCEED; truck AB1284 pulls up within the hold:
    its read is not 'the same truck' to ignore, and AB1234's PROCEED does not stay up."""
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    first = read(alternates=[Alternate(vrn="AB1284", confidence=0.9)])
    assert codes(rig.lane.plate(first)) == [C.PROCEED]
    rig.clock.advance(1)
    again = read(vrn="AB1284")
    out = rig.lane.plate(again)
    assert codes(out) == [C.NO_BUNDLE]
    assert only_record(out).reason == "next_vehicle"
    # the same message again (a QoS 1 redelivery) is not a second read in the record
    assert rig.lane.plate(again).ignored == ["redelivered"]
    rig.lane.plate(read(vrn="AB1284", confidence=0.97))
    rig.clock.advance(60)
    rig.lane.tick()  # no Unladen press: STOP
    rig.clock.advance(60)
    record = only_record(rig.lane.tick())
    assert [r.confidence for r in record.plate_reads] == [0.95, 0.97]


def test_rule2_untrusted_alternate_is_not_used() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    out = rig.lane.plate(read(vrn="XY99", alternates=[Alternate(vrn="AB1234", confidence=0.5)]))
    assert codes(out) == [C.NO_BUNDLE]


@pytest.mark.parametrize("own", [[], ["9110635861"]], ids=["no_bundle", "own_bundle"])
def test_rule2_a_runner_up_reading_of_the_plate_finds_no_bundle(own: list[str]) -> None:
    """AB1234 read, AB1284 as confident a runner-up: the one plate read two ways. AB1284's
    bundle is another truck's, one misreading away: the truck is not released on it
    (before, it got that bundle's DROP_MANIFEST and PROCEED), whether or not it has a
    bundle of its own. A better read decides."""
    others = [make_bundle("9110635860", "AB1284")]
    rig = Rig(others + [make_bundle(ubr, "AB1234") for ubr in own])
    doubtful = read(alternates=[Alternate(vrn="AB1284", confidence=0.9)])
    assert codes(rig.lane.plate(doubtful)) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "ambiguous_plate"
    out = rig.lane.plate(read(confidence=0.97))
    assert codes(out) == [C.DROP_MANIFEST if own else C.NO_BUNDLE]
    assert only_record(out).reason == "reread"
    assert out.instructions[0].ubr == (own[0] if own else None)


def test_rule2_a_runner_up_that_is_the_same_bundles_plate_is_no_doubt() -> None:
    """A runner-up whose bundle carries the read plate as well (the truck's own), and a
    Mainland runner-up of a Hong Kong read (the truck's other plate): no doubt."""
    rig = Rig([make_bundle("9110635860", "AB1234", second_plate="粤Z1234港")])
    out = rig.lane.plate(
        read(
            alternates=[
                Alternate(vrn="粤Z1234港", confidence=0.9),
                Alternate(vrn="AB1284", confidence=0.85),
            ]
        )
    )
    assert codes(out) == [C.DROP_MANIFEST]
    # two Mainland readings, the bundle carrying only the runner-up: one plate two ways
    rig = Rig([make_bundle("9110635860", "AB1234", second_plate="粤Z1234港")])
    out = rig.lane.plate(
        read(vrn="粤Z1284港", alternates=[Alternate(vrn="粤Z1234港", confidence=0.9)])
    )
    assert codes(out) == [C.STOP_SEE_OFFICER]


def plates(bundles: list[Bundle]) -> tuple[str, ...]:
    return tuple(b.vrn for b in bundles)


@pytest.mark.parametrize(
    "bundles",
    [[], [make_bundle("9110635860", "WA9")], [make_bundle("9110635860", "MA9")]],
    ids=["none", "read_plate", "runner_up"],
)
def test_rule2_a_runner_up_rated_above_the_read_plate_is_a_doubt(bundles: list[Bundle]) -> None:
    """WA9 published at 0.816 with MA9 at 0.9985 among its alternates: the reader rates
    another Hong Kong plate likelier than the one it read. Which truck it is the lane
    cannot say: STOP, whichever plate has a bundle (WA9's released the truck that was
    MA9; none let an Unladen press release it). A Mainland read the same."""
    rig = Rig(bundles)
    doubtful = read(
        vrn="WA9", confidence=0.816, alternates=[Alternate(vrn="MA9", confidence=0.9985)]
    )
    assert codes(rig.lane.plate(doubtful)) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "plate_in_doubt"
    assert rig.lane.unladen(UnladenPressed()).instructions == []
    # rated as likely: a doubt; less likely, a misreading (rule 2 checks its bundles)
    misread = {(): C.NO_BUNDLE, ("WA9",): C.DROP_MANIFEST, ("MA9",): C.STOP_SEE_OFFICER}
    for confidence, code in [(0.816, C.STOP_SEE_OFFICER), (0.815, misread[plates(bundles)])]:
        rig = Rig(bundles)
        one = read(
            vrn="WA9", confidence=0.816, alternates=[Alternate(vrn="MA9", confidence=confidence)]
        )
        assert codes(rig.lane.plate(one)) == [code]
    rig = Rig(bundles)
    mainland = read(
        vrn="粤Z1234港",
        confidence=0.85,
        alternates=[
            Alternate(vrn="粤Z1284港", confidence=0.9),
            Alternate(vrn="WA9", confidence=0.9),
        ],
    )
    assert codes(rig.lane.plate(mainland)) == [C.STOP_SEE_OFFICER]


def test_rule2_a_doubt_is_no_doubt_below_the_threshold_and_inspect_told_lately_wins() -> None:
    rig = Rig([make_bundle("9110635860", "WA9")], confidence_threshold=0.95)
    low = read(vrn="WA9", confidence=0.96, alternates=[Alternate(vrn="MA9", confidence=0.94)])
    assert codes(rig.lane.plate(low)) == [C.DROP_MANIFEST]
    rig = Rig([make_bundle("9110635860", "WA9")])
    rig.lane._inspections.told(("MA9",), T0, "B7")
    doubtful = read(
        vrn="WA9", confidence=0.816, alternates=[Alternate(vrn="MA9", confidence=0.9985)]
    )
    out = rig.lane.plate(doubtful)
    assert (codes(out), out.instructions[0].bay) == ([C.INSPECT], "B7")


@pytest.mark.parametrize("bundle", [True, False], ids=["drop_manifest", "no_bundle"])
def test_a_later_read_that_doubts_the_plate_stops_the_truck_before_its_release(
    bundle: bool,
) -> None:
    """PA3523 read four times as the truck came in (one figure misread) and published;
    close up the AVRS reads PA3623 at 0.992 and sends the truck's plate again with it as
    likely: before the truck is released, the lane cannot say which it is. STOP, and the
    manifest or the Unladen press that follows releases nothing. A read of the same
    truck with a runner-up rated below it changes nothing."""
    rig = Rig([make_bundle("9110635860", "PA3523")] if bundle else [], unladen_inspect_share=0.0)
    first = codes(rig.lane.plate(read(vrn="PA3523", confidence=0.95)))
    assert first == [C.DROP_MANIFEST if bundle else C.NO_BUNDLE]
    rig.clock.advance(1)
    calm = read(vrn="PA3523", confidence=0.9, alternates=[Alternate(vrn="PA3623", confidence=0.85)])
    out = rig.lane.plate(calm)
    assert (out.instructions, out.ignored) == ([], ["same_truck"])
    rig.clock.advance(1)
    doubt = read(
        vrn="PA3523", confidence=0.75, alternates=[Alternate(vrn="PA3623", confidence=0.992)]
    )
    out = rig.lane.plate(doubt)
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.ignored == ["same_truck"]
    session = rig.lane.session
    assert session is not None
    assert (session.reason, session.plates) == ("plate_in_doubt", ["PA3523", "PA3623"])
    rig.clock.advance(1)
    if bundle:
        out = rig.lane.manifest(ManifestDropped(source="sensor"))
    else:
        out = rig.lane.unladen(UnladenPressed())
    assert out.instructions == []
    rig.clock.advance(10)
    record = only_record(rig.lane.tick())
    assert record.outcome is C.STOP_SEE_OFFICER
    assert [r.confidence for r in record.plate_reads] == [0.95, 0.9, 0.75]


@pytest.mark.parametrize("result", ["PROCEED", "INSPECT"])
def test_a_later_read_that_doubts_the_plate_leaves_a_shown_result(result: str) -> None:
    """Released (the driver may be gone) or sent to the bay: the result stands; and
    once the session has ended, the doubt names a truck dealt with: no STOP for it, which
    would show to whoever pulls up next."""
    rig = Rig([make_bundle("9110635860", "PA3523", result=result)], manifest_required=False)
    assert codes(rig.lane.plate(read(vrn="PA3523"))) == [C(result)]
    rig.clock.advance(1)
    doubt = read(
        vrn="PA3523", confidence=0.75, alternates=[Alternate(vrn="PA3623", confidence=0.992)]
    )
    out = rig.lane.plate(doubt)
    assert (out.instructions, out.ignored) == ([], ["same_truck"])
    rig.clock.advance(8)
    assert codes(rig.lane.tick()) == [C.READY]
    rig.clock.advance(1)
    doubt = read(
        vrn="PA3523", confidence=0.7, alternates=[Alternate(vrn="PA3623", confidence=0.995)]
    )
    out = rig.lane.plate(doubt)
    assert (out.instructions, out.ignored, rig.lane.session) == ([], ["doubt_truck_before"], None)
    rig.clock.advance(1)
    assert codes(rig.lane.plate(read(vrn="KL9876"))) == [C.NO_BUNDLE]


def test_a_truck_stopped_in_doubt_is_stopped_again_by_either_plate_for_a_while() -> None:
    """Stopped in doubt (PA3523 or PA3623?), the truck stands at the booth and is read
    again: PA3623 close up, published as the next truck, and PA3523 once more after the
    STOP's hold (the re-review: the STOP was a read fault, the next read decided afresh,
    and the truck went on PA3623's bundle or PA3523's NO_BUNDLE and an Unladen press).
    Either plate is STOP again for ``DOUBT_WINDOW_S``, then decided as any."""
    rig = Rig([make_bundle("9110635860", "PA3523"), make_bundle("9110635861", "PA3623")])
    mono = [100.0]
    rig.lane._doubts = Doubts(monotonic=lambda: mono[0])
    assert codes(rig.lane.plate(read(vrn="PA3523", confidence=0.95))) == [C.DROP_MANIFEST]
    rig.clock.advance(1)
    doubt = read(
        vrn="PA3523", confidence=0.75, alternates=[Alternate(vrn="PA3623", confidence=0.992)]
    )
    assert codes(rig.lane.plate(doubt)) == [C.STOP_SEE_OFFICER]
    rig.clock.advance(1)
    out = rig.lane.plate(read(vrn="PA3623", confidence=0.99))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert (only_record(out).reason, out.decisions[-1][2]) == ("next_vehicle", "plate_in_doubt")
    assert rig.lane.manifest(ManifestDropped(source="sensor")).instructions == []
    rig.clock.advance(9)
    mono[0] += 11
    assert codes(rig.lane.tick()) == [C.READY]
    rig.clock.advance(30)
    mono[0] += 30
    out = rig.lane.plate(read(vrn="PA3523", confidence=0.99))
    assert (codes(out), out.decisions[-1][2]) == ([C.STOP_SEE_OFFICER], "plate_in_doubt")
    rig.clock.advance(9)
    assert codes(rig.lane.tick()) == [C.READY]
    rig.clock.advance(300)
    mono[0] += 309
    rig.fresh = Freshness(last_sync_at=rig.clock.now, central_up=True)
    out = rig.lane.plate(read(vrn="PA3623", confidence=0.99))
    assert codes(out) == [C.DROP_MANIFEST]


ML = "粤Z5555港"


def doubtful_pa3523() -> PlateRead:
    return read(vrn="PA3523", confidence=0.9, alternates=[Alternate(vrn="PA3623", confidence=0.95)])


@pytest.mark.parametrize("bundles", [["PA3523"], []], ids=["bundle", "none"])
def test_a_truck_in_doubt_read_by_its_other_plate_first_is_still_in_doubt(
    bundles: list[str],
) -> None:
    """Stopped in doubt, then read by its Mainland plate alone (NO_BUNDLE) and by a
    doubted plate with the Mainland plate as runner-up: the new plate's look-up
    (``_new_plate_kind``) released the truck on PA3523's bundle, or left NO_BUNDLE for
    an Unladen press (re-review). STOP; a press and a drop ask too."""
    rig = Rig(
        [make_bundle("9110635860", v) for v in bundles],
        manifest_required=False,
        unladen_inspect_share=0.0,
    )
    assert codes(rig.lane.plate(doubtful_pa3523())) == [C.STOP_SEE_OFFICER]
    rig.clock.advance(9)
    assert codes(rig.lane.tick()) == [C.READY]
    rig.clock.advance(30)
    assert codes(rig.lane.plate(read(vrn=ML))) == [C.NO_BUNDLE]
    rig.clock.advance(1)
    plate = bundles[0] if bundles else "PA3623"
    out = rig.lane.plate(read(vrn=plate, alternates=[Alternate(vrn=ML, confidence=0.95)]))
    assert (codes(out), out.decisions[-1][2]) == ([C.STOP_SEE_OFFICER], "plate_in_doubt")
    # the press asks the memory too: a session at NO_BUNDLE whose plates were doubted since
    rig = Rig([], unladen_inspect_share=0.0)
    assert codes(rig.lane.plate(read(vrn="PA3623"))) == [C.NO_BUNDLE]
    rig.lane._doubts.remember(["PA3623"])
    out = rig.lane.unladen(UnladenPressed())
    assert (codes(out), out.decisions[-1][2]) == ([C.STOP_SEE_OFFICER], "plate_in_doubt")
    rig = Rig([make_bundle("9110635860", "PA3523")])
    assert codes(rig.lane.plate(read(vrn="PA3523"))) == [C.DROP_MANIFEST]
    rig.lane._doubts.remember(["PA3523"])
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert (codes(out), out.decisions[-1][2]) == ([C.STOP_SEE_OFFICER], "plate_in_doubt")


def test_a_truck_in_doubt_is_stopped_at_the_next_lane_too() -> None:
    """The controller's lanes share the memory (as they share ``Inspections``): waved
    from one booth to the next, the truck is not decided afresh there."""
    shared = Doubts()
    here, there = (
        Rig([make_bundle("9110635860", "PA3523")]),
        Rig([make_bundle("9110635860", "PA3523")]),
    )
    here.lane._doubts = there.lane._doubts = shared
    assert codes(here.lane.plate(doubtful_pa3523())) == [C.STOP_SEE_OFFICER]
    there.clock.advance(40)
    there.fresh = Freshness(last_sync_at=there.clock.now, central_up=True)
    out = there.lane.plate(read(vrn="PA3523", confidence=0.99))
    assert (codes(out), out.decisions[-1][2]) == ([C.STOP_SEE_OFFICER], "plate_in_doubt")


def test_the_doubt_memory_keeps_the_trucks_own_plates_not_a_runner_up_of_the_other_kind() -> None:
    """AB1234 in doubt with AB1284, and 粤Z5678港 read beside it (an AVRS pairs plates read
    close in time: maybe the next truck's). Remembered, it stopped truck CD5678 at every
    lane for five minutes (re-review): it is not. Told INSPECT lately instead, the truck
    is sent to the bay and nothing is remembered."""
    shared = Doubts()
    here, there = Rig(), Rig()
    here.lane._doubts = there.lane._doubts = shared
    doubtful = read(
        confidence=0.9,
        alternates=[
            Alternate(vrn="AB1284", confidence=0.95),
            Alternate(vrn="粤Z5678港", confidence=0.93),
        ],
    )
    assert codes(here.lane.plate(doubtful)) == [C.STOP_SEE_OFFICER]
    assert shared.lately(["AB1234"])
    assert shared.lately(["AB1284"])
    out = there.lane.plate(
        read(vrn="CD5678", alternates=[Alternate(vrn="粤Z5678港", confidence=0.95)])
    )
    assert codes(out) == [C.NO_BUNDLE]
    rig = Rig([make_bundle("9110635860", "PA3523")])
    assert codes(rig.lane.plate(read(vrn="PA3523"))) == [C.DROP_MANIFEST]
    rig.lane._inspections.told(("PA3623",), T0, "B7")
    doubt = read(
        vrn="PA3523", confidence=0.75, alternates=[Alternate(vrn="PA3623", confidence=0.992)]
    )
    assert codes(rig.lane.plate(doubt)) == [C.INSPECT]
    assert not rig.lane._doubts.lately(["PA3523", "PA3623"])


def test_the_doubt_memory_keeps_the_plates_the_truck_is_known_by() -> None:
    """Fourth review: a truck in doubt at its first read was remembered by the plates read,
    not its Mainland plate its bundle names: read by that plate alone at the next lane,
    it was released on the bundle. And a truck first read by its Mainland plate, then
    known by AB1234 (the new plate's read), doubted against AB1284, was remembered as its
    Mainland plate and AB1284: AB1234 at the next lane was NO_BUNDLE, an Unladen press
    from a release."""
    shared = Doubts()
    bundle = make_bundle("9110635860", "PA3523", second_plate="粤Z1234港")
    here, there = Rig([bundle]), Rig([bundle], manifest_required=False)
    here.lane._doubts = there.lane._doubts = shared
    assert codes(here.lane.plate(doubtful_pa3523())) == [C.STOP_SEE_OFFICER]
    out = there.lane.plate(read(vrn="粤Z1234港", confidence=0.97))
    assert (codes(out), out.decisions[-1][2]) == ([C.STOP_SEE_OFFICER], "plate_in_doubt")
    shared = Doubts()
    here, there = Rig(), Rig(unladen_inspect_share=0.0)
    here.lane._doubts = there.lane._doubts = shared
    assert codes(here.lane.plate(read(vrn=ML))) == [C.NO_BUNDLE]
    out = here.lane.plate(read(alternates=[Alternate(vrn=ML, confidence=0.95)]))
    assert out.ignored == ["same_truck"]
    doubt = read(
        confidence=0.7,
        alternates=[Alternate(vrn="AB1284", confidence=0.95), Alternate(vrn=ML, confidence=0.95)],
    )
    assert codes(here.lane.plate(doubt)) == [C.STOP_SEE_OFFICER]
    out = there.lane.plate(read())
    assert (codes(out), out.decisions[-1][2]) == ([C.STOP_SEE_OFFICER], "plate_in_doubt")


def test_a_later_read_rated_below_the_threshold_by_its_doubt_still_stops_the_truck() -> None:
    """At a lane whose threshold is 0.9, PA3623 read at 0.88 brings PA3523 down to 0.726:
    neither is trusted, and the truck was released at the manifest (re-review)."""
    rig = Rig([make_bundle("9110635860", "PA3523")], confidence_threshold=0.9)
    assert codes(rig.lane.plate(read(vrn="PA3523", confidence=0.95))) == [C.DROP_MANIFEST]
    rig.clock.advance(1)
    doubt = read(
        vrn="PA3523", confidence=0.726, alternates=[Alternate(vrn="PA3623", confidence=0.88)]
    )
    assert codes(rig.lane.plate(doubt)) == [C.STOP_SEE_OFFICER]
    assert rig.lane.manifest(ManifestDropped(source="sensor")).instructions == []


def test_a_doubt_of_the_truck_before_is_ignored_soon_after_its_session_only() -> None:
    """Released and gone (its hold over): a doubt the AVRS sends as it leaves, rated low
    or not, is not a STOP for whoever pulls up next (re-review: one rated 0.786 opened a
    low_confidence STOP). Twenty minutes on, the same plate read in doubt is a truck come
    back: STOP, an officer looks."""
    rig = Rig([make_bundle("9110635860", "WA9")], manifest_required=False)
    assert codes(rig.lane.plate(read(vrn="WA9"))) == [C.PROCEED]
    rig.clock.advance(9)
    assert codes(rig.lane.tick()) == [C.READY]
    rig.clock.advance(1)
    low = read(vrn="WA9", confidence=0.786, alternates=[Alternate(vrn="MA9", confidence=0.79)])
    out = rig.lane.plate(low)
    assert (out.instructions, out.ignored) == ([], ["doubt_truck_before"])
    rig.clock.advance(1200)
    rig.fresh = Freshness(last_sync_at=rig.clock.now, central_up=True)
    doubtful = read(
        vrn="WA9", confidence=0.816, alternates=[Alternate(vrn="MA9", confidence=0.9985)]
    )
    out = rig.lane.plate(doubtful)
    assert (codes(out), out.decisions[-1][2]) == ([C.STOP_SEE_OFFICER], "plate_in_doubt")


def test_a_runner_up_bundle_that_appears_before_the_manifest_stops_the_truck() -> None:
    rig = Rig([make_bundle("9110635861", "AB1234")])
    assert codes(rig.lane.plate(read(alternates=[Alternate(vrn="AB1284", confidence=0.9)]))) == [
        C.DROP_MANIFEST
    ]
    rig.bundles.append(make_bundle("9110635860", "AB1284", result="INSPECT"))
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "ambiguous_plate"


def test_rule2_cancelled_and_used_bundles_do_not_count() -> None:
    rig = Rig(
        [
            make_bundle("9110635860", "AB1234", status=BundleStatus.CANCELLED),
            make_bundle("9110635861", "AB1234", status=BundleStatus.USED),
        ]
    )
    assert codes(rig.lane.plate(read())) == [C.NO_BUNDLE]


def test_rule2_inspection_wins_when_two_bundles_are_ready() -> None:
    rig = Rig(
        [
            make_bundle("9110635860", "AB1234"),
            make_bundle("9110635861", "AB1234", result="INSPECT", bay="B2"),
        ],
        manifest_required=False,
    )
    out = rig.lane.plate(read())
    assert (out.instructions[0].code, out.instructions[0].ubr) == (C.INSPECT, "9110635861")


@pytest.mark.parametrize("manifest_required", [False, True])
def test_rule2_an_inspection_not_yet_due_is_not_passed_over_for_a_release(
    manifest_required: bool,
) -> None:
    """A truck with a release due and an inspection due in 30 s does not cross on the
    release: it goes for the inspection now (a TOO_EARLY for it would tell the driver
    which bundle was selected, to cancel it and come back). With nothing due yet, it is
    TOO_EARLY, for the first bundle due."""
    due_in_30s = T0 + timedelta(seconds=30)
    release = make_bundle("9110635860", "AB1234")
    selected = make_bundle(
        "9110635861", "AB1234", result="INSPECT", bay="B2", earliest_at=due_in_30s
    )
    rig = Rig([release, selected], manifest_required=manifest_required)
    out = rig.lane.plate(read())
    if manifest_required:
        assert (codes(out), out.instructions[0].ubr) == ([C.DROP_MANIFEST], "9110635861")
        out = rig.lane.manifest(ManifestDropped(source="sensor"))
    (shown,) = out.instructions
    assert (shown.code, shown.ubr, shown.bay) == (C.INSPECT, "9110635861", "B2")
    rig = Rig(
        [make_bundle("9110635860", "AB1234", earliest_at=T0 + timedelta(seconds=60)), selected],
        manifest_required=manifest_required,
    )
    (shown,) = rig.lane.plate(read()).instructions
    assert (shown.code, shown.ubr, shown.earliest_at) == (C.TOO_EARLY, "9110635861", due_in_30s)


def test_rule2_an_inspection_selected_before_the_manifest_wins() -> None:
    """Two releases due at the read (the older chosen); before the manifest the centre
    selects the other for inspection: the truck is inspected, not released on the first."""
    rig = Rig([make_bundle("9110635860", "AB1234"), make_bundle("9110635861", "AB1234")])
    out = rig.lane.plate(read())
    assert (codes(out), out.instructions[0].ubr) == ([C.DROP_MANIFEST], "9110635860")
    rig.bundles = [
        make_bundle("9110635860", "AB1234"),
        make_bundle("9110635861", "AB1234", result="INSPECT", bay="B2"),
    ]
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    (shown,) = out.instructions
    assert (shown.code, shown.ubr, shown.bay) == (C.INSPECT, "9110635861", "B2")
    # a second release meanwhile changes nothing: the truck's own bundle's result
    rig = Rig([make_bundle("9110635861", "AB1234")])
    rig.lane.plate(read())
    rig.bundles = [make_bundle("9110635860", "AB1234"), make_bundle("9110635861", "AB1234")]
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert (codes(out), out.instructions[0].ubr) == ([C.PROCEED], "9110635861")


def test_rule2_bundle_cancelled_before_the_manifest_stops() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.lane.plate(read())
    rig.bundles = [make_bundle("9110635860", "AB1234", status="cancelled")]
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "bundle_changed"
    # the replica failing at the manifest stops the truck too, and says so
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.lane.plate(read())
    rig.fail_lookup = True
    assert codes(rig.lane.manifest(ManifestDropped(source="sensor"))) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "replica_error"


def test_rule2_result_reselected_before_the_manifest_is_used() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.lane.plate(read())
    rig.bundles = [make_bundle("9110635860", "AB1234", result="INSPECT", bay="B3")]
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert (codes(out), out.instructions[0].bay) == ([C.INSPECT], "B3")


# -- rule 3 ------------------------------------------------------------------------------


@pytest.mark.parametrize(("cp", "direction"), [("LMC", "import"), ("SBC", "export")])
def test_rule3_wrong_control_point_or_direction(cp: str, direction: str) -> None:
    rig = Rig([make_bundle("9110635860", "AB1234", cp=cp, direction=direction)])
    out = rig.lane.plate(read())
    assert codes(out) == [C.WRONG_CONTROL_POINT]
    rig.clock.advance(8)
    assert only_record(rig.lane.tick()).reason == "wrong_control_point"


def test_rule3_a_bundle_here_wins_over_one_elsewhere() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234", cp="LMC"), make_bundle("9110635861", "AB1234")])
    out = rig.lane.plate(read())
    assert (out.instructions[0].code, out.instructions[0].ubr) == (C.DROP_MANIFEST, "9110635861")


# -- rule 4 ------------------------------------------------------------------------------


def test_rule4_no_bundle_then_unladen_proceeds() -> None:
    rig = Rig(unladen_inspect_share=0.0)
    assert codes(rig.lane.plate(read())) == [C.NO_BUNDLE]
    out = rig.lane.unladen(UnladenPressed(vrn="AB 1234"))
    assert codes(out) == [C.PROCEED]
    rig.clock.advance(8)
    record = only_record(rig.lane.tick())
    assert (record.outcome, record.reason, record.ubr) == (C.PROCEED, "unladen_released", None)


def test_rule4_unladen_inspect_share_with_seeded_rng() -> None:
    rig = Rig(unladen_inspect_share=1.0, inspect_bay="U9")
    rig.lane.plate(read())
    out = rig.lane.unladen(UnladenPressed())
    assert (codes(out), out.instructions[0].bay) == ([C.INSPECT], "U9")
    # a share of 0.3 over many trucks, seeded: the share comes out near 0.3
    rig = Rig(unladen_inspect_share=0.3)
    inspected = 0
    for n in range(400):
        rig.lane.plate(read(vrn=f"AB{n}"))
        out = rig.lane.unladen(UnladenPressed())
        inspected += codes(out) == [C.INSPECT]
    assert 80 <= inspected <= 160


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({}, [C.DROP_MANIFEST, C.INSPECT]),
        ({"cp": "LMC"}, [C.WRONG_CONTROL_POINT]),
        ({"earliest_at": T0 + timedelta(minutes=20)}, [C.TOO_EARLY]),
    ],
)
def test_rule4_a_truck_bundled_since_its_read_is_not_released_as_unladen(
    where: dict[str, Any], expected: list[C]
) -> None:
    """NO_BUNDLE at the read; its bundle (selected for inspection) reaches the replica
    before the driver presses Unladen: the truck goes by the bundle, not the share."""
    rig = Rig(unladen_inspect_share=0.0)
    assert codes(rig.lane.plate(read())) == [C.NO_BUNDLE]
    rig.bundles = [make_bundle("9110635860", "AB1234", result="INSPECT", bay="B3", **where)]
    rig.clock.advance(2)
    out = rig.lane.unladen(UnladenPressed(vrn="AB1234"))
    assert codes(out) == expected[:1]
    if expected[0] is C.DROP_MANIFEST:
        out = rig.lane.manifest(ManifestDropped(source="sensor"))
        assert (codes(out), out.instructions[0].bay) == ([C.INSPECT], "B3")
    rig.clock.advance(60)
    (record,) = rig.lane.tick().records
    assert record.outcome is expected[-1]
    assert record.ubr == "9110635860"
    assert [a.kind for a in record.actions][:1] == ["unladen"]


def test_rule4_unladen_for_a_truck_told_inspect_since_its_read_is_inspect() -> None:
    """Told INSPECT at another lane (another shard's, known here since the read): the
    press does not draw the share."""
    rig = Rig(unladen_inspect_share=0.0)
    rig.lane.plate(read())
    rig.lane._inspections.told(("AB1234",), T0, "B7")
    out = rig.lane.unladen(UnladenPressed(vrn="AB1234"))
    assert (codes(out), out.instructions[0].bay) == ([C.INSPECT], "B7")
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "inspect_pending"


def test_rule4_unladen_with_the_replica_unreadable_is_stop() -> None:
    rig = Rig(unladen_inspect_share=0.0)
    rig.lane.plate(read())
    rig.fail_lookup = True
    out = rig.lane.unladen(UnladenPressed())
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "replica_error"


def test_rule4_unladen_for_another_vrn_is_ignored() -> None:
    rig = Rig()
    rig.lane.plate(read())
    out = rig.lane.unladen(UnladenPressed(vrn="ZZ1"))
    assert not out.changed
    assert out.ignored == ["unladen_other_vrn"]
    assert rig.lane.code is C.NO_BUNDLE


# -- a truck told INSPECT, read again ----------------------------------------------------


def sampled_for_inspection(rig: Rig, first: PlateRead) -> None:
    """An unladen truck read as ``first`` drawn for inspection (the share 1, then 0), its
    session over, and the truck back a minute later (the replica current)."""
    rig.lane.plate(first)
    assert codes(rig.lane.unladen(UnladenPressed())) == [C.INSPECT]
    rig.lane.config = rig.lane.config.model_copy(update={"unladen_inspect_share": 0.0})
    rig.clock.advance(8)
    assert only_record(rig.lane.tick()).outcome is C.INSPECT
    rig.clock.advance(60)
    rig.fresh = Freshness(last_sync_at=rig.clock.now, central_up=True)


def test_an_unladen_truck_sampled_for_inspection_cannot_draw_again() -> None:
    """Sampled for inspection, the truck stays (or comes back) and is read again: a new
    session, but it is told INSPECT at once, with the same bay; pressing Unladen again
    would have been another draw of the share."""
    rig = Rig(unladen_inspect_share=1.0, inspect_bay="U9")
    sampled_for_inspection(rig, read())
    rig.asked.clear()
    out = rig.lane.plate(read())
    (shown,) = out.instructions
    assert (shown.code, shown.bay) == (C.INSPECT, "U9")
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "inspect_pending"
    assert rig.asked == []  # whatever the replica says
    # within the hold, by an unread read and then the plate: the unread may have been
    # the next truck, and the plate read the truck before's, by a reader whose clock
    # runs ahead: which, the lane cannot tell, so STOP (an officer looks; never a draw)
    out = rig.lane.plate(read(vrn="", confidence=0.0))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    out = rig.lane.plate(read())
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.decisions[-1][2] == "read_before_truck"
    rig.clock.advance(10)
    rig.lane.tick()  # its hold over: READY
    assert codes(rig.lane.plate(read())) == [C.INSPECT]
    # another truck is not concerned
    assert codes(rig.lane.plate(read(vrn="CD5678"))) == [C.NO_BUNDLE]


def test_a_truck_whose_bundle_was_selected_cannot_cross_as_unladen_once_it_is_used() -> None:
    """The record of the inspection marks the bundle used; read again (here by its
    Mainland plate), the truck no longer has an active bundle, and would have been
    NO_BUNDLE, then released by an Unladen press."""
    bundle = make_bundle(
        "9110635860", "AB1234", result="INSPECT", bay="B3", second_plate="粤Z1234港"
    )
    rig = Rig([bundle], manifest_required=False)
    assert codes(rig.lane.plate(read())) == [C.INSPECT]
    rig.clock.advance(8)
    rig.lane.tick()
    rig.bundles = [make_bundle("9110635860", "AB1234", status="used", second_plate="粤Z1234港")]
    out = rig.lane.plate(read(vrn="粤Z1234港"))
    assert (codes(out), out.instructions[0].bay) == ([C.INSPECT], "B3")


def test_a_truck_told_inspect_is_known_by_each_plate_it_was_read_by() -> None:
    """An unladen truck (no bundle) read with its Mainland plate as a trusted runner-up,
    sampled for inspection, comes back read by that plate first."""
    rig = Rig(unladen_inspect_share=1.0)
    sampled_for_inspection(rig, read(alternates=[Alternate(vrn="粤Z1234港", confidence=0.9)]))
    assert codes(rig.lane.plate(read(vrn="粤Z1234港"))) == [C.INSPECT]


def shuttle_read(shared: Inspections, after_s: float, ubr: str = "9110635871") -> LaneOutput:
    """Truck AB1234, whose bundle names both its plates (粤Z1234港), read by its Hong Kong
    plate alone at another lane sharing the memory ``shared``, ``after_s`` later (the
    replica current)."""
    there = Rig([make_bundle(ubr, "AB1234", second_plate="粤Z1234港")], manifest_required=False)
    there.lane._inspections = shared
    there.clock.advance(after_s)
    there.fresh = Freshness(last_sync_at=there.clock.now, central_up=True)
    return there.lane.plate(read(vrn="AB1234"))


def test_a_truck_sampled_by_one_plate_is_known_by_its_bundle_s_other_plate() -> None:
    """Sampled for inspection as unladen when read by its Mainland plate alone, the truck
    is bundled since (at the kiosk) on both plates, and read at another lane within the
    hour by its Hong Kong plate alone: its bundle ties the two plates, and the memory
    is asked by the other one too. Before, it was decided afresh there and released
    (open question 11)."""
    shared = Inspections(window_s=3600)
    here = Rig(unladen_inspect_share=1.0)
    here.lane._inspections = shared
    here.lane.plate(read(vrn="粤Z1234港"))
    assert codes(here.lane.unladen(UnladenPressed(vrn="粤Z1234港"))) == [C.INSPECT]
    out = shuttle_read(shared, 600, "9110635861")
    assert codes(out) == [C.INSPECT]
    assert out.decisions[-1][2] == "inspect_pending"
    assert out.instructions[0].bay == "U1"


@pytest.mark.parametrize("plate", ["粤Z1234港", "AB1234"])
def test_a_truck_s_older_bundle_on_its_other_plate_is_found(plate: str) -> None:
    """Two bundles of one truck: an older one naming its Hong Kong plate only, selected
    for inspection, and a newer one naming both (the centre learnt the Mainland plate in
    between), to be released. Read by either plate alone, the truck crosses on the
    inspection. Before, read by its Mainland plate it found only the newer bundle and
    was released (open question 11)."""
    rig = Rig(
        [
            make_bundle("9110635860", "AB1234", result="INSPECT", bay="B3"),
            make_bundle("9110635861", "AB1234", second_plate="粤Z1234港"),
        ],
        manifest_required=False,
    )
    out = rig.lane.plate(read(vrn=plate))
    assert codes(out) == [C.INSPECT]
    assert out.instructions[0].ubr == "9110635860"
    assert out.instructions[0].bay == "B3"


def test_a_bundle_one_hop_away_naming_another_plate_stops() -> None:
    """Read by its Hong Kong plate, the truck's bundle names its Mainland plate; another
    active bundle names that Mainland plate with another Hong Kong plate: a record of
    another vehicle, or a wrong one. Neither is released on: an officer looks. Before,
    the other bundle was never seen."""
    rig = Rig(
        [
            make_bundle("9110635860", "CD5678", second_plate="粤Z1234港"),
            make_bundle("9110635861", "AB1234", second_plate="粤Z1234港"),
        ],
        manifest_required=False,
    )
    out = rig.lane.plate(read(vrn="AB1234"))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.decisions[-1][2] == "ambiguous_plate"
    assert out.instructions[0].ubr == "9110635860"


def test_a_mainland_plate_two_hong_kong_plates_bundles_name_stops() -> None:
    """Read by its Mainland plate alone, the truck finds two bundles (for another control
    point) naming that plate with two Hong Kong plates, one of which has a bundle here:
    two vehicles' records, or a wrong one. The truck is not released on the other Hong
    Kong plate's bundle (found in review: the hop looked CD5678 up and released it)."""
    rig = Rig(
        [
            make_bundle("9110635860", "AB1234", second_plate="粤Z1234港", cp="LMC"),
            make_bundle("9110635861", "CD5678", second_plate="粤Z1234港", cp="LMC"),
            make_bundle("9110635862", "CD5678"),
        ],
        manifest_required=False,
    )
    out = rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.decisions[-1][2] == "ambiguous_plate"
    assert "CD5678" not in rig.asked


@pytest.mark.parametrize("failing", [2, 3])
def test_a_replica_error_on_a_new_plate_kind_is_not_looked_past(failing: int) -> None:
    """The truck waits at NO_BUNDLE (AB1234); a bundle naming AB1234 with another
    Mainland plate is made since (bundled on a misread). Its own Mainland plate read with
    AB1234 as the runner-up must stop it (the bundle is not the truck's by the new
    plate). A replica error on one look-up gave a second round of look-ups that skipped
    that check and released the truck (found in review): it stops on the error."""
    rig = Rig(manifest_required=False)
    rig.lane.plate(read(vrn="AB1234"))
    rig.bundles = [make_bundle("9110635870", "AB1234", second_plate="粤Z9999港")]
    calls = [0]

    def flaky(plate: str) -> list[Bundle]:
        calls[0] += 1
        if calls[0] == failing:
            raise ReplicaError("database is locked")
        return rig.lookup(plate)

    rig.lane._lookup = flaky
    rig.clock.advance(1)
    out = rig.lane.plate(
        read(vrn="粤Z1234港", alternates=[Alternate(vrn="AB1234", confidence=0.95)])
    )
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert calls[0] == failing  # no second round


def test_a_truck_told_inspect_is_told_so_again_while_the_clock_runs_ahead() -> None:
    """Sampled for inspection, then the agent's clock steps two hours ahead; the replica,
    polled since, is stamped by the same clock and looks current. Read a minute later
    (real time), the truck is told INSPECT again: the memory answers by the monotonic
    clock too. Before, it was decided afresh and released as unladen (found in review)."""
    rig = Rig(unladen_inspect_share=1.0)
    sampled_for_inspection(rig, read())
    rig.clock.advance(2 * 3600)
    rig.fresh = Freshness(last_sync_at=rig.clock.now, central_up=True)
    out = rig.lane.plate(read())
    assert codes(out) == [C.INSPECT]
    assert out.decisions[-1][2] == "inspect_pending"


def told_again_by_one_plate(
    first: str, then: str, first_read: PlateRead | None = None
) -> tuple[Rig, LaneOutput]:
    """Truck AB1234, its bundle naming 粤Z1234港 too and selected for inspection, told
    INSPECT at T0 (read by its Hong Kong plate; the record marks the bundle used), read
    again 50 minutes later by ``first`` alone (told INSPECT again), and 70 minutes after
    T0 by ``then`` alone: what that read shows (the memory's window an hour, both of its
    clocks the rig's)."""
    rig = Rig(
        [make_bundle("9110635860", "AB1234", result="INSPECT", bay="B3", second_plate="粤Z1234港")],
        manifest_required=False,
        unladen_inspect_share=0.0,
    )
    rig.lane._inspections = Inspections(
        window_s=3600, clock=rig.clock, monotonic=lambda: (rig.clock.now - T0).total_seconds()
    )

    def at(minutes: float, plate: str, taken: PlateRead | None = None) -> LaneOutput:
        rig.clock.now = T0 + timedelta(minutes=minutes)
        rig.fresh = Freshness(last_sync_at=rig.clock.now, central_up=True)
        out = rig.lane.plate(taken or read(vrn=plate))
        rig.clock.advance(8)
        rig.lane.tick()  # INSPECT's hold over: the truck goes, the session ends
        return out

    assert codes(at(0, "AB1234")) == [C.INSPECT]
    rig.bundles = [make_bundle("9110635860", "AB1234", status="used", second_plate="粤Z1234港")]
    out = at(50, first, first_read)
    assert (codes(out), out.decisions[-1][2]) == ([C.INSPECT], "inspect_pending")
    rig.clock.now = T0 + timedelta(minutes=70)
    rig.fresh = Freshness(last_sync_at=rig.clock.now, central_up=True)
    return rig, rig.lane.plate(read(vrn=then))


@pytest.mark.parametrize(("first", "then"), [("AB1234", "粤Z1234港"), ("粤Z1234港", "AB1234")])
def test_a_truck_told_inspect_again_by_one_plate_is_renewed_by_every_plate(
    first: str, then: str
) -> None:
    """Told INSPECT again by one of its plates, the truck is renewed by each plate it was
    told INSPECT by as its own (its bundle's), not by the plate read only: read after the
    first window by its other plate alone, it was decided afresh, its selected bundle
    used by the first inspection's record, and an Unladen press released it (found in
    review)."""
    rig, out = told_again_by_one_plate(first, then)
    assert (codes(out), out.instructions[0].bay) == ([C.INSPECT], "B3")
    assert out.decisions[-1][2] == "inspect_pending"
    assert codes(rig.lane.unladen(UnladenPressed(vrn=then))) == []


@pytest.mark.parametrize("misread", ["AB1284", "粤Z1284港"])
def test_a_truck_told_inspect_again_through_its_plate_as_a_runner_up_is_renewed(
    misread: str,
) -> None:
    """Told INSPECT again at +50 read by a misread of a plate (its own plate the
    confident runner-up, through which the memory knew it): its other plate was not
    renewed (the renewal went by the read's firm plates only), and read by it alone at
    +70 the truck was released by an Unladen press (found in review)."""
    rig, out = told_again_by_one_plate(
        "AB1234",
        "粤Z1234港",
        first_read=read(vrn=misread, alternates=[Alternate(vrn="AB1234", confidence=0.95)]),
    )
    assert (codes(out), out.decisions[-1][2]) == ([C.INSPECT], "inspect_pending")


def test_a_window_over_does_not_carry_its_truck_into_a_new_telling() -> None:
    """A row taken at start (told 50 minutes before, with a misread Mainland plate) is
    kept a while though its window is over; told INSPECT 20 minutes after the start with
    its right plates, the truck's list took the misread too, two Mainland plates, and a
    repeat by AB1234 at +70 renewed nothing (found in review)."""
    wall, mono = [T0], [0.0]
    memory = Inspections(window_s=3600, clock=lambda: wall[0], monotonic=lambda: mono[0])
    told_before = T0 - timedelta(minutes=50)
    for plate in ("AB1234", "粤Z1284港"):
        memory.remember((plate,), told_before, "B1", ("粤Z1284港", "AB1234"))

    def at(minutes: float) -> datetime:
        wall[0], mono[0] = T0 + timedelta(minutes=minutes), minutes * 60.0
        return wall[0]

    memory.told(("AB1234", "粤Z1234港"), at(20), "B3", firm=("AB1234", "粤Z1234港"))
    memory.told(("AB1234",), at(70), "B3", firm=("AB1234",))
    assert memory.pending(["粤Z1234港"], at(90)) == ("B3",)


@pytest.mark.parametrize("own_first", [True, False])
def test_a_plate_told_as_a_truck_s_own_within_a_second_takes_its_bay(own_first: bool) -> None:
    """A plate told INSPECT as another truck's runner-up (bay B2) and within a second as
    its own truck's (B3), in either order: the truck is sent to its own bay."""
    memory = Inspections(window_s=3600, clock=lambda: T0, monotonic=lambda: 0.0)
    tellings = [
        (("AB1234", "粤Z1234港"), "B3", ("AB1234", "粤Z1234港")),
        (("CD5678", "AB1234"), "B2", ("CD5678",)),
    ]
    for offset, (plates, bay, firm) in enumerate(tellings if own_first else tellings[::-1]):
        memory.told(plates, T0 + timedelta(seconds=0.4 * offset), bay, firm=firm)
    assert memory.pending(["AB1234"], T0) == ("B3",)


def test_a_truck_renewed_through_a_wall_clock_that_flaps_is_not_let_go_early() -> None:
    """Told INSPECT again by AB1234 while the wall clock ran 20 minutes ahead (its
    Mainland plate renewed to that later time), then by 粤Z1234港 once the clock was put
    right: that telling ends earlier by the wall clock but later by the monotonic one,
    and was dropped; with the clock ahead again, the truck's window ended early and an
    Unladen press released it (found in review). Each clock's latest is kept."""
    rig = Rig(
        [make_bundle("9110635860", "AB1234", result="INSPECT", bay="B3", second_plate="粤Z1234港")],
        manifest_required=False,
        unladen_inspect_share=0.0,
    )
    mono = [0.0]
    rig.lane._inspections = Inspections(window_s=3600, clock=rig.clock, monotonic=lambda: mono[0])

    def at(real_min: float, wall_ahead_min: float, plate: str) -> LaneOutput:
        mono[0] = real_min * 60
        rig.clock.now = T0 + timedelta(minutes=real_min + wall_ahead_min)
        rig.fresh = Freshness(last_sync_at=rig.clock.now, central_up=True)
        out = rig.lane.plate(read(vrn=plate))
        rig.clock.advance(8)
        mono[0] += 8
        rig.lane.tick()
        return out

    assert codes(at(0, 0, "AB1234")) == [C.INSPECT]
    rig.bundles = [make_bundle("9110635860", "AB1234", status="used", second_plate="粤Z1234港")]
    assert codes(at(30, 20, "AB1234")) == [C.INSPECT]
    assert codes(at(40, 0, "粤Z1234港")) == [C.INSPECT]
    out = at(95, 20, "粤Z1234港")
    assert (codes(out), out.decisions[-1][2]) == ([C.INSPECT], "inspect_pending")


def test_a_plate_two_trucks_are_told_with_does_not_chain_their_renewals() -> None:
    """Three trucks whose bundles all name 粤Z5678港 (a wrong pairing), each told INSPECT
    with it: whose truck is whose, the memory cannot tell. Told INSPECT again by that
    plate, it renews none of them; a truck told INSPECT again renews its own plates,
    never the others' through the shared one (found in review: a chain of trucks each
    renewing the next, for as long as any came back)."""
    now, mono = [T0], [0.0]
    memory = Inspections(window_s=3600, clock=lambda: now[0], monotonic=lambda: mono[0])
    for hk in ("AB1234", "CD5678", "EF0001"):
        memory.told([hk, "粤Z5678港"], T0, "B3", firm=[hk, "粤Z5678港"])
    told: list[tuple[str, ...]] = []
    memory.on_told = lambda plates, *rest: told.append(tuple(plates))
    now[0], mono[0] = T0 + timedelta(minutes=40), 2400.0
    memory.told(["粤Z5678港"], now[0], "B3", firm=["粤Z5678港"])
    assert told == [("粤Z5678港",)]  # no truck's plates passed on with it
    now[0], mono[0] = T0 + timedelta(minutes=50), 3000.0
    memory.told(["AB1234"], now[0], "B3", firm=["AB1234"])
    assert told[-1] == ("AB1234", "粤Z5678港")  # its own truck's
    now[0], mono[0] = T0 + timedelta(minutes=70), 4200.0
    assert memory.pending(["粤Z5678港"], now[0]) == ("B3",)
    assert memory.pending(["AB1234"], now[0]) == ("B3",)
    assert memory.pending(["CD5678"], now[0]) is None
    assert memory.pending(["EF0001"], now[0]) is None
    now[0], mono[0] = T0 + timedelta(minutes=105), 6300.0
    assert memory.pending(["粤Z5678港"], now[0]) == ("B3",)  # renewed with AB1234


def test_a_truck_recalled_newest_first_is_renewed_by_every_plate() -> None:
    """Recalled at a restart from the outbox, newest first: the repeat by AB1234 alone,
    then the first telling by both plates. The truck is pending by 粤Z1234港 for as long
    as by AB1234."""
    now, mono = [T0 + timedelta(minutes=55)], [0.0]
    memory = Inspections(window_s=3600, clock=lambda: now[0], monotonic=lambda: mono[0])
    memory.remember(["AB1234"], T0 + timedelta(minutes=50), "B3", ["AB1234"])
    memory.remember(["AB1234", "粤Z1234港"], T0, "B3", ["AB1234", "粤Z1234港"])
    now[0], mono[0] = T0 + timedelta(minutes=70), 900.0
    assert memory.pending(["粤Z1234港"], now[0]) == ("B3",)
    now[0], mono[0] = T0 + timedelta(minutes=111), 3400.0
    memory.remember(["EF9"], now[0], None)
    assert memory.pending(["粤Z1234港"], now[0]) is None  # over with AB1234's


def test_a_runner_up_is_not_renewed_with_the_truck_told_inspect_again() -> None:
    """What a repeat renews is the plates the truck was told INSPECT by as its own: a
    confident runner-up of its first read (maybe the next truck's plate) is not, and
    goes once its window is over."""
    now, mono = [T0], [0.0]
    memory = Inspections(window_s=3600, clock=lambda: now[0], monotonic=lambda: mono[0])
    memory.told(["CD5678", "粤Z1234港"], T0, "B2", firm=["CD5678"])
    now[0], mono[0] = T0 + timedelta(minutes=50), 3000.0
    memory.told(["CD5678"], now[0], "B2", firm=["CD5678"])
    now[0], mono[0] = T0 + timedelta(minutes=70), 4200.0
    assert memory.pending(["CD5678"], now[0]) == ("B2",)
    assert memory.pending(["粤Z1234港"], now[0]) is None
    # nor does a truck told INSPECT again by that runner-up renew the first truck
    later = Inspections(window_s=3600, clock=lambda: now[0], monotonic=lambda: mono[0])
    now[0], mono[0] = T0, 0.0
    later.told(["CD5678", "粤Z1234港"], T0, "B2", firm=["CD5678"])
    now[0], mono[0] = T0 + timedelta(minutes=50), 3000.0
    later.told(["粤Z1234港"], now[0], "B2", firm=["粤Z1234港"])
    now[0], mono[0] = T0 + timedelta(minutes=70), 4200.0
    assert later.pending(["粤Z1234港"], now[0]) == ("B2",)
    assert later.pending(["CD5678"], now[0]) is None
    # renewed by its own plates, each of which is its own since (never a runner-up's
    # to skip: a renewal only ever adds an inspection)
    memory.told(["AB1234"], now[0], "B3", firm=["AB1234", "粤Z9999港"])
    now[0], mono[0] = T0 + timedelta(minutes=100), 6000.0
    memory.told(["粤Z9999港"], now[0], "B3", firm=["粤Z9999港"])
    now[0], mono[0] = T0 + timedelta(minutes=140), 8400.0
    assert memory.pending(["AB1234"], now[0], truck=("AB1234", "粤Z1111港")) == ("B3",)


def test_a_truck_recalled_as_told_long_ago_is_pending_only_for_what_is_left() -> None:
    """A truck told INSPECT 59 minutes ago (recalled at a restart) is pending for one more
    minute by the monotonic clock, not for a whole window."""
    now, mono = [T0 + timedelta(minutes=59)], [0.0]
    memory = Inspections(window_s=3600, clock=lambda: now[0], monotonic=lambda: mono[0])
    memory.remember(["AB1234"], T0, "B1")
    assert memory.pending(["AB1234"], now[0]) == ("B1",)
    now[0], mono[0] = T0 + timedelta(minutes=61), 120.0
    assert memory.pending(["AB1234"], now[0]) is None


def test_a_runner_up_told_inspect_is_not_another_truck_s_inspection_by_its_bundle() -> None:
    """Truck B (CD5678) is read with truck A's Mainland plate as a confident runner-up
    (an AVRS pairing plates read close in time) and told INSPECT on its bundle. Twenty
    minutes later A, a shuttle truck whose bundle names both its plates, is read by its
    Hong Kong plate: the Mainland plate its bundle names was told INSPECT only as B's
    runner-up, with B's own plate of A's Hong Kong kind: A is released on its bundle
    (found in review: the hop told it INSPECT, and remembered AB1234 too)."""
    shared = Inspections(window_s=3600)
    b = Rig(
        [make_bundle("9110635870", "CD5678", result="INSPECT", bay="B2")],
        manifest_required=False,
    )
    b.lane._inspections = shared
    b_read = read(vrn="CD5678", alternates=[Alternate(vrn="粤Z1234港", confidence=0.93)])
    assert codes(b.lane.plate(b_read)) == [C.INSPECT]
    assert codes(shuttle_read(shared, 1200)) == [C.PROCEED]
    assert shared.pending(["AB1234"], T0 + timedelta(seconds=1200)) is None
    # told INSPECT by that plate as its own (its first read), it is the truck's, whatever
    # runner-up of the other kind that read had (its own plate, misread)
    shared = Inspections(window_s=3600)
    c = Rig(unladen_inspect_share=1.0)
    c.lane._inspections = shared
    c.lane.plate(read(vrn="粤Z1234港", alternates=[Alternate(vrn="AB1284", confidence=0.93)]))
    assert codes(c.lane.unladen(UnladenPressed(vrn="粤Z1234港"))) == [C.INSPECT]
    assert codes(shuttle_read(shared, 1200)) == [C.INSPECT]


def test_a_truck_told_inspect_by_its_bundle_s_other_plate_is_known_by_both() -> None:
    """Told INSPECT again by the Mainland plate its bundle names (the hop), the truck is
    known by both plates: that plate's read, stamped before the next truck was seen, is
    the truck before's (ignored), not a stop of the next truck (found in review)."""
    shared = Inspections(window_s=3600)
    shared.remember(["粤Z1234港"], T0 - timedelta(minutes=10), "U1")
    rig = Rig(
        [
            make_bundle("9110635861", "AB1234", second_plate="粤Z1234港"),
            make_bundle("9110635870", "CD5678"),
        ],
        manifest_required=False,
    )
    rig.lane._inspections = shared
    assert codes(rig.lane.plate(read(vrn="AB1234"))) == [C.INSPECT]
    rig.clock.advance(9)
    rig.lane.tick()
    seen = rig.clock.now
    assert codes(rig.lane.plate(read(vrn="CD5678"))) == [C.PROCEED]
    rig.clock.advance(1)
    late = rig.lane.plate(read(vrn="粤Z1234港", ts=seen - timedelta(seconds=1)))
    assert late.ignored == ["read_before_truck"]


@pytest.mark.parametrize(
    "other",
    [
        # the truck's second bundle names another Mainland plate (a plate changed)
        make_bundle("9110635861", "AB1234", second_plate="粤Z9999港", cp="LMC"),
        # its Mainland plate is on another Hong Kong plate's bundle (a vehicle replaced)
        make_bundle("9110635862", "EF0001", second_plate="粤Z1234港", cp="LMC"),
    ],
)
@pytest.mark.parametrize("manifest", [False, True])
def test_a_bundle_s_inspection_stands_whatever_the_hop_finds(other: Bundle, manifest: bool) -> None:
    """The truck's bundle here is selected for inspection; the hop finds records that do
    not agree with it. The INSPECT stands, as before the hop, at the read and at the drop:
    a STOP is a truck an officer may wave on (found in review: both gave STOP, and the
    drop too)."""
    rig = Rig(
        [
            make_bundle(
                "9110635860", "AB1234", second_plate="粤Z1234港", result="INSPECT", bay="B2"
            ),
            other,
        ],
        manifest_required=manifest,
    )
    out = rig.lane.plate(read(vrn="AB1234"))
    if manifest:
        assert codes(out) == [C.DROP_MANIFEST]
        rig.clock.advance(5)
        out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert codes(out) == [C.INSPECT]
    assert out.instructions[0].ubr == "9110635860"


@pytest.mark.parametrize("manifest", [False, True])
def test_a_truck_whose_mainland_plate_changed(manifest: bool) -> None:
    """Two active bundles of one Hong Kong plate name two Mainland plates (the plate
    changed while an old bundle stayed active). Read by its Hong Kong plate the truck
    crosses on its bundles, as before the hop; read by a Mainland plate, the other
    bundle names another Mainland plate: the records disagree, an officer looks (found
    in review: the hop released a truck on a bundle of the Hong Kong plate that named
    another Mainland plate, which may be another vehicle's)."""
    bundles = [
        make_bundle("9110635860", "AB1234", second_plate="粤Z1234港"),
        make_bundle("9110635861", "AB1234", second_plate="粤Z9999港", cp="LMC"),
    ]
    rig = Rig(bundles, manifest_required=manifest)
    out = rig.lane.plate(read(vrn="AB1234"))
    if manifest:
        assert codes(out) == [C.DROP_MANIFEST]
        out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert codes(out) == [C.PROCEED]
    rig = Rig(bundles, manifest_required=manifest)
    out = rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.decisions[-1][2] == "ambiguous_plate"


def test_a_selection_on_the_truck_s_old_mainland_plate_is_not_passed_over() -> None:
    """The truck's Mainland plate changed: its old bundle here (its Hong Kong plate and
    the old Mainland plate) is selected for inspection, its new one names the new
    Mainland plate. Read by the new plate, the records disagree, but one of them is a
    selection here: INSPECT, on no bundle (which record is the truck's is not known).
    Before the hop the old bundle was never seen (found in review: a STOP)."""
    rig = Rig(
        [
            make_bundle("9110635860", "AB1234", second_plate="粤Z1234港", result="INSPECT"),
            make_bundle("9110635861", "AB1234", second_plate="粤Z9999港", cp="LMC"),
        ],
        manifest_required=True,
    )
    out = rig.lane.plate(read(vrn="粤Z9999港"))
    assert codes(out) == [C.INSPECT]
    assert out.instructions[0].ubr is None


def test_a_mainland_read_is_not_released_on_another_vehicle_s_bundle_of_its_plate() -> None:
    """Read by a Mainland plate alone: the only bundle naming it is AB1234's old one
    (another control point); AB1234's new bundle here names another Mainland plate. The
    truck at the lane may not be AB1234 at all: it is not released on that bundle (found
    in review: the hop released it)."""
    rig = Rig(
        [
            make_bundle("9110635860", "AB1234", second_plate="粤Z1234港", cp="LMC"),
            make_bundle("9110635861", "AB1234", second_plate="粤Z9999港"),
        ],
        manifest_required=False,
    )
    out = rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.decisions[-1][2] == "ambiguous_plate"


def test_bundles_of_two_hong_kong_plates_inspect_on_no_bundle() -> None:
    """A Mainland plate that two Hong Kong plates' bundles here name, one selected for
    inspection: INSPECT, but on neither bundle (a crossing uses its bundle up, and which
    is the truck's is not known: found in review, the other vehicle's selection was
    used up). With no INSPECT among them: STOP."""
    inspect = make_bundle("9110635861", "CD5678", second_plate="粤Z1234港", result="INSPECT")
    proceed = make_bundle("9110635860", "AB1234", second_plate="粤Z1234港")
    rig = Rig([proceed, inspect], manifest_required=False)
    out = rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(out) == [C.INSPECT]
    assert out.instructions[0].ubr is None
    rig.clock.advance(10)
    record = only_record(rig.lane.tick())
    assert record.ubr is None
    rig = Rig([proceed, proceed.model_copy(update={"ubr": "9110635862", "vrn": "CD5678"})])
    out = rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(out) == [C.STOP_SEE_OFFICER]


def test_a_bundle_found_through_the_hop_is_found_at_the_drop_too() -> None:
    """Read by its Mainland plate, the truck's bundle here (its Hong Kong plate only,
    selected for inspection) is found through its other bundle (both plates, elsewhere).
    That one cancelled while the truck waits at DROP_MANIFEST, the drop still finds the
    bundle decided on (found in review: bundle_changed STOP)."""
    linking = make_bundle("9110635860", "AB1234", second_plate="粤Z1234港", cp="LMC")
    here = make_bundle("9110635861", "AB1234", result="INSPECT", bay="B4")
    rig = Rig([linking, here])
    assert codes(rig.lane.plate(read(vrn="粤Z1234港"))) == [C.DROP_MANIFEST]
    rig.bundles = [here]
    rig.clock.advance(5)
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert codes(out) == [C.INSPECT]
    assert out.instructions[0].ubr == "9110635861"


def test_the_hop_never_releases() -> None:
    """Read by its Mainland plate alone, the truck's only bundle naming it is elsewhere;
    a bundle here of the Hong Kong plate that one names says PROCEED. The truck is not
    released on it (the centre's pairing of plates may be wrong, and the bundle another
    vehicle's): it goes as before the hop (found by a differential fuzz against bd44361:
    released). A selection for inspection there is taken (above)."""
    rig = Rig(
        [
            make_bundle("9110635860", "AB1234", second_plate="粤Z1234港", cp="LMC"),
            make_bundle("9110635861", "AB1234"),
        ],
        manifest_required=False,
    )
    out = rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(out) == [C.WRONG_CONTROL_POINT]


def test_a_truck_s_own_plate_told_as_a_runner_up_since_stays_its_own() -> None:
    """Truck A told INSPECT by its Mainland plate; truck B read since with that plate as
    its runner-up, told INSPECT again by it. A, read by its Hong Kong plate (its bundle
    names both), is still told INSPECT: the plate was A's own (found in review: B's
    telling replaced what the memory knew of it)."""
    shared = Inspections(window_s=3600)
    a = Rig(unladen_inspect_share=1.0)
    a.lane._inspections = shared
    a.lane.plate(read(vrn="粤Z1234港"))
    assert codes(a.lane.unladen(UnladenPressed(vrn="粤Z1234港"))) == [C.INSPECT]
    b = Rig([make_bundle("9110635870", "CD5678")], manifest_required=False)
    b.lane._inspections = shared
    b.clock.advance(60)
    b.fresh = Freshness(last_sync_at=b.clock.now, central_up=True)
    b_read = read(vrn="CD5678", alternates=[Alternate(vrn="粤Z1234港", confidence=0.93)])
    assert codes(b.lane.plate(b_read)) == [C.INSPECT]
    assert codes(shuttle_read(shared, 1200)) == [C.INSPECT]


def test_a_plate_told_as_a_truck_s_own_stays_so_however_often_a_runner_up() -> None:
    """A plate told INSPECT as a truck's own, then as a runner-up of many other trucks'
    reads: the memory still takes it as a truck's own when the hop asks (found in
    review: the firm plates kept were cut to the newest, and the plate's own went)."""
    now = [T0]
    memory = Inspections(window_s=3600, clock=lambda: now[0])
    memory.told(["粤Z1234港"], T0, "U1", firm=["粤Z1234港"])
    for n in range(20):
        now[0] = T0 + timedelta(seconds=n + 1)
        other = f"CD{n:04d}"
        memory.told([other, "粤Z1234港"], now[0], None, firm=[other])
    shuttle = ("AB1234", "粤Z1234港")
    assert memory.pending(["粤Z1234港"], now[0], truck=shuttle) is not None


def test_a_plate_linked_by_a_runner_up_while_inspect_shows_is_not_remembered() -> None:
    """Truck A (AB1234, no bundle) sampled: INSPECT. Truck B pulls up and is read by its
    Mainland plate with A's plate as the runner-up (an AVRS pairs plates read close in
    time): taken as the same truck, its read is ignored, but B's plate is not remembered
    as A's. Remembered (tried, and reverted, 2026-12-07), B was told INSPECT for the
    window at every lane and shard; its bundle says PROCEED."""
    shared = Inspections(window_s=3600)
    here = Rig(unladen_inspect_share=1.0)
    here.lane._inspections = shared
    here.lane.plate(read(vrn="AB1234"))
    assert codes(here.lane.unladen(UnladenPressed(vrn="AB1234"))) == [C.INSPECT]
    here.clock.advance(3)
    b_read = read(vrn="粤Z5678港", alternates=[Alternate(vrn="AB1234", confidence=0.9)])
    assert here.lane.plate(b_read).ignored == ["same_truck"]
    assert shared.pending(["粤Z5678港"], T0) is None
    there = Rig(
        [make_bundle("9110635861", "CD5678", second_plate="粤Z5678港")], manifest_required=False
    )
    there.lane._inspections = shared
    there.clock.advance(90)
    assert codes(there.lane.plate(read(vrn="粤Z5678港"))) == [C.PROCEED]


def test_a_manifest_drop_does_not_release_a_truck_told_inspect_since_its_read() -> None:
    """The truck's read gave DROP_MANIFEST; meanwhile another shard's lane told it
    INSPECT (its log taken in after the read): the drop does not release it, as an
    Unladen press would not."""
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=True)
    assert codes(rig.lane.plate(read())) == [C.DROP_MANIFEST]
    rig.lane._inspections.remember(["AB1234"], rig.clock.now, "B7")
    rig.clock.advance(5)
    out = rig.lane.manifest(ManifestDropped(vrn="AB1234", ubr="9110635860", source="panel"))
    assert codes(out) == [C.INSPECT]
    assert out.instructions[0].bay == "B7"
    assert out.decisions[-1][2] == "inspect_pending"


def test_a_time_ahead_of_the_clock_does_not_end_the_trucks_remembered() -> None:
    """Remembered with a time ahead of the clock (a record of a clock stepped back since,
    a lane's clock stepped forward for a while), the memory let go of every truck whose
    window ended before that time: it lets go as of the clock."""
    now = [T0]
    memory = Inspections(
        window_s=600, clock=lambda: now[0], monotonic=lambda: (now[0] - T0).total_seconds()
    )
    memory.remember(["AB1234"], T0, "B1")
    memory.remember(["CD5678"], T0 + timedelta(hours=2), "B2")  # ahead of the clock
    assert memory.pending(["AB1234"], T0 + timedelta(seconds=10)) == ("B1",)
    now[0] = T0 + timedelta(seconds=700)
    memory.remember(["EF9"], now[0], None)
    assert memory.pending(["AB1234"], now[0]) is None  # its window is over: let go


def test_a_forward_step_of_the_clock_does_not_end_the_trucks_remembered() -> None:
    """The agent's clock stepped two hours ahead for a minute (a truck told INSPECT
    meanwhile), then put right: the truck told INSPECT just before the step is still told
    INSPECT again when read, its window not over by the time that really passed. Before,
    the memory let it go as of the stepped clock (open question 12)."""
    now, mono = [T0], [0.0]
    memory = Inspections(window_s=600, clock=lambda: now[0], monotonic=lambda: mono[0])
    memory.remember(["AB1234"], T0, "B1")
    now[0], mono[0] = T0 + timedelta(hours=2), 60.0
    memory.remember(["CD5678"], now[0], "B2")
    now[0], mono[0] = T0 + timedelta(seconds=120), 120.0
    memory.remember(["EF9"], now[0], None)
    assert memory.pending(["AB1234"], now[0]) == ("B1",)
    # once over by both clocks, it goes as others come
    now[0], mono[0] = T0 + timedelta(seconds=700), 700.0
    memory.remember(["GH1"], now[0], None)
    assert memory.pending(["AB1234"], T0 + timedelta(seconds=1)) is None
    # the one told while the clock ran ahead is held for its window as stamped (until
    # T0 + 2 h 10 min by the clock): a truck told INSPECT is never let go early
    assert memory.pending(["CD5678"], now[0]) == ("B2",)


def test_the_window_for_a_truck_told_inspect_ends() -> None:
    mono = [0.0]
    shared = Inspections(window_s=600, monotonic=lambda: mono[0])
    rig = Rig(unladen_inspect_share=1.0)
    rig.lane._inspections = shared
    rig.lane.plate(read())
    rig.lane.unladen(UnladenPressed())
    assert shared.pending(["AB1234"], T0 + timedelta(seconds=599)) == ("U1",)
    assert shared.pending(["AB1234"], T0 + timedelta(seconds=600)) is None
    assert shared.pending(["CD5678"], T0) is None
    # 0: off
    off = Inspections(window_s=0)
    off.remember(["AB1234"], T0, "B1")
    assert off.pending(["AB1234"], T0) is None
    # the remembered go once their window is over, as others come
    mono[0] = 700.0
    shared.remember(["CD5678"], T0 + timedelta(seconds=700), None)
    assert shared.pending(["AB1234"], T0 + timedelta(seconds=1)) is None
    assert shared.pending(["CD5678"], T0 + timedelta(seconds=701)) == (None,)


# -- rule 5 ------------------------------------------------------------------------------


@pytest.mark.parametrize("bundled", [True, False])
def test_rule5_timeout_stops(bundled: bool) -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")] if bundled else [], timeout_s=30)
    first = rig.lane.plate(read()).instructions[0]
    assert first.expires_at == T0 + timedelta(seconds=35)
    rig.clock.advance(29.9)
    assert not rig.lane.tick().changed
    rig.clock.advance(0.1)
    out = rig.lane.tick()
    assert codes(out) == [C.STOP_SEE_OFFICER]
    rig.clock.advance(8)
    out = rig.lane.tick()
    assert codes(out) == [C.READY]
    record = only_record(out)
    assert (record.outcome, record.reason) == (C.STOP_SEE_OFFICER, "timeout")


# -- rule 6 ------------------------------------------------------------------------------


def test_rule6_stale_or_never_synced_replica_fails_closed() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.fresh = Freshness(last_sync_at=None, central_up=True)
    assert codes(rig.lane.plate(read())) == [C.STOP_SEE_OFFICER]
    rig.fresh = Freshness(last_sync_at=T0 - timedelta(seconds=301), central_up=False)
    out = rig.lane.plate(read(vrn="CD5678"))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "stale_replica"


def test_rule6_a_last_sync_in_the_future_fails_closed() -> None:
    """A booth PC that synced with its clock a day ahead, then had it stepped back: the
    replica must not count as fresh for that day (a negative age), only within the skew."""
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.fresh = Freshness(last_sync_at=T0 + timedelta(days=1), central_up=False)
    assert codes(rig.lane.plate(read())) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "stale_replica"
    rig.fresh = Freshness(last_sync_at=T0 + timedelta(seconds=2), central_up=True)
    assert codes(rig.lane.plate(read(vrn="CD5678"))) == [C.NO_BUNDLE]  # within the skew


def test_rule6_stale_at_manifest_time_fails_closed() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.lane.plate(read())
    rig.clock.advance(400)  # no sync since T0; the timeout is 60s but no tick came
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert codes(out) == [C.STOP_SEE_OFFICER]


def test_rule6_centre_down_but_fresh_decides_offline() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.fresh = Freshness(last_sync_at=T0 - timedelta(seconds=200), central_up=False)
    assert codes(rig.lane.plate(read())) == [C.DROP_MANIFEST]
    assert codes(rig.lane.manifest(ManifestDropped(source="sensor"))) == [C.PROCEED]
    rig.clock.advance(8)
    assert only_record(rig.lane.tick()).offline is True
    rig.fresh = Freshness(last_sync_at=T0, central_up=True)
    rig.lane.plate(read())
    rig.lane.manifest(ManifestDropped(source="sensor"))
    rig.clock.advance(8)
    assert only_record(rig.lane.tick()).offline is False


def test_rule6_a_decision_on_a_stale_replica_is_offline() -> None:
    """A truck told INSPECT lately is told INSPECT again on a stale replica (the lanes'
    own memory): its record is ``offline``, as the replica was not known current. So is a
    stale replica's STOP. Before, both records said the replica was current."""
    rig = Rig(unladen_inspect_share=1.0)
    sampled_for_inspection(rig, read())
    rig.fresh = Freshness(last_sync_at=rig.clock.now - timedelta(seconds=301), central_up=True)
    out = rig.lane.plate(read())
    assert codes(out) == [C.INSPECT]
    rig.clock.advance(8)
    assert only_record(rig.lane.tick()).offline is True
    assert codes(rig.lane.plate(read(vrn="CD5678"))) == [C.STOP_SEE_OFFICER]
    rig.clock.advance(8)
    record = only_record(rig.lane.tick())
    assert (record.reason, record.offline) == ("stale_replica", True)


def test_replica_error_fails_closed() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.fail_lookup = True
    assert codes(rig.lane.plate(read())) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "replica_error"


def test_a_session_that_cannot_end_is_dropped_not_stopped_for_ever(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Its record cannot be made (a bug): the next truck gets a session of its own
    (STOP, not in the truck before's session); a session that then cannot end either is
    dropped once it has failed closed, and the lane is READY; at start-up too."""
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    assert codes(rig.lane.plate(read())) == [C.PROCEED]

    def unmakeable(**fields: Any) -> ClearanceRecord:
        raise ValueError("no record")

    monkeypatch.setattr("sync.lane.ClearanceRecord", unmakeable)
    out = rig.lane.plate(read(vrn="CD5678"))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.instructions[0].vrn == "CD5678"
    session = rig.lane.session
    assert session is not None
    assert (session.vrn, session.reason, len(session.instructions)) == ("CD5678", "lane_error", 1)
    rig.clock.advance(8)
    out = rig.lane.tick()  # its end fails too: dropped, READY
    assert (codes(out), out.records) == ([C.READY], [])
    assert rig.lane.session is None
    assert not rig.lane.tick().changed
    # at start-up: a session a crash left open that cannot end
    caplog.clear()
    out = rig.lane.start(session)
    assert (codes(out), out.records, rig.lane.session) == ([C.READY], [], None)
    (dropped,) = [r for r in caplog.records if "left open by a crash" in r.getMessage()]
    assert dropped.getMessage() == (
        f"lane L01: the session of CD5678 ({session.id}), left open by a crash, cannot end:"
        " dropped, its record lost"
    )
    assert dropped.exc_info is not None  # what the end raised


def test_a_rule_that_raises_fails_closed_and_keeps_the_record_before(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anything a rule raises (a bug, or data no rule foresaw: here a bundle's earliest
    time past what UTC can hold, then a replica that raises what it should not): the
    truck at the lane gets STOP_SEE_OFFICER in place of the truck before's PROCEED, whose
    record is kept."""
    beyond_utc = datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1)))
    rig = Rig(
        [
            make_bundle("9110635860", "AB1234"),
            make_bundle("9110635861", "CD5678", earliest_at=beyond_utc),
        ],
        manifest_required=False,
    )
    assert codes(rig.lane.plate(read())) == [C.PROCEED]
    with caplog.at_level(logging.ERROR, logger="sync.lane"):
        out = rig.lane.plate(read(vrn="CD5678"))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.instructions[0].vrn == "CD5678"
    record = only_record(out)
    assert (record.vrn, record.outcome, record.reason) == ("AB1234", C.PROCEED, "next_vehicle")
    assert "lane L01: cannot decide: showing STOP_SEE_OFFICER" in caplog.text
    rig.clock.advance(8)
    record = only_record(rig.lane.tick())
    assert (record.vrn, record.outcome, record.reason) == (
        "CD5678",
        C.STOP_SEE_OFFICER,
        "lane_error",
    )

    def broken(plate: str) -> list[Bundle]:
        raise RuntimeError("not a ReplicaError")

    rig.lane._lookup = broken
    out = rig.lane.plate(read())
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert rig.lane.session is not None
    assert rig.lane.session.reason == "lane_error"


# -- presses that make no sense ----------------------------------------------------------


def test_ignored_presses_are_recorded_and_change_nothing() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    # anything while READY: no session to record into, nothing changes
    out = rig.lane.unladen(UnladenPressed())
    assert (out.changed, out.ignored) == (False, ["lane_ready"])
    assert not rig.lane.manifest(ManifestDropped(source="panel")).changed
    rig.lane.plate(read())
    out = rig.lane.unladen(UnladenPressed())  # unladen while DROP_MANIFEST
    assert (out.changed, out.ignored) == (False, ["unladen_at_drop_manifest"])
    rig.lane.manifest(ManifestDropped(source="sensor"))
    out = rig.lane.manifest(ManifestDropped(source="sensor"))  # again, at PROCEED
    assert out.ignored == ["manifest_at_proceed"]
    rig.clock.advance(8)
    record = only_record(rig.lane.tick())
    assert record.outcome is C.PROCEED
    assert [(a.kind, a.ignored) for a in record.actions] == [
        ("unladen", True),
        ("manifest", False),
        ("manifest", True),
    ]


def test_ignored_presses_kept_in_the_record_are_bounded_and_not_repeated() -> None:
    """A looping panel or a bouncing sensor: the session keeps MAX_IGNORED_ACTIONS of
    its ignored presses (it is written at every change, and its record must stay within
    what the centre takes); a press delivered again is kept once."""
    rig = Rig([])
    assert codes(rig.lane.plate(read(vrn="ZZ9"))) == [C.NO_BUNDLE]
    again = ManifestDropped(source="sensor")
    assert rig.lane.manifest(again).ignored == ["manifest_at_no_bundle"]
    assert rig.lane.manifest(again).ignored == ["manifest_at_no_bundle"]
    for _ in range(200):
        assert rig.lane.manifest(ManifestDropped(source="sensor")).ignored
    session = rig.lane.session
    assert session is not None
    assert len(session.actions) == MAX_IGNORED_ACTIONS
    assert [a.id for a in session.actions].count(again.id) == 1
    assert codes(rig.lane.unladen(UnladenPressed(vrn="ZZ9"))) == [C.PROCEED]  # still answers
    assert [a.ignored for a in session.actions[-1:]] == [False]


def test_a_read_delivered_again_after_the_next_truck_changes_nothing() -> None:
    """MQTT QoS 1 sends a read again when its acknowledgement was lost. Truck A's read,
    delivered again once truck B stands at the lane, ended B's session and showed A's
    PROCEED in front of B. A read's id is remembered across sessions and restarts."""
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    first = read(vrn="AB1234")
    assert codes(rig.lane.plate(first)) == [C.PROCEED]
    left_open = rig.lane.session
    rig.clock.advance(2)
    assert codes(rig.lane.plate(read(vrn="CD5678"))) == [C.NO_BUNDLE]
    rig.clock.advance(1)
    out = rig.lane.plate(first)
    assert (out.payloads, out.records, out.ignored) == ([], [], ["redelivered"])
    assert rig.lane.session is not None
    assert (rig.lane.session.vrn, rig.lane.code) == ("CD5678", C.NO_BUNDLE)
    # a restart that finds A's session open remembers A's read
    assert left_open is not None
    again = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    assert codes(again.lane.start(left_open)) == [C.READY]
    assert again.lane.plate(first).ignored == ["redelivered"]
    assert again.lane.code == C.READY


@pytest.mark.parametrize("kind", ["manifest", "unladen"])
def test_an_action_naming_its_instruction_answers_that_one_only(kind: str) -> None:
    """Our panel names the instruction a press or a drop answers (``instruction_seq``).
    Truck A's drop, sent while the panel's link was down, reaches the lane once truck B
    is shown DROP_MANIFEST: it answered A's, and B does not go without its manifest.
    B's own, from a panel whose clock lags 4 s (past the 2 s the times allow), counts."""
    if kind == "manifest":
        rig = Rig([make_bundle("9110635860", "AB1234"), make_bundle("9110635861", "CD5678")])
        expected = C.DROP_MANIFEST
    else:
        rig = Rig([])
        expected = C.NO_BUNDLE
    first = rig.lane.plate(read())
    assert codes(first) == [expected]
    first_seq = first.instructions[0].seq
    rig.clock.advance(1)
    second = rig.lane.plate(read(vrn="CD5678"))  # truck B, as A drives off
    assert codes(second) == [expected]
    lagging = rig.clock.now - timedelta(seconds=4)

    def act(seq: int) -> LaneOutput:
        if kind == "manifest":
            return rig.lane.manifest(
                ManifestDropped(source="sensor", ts=lagging, instruction_seq=seq)
            )
        return rig.lane.unladen(UnladenPressed(vrn="CD5678", ts=lagging, instruction_seq=seq))

    out = act(first_seq)
    assert (codes(out), out.ignored) == ([], [f"{kind}_other_instruction"])
    assert rig.lane.code is expected
    out = act(second.instructions[0].seq)
    assert codes(out) != []
    assert out.ignored == []


@pytest.mark.parametrize("kind", ["manifest", "unladen"])
def test_an_action_made_before_the_instruction_it_would_answer_is_ignored(kind: str) -> None:
    """A panel that lost the broker sends its queued actions when it is back: a drop made
    for truck A (while the booth showed STOP) must not release truck B, asked later."""
    if kind == "manifest":
        rig = Rig([make_bundle("9110635860", "AB1234")])
        expected = C.DROP_MANIFEST
    else:
        rig = Rig([])
        expected = C.NO_BUNDLE
    rig.clock.advance(30)
    assert codes(rig.lane.plate(read())) == [expected]
    shown_at = rig.clock.now
    stale_ts = shown_at - timedelta(seconds=3)  # made before the instruction, 3 s
    if kind == "manifest":
        out = rig.lane.manifest(ManifestDropped(source="sensor", ts=stale_ts))
    else:
        out = rig.lane.unladen(UnladenPressed(vrn="AB1234", ts=stale_ts))
    assert codes(out) == []
    assert out.ignored == [f"{kind}_before_instruction"]
    assert rig.lane.code is expected
    fresh_ts = shown_at - timedelta(seconds=1)  # within the booth PCs' clock skew
    if kind == "manifest":
        out = rig.lane.manifest(ManifestDropped(source="sensor", ts=fresh_ts))
    else:
        out = rig.lane.unladen(UnladenPressed(vrn="AB1234", ts=fresh_ts))
    assert codes(out) != []


@pytest.mark.parametrize("kind", ["manifest", "unladen"])
def test_an_action_stamped_ahead_of_the_lanes_clock_is_ignored(kind: str) -> None:
    """An action without the instruction's seq is judged by its time; a panel whose
    clock runs ahead makes a drop queued for truck A (while it had lost the broker)
    look made after truck B's DROP_MANIFEST: more than SYNC_CLOCK_SKEW ahead, it is
    not judged, and B is not released on it."""
    rig = Rig([make_bundle("9110635860", "AB1234")]) if kind == "manifest" else Rig([])
    expected = C.DROP_MANIFEST if kind == "manifest" else C.NO_BUNDLE
    assert codes(rig.lane.plate(read())) == [expected]
    ahead = rig.clock.now + timedelta(seconds=6)
    if kind == "manifest":
        out = rig.lane.manifest(ManifestDropped(source="sensor", ts=ahead))
    else:
        out = rig.lane.unladen(UnladenPressed(vrn="AB1234", ts=ahead))
    assert (codes(out), out.ignored) == ([], [f"{kind}_clock_ahead"])
    assert rig.lane.code is expected
    within = rig.clock.now + timedelta(seconds=4)
    if kind == "manifest":
        out = rig.lane.manifest(ManifestDropped(source="sensor", ts=within))
    else:
        out = rig.lane.unladen(UnladenPressed(vrn="AB1234", ts=within))
    assert codes(out) != []


def test_manifest_while_no_bundle_is_ignored() -> None:
    rig = Rig()
    rig.lane.plate(read())
    out = rig.lane.manifest(ManifestDropped(source="panel"))
    assert out.ignored == ["manifest_at_no_bundle"]
    assert rig.lane.code is C.NO_BUNDLE


# -- superseding -------------------------------------------------------------------------


def test_same_vrn_again_is_ignored_other_vrn_supersedes() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    first = rig.lane.plate(read()).instructions[0]
    rig.clock.advance(1)
    again = read(confidence=0.99)
    out = rig.lane.plate(again)
    assert not out.changed
    assert out.ignored == ["same_truck"]
    rig.clock.advance(1)
    out = rig.lane.plate(read(vrn="CD5678"))
    # the new truck's instruction replaces the old one's: no READY between them
    assert codes(out) == [C.NO_BUNDLE]
    assert out.instructions[0].seq > first.seq
    assert out.instructions[0].vrn == "CD5678"
    record = only_record(out)
    assert (record.vrn, record.outcome, record.reason) == (
        "AB1234",
        C.DROP_MANIFEST,
        "next_vehicle",
    )
    # the read ignored is in the truck's record all the same: what the lane saw
    assert [r.confidence for r in record.plate_reads] == [0.95, 0.99]
    assert record.plate_reads[1].id == again.id
    assert rig.lane.session is not None
    assert rig.lane.session.vrn == "CD5678"
    assert len(rig.lane.session.plate_reads) == 1


def test_a_truck_read_over_and_over_keeps_a_bounded_record() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.lane.plate(read())
    for _ in range(MAX_SESSION_READS + 10):
        rig.clock.advance(0.5)
        assert rig.lane.plate(read()).ignored == ["same_truck"]
    rig.clock.advance(1)
    record = only_record(rig.lane.plate(read(vrn="CD5678")))
    assert len(record.plate_reads) == MAX_SESSION_READS


def test_the_other_plate_of_the_same_truck_is_the_same_truck() -> None:
    """The AVRS may publish a cross-boundary truck twice: Mainland plate first, the HK
    plate when the camera catches it. One truck, one session, one record."""
    rig = Rig([make_bundle("9110635860", "AB1234", second_plate="粤Z1234港")])
    assert codes(rig.lane.plate(read(vrn="粤Z1234港"))) == [C.DROP_MANIFEST]
    rig.clock.advance(1)
    again = rig.lane.plate(
        read(vrn="AB1234", alternates=[Alternate(vrn="粤Z1234港", confidence=0.9)])
    )
    assert not again.changed
    assert again.ignored == ["same_truck"]
    out = rig.lane.manifest(ManifestDropped(source="sensor"))
    assert codes(out) == [C.PROCEED]
    # and the other way round, from a trusted alternate of the first read
    rig2 = Rig([make_bundle("9110635860", "AB1234", second_plate="粤Z1234港")])
    rig2.lane.plate(read(vrn="AB1234"))
    assert not rig2.lane.plate(read(vrn="粤Z1234港")).changed


def test_the_same_truck_is_told_without_a_second_lookup() -> None:
    """The bundle's plates are kept from the decision: a read that finds a session open
    costs no replica look-up for the session's bundle (it cost every such read one). The
    read itself looks the bundle's other plate up too (one hop, ``Lane._truck_bundles``)."""
    rig = Rig([make_bundle("9110635860", "AB1234", second_plate="粤Z1234港")])
    asked = rig.asked
    assert codes(rig.lane.plate(read(vrn="AB1234"))) == [C.DROP_MANIFEST]
    assert asked == ["AB1234", "粤Z1234港"]
    rig.clock.advance(1)
    assert rig.lane.plate(read(vrn="粤Z1234港")).ignored == ["same_truck"]
    assert asked == ["AB1234", "粤Z1234港"]
    # cancelled meanwhile: still the truck at the lane (its plates did not change)
    rig.bundles = []
    assert rig.lane.plate(read(vrn="粤Z1234港")).ignored == ["same_truck"]
    # another truck: only its own look-up (no bundle, no hop)
    out = rig.lane.plate(read(vrn="CD5678"))
    assert codes(out) == [C.NO_BUNDLE]
    assert asked == ["AB1234", "粤Z1234港", "CD5678"]


def test_too_early_and_wrong_control_point_sessions_know_their_truck() -> None:
    later = T0 + timedelta(minutes=10)
    rig = Rig([make_bundle("9110635860", "AB1234", second_plate="粤Z1234港", earliest_at=later)])
    assert codes(rig.lane.plate(read(vrn="AB1234"))) == [C.TOO_EARLY]
    assert rig.lane.plate(read(vrn="粤Z1234港")).ignored == ["same_truck"]
    # a bundle for another control point is not this lane's to vouch for: its other
    # plate is another session, as before
    rig = Rig([make_bundle("9110635860", "AB1234", second_plate="粤Z1234港", cp="LMC")])
    assert codes(rig.lane.plate(read(vrn="AB1234"))) == [C.WRONG_CONTROL_POINT]
    out = rig.lane.plate(read(vrn="粤Z1234港"))
    assert codes(out) == [C.WRONG_CONTROL_POINT]
    assert only_record(out).reason == "next_vehicle"


def test_a_good_read_after_an_unread_one_starts_over_as_a_reread() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    assert codes(rig.lane.plate(read(vrn="", confidence=0.0))) == [C.STOP_SEE_OFFICER]
    rig.clock.advance(1)
    out = rig.lane.plate(read(vrn="AB1234"))
    assert codes(out) == [C.DROP_MANIFEST]
    assert only_record(out).reason == "reread"


def test_next_vehicle_during_a_proceed_hold_shows_its_own_code() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False)
    assert codes(rig.lane.plate(read())) == [C.PROCEED]
    rig.clock.advance(2)
    out = rig.lane.plate(read(vrn="", confidence=0.0))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert only_record(out).outcome is C.PROCEED


# -- instructions: seq, expiry, signature -----------------------------------------------


def test_instructions_are_signed_with_increasing_seq_and_expiry() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")], hold_s=8, timeout_s=60)
    seen: list[Instruction] = []
    wire: list[bytes] = []
    for out in (
        rig.lane.start(),
        rig.lane.plate(read()),
        rig.lane.manifest(ManifestDropped(source="sensor")),  # same ms
    ):
        seen += out.instructions
        wire += out.payloads
    rig.clock.advance(8)
    out = rig.lane.tick()
    seen += out.instructions
    wire += out.payloads
    # what goes on the wire is the instruction, signed
    assert [verify_payload(p, KEY) for p in wire] == seen
    assert [i.code for i in seen] == [C.READY, C.DROP_MANIFEST, C.PROCEED, C.READY]
    seqs = [i.seq for i in seen]
    assert seqs == sorted(set(seqs))
    assert seqs[0] == int(T0.timestamp() * 1000)
    assert seen[0].expires_at is None
    assert seen[1].expires_at == T0 + timedelta(seconds=65)
    assert seen[2].expires_at == T0 + timedelta(seconds=13)
    for instruction in seen:
        assert verify_payload(instruction.to_bytes(), KEY) == instruction


def test_seq_survives_restart_and_a_lost_database() -> None:
    rig = Rig()
    rig.clock.advance(100)
    last = rig.lane.start().instructions[-1].seq
    # restart with the stored last_seq while the clock went back a little
    rig2 = Rig()
    rig2.lane.last_seq = last
    assert rig2.lane.start().instructions[0].seq == last + 1
    # database lost: seq from the clock, still above anything before
    rig3 = Rig()
    rig3.clock.advance(101)
    assert rig3.lane.start().instructions[0].seq > last


def test_start_closes_a_session_left_open() -> None:
    rig = Rig([make_bundle("9110635860", "AB1234")])
    rig.lane.plate(read())
    saved = Session.model_validate_json(rig.lane.session.model_dump_json())  # type: ignore[union-attr]
    rig2 = Rig()
    rig2.lane.last_seq = rig.lane.last_seq
    out = rig2.lane.start(saved)
    assert codes(out) == [C.READY]
    record = only_record(out)
    assert (record.outcome, record.reason, record.vrn) == (
        C.DROP_MANIFEST,
        "agent_restart",
        "AB1234",
    )
    assert record.plate_reads[0].vrn == "AB1234"
    assert record.instructions == [
        InstructionLog.model_validate(i.model_dump()) for i in saved.instructions
    ]


def test_hand_built_instructions_and_records_are_what_the_models_make() -> None:
    """The lane builds instructions, sessions and records without re-validating (speed):
    on every rule, the wire bytes must be the model's own form and every record valid."""
    early = T0 + timedelta(minutes=10)
    bundles = [
        make_bundle("9110635860", "AB1234"),
        make_bundle("9110635861", "CD5678", result="INSPECT", bay="B7"),
        make_bundle("9110635862", "EF9012", earliest_at=early),
        make_bundle("9110635863", "GH3456", cp="LMC"),
    ]
    rig = Rig(bundles, manifest_required=True, unladen_inspect_share=1.0, timeout_s=30, hold_s=5)
    outs = [rig.lane.start()]
    for vrn in ("AB1234", "CD5678"):
        outs.append(rig.lane.plate(read(vrn=vrn)))
        outs.append(rig.lane.manifest(ManifestDropped(source="panel")))
        rig.clock.advance(5)
        outs.append(rig.lane.tick())
    for vrn in ("EF9012", "GH3456", "ZZ0001", ""):
        outs.append(rig.lane.plate(read(vrn=vrn, confidence=0.95 if vrn else 0.0)))
        rig.clock.advance(1)
    outs.append(rig.lane.unladen(UnladenPressed()))  # unladen pressed at no-plate: ignored
    outs.append(rig.lane.plate(read(vrn="ZZ0002")))
    outs.append(rig.lane.unladen(UnladenPressed(vrn="ZZ0002")))
    rig.clock.advance(5)
    outs.append(rig.lane.tick())
    outs.append(rig.lane.plate(read(vrn="ZZ0003")))
    rig.clock.advance(30)
    outs.append(rig.lane.tick())  # driver timeout
    shown = {i.code for out in outs for i in out.instructions}
    assert shown == set(C)
    records = [r for out in outs for r in out.records]
    assert len(records) >= 7
    by_seq: dict[int, Instruction] = {}
    for out in outs:
        assert [i.code for i in out.instructions] == out.codes
        for payload in out.payloads:
            parsed = Instruction.model_validate_json(payload)
            assert json.loads(payload) == {**parsed.to_dict()}
            # byte for byte what the general signing path makes of the model
            assert payload == signed_payload(parsed.to_dict(), KEY)[1]
            assert verify_payload(payload, KEY) == parsed
            by_seq[parsed.seq] = parsed
    for record in records:
        assert ClearanceRecord.model_validate_json(record.model_dump_json()) == record
        # the session's log of what it showed is what went on the wire
        for logged in record.instructions:
            shown_one = by_seq[logged.seq]
            assert (logged.code, logged.ts, logged.bay, logged.earliest_at) == (
                shown_one.code,
                shown_one.ts,
                shown_one.bay,
                shown_one.earliest_at,
            )
    for session in [rig.lane.session] if rig.lane.session is not None else []:
        assert Session.model_validate_json(session.model_dump_json()) == session


@pytest.mark.parametrize("step", ["read", "unladen", "manifest"])
def test_a_truck_told_inspect_is_told_so_again_on_a_stale_replica(step: str) -> None:
    """The replica too old, every other truck is stopped (rule 6); a truck told INSPECT
    lately is told INSPECT again, not STOP: the memory is the lanes' own, and a STOP is a
    truck an officer may wave on, not knowing it was inspected."""
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=True)
    if step == "read":
        rig.lane._inspections.remember(["AB1234"], rig.clock.now, "B7")
    first = rig.lane.plate(read(vrn="AB1234" if step != "unladen" else "CD5678"))
    if step == "manifest":
        assert codes(first) == [C.DROP_MANIFEST]
        rig.lane._inspections.remember(["AB1234"], rig.clock.now, "B7")
    if step == "unladen":
        assert codes(first) == [C.NO_BUNDLE]
        rig.lane._inspections.remember(["CD5678"], rig.clock.now, "B7")
    rig.clock.advance(5)
    rig.fresh = Freshness(last_sync_at=T0 - timedelta(hours=1), central_up=False)
    if step == "read":
        out = first
        rig.clock.advance(1)
        rig.lane.plate(read(vrn="EF9"))  # another truck: the lane is closed
        assert rig.lane.session is not None
        assert rig.lane.session.reason == "stale_replica"
        rig.clock.advance(20)
        rig.lane.tick()  # EF9's hold over: READY
        out = rig.lane.plate(read(vrn="AB1234"))
    elif step == "unladen":
        out = rig.lane.unladen(UnladenPressed(vrn="CD5678"))
    else:
        out = rig.lane.manifest(ManifestDropped(vrn="AB1234", ubr="9110635860", source="panel"))
    assert codes(out)[-1] == C.INSPECT
    assert out.decisions[-1][2] == "inspect_pending"


def test_a_read_of_the_truck_before_delivered_late_leaves_the_truck_at_the_lane_alone() -> None:
    """Truck A (PROCEED) leaves; B (INSPECT) pulls up and is read; then A's read by a
    slower reader, taken before B came, arrives. It ended B's session and showed A's
    PROCEED in front of B (on a manifest lane B's own drop then released B). Taken
    before the truck at the lane was first seen, it is ignored; and with nobody at the
    lane, a read of the truck that just left taken before its session ended is too."""
    bundles = [
        make_bundle("9110635860", "AB1234", result="PROCEED"),
        make_bundle("9110635861", "CD5678", result="INSPECT", bay="B7"),
    ]
    rig = Rig(bundles, manifest_required=False)
    taken = rig.clock.now + timedelta(seconds=1)
    assert codes(rig.lane.plate(read("AB1234"))) == [C.PROCEED]
    rig.clock.advance(6)
    assert codes(rig.lane.plate(read("CD5678"))) == [C.INSPECT]
    rig.clock.advance(1)
    out = rig.lane.plate(read("AB1234", ts=taken))
    assert (codes(out), out.ignored) == ([], ["read_before_truck"])
    assert rig.lane.session is not None
    assert rig.lane.session.vrn == "CD5678"
    # READY: A's hold ended; a read of A taken well before that end arrives
    rig = Rig(bundles, manifest_required=False, hold_s=8)
    assert codes(rig.lane.plate(read("AB1234"))) == [C.PROCEED]
    rig.clock.advance(8)
    assert codes(rig.lane.tick()) == [C.READY]
    rig.clock.advance(1)
    out = rig.lane.plate(read("AB1234", ts=T0 + timedelta(seconds=1.5)))
    assert (codes(out), out.ignored) == ([], ["read_before_truck"])
    # A back later: read now, decided as ever
    rig.clock.advance(30)
    assert codes(rig.lane.plate(read("AB1234"))) == [C.PROCEED]


def test_a_new_plate_is_checked_against_the_bundle_with_the_trucks_first_plate() -> None:
    """Truck A read by AB1234 (no bundle), then a Mainland read with AB1234 as its
    runner-up: B's bundle (CD5678 with that Mainland plate) was found by it and, the new
    plate taken as the read plate, trusted: A released on B's bundle. The truck's first
    plate is the read plate: B's bundle does not carry it, STOP."""
    mainland = "粤Z5678港"
    rig = Rig([make_bundle("9110635861", "CD5678", second_plate=mainland)], manifest_required=False)
    assert codes(rig.lane.plate(read("AB1234"))) == [C.NO_BUNDLE]
    rig.clock.advance(2)
    out = rig.lane.plate(read(mainland, alternates=[Alternate(vrn="AB1234", confidence=0.9)]))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.decisions[-1][2] == "ambiguous_plate"


def test_an_unladen_press_delivered_again_answers_nothing_shown_since() -> None:
    """A's press (PROCEED) delivered again (QoS 1, the same id) after the lane asked again
    (unladen_asked_again: the read may be the next truck's) answered that question."""
    rig = Rig(unladen_inspect_share=0.0)
    rig.lane.plate(read("AB1234"))
    rig.clock.advance(3)
    press = UnladenPressed(vrn="AB1234", ts=rig.clock.now)
    assert codes(rig.lane.unladen(press)) == [C.PROCEED]
    rig.clock.advance(1.5)
    b_read = read("粤Z5678港", alternates=[Alternate(vrn="AB1234", confidence=0.9)])
    assert codes(rig.lane.plate(b_read)) == [C.NO_BUNDLE]
    rig.clock.advance(0.3)
    out = rig.lane.unladen(press)
    assert (codes(out), out.ignored) == ([], ["redelivered"])


@pytest.mark.parametrize("vrn", ["CD5678", ""], ids=["read", "unread"])
def test_a_new_trucks_read_by_a_lagging_reader_is_never_left_behind_a_proceed(vrn: str) -> None:
    """Two readers on one lane, the camera's clock 6 s behind the serial reader's: truck
    B's read 4 s after A's is stamped before A was first seen. Ignored as "the truck
    before" (tried, 2026-12-07), it left A's PROCEED in front of B. A read stamped early
    that names neither the truck before nor the truck at the lane: STOP (an officer
    looks), never ignored."""
    bundles = [
        make_bundle("9110635860", "AB1234", result="PROCEED"),
        make_bundle("9110635861", "CD5678", result="INSPECT", bay="B7"),
    ]
    rig = Rig(bundles, manifest_required=False)
    assert codes(rig.lane.plate(read("AB1234"))) == [C.PROCEED]
    rig.clock.advance(4)
    out = rig.lane.plate(read(vrn, ts=rig.clock.now - timedelta(seconds=6)))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.decisions[-1][2] == "read_before_truck"
    assert [r.vrn for r in out.records] == ["AB1234"]


def test_a_better_read_of_an_unread_truck_stamped_a_little_earlier_decides_it() -> None:
    """The serial reader's unread of B, then the camera's good read of B (its longer
    settle: stamped 0.2 s earlier): the truck read again, decided (reread)."""
    rig = Rig(
        [make_bundle("9110635861", "CD5678", result="INSPECT", bay="B7")], manifest_required=False
    )
    seen = rig.clock.now
    rig.clock.advance(0.2)
    assert codes(rig.lane.plate(read(""))) == [C.STOP_SEE_OFFICER]
    rig.clock.advance(0.5)
    assert codes(rig.lane.plate(read("CD5678", ts=seen))) == [C.INSPECT]


def test_a_new_plate_whose_bundle_names_another_plate_of_the_first_kind_stops() -> None:
    """Known by its Mainland plate; a bundle naming that plate with another Hong Kong
    plate (CD5678) reached the replica since; then a read of AB1234 with the Mainland
    plate as runner-up: that bundle is another truck's by the read plate AB1234. STOP,
    not PROCEED on CD5678's bundle. The truck's own bundle (AB1234, or AB1234 with the
    Mainland plate) is trusted either way round."""
    mainland = "粤Z1234港"
    rig = Rig([], manifest_required=False)
    assert codes(rig.lane.plate(read(mainland))) == [C.NO_BUNDLE]
    rig.bundles.append(make_bundle("9110635861", "CD5678", second_plate=mainland))
    rig.clock.advance(2)
    out = rig.lane.plate(read("AB1234", alternates=[Alternate(vrn=mainland, confidence=0.9)]))
    assert codes(out) == [C.STOP_SEE_OFFICER]
    assert out.decisions[-1][2] == "ambiguous_plate"
    for second in (None, mainland):
        own = Rig([], manifest_required=False)
        own.lane.plate(read(mainland))
        own.bundles.append(make_bundle("9110635860", "AB1234", second_plate=second))
        own.clock.advance(2)
        again = read("AB1234", alternates=[Alternate(vrn=mainland, confidence=0.9)])
        assert codes(own.lane.plate(again)) == [C.PROCEED]


def test_the_truck_before_is_known_by_its_own_plates_not_a_read_taken_in_by_a_runner_up() -> None:
    """A (AB1234, PROCEED); the next truck's Mainland read with AB1234 as its runner-up
    is taken in as "the same truck" during A's hold. That plate is not A's: remembered
    as A's, a later read of the next truck by it could be ignored as the truck before's."""
    rig = Rig([make_bundle("9110635860", "AB1234")], manifest_required=False, hold_s=8)
    assert codes(rig.lane.plate(read("AB1234"))) == [C.PROCEED]
    rig.clock.advance(4)
    paired = read("粤Z5678港", alternates=[Alternate(vrn="AB1234", confidence=0.9)])
    assert rig.lane.plate(paired).ignored == ["same_truck"]
    rig.clock.advance(4)
    assert codes(rig.lane.tick()) == [C.READY]
    rig.clock.advance(1)
    again = read("粤Z5678港", ts=T0 + timedelta(seconds=2))  # the camera's, stamped early
    out = rig.lane.plate(again)
    assert out.ignored == []
    assert codes(out) == [C.NO_BUNDLE]  # decided: the next truck's plate, not A's

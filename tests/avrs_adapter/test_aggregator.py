"""The aggregator with a hand-driven clock: one PlateRead per truck, debounce, vote, alternates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from avrs_adapter.aggregator import Aggregator
from avrs_adapter.errors import AvrsError
from avrs_adapter.grammar import one_char_off, torn_from
from avrs_adapter.observation import Observation
from rocars.messages import PlateRead


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def agg(clock: Clock) -> Aggregator:
    return Aggregator(settle=0.3, window=5.0, decisive_reads=3, clock=clock)


def see(
    agg: Aggregator,
    clock: Clock,
    vrn: str,
    confidence: float = 0.9,
    *,
    raw: str | None = None,
    alternates: tuple[tuple[str, float], ...] = (),
    source: str = "serial",
) -> list[PlateRead]:
    obs = Observation(
        vrn=vrn,
        raw=vrn if raw is None else raw,
        confidence=confidence,
        source=source,  # type: ignore[arg-type]
        device="lpr0",
        at=clock.now,
        alternates=alternates,
    )
    return agg.add(obs)


def settle(agg: Aggregator, clock: Clock) -> list[PlateRead]:
    deadline = agg.next_deadline()
    assert deadline is not None
    clock.now = deadline
    return agg.poll()


def test_single_read_waits_for_settle_then_publishes_once(agg: Aggregator, clock: Clock) -> None:
    assert see(agg, clock, "AB1234", 0.9, raw="AB 1234") == []
    assert agg.next_deadline() == pytest.approx(1000.3)
    clock.advance(0.29)
    assert agg.poll() == []
    clock.advance(0.01)
    (read,) = agg.poll()
    assert (read.vrn, read.raw, read.confidence, read.source, read.device) == (
        "AB1234",
        "AB 1234",
        0.9,
        "serial",
        "lpr0",
    )
    assert read.alternates == []
    assert agg.poll() == []
    assert agg.next_deadline() is None


def test_decisive_vote_publishes_before_settle(agg: Aggregator, clock: Clock) -> None:
    assert see(agg, clock, "AB1234") == []
    clock.advance(0.01)
    assert see(agg, clock, "AB1234") == []
    clock.advance(0.01)
    (read,) = see(agg, clock, "AB1234")
    assert read.vrn == "AB1234"
    assert agg.stats.published == 1


def test_repeats_within_window_are_debounced(agg: Aggregator, clock: Clock) -> None:
    see(agg, clock, "AB1234")
    assert len(settle(agg, clock)) == 1
    for _ in range(10):  # the truck sits at the booth; the camera keeps reading it
        clock.advance(2.0)
        assert see(agg, clock, "AB1234") == []
        assert see(agg, clock, "") == []
        assert agg.poll() == []
    assert agg.stats.published == 1
    assert agg.stats.debounced == 20


def test_same_plate_after_window_is_a_new_truck(agg: Aggregator, clock: Clock) -> None:
    see(agg, clock, "AB1234")
    settle(agg, clock)
    clock.advance(5.01)
    see(agg, clock, "AB1234")
    assert [r.vrn for r in settle(agg, clock)] == ["AB1234"]
    assert agg.stats.published == 2


def test_vote_weighted_by_confidence_and_runner_up_is_alternate(
    agg: Aggregator, clock: Clock
) -> None:
    see(agg, clock, "AB1284", 0.95)
    see(agg, clock, "AB1234", 0.6)
    see(agg, clock, "AB1234", 0.7)
    (read,) = settle(agg, clock)
    # AB1234 scores 1.3 against 0.95; its best confidence 0.7 times its share 1.3/2.25
    assert read.vrn == "AB1234"
    assert read.confidence == pytest.approx(round(0.7 * 1.3 / 2.25, 3))
    assert [(a.vrn, a.confidence) for a in read.alternates] == [("AB1284", 0.95)]


def test_one_confident_read_beats_two_weak_ones(agg: Aggregator, clock: Clock) -> None:
    see(agg, clock, "AB1234", 0.99)
    see(agg, clock, "AB1284", 0.3)
    see(agg, clock, "AB1284", 0.3)
    (read,) = settle(agg, clock)
    assert read.vrn == "AB1234"
    assert read.alternates[0].vrn == "AB1284"


def test_mainland_plate_goes_to_alternates_even_when_read_more(
    agg: Aggregator, clock: Clock
) -> None:
    see(agg, clock, "粤Z1234港", 0.99)
    see(agg, clock, "粤Z1234港", 0.99)
    see(agg, clock, "AB1234", 0.8)
    see(agg, clock, "粤Z1234港", 0.99)
    (read,) = settle(agg, clock)
    assert read.vrn == "AB1234"
    assert read.confidence == pytest.approx(0.8)  # the Mainland plate does not dilute it
    assert [(a.vrn, a.confidence) for a in read.alternates] == [("粤Z1234港", 0.99)]


def test_mainland_only_is_published_then_upgraded_by_hk_plate(
    agg: Aggregator, clock: Clock
) -> None:
    see(agg, clock, "粤Z1234港", 0.9)
    (first,) = settle(agg, clock)
    assert first.vrn == "粤Z1234港"
    clock.advance(0.5)
    see(agg, clock, "AB1234", 0.85)
    (second,) = settle(agg, clock)
    assert second.vrn == "AB1234"
    assert [a.vrn for a in second.alternates] == ["粤Z1234港"]
    assert agg.stats.upgrades == 1
    # and the truck is then debounced as usual
    clock.advance(1.0)
    assert see(agg, clock, "粤Z1234港") == []
    assert see(agg, clock, "AB1234") == []
    assert agg.poll() == []


def test_unread_only_publishes_an_unread(agg: Aggregator, clock: Clock) -> None:
    see(agg, clock, "", 0.4, raw="?")
    see(agg, clock, "", 0.5, raw="#@!")
    (read,) = settle(agg, clock)
    assert (read.vrn, read.confidence, read.raw) == ("", 0.0, "#@!")


def test_unread_then_plate_within_window_publishes_the_plate(agg: Aggregator, clock: Clock) -> None:
    see(agg, clock, "")
    (first,) = settle(agg, clock)
    assert first.vrn == ""
    clock.advance(1.0)
    see(agg, clock, "AB1234")
    (second,) = settle(agg, clock)
    assert second.vrn == "AB1234"


def test_mainland_plate_swallowed_after_an_unread_rides_with_the_upgrade(
    agg: Aggregator, clock: Clock
) -> None:
    see(agg, clock, "", 0.4)
    (first,) = settle(agg, clock)
    assert first.vrn == ""
    for confidence in (0.7, 0.9, 0.8):  # the truck's Mainland plate: swallowed, not lost
        clock.advance(0.3)
        assert see(agg, clock, "粤Z1234港", confidence) == []
    clock.advance(0.3)
    see(agg, clock, "AB1234", 0.85)
    (second,) = settle(agg, clock)
    assert second.vrn == "AB1234"
    assert [(a.vrn, a.confidence) for a in second.alternates] == [("粤Z1234港", 0.9)]
    assert (agg.stats.debounced, agg.stats.upgrades) == (3, 1)
    # kept once per plate, however often it is read while the truck waits
    assert agg._truck is not None
    assert [s.vrn for s in agg._truck.sightings] == ["粤Z1234港", "AB1234"]


def test_unread_sightings_do_not_outvote_a_plate(agg: Aggregator, clock: Clock) -> None:
    for _ in range(5):
        see(agg, clock, "", 0.9)
    see(agg, clock, "AB1234", 0.6)
    (read,) = settle(agg, clock)
    assert read.vrn == "AB1234"
    assert read.confidence == pytest.approx(0.6)


def test_late_misread_of_published_plate_is_debounced(agg: Aggregator, clock: Clock) -> None:
    for _ in range(3):
        see(agg, clock, "AB1234", 0.95)
    clock.advance(0.8)
    # one character off, rated below the published plate (0.785 with it in): the same truck
    assert see(agg, clock, "AB1284", 0.6) == []
    assert see(agg, clock, "A1234", 0.4) == []  # one character lost
    assert agg.poll() == []
    assert (agg.stats.debounced, agg.stats.doubts) == (2, 0)


def test_a_near_plate_read_as_confidently_sends_the_truck_again_with_it(clock: Clock) -> None:
    """Four frames of the approaching truck misread PA3523 (published at once), then
    PA3623 read close up at 0.992: the truck's read again, PA3523 rated with it in
    (0.95 x 3.8 / 4.792), PA3623 its first alternate, dated when PA3623 was seen; the
    lane, before it releases the truck, stops it. Once a plate (again only when read
    more confidently), never more than four times a truck."""
    agg = Aggregator(settle=0.3, clock=clock, wall_clock=lambda: wall_of(clock))
    reads = [
        r
        for _ in range(4)
        for r in see(agg, clock, "PA3523", 0.95, alternates=(("粤Z1234港", 0.9),))
    ]
    assert [(r.vrn, r.confidence) for r in reads] == [("PA3523", 0.95)]
    clock.advance(1.5)
    (doubt,) = see(agg, clock, "PA3623", 0.992)
    assert (doubt.vrn, doubt.confidence, doubt.raw) == ("PA3523", 0.753, "PA3523")
    assert [(a.vrn, a.confidence) for a in doubt.alternates] == [
        ("PA3623", 0.992),
        ("粤Z1234港", 0.9),
    ]
    assert doubt.ts == reads[0].ts + timedelta(seconds=1.5)
    assert doubt.id != reads[0].id
    assert see(agg, clock, "PA3623", 0.99) == []  # no more likely than told
    assert agg.stats.doubts == 1
    # other plates near it, each more confidently: four in all
    sent = [
        r
        for vrn, conf in [("PA3528", 0.99), ("PA3823", 0.99), ("PA3529", 0.99), ("PA3527", 0.99)]
        for r in see(agg, clock, vrn, conf)
    ]
    assert len(sent) == 3
    assert agg.stats.doubts == 4
    # read less confidently than the published plate now rates: no doubt
    clock.advance(10)
    for _ in range(3):
        see(agg, clock, "AB1234", 0.95)
    assert see(agg, clock, "AB1284", 0.5) == []
    assert agg.stats.doubts == 4


def test_a_doubt_is_sent_for_a_plate_the_first_vote_rated_below_the_read(
    agg: Aggregator, clock: Clock
) -> None:
    """PA3623 among the first vote's frames (published as a runner-up at 0.85, below
    PA3523's 0.866: no doubt at the lane), read again at 0.85 after the publication: the
    plate's rating has fallen to 0.77, and the doubt goes (it was skipped as told). And
    the rating sent is rounded down: 0.7127 rounded up to 0.713 passed the near plate's
    0.7128, and the lane saw no doubt."""
    see(agg, clock, "PA3623", 0.85)
    for _ in range(6):
        clock.advance(0.03)
        see(agg, clock, "PA3523", 0.99)
    (first,) = settle(agg, clock)
    assert (first.confidence, [(a.vrn, a.confidence) for a in first.alternates]) == (
        0.866,
        [("PA3623", 0.85)],
    )
    clock.advance(1.2)
    (doubt,) = see(agg, clock, "PA3623", 0.85)
    assert doubt.confidence == 0.769  # 0.99 x 5.94 / 7.64, the first vote's PA3623 in
    assert doubt.alternates[0].confidence >= doubt.confidence
    assert see(agg, clock, "PA3623", 0.85) == []  # told so now
    clock.advance(10)
    for _ in range(3):
        see(agg, clock, "PA3523", 0.9007)
    (doubt,) = see(agg, clock, "PA3623", 0.7128)
    assert (doubt.confidence, doubt.alternates[0].confidence) == (0.712, 0.7128)


def test_next_truck_with_a_near_plate_is_published(agg: Aggregator, clock: Clock) -> None:
    # a convoy: AB1234 read and published, seen a while more; AB1235 (one character off)
    # behind it is seen too. Its sightings do not keep AB1234's window open.
    reads: list[PlateRead] = []
    for _ in range(3):
        reads += see(agg, clock, "AB1234")
    start = clock.now
    for at, vrn in [(2, "AB1234"), (4, "AB1234"), (6, "AB1234")] + [
        (t, "AB1235") for t in (9, 10, 12, 14)
    ]:
        clock.now = start + at
        reads += see(agg, clock, vrn)
    # AB1235 read as confidently while AB1234 is seen: AB1234 sent again with it first
    assert [r.vrn for r in reads] == ["AB1234", "AB1234", "AB1235"]
    assert reads[1].alternates[0].vrn == "AB1235"


def test_near_plate_with_a_vote_of_its_own_is_published_while_the_first_is_seen(
    agg: Aggregator, clock: Clock
) -> None:
    # the first truck is still read (its window never closes); the next one, one
    # character off, is read three times within the window: it is the next truck
    reads = [r for _ in range(3) for r in see(agg, clock, "AB1234")]
    for vrn in ["AB1234", "AB1235", "AB1234", "AB1235", "AB1234", "AB1235"]:
        clock.advance(0.5)
        reads += see(agg, clock, vrn, 0.8)
    assert [(r.vrn, r.confidence) for r in reads] == [
        ("AB1234", 0.9),
        ("AB1234", 0.732),  # AB1235 read as confidently: sent again, once
        ("AB1235", 0.8),
    ]
    assert agg.stats.debounced == 3 + 2  # the first truck's repeats, two near reads
    clock.advance(0.5)
    assert see(agg, clock, "AB1235") == []  # now the open truck: a repeat


def test_plate_seen_as_an_alternate_is_published_once_it_has_its_own_vote(
    agg: Aggregator, clock: Clock
) -> None:
    see(agg, clock, "AB1234", alternates=(("KL9876", 0.4),), source="camera")
    (first,) = settle(agg, clock)
    assert [a.vrn for a in first.alternates] == ["KL9876"]
    reads: list[PlateRead] = []
    for _ in range(3):
        clock.advance(1.0)
        reads += see(agg, clock, "AB1234", source="camera")
        reads += see(agg, clock, "KL9876", source="camera")
    # read more confidently than it was told (0.4): AB1234 sent again with it at 0.9
    assert [r.vrn for r in reads] == ["AB1234", "KL9876"]
    assert [(a.vrn, a.confidence) for a in reads[0].alternates] == [("KL9876", 0.9)]


def test_one_or_two_misread_frames_of_the_published_truck_are_not_a_truck(
    agg: Aggregator, clock: Clock
) -> None:
    for _ in range(3):
        see(agg, clock, "AB1234")
    assert agg.stats.published == 1
    reads: list[PlateRead] = []
    for vrn in ["AB1284", "AB1234", "AB1234", "AB1284", "AB1234", "AB1294", "AB1234"]:
        clock.advance(0.4)
        reads += see(agg, clock, vrn, 0.6 if vrn != "AB1234" else 0.9)
    # the same misread again, but only after the window of the first: a fresh count
    clock.advance(4.9)
    reads += see(agg, clock, "AB1234")
    clock.advance(4.9)
    reads += see(agg, clock, "AB1284", 0.6)
    clock.advance(1.0)
    reads += agg.poll()
    assert reads == []
    assert agg.stats.published == 1


def test_clearly_different_plate_is_the_next_truck(agg: Aggregator, clock: Clock) -> None:
    see(agg, clock, "AB1234")
    settle(agg, clock)
    clock.advance(1.0)
    see(agg, clock, "KL9876")
    (read,) = settle(agg, clock)
    assert read.vrn == "KL9876"
    assert agg.stats.published == 2


def test_a_plate_torn_from_the_trucks_is_published_untrusted_unless_read_as_a_truck(
    agg: Aggregator, clock: Clock
) -> None:
    """A framed frame that lost two bytes whose XOR is zero passes its checksum as TT99
    after three reads of TT8899 (review, 2026-12-08): a sure read of the next truck, it
    ended the session of the truck at the booth with NO_BUNDLE, an Unladen press from a
    release. It may also be a real next truck (AB12 behind AB1234): it is published at
    once as ever (a PROCEED must not stay up in front of it), but rated 0.49 of its vote,
    a STOP at any lane, unless read as often as a decisive vote. The truck's own plate
    read again after it is a truck again, rated as read."""
    for _ in range(3):
        see(agg, clock, "TT8899", 0.95)
    clock.advance(0.05)
    assert see(agg, clock, "TT99", 0.95) == []
    (torn,) = settle(agg, clock)
    assert (torn.vrn, torn.confidence, agg.stats.torn) == ("TT99", 0.465, 1)
    clock.advance(0.1)
    (again,) = see(agg, clock, "TT8899", 0.95) + settle(agg, clock)
    assert (again.vrn, again.confidence) == ("TT8899", 0.95)
    # past the window too (the reader sends the standing truck again later), a second
    # tear after a first, and after an unread of the truck (an upgrade): each looked up
    # in the trucks published lately, not the one before only (fourth review)
    clock.advance(120)
    (late,) = see(agg, clock, "TT88", 0.95) + settle(agg, clock)
    assert (late.vrn, late.confidence) == ("TT88", 0.465)
    clock.advance(0.1)
    (second,) = see(agg, clock, "T99", 0.95) + settle(agg, clock)
    assert (second.vrn, second.confidence) == ("T99", 0.465)
    clock.advance(10)
    (unread,) = see(agg, clock, "", 0.0) + settle(agg, clock)
    clock.advance(0.5)
    (upgrade,) = see(agg, clock, "TT89", 0.95) + settle(agg, clock)
    assert (unread.vrn, upgrade.vrn, upgrade.confidence) == ("", "TT89", 0.465)
    assert agg.stats.torn == 4
    # a next truck read as often as a truck: rated as read
    clock.advance(10)
    for _ in range(3):
        see(agg, clock, "AB1234", 0.95)
    reads = [r for _ in range(3) for r in see(agg, clock, "AB12", 0.9)]
    assert [(r.vrn, r.confidence) for r in reads] == [("AB12", 0.9)]
    # plates two apart otherwise (another truck) are rated as read
    clock.advance(0.05)
    (read,) = see(agg, clock, "TU8891", 0.95) + settle(agg, clock)
    assert (read.vrn, read.confidence) == ("TU8891", 0.95)
    # a camera reads no torn frames
    clock.advance(0.05)
    (camera,) = see(agg, clock, "TU91", 0.95, source="camera") + settle(agg, clock)
    assert (camera.vrn, camera.confidence) == ("TU91", 0.95)


def test_a_torn_plate_is_looked_for_on_the_vote_and_in_every_truck_published_lately(
    agg: Aggregator, clock: Clock
) -> None:
    """Fifth review: a torn frame that joined a truck opened by an unread won its vote
    unlooked (only the opening read was); four re-sends of the standing truck by its
    Mainland plate pushed it out of the trucks looked in; and a tear of a plate the truck
    was doubted with was not looked for (a doubt did not add to the truck's plates)."""
    for _ in range(3):
        see(agg, clock, "TT8899", 0.95)
    clock.advance(6)
    see(agg, clock, "", 0.0)
    clock.advance(0.1)
    see(agg, clock, "TT99", 0.95)
    (opened_by_unread,) = settle(agg, clock)
    assert (opened_by_unread.vrn, opened_by_unread.confidence) == ("TT99", 0.465)
    for _ in range(4):
        clock.advance(10)
        see(agg, clock, "粤Z1234港", 0.9)
        settle(agg, clock)
    clock.advance(1)
    (after_resends,) = see(agg, clock, "TT88", 0.95) + settle(agg, clock)
    assert (after_resends.vrn, after_resends.confidence) == ("TT88", 0.465)
    clock.advance(20)
    for _ in range(3):
        see(agg, clock, "XY7789", 0.9)
    clock.advance(0.5)
    (doubt,) = see(agg, clock, "XY7788", 0.99)
    assert doubt.alternates[0].vrn == "XY7788"
    clock.advance(0.5)
    (torn,) = see(agg, clock, "XY88", 0.95) + settle(agg, clock)
    assert (torn.vrn, torn.confidence) == ("XY88", 0.465)


def test_two_reads_torn_alike_are_not_trusted_where_two_reads_are_decisive(clock: Clock) -> None:
    agg = Aggregator(settle=0.3, window=5.0, decisive_reads=2, clock=clock)
    for _ in range(2):
        see(agg, clock, "TT8899", 0.95)
    clock.advance(0.05)
    reads = [r for _ in range(2) for r in see(agg, clock, "TT99", 0.95)]  # decisive
    assert [(r.vrn, r.confidence) for r in reads] == [("TT99", 0.465)]


@pytest.mark.parametrize(
    ("a", "b", "torn"),
    [
        ("TT99", "TT8899", True),
        ("34", "AB1234", True),
        ("AB23", "AB1123", True),
        ("AB", "AB1234", True),
        ("AB124", "AB1234", False),  # one lost: one character off, not torn
        ("AB1243", "AB1234", False),
        ("A14", "AB1234", False),  # two runs
        ("", "AB1234", False),
        ("AB1234", "AB1234", False),
    ],
)
def test_torn_from(a: str, b: str, torn: bool) -> None:
    assert torn_from(a, b) is torn


def test_camera_alternates_are_carried(agg: Aggregator, clock: Clock) -> None:
    see(agg, clock, "AB1234", 0.8, alternates=(("AB1Z34", 0.4),), source="camera")
    (read,) = settle(agg, clock)
    assert read.source == "camera"
    assert [(a.vrn, a.confidence) for a in read.alternates] == [("AB1Z34", 0.4)]


def test_at_most_eight_alternates(agg: Aggregator, clock: Clock) -> None:
    see(agg, clock, "AB1234", 0.99)
    see(agg, clock, "AB1234", 0.99)
    for i in range(12):
        see(agg, clock, f"ZZ{i:02d}", 0.1)
    (read,) = settle(agg, clock)
    assert read.vrn == "AB1234"
    assert len(read.alternates) == 8


def test_ties_go_to_the_first_seen(agg: Aggregator, clock: Clock) -> None:
    see(agg, clock, "AB1234", 0.8)
    see(agg, clock, "AB1284", 0.8)
    (read,) = settle(agg, clock)
    assert read.vrn == "AB1234"
    assert read.confidence == pytest.approx(0.4)


def test_zero_settle_publishes_at_once(clock: Clock) -> None:
    agg = Aggregator(settle=0.0, window=5.0, clock=clock)
    (read,) = see(agg, clock, "AB1234")
    assert read.vrn == "AB1234"
    assert see(agg, clock, "AB1234") == []


def test_bad_device_id_is_logged_not_raised(agg: Aggregator, clock: Clock) -> None:
    obs = Observation("AB1234", "AB1234", 0.9, "serial", "bad device!", clock.now)
    assert agg.add(obs) == []
    assert settle(agg, clock) == []
    assert agg.stats.invalid == 1
    clock.advance(6)
    assert see(agg, clock, "AB1234") == []
    assert [r.vrn for r in settle(agg, clock)] == ["AB1234"]


#: the wall time that ``Clock`` 1000.0 stands for
WALL_AT_1000 = datetime(2026, 12, 7, 1, 30, 15, 250_000, tzinfo=UTC)


def wall_of(clock: Clock) -> datetime:
    return WALL_AT_1000 + timedelta(seconds=clock.now - 1000.0)


def test_ts_is_when_the_first_sighting_came_in_not_when_published(clock: Clock) -> None:
    agg = Aggregator(settle=0.3, clock=clock, wall_clock=lambda: wall_of(clock))
    see(agg, clock, "AB1234", 0.9)
    clock.advance(0.2)
    see(agg, clock, "AB1284", 0.5)
    (read,) = settle(agg, clock)  # published 0.3 s after the first sighting
    assert read.ts == WALL_AT_1000
    # decisive: published at the third sighting, dated by the first
    clock.advance(30.0)
    first_at = wall_of(clock)
    see(agg, clock, "CD5678")
    clock.advance(0.05)
    see(agg, clock, "CD5678")
    clock.advance(0.05)
    (read,) = see(agg, clock, "CD5678")
    assert read.ts == first_at


def test_ts_of_a_vote_published_late_is_still_the_sightings_time(clock: Clock) -> None:
    """The bus's own clock: a pipeline held up 30 s publishes a read 30 s old, which
    the lane then takes for the late read it is."""
    agg = Aggregator(settle=0.3, clock=clock)
    see(agg, clock, "AB1234")
    clock.advance(30.0)
    (read,) = agg.poll()
    age = (datetime.now(UTC) - read.ts).total_seconds()
    assert 29.0 < age < 31.0, age


def test_ts_is_never_in_the_future(clock: Clock) -> None:
    """A sighting stamped ahead of the aggregator's clock (another clock) is dated now."""
    agg = Aggregator(decisive_reads=1, clock=clock, wall_clock=lambda: wall_of(clock))
    obs = Observation("AB1234", "AB1234", 0.9, "serial", "lpr0", clock.now + 5.0)
    (read,) = agg.add(obs)
    assert read.ts == WALL_AT_1000


def test_ts_of_an_upgrade_is_its_hk_sighting_not_the_carried_mainland_one(
    clock: Clock,
) -> None:
    """The Mainland sighting an upgrade carries came while the first read stood; dated by
    it, the upgrade would be older than the lane's session of the truck."""
    agg = Aggregator(settle=0.3, clock=clock, wall_clock=lambda: wall_of(clock))
    see(agg, clock, "粤Z1234港", 0.9)
    (first,) = settle(agg, clock)
    assert first.ts == WALL_AT_1000
    for _ in range(4):  # the truck stands at the booth, read by its Mainland plate
        clock.advance(3.0)
        assert see(agg, clock, "粤Z1234港", 0.9) == []
    clock.advance(3.0)  # its HK plate is read at last
    hk_at = wall_of(clock)
    see(agg, clock, "AB1234", 0.85)
    (second,) = settle(agg, clock)
    assert second.vrn == "AB1234"
    assert [a.vrn for a in second.alternates] == ["粤Z1234港"]
    assert second.ts == hk_at


def test_bad_settings() -> None:
    with pytest.raises(AvrsError):
        Aggregator(settle=6, window=5)
    with pytest.raises(AvrsError):
        Aggregator(decisive_reads=0)


@pytest.mark.parametrize(
    ("a", "b", "close"),
    [
        ("AB1234", "AB1284", True),
        ("AB1234", "A1234", True),
        ("AB1234", "AB12345", True),
        ("AB1234", "AB1234", False),
        ("AB1234", "AB2143", False),
        ("AB1234", "KL9876", False),
    ],
)
def test_one_char_off(a: str, b: str, close: bool) -> None:
    assert one_char_off(a, b) is close
    assert one_char_off(b, a) is close

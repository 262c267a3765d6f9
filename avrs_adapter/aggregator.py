"""The sightings of one truck become ONE PlateRead: debounce, vote, publish soon.

An LPR device reads a truck several times (and reads both its plates); the lane must get
one read per truck, quickly. The first sighting opens a *truck*; every sighting during
the ``settle`` time joins its vote, and the vote is published ``settle`` seconds after the
first sighting, or at once when it is decisive (``decisive_reads`` agreeing reads and no
other Hong Kong plate). After that, the truck stays open for ``window`` seconds after its
last sighting of its published plate, an unread or a Mainland plate, which are all
debounced. A near plate (one character off a plate already published, or one of its
alternates) is debounced too, and does not keep the truck open: it is a misread of the
same truck until it has a decisive vote of its own (``decisive_reads`` reads, at least 2,
within ``window``), then it is the next truck. A clearly different plate opens the next
truck at once.

Two kinds of read are *upgraded* instead of debounced: when the published read was an
unread, or only a Mainland plate, a Hong Kong plate seen within the window opens a new
truck that keeps the Mainland sightings (also those swallowed after the publication), so
the lane gets the plate it keys on.

The vote: each normalised plate scores the sum of its sightings' confidences. Hong Kong
plates win over Mainland ones (a cross-boundary truck's 粤Z…港 plate becomes an
alternate); the published confidence is the winner's best confidence times its share of
the Hong Kong score, so disagreeing reads lower it.

A PlateRead's ``ts`` is when the truck was seen, not when its vote was published: the
wall time at which the sighting that opened it came in (``settle`` before its vote is
published, less when the vote was decisive), never later than now. Sightings a truck
carries over (the Mainland plate before an upgrade, the first reads of a near plate) came
in while the read before stood; their time would make the next read look late to the
lane. Plain code with injected clocks.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from avrs_adapter.errors import AvrsError
from avrs_adapter.grammar import one_char_off, torn_from
from avrs_adapter.observation import Observation
from rocars.ids import is_mainland_plate
from rocars.messages import Alternate, PlateRead
from rocars.timeutil import utc_now

logger = logging.getLogger(__name__)

MAX_ALTERNATES = 8
#: A near plate read after the publication at least this confidently (the least lane
#: threshold, ``sync.config.MIN_CONFIDENCE_THRESHOLD``: each lane weighs it by its own)
#: and at least as confidently as the published plate now rates sends the truck's read
#: again with it as an alternate (``Aggregator._doubt``), at most ``MAX_DOUBTS`` times
#: a truck.
DOUBT_FLOOR = 0.5
MAX_DOUBTS = 4
#: what a serial read of a plate torn from a truck's published lately
#: (``grammar.torn_from``) is rated by, unless read ``TORN_TRUST_READS`` times (or the
#: decisive count, if more): below any lane's threshold (0.5 at least)
TORN_RATING = 0.49
TORN_TRUST_READS = 3
#: the trucks published lately by a Hong Kong plate that a torn plate is looked for in,
#: each for this long after its last sighting (a truck waits minutes at the booth, and a
#: reader may send it again, torn, while it does); at most this many (a lane's trucks in
#: far more than that time)
TORN_WITHIN_S = 600.0
TORN_TRUCKS = 64


def _round_down(confidence: float) -> float:
    """``confidence`` to the 0.001 below it, as a PlateRead carries it (rounded up, a
    rating could pass the one it must stay under)."""
    return math.floor(confidence * 1000) / 1000


@dataclass(slots=True)
class AggregatorStats:
    sightings: int = 0
    published: int = 0
    debounced: int = 0  # repeats and stragglers of a truck already published
    upgrades: int = 0  # a HK plate after an unread / Mainland-only read
    invalid: int = 0  # a vote that did not make a valid PlateRead (logged)
    doubts: int = 0  # a truck's read sent again with a near plate read as confidently
    torn: int = 0  # a plate that is the published one with a run of characters lost

    def as_dict(self) -> dict[str, int]:
        return {
            "sightings": self.sightings,
            "published": self.published,
            "debounced": self.debounced,
            "upgrades": self.upgrades,
            "invalid": self.invalid,
            "doubts": self.doubts,
            "torn": self.torn,
        }


@dataclass(slots=True)
class _Candidate:
    score: float = 0.0
    count: int = 0
    best: float = 0.0
    raw: str = ""
    first_seq: int = 0
    obs: Observation | None = None


@dataclass(slots=True)
class _Truck:
    first_at: float
    last_at: float
    sightings: list[Observation] = field(default_factory=list)
    done: bool = False  # its vote was published
    published_vrn: str = ""
    known: set[str] = field(default_factory=set)  # plates published for it (vrn + alternates)
    near: list[Observation] = field(default_factory=list)  # near misses since, within window
    read: PlateRead | None = None  # the read published for it (the last doubt's, after one)
    again: list[Observation] = field(default_factory=list)  # its plate since, within window
    doubts: int = 0


class Aggregator:
    """Turns Observations into PlateReads for one lane. Not thread-safe: one caller.

    ``clock`` is the sightings' clock (``Observation.at``); ``wall_clock`` the bus's UTC
    time, read with it to date a read (module doc).
    """

    def __init__(
        self,
        *,
        settle: float = 0.3,
        window: float = 5.0,
        decisive_reads: int = 3,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not 0.0 <= settle <= 10.0 or not settle <= window <= 600.0 or decisive_reads < 1:
            raise AvrsError(
                "settle must be 0-10 s, window settle-600 s, decisive_reads >= 1",
                key="avrs_bad_aggregator",
            )
        self.settle = settle
        self.window = window
        self.decisive_reads = decisive_reads
        self._clock = clock
        self._wall_clock = wall_clock
        self._truck: _Truck | None = None
        #: the trucks published lately by a Hong Kong plate, newest last (``_torn_from``)
        self._published: deque[_Truck] = deque(maxlen=TORN_TRUCKS)
        self.stats = AggregatorStats()

    # -- feeding ---------------------------------------------------------------------------

    def add(self, obs: Observation) -> list[PlateRead]:
        """Take one sighting; returns what is ready to publish now (usually nothing)."""
        self.stats.sightings += 1
        out = self.poll()
        truck = self._truck
        now = obs.at
        if truck is None or (truck.done and now - truck.last_at > self.window):
            self._open(obs)
        elif not truck.done:
            truck.sightings.append(obs)
            truck.last_at = max(truck.last_at, now)
        else:
            out += self._after_publish(truck, obs)
        truck = self._truck
        if truck is not None and not truck.done and self._decisive(truck):
            out += self._publish(truck)
        return out + self.poll()

    def poll(self) -> list[PlateRead]:
        """Publish a truck whose settle time is over."""
        truck = self._truck
        if truck is None or truck.done:
            return []
        if self._clock() >= truck.first_at + self.settle - 1e-9:
            return self._publish(truck)
        return []

    def next_deadline(self) -> float | None:
        """Clock time at which ``poll`` will have something to publish, if any."""
        truck = self._truck
        if truck is None or truck.done:
            return None
        return truck.first_at + self.settle

    # -- internals ---------------------------------------------------------------------

    def _open(self, obs: Observation, carry: list[Observation] | None = None) -> None:
        self._truck = _Truck(first_at=obs.at, last_at=obs.at, sightings=[*(carry or []), obs])

    def _after_publish(self, truck: _Truck, obs: Observation) -> list[PlateRead]:
        published = truck.published_vrn
        vrn = obs.vrn
        hk = bool(vrn) and not is_mainland_plate(vrn)
        upgradable = published == "" or is_mainland_plate(published)
        if hk and upgradable:
            # the truck was published unread or by its Mainland plate only: give the lane
            # the HK plate, keeping the Mainland sightings as alternates
            self.stats.upgrades += 1
            carry = [s for s in truck.sightings if s.vrn and is_mainland_plate(s.vrn)]
            logger.info("plate %s after %r was published: publishing again", vrn, published)
            self._open(obs, carry)
            return []
        if vrn == published or not vrn or is_mainland_plate(vrn):
            # the truck still there: its plate, an unread of it, its Mainland plate (a
            # truck standing at the booth for a minute is not the next truck, and an
            # unread PlateRead would stop it); a near plate (below) does not keep the
            # window open, or the next truck with one would be hidden while it is seen
            self.stats.debounced += 1
            truck.last_at = max(truck.last_at, obs.at)
            if vrn and vrn == published:
                truck.again = [s for s in truck.again if obs.at - s.at <= self.window]
                truck.again.append(obs)
            if upgradable and vrn and is_mainland_plate(vrn):
                self._keep_mainland(truck, obs)
            return []
        if vrn in truck.known or any(
            one_char_off(vrn, k) for k in truck.known if not is_mainland_plate(k)
        ):
            return self._near_miss(truck, obs)
        self._open(obs)
        return []

    def _torn_from(self, vrn: str, sightings: list[Observation]) -> list[str]:
        """The plates ``vrn``, the plate a vote chose, is torn from, of the trucks published
        lately (``TORN_WITHIN_S`` after each one's last sighting; its plate and Hong Kong
        alternates, a doubt's too), if a serial reader read it: the next truck, or a frame
        that lost a run of bytes whose XOR is zero and passed its checksum (framed: TT8899
        as TT99, docs/avrs.md), which, taken for a sure read, ended the session of the truck
        at the booth with NO_BUNDLE, an Unladen press from a release. Looked at on the
        plate the vote chose, however the truck opened (by an unread or a Mainland plate, a
        second tear, a camera read). A camera reads no torn frames: its reads alone are not
        looked at."""
        if (
            not vrn
            or is_mainland_plate(vrn)
            or not any(s.vrn == vrn and s.source == "serial" for s in sightings)
        ):
            return []
        now = max(s.at for s in sightings)
        return sorted(
            {
                k
                for before in self._published
                if now - before.last_at <= TORN_WITHIN_S
                for k in before.known
                if not is_mainland_plate(k) and torn_from(vrn, k)
            }
        )

    def _near_miss(self, truck: _Truck, obs: Observation) -> list[PlateRead]:
        """A plate one character off the published one, or one of its alternates: a misread
        of the same truck, or the next truck with a near plate. It is debounced until it has
        the evidence of a decisive vote of its own (``decisive_reads`` reads of it, at
        least 2, within ``window``), then it is the next truck, published at once."""
        truck.near = [s for s in truck.near if obs.at - s.at <= self.window]
        truck.near.append(obs)
        same = [s for s in truck.near if s.vrn == obs.vrn]
        if len(same) < max(2, self.decisive_reads):
            self.stats.debounced += 1
            return self._doubt(truck, obs)
        logger.info(
            "plate %s near %r read %d times: the next truck",
            obs.vrn,
            truck.published_vrn,
            len(same),
        )
        self._open(obs, same[:-1])
        return []

    def _doubt(self, truck: _Truck, obs: Observation) -> list[PlateRead]:
        """The truck's read again, with the near plate ``obs`` read as an alternate, when
        the reader rates it at least as likely as the published plate now is: four frames
        of the approaching truck misread ``PA3523`` (a decisive vote, published), then
        ``PA3623`` read close up at 0.992 went nowhere, and the lane released the truck on
        ``PA3523``'s bundle. The published plate stays the read's ``vrn`` (the lane takes
        it for the truck at the booth), rated by the vote with the near sightings in (so
        lower), and ``ts`` is when the near plate was seen; the lane, before it releases
        the truck, stops it (``sync.lane.Lane._doubted``). The vote: the sightings it was
        published on, and the plate's and the near plates' since, within ``window``. Once
        a plate, unless read more confidently again; at most ``MAX_DOUBTS`` a truck. Which
        truck it is, only a person can tell: a near plate with a decisive vote of its own
        is the next truck (``_near_miss``), never the truck's plate put right."""
        published = truck.read
        if published is None or truck.doubts >= MAX_DOUBTS or obs.confidence < DOUBT_FLOOR:
            return []
        # told already in doubt (rated at least as the plate it was sent with), and not
        # read more confidently now; told below it (a runner-up of the first vote), the
        # lane did not doubt, and the plate's rating has fallen since
        told = {a.vrn: a.confidence for a in published.alternates}
        prior = told.get(obs.vrn)
        if prior is not None and prior >= published.confidence and obs.confidence <= prior:
            return []
        again = [s for s in truck.again if obs.at - s.at <= self.window]
        own = [s for s in truck.sightings if s.vrn == published.vrn]
        rivals = [s for s in truck.sightings if s.vrn and not is_mainland_plate(s.vrn)]
        score = sum(s.confidence for s in (*own, *again))
        total = sum(s.confidence for s in (*rivals, *again, *truck.near))
        best = max(own, key=lambda s: s.confidence, default=None)
        if best is None or total <= 0.0:
            return []
        rating = best.confidence * score / total
        if not math.isfinite(rating) or obs.confidence < rating:
            return []
        # rounded down: rounded up, it may pass the near plate's and the lane would not
        # see the doubt
        confidence = _round_down(rating)
        alternates = [(obs.vrn, obs.confidence)]
        alternates += [(a.vrn, a.confidence) for a in published.alternates if a.vrn != obs.vrn]
        read = self._make(
            vrn=published.vrn,
            raw=published.raw,
            confidence=confidence,
            obs=best,
            alternates=alternates,
            ts=self._seen_at(obs.at),
        )
        if read is None:
            return []
        truck.read = read
        truck.known.add(obs.vrn)  # its tears are torn plates of the truck too
        truck.doubts += 1
        self.stats.doubts += 1
        logger.warning(
            "plate %s (%.2f) read after %r was published (now %.2f): sending it again",
            obs.vrn,
            obs.confidence,
            published.vrn,
            confidence,
        )
        return [read]

    @staticmethod
    def _keep_mainland(truck: _Truck, obs: Observation) -> None:
        """Keep a swallowed Mainland sighting for the upgrade that may still come (the HK
        plate it carries as alternate), once per plate: its best sighting."""
        for i, kept in enumerate(truck.sightings):
            if kept.vrn == obs.vrn:
                if obs.confidence > kept.confidence:
                    truck.sightings[i] = obs
                return
        truck.sightings.append(obs)

    def _decisive(self, truck: _Truck) -> bool:
        plates = {s.vrn for s in truck.sightings if s.vrn and not is_mainland_plate(s.vrn)}
        if len(plates) != 1:
            return False
        (vrn,) = plates
        return sum(1 for s in truck.sightings if s.vrn == vrn) >= self.decisive_reads

    def _seen_at(self, at: float) -> datetime:
        """The UTC time of the clock time ``at``: now less how long ago it was (a clock
        offset taken now, so a step of the wall clock since does not move it), never later
        than now, in whole ms as the bus carries it."""
        ago = max(0.0, self._clock() - at)
        seen = self._wall_clock() - timedelta(seconds=ago)
        return seen.replace(microsecond=seen.microsecond // 1000 * 1000)

    def _publish(self, truck: _Truck) -> list[PlateRead]:
        truck.done = True
        read_at = truck.last_at
        read = self._vote(truck.sightings, self._seen_at(truck.first_at))
        if read is None:
            self.stats.invalid += 1
            return []
        reads = sum(1 for s in truck.sightings if s.vrn == read.vrn)
        torn = self._torn_from(read.vrn, truck.sightings)
        if torn and reads < max(TORN_TRUST_READS, self.decisive_reads):
            self.stats.torn += 1
            read = read.model_copy(
                update={"confidence": _round_down(read.confidence * TORN_RATING)}
            )
        else:
            torn = []
            if read.vrn and not is_mainland_plate(read.vrn):
                # looked in for torn plates: by a Hong Kong plate, trusted (a torn read's
                # truck is not: a second tear is looked up against the truck it was torn
                # from; nor an unread or a Mainland-only one: a standing truck's reader
                # sending it again so pushed the truck out)
                self._published = deque(
                    (t for t in self._published if read_at - t.last_at <= TORN_WITHIN_S),
                    maxlen=TORN_TRUCKS,
                )
                self._published.append(truck)
        truck.published_vrn = read.vrn
        truck.read = read
        truck.known = {read.vrn, *(a.vrn for a in read.alternates)} - {""}
        self.stats.published += 1
        logger.info(
            "truck read: %r (%.2f) from %d sightings, alternates %s%s",
            read.vrn,
            read.confidence,
            len(truck.sightings),
            [a.vrn for a in read.alternates],
            f"; rated down: {read.vrn!r} read {reads} times is torn from {torn}" if torn else "",
        )
        return [read]

    def _vote(self, sightings: list[Observation], ts: datetime) -> PlateRead | None:
        candidates: dict[str, _Candidate] = {}
        extra: dict[str, float] = {}
        for seq, obs in enumerate(sightings):
            if obs.vrn:
                c = candidates.setdefault(obs.vrn, _Candidate(first_seq=seq))
                c.score += obs.confidence
                c.count += 1
                if c.obs is None or obs.confidence > c.best:
                    c.best, c.raw, c.obs = obs.confidence, obs.raw, obs
            for alt, conf in obs.alternates:
                if alt:
                    extra[alt] = max(conf, extra.get(alt, 0.0))
        last = sightings[-1]
        if not candidates:
            return self._make(
                vrn="",
                raw=last.raw,
                confidence=0.0,
                obs=last,
                alternates=list(extra.items()),
                ts=ts,
            )

        def rank(item: tuple[str, _Candidate]) -> tuple[float, int, float, int]:
            _, c = item
            return (c.score, c.count, c.best, -c.first_seq)

        hk = {v: c for v, c in candidates.items() if not is_mainland_plate(v)}
        pool = hk or candidates
        winner, best = max(pool.items(), key=rank)
        share = best.score / sum(c.score for c in pool.values()) if best.score > 0 else 1.0
        others = sorted(
            ((v, c) for v, c in candidates.items() if v != winner), key=rank, reverse=True
        )
        alternates = [(v, c.best) for v, c in others]
        alternates += [(v, conf) for v, conf in extra.items() if v not in candidates]
        assert best.obs is not None
        return self._make(
            vrn=winner,
            raw=best.raw,
            confidence=round(best.best * share, 3),
            obs=best.obs,
            alternates=alternates,
            ts=ts,
        )

    def _make(
        self,
        *,
        vrn: str,
        raw: str,
        confidence: float,
        obs: Observation,
        alternates: list[tuple[str, float]],
        ts: datetime,
    ) -> PlateRead | None:
        try:
            return PlateRead(
                ts=ts,
                vrn=vrn,
                raw=raw[:64],
                confidence=min(1.0, max(0.0, confidence)),
                source=obs.source,
                device=obs.device,
                alternates=[
                    Alternate(vrn=v, confidence=min(1.0, max(0.0, c)))
                    for v, c in alternates[:MAX_ALTERNATES]
                ],
            )
        except ValidationError as err:
            logger.error("cannot make a PlateRead of %r from %s: %s", vrn, obs.device, err)
            return None

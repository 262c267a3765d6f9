"""The clearance rules of one lane, as plain code: events in, instructions and records out.

No bus, no threads, no database: the controller feeds events (plate read, unladen press,
manifest drop, tick) with an injected clock and replica lookup, publishes the
instructions that come out and writes the state (and the record of a session that
ended) to the outbox. The rules are DESIGN.md's "Clearance rules", numbered the same.

States (the code on the lane's display)::

    READY --plate--> STOP_SEE_OFFICER            (1 no plate / low confidence, 6 stale;
                                                  a late read, a reader's clock ahead)
                  -> INSPECT                     (told INSPECT lately: ``Inspections``)
                  -> TOO_EARLY                   (2 before earliest_at)
                  -> DROP_MANIFEST --manifest--> PROCEED | INSPECT   (2, lane needs manifest)
                  -> PROCEED | INSPECT           (2, no manifest needed)
                  -> WRONG_CONTROL_POINT         (3)
                  -> NO_BUNDLE --unladen--> PROCEED | INSPECT(random share)  (4;
                                 a bundle found now, or told INSPECT lately: as above)
                  -> STOP_SEE_OFFICER            (a bundle another reading's: ambiguous)
    DROP_MANIFEST / NO_BUNDLE --timeout_s--> STOP_SEE_OFFICER                 (5)
    final code --hold_s--> READY (the session ends: one ClearanceRecord)
    any session --plate of another vrn--> record (next_vehicle), new session
    any event that raises --> STOP_SEE_OFFICER (lane_error): the lane fails closed
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from rocars.errors import InvalidIdentifier
from rocars.eventid import new_event_id
from rocars.ids import (
    ControlPoint,
    Direction,
    identity_plates,
    is_mainland_plate,
    normalize_plate,
)
from rocars.messages import (
    Instruction,
    InstructionCode,
    ManifestDropped,
    PlateRead,
    UnladenPressed,
    check_bay,
)
from rocars.models import (
    Bundle,
    BundleStatus,
    ClearanceRecord,
    DriverAction,
    InstructionLog,
)
from rocars.signing import instruction_payload
from rocars.timeutil import to_rfc3339, utc_now
from sync.config import MIN_CONFIDENCE_THRESHOLD, REINSPECT_WINDOW_S, LaneConfig
from sync.errors import SyncError

logger = logging.getLogger(__name__)

Code = InstructionCode
#: Codes that wait for the driver (timeout_s applies).
WAITING_CODES = frozenset({Code.DROP_MANIFEST, Code.NO_BUNDLE})
#: Codes that stay hold_s, then the session ends.
FINAL_CODES = frozenset(
    {Code.PROCEED, Code.INSPECT, Code.TOO_EARLY, Code.WRONG_CONTROL_POINT, Code.STOP_SEE_OFFICER}
)
#: How long past its planned end a display may still trust an instruction.
EXPIRY_MARGIN = timedelta(seconds=5)
#: How far in the future the replica's last sync may be (clocks disagree a little) before
#: it counts as unknown: a clock stepped back must not stretch the replica's freshness.
SYNC_CLOCK_SKEW = timedelta(seconds=5)
#: A driver's action (manifest drop, Unladen press) made more than this long before the
#: instruction it would answer was shown belongs to an earlier truck: a panel that lost
#: the broker sends what it had queued when it is back, and a drop made for truck A must
#: not release truck B. Booth PCs keep their clocks within this of each other (NTP).
ACTION_CLOCK_SKEW = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class Freshness:
    """What the lane needs to know about the replica when it decides."""

    last_sync_at: datetime | None
    central_up: bool


Lookup = Callable[[str], list[Bundle]]

#: A better read of a truck the lane saw but could not read (a read fault) may be stamped
#: this much before that first read (the camera settles longer than the serial reader)
#: and still be that truck read again; one stamped earlier may be the truck before's
REREAD_SLACK = timedelta(seconds=1.5)
#: Sessions that failed on the read itself: a plate read after one is that truck read
#: again (``reread``), not the same truck to ignore.
_READ_FAULTS = frozenset(
    {"no_plate", "low_confidence", "late_read", "read_clock_ahead", "ambiguous_plate"}
)

#: How long a lane keeps the plates of a truck it stopped because its reader rated two
#: plates of a kind as likely (``Lane._in_doubt``): a read of any of them in that time
#: is STOP again (``plate_in_doubt``), never decided afresh on one of them (a better
#: read of either plate does not tell which the truck is; only the officer can).
DOUBT_WINDOW_S = 300.0
#: at most this many plates in that memory (the oldest go first)
MAX_DOUBTED_PLATES = 256
#: a read in doubt of the truck whose session ended, this soon after, is that truck read
#: as it left (the AVRS sends one up to its window after the truck's last sighting):
#: ignored, not a STOP for whoever pulls up next
DOUBT_AFTER_END_S = 60.0

#: The reads a session's record keeps: the one that opened it, then the same truck read
#: again while it stood at the lane (ignored for the decision, kept for the audit), up
#: to this many in all; later ones are only counted and logged.
MAX_SESSION_READS = 16
#: The ids of a lane's latest reads, kept across its sessions: a read delivered again (MQTT
#: QoS 1 resends one whose acknowledgement was lost) after the next truck's read is that
#: next truck's session ended and the first truck's answer shown in front of it. Ids
#: are unique per read; at a few reads a truck this covers the last trucks by far.
RECENT_READ_IDS = 256
#: A session's record keeps this many ignored presses at most (a looping panel or a
#: bouncing sensor would otherwise grow the session, re-serialised at every change, and
#: its record past what the centre takes); later ones are logged only.
MAX_IGNORED_ACTIONS = 32


#: What ``Inspections`` holds of a plate told INSPECT: until (wall clock), bay, pending
#: until and kept until (monotonic), the firm plates it was told with, whether it was told
#: as a truck's own, and its truck (the firm plates of the tellings it was one of)
_Held = tuple[datetime, str | None, float, float, tuple[str, ...], bool, tuple[str, ...]]


class Inspections:
    """The trucks told INSPECT lately, by plate, shared by the lanes of one agent.

    A truck told INSPECT that stays (or comes back) and is read again would start a new
    session: an unladen truck would press again for another draw of the sampling share,
    and one whose bundle was selected would find it used (the record of the inspection
    marks it so) and cross as unladen. Read again within ``window_s``, it is told
    INSPECT again (reason ``inspect_pending``), whatever the replica says. Thread-safe:
    the lanes run on paho's thread and the timer's.
    """

    def __init__(
        self,
        window_s: float = REINSPECT_WINDOW_S,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = timedelta(seconds=window_s)
        #: what "now" is when the remembered are let go: never a time given with a plate
        #: (one ahead of the clock, from a clock stepped back since, ended every other)
        self._clock = clock
        #: a truck is let go only once its window is over by this clock too: the wall
        #: clock stepped forward (and put right later) must not end every window at once
        self._monotonic = monotonic
        self._lock = threading.Lock()
        #: plate -> what is held of it (``_Held``; ``remember``)
        self._until: dict[str, _Held] = {}
        #: (until, kept until, plate) in the order remembered: the oldest go first (the
        #: window is one)
        self._order: deque[tuple[datetime, float, str]] = deque()
        #: told of each truck a lane here tells INSPECT (the shards' shared log): its
        #: plates, when (by the wall clock, and by the monotonic one), the bay, and its
        #: firm plates (``remember``)
        self.on_told: (
            Callable[[tuple[str, ...], datetime, float, str | None, tuple[str, ...] | None], None]
            | None
        ) = None

    def monotonic(self) -> float:
        """Now by the monotonic clock the memory goes by."""
        return self._monotonic()

    def told(
        self,
        plates: Iterable[str],
        at: datetime,
        bay: str | None,
        firm: Iterable[str] | None = None,
    ) -> None:
        """A lane here tells a truck INSPECT now: remembered, and passed on with every
        plate of its truck renewed with it (``_renew_truck``): a shard started later, or
        this one restarted, may not have the first telling's rows (older than the window)."""
        if not self.window:
            return
        plates = tuple(plates)
        # the read plate is often the bundle's too; a firm plate is remembered whatever
        sure = tuple(dict.fromkeys(plates if firm is None else firm))
        plates = tuple(dict.fromkeys((*plates, *sure)))
        self.remember(plates, at, bay, sure)
        if self.on_told is None:
            return
        with self._lock:
            truck = [
                p
                for plate in sure
                if plate in self._until and _one_truck(self._until[plate][6])
                for p in self._until[plate][6]
            ]
        if any(p not in sure for p in truck):
            sure = tuple(dict.fromkeys((*sure, *truck)))
            plates = tuple(dict.fromkeys((*plates, *truck)))
        self.on_told(plates, at, self._monotonic(), bay, sure)

    def remember(
        self,
        plates: Iterable[str],
        at: datetime,
        bay: str | None,
        firm: Iterable[str] | None = None,
        *,
        mono_at: float | None = None,
    ) -> None:
        """``plates`` told INSPECT at ``at``. ``firm``: those of them that name the truck
        for sure (the plate it was first read by, its bundle's), not a runner-up of a read
        (which may be the next truck's plate); None: all of them. ``mono_at``: when, by
        this machine's monotonic clock, if known (told by another shard, or before a
        restart, since the machine started: ``sync.inspection_log``).

        Pending until the window after ``at`` is over by the wall clock, or by the
        monotonic clock what was left of it by the wall clock now (a truck told INSPECT
        before the wall clock stepped forward is told INSPECT again while the step lasts
        and after it is put right: the replica, stamped by the same clock at its next
        poll, looks current). Let go only once both clocks are past it (by the monotonic
        clock, what was left of it after ``at`` or now, whichever is sooner: a row another
        shard wrote by a clock that was right is kept through a forward step of this
        one). Told at ``mono_at``, it is pending by the monotonic clock for the window
        after that, whatever either wall clock says (a row another shard wrote while this
        agent's clock ran ahead)."""
        if not self.window:
            return
        until = at + self.window
        clock_now = self._clock()
        now = min(at, clock_now)
        mono = self._monotonic()
        window = self.window.total_seconds()
        if mono_at is not None and mono_at <= mono + MONO_SLACK_S:
            pending_until = min(mono_at, mono) + window
        else:
            pending_until = mono + min(max((until - clock_now).total_seconds(), 0.0), window)
        kept_until = max(pending_until, mono + min(max((until - now).total_seconds(), 0.0), window))
        plates = tuple(plates)
        sure = plates if firm is None else tuple(firm)
        with self._lock:
            while self._order and self._order[0][0] <= now and self._order[0][1] <= mono:
                _, _, plate = self._order.popleft()
                held = self._until.get(plate)
                if held is not None and held[0] <= now and held[3] <= mono:
                    del self._until[plate]
            for plate in plates:
                if not plate:
                    continue
                held = self._until.get(plate)
                if held is not None and _over(held, at, mono):
                    # its window over by both clocks when this telling began, not let go
                    # yet: its truck is not carried into this one (merged, a row taken at
                    # start with a misread made the truck's list two plates of a kind,
                    # and its renewal was refused: found in review). The rest is, as
                    # before: the window may be over only by a clock stepped ahead, to
                    # be put right (``remember``), and its own must not be lost then
                    held = (*held[:6], ())
                own = plate in sure
                # its truck: the firm plates of the tellings it was one of (never those of
                # one it was a runner-up of: another truck's, maybe)
                truck = sure if own else ()
                if held is None:
                    entry = (until, bay, pending_until, kept_until, sure, own, truck)
                elif _later(held, until, pending_until):
                    # the latest wins, by each clock: what comes from the outbox, another
                    # shard or a file written late may be older than what is held, and a
                    # telling older by the wall clock may be newer by the monotonic one
                    # (the wall clock stepped back since: found in review, a window ended
                    # early once the clock stepped ahead again); a plate told as a truck's
                    # own once stays one (told as a runner-up since, or before)
                    entry = (
                        max(held[0], until),
                        bay if until > held[0] else held[1],
                        max(held[2], pending_until),
                        max(held[3], kept_until),
                        _merged(held[4], sure),
                        own or held[5],
                        _merged(held[6], truck),
                    )
                elif own:
                    # told (from a file written late, or within a second) as a truck's
                    # own: its own, with its truck's plates and, if it was a runner-up's,
                    # this telling's bay (the same rows taken again change nothing)
                    self._until[plate] = (
                        held[0],
                        held[1] if held[5] else bay,
                        held[2],
                        held[3],
                        _merged(held[4], sure),
                        True,
                        _merged(held[6], truck),
                    )
                    continue
                else:
                    continue
                self._until[plate] = entry
                self._order.append((entry[0], entry[3], plate))
            for plate in plates:
                # a plate its truck's own, told now as this read's or as its runner-up (a
                # truck read by a misread of its plate, its plate the runner-up, was told
                # INSPECT again by it, and its other plate not renewed: found in review)
                if plate in self._until and self._until[plate][5]:
                    self._renew_truck(plate, at, mono)

    def _renew_truck(self, plate: str, at: datetime, mono: float) -> None:
        """The plates of ``plate``'s truck (the firm plates of the tellings it was one of)
        pending at least as long as it is (under ``_lock``). A truck told INSPECT again by
        one of its plates was renewed by that plate only: read after the first window by
        another alone, it was decided afresh, its selected bundle used by the first
        inspection's record, and an Unladen press released it (found in review). Its
        truck's only, one step: never the plates of a telling it was a runner-up of
        (maybe another truck's), and a plate renewed is a truck's own, never skipped as a
        runner-up (``pending``): a renewal only ever adds an inspection. In any order:
        recalled from the outbox, the newest telling comes first."""
        held = self._until[plate]
        if _over(held, at, mono) or not _one_truck(held[6]):
            # two plates of a kind (a plate two trucks' bundles name, a wrong one): whose
            # truck is whose, the memory cannot tell; renewed through it, one truck's
            # repeat renewed the next, and theirs the next (found in review)
            return
        for other in held[6]:
            had = self._until.get(other)
            if other == plate or not other:
                continue
            if had is None or _over(had, at, mono):
                entry = (*held[:4], held[6], True, held[6])
            elif _later(had, held[0], held[2]):
                # its own truck's plates kept as they are: merged with these, a chain of
                # trucks sharing a plate became one truck (found in review)
                entry = (
                    max(had[0], held[0]),
                    held[1] if had[0] < held[0] else had[1],
                    max(had[2], held[2]),
                    max(had[3], held[3]),
                    had[4],
                    True,
                    had[6],
                )
            else:
                continue
            self._until[other] = entry
            self._order.append((entry[0], entry[3], other))

    def pending(
        self, plates: Iterable[str], now: datetime, truck: Iterable[str] = ()
    ) -> tuple[str | None] | None:
        """``(bay,)`` of the inspection one of ``plates`` was told lately (by the wall
        clock, or by the monotonic one: ``remember``); None if none.

        ``truck``: the truck's plates as its bundles have them (one of each kind). A plate
        told INSPECT as a runner-up of a truck whose firm plates (``remember``) name
        another plate of a kind ``truck`` has was told of another truck (an AVRS pairing
        plates read close in time gave that truck's read this one's plate): it is not
        this truck's inspection. One told as a truck's firm plate is, whatever else."""
        if not self._until:
            return None
        mono: float | None = None
        truck = tuple(truck)
        with self._lock:
            for plate in plates:
                found = self._until.get(plate)
                if found is None:
                    continue
                if truck and not found[5] and _another_truck(found[4], truck):
                    continue
                if now < found[0]:
                    return (found[1],)
                if mono is None:
                    mono = self._monotonic()
                if mono < found[2]:
                    return (found[1],)
        return None


#: A monotonic stamp ahead of this clock by more than this is not one of this machine's
#: (a file copied from another, a process in a shifted time namespace): not gone by
MONO_SLACK_S = 1.0

#: The most firm plates kept with a plate told INSPECT (``Inspections``): a few trucks'
MAX_FIRM_PLATES = 16


#: A telling later than the one held by less than this (by each clock) is the same one: a
#: row taken again at a reopen comes out a few microseconds apart (the wall and monotonic
#: clocks are read a moment apart), and each such was queued again to be let go, growing
#: the memory at every reopen while the file could not be written (found in review)
SAME_TELLING_S = 1.0


def _later(
    held: _Held,
    until: datetime,
    pending_until: float,
) -> bool:
    """A telling pending until ``until`` by the wall clock and ``pending_until`` by the
    monotonic one is pending longer than ``held`` by either. (How long it is kept is not
    asked: a row taken again later is kept longer by the monotonic clock each time.)"""
    later_by_wall = (until - held[0]).total_seconds() > SAME_TELLING_S
    return later_by_wall or pending_until - held[2] > SAME_TELLING_S


def _over(
    held: _Held,
    at: datetime,
    mono: float,
) -> bool:
    """``held``'s window was over at ``at`` by the wall clock and is over by the
    monotonic one now: the past to a telling at ``at``."""
    return held[0] <= at and held[2] <= mono


def _one_truck(plates: tuple[str, ...]) -> bool:
    """``plates`` may be one truck's: at most one of each kind."""
    mainland = [is_mainland_plate(p) for p in plates]
    return mainland.count(True) <= 1 and mainland.count(False) <= 1


def _merged(held: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    """The firm plates of a plate told INSPECT again: those of every telling, the newest
    last, at most ``MAX_FIRM_PLATES`` (the oldest go)."""
    if all(p in held for p in new):
        return held
    return tuple(dict.fromkeys((*held, *new)))[-MAX_FIRM_PLATES:]


def _another_truck(firm: tuple[str, ...], truck: tuple[str, ...]) -> bool:
    """``firm`` names a plate of a kind ``truck`` has, other than the truck's."""
    return any(
        p not in truck and any(is_mainland_plate(p) == is_mainland_plate(q) for q in truck)
        for p in firm
    )


class Session(BaseModel):
    """One truck at the lane, from its first plate read to READY. Persisted in the outbox."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_event_id)
    vrn: str
    plates: list[str] = Field(default_factory=list, description="vrn and trusted alternates")
    started_at: datetime
    code: Code
    code_at: datetime
    ubr: str | None = None
    reason: str = ""
    offline: bool = False
    plate_reads: list[PlateRead] = Field(default_factory=list)
    instructions: list[InstructionLog] = Field(default_factory=list)
    actions: list[DriverAction] = Field(default_factory=list)


@dataclass(slots=True)
class LaneOutput:
    """What one event produced: instructions to publish (in order), records of ended sessions."""

    #: each instruction's code, in order
    codes: list[Code] = field(default_factory=list)
    #: each instruction as it goes on the wire (signed JSON), same order
    payloads: list[bytes] = field(default_factory=list)
    records: list[ClearanceRecord] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    #: each decision shown (vrn or "-", code, reason), for ``log_decisions``
    decisions: list[tuple[str, Code, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the lane state changed (the outbox must be written)."""
        return bool(self.payloads or self.records)

    @property
    def instructions(self) -> list[Instruction]:
        """The instructions as models, parsed from ``payloads`` (what goes on the wire).

        The lanes only make the wire bytes: no model is built on a plate read's path.
        """
        return [Instruction.model_validate_json(payload) for payload in self.payloads]


@dataclass(frozen=True, slots=True)
class _Decision:
    code: Code
    reason: str
    ubr: str | None = None
    bay: str | None = None
    earliest_at: datetime | None = None
    #: the plates of the bundle decided on, at this control point and direction
    plates: tuple[str, ...] = ()


def bundle_plates(bundle: Bundle) -> tuple[str, ...]:
    """A bundle's plates: its VRN, and its Mainland second plate if any."""
    return (bundle.vrn, bundle.second_plate) if bundle.second_plate else (bundle.vrn,)


def _untrusted(plates: list[str], bundles: list[Bundle]) -> bool:
    """One of ``bundles`` is not this truck's for sure: it does not carry the read plate.

    ``plates`` is the read plate first, then the alternates read as confidently. A truck
    has one Hong Kong plate and at most one Mainland plate, and every bundle names its
    Hong Kong plate: a bundle that does not carry the read plate names another plate of
    that kind (another truck's, one misreading away: its PROCEED would release this
    truck), or, for a Mainland read, another Mainland plate. The one bundle trusted
    without the read plate: for a Mainland read, one with no Mainland plate of its own
    whose Hong Kong plate is the read's only Hong Kong alternate (the truck's other
    plate, read less well). Rules 2 and 3 then take the bundles as they are.
    """
    if not bundles:
        return False
    read = plates[0]
    hong_kong = [p for p in plates[1:] if not is_mainland_plate(p)]
    mainland_read = is_mainland_plate(read)
    for bundle in bundles:
        if read == bundle.vrn or read == bundle.second_plate:
            continue
        if mainland_read and bundle.second_plate is None and hong_kong == [bundle.vrn]:
            continue
        return True
    return False


def _answers_another(
    session: Session, event: UnladenPressed | ManifestDropped, what: str, now: datetime
) -> str:
    """Why a press or a drop does not answer the instruction the truck is shown now ("" if
    it does). One that names the instruction it answered (``instruction_seq``: our panel
    says so) answers it or not, whatever the clocks say: a drop the panel sent while its
    link was down, delivered when the next truck was shown DROP_MANIFEST, no longer lets
    that truck go without its manifest, and a press from a panel whose clock lags is not
    taken for one made before the instruction. One that does not is judged by its time
    (``ACTION_CLOCK_SKEW`` before the instruction at most), and one stamped more than
    ``SYNC_CLOCK_SKEW`` ahead of the lane's clock is not judged at all (a panel whose
    clock runs ahead: a drop queued for the truck before would pass for a new one)."""
    if any(action.id == event.id for action in session.actions):
        # delivered again (QoS 1): taken once already, it answers nothing shown since
        # (an unladen_asked_again NO_BUNDLE: that question is the next truck's)
        return "redelivered"
    if event.instruction_seq is not None:
        shown = session.instructions[-1].seq if session.instructions else None
        return "" if event.instruction_seq == shown else f"{what}_other_instruction"
    if event.ts > now + SYNC_CLOCK_SKEW:
        return f"{what}_clock_ahead"
    if event.ts < session.code_at - ACTION_CLOCK_SKEW:
        return f"{what}_before_instruction"
    return ""


def _first_seen(session: Session) -> datetime:
    """When the truck at the lane was first seen, by the reader that saw it."""
    return session.plate_reads[0].ts if session.plate_reads else session.started_at


def _plate_or_none(text: str) -> str | None:
    try:
        return normalize_plate(text)
    except InvalidIdentifier:
        return None


class Doubts:
    """The plates of trucks stopped because their reader rated two plates of a kind as
    likely (``Lane._in_doubt``), for ``DOUBT_WINDOW_S`` by the monotonic clock, at most
    ``MAX_DOUBTED_PLATES`` (the oldest go first). Shared by a controller's lanes (a
    truck stopped in doubt at one lane and waved to the next is stopped there too);
    thread-safe. Kept in memory only: a restart forgets them (docs/sync.md)."""

    def __init__(
        self, window_s: float = DOUBT_WINDOW_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_s = window_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._until: OrderedDict[str, float] = OrderedDict()

    def remember(self, plates: Iterable[str]) -> None:
        with self._lock:
            until = self._monotonic() + self.window_s
            for plate in plates:
                if plate:
                    self._until[plate] = until
                    self._until.move_to_end(plate)
            while len(self._until) > MAX_DOUBTED_PLATES:
                self._until.popitem(last=False)

    def lately(self, plates: Iterable[str]) -> bool:
        """One of ``plates`` is of a truck stopped in doubt within the window."""
        with self._lock:
            until = self._until
            if not until:
                return False
            now = self._monotonic()
            while until and next(iter(until.values())) <= now:
                until.popitem(last=False)
            return any(p in until for p in plates)


class Lane:
    """The state machine of one lane. Not thread-safe: the controller holds a lock per lane."""

    def __init__(
        self,
        config: LaneConfig,
        *,
        cp: ControlPoint,
        direction: Direction,
        key: bytes,
        clock: Callable[[], datetime],
        lookup: Lookup,
        freshness: Callable[[], Freshness],
        max_age_s: float,
        rng: random.Random | None = None,
        last_seq: int = 0,
        inspections: Inspections | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        doubts: Doubts | None = None,
    ) -> None:
        self.config = config
        self._monotonic = monotonic
        #: the session whose code was shown last, and when by the monotonic clock
        #: (``_tick``); None after a restart (the wall clock alone then)
        self._shown_at: tuple[str, float] | None = None
        self._inspections = inspections or Inspections(clock=clock)
        self.cp = cp
        self.direction = direction
        self._key = key
        self._clock = clock
        self._lookup = lookup
        self._freshness = freshness
        self._max_age = timedelta(seconds=max_age_s)
        self._max_read_age = timedelta(seconds=config.max_read_age_s)
        self._rng = rng or random.Random()
        self.last_seq = last_seq
        self.session: Session | None = None
        #: the plates of the session's bundle here, as found when the lane decided on it
        #: (``_same_truck``); a session restored at start-up ends at once and has none
        self._bundle_plates: tuple[str, ...] = ()
        #: ids of the latest reads, oldest first (``RECENT_READ_IDS``)
        self._recent_reads: OrderedDict[str, None] = OrderedDict()
        #: the plates of the truck whose session ended last, and when (``_names_truck_before``)
        self._ended: tuple[frozenset[str], datetime] | None = None
        #: plates of trucks stopped in doubt lately (``Doubts``), shared by the lanes
        self._doubts = doubts or Doubts(monotonic=monotonic)

    @property
    def lane(self) -> str:
        return self.config.id

    @property
    def code(self) -> Code:
        """What the lane shows now."""
        return self.session.code if self.session is not None else Code.READY

    # -- events ------------------------------------------------------------------------

    def start(self, previous: Session | None = None) -> LaneOutput:
        """Start-up: close a session a crash left open (reason ``agent_restart``), show READY."""
        out = LaneOutput()
        now = self._clock()
        if previous is not None:
            for seen in previous.plate_reads:  # delivered again after the restart
                self._seen(seen)
            self.session = previous
            try:
                self._end(out, now, "agent_restart")  # ends with READY
                return out
            except Exception:  # noqa: BLE001 - any: the lane must start, READY
                self._drop(previous, why="left open by a crash", exc_info=True)
                out = LaneOutput()
        self._instruction(out, Code.READY, now)
        return out

    def plate(self, read: PlateRead) -> LaneOutput:
        """A plate read (rules 1, 2, 3, 4, 6)."""
        return self._guarded(lambda out, now: self._plate(out, now, read), read)

    def unladen(self, event: UnladenPressed) -> LaneOutput:
        """The Unladen Vehicle button (rule 4): only meaningful at NO_BUNDLE."""
        return self._guarded(lambda out, now: self._unladen(out, now, event))

    def manifest(self, event: ManifestDropped) -> LaneOutput:
        """The paper manifest went in (rule 2): the bundle's pre-selected result."""
        return self._guarded(lambda out, now: self._manifest(out, now, event))

    def tick(self) -> LaneOutput:
        """Time passes: driver timeout (rule 5), end of the hold of a final code."""
        return self._guarded(self._tick)

    def _guarded(
        self, step: Callable[[LaneOutput, datetime], None], read: PlateRead | None = None
    ) -> LaneOutput:
        """One event's ``step``, now; whatever it raises fails the lane closed."""
        now = self._clock()
        out = LaneOutput()
        try:
            step(out, now)
        except Exception:  # noqa: BLE001 - any: the lane fails closed (_fail_closed)
            self._fail_closed(out, now, read)
        return out

    def _seen(self, read: PlateRead) -> bool:
        """Whether ``read`` came before (by its id); remembered from now if not."""
        if read.id in self._recent_reads:
            return True
        self._recent_reads[read.id] = None
        if len(self._recent_reads) > RECENT_READ_IDS:
            self._recent_reads.popitem(last=False)
        return False

    def _before_truck(self, out: LaneOutput, read: PlateRead) -> None:
        logger.warning(
            "lane %s: a read of %r taken at %s, before the truck at the lane was seen: the"
            " truck before it, delivered late; ignored",
            self.lane,
            read.vrn,
            read.ts,
        )
        out.ignored.append("read_before_truck")

    def _names_truck_before(self, read: PlateRead) -> bool:
        """The read names the truck whose session ended last: its read plate is one of
        that truck's own (``_end``: the plate it was first read by and its bundle's; no
        runner-up, which may be the next truck's), and no confident runner-up of the
        other kind names a plate that truck is not known by while it is known by one of
        that kind."""
        if self._ended is None or not read.vrn:
            return False
        own, _ = self._ended
        if read.vrn not in own:
            return False
        return not any(
            p not in own and any(is_mainland_plate(q) == is_mainland_plate(p) for q in own)
            for p in identity_plates(self.read_plates(read))[1:]
        )

    def _plate(self, out: LaneOutput, now: datetime, read: PlateRead) -> None:
        if self._seen(read):
            # the same read again, whatever came since: never a truck, never the end of
            # the session of the truck at the lane now (RECENT_READ_IDS)
            logger.info(
                "lane %s: read %s of %r delivered again: ignored", self.lane, read.id, read.vrn
            )
            out.ignored.append("redelivered")
            return
        session = self.session
        named = self._names_truck_before(read)
        if session is None:
            if (
                named
                and self._ended is not None
                and now - self._ended[1] <= timedelta(seconds=DOUBT_AFTER_END_S)
                and self._in_doubt(read, MIN_CONFIDENCE_THRESHOLD)
            ):
                # the truck before read again with a plate of its kind rated as likely (the
                # AVRS sends its read again so when it reads a near plate after publishing,
                # Aggregator._doubt, rated low or not): that truck was dealt with, and a
                # STOP for it now would show to whoever pulls up next. Later, the same
                # plate is a truck come back, decided as any
                logger.warning(
                    "lane %s: %r, the truck before, read again in doubt: ignored",
                    self.lane,
                    read.vrn,
                )
                out.ignored.append("doubt_truck_before")
                return
            if named and self._ended is not None and read.ts < self._ended[1] - SYNC_CLOCK_SKEW:
                # the truck that just left, read before its session ended, delivered late:
                # decided, its answer would show to whoever pulled up next
                self._before_truck(out, read)
                return
        else:
            first = _first_seen(session)
            if now - read.ts > self._max_read_age and read.ts < session.started_at:
                # a late read (see _decide_plate) of a truck before this one: whoever it
                # saw has gone, and the truck at the lane now is not to be disturbed
                logger.warning(
                    "lane %s: a read of %r taken at %s, before the truck at the lane came: ignored",
                    self.lane,
                    read.vrn,
                    read.ts,
                )
                out.ignored.append("late_read")
                return
            if named and read.ts < first and session.reason != "read_clock_ahead":
                # the truck before, taken before this one was seen (a slower reader, a
                # resend): ended, this truck's session showed that truck's answer in front
                # of it (its PROCEED to a truck told INSPECT)
                self._before_truck(out, read)
                return
            # a read after one that failed on the read itself is that truck read again
            # (better: the AVRS sends it when its camera catches the plate late, a little
            # earlier stamped with its longer settle; or in time after a late read), not
            # the same truck to ignore
            reread = (
                bool(read.vrn)
                and session.reason in _READ_FAULTS
                and not named
                # a reader whose clock ran ahead stamped the first read: not to go by
                and (session.reason == "read_clock_ahead" or read.ts >= first - REREAD_SLACK)
            )
            if read.vrn and not reread and self._same_truck(session, read):
                logger.debug(
                    "lane %s: %r read again on the same truck, ignored", self.lane, read.vrn
                )
                out.ignored.append("same_truck")
                if len(session.plate_reads) < MAX_SESSION_READS and all(
                    r.id != read.id
                    for r in session.plate_reads  # not a redelivery
                ):
                    # in the record (written with the session's next change, like an
                    # ignored press): what the lane saw of the truck while it stood there
                    session.plate_reads.append(read)
                if not self._doubted(out, now, session, read):
                    self._new_plate_kind(out, now, session, read)
                return
            # the truck before stamped after this one was seen (a reader whose clock runs
            # ahead), or a read taken before this one was seen that is neither (the next
            # truck by a reader whose clock lags the first's): which truck, the lane
            # cannot tell, and the truck at the booth must not be released on it (nor be
            # shown the truck before's answer): STOP, an officer looks
            early = named or (
                not reread and session.reason != "read_clock_ahead" and read.ts < first
            )
            # the new truck's instruction follows at once: no READY between the two
            self._end(out, now, "reread" if reread else "next_vehicle", ready=False)
            if early:
                session = self._open(read, self.read_plates(read), now)
                self._show(out, now, _Decision(Code.STOP_SEE_OFFICER, "read_before_truck"))
                return
        session = self._open(read, self.read_plates(read), now)
        self._show(out, now, self._decide_plate(session, read, session.plates, now))

    def _doubted(self, out: LaneOutput, now: datetime, session: Session, read: PlateRead) -> bool:
        """A read of the truck at the lane whose reader now rates another plate of its
        kind at least as likely (``_in_doubt``): the AVRS sends one when, after it
        published a plate, it reads one a character off it that confidently (four frames
        of the approaching truck misread ``PA3523``, then ``PA3623`` read close up). While
        the truck waits at NO_BUNDLE or DROP_MANIFEST, which truck it is the lane cannot
        say: STOP (``plate_in_doubt``), or INSPECT for a plate told INSPECT lately; the
        plates join the truck's (its record names them) and are remembered
        (``DOUBT_WINDOW_S``). True when it showed one.

        Any other instruction stands: a STOP or an INSPECT already holds the truck, a
        TOO_EARLY or WRONG_CONTROL_POINT releases nothing, and a PROCEED has released it
        (the driver may be gone; its record says what was shown)."""
        if session.code not in (Code.NO_BUNDLE, Code.DROP_MANIFEST):
            return False
        # rated at least as the read plate and at least the least threshold: a read of the
        # truck rated below this lane's threshold by the doubt itself is one all the same
        doubted = self._in_doubt(read, MIN_CONFIDENCE_THRESHOLD)
        if not doubted:
            return False
        session.plates += [p for p in doubted if p not in session.plates]
        decision = self._pending_inspection(session.plates, now)
        if decision is None:
            # the truck's own plates (its read plate, its bundle's) and those doubted: not
            # a runner-up of the other kind, which may be another truck's (an AVRS pairs
            # plates read close in time), stopped at every lane for the window
            self._doubts.remember(
                (
                    session.vrn,
                    read.vrn,
                    *doubted,
                    *self._bundle_plates,
                    *self._their_bundles(doubted),
                )
            )
            decision = _Decision(Code.STOP_SEE_OFFICER, "plate_in_doubt")
        logger.warning(
            "lane %s: %s read again with %s as likely: %s",
            self.lane,
            read.vrn,
            ", ".join(doubted),
            decision.code,
        )
        self._show(out, now, decision)
        return True

    def _new_plate_kind(
        self, out: LaneOutput, now: datetime, session: Session, read: PlateRead
    ) -> None:
        """A read of the truck at the lane by a plate of the kind it was not known by yet:
        its Hong Kong plate, read with its Mainland plate as a runner-up, after the truck
        was read by the Mainland plate alone (or the other way round). With no bundle
        decided on, the truck was looked up by one plate only; a bundle that names only
        the other one (the centre fills ``second_plate`` only for vehicles it knows) was
        never seen, and an Unladen press released the truck whatever that bundle's
        selection said. A confident read's plates that name the truck
        (``rocars.ids.identity_plates``) join the truck's, and while the truck waits at NO_BUNDLE or stands released as
        unladen the lane decides again: a bundle (shown again if it says PROCEED too, so
        the record names it), an inspection told lately or a STOP is shown; none (still
        no bundle) leaves a truck at NO_BUNDLE as it was, and asks one released as unladen
        again (NO_BUNDLE: the read may be the next truck's). An INSPECT or a STOP stands.

        The truck's first plate stays first, and a runner-up of its own kind stays
        untrusted: taken in, it would make the truck that plate names "the same truck"
        (its read ignored, this truck's PROCEED left up in front of it).

        A read taken before the truck's first read (by the reader's clock, which stamps
        both: ``ts`` is when the reader saw the plate) is of a truck before it, never
        taken. Not the lane's clock at the session's start: that comes a settle time and a
        broker's trip after the first sighting, and from another machine's clock, so a
        plate seen just after the first was refused.
        """
        first_seen = _first_seen(session)
        if (
            self._bundle_plates
            or session.code not in (Code.NO_BUNDLE, Code.PROCEED)
            or read.ts < first_seen
            or read.confidence < self.config.confidence_threshold
        ):
            # at INSPECT too: a plate linked to the truck only by a runner-up may be the
            # next truck's (an AVRS pairs plates read close in time), and remembered it
            # would send that truck to INSPECT for the window at every lane (tried and
            # reverted 2026-12-07; docs/open-questions.md)
            return
        mainland = is_mainland_plate(read.vrn)
        known = identity_plates(session.plates)
        if any(is_mainland_plate(p) == mainland for p in known):
            return
        named = identity_plates(self.read_plates(read))
        # the truck's first plate first, as it is the read plate of every rule (_untrusted
        # checks each bundle against it): with the new plate first, a bundle naming the
        # new plate and another of the first's kind (truck B's, found by B's Mainland
        # plate read with this truck's as its runner-up) passed, and released this truck
        lookup = [*known, *(p for p in named if p not in known)]
        stale = self._check_fresh(session, now)
        decision = self._pending_inspection(lookup, now) or self._still_in_doubt(lookup) or stale
        if decision is None:
            # the bundles found must be the truck's by either plate as the read plate: a
            # bundle naming the truck's first plate with another of the new plate's kind
            # is another truck's (one bundled since, by a read that misread the first)
            # (decided from that one look-up: looked up again, a replica error on the
            # first or a change of the feed between the two skipped the check)
            found = self._truck_bundles(lookup, now)
            other_way = [*named, *(p for p in known if p not in named)]
            if isinstance(found, _Decision):
                decision = found
            elif _untrusted(other_way, found[0]):
                decision = _Decision(Code.STOP_SEE_OFFICER, "ambiguous_plate")
            else:
                decision = self._from_bundles(*found, now)
        session.plates += [p for p in named if p not in session.plates]
        if decision is None and session.code is Code.PROCEED:
            # released as unladen, and nothing by the new plate either: it may be the next
            # truck's, pulled up in front of this PROCEED with the truck before's plate as
            # its read's runner-up (an AVRS pairs plates read close in time), a laden truck
            # with no bundle released on it. Asked again: the same truck presses once more
            decision = _Decision(Code.NO_BUNDLE, "unladen_asked_again")
        if decision is None:
            return
        logger.warning(
            "lane %s: %s read with %s, the truck's other plate: %s",
            self.lane,
            read.vrn,
            session.vrn or "-",
            decision.code,
        )
        self._show(out, now, decision)

    def _unladen(self, out: LaneOutput, now: datetime, event: UnladenPressed) -> None:
        session = self.session
        why = ""
        if session is None:
            why = "lane_ready"
        elif session.code is not Code.NO_BUNDLE:
            why = f"unladen_at_{session.code.lower()}"
        elif event.vrn and _plate_or_none(event.vrn) != session.vrn:
            why = "unladen_other_vrn"
        else:
            why = _answers_another(session, event, "unladen", now)
        if why:
            self._ignore(out, now, "unladen", event.id, "panel", why)
            return
        assert session is not None
        self._act(session, now, "unladen", event.id, "panel")
        # told INSPECT since the read (at another shard's lane, known since)? Whatever the
        # replica's age (as for a read)
        stale = self._check_fresh(session, now)
        decision = (
            self._pending_inspection(session.plates, now)
            or self._still_in_doubt((*session.plates, *self._bundle_plates))
            or stale
        )
        if decision is None:
            # a bundle of the truck's that reached the replica since the read (made at the
            # kiosk meanwhile, or late through the feed): it is laden after all, and goes
            # by its bundle; released as unladen, its bundle's selection would be skipped
            decision = self._by_bundles(session.plates, now)
            if decision is not None:
                logger.warning(
                    "lane %s: Unladen pressed for %s, which has a bundle now: %s",
                    self.lane,
                    session.vrn or "-",
                    decision.code,
                )
        if decision is None:
            if self._rng.random() < self.config.unladen_inspect_share:
                decision = _Decision(Code.INSPECT, "unladen_inspect", bay=self.config.inspect_bay)
            else:
                decision = _Decision(Code.PROCEED, "unladen_released")
        self._show(out, now, decision)

    def _manifest(self, out: LaneOutput, now: datetime, event: ManifestDropped) -> None:
        session = self.session
        why = ""
        if session is None:
            why = "lane_ready"
        elif session.code is not Code.DROP_MANIFEST:
            why = f"manifest_at_{session.code.lower()}"
        else:
            why = _answers_another(session, event, "manifest", now)
        if why:
            self._ignore(out, now, "manifest", event.id, event.source, why)
            return
        assert session is not None
        self._act(session, now, "manifest", event.id, event.source)
        # told INSPECT since the read (at another shard's lane, known since)? As for an
        # Unladen press (by the same plates): a drop must not release a truck an
        # inspection waits for
        stale = self._check_fresh(session, now)
        decision = (
            self._pending_inspection(session.plates, now)
            or self._still_in_doubt((*session.plates, *self._bundle_plates))
            or stale
            or self._at_manifest(session, now)
        )
        self._show(out, now, decision)

    def _tick(self, out: LaneOutput, now: datetime) -> None:
        session = self.session
        if session is None:
            return
        elapsed = self.shown_for(session, now)
        if session.code in WAITING_CODES and elapsed >= self.config.timeout_s:
            self._show(out, now, _Decision(Code.STOP_SEE_OFFICER, "timeout", ubr=session.ubr))
        elif session.code in FINAL_CODES and elapsed >= self.config.hold_s:
            self._end(out, now, session.reason)

    def shown_for(self, session: Session, now: datetime) -> float:
        """How long ``session``'s code has been shown, in seconds: by the wall clock and by
        the monotonic one, whichever is longer. By the wall clock alone, one stepped back
        (a site's NTP source put right) held the truck before's PROCEED as long as the
        step, and no READY came (found in review). The controller's timer asks it too."""
        elapsed = (now - session.code_at).total_seconds()
        shown = self._shown_at
        if shown is not None and shown[0] == session.id:
            elapsed = max(elapsed, self._monotonic() - shown[1])
        return elapsed

    def _fail_closed(self, out: LaneOutput, now: datetime, read: PlateRead | None = None) -> None:
        """A rule raised (a bug, or data no rule foresaw): the truck at the lane is shown
        STOP_SEE_OFFICER (reason ``lane_error``), and what the lane did before in this step
        (the truck before's session ended, its record) is kept in ``out``. Left as it was,
        the truck before's PROCEED would stay on the displays, and a record already made
        would be lost.

        A read gets a session of its own: one that failed before its session was made
        had found the truck before's session unable to end, which is dropped (logged).
        A session that cannot end even once it failed closed (the timer's next try) is
        dropped too, and the lane shows READY: not STOP for ever."""
        logger.exception("lane %s: cannot decide: showing STOP_SEE_OFFICER", self.lane)
        session = self.session
        if read is not None and (session is None or session.plate_reads[-1:] != [read]):
            if session is not None:
                self._drop(session)
            session = self._open(read, [read.vrn] if read.vrn else [], now)
        if session is None:
            return  # a press or a tick with no truck at the lane
        if read is None and session.reason == "lane_error":
            self._drop(session)
            self._instruction(out, Code.READY, now)
            return
        self._show(out, now, _Decision(Code.STOP_SEE_OFFICER, "lane_error"))

    def _open(self, read: PlateRead, plates: list[str], now: datetime) -> Session:
        """A new session for the truck ``read`` saw, by ``plates``, now the lane's."""
        session = Session(vrn=read.vrn, plates=plates, started_at=now, code=Code.READY, code_at=now)
        session.plate_reads.append(read)
        self.session = session
        return session

    def _drop(self, session: Session, *, why: str = "", exc_info: bool = False) -> None:
        """A session that cannot end: gone without its record (said in the log, with what
        it raised when ``exc_info``)."""
        logger.error(
            "lane %s: the session of %s (%s)%s cannot end: dropped, its record lost",
            self.lane,
            session.vrn or "-",
            session.id,
            f", {why}," if why else "",
            exc_info=exc_info,
        )
        self.session = None
        self._bundle_plates = ()

    # -- rules -------------------------------------------------------------------------

    def _same_truck(self, session: Session, read: PlateRead) -> bool:
        """The read names the truck already at the lane.

        The truck's plates: its bundle's here (as they were when the lane decided on it:
        a truck's plates do not change while it stands at the lane, and looking the
        bundle up again cost every read that found a session open a second look-up) and
        the plate it was read by; with no bundle, the plates it was read by
        (``identity_plates``). The read plate among them: the same truck; but for a plate
        the truck is known by only as its first read's runner-up, not when this read's
        own runner-ups of the other kind name a plate the truck is not known by (truck
        CD5678 read by the Mainland plate a runner-up of the truck before misread, with
        CD5678 as its own runner-up). The truck known by
        another plate of the read plate's kind (a truck has one of each): another truck,
        whatever its alternates say (CD5678 read with AB1234's Mainland plate as a
        runner-up; AB1284 behind AB1234 whose read had AB1284 as a runner-up): the
        PROCEED of the truck before must not stay up in front of it. Else an alternate
        of the other kind may name it (its Mainland plate read after its Hong Kong one).
        """
        vrn = read.vrn
        bundle = self._bundle_plates
        truck = (*bundle, session.vrn) if bundle else identity_plates(session.plates)
        mainland = is_mainland_plate(vrn)
        if vrn in truck:
            if bundle or vrn == session.vrn:
                return True
            return all(
                p in truck for p in self.read_plates(read)[1:] if is_mainland_plate(p) != mainland
            )
        if any(is_mainland_plate(p) == mainland for p in truck if p):
            return False
        return any(p in truck for p in identity_plates(self.read_plates(read))[1:])

    def _in_doubt(self, read: PlateRead, floor: float) -> list[str]:
        """The plates of the read plate's kind that its reader rated at least as likely as
        the read plate and at least ``floor`` (the lane's threshold for a truck's first
        read, the least threshold for one of the truck at the lane): ``WA9`` at 0.816 with
        ``MA9`` at 0.9985 among its alternates. Which truck it saw, the reader cannot
        tell: a bundle of the read plate would release a truck that may be the other
        plate's (whose own bundle, if it has none, is not there to say so), and no bundle
        would let an Unladen press release it. A runner-up rated less than the read
        plate is a misreading of it (rule 2 still checks its bundles, ``_untrusted``)."""
        if not read.vrn:
            return []
        mainland = is_mainland_plate(read.vrn)
        floor = max(floor, read.confidence)
        return [
            alt.vrn
            for alt in read.alternates
            if alt.vrn
            and alt.vrn != read.vrn
            and is_mainland_plate(alt.vrn) == mainland
            and alt.confidence >= floor
        ]

    def _their_bundles(self, plates: list[str]) -> list[str]:
        """The plates of the active bundles of ``plates`` (each names one of them as its
        Hong Kong plate or second plate: a truck's own, by the centre's record); none if
        the replica cannot say (the STOP stands without them)."""
        try:
            bundles = self._active_bundles(plates)
        except SyncError as err:
            logger.error("lane %s: replica lookup failed: %s", self.lane, err)
            return []
        return [p for b in bundles for p in bundle_plates(b)]

    def _still_in_doubt(self, plates: Iterable[str]) -> _Decision | None:
        """STOP for a truck one of whose plates was stopped in doubt lately (``Doubts``):
        read by its other plate since, or at another lane. A read, a press and a drop ask."""
        if self._doubts.lately(plates):
            return _Decision(Code.STOP_SEE_OFFICER, "plate_in_doubt")
        return None

    def read_plates(self, read: PlateRead) -> list[str]:
        """The read vrn and every alternate read as confidently (incl. a Mainland plate)."""
        plates = [read.vrn] if read.vrn else []
        for alt in read.alternates:
            if alt.confidence >= self.config.confidence_threshold and alt.vrn not in plates:
                plates.append(alt.vrn)
        return plates

    def _check_fresh(self, session: Session, now: datetime) -> _Decision | None:
        """Rule 6: STOP on a stale replica; else note whether the centre is down. A stale
        replica is not known current either: the session is marked ``offline`` then too
        (the INSPECT of a truck told INSPECT lately is shown on a stale replica, and its
        record must not pass for one decided on a current one)."""
        fresh = self._freshness()
        age = None if fresh.last_sync_at is None else now - fresh.last_sync_at
        if age is None or age > self._max_age or age < -SYNC_CLOCK_SKEW:
            session.offline = True
            return _Decision(Code.STOP_SEE_OFFICER, "stale_replica", ubr=session.ubr)
        if not fresh.central_up:
            session.offline = True
        return None

    def _decide_plate(
        self, session: Session, read: PlateRead, plates: list[str], now: datetime
    ) -> _Decision:
        age = now - read.ts
        if age > self._max_read_age:
            # queued somewhere (a reader or an agent that lost the broker sends its reads
            # when it is back): whoever is at the booth now is not the truck it saw
            return _Decision(Code.STOP_SEE_OFFICER, "late_read")
        if age < -SYNC_CLOCK_SKEW:
            # a reader whose clock runs ahead: its reads' age says nothing (a late one
            # would pass as fresh), so none is trusted until its clock is put right
            return _Decision(Code.STOP_SEE_OFFICER, "read_clock_ahead")
        if not read.vrn:
            return _Decision(Code.STOP_SEE_OFFICER, "no_plate")
        if read.confidence < self.config.confidence_threshold:
            return _Decision(Code.STOP_SEE_OFFICER, "low_confidence")
        stale = self._check_fresh(session, now)
        # a truck told INSPECT lately is told so again whatever the replica's age: the
        # memory is the lanes' own, and a STOP is a truck an officer may wave on
        pending = self._pending_inspection(plates, now)
        if pending is not None:
            return pending
        if stale is not None:
            return stale
        doubted = self._in_doubt(read, self.config.confidence_threshold)
        if doubted:
            # not a runner-up of the other kind (maybe another truck's, stopped at every
            # lane), but the plates the bundles of the plates in doubt name: the truck's
            # Mainland plate read alone at the next lane was released on its bundle
            firm = [read.vrn, *doubted]
            self._doubts.remember((*firm, *self._their_bundles(firm)))
            return _Decision(Code.STOP_SEE_OFFICER, "plate_in_doubt")
        lately = self._still_in_doubt(plates)
        if lately is not None:
            # stopped in doubt lately: the truck read again, by either plate
            return lately
        laden = self._by_bundles(plates, now)
        return _Decision(Code.NO_BUNDLE, "awaiting_unladen") if laden is None else laden

    def _pending_inspection(
        self, plates: list[str], now: datetime, truck: tuple[str, ...] = ()
    ) -> _Decision | None:
        """INSPECT again, with the same bay, for a truck told INSPECT lately and read
        again (``Inspections``); None for any other."""
        pending = self._inspections.pending(plates, now, truck)
        if pending is None:
            return None
        return _Decision(Code.INSPECT, "inspect_pending", bay=pending[0] or self.config.inspect_bay)

    def _by_bundles(self, plates: list[str], now: datetime) -> _Decision | None:
        """Rules 1-3 from the truck's active bundles as the replica holds them now; None
        when it has none (rule 4: the truck may be unladen)."""
        found = self._truck_bundles(plates, now)
        if isinstance(found, _Decision):
            return found
        return self._from_bundles(*found, now)

    def _from_bundles(
        self, active: list[Bundle], here: list[Bundle], now: datetime
    ) -> _Decision | None:
        """Rules 1-3 from the bundles ``_truck_bundles`` found; None when there are none."""
        if here:
            bundle = self._crossing(here, now)
            if isinstance(bundle, _Decision):
                return bundle
            if self.config.manifest_required:
                return _Decision(
                    Code.DROP_MANIFEST,
                    "awaiting_manifest",
                    ubr=bundle.ubr,
                    plates=bundle_plates(bundle),
                )
            return self._result(bundle)
        if active:
            return _Decision(Code.WRONG_CONTROL_POINT, "wrong_control_point", ubr=active[0].ubr)
        return None

    def _crossing(self, here: list[Bundle], now: datetime) -> Bundle | _Decision:
        """The bundle the truck crosses on (of its active bundles at this control point and
        direction), or TOO_EARLY when none is due yet. Once one is due, a bundle selected
        for inspection is never passed over for a release: the truck crosses on it, due or
        not (the inspection takes it now; a TOO_EARLY for it while a release was due would
        tell the driver which bundle was selected, and let them cancel it and come back).
        Else the oldest due bundle."""
        due = [b for b in here if b.earliest_at <= now]
        if due:
            inspect = [b for b in here if b.result == Code.INSPECT]
            if inspect:
                return min(inspect, key=lambda b: (b.earliest_at > now, b.bundled_at, b.ubr))
            return min(due, key=lambda b: (b.bundled_at, b.ubr))
        first = min(here, key=lambda b: (b.earliest_at, b.ubr))
        return _Decision(
            Code.TOO_EARLY,
            "too_early",
            ubr=first.ubr,
            earliest_at=first.earliest_at,
            plates=bundle_plates(first),
        )

    def _at_manifest(self, session: Session, now: datetime) -> _Decision:
        """The result once the manifest is in, from the bundles as the replica holds them
        now: the session's bundle cancelled or used meanwhile stops the truck; an
        inspection selected meanwhile (of this bundle, or of another of the truck's here)
        wins as at the read."""
        found = self._truck_bundles(session.plates, now)
        if isinstance(found, _Decision):
            return replace(found, ubr=session.ubr)
        _, here = found
        own = next((b for b in here if b.ubr == session.ubr), None)
        if own is None and self._bundle_plates:
            # found at the read through another of the truck's bundles (the hop), which
            # was cancelled since: the bundle decided on, still active here, is the same
            own = self._still_active(session.ubr)
            if own is not None:
                here = [*here, own]
        if own is None:
            return _Decision(Code.STOP_SEE_OFFICER, "bundle_changed", ubr=session.ubr)
        chosen = self._crossing(here, now)
        if isinstance(chosen, _Decision):
            return chosen
        return self._result(chosen if chosen.result == Code.INSPECT else own)

    def _still_active(self, ubr: str | None) -> Bundle | None:
        """The bundle ``ubr`` (of the plates of the bundle decided on), if it is still
        active here; None if not, or if the replica cannot say."""
        try:
            bundles = self._active_bundles(list(self._bundle_plates))
        except SyncError as err:
            logger.error("lane %s: replica lookup failed: %s", self.lane, err)
            return None
        return next((b for b in self._here(bundles) if b.ubr == ubr and b.result), None)

    def _truck_bundles(
        self, plates: list[str], now: datetime
    ) -> tuple[list[Bundle], list[Bundle]] | _Decision:
        """The truck's active bundles, and those of them at this control point and
        direction; or the decision that stands before them: the STOP when the replica
        cannot say or one bundle is not the truck's for sure (``_untrusted``), the INSPECT
        for a truck told INSPECT lately by a plate only its bundles name.

        One hop further than the plates read: the other plates of the bundles found (a
        bundle naming both of the truck's plates, read by one of them) are asked of the
        memory and looked up too. Without it, a truck sampled for inspection when read by
        its Mainland plate, bundled since on both plates and read by its Hong Kong plate
        alone, was decided afresh; and a truck read by its Mainland plate found only its
        newer bundle (both plates) and not its older one selected for inspection (its
        Hong Kong plate only), and was released. A bundle found that way that names none
        but the truck's plates (the read's and those its bundles name) joins the truck's
        if it is here and selected for inspection (or its selection is not known): the
        hop never releases. One that names another plate is another vehicle's record or a
        wrong one, as are bundles found by the read that name two Hong Kong plates: the
        truck stops (``ambiguous_plate``), unless a bundle here of those it surely has
        says INSPECT (an officer may wave a STOP on). Bundles of two Hong Kong plates
        with an INSPECT among them: INSPECT, on no bundle (which is the truck's is not
        known, and a crossing uses its bundle up).
        """
        active = self._active_or_stop(plates)
        if isinstance(active, _Decision):
            return active
        if _untrusted(plates, active):
            return _Decision(Code.STOP_SEE_OFFICER, "ambiguous_plate")
        # the usual truck, one bundle naming no plate but those read, has nothing to look
        # up further (and one Hong Kong plate)
        if len(active) > 1 or (active and any(p not in plates for p in bundle_plates(active[0]))):
            held = self._one_hop_further(plates, active, now)
            if isinstance(held, _Decision):
                return held
            active = held
        here = self._here(active)
        unknown = next((b for b in here if b.result is None), None)
        if unknown is not None:
            # a bundle whose selection the replica does not hold (the centre's change left
            # it out): neither a release nor an inspection can be told, and a release of
            # another of the truck's bundles could pass over an inspection
            logger.error("lane %s: bundle %s has no result: STOP", self.lane, unknown.ubr)
            return _Decision(Code.STOP_SEE_OFFICER, "bundle_incomplete", ubr=unknown.ubr)
        return active, here

    def _one_hop_further(
        self, plates: list[str], active: list[Bundle], now: datetime
    ) -> list[Bundle] | _Decision:
        """``_truck_bundles``' hop: the truck's bundles with those the hop holds it on, or
        the decision that stands (records that disagree, an inspection told lately)."""
        # the truck's plates as its bundles have them (each carries the read plate, or is
        # the one bundle trusted without it: ``_untrusted``)
        truck = {plates[0]: None}
        for bundle in active:
            truck.update(dict.fromkeys(bundle_plates(bundle)))
        if sum(not is_mainland_plate(p) for p in truck) > 1:
            # a Mainland plate that two Hong Kong plates' bundles name
            logger.error(
                "lane %s: the bundles of %s name %s: not one truck's",
                self.lane,
                plates[0],
                " ".join(truck),
            )
            inspect = [b for b in self._here(active) if b.result == Code.INSPECT]
            if not inspect:
                return _Decision(Code.STOP_SEE_OFFICER, "ambiguous_plate", ubr=active[0].ubr)
            decided = self._result(inspect[0])
            return replace(decided, ubr=None, plates=tuple(truck))
        linked = [p for p in truck if p not in plates]
        if linked:
            # the truck's other plate, which its bundles name and the read did not: told
            # INSPECT lately by it (the plates of the sessions the INSPECT was told in)
            pending = self._pending_inspection(linked, now, truck=tuple(truck))
            if pending is not None:
                return replace(pending, plates=tuple(truck))
            further = self._active_or_stop(linked)
            if isinstance(further, _Decision):
                return further
            ubrs = {b.ubr for b in active}
            found = [b for b in further if b.ubr not in ubrs]
            own = [b for b in found if all(p in truck for p in bundle_plates(b))]
            others = [b for b in found if b not in own]
            # what the hop adds may hold the truck, never release it: a selection for
            # inspection here, or a bundle here whose selection is not known. A bundle
            # found only through another's plates is the truck's by the centre's
            # pairing of plates, which may be wrong (another vehicle's PROCEED)
            held = [b for b in self._here(own) if b.result != Code.PROCEED]
            active = sorted([*active, *held], key=lambda b: b.ubr)
            if others:
                logger.error(
                    "lane %s: bundle %s (%s), found by a plate the bundles of %s name, "
                    "names another plate",
                    self.lane,
                    others[0].ubr,
                    " ".join(bundle_plates(others[0])),
                    plates[0],
                )
                if not any(b.result == Code.INSPECT for b in self._here(active)):
                    inspect = [b for b in self._here(others) if b.result == Code.INSPECT]
                    if not inspect:
                        return _Decision(
                            Code.STOP_SEE_OFFICER, "ambiguous_plate", ubr=others[0].ubr
                        )
                    # a selection for inspection among them: INSPECT, on no bundle
                    decided = self._result(inspect[0])
                    return replace(decided, ubr=None, plates=tuple(truck))
                # an inspection the truck's own bundles here say stands
        return active

    def _here(self, bundles: list[Bundle]) -> list[Bundle]:
        """Those of ``bundles`` at this lane's control point and direction."""
        return [b for b in bundles if b.cp == self.cp and b.direction == self.direction]

    def _active_or_stop(self, plates: list[str]) -> list[Bundle] | _Decision:
        """``_active_bundles``, or the STOP when the replica cannot say (logged)."""
        try:
            return self._active_bundles(plates)
        except SyncError as err:
            logger.error("lane %s: replica lookup failed: %s", self.lane, err)
            return _Decision(Code.STOP_SEE_OFFICER, "replica_error")

    def _active_bundles(self, plates: list[str]) -> list[Bundle]:
        seen: dict[str, Bundle] = {}
        for plate in plates:
            for bundle in self._lookup(plate):
                if bundle.status is BundleStatus.ACTIVE:
                    seen.setdefault(bundle.ubr, bundle)
        return sorted(seen.values(), key=lambda b: b.ubr)

    def _result(self, bundle: Bundle) -> _Decision:
        plates = bundle_plates(bundle)
        if bundle.result == Code.INSPECT:
            bay = bundle.bay or self.config.inspect_bay
            try:
                check_bay(bay)
            except ValueError as err:
                # the displays would refuse the INSPECT (and the truck was never told to
                # go): an officer sends it to the bay the centre meant
                logger.error(
                    "lane %s: bundle %s's bay %r cannot be shown (%s): STOP",
                    self.lane,
                    bundle.ubr,
                    bay,
                    err,
                )
                return _Decision(
                    Code.STOP_SEE_OFFICER, "bay_unshowable", ubr=bundle.ubr, plates=plates
                )
            return _Decision(Code.INSPECT, "inspect", ubr=bundle.ubr, bay=bay, plates=plates)
        return _Decision(Code.PROCEED, "released", ubr=bundle.ubr, plates=plates)

    # -- bookkeeping -------------------------------------------------------------------

    def _show(self, out: LaneOutput, now: datetime, decision: _Decision) -> None:
        session = self.session
        assert session is not None
        session.code = decision.code
        session.code_at = now
        self._shown_at = (session.id, self._monotonic())
        session.reason = decision.reason
        if decision.ubr is not None:
            session.ubr = decision.ubr
        if decision.plates:
            self._bundle_plates = decision.plates
        if decision.code is Code.INSPECT:
            self._inspections.told(
                (*session.plates, *self._bundle_plates),
                now,
                decision.bay,
                firm=(session.vrn, *self._bundle_plates),
            )
        seq = self._instruction(
            out,
            decision.code,
            now,
            vrn=session.vrn or None,
            ubr=session.ubr,
            bay=decision.bay,
            earliest_at=decision.earliest_at,
        )
        session.instructions.append(
            InstructionLog(
                seq=seq,
                code=decision.code,
                ts=now,
                bay=decision.bay,
                earliest_at=decision.earliest_at,
            )
        )
        out.decisions.append((session.vrn or "-", decision.code, decision.reason))

    def log_decisions(self, out: LaneOutput) -> None:
        """Log what ``out`` showed, a line a decision. The controller calls it once the
        change is with the outbox (with ``"write"`` its instructions are out by then): a
        log line is no reason for a driver to wait."""
        for vrn, code, reason in out.decisions:
            logger.info("lane %s: %s %s (%s)", self.lane, vrn, code, reason)

    def _end(self, out: LaneOutput, now: datetime, reason: str, *, ready: bool = True) -> None:
        session = self.session
        assert session is not None
        shown = [i.code for i in session.instructions if i.code is not Code.READY]
        record = ClearanceRecord(
            id=session.id,
            cp=self.cp,
            lane=self.lane,
            direction=self.direction,
            started_at=session.started_at,
            ended_at=now,
            vrn=session.vrn or None,
            ubr=session.ubr,
            plate_reads=session.plate_reads,
            instructions=session.instructions,
            actions=session.actions,
            outcome=shown[-1] if shown else Code.STOP_SEE_OFFICER,
            reason=reason or "ended",
            offline=session.offline,
        )
        out.records.append(record)
        # the truck's own plates: the one it was first read by and its bundle's; not a
        # runner-up, nor a read taken in as "the same truck" by its runner-up (either
        # may be the next truck's, as an AVRS pairs plates read close in time)
        self._ended = (frozenset({session.vrn, *self._bundle_plates} - {""}), now)
        self.session = None
        self._bundle_plates = ()
        if ready:
            self._instruction(out, Code.READY, now)

    def _act(self, session: Session, now: datetime, kind: str, event_id: str, source: str) -> None:
        session.actions.append(
            DriverAction.model_validate({"kind": kind, "ts": now, "id": event_id, "source": source})
        )

    def _ignore(
        self, out: LaneOutput, now: datetime, kind: str, event_id: str, source: str, why: str
    ) -> None:
        logger.info("lane %s: %s press ignored (%s)", self.lane, kind, why)
        out.ignored.append(why)
        session = self.session
        if session is None:
            return
        ignored = [a for a in session.actions if a.ignored]
        if len(ignored) >= MAX_IGNORED_ACTIONS or any(a.id == event_id for a in session.actions):
            return  # the record has enough of them, or this one (delivered again)
        session.actions.append(
            DriverAction.model_validate(
                {"kind": kind, "ts": now, "id": event_id, "source": source, "ignored": True}
            )
        )

    def _instruction(
        self,
        out: LaneOutput,
        code: Code,
        now: datetime,
        *,
        vrn: str | None = None,
        ubr: str | None = None,
        bay: str | None = None,
        earliest_at: datetime | None = None,
    ) -> int:
        """Add the next instruction to ``out`` as its signed wire bytes; its ``seq``."""
        seq = max(self.last_seq + 1, int(now.timestamp() * 1000))
        self.last_seq = seq
        if code is Code.READY:
            expires_at = None
            ubr = None
        elif code in WAITING_CODES:
            expires_at = now + timedelta(seconds=self.config.timeout_s) + EXPIRY_MARGIN
        else:
            expires_at = now + timedelta(seconds=self.config.hold_s) + EXPIRY_MARGIN
        # Only the wire bytes are made, not the model (a plate read makes one or two
        # instructions and a model was ~13 us of each, cold): the fields, names and
        # formats of ``Instruction.to_dict()``, which the tests check on every rule.
        out.payloads.append(
            instruction_payload(
                self._key,
                id=new_event_id(),
                ts=to_rfc3339(now),
                seq=seq,
                code=code.value,
                vrn=vrn,
                ubr=ubr,
                bay=bay,
                earliest_at=None if earliest_at is None else to_rfc3339(earliest_at),
                expires_at=None if expires_at is None else to_rfc3339(expires_at),
            )
        )
        out.codes.append(code)
        return seq

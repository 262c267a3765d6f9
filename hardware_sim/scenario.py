"""Traffic scenario: trucks arriving at lanes, reported as the AVRS and the AIOP would.

Each lane has a driver thread that waits for the lane to show READY, publishes a
PlateRead, answers the instructions as that kind of truck's driver would (drops the
manifest, presses Unladen Vehicle, or does nothing) and follows the lane until it is
READY again. Every step is reported to a ``Reporter`` as it happens.
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from hardware_sim.lpr_device import VirtualLpr
from hardware_sim.synthetic_camera import LiveCamera
from hardware_sim.synthetic_camera import Truck as CameraTruck
from rocars.bus import Bus
from rocars.errors import BadPayload, RocarsError
from rocars.ids import ControlPoint
from rocars.messages import (
    Alternate,
    Instruction,
    InstructionCode,
    ManifestDropped,
    PlateRead,
    UnladenPressed,
)
from rocars.signing import lane_key, verify_payload
from rocars.timeutil import utc_now
from rocars.topics import instruction_topic, manifest_topic, plate_topic, unladen_topic

logger = logging.getLogger(__name__)

C = InstructionCode

#: What each kind of truck should end in. A truck with a bundle and a pre-selected
#: result may be sampled for inspection; an unladen truck may be sampled at random.
EXPECTED: dict[str, frozenset[InstructionCode]] = {
    "laden_proceed": frozenset({C.PROCEED}),
    "laden_inspect": frozenset({C.INSPECT}),
    "too_early": frozenset({C.TOO_EARLY}),
    "wrong_cp": frozenset({C.WRONG_CONTROL_POINT}),
    "second_plate": frozenset({C.PROCEED, C.INSPECT}),
    "cancelled": frozenset({C.STOP_SEE_OFFICER}),
    "unladen": frozenset({C.PROCEED, C.INSPECT}),
    "laden_no_bundle": frozenset({C.STOP_SEE_OFFICER}),
    "unread": frozenset({C.STOP_SEE_OFFICER}),
    "low_confidence": frozenset({C.STOP_SEE_OFFICER}),
}

#: One round of kinds covers every instruction code (READY ends each session).
ROUND = tuple(EXPECTED)

#: Kinds whose plate may be used again: they have no bundle a crossing could use up (a
#: WRONG_CONTROL_POINT or a cancelled bundle's STOP is no crossing). ``too_early`` is
#: reusable too, until its bundle is due (``plan_trucks``).
REUSABLE = frozenset(
    {"unladen", "laden_no_bundle", "unread", "low_confidence", "wrong_cp", "cancelled"}
)

#: How long before its bundle is due a too-early truck is no longer sent: it may wait
#: that long for its lane (``up`` gives more when a lane's journey can take longer)
DUE_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Truck:
    """One planned arrival."""

    n: int
    kind: str
    vrn: str  # the truck's HK plate ("" for an unreadable one)
    read: str  # what the reader reports as the plate
    confidence: float
    alternates: tuple[tuple[str, float], ...] = ()
    ubr: str | None = None

    @property
    def plates(self) -> frozenset[str]:
        """Every plate this truck carries and may be read by: its HK plate, what the reader
        reports, the runner-up reads (a cross-boundary truck's Mainland plate)."""
        return frozenset(p for p in (self.vrn, self.read, *(v for v, _ in self.alternates)) if p)


class TooEarlyBundles(Protocol):
    """Where ``plan_trucks`` learns when a too-early truck's bundle is due, and gets a
    new too-early truck (a fresh bundle) once the ones it has are due."""

    def earliest_at(self, ubr: str) -> datetime:
        """The bundle's ``earliest_at``; RocarsError if it cannot be told."""
        ...

    def too_early_truck(self) -> dict[str, Any]:
        """A new demo truck of kind ``too_early`` (its bundle made just now); RocarsError
        if none can be made."""
        ...


class _TooEarly:
    """The too-early trucks: each used again until its bundle is due within ``margin``
    (a TOO_EARLY is no crossing), then replaced by a fresh one from ``source``. Without
    a source, each is used once (when it is due cannot be told)."""

    def __init__(
        self,
        pool: list[dict[str, Any]],
        source: TooEarlyBundles | None,
        clock: Callable[[], datetime],
        margin: timedelta,
    ) -> None:
        self._pool = pool
        self._source = source
        self._clock = clock
        self._margin = margin
        self._earliest: dict[str, datetime] = {}
        self._next = 0
        #: why coverage stopped (None while it goes on)
        self.stopped: str | None = None

    def take(self) -> dict[str, Any] | None:
        if self.stopped is not None:
            return None
        if self._source is None:
            if self._next >= len(self._pool):
                self.stopped = f"used up ({_plural(len(self._pool), 'seeded bundle')})"
                return None
            self._next += 1
            return self._pool[self._next - 1]
        try:
            return self._take(self._source)
        except RocarsError as err:
            logger.warning("scenario: no fresh too-early bundle: %s", err)
            self.stopped = f"no fresh bundle could be made ({err})"
            return None

    def _take(self, source: TooEarlyBundles) -> dict[str, Any] | None:
        soon = self._clock() + self._margin
        while True:
            # two at least: two lanes side by side never show the same plate at once
            if len(self._pool) < 2:
                fresh = source.too_early_truck()
                if self._due(source, fresh) <= soon:
                    self.stopped = (
                        f"a fresh bundle (UBR {fresh.get('ubr')}) is due before a truck "
                        "could use it"
                    )
                    return None
                self._pool.append(fresh)
                continue
            index = self._next % len(self._pool)
            truck = self._pool[index]
            if self._due(source, truck) <= soon:
                del self._pool[index]  # due: it would PROCEED, it is a too-early no more
                continue
            self._next += 1
            return truck

    def _due(self, source: TooEarlyBundles, truck: dict[str, Any]) -> datetime:
        ubr = str(truck["ubr"])
        if ubr not in self._earliest:
            self._earliest[ubr] = source.earliest_at(ubr)
        return self._earliest[ubr]


def plan_trucks(
    demo_trucks: list[dict[str, Any]],
    seed: int,
    *,
    too_early: TooEarlyBundles | None = None,
    clock: Callable[[], datetime] = utc_now,
    due_margin: timedelta = DUE_MARGIN,
    notice: Callable[[str], None] | None = None,
) -> Iterator[Truck]:
    """Trucks in rounds that cover every kind, shuffled by ``seed``; endless.

    Kinds whose demo trucks are used up drop out of later rounds (their bundles are
    spent once a crossing is recorded), each said once to ``notice``; the reusable kinds
    go on for ever, and ``too_early`` as long as ``too_early`` gives fresh bundles (a
    seeded one is due 30 min after the centre began).
    """
    rng = random.Random(seed)
    pools: dict[str, list[dict[str, Any]]] = {}
    for truck in demo_trucks:
        pools.setdefault(str(truck["kind"]), []).append(truck)
    for pool in pools.values():
        rng.shuffle(pool)
    fallback = [t for t in demo_trucks if t["kind"] in ("unladen", "laden_no_bundle")]
    early = _TooEarly(pools.get("too_early", []), too_early, clock, due_margin)
    stopped: set[str] = set()

    def stop(kind: str, why: str) -> None:
        if kind in stopped:
            return
        stopped.add(kind)
        codes = "/".join(sorted(c.value for c in EXPECTED[kind]))
        text = f"coverage of [{kind}] trucks ({codes}) stopped: {why}"
        logger.warning("scenario: %s", text)
        if notice is not None:
            notice(text)

    used: Counter[str] = Counter()
    counter = itertools.count(1)
    while True:
        kinds = list(ROUND)
        rng.shuffle(kinds)
        produced = False
        for kind in kinds:
            source = kind if kind in pools else None
            if kind in ("unread", "low_confidence"):
                if not fallback:
                    continue
                demo = fallback[used[kind] % len(fallback)]
            elif source is None:
                continue
            elif kind == "too_early":
                found = early.take()
                if found is None:
                    stop(kind, early.stopped or "no truck")
                    continue
                demo = found
            elif kind in REUSABLE:
                demo = pools[kind][used[kind] % len(pools[kind])]
            elif used[kind] < len(pools[kind]):
                demo = pools[kind][used[kind]]
            else:
                seeded = _plural(len(pools[kind]), "seeded bundle")
                stop(kind, f"used up ({seeded}; a larger --trucks seeds more)")
                continue
            used[kind] += 1
            produced = True
            yield _truck(next(counter), kind, demo, rng)
        if not produced:
            return


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _truck(n: int, kind: str, demo: dict[str, Any], rng: random.Random) -> Truck:
    vrn = str(demo["vrn"])
    second = demo.get("second_plate")
    confidence = round(rng.uniform(0.9, 0.99), 2)
    if kind == "unread":
        return Truck(n, kind, vrn, "", 0.0)
    if kind == "low_confidence":
        return Truck(n, kind, vrn, vrn, round(rng.uniform(0.3, 0.6), 2))
    if kind == "second_plate" and second:
        # the camera reads only the Mainland plate well; the HK one is a poor runner-up
        return Truck(n, kind, vrn, str(second), confidence, ((vrn, 0.4),), demo.get("ubr"))
    alternates = ((str(second), 0.8),) if second else ()
    return Truck(n, kind, vrn, vrn, confidence, alternates, demo.get("ubr"))


@dataclass
class Journey:
    """What happened to one truck, in order."""

    truck: Truck
    lane: str
    started: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=utc_now)
    codes: list[InstructionCode] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None
    timed_out: bool = False
    #: the driver failed (the reader could not be fed, ...): the journey did not happen
    error: str | None = None
    #: instructions that came on the lane before this truck arrived (after the last one
    #: left): thrown away, not this truck's; a non-READY one is a lane out of step
    strays: list[InstructionCode] = field(default_factory=list)

    @property
    def outcome(self) -> InstructionCode | None:
        finals = [c for c in self.codes if c is not C.READY]
        return finals[-1] if finals else None

    @property
    def read_plate(self) -> str:
        """The plate of the read that began the record's session ("" if none or unread)."""
        reads = (self.record or {}).get("plate_reads") or [{}]
        return str(reads[0].get("vrn") or "")

    @property
    def problem(self) -> str | None:
        """Why this journey is not what its kind of truck should have had (None: it is).

        It ended (not timed out, no driver error) with a final instruction the kind
        expects, and its lane's record says the same outcome and names this truck: the
        read plate is one of the truck's (none for an unread truck).
        """
        truck = self.truck
        wanted = EXPECTED[truck.kind]
        if self.error is not None:
            return f"driver failed: {self.error}"
        if self.timed_out:
            return "the lane never returned to READY"
        if self.outcome not in wanted:
            got = self.outcome.value if self.outcome else "no final instruction"
            return f"ended in {got}"
        if self.record is None:
            return "no record"
        if self.record.get("outcome") != self.outcome.value:
            return f"record outcome {self.record.get('outcome')} != {self.outcome.value}"
        read = self.read_plate
        if truck.read and read not in truck.plates:
            return f"record read {read or 'no plate'}, not this truck's"
        if not truck.read and read:
            return f"record read {read}, the truck was unread"
        return None

    @property
    def expected(self) -> bool:
        return self.problem is None


class Reporter:
    """Receives each step as it happens; ``up --headless`` prints them."""

    def arrived(self, lane: str, truck: Truck) -> None: ...

    def instruction(self, lane: str, truck: Truck, ins: Instruction) -> None: ...

    def action(self, lane: str, truck: Truck, what: str) -> None: ...

    def finished(self, journey: Journey) -> None: ...

    def notice(self, text: str) -> None:
        """Something about the run as a whole (a kind of truck no longer covered)."""


class LaneDriver:
    """Plays the trucks of one lane, one at a time, on its own thread."""

    def __init__(
        self,
        bus: Bus,
        cp: ControlPoint,
        lane: str,
        site_secret: bytes,
        reporter: Reporter,
        fetch_record: Callable[[Journey], dict[str, Any] | None],
        *,
        journey_timeout: float,
        reaction_s: float = 0.3,
        send_plate: Callable[[Truck], None] | None = None,
        drop_manifest: Callable[[], None] | None = None,
    ) -> None:
        self.bus = bus
        self.cp = cp
        self.lane = lane
        self._key = lane_key(site_secret, cp, lane)
        self._reporter = reporter
        self._fetch_record = fetch_record
        self._timeout = journey_timeout
        self._reaction = reaction_s
        self._send_plate = send_plate or self.publish_plate
        self._drop_manifest = drop_manifest
        self._events: queue.Queue[Instruction] = queue.Queue()
        self._last_seq = -1
        self._current: InstructionCode | None = None
        self._state = threading.Condition()
        bus.subscribe(instruction_topic(cp, lane), self._on_instruction)

    def _on_instruction(self, topic: str, payload: bytes) -> None:
        try:
            ins = verify_payload(payload, self._key)
        except BadPayload as err:
            logger.warning("scenario: dropped instruction on %s: %s", topic, err)
            return
        with self._state:
            if ins.seq <= self._last_seq:
                return
            self._last_seq = ins.seq
            self._current = ins.code
            self._state.notify_all()
        self._events.put(ins)

    def wait_ready(self, timeout: float) -> bool:
        with self._state:
            return self._state.wait_for(lambda: self._current is C.READY, timeout)

    def drive(self, truck: Truck) -> Journey:
        """One truck through the lane: arrive, obey, leave. Returns its journey."""
        if not self.wait_ready(self._timeout):
            logger.warning(
                "lane %s never showed READY; sending truck %d anyway", self.lane, truck.n
            )
        drained = self.drain()
        if drained and drained[-1].code is C.READY:
            drained.pop()  # the READY the truck arrives at (the lane's first, at the start)
        journey = Journey(truck, self.lane, strays=[ins.code for ins in drained])
        self._reporter.arrived(self.lane, truck)
        self._send_plate(truck)
        deadline = time.monotonic() + self._timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                journey.timed_out = True
                break
            try:
                ins = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            journey.codes.append(ins.code)
            self._reporter.instruction(self.lane, truck, ins)
            if ins.code is C.READY:
                if len(journey.codes) > 1:
                    break
                continue
            self._react(journey, ins)
        journey.record = self._fetch_record(journey)
        self._reporter.finished(journey)
        return journey

    def drain(self) -> list[Instruction]:
        """The instructions received and not yet followed (between two trucks), removed."""
        drained: list[Instruction] = []
        while True:
            try:
                drained.append(self._events.get_nowait())
            except queue.Empty:
                return drained

    def publish_plate(self, truck: Truck) -> None:
        """Put the read on the bus directly, as an AVRS adapter would."""
        publish_read(self.bus, self.cp, self.lane, truck)

    def _react(self, journey: Journey, ins: Instruction) -> None:
        truck = journey.truck
        if ins.code is C.DROP_MANIFEST:
            time.sleep(self._reaction)
            if self._drop_manifest is not None:
                self._drop_manifest()  # the drop box's contact; the AIOP reports it
                how = "into the drop box"
            else:
                # as the AIOP sends it: the instruction it answers
                drop = ManifestDropped(source="sensor", instruction_seq=ins.seq)
                self.bus.publish(manifest_topic(self.cp, self.lane), drop)
                how = "(sensor event)"
            journey.actions.append("manifest")
            self._reporter.action(self.lane, truck, f"drops the manifest {how}")
        elif ins.code is C.NO_BUNDLE and truck.kind == "unladen":
            time.sleep(self._reaction)
            press = UnladenPressed(vrn=ins.vrn or "", instruction_seq=ins.seq)
            self.bus.publish(unladen_topic(self.cp, self.lane), press)
            journey.actions.append("unladen")
            self._reporter.action(self.lane, truck, "presses Unladen Vehicle")
        elif ins.code is C.NO_BUNDLE:
            self._reporter.action(self.lane, truck, "does nothing (laden, no bundle)")


def publish_read(bus: Bus, cp: ControlPoint, lane: str, truck: Truck) -> None:
    """A truck's read straight onto the bus, as an AVRS adapter would publish it."""
    bus.publish(
        plate_topic(cp, lane),
        PlateRead(
            vrn=truck.read,
            raw=truck.read,
            confidence=truck.confidence,
            source="camera",
            device="scenario",
            alternates=[Alternate(vrn=v, confidence=c) for v, c in truck.alternates],
        ),
    )


def printed_plate(vrn: str) -> str:
    """How a plate is printed: ``AB 1234`` for a HK VRN, ``粤Z·F023港`` for a Mainland one."""
    if vrn.startswith("粤Z"):
        return f"粤Z·{vrn[2:]}"
    head = vrn.rstrip("0123456789")
    return f"{head} {vrn[len(head) :]}" if head and len(head) < len(vrn) else vrn


def camera_sender(camera: LiveCamera, fallback: Callable[[Truck], None]) -> Callable[[Truck], None]:
    """Drive each truck past a synthetic camera: the real camera path reads its plates.

    A camera cannot be told to misread, so the unread and doubtful-read kinds go to
    ``fallback`` (the bus, as an adapter would report them).
    """

    def send(truck: Truck) -> None:
        if truck.kind in ("unread", "low_confidence"):
            fallback(truck)
            return
        mainland = next((v for v, _ in truck.alternates if v.startswith("粤")), None)
        if truck.read.startswith("粤"):
            mainland = truck.read
        camera.show(
            CameraTruck(printed_plate(truck.vrn), printed_plate(mainland) if mainland else None)
        )

    return send


def lpr_sender(lpr: VirtualLpr) -> Callable[[Truck], None]:
    """Send each truck through a virtual LPR camera: the real AVRS adapter reads it."""

    def send(truck: Truck) -> None:
        if truck.kind == "second_plate":
            # the reader catches only the Mainland plate of this cross-boundary truck
            lpr.send_truck(truck.read, confidence=truck.confidence, repeats=2)
        elif not truck.read:
            lpr.send_truck("", confidence=0.2, repeats=1)
        else:
            second = truck.alternates[0] if truck.alternates else None
            lpr.send_truck(
                truck.read,
                confidence=truck.confidence,
                repeats=3,
                second_plate=second[0] if second else None,
                second_confidence=second[1] if second else None,
            )

    return send


class Scenario:
    """Trucks spread over lanes until ``count`` have passed or ``stop`` is set.

    Truck n always goes to lane ``(n - 1) % lanes``, so a seed gives the same run.
    """

    def __init__(
        self,
        drivers: list[LaneDriver],
        trucks: Iterator[Truck],
        *,
        reporter: Reporter | None = None,
        retry_pause_s: float = 1.0,
    ) -> None:
        self._drivers = drivers
        self._trucks = trucks
        self._lock = threading.Lock()
        self._pending: list[deque[Truck]] = [deque() for _ in drivers]
        self._planned = 0
        self.journeys: list[Journey] = []
        self._reporter = reporter
        #: how long a lane whose driver failed waits before its next truck
        self.retry_pause_s = retry_pause_s

    def _failed(self, journey: Journey) -> None:
        if self._reporter is None:
            return
        try:
            self._reporter.finished(journey)
        except Exception:
            logger.exception("scenario: reporting a failed journey")

    def _next(self, index: int, count: int | None) -> Truck | None:
        with self._lock:
            while not self._pending[index]:
                if count is not None and self._planned >= count:
                    return None
                truck = next(self._trucks, None)
                if truck is None:
                    return None
                self._planned += 1
                self._pending[(truck.n - 1) % len(self._drivers)].append(truck)
            return self._pending[index].popleft()

    def run(self, count: int | None, stop: threading.Event) -> list[Journey]:
        """Every lane's trucks, until ``count`` have been sent or ``stop`` is set.

        A truck whose driver raises (the reader could not be fed, ...) is a journey with
        its ``error``, and the lane goes on with the next one, a moment later.
        """

        def work(index: int, driver: LaneDriver) -> None:
            while not stop.is_set():
                truck = self._next(index, count)
                if truck is None:
                    return
                try:
                    journey = driver.drive(truck)
                except Exception as err:
                    logger.exception("lane %s: truck %d failed", driver.lane, truck.n)
                    journey = Journey(truck, driver.lane, error=f"{type(err).__name__}: {err}")
                    self._failed(journey)
                    # a lane whose device is gone would otherwise spin through its trucks
                    stop.wait(self.retry_pause_s)
                with self._lock:
                    self.journeys.append(journey)

        threads = [
            threading.Thread(target=work, args=(i, d), name=f"lane-{d.lane}", daemon=True)
            for i, d in enumerate(self._drivers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
        return sorted(self.journeys, key=lambda j: j.truck.n)

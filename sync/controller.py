"""The lane controller: binds the plain lane state machines to the bus and the outbox.

Each event is handled under its lane's lock: the lane decides and the new lane state (and
the record of a session that ended) goes to the outbox, which commits it at once on the
calling thread (paho's, for a plate read). Once it is written (or flushed, with
``outbox_durability = "flush"``) the instructions are published, retained, QoS 1: a
display never shows an instruction that the outbox does not hold. Changes are committed
and published in the order the lanes made them, so each lane's ``seq`` reaches the bus
strictly increasing. A payload that
does not parse, a lane this agent does not control, a topic that is not ours: logged
with the topic, counted, dropped; the next message is handled as if nothing happened.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from rocars.errors import BadPayload, RocarsError
from rocars.messages import (
    InstructionCode,
    ManifestDropped,
    PlateRead,
    UnladenPressed,
    parse,
)
from rocars.signing import lane_key
from rocars.timeutil import utc_now
from rocars.topics import (
    LaneTopic,
    ParsedTopic,
    instruction_topic,
    lane_filter,
    parse_lane_topic,
)
from sync.config import LaneConfig, SyncConfig
from sync.errors import OutboxError, ReplicaError
from sync.lane import (
    FINAL_CODES,
    SYNC_CLOCK_SKEW,
    WAITING_CODES,
    Doubts,
    Freshness,
    Inspections,
    Lane,
    LaneOutput,
    bundle_plates,
)
from sync.metrics import Metrics
from sync.outbox import LaneRow, Outbox
from sync.puller import FOLLOW_MARGIN_S, CentralLink
from sync.replica import Replica

logger = logging.getLogger(__name__)

#: The timer gives way to a lane input being handled or still on the bus side (see
#: ``tick``), at most this long for each lane it ends.
READ_PRIORITY_WAIT_S = 0.005
#: Meanwhile it looks again this often (a read's end also wakes it at once). Sleeping
#: through a read until its end, polling only input still in the socket, measured no
#: better (docs/benchmarks.md, ninth session).
PRIORITY_POLL_S = 0.0005
#: The topics a lane takes input on.
_INPUTS = frozenset({LaneTopic.PLATE, LaneTopic.UNLADEN, LaneTopic.MANIFEST})
#: The reason of the record of a session left open on a lane no longer configured here.
LANE_REMOVED = "lane_removed"


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> object:
        """Queue one message (``rocars.bus.Bus.publish`` fits)."""


class LaneController:
    """Every configured lane of one control point and direction."""

    def __init__(
        self,
        config: SyncConfig,
        *,
        publisher: Publisher,
        replica: Replica,
        outbox: Outbox,
        link: CentralLink,
        site_secret: bytes,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        input_waiting: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self._input_waiting = input_waiting
        self.cp = config.site.cp
        self.publisher = publisher
        self.replica = replica
        self.outbox = outbox
        self.link = link
        #: the replica not caught up for longer than a poll takes: not known current
        self._current_within = timedelta(
            seconds=config.pull_interval_s + config.central.timeout_s + FOLLOW_MARGIN_S
        )
        self.metrics = metrics or Metrics()
        self._clock = clock
        self.lanes: dict[str, Lane] = {}
        self._locks: dict[str, threading.Lock] = {}
        #: each lane's last instruction handed to the bus (committed), what ``republish`` sends
        self._shown: dict[str, tuple[InstructionCode, bytes]] = {}
        #: publishing (the writer thread) and republishing (paho's thread) one at a time,
        #: so that a republished instruction never lands after a newer one
        self._publish_lock = threading.Lock()
        #: each lane input topic seen, parsed (a read's topic is checked once, not per read)
        self._inputs: dict[str, tuple[ParsedTopic, Lane]] = {}
        #: each lane's instruction topic
        self._instruction_topics: dict[str, str] = {}
        #: lane inputs (plate reads, presses, drops) being handled now (paho's thread)
        self._reads = 0
        self._reads_done = threading.Condition()
        self._site_secret = site_secret
        self._seeder = rng or random.Random()
        #: trucks told INSPECT lately, by plate, for every lane here (``Inspections``)
        self.inspections = Inspections(config.reinspect_window_s, clock=clock)
        #: plates of trucks stopped in doubt lately, for every lane here (``Doubts``)
        self.doubts = Doubts()
        for lane_config in config.lanes:
            self.lanes[lane_config.id] = self._new_lane(lane_config)
            self._locks[lane_config.id] = threading.Lock()
            self._instruction_topics[lane_config.id] = instruction_topic(self.cp, lane_config.id)

    def _new_lane(self, lane_config: LaneConfig) -> Lane:
        return Lane(
            lane_config,
            cp=self.cp,
            direction=self.config.site.direction,
            key=lane_key(self._site_secret, self.cp, lane_config.id),
            clock=self._clock,
            lookup=self.replica.active_bundles_for_plate,
            freshness=self.freshness,
            max_age_s=self.config.replica_max_age_s,
            rng=random.Random(self._seeder.getrandbits(64)),
            inspections=self.inspections,
            doubts=self.doubts,
        )

    # -- set-up ------------------------------------------------------------------------

    def freshness(self) -> Freshness:
        try:
            last = self.replica.last_sync_at()
        except ReplicaError as err:
            logger.error("replica unreadable: %s", err)
            last = None
        up = self.link.up
        if up and (last is None or self._clock() - last > self._current_within):
            # the centre answers, but the replica has not caught up with it for longer
            # than a poll takes: its feed does not apply (a page that does not validate,
            # a cursor the centre does not have, a replica that cannot be written) or a
            # long catch-up is under way. The lanes decide from what they have, flagged
            # offline, as the shards that follow this one's record of the centre do; the
            # replica's age alone still closes them (rule 6)
            up = False
        return Freshness(last_sync_at=last, central_up=up)

    def subscriptions(self) -> list[str]:
        """The filters the agent subscribes with: every lane (an unknown one is reported),
        or a shard's own lanes only (the other shards' reads never reach it)."""
        lanes = list(self.lanes) if self.config.shard else ["+"]
        out: list[str] = []
        for lane in lanes:
            plate = lane_filter(self.cp, LaneTopic.PLATE, lane)
            out += [plate, f"{plate.rsplit('/', 1)[0]}/aiop/+"]
        return out

    def start(self) -> None:
        """Restore each lane's seq, close a session a crash left open, publish READY; end
        the sessions left open on lanes no longer configured here (``_end_removed``)."""
        for name, lane in self.lanes.items():
            with self._locks[name]:
                try:
                    row = self.outbox.lane(name)
                except OutboxError as err:
                    # started afresh, the lane's READY (seq: now) would replace what it
                    # could not read, a session a crash left open with it: no record
                    raise OutboxError(
                        f"lane {name}: cannot read its stored state ({err}): not started,"
                        " so that nothing overwrites it"
                    ) from err
                if row is not None:
                    lane.last_seq = row.last_seq
                self._apply(lane, self._restart(lane, row))
        self._end_removed()
        self._recall_inspections()

    def _restart(self, lane: Lane, row: LaneRow | None) -> LaneOutput:
        """``Lane.start`` with the lane's stored session: ended with a record
        (``agent_restart``), then READY."""
        previous = None if row is None else row.session
        out = lane.start(previous)
        if row is not None and previous is not None and not out.records:
            # ``Lane.start`` could not end it (its record cannot be made) and dropped it:
            # kept aside as an unreadable one is, before READY replaces it (an
            # OutboxError here stops a configured lane's start, as above)
            self.outbox.set_aside(
                lane.lane,
                row.last_seq,
                previous.model_dump_json(),
                "the session a crash left open cannot end: its record cannot be made",
            )
        return out

    def _end_removed(self) -> None:
        """The open session of each lane this outbox holds that is no longer configured
        here (taken out of the config, moved to another shard) ends as a crash-left one
        does (``_restart``), its record's reason ``lane_removed``, and its stored state is
        cleared. Nothing is published on its topics: the lane may be another agent's
        now, and this agent's READY would overwrite that agent's instruction. Left, the
        session was in no record for good: no audit trail, and the centre never marked
        its bundle used.

        Only this outbox's lanes: each shard has an outbox of its own
        (``SyncConfig.outbox_path``), so a lane moved from shard a to shard b is ended
        by a, in a's outbox, at a's next start. What cannot be read or ended is logged
        and left as it is stored (nothing else writes it), for the next start.
        """
        # no lane not configured here has written since the outbox opened
        try:
            stored = set(self.outbox.lanes_left_open())
        except OutboxError as err:
            logger.error("sessions left open on lanes no longer configured not ended: %s", err)
            return
        for name in sorted(stored.difference(self.lanes)):
            try:
                self._end_removed_lane(name)
            except (OutboxError, RocarsError, ValueError) as err:
                # a stored name this version refuses as a lane id (the id rules are
                # stricter than they were) must not stop the start of the lanes it runs
                logger.error("lane %r (no longer configured here): %s", name, err)

    def _end_removed_lane(self, name: str) -> None:
        row = self.outbox.lane(name)
        if row is None or row.session is None:
            return
        session = row.session
        lane = self._new_lane(LaneConfig(id=name))
        lane.last_seq = row.last_seq
        out = self._restart(lane, row)
        records = [r.model_copy(update={"reason": LANE_REMOVED}) for r in out.records]
        logger.warning(
            "lane %s is no longer configured here: the session left open on it (%s, %s)"
            " ended with a record (reason %s); nothing published on its topics",
            name,
            session.vrn or "no plate",
            session.code.value,
            LANE_REMOVED,
        )

        def counted() -> None:
            self.metrics.inc("rocars_sync_records_total", len(records))

        # its READY is not published, only its seq kept (rising all the same)
        self.outbox.submit(name, lane.last_seq, None, records, self._clock(), after=counted)

    def _recall_inspections(self) -> None:
        """The trucks told INSPECT within the window before this start (``Inspections``),
        from the outbox's records (a session a crash left open has just been ended there)."""
        window = self.inspections.window
        if not window:
            return
        try:
            records = self.outbox.inspected_since(self._clock() - window)
        except OutboxError as err:
            logger.error("the lanes cannot recall the trucks told INSPECT lately: %s", err)
            return
        replica_ok = True
        for record in records:
            # the plates the lane told: the read that opened the session as the lane took
            # it (with its trusted alternates; the reads after it were the same truck read
            # again, kept for the audit) and its bundle's
            lane = self.lanes.get(record.lane)
            first = record.plate_reads[:1]
            if lane is not None and first:
                plates = lane.read_plates(first[0])
            else:  # a lane no longer configured here
                plates = [record.vrn] if record.vrn else []
            # the truck's own: the plate it was first read by and its bundle's, not a
            # runner-up of its read (``Inspections.remember``), as the lane told them
            firm = [record.vrn] if record.vrn else []
            if record.ubr is not None and replica_ok:
                try:
                    bundle = self.replica.bundle(record.ubr)
                except ReplicaError as err:  # said once; the plates read are still known
                    logger.error("recalling the trucks told INSPECT: replica unreadable: %s", err)
                    replica_ok, bundle = False, None
                if bundle is not None:
                    plates += bundle_plates(bundle)
                    firm += bundle_plates(bundle)
            told = [i for i in record.instructions if i.code is InstructionCode.INSPECT]
            if told[-1].ts > self._clock() + SYNC_CLOCK_SKEW:
                # stamped by a clock stepped back since: its window would start in the
                # future; remembered as of now, it is kept at least as long as it was
                logger.warning(
                    "recalling %s: told INSPECT at %s, ahead of this clock: taken as now",
                    record.vrn or "-",
                    told[-1].ts,
                )
                self.inspections.remember(plates, self._clock(), told[-1].bay, firm)
                continue
            self.inspections.remember(plates, told[-1].ts, told[-1].bay, firm)
        if records:
            logger.info("lanes: %d trucks told INSPECT lately remembered", len(records))

    def republish(self) -> None:
        """Publish every lane's last committed instruction again (after a broker restart).

        A change still waiting for its commit is published by the writer afterwards.
        """
        with self._publish_lock:
            for name, (code, payload) in self._shown.items():
                self._publish(name, code, payload, count=False)

    # -- bus ---------------------------------------------------------------------------

    def on_message(self, topic: str, payload: bytes) -> None:
        """Handle one message from the bus (paho's thread)."""
        known = self._inputs.get(topic)
        if known is None:
            try:
                parsed = parse_lane_topic(topic)
            except BadPayload:
                self._bad(topic, "bad_topic", "not a lane topic")
                return
            if parsed.cp != self.cp:
                self._bad(topic, "wrong_cp", f"control point {parsed.cp} is not {self.cp}")
                return
            found = self.lanes.get(parsed.lane)
            if found is None:
                self._bad(topic, "unknown_lane", f"lane {parsed.lane} is not controlled here")
                return
            known = (parsed, found)
            if parsed.kind in _INPUTS:  # at most three topics a lane
                self._inputs[topic] = known
        parsed, lane = known
        with self._reads_done:
            self._reads += 1
        try:
            self._dispatch(topic, parsed, lane, payload)
        finally:
            with self._reads_done:
                self._reads -= 1
                if not self._reads:
                    self._reads_done.notify_all()

    def _dispatch(self, topic: str, parsed: ParsedTopic, lane: Lane, payload: bytes) -> None:
        try:
            if parsed.kind is LaneTopic.PLATE:
                started = time.perf_counter()
                cpu = time.thread_time()
                read = parse(PlateRead, payload)
                age = (self._clock() - read.ts).total_seconds()
                self.handle(lane.lane, lambda: lane.plate(read), started=started)
                # counted once the instruction is out
                self.metrics.observe("rocars_sync_plate_age_seconds", age)
                self.metrics.inc("rocars_sync_plate_reads_total", lane=lane.lane)
                self.metrics.observe("rocars_sync_plate_cpu_seconds", time.thread_time() - cpu)
            elif parsed.kind is LaneTopic.UNLADEN:
                press = parse(UnladenPressed, payload)
                self.handle(lane.lane, lambda: lane.unladen(press))
            elif parsed.kind is LaneTopic.MANIFEST:
                drop = parse(ManifestDropped, payload)
                self.handle(lane.lane, lambda: lane.manifest(drop))
            else:
                self._bad(topic, "wrong_topic", f"{parsed.kind} is not an input of the lane")
        except BadPayload as err:
            self._bad(topic, "bad_payload", str(err))

    def _bad(self, topic: str, reason: str, detail: str) -> None:
        self.metrics.inc("rocars_sync_bad_payloads_total", reason=reason)
        logger.warning("dropped message on %s: %s (%s)", topic, reason, detail)

    # -- lanes -------------------------------------------------------------------------

    def handle(
        self, name: str, step: Callable[[], LaneOutput], *, started: float | None = None
    ) -> LaneOutput:
        """Run one lane step under the lane's lock; persist, then publish (after the commit).

        ``started`` (``time.perf_counter()`` when a plate read came in) times the read
        until its instruction is handed to the bus: ``rocars_sync_plate_handling_seconds``.
        """
        lane = self.lanes[name]
        with self._locks[name]:
            out = step()
            self._apply(lane, out, started)
        lane.log_decisions(out)
        return out

    def tick(self) -> None:
        """Timeouts and holds: only lanes whose timer is due run their ``tick``.

        Checking every lane's ``tick`` every 50 ms costs ~0.75 ms of the GIL at 100 lanes,
        a stall for a plate read that comes in meanwhile; the due check is a comparison.
        Before each lane it ends, the timer waits (up to ``READ_PRIORITY_WAIT_S``) while
        a lane input is being handled or the bus has input not handed over yet
        (``input_waiting``: bytes in the socket or read but not parsed): a driver waits
        for that answer, nobody for a hold ending a few milliseconds later. Without it a
        read shared the GIL with a burst of session ends; without the second condition
        a read that arrived during the burst still waited for the rest of it.
        """
        now = self._clock()
        for name, lane in self.lanes.items():
            session = lane.session
            if session is None:  # an idle lane has no timer running
                continue
            if session.code in WAITING_CODES:
                wait = lane.config.timeout_s
            elif session.code in FINAL_CODES:
                wait = lane.config.hold_s
            else:
                continue  # no timer on other codes
            if lane.shown_for(session, now) >= wait:  # by either clock (``Lane.shown_for``)
                until = time.monotonic() + READ_PRIORITY_WAIT_S
                with self._reads_done:
                    while self._reads or self._input_waiting():
                        left = until - time.monotonic()
                        if left <= 0:
                            break
                        self._reads_done.wait(min(left, PRIORITY_POLL_S))
                self.handle(name, lane.tick)

    def run(self, stop: threading.Event) -> None:
        """The timer worker: timeouts and holds at ``tick_interval_s`` resolution."""
        while not stop.wait(self.config.tick_interval_s):
            self.tick()

    def _apply(self, lane: Lane, out: LaneOutput, started: float | None = None) -> None:
        if out.ignored:
            self.metrics.inc("rocars_sync_ignored_actions_total", len(out.ignored))
        if not out.changed:
            return
        name = lane.lane
        instructions = list(zip(out.codes, out.payloads, strict=True))
        records = len(out.records)

        def committed() -> None:
            # once the change is written (or flushed), in the order lanes changed
            with self._publish_lock:
                for code, payload in instructions:
                    self._publish(name, code, payload)
                if instructions:
                    self._shown[name] = instructions[-1]
            self.metrics.inc("rocars_sync_records_total", records)
            if started is not None:
                self.metrics.observe(
                    "rocars_sync_plate_handling_seconds", time.perf_counter() - started
                )

        try:
            self.outbox.submit(
                name, lane.last_seq, lane.session, out.records, self._clock(), after=committed
            )
        except OutboxError as err:
            # only after close (shutdown): nothing is published that is not on disk
            logger.error(
                "lane %s: outbox closed, %d records and %d instructions dropped: %s",
                name,
                records,
                len(instructions),
                err,
            )

    @property
    def outbox_error(self) -> str:
        return self.outbox.error

    def _publish(
        self, lane: str, code: InstructionCode, payload: bytes, *, count: bool = True
    ) -> None:
        if count:
            self.metrics.inc("rocars_sync_instructions_total", code=code.value)
        self.publisher.publish(self._instruction_topics[lane], payload, qos=1, retain=True)

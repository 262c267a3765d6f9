"""What a lane's displays show now: the verified instruction, or STOP when in doubt.

Plain Python (no Qt) so that the XDB and the AIOP share one set of fail-closed rules
and a test drives them with an injected clock. The rules:

* an instruction is shown only when its HMAC verifies with the lane key, its ``seq``
  is higher than any seen before (a replay is dropped; the same message again, e.g.
  the retained copy after a reconnect, re-confirms it), and it has not expired;
* a correctly signed instruction this display cannot read (a newer controller's code
  or version) is the lane's word all the same: the one held before is dropped (STOP,
  ``instruction_unreadable``); unsigned or wrongly signed junk changes nothing;
* it is shown only while the broker connection is up, the lane controller's last
  word on ``sync/status`` is ``online`` and that heartbeat is younger than the bound
  (3 s by default), and the instruction was (re)confirmed since the last connect,
  since the controller's last ``offline`` and by the controller's present run (its
  status's ``instance``);
* the lane controller is the agent whose status lists this lane (or lists none), on the
  site's ``sync/status`` or a shard's ``sync/{shard}/status``; another agent's heartbeat
  or last will changes nothing here. Once a status has named this lane, an ``online``
  that names no lanes (an agent too old to say) no longer speaks for it: it would revive
  the instruction held from the controller that named it, after that one's last will;
* a heartbeat counts only if its own ``ts`` is no more than the allowed clock skew plus
  half the bound behind this display's clock (or the skew ahead of it): the retained
  ``online`` of a controller that hung or died unnoticed does not revive a display that
  (re)subscribes, and one that counts keeps the display on for at least half the
  bound, longer than the agent's heartbeat period (1 s against 3 s), so a display whose
  clock runs ahead fails closed steadily instead of flashing between the instruction
  and STOP with every heartbeat; one whose clock runs behind by more than the skew
  fails closed too, rather than keep an instruction up past its expiry by as much;
* anything else shows ``STOP_SEE_OFFICER``. So a stale PROCEED is never shown.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from rocars.errors import BadPayload, BadSignature
from rocars.messages import Instruction, InstructionCode, SyncStatus, parse
from rocars.signing import UnreadableInstruction, verify_payload
from ui_common.errors import InstructionRejected

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_BOUND = 3.0
#: How far the lane controller's clock may be from the display's (both run NTP).
DEFAULT_MAX_SKEW = 2.0
#: A refused heartbeat is logged at the first of a run of them and then every this many
#: (one a second while the clocks differ: the log is not flooded, the fault stays seen).
STALE_LOG_EVERY = 60


class FailReason(StrEnum):
    """Why the display fails closed (stable keys; the screens translate them)."""

    BROKER_LOST = "broker_lost"
    CONTROLLER_OFFLINE = "controller_offline"
    NO_HEARTBEAT = "no_heartbeat"
    NO_INSTRUCTION = "no_instruction"
    EXPIRED = "expired"
    #: the lane's latest word is signed but not readable here (a newer controller)
    INSTRUCTION_UNREADABLE = "instruction_unreadable"


class SyncMark(StrEnum):
    """The small mark in a corner of each screen."""

    CENTRAL_UP = "central_up"
    OFFLINE_MODE = "offline_mode"
    CONTROLLER_LOST = "controller_lost"


class Clock(Protocol):
    """Wall time for ``expires_at``; a monotonic clock for the heartbeat."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True, slots=True)
class Shown:
    """What to show now. ``instruction`` is the verified one behind ``code``, or None."""

    code: InstructionCode
    instruction: Instruction | None
    reason: FailReason | None
    sync_mark: SyncMark

    @property
    def failing_closed(self) -> bool:
        return self.reason is not None

    @property
    def seq(self) -> int | None:
        return None if self.instruction is None else self.instruction.seq

    def failed_closed(self) -> Shown:
        """STOP in place of this: what a screen shows when it cannot show this one."""
        return Shown(
            InstructionCode.STOP_SEE_OFFICER, None, FailReason.NO_INSTRUCTION, self.sync_mark
        )


class LaneWatch:
    """One lane's instruction and the health of everything it depends on.

    Not thread-safe: the Qt layer calls it on the GUI thread only.
    """

    def __init__(
        self,
        key: bytes,
        *,
        heartbeat_bound: float = DEFAULT_HEARTBEAT_BOUND,
        max_skew: float = DEFAULT_MAX_SKEW,
        clock: Clock | None = None,
        lane: str | None = None,
    ) -> None:
        """``lane``: this display's lane, to tell its shard's status from the others'
        (None: every status counts, for a site without shards)."""
        if heartbeat_bound <= 0 or max_skew < 0:
            raise ValueError("heartbeat_bound must be positive and max_skew not negative")
        self.max_skew = max_skew
        self.stale_heartbeats = 0
        self._stale_run = 0
        #: a status has named this lane: from then on only those that name it revive it
        self._lane_named = False
        self.unnamed_ignored = 0
        self._key = key
        self.lane = lane
        self.other_lanes = 0
        self.heartbeat_bound = heartbeat_bound
        self._clock: Clock = clock or SystemClock()
        self._instruction: Instruction | None = None
        self._confirmed = False
        #: the controller's run (``SyncStatus.instance``) the held instruction is taken to
        #: be the word of: None until an ``online`` status comes after it is confirmed
        self._confirmed_by: str | None = None
        #: the lane's latest signed instruction could not be read (the one before dropped)
        self._unreadable = False
        self._last_seq: int | None = None
        #: when the instruction held expires by this display's monotonic clock, fixed when
        #: it came (``_deadline``); None: it has no lifetime
        self._deadline: float | None = None
        self._connected = False
        self._controller_online = False
        #: the run (``SyncStatus.instance``) of the last ``online`` status that counted
        self._instance = ""
        self._last_heartbeat: float | None = None
        self._central: str | None = None
        self.rejected = 0

    # -- inputs ------------------------------------------------------------------------

    def on_connection(self, up: bool) -> None:
        """The broker connection came or went. Nothing heard before a loss counts after it."""
        self._connected = up
        self._last_heartbeat = None
        self._controller_online = False
        self._confirmed = False
        self._confirmed_by = None

    def on_sync_status(self, payload: bytes) -> SyncStatus:
        """A ``sync/status`` heartbeat or the agent's last will; BadPayload if malformed.

        The status of a shard that does not list this lane is returned unused.
        """
        status = parse(SyncStatus, payload)
        if self.lane is not None:
            if not status.covers(self.lane):
                self.other_lanes += 1
                return status
            if status.lanes:
                self._lane_named = True
            elif self._lane_named and status.state == "online":
                # a last will that names no lanes still fails closed (below)
                self.unnamed_ignored += 1
                if self.unnamed_ignored == 1:
                    logger.warning(
                        "lane %s: ignored an online status that names no lanes (agent %r):"
                        " another agent has named this lane",
                        self.lane,
                        status.agent,
                    )
                return status
        if status.state == "online":
            age = (self._clock.now() - status.ts).total_seconds()
            if not -self.max_skew <= age <= self._oldest_heartbeat():
                self._refuse_heartbeat(age)
                return status
            self._stale_run = 0
            self._central = status.central
            self._controller_online = True
            self._instance = status.instance
            if self._confirmed:
                if self._confirmed_by is None:
                    self._confirmed_by = status.instance
                elif status.instance != self._confirmed_by:
                    # another run of the controller (restarted, or its last will lost): the
                    # instruction held is the old run's word, not this one's
                    self._confirmed = False
            # counted from when it was sent, as far as the clocks can tell: a retained
            # heartbeat of an agent that has since hung, read at a reconnect, must not
            # count as a whole bound fresh from now (clock differences within max_skew
            # are not held against it)
            beyond_skew = max(0.0, age - self.max_skew)
            self._last_heartbeat = self._clock.monotonic() - beyond_skew
        else:
            self._central = status.central
            self._controller_online = False
            self._last_heartbeat = None
            # the controller's word from before its last will is not taken back up by its
            # next heartbeat: the instruction must come again
            self._confirmed = False
        return status

    def _refuse_heartbeat(self, age: float) -> None:
        """Count a heartbeat that does not count; say so at the first of a run and every
        ``STALE_LOG_EVERY`` th after it."""
        self.stale_heartbeats += 1
        self._stale_run += 1
        if self._stale_run % STALE_LOG_EVERY != 1:
            return
        if age < 0:
            logger.warning(
                "ignored a sync heartbeat stamped %.1f s ahead of this display's clock (the"
                " clocks differ by more than %.1f s; %d in a row)",
                -age,
                self.max_skew,
                self._stale_run,
            )
        else:
            logger.warning(
                "ignored a sync heartbeat %.1f s old (a retained one, or the clocks"
                " differ; %d in a row)",
                age,
                self._stale_run,
            )

    def on_instruction(self, payload: bytes) -> Instruction:
        """Verify and hold an instruction; InstructionRejected if not.

        Nothing changes for junk, a forgery or a replay; a signed instruction that cannot
        be read drops the one held (``instruction_unreadable``).
        """
        try:
            instruction = verify_payload(payload, self._key)
        except BadSignature as err:
            self.rejected += 1
            raise InstructionRejected(str(err), key="bad_signature") from err
        except UnreadableInstruction as err:
            self.rejected += 1
            self._instruction = None
            self._unreadable = True
            seq = err.params.get("seq")
            if isinstance(seq, int) and (self._last_seq is None or seq > self._last_seq):
                self._last_seq = seq  # what came before it is a replay from now on
            raise InstructionRejected(str(err), key=err.key, seq=seq) from err
        except BadPayload as err:
            self.rejected += 1
            raise InstructionRejected(str(err), key="bad_payload") from err
        if self._last_seq is not None and instruction.seq <= self._last_seq:
            held = self._instruction
            if held is not None and instruction.seq == held.seq and instruction.sig == held.sig:
                self._confirm()  # the retained copy again, e.g. after a reconnect
                return instruction
            self.rejected += 1
            raise InstructionRejected(
                f"seq {instruction.seq} is not above {self._last_seq}: replay dropped",
                key="replay",
                seq=instruction.seq,
            )
        self._instruction = instruction
        self._last_seq = instruction.seq
        self._deadline = self._deadline_of(instruction)
        self._unreadable = False
        self._confirm()
        return instruction

    def _deadline_of(self, instruction: Instruction) -> float | None:
        """When ``instruction`` expires by the monotonic clock: what is left of it by the
        wall clock now, and no more than its whole lifetime (from its ``ts``) and the
        clocks' leeway. By the wall clock alone, a clock stepped back (a site's NTP put
        right, or the agent's alone) kept the truck before's PROCEED up for as long as
        the step (found in review)."""
        expires = instruction.expires_at
        if expires is None:
            return None
        left = min(
            (expires - self._clock.now()).total_seconds(),
            (expires - instruction.ts).total_seconds() + self.max_skew,
        )
        return self._clock.monotonic() + left

    def _confirm(self) -> None:
        self._confirmed = True
        # taken as the word of the run whose online status is the last word now (None:
        # of the first one that comes, e.g. a retained instruction read before the status)
        self._confirmed_by = self._instance if self._controller_online else None

    # -- output ------------------------------------------------------------------------

    def reason(self) -> FailReason | None:
        """Why the display must fail closed now, or None when the instruction stands."""
        if not self._connected:
            return FailReason.BROKER_LOST
        if not self._controller_online:
            return FailReason.CONTROLLER_OFFLINE
        if not self._heartbeat_fresh():
            return FailReason.NO_HEARTBEAT
        if self._instruction is None or not self._confirmed:
            return (
                FailReason.INSTRUCTION_UNREADABLE if self._unreadable else FailReason.NO_INSTRUCTION
            )
        expires = self._instruction.expires_at
        if expires is None:
            # the lane controller gives every code but READY a lifetime: one without any
            # would stand for ever on a display whose controller stays up but is wrong
            return None if self._instruction.code is InstructionCode.READY else FailReason.EXPIRED
        now = self._clock.now()
        if now >= expires:
            return FailReason.EXPIRED
        if self._deadline is not None and self._clock.monotonic() >= self._deadline:
            return FailReason.EXPIRED  # by the monotonic clock (``_deadline_of``)
        if self._instruction.ts > now + timedelta(seconds=self.max_skew):
            # told later than now by more than the clocks' leeway: this clock stepped back
            # since (or the agent's ran ahead); its lifetime by this clock says nothing
            return FailReason.EXPIRED
        return None

    @property
    def last_seq(self) -> int | None:
        """The ``seq`` of the newest instruction heard and signed right (shown or not: a
        screen failing closed still heard it), None before any."""
        return self._last_seq

    def shown(self) -> Shown:
        reason = self.reason()
        if reason in (
            FailReason.BROKER_LOST,
            FailReason.CONTROLLER_OFFLINE,
            FailReason.NO_HEARTBEAT,
        ):
            mark = SyncMark.CONTROLLER_LOST
        elif self._central == "down":
            mark = SyncMark.OFFLINE_MODE
        else:
            mark = SyncMark.CENTRAL_UP
        if reason is not None or self._instruction is None:
            return Shown(InstructionCode.STOP_SEE_OFFICER, None, reason, mark)
        return Shown(self._instruction.code, self._instruction, None, mark)

    def seconds_to_next_change(self) -> float | None:
        """When the answer may change with no new input (heartbeat lapse or expiry)."""
        waits: list[float] = []
        if self._last_heartbeat is not None:
            waits.append(self._last_heartbeat + self.heartbeat_bound - self._clock.monotonic())
        if self._instruction is not None and self._instruction.expires_at is not None:
            waits.append((self._instruction.expires_at - self._clock.now()).total_seconds())
        if self._instruction is not None and self._deadline is not None:
            waits.append(self._deadline - self._clock.monotonic())
        future = [w for w in waits if w > 0]
        return min(future) if future else None

    def _oldest_heartbeat(self) -> float:
        """The oldest a heartbeat may be to count, in seconds by this display's clock:
        one that counts keeps the display on for at least half the bound."""
        return self.max_skew + self.heartbeat_bound / 2

    def _heartbeat_fresh(self) -> bool:
        if self._last_heartbeat is None:
            return False
        return self._clock.monotonic() - self._last_heartbeat < self.heartbeat_bound

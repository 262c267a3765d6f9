"""The booth panel's rules, as a plain state machine (the widgets only render ``view``).

* It mirrors the lane-watch answer (the verified instruction, or STOP when in doubt).
* Unladen Vehicle is available only while NO_BUNDLE is shown (not failing closed) and
  has not been sent for that instruction yet; while a bundle is being handled
  (DROP_MANIFEST, PROCEED, INSPECT, ...) it is not.
* Manifest dropped (on-screen) is available only where the lane allows it (config) and
  DROP_MANIFEST is shown and not yet confirmed.
* Every action has a confirm step; a confirmed action returns the bus message to
  publish. Every press gets feedback: ``sent``; ``received`` once the lane's next
  instruction answers it (PROCEED, INSPECT, ...; not a STOP, READY or the same request
  again, which mean the lane did not act on it); ``not_available`` when the action makes
  no sense now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import Field, model_validator

from rocars.config import ServiceConfig
from rocars.ids import ControlPoint, Lane
from rocars.messages import InstructionCode, ManifestDropped, UnladenPressed
from rocars.timeutil import hk_short
from ui_common.lanewatch import Clock, FailReason, Shown, SyncMark, SystemClock
from ui_common.languages import Language


class PanelConfig(ServiceConfig):
    """One panel for one lane."""

    # no defaults: a panel that was not told its lane must not show another lane's
    cp: ControlPoint = Field(description="control point code")
    lane: Lane = Field(description="lane id")
    broker: str = Field(
        default="mqtt://127.0.0.1:1883", description="mqtt://HOST:PORT, or mqtts:// for TLS"
    )
    username: str = Field(
        default="",
        max_length=64,
        description="broker user (else ROCARS_MQTT_USERNAME); password from ROCARS_MQTT_PASSWORD",
    )
    device: str = Field(default="aiop", pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="status id")
    manifest_confirm: bool = Field(
        default=False, description="the lane lets the driver confirm the manifest on screen"
    )
    # a path with a control character (a NUL from a mangled unit file) never opens: the
    # reader logged its failure every 2 s; refused at start with the setting named
    dropbox: str | None = Field(
        default=None,
        max_length=256,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="drop-box serial port (none: empty)",
    )
    dropbox_min_closed_ms: int = Field(default=60, ge=5, le=5000, description="debounce")
    dropbox_refractory_ms: int = Field(default=1500, ge=0, le=60000, description="one drop per")
    dropbox_max_closed_ms: int = Field(
        default=5000, ge=500, le=30000, description="a longer closure is a jam, not a drop"
    )
    # bounds as the board's (XdbConfig): a PROCEED outlives neither by more than 10 s
    watchdog_seconds: float = Field(
        default=5.0, ge=1.0, le=10.0, description="GUI thread stalled this long: exit"
    )
    heartbeat_bound: float = Field(
        default=3.0, ge=2.0, le=10.0, description="sync/status silence before failing closed, s"
    )
    feedback_seconds: float = Field(default=6.0, ge=1.0, le=60.0, description="feedback shown for")
    language: Language = Field(default=Language.ZH_TW, description="language at start-up")

    @model_validator(mode="after")
    def _a_drop_fits_between_its_bounds(self) -> PanelConfig:
        if self.dropbox_max_closed_ms <= self.dropbox_min_closed_ms:
            raise ValueError("dropbox_max_closed_ms must be more than dropbox_min_closed_ms")
        return self


class Action(StrEnum):
    UNLADEN = "unladen"
    MANIFEST = "manifest"


class Feedback(StrEnum):
    SENT = "sent"
    RECEIVED = "received"
    NOT_AVAILABLE = "not_available"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class PanelView:
    code: InstructionCode
    vrn: str | None
    bay: str | None
    earliest: str | None
    reason: FailReason | None
    sync_mark: SyncMark
    unladen_available: bool
    manifest_button: bool
    manifest_available: bool
    confirming: Action | None
    feedback: Feedback | None
    feedback_about: Action | None
    language: Language
    #: the lane wants the manifest and the drop-box sensor is not there: the driver is
    #: told to see the officer (the drop would not be counted)
    dropbox_down: bool = False


#: the next instructions that cannot be the lane's answer to an action: it ignored the
#: press or the drop (a timeout STOP, a READY after the session ended, the same request
#: again), so saying "Received by the lane" would be false
_NOT_AN_ANSWER = {
    Action.UNLADEN: frozenset(
        {InstructionCode.NO_BUNDLE, InstructionCode.STOP_SEE_OFFICER, InstructionCode.READY}
    ),
    Action.MANIFEST: frozenset(
        {InstructionCode.DROP_MANIFEST, InstructionCode.STOP_SEE_OFFICER, InstructionCode.READY}
    ),
}


def _answers(action: Action, code: InstructionCode) -> bool:
    """Whether ``code``, the lane's next instruction after ``action``, plausibly answers it."""
    return code not in _NOT_AN_ANSWER[action]


_IDLE = Shown(
    InstructionCode.STOP_SEE_OFFICER, None, FailReason.NO_INSTRUCTION, SyncMark.CONTROLLER_LOST
)


class PanelModel:
    """The panel's state. Call from one thread (the GUI thread)."""

    def __init__(
        self,
        *,
        manifest_confirm: bool = False,
        feedback_seconds: float = 6.0,
        language: Language = Language.ZH_TW,
        clock: Clock | None = None,
    ) -> None:
        self.manifest_confirm = manifest_confirm
        self.feedback_seconds = feedback_seconds
        self.language = language
        self._clock: Clock = clock or SystemClock()
        self.shown = _IDLE
        self.confirming: Action | None = None
        #: the instruction (seq) the pending confirmation was asked for: a Confirm tapped
        #: after the lane moved on must not answer for the next truck
        self._confirming_seq: int | None = None
        self._sent_for: dict[Action, int] = {}
        self._awaiting: tuple[Action, int] | None = None
        self._feedback: tuple[Feedback, Action | None, float] | None = None
        #: None: no drop-box sensor at this lane; else whether it is connected
        self.dropbox_connected: bool | None = None

    # -- inputs ------------------------------------------------------------------------

    def on_shown(self, shown: Shown) -> None:
        self.shown = shown
        if self._awaiting is not None and shown.seq is not None and shown.seq != self._awaiting[1]:
            action = self._awaiting[0]
            self._awaiting = None  # the lane moved on: the press answered this or nothing
            if _answers(action, shown.code):
                self._say(Feedback.RECEIVED, action)
        if self.confirming is not None and (
            not self._available(self.confirming) or shown.seq != self._confirming_seq
        ):
            self.confirming = None

    def press(self, action: Action) -> None:
        """The driver pressed Unladen or Manifest dropped: ask to confirm, or say why not."""
        if self._available(action):
            self.confirming = action
            self._confirming_seq = self.shown.seq
            self._feedback = None
        else:
            self.confirming = None
            self._say(Feedback.NOT_AVAILABLE, action)

    def confirm(self) -> UnladenPressed | ManifestDropped | None:
        """The driver confirmed: the message to publish, or None (and feedback) if too late."""
        action, self.confirming = self.confirming, None
        if action is None:
            return None
        if not self._available(action) or self.shown.seq != self._confirming_seq:
            self._say(Feedback.NOT_AVAILABLE, action)
            return None
        seq = self.shown.seq
        assert seq is not None  # available implies a verified instruction
        self._sent_for[action] = seq
        self._awaiting = (action, seq)
        self._say(Feedback.SENT, action)
        # the instruction answered: the lane takes the event for it only (sync.lane)
        if action is Action.UNLADEN:
            instruction = self.shown.instruction
            vrn = instruction.vrn if instruction is not None and instruction.vrn else ""
            return UnladenPressed(vrn=vrn, instruction_seq=seq)
        return ManifestDropped(source="panel", instruction_seq=seq)

    def sensor_drop(self, drop: ManifestDropped, heard: int | None = None) -> ManifestDropped:
        """A drop the sensor saw, as answering the newest instruction the panel heard
        (``heard``: its ``seq``, whatever is shown, STOP when failing closed; without it,
        the DROP_MANIFEST shown now if one is): the lane takes it for that instruction
        only. Untagged it was judged by its time, and a drop made while the panel showed
        the truck before's PROCEED, or queued while its link was down, released the next
        truck told DROP_MANIFEST within 2 s (found in review). Untagged only before any
        instruction was heard. Called on the sensor's thread: ``shown`` is one immutable
        object, replaced whole on the GUI thread."""
        shown = self.shown
        seq = heard
        if seq is None and shown.code is InstructionCode.DROP_MANIFEST:
            seq = shown.seq
        return drop if seq is None else drop.model_copy(update={"instruction_seq": seq})

    def cancel(self) -> None:
        if self.confirming is not None:
            self._say(Feedback.CANCELLED, self.confirming)
        self.confirming = None

    def set_language(self, language: Language) -> None:
        self.language = language

    def set_dropbox(self, connected: bool | None) -> None:
        """The drop-box sensor came or went (None: the lane has none)."""
        self.dropbox_connected = connected

    # -- output ------------------------------------------------------------------------

    def view(self, now: datetime) -> PanelView:
        shown = self.shown
        instruction = shown.instruction
        earliest = None
        if instruction is not None and instruction.earliest_at is not None:
            earliest = hk_short(instruction.earliest_at, now)
        feedback = about = None
        if self._feedback is not None:
            kind, what, at = self._feedback
            if self._clock.monotonic() - at < self.feedback_seconds:
                feedback, about = kind, what
        return PanelView(
            code=shown.code,
            vrn=instruction.vrn if instruction else None,
            bay=instruction.bay if instruction else None,
            earliest=earliest,
            reason=shown.reason,
            sync_mark=shown.sync_mark,
            unladen_available=self._available(Action.UNLADEN),
            manifest_button=self.manifest_confirm,
            manifest_available=self._available(Action.MANIFEST),
            confirming=self.confirming,
            feedback=feedback,
            feedback_about=about,
            language=self.language,
            # with a Manifest dropped button the driver has a way on: no "see the officer"
            dropbox_down=(
                self.dropbox_connected is False
                and not self.manifest_confirm
                and shown.code is InstructionCode.DROP_MANIFEST
                and not shown.failing_closed
            ),
        )

    def seconds_to_feedback_end(self) -> float | None:
        if self._feedback is None:
            return None
        left = self._feedback[2] + self.feedback_seconds - self._clock.monotonic()
        return left if left > 0 else None

    def _available(self, action: Action) -> bool:
        shown = self.shown
        if shown.failing_closed or shown.seq is None:
            return False
        if self._sent_for.get(action) == shown.seq:
            return False
        if action is Action.UNLADEN:
            return shown.code is InstructionCode.NO_BUNDLE
        return self.manifest_confirm and shown.code is InstructionCode.DROP_MANIFEST

    def _say(self, feedback: Feedback, action: Action | None) -> None:
        self._feedback = (feedback, action, self._clock.monotonic())

"""What the exit display board shows, as plain data (the widget only paints this).

The board shows the lane-watch answer (the verified instruction or STOP), the plate it is
for, the inspection bay or the earliest crossing time (Hong Kong time), the languages
(all three at once, or one at a time cycling), a clock and the small sync-state mark.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from rocars.config import ServiceConfig
from rocars.ids import ControlPoint, Lane
from rocars.messages import InstructionCode
from rocars.timeutil import hk_short, in_hk
from ui_common.lanewatch import FailReason, Shown, SyncMark
from ui_common.languages import ALL_LANGUAGES, Language


class LanguageMode(StrEnum):
    ALL = "all"
    CYCLE = "cycle"


class XdbConfig(ServiceConfig):
    """One board for one lane."""

    # no defaults: a board that was not told its lane must not show another lane's
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
    device: str = Field(default="xdb", pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="status id")
    languages: LanguageMode = Field(default=LanguageMode.ALL, description="all at once or cycle")
    cycle_seconds: float = Field(default=4.0, ge=1.0, le=60.0, description="per language")
    # at most 10 s each: a PROCEED must not outlive a silent controller or a frozen GUI
    # thread by longer; at least twice the controller's 1 s heartbeat period, or the
    # board flashes STOP between heartbeats
    watchdog_seconds: float = Field(
        default=5.0, ge=1.0, le=10.0, description="GUI thread stalled this long: exit"
    )
    heartbeat_bound: float = Field(
        default=3.0, ge=2.0, le=10.0, description="sync/status silence before failing closed, s"
    )
    fullscreen: bool = Field(default=True, description="full screen (else a window)")


@dataclass(frozen=True, slots=True)
class BoardState:
    code: InstructionCode
    vrn: str | None
    bay: str | None
    earliest: str | None
    languages: tuple[Language, ...]
    clock: str
    sync_mark: SyncMark
    reason: FailReason | None

    @property
    def big_value(self) -> str | None:
        """The language-free value shown huge under the pictogram (bay or time)."""
        if self.code is InstructionCode.INSPECT:
            return self.bay
        if self.code is InstructionCode.TOO_EARLY:
            return self.earliest
        return None


def board_state(
    shown: Shown, now: datetime, mode: LanguageMode = LanguageMode.ALL, cycle_seconds: float = 4.0
) -> BoardState:
    """The board for ``shown`` at ``now`` (an aware time)."""
    if mode is LanguageMode.ALL:
        languages = ALL_LANGUAGES
    else:
        index = int(now.timestamp() // cycle_seconds) % len(ALL_LANGUAGES)
        languages = (ALL_LANGUAGES[index],)
    instruction = shown.instruction
    earliest = None
    if instruction is not None and instruction.earliest_at is not None:
        earliest = hk_short(instruction.earliest_at, now)
    return BoardState(
        code=shown.code,
        vrn=instruction.vrn if instruction is not None else None,
        bay=instruction.bay if instruction is not None else None,
        earliest=earliest,
        languages=languages,
        clock=in_hk(now).strftime("%H:%M:%S"),
        sync_mark=shown.sync_mark,
        reason=shown.reason,
    )

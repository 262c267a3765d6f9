"""The display's re-evaluation timer when a heartbeat lapses between two clock reads."""

from __future__ import annotations

from dataclasses import dataclass

from pytestqt.qtbot import QtBot

from rocars.messages import InstructionCode, SyncStatus
from rocars.signing import lane_key
from tests.fixtures.displays import FakeClock, make_instruction, site_secret
from ui_common.lanewatch import FailReason, LaneWatch
from ui_common.qt_lanewatch import LaneWatchController


@dataclass
class TickingClock(FakeClock):
    """Monotonic time that moves ``step`` seconds on every read, as a busy machine's does."""

    step: float = 0.0

    def monotonic(self) -> float:
        now = self.mono
        self.mono += self.step
        return now


def test_a_heartbeat_lapsing_between_two_reads_still_fails_the_display_closed(
    qtbot: QtBot,
) -> None:
    clock = TickingClock()
    key = lane_key(site_secret(), "SBC", "L01")
    watch = LaneWatch(key, heartbeat_bound=2.0, clock=clock)
    controller = LaneWatchController(watch, "SBC", "L01")
    watch.on_connection(True)
    watch.on_instruction(make_instruction(InstructionCode.PROCEED, 1, key=key).to_bytes())
    watch.on_sync_status(SyncStatus(state="online", central="up", ts=clock.now()).to_bytes())
    controller.refresh()
    assert controller.shown.code is InstructionCode.PROCEED
    # the clock has not moved since the heartbeat: from now on, each read moves it 1 ms,
    # the next read 0.5 ms before the lapse, the one after 0.5 ms past it
    clock.mono, clock.step = clock.mono + 2.0 - 0.0005, 0.001
    controller.refresh()
    # whichever read saw the lapse, the screen fails closed now or when its timer fires;
    # read in the other order, the timer was left unarmed and PROCEED stayed
    qtbot.waitUntil(lambda: controller.shown.reason is FailReason.NO_HEARTBEAT, timeout=2000)
    assert controller.shown.code is InstructionCode.STOP_SEE_OFFICER
    controller.stop()

"""The board on a real mosquitto, with the test playing the lane controller.

Fail-closed cases end to end: the agent's last will, heartbeat silence, broker loss
(mosquitto killed and back), forged / replayed / expired instructions.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from rocars.bus import Bus
from rocars.ids import ControlPoint
from rocars.messages import DeviceStatus, InstructionCode, parse
from rocars.topics import device_status_topic
from tests.fixtures.brokers import Mosquitto
from tests.fixtures.displays import (
    FakeLane,
    dying_controller,
    key_of,
    make_instruction,
)
from ui_common.lanewatch import FailReason, Shown
from xdb_display.board import BoardState, XdbConfig
from xdb_display.qt_app import XdbScreen

C = InstructionCode
BOUND = 2.0  # the shortest a board takes (XdbConfig), long enough for a loaded CI machine


@pytest.fixture
def lane(mosquitto: Mosquitto) -> Iterator[FakeLane]:
    fake = FakeLane(mosquitto.url).start()
    yield fake
    fake.stop()


@pytest.fixture
def screen(mosquitto: Mosquitto, qtbot: QtBot) -> Iterator[XdbScreen]:
    config = XdbConfig(
        cp=ControlPoint.SBC,
        lane="L01",
        broker=mosquitto.url,
        heartbeat_bound=BOUND,
        fullscreen=False,
    )
    xdb = XdbScreen(config, key_of(config))
    qtbot.addWidget(xdb.board)
    xdb.start(show=True)
    assert xdb.bus.wait_connected(10)
    yield xdb
    xdb.stop()
    xdb.translations.close()


def wait_code(qtbot: QtBot, screen: XdbScreen, code: InstructionCode, timeout: int = 5000) -> None:
    qtbot.waitUntil(
        lambda: screen.board.state is not None and screen.board.state.code is code, timeout=timeout
    )


def test_every_instruction_reaches_the_board(
    screen: XdbScreen, lane: FakeLane, qtbot: QtBot
) -> None:
    lane.start_heartbeats()
    assert screen.controller.shown.code is C.STOP_SEE_OFFICER
    for code in [*C, C.READY]:
        sent = lane.instruct(code)
        wait_code(qtbot, screen, code)
        state = screen.board.state
        assert state is not None
        assert state.vrn == sent.vrn
        assert state.reason is None
        # the paint follows the state
        qtbot.waitUntil(
            lambda: any(d.text.endswith("AB1234") for d in screen.board.drawn), timeout=3000
        )


def test_status_online_then_offline(screen: XdbScreen, mosquitto: Mosquitto) -> None:
    got: queue.Queue[bytes] = queue.Queue()
    watcher = Bus(mosquitto.url, "status-watcher")
    watcher.subscribe(device_status_topic("SBC", "L01", "xdb"), lambda t, p: got.put(p))
    watcher.start()
    try:
        assert parse(DeviceStatus, got.get(timeout=10)).state == "online"
        screen.stop()
        assert parse(DeviceStatus, got.get(timeout=10)).state == "offline"
    finally:
        watcher.stop()


def test_last_will_of_the_agent_fails_closed(
    screen: XdbScreen, lane: FakeLane, mosquitto: Mosquitto, qtbot: QtBot
) -> None:
    agent = dying_controller(mosquitto.url)
    try:
        lane.instruct(C.PROCEED)
        wait_code(qtbot, screen, C.PROCEED)
    finally:
        agent.kill()
        agent.wait(5)
    wait_code(qtbot, screen, C.STOP_SEE_OFFICER)
    assert screen.controller.shown.reason is FailReason.CONTROLLER_OFFLINE


def test_heartbeat_silence_fails_closed_and_recovers(
    screen: XdbScreen, lane: FakeLane, qtbot: QtBot
) -> None:
    lane.start_heartbeats()
    lane.instruct(C.PROCEED)
    wait_code(qtbot, screen, C.PROCEED)
    lane.stop_heartbeats()
    wait_code(qtbot, screen, C.STOP_SEE_OFFICER, timeout=int(BOUND * 1000) + 3000)
    assert screen.controller.shown.reason is FailReason.NO_HEARTBEAT
    lane.start_heartbeats()
    wait_code(qtbot, screen, C.PROCEED)


def test_broker_loss_fails_closed_and_recovers(
    screen: XdbScreen, lane: FakeLane, mosquitto: Mosquitto, qtbot: QtBot
) -> None:
    lane.start_heartbeats()
    lane.instruct(C.PROCEED)
    wait_code(qtbot, screen, C.PROCEED)
    mosquitto.kill()
    wait_code(qtbot, screen, C.STOP_SEE_OFFICER)
    assert screen.controller.shown.reason is FailReason.BROKER_LOST
    mosquitto.start()  # same port, no persistence: the retained instruction is gone
    qtbot.waitUntil(
        lambda: screen.bus.connected.is_set() and lane.bus.connected.is_set(), timeout=15000
    )
    qtbot.waitUntil(
        lambda: screen.controller.shown.reason is FailReason.NO_INSTRUCTION, timeout=5000
    )
    assert screen.board.state is not None
    assert screen.board.state.code is C.STOP_SEE_OFFICER  # never the old PROCEED
    lane.instruct(C.INSPECT, bay="B2")
    wait_code(qtbot, screen, C.INSPECT)


def test_forged_replayed_and_expired_instructions(
    screen: XdbScreen, lane: FakeLane, qtbot: QtBot
) -> None:
    lane.start_heartbeats()
    first = lane.instruct(C.NO_BUNDLE)
    wait_code(qtbot, screen, C.NO_BUNDLE)
    lane.instruct(C.DROP_MANIFEST)
    wait_code(qtbot, screen, C.DROP_MANIFEST)

    forged = make_instruction(C.PROCEED, lane.seq + 10, key=b"attacker-key")
    with qtbot.waitSignal(screen.controller.rejected, timeout=5000) as blocker:
        lane.publish_raw(forged.to_bytes())
    assert blocker.args == ["bad_signature"]
    with qtbot.waitSignal(screen.controller.rejected, timeout=5000) as blocker:
        lane.publish_raw(first.to_bytes())
    assert blocker.args == ["replay"]
    with qtbot.waitSignal(screen.controller.rejected, timeout=5000) as blocker:
        lane.publish_raw(b'{"v": 1, "garbage": true}')
    assert blocker.args == ["bad_payload"]
    assert screen.board.state is not None
    assert screen.board.state.code is C.DROP_MANIFEST

    # long enough to reach the board on a loaded machine before it expires
    lane.instruct(C.PROCEED, expires_at=datetime.now(UTC) + timedelta(seconds=2))
    wait_code(qtbot, screen, C.PROCEED)
    wait_code(qtbot, screen, C.STOP_SEE_OFFICER, timeout=10_000)
    assert screen.controller.shown.reason is FailReason.EXPIRED


def test_a_time_beyond_hong_kongs_calendar_still_replaces_a_proceed(
    screen: XdbScreen, lane: FakeLane, qtbot: QtBot
) -> None:
    """A TOO_EARLY until a far-off date standing for "never" (the last hours of year 9999
    UTC have no Hong Kong date) replaced the truck before's PROCEED in the lane watch,
    but drawing it raised, and the board kept PROCEED on the glass."""
    lane.start_heartbeats()
    lane.instruct(C.PROCEED)
    wait_code(qtbot, screen, C.PROCEED)
    lane.instruct(C.TOO_EARLY, earliest_at=datetime(9999, 12, 31, 20, tzinfo=UTC))
    wait_code(qtbot, screen, C.TOO_EARLY)
    assert screen.board.state is not None
    assert screen.board.state.earliest == "31/12 23:59"


def test_a_board_that_cannot_draw_an_instruction_shows_stop(
    screen: XdbScreen,
    lane: FakeLane,
    qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever fails in drawing the lane's answer (a bug, data no test foresaw), the
    board fails closed: STOP, not the instruction before it, and the log says why."""
    import xdb_display.qt_app as app

    lane.start_heartbeats()
    lane.instruct(C.PROCEED)
    wait_code(qtbot, screen, C.PROCEED)
    draw = app.board_state

    def fails_on_inspect(shown: Shown, *args: Any) -> BoardState:
        if shown.code is C.INSPECT:
            raise ValueError("cannot draw this")
        return draw(shown, *args)

    monkeypatch.setattr(app, "board_state", fails_on_inspect)
    with caplog.at_level(logging.ERROR, logger="xdb_display.qt_app"):
        lane.instruct(C.INSPECT, bay="B3")
        wait_code(qtbot, screen, C.STOP_SEE_OFFICER)
        qtbot.wait(800)  # the board redraws 4 times a second
    assert screen.controller.shown.code is C.INSPECT  # the lane's answer, not drawn
    assert screen.board.state is not None
    assert screen.board.state.reason is FailReason.NO_INSTRUCTION
    # once, not 4 a second (one record: a logging set-up of an earlier test in the same
    # process may hand the same record to the capture twice)
    said = {id(r) for r in caplog.records if r.getMessage() == "cannot show INSPECT: showing STOP"}
    assert len(said) == 1


def test_a_stopping_board_shows_stop_before_it_cleans_up(
    screen: XdbScreen, lane: FakeLane, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saying offline waits for the broker (up to 2 s), disconnecting takes its time: the
    truck's PROCEED stood on the glass all along."""
    import ui_common.qt_lanewatch as qt_lanewatch

    lane.start_heartbeats()
    lane.instruct(C.PROCEED)
    wait_code(qtbot, screen, C.PROCEED)
    qtbot.waitUntil(lambda: "PROCEED" in {d.text for d in screen.board.drawn}, timeout=3000)
    seen: list[tuple[InstructionCode | None, set[str]]] = []
    say_offline = qt_lanewatch.say_offline

    def blocking_say_offline(*args: Any) -> None:  # what the glass shows while it blocks
        state = screen.board.state
        seen.append((None if state is None else state.code, {d.text for d in screen.board.drawn}))
        say_offline(*args)

    monkeypatch.setattr(qt_lanewatch, "say_offline", blocking_say_offline)
    screen.stop()
    assert len(seen) == 1
    code, painted = seen[0]
    assert code is C.STOP_SEE_OFFICER
    assert "STOP" in painted  # painted, not only decided
    assert "PROCEED" not in painted

"""The panel's widgets: flows on a real broker, live language switch, screenshots.

Writes docs/screenshots/aiop_<state>_<lang>.png.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton
from pytestqt.qtbot import QtBot

from aiop_panel.panel import Action, Feedback, PanelConfig, PanelModel, PanelView
from aiop_panel.qt_app import AiopScreen
from hardware_sim.dropbox import SimulatedDropBox
from rocars.bus import Bus
from rocars.ids import ControlPoint
from rocars.messages import (
    DeviceStatus,
    InstructionCode,
    ManifestDropped,
    SyncStatus,
    UnladenPressed,
    decode_json,
    parse,
)
from rocars.topics import (
    device_status_topic,
    instruction_topic,
    manifest_topic,
    sync_status_topic,
    unladen_topic,
)
from tests.fixtures.brokers import Mosquitto
from tests.fixtures.displays import FakeClock, FakeLane, key_of, make_instruction
from ui_common.app import missing_glyphs
from ui_common.instruction import STYLES
from ui_common.lanewatch import FailReason, Shown, SyncMark
from ui_common.languages import Language
from ui_common.screenshot import colour_share, grab_png

C = InstructionCode
# the offscreen platform says this whenever a top-level window with a layout is shown
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
EARLIEST = datetime(2026, 11, 21, 6, 50, tzinfo=UTC)  # 14:50 HKT: the same on every screenshot


def click(qtbot: QtBot, button: QPushButton) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.fixture
def offline_screen(qtbot: QtBot) -> Iterator[AiopScreen]:
    """A panel whose bus is never started: the test feeds it lane-watch answers."""
    config = PanelConfig(
        cp=ControlPoint.SBC, lane="L01", broker="mqtt://127.0.0.1:1", manifest_confirm=True
    )
    screen = AiopScreen(config, key_of(config))
    qtbot.addWidget(screen.widget)
    screen.widget.resize(1024, 768)
    screen.widget.show()
    yield screen
    screen.stop()


def feed(screen: AiopScreen, code: InstructionCode, seq: int, **fields: object) -> None:
    instruction = make_instruction(code, seq, **fields)  # type: ignore[arg-type]
    screen.on_shown(Shown(code, instruction, None, SyncMark.CENTRAL_UP))


@pytest.fixture
def clocked_screen(qtbot: QtBot) -> Iterator[tuple[AiopScreen, FakeClock, list[object]]]:
    """A panel on a fake clock whose publishes are collected, not sent."""
    clock = FakeClock()
    config = PanelConfig(
        cp=ControlPoint.SBC,
        lane="L01",
        broker="mqtt://127.0.0.1:1",
        manifest_confirm=True,
        heartbeat_bound=3.0,
    )
    screen = AiopScreen(config, key_of(config), clock=clock)
    qtbot.addWidget(screen.widget)
    sent: list[object] = []
    screen.bus.publish = lambda topic, message, **kw: sent.append(message)  # type: ignore[method-assign]
    yield screen, clock, sent
    screen.stop()


def start_lane(
    screen: AiopScreen, clock: FakeClock, code: InstructionCode, seq: int, expires_in: float
) -> None:
    controller = screen.controller
    controller.on_connection(True)
    status = SyncStatus(state="online", central="up", ts=clock.now())
    controller.on_message(sync_status_topic("SBC"), status.to_bytes())
    instruction = make_instruction(
        code, seq, ts=clock.now(), expires_at=clock.now() + timedelta(seconds=expires_in)
    )
    controller.on_message(instruction_topic("SBC", "L01"), instruction.to_bytes())
    assert screen.model.shown.code is code


def test_press_and_confirm_see_a_lapse_not_yet_re_evaluated(
    clocked_screen: tuple[AiopScreen, FakeClock, list[object]],
) -> None:
    screen, clock, sent = clocked_screen
    start_lane(screen, clock, C.NO_BUNDLE, 7, expires_in=1.0)
    clock.advance(1.5)  # expired; the re-evaluation timer has not fired yet
    screen.on_press("unladen")
    screen.on_confirm()
    assert sent == []
    assert screen.model.view(clock.now()).feedback is Feedback.NOT_AVAILABLE
    start_lane(screen, clock, C.DROP_MANIFEST, 8, expires_in=60.0)
    screen.on_press("manifest")  # the dialog is up
    clock.advance(3.5)  # no heartbeat for longer than the bound
    screen.on_confirm()
    assert sent == []
    assert screen.model.view(clock.now()).code is C.STOP_SEE_OFFICER


def test_a_panel_that_cannot_show_an_instruction_shows_stop(
    offline_screen: AiopScreen, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TOO_EARLY until a time Hong Kong's calendar cannot hold is shown (its last
    minute); and whatever fails in showing the lane's answer, the panel fails closed: STOP
    and no buttons, not the instruction before it."""
    screen = offline_screen
    feed(screen, C.TOO_EARLY, 1, earliest_at=datetime(9999, 12, 31, 20, tzinfo=UTC))
    assert screen.widget.view is not None
    assert screen.widget.view.earliest == "31/12 23:59"
    feed(screen, C.NO_BUNDLE, 2)
    assert screen.widget.view.unladen_available
    show = PanelModel.view

    def fails_on_inspect(model: PanelModel, now: datetime) -> PanelView:
        if model.shown.code is C.INSPECT:
            raise ValueError("cannot show this")
        return show(model, now)

    monkeypatch.setattr(PanelModel, "view", fails_on_inspect)
    feed(screen, C.INSPECT, 3, bay="B3")
    view = screen.widget.view
    assert (view.code, view.reason) == (C.STOP_SEE_OFFICER, FailReason.NO_INSTRUCTION)
    assert not view.unladen_available


def test_status_says_whether_the_dropbox_sensor_is_healthy(qtbot: QtBot, tmp_path: Path) -> None:
    config = PanelConfig(
        cp=ControlPoint.SBC,
        lane="L01",
        broker="mqtt://127.0.0.1:1",
        dropbox=str(tmp_path / "ttyUSB9"),
    )
    screen = AiopScreen(config, key_of(config))
    qtbot.addWidget(screen.widget)
    sent: list[DeviceStatus] = []
    screen.bus.publish = lambda topic, message, **kw: sent.append(message)  # type: ignore[method-assign]
    try:
        assert screen.sensor is not None
        screen.publish_status()  # the sensor's port never opened
        assert sent[-1].state == "online"
        assert "drop-box sensor not connected" in sent[-1].detail
        assert sent[-1].metrics["healthy"] == 0
        screen.sensor.connected.set()  # as its reader says once the port opens
        screen.publish_status()
        assert (sent[-1].detail, sent[-1].metrics["healthy"]) == ("", 1)
    finally:
        screen.stop()


def test_a_stopping_panel_shows_stop_before_its_sensor_stops(
    clocked_screen: tuple[AiopScreen, FakeClock, list[object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drop-box sensor's thread may take seconds to join: the truck's PROCEED stood
    on the panel meanwhile."""
    screen, clock, _ = clocked_screen
    start_lane(screen, clock, C.PROCEED, 5, expires_in=30)
    seen: list[InstructionCode] = []

    class Sensor:
        def stop(self) -> None:  # what the panel shows while the sensor stops
            seen.append(screen.model.shown.code)

    monkeypatch.setattr(screen, "sensor", Sensor())
    screen.stop()
    assert seen == [C.STOP_SEE_OFFICER]


def test_language_switch_relabels_live(offline_screen: AiopScreen, qtbot: QtBot) -> None:
    widget = offline_screen.widget
    assert widget.unladen.text() == "空車"
    click(qtbot, widget.languages[Language.EN])
    qtbot.waitUntil(lambda: widget.unladen.text() == "Unladen Vehicle", timeout=2000)
    assert widget.languages[Language.EN].isChecked()
    click(qtbot, widget.languages[Language.ZH_CN])
    qtbot.waitUntil(lambda: widget.unladen.text() == "空车", timeout=2000)
    assert widget.confirm.text() == "确认"
    click(qtbot, widget.languages[Language.ZH_TW])
    qtbot.waitUntil(lambda: widget.unladen.text() == "空車", timeout=2000)


def test_buttons_are_touch_sized(offline_screen: AiopScreen) -> None:
    widget = offline_screen.widget
    for button in (widget.unladen, widget.manifest, *widget.languages.values()):
        assert button.height() >= 96
        assert button.width() >= 96


STATES = [
    "ready",
    "no_bundle",
    "confirm_unladen",
    "sent",
    "received",
    "not_available",
    "drop_manifest",
    "confirm_manifest",
    "inspect",
    "too_early",
    "stop_offline",
    "stop_unreadable",
]


def drive(screen: AiopScreen, qtbot: QtBot, state: str) -> InstructionCode:
    widget = screen.widget
    if state == "ready":
        feed(screen, C.READY, 1)
        return C.READY
    if state == "no_bundle":
        feed(screen, C.NO_BUNDLE, 1)
        return C.NO_BUNDLE
    if state == "confirm_unladen":
        feed(screen, C.NO_BUNDLE, 1)
        click(qtbot, widget.unladen)
        return C.NO_BUNDLE
    if state in ("sent", "received"):
        feed(screen, C.NO_BUNDLE, 1)
        click(qtbot, widget.unladen)
        click(qtbot, widget.confirm)
        if state == "received":
            feed(screen, C.PROCEED, 2)
            return C.PROCEED
        return C.NO_BUNDLE
    if state == "not_available":
        feed(screen, C.PROCEED, 1)
        click(qtbot, widget.unladen)
        return C.PROCEED
    if state in ("drop_manifest", "confirm_manifest"):
        feed(screen, C.DROP_MANIFEST, 1)
        if state == "confirm_manifest":
            click(qtbot, widget.manifest)
        return C.DROP_MANIFEST
    if state == "inspect":
        feed(screen, C.INSPECT, 1, bay="B7")
        return C.INSPECT
    if state == "too_early":
        feed(screen, C.TOO_EARLY, 1, earliest_at=EARLIEST)
        return C.TOO_EARLY
    reason = (
        FailReason.INSTRUCTION_UNREADABLE if state == "stop_unreadable" else FailReason.BROKER_LOST
    )
    screen.on_shown(Shown(C.STOP_SEE_OFFICER, None, reason, SyncMark.CONTROLLER_LOST))
    return C.STOP_SEE_OFFICER


EXPECTED_FEEDBACK = {
    "sent": Feedback.SENT,
    "received": Feedback.RECEIVED,
    "not_available": Feedback.NOT_AVAILABLE,
}


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("state", STATES)
def test_each_state_in_each_language(
    offline_screen: AiopScreen, qtbot: QtBot, state: str, language: Language
) -> None:
    screen, widget = offline_screen, offline_screen.widget
    click(qtbot, widget.languages[language])
    code = drive(screen, qtbot, state)
    view = widget.view
    assert view is not None
    assert view.language is language
    assert view.code is code
    assert view.feedback is EXPECTED_FEEDBACK.get(state)
    assert view.confirming is {
        "confirm_unladen": Action.UNLADEN,
        "confirm_manifest": Action.MANIFEST,
    }.get(state)
    assert widget.confirm_row.isVisibleTo(widget) is (view.confirming is not None)
    widget.instruction.repaint()
    image = grab_png(widget, SHOTS / f"aiop_{state}_{language}.png")
    for drawn in widget.instruction.drawn:
        assert not drawn.clipped, drawn.text
        assert missing_glyphs(drawn.text, drawn.font) == [], drawn.text
    for label in (
        widget.unladen,
        widget.manifest,
        widget.confirm,
        widget.cancel,
        widget.feedback,
        widget.question,
    ):
        assert missing_glyphs(label.text(), label.font()) == [], label.text()
    assert colour_share(image, STYLES[code].background) > 0.15


def label_fits(label: QLabel) -> bool:
    """Every word of ``label`` within its width, and all its lines within its height
    (Chinese breaks between any two characters: its words are not looked at)."""
    box = label.contentsRect()
    metrics = label.fontMetrics()
    words = [w for w in label.text().split() if w.isascii()]
    if not label.wordWrap():
        return metrics.horizontalAdvance(label.text()) <= box.width()
    return all(metrics.horizontalAdvance(w) <= box.width() for w in words) and (
        label.heightForWidth(label.width()) <= label.height()
    )


@pytest.mark.parametrize("language", list(Language))
def test_a_wide_one_word_bay_is_shown_whole_on_a_large_screen(
    offline_screen: AiopScreen, qtbot: QtBot, language: Language
) -> None:
    """16 wide letters, the longest bay there is, cannot break: balancing the wrapped
    line narrowed its box until the bay was cut (11 of 16 W's at 1920x1080)."""
    screen, widget = offline_screen, offline_screen.widget
    widget.resize(1920, 1080)
    click(qtbot, widget.languages[language])
    feed(screen, C.INSPECT, 1, bay="W" * 16)
    widget.instruction.repaint()
    image = grab_png(widget, SHOTS / f"aiop_inspect_wide_bay_{language}.png")
    drawn = widget.instruction.drawn
    assert any("W" * 16 in text.text for text in drawn)
    for text in drawn:
        assert not text.clipped, (text.text, text.box, text.needed)
        assert missing_glyphs(text.text, text.font) == [], text.text
    assert colour_share(image, STYLES[C.INSPECT].background) > 0.15


def test_unladen_and_manifest_on_a_real_broker(mosquitto: Mosquitto, qtbot: QtBot) -> None:
    events: queue.Queue[tuple[str, bytes]] = queue.Queue()
    listener = Bus(mosquitto.url, "sync-listener")
    listener.subscribe(unladen_topic("SBC", "L01"), lambda t, p: events.put((t, p)))
    listener.subscribe(manifest_topic("SBC", "L01"), lambda t, p: events.put((t, p)))
    listener.start()
    lane = FakeLane(mosquitto.url).start()
    lane.start_heartbeats()
    config = PanelConfig(
        cp=ControlPoint.SBC,
        lane="L01",
        broker=mosquitto.url,
        manifest_confirm=True,
        heartbeat_bound=2.0,
    )
    screen = AiopScreen(config, key_of(config))
    qtbot.addWidget(screen.widget)
    try:
        assert listener.wait_connected(10)
        screen.start(show=True)
        widget = screen.widget
        lane.instruct(C.NO_BUNDLE, vrn="KT4321")
        qtbot.waitUntil(
            lambda: widget.view is not None and widget.view.unladen_available, timeout=5000
        )
        click(qtbot, widget.unladen)
        with qtbot.waitSignal(screen.published, timeout=3000):
            click(qtbot, widget.confirm)
        topic, payload = events.get(timeout=5)
        assert topic == unladen_topic("SBC", "L01")
        assert parse(UnladenPressed, payload).vrn == "KT4321"
        assert widget.view is not None
        assert widget.view.feedback is Feedback.SENT
        lane.instruct(C.DROP_MANIFEST, vrn="KT4321")
        qtbot.waitUntil(
            lambda: widget.view is not None and widget.view.feedback is Feedback.RECEIVED,
            timeout=5000,
        )
        # unladen is not available while a bundle is handled: nothing goes on the bus
        click(qtbot, widget.unladen)
        assert widget.view.feedback is Feedback.NOT_AVAILABLE
        click(qtbot, widget.manifest)
        with qtbot.waitSignal(screen.published, timeout=3000):
            click(qtbot, widget.confirm)
        topic, payload = events.get(timeout=5)
        assert topic == manifest_topic("SBC", "L01")  # the manifest, not a stray unladen
        assert parse(ManifestDropped, payload).source == "panel"
        # the lane fails closed: the panel shows STOP and offers nothing
        lane.stop_heartbeats()
        qtbot.waitUntil(
            lambda: widget.view is not None and widget.view.code is C.STOP_SEE_OFFICER, timeout=4000
        )
        assert not widget.view.unladen_available
    finally:
        screen.stop()
        lane.stop()
        listener.stop()


def test_dropbox_sensor_publishes_through_the_panel(
    mosquitto: Mosquitto, qtbot: QtBot, tmp_path: Path
) -> None:
    events: queue.Queue[bytes] = queue.Queue()
    statuses: queue.Queue[DeviceStatus] = queue.Queue()
    listener = Bus(mosquitto.url, "manifest-listener")
    listener.subscribe(manifest_topic("SBC", "L01"), lambda t, p: events.put(p))
    listener.subscribe(
        device_status_topic("SBC", "L01", "aiop"), lambda t, p: statuses.put(parse(DeviceStatus, p))
    )
    listener.start()
    box = SimulatedDropBox(tmp_path).start()
    config = PanelConfig(
        cp=ControlPoint.SBC,
        lane="L01",
        broker=mosquitto.url,
        dropbox=box.path,
        dropbox_min_closed_ms=30,
    )
    screen = AiopScreen(config, key_of(config))
    qtbot.addWidget(screen.widget)
    try:
        assert listener.wait_connected(10)
        screen.start(show=False)
        assert screen.sensor is not None
        assert screen.sensor.connected.wait(5)
        assert screen.bus.wait_connected(10)
        with qtbot.waitSignal(screen.sensor_drop, timeout=5000):
            box.chatter(bounces=4, gap_ms=2, hold_ms=80)
        assert decode_json(events.get(timeout=5))["source"] == "sensor"
        assert screen.sensor.drops == 1

        def next_status(gone: bool) -> DeviceStatus:
            for _ in range(20):
                status = statuses.get(timeout=10)
                if bool(status.detail) is gone and status.metrics.get("drops") == 1:
                    return status
            raise AssertionError("the status never said so")

        # the panel's status says when its sensor is gone, and when it is back; while it
        # is gone a lane that wants the manifest tells the driver to see the officer
        widget = screen.widget
        widget.resize(1024, 768)
        feed(screen, C.DROP_MANIFEST, 1)
        assert widget.view is not None
        assert not widget.view.dropbox_down
        assert widget.feedback.text() == ""
        box.unplug()
        gone = next_status(gone=True)
        assert gone.state == "online"
        assert "drop-box sensor not connected" in gone.detail
        qtbot.waitUntil(lambda: widget.view is not None and widget.view.dropbox_down, timeout=5000)
        for language in Language:
            click(qtbot, widget.languages[language])
            assert widget.feedback.text()
            assert missing_glyphs(widget.feedback.text(), widget.feedback.font()) == []
            for size in ((800, 600), (1024, 768)):  # the notice whole, the panel too
                widget.resize(*size)
                widget.instruction.repaint()
                small = "_800x600" if size == (800, 600) else ""
                grab_png(widget, SHOTS / f"aiop_dropbox_down{small}_{language}.png")
                # on one line the notice's width was the panel's least (858 px in
                # English): the panel came out wider than an 800 px screen
                assert (widget.width(), widget.height()) == size
                assert label_fits(widget.feedback), (size, widget.feedback.text())
        feed(screen, C.PROCEED, 2)  # nothing to drop any more: no notice
        assert widget.view is not None
        assert not widget.view.dropbox_down
        assert widget.feedback.text() == ""
        feed(screen, C.DROP_MANIFEST, 3)
        box.replug()
        back = next_status(gone=False)
        assert back.state == "online"
        qtbot.waitUntil(
            lambda: widget.view is not None and not widget.view.dropbox_down, timeout=5000
        )
        assert widget.feedback.text() == ""
        # a drop while the panel shows no DROP_MANIFEST names the newest instruction it
        # heard: the lane takes it for that one only (untagged, it was judged by its time,
        # and released the next truck told DROP_MANIFEST within 2 s: found in review)
        heard = screen.watch.last_seq
        listener.publish(instruction_topic("SBC", "L01"), make_instruction(C.PROCEED, 4))
        qtbot.waitUntil(lambda: screen.watch.last_seq == 4, timeout=5000)  # heard, no heartbeat:
        assert heard != 4  # the panel fails closed (STOP), the drop still names seq 4
        while not events.empty():
            events.get_nowait()
        with qtbot.waitSignal(screen.sensor_drop, timeout=5000):
            box.chatter(bounces=4, gap_ms=2, hold_ms=80)
        assert decode_json(events.get(timeout=5))["instruction_seq"] == 4
    finally:
        screen.stop()
        box.stop()
        listener.stop()

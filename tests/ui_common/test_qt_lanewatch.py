"""The displays on a broker with passwords and ACLs, as ``rocars.brokerconf`` writes them."""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from aiop_panel.panel import PanelConfig
from aiop_panel.qt_app import AiopScreen
from rocars.broker import free_port
from rocars.brokerconf import write_broker_files
from rocars.bus import Bus
from rocars.ids import ControlPoint
from rocars.messages import DeviceStatus, InstructionCode, UnladenPressed, parse
from rocars.signing import lane_key
from rocars.topics import device_status_topic, unladen_topic
from tests.fixtures.brokers import wait_port
from tests.fixtures.displays import FakeLane, site_secret
from ui_common.lanewatch import FailReason
from ui_common.qt_lanewatch import say_offline
from xdb_display.board import XdbConfig
from xdb_display.qt_app import XdbScreen

#: what the site's L01 screens verify with (rocars.lanekey.screen_key)
L01_KEY = lane_key(site_secret(), ControlPoint.SBC, "L01")

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    passwords = write_broker_files(
        tmp_path, ControlPoint.SBC, ["L01"], shards=["a", "b"], port=port, run_as="root"
    )
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    log = (tmp_path / "mosquitto.log").open("ab")
    proc = subprocess.Popen([exe, "-c", str(tmp_path / "mosquitto.conf")], stdout=log, stderr=log)
    try:
        wait_port("127.0.0.1", port)
        yield f"mqtt://127.0.0.1:{port}", passwords
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(10)
        log.close()


def test_displays_with_device_accounts(
    acl_broker: tuple[str, dict[str, str]], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, passwords = acl_broker
    seen: queue.Queue[tuple[str, bytes]] = queue.Queue()
    monitor = Bus(url, "monitor", username="monitor", password=passwords["monitor"])
    monitor.subscribe("rocars/SBC/#", lambda t, p: seen.put((t, p)))
    monitor.start()
    lane = FakeLane(url, username="sync", password=passwords["sync"]).start()
    lane.start_heartbeats()
    monkeypatch.setenv("ROCARS_MQTT_USERNAME", "xdb-L01")
    monkeypatch.setenv("ROCARS_MQTT_PASSWORD", passwords["xdb-L01"])
    xdb = XdbScreen(
        XdbConfig(cp=ControlPoint.SBC, lane="L01", broker=url, fullscreen=False), L01_KEY
    )
    monkeypatch.setenv("ROCARS_MQTT_USERNAME", "aiop-L01")
    monkeypatch.setenv("ROCARS_MQTT_PASSWORD", passwords["aiop-L01"])
    aiop = AiopScreen(PanelConfig(cp=ControlPoint.SBC, lane="L01", broker=url), L01_KEY)
    monkeypatch.delenv("ROCARS_MQTT_USERNAME")
    monkeypatch.delenv("ROCARS_MQTT_PASSWORD")
    stranger = XdbScreen(
        XdbConfig(cp=ControlPoint.SBC, lane="L01", broker=url, fullscreen=False, device="xdb2"),
        L01_KEY,
    )
    qtbot.addWidget(xdb.board)
    qtbot.addWidget(aiop.widget)
    qtbot.addWidget(stranger.board)
    try:
        assert monitor.wait_connected(10)
        for screen in (xdb, aiop, stranger):
            screen.start(show=False)
        lane.instruct(InstructionCode.NO_BUNDLE, vrn="KT4321")
        qtbot.waitUntil(
            lambda: xdb.controller.shown.code is InstructionCode.NO_BUNDLE, timeout=10000
        )
        qtbot.waitUntil(lambda: aiop.model.view(aiop.clock.now()).unladen_available, timeout=10000)
        aiop.on_press("unladen")
        aiop.on_confirm()
        statuses: dict[str, str] = {}
        unladen = None
        for _ in range(50):
            topic, payload = seen.get(timeout=10)
            if topic == unladen_topic("SBC", "L01"):
                unladen = parse(UnladenPressed, payload)
                break
            if "/status/" in topic:
                statuses[topic] = parse(DeviceStatus, payload).state
        assert unladen is not None
        assert unladen.vrn == "KT4321"
        assert statuses.get(device_status_topic("SBC", "L01", "xdb")) == "online"
        # a display without an account never gets in, so it shows STOP
        assert not stranger.bus.wait_connected(1.0)
        assert stranger.controller.shown.reason is FailReason.BROKER_LOST
    finally:
        for screen in (xdb, aiop, stranger):
            screen.stop()
        aiop.translations.close()
        xdb.translations.close()
        stranger.translations.close()
        lane.stop()
        monitor.stop()


def test_a_display_follows_the_shard_that_lists_its_lane(
    acl_broker: tuple[str, dict[str, str]], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two agents share the site (docs/architecture.md, "Several agents at one control
    point"): the XDB of L01 heeds shard a's status, on its own topic, and not shard b's."""
    url, passwords = acl_broker
    mine = FakeLane(url, username="sync-a", password=passwords["sync-a"], shard="a").start()
    other = FakeLane(
        url, lane="L02", username="sync-b", password=passwords["sync-b"], shard="b"
    ).start()
    monkeypatch.setenv("ROCARS_MQTT_USERNAME", "xdb-L01")
    monkeypatch.setenv("ROCARS_MQTT_PASSWORD", passwords["xdb-L01"])
    xdb = XdbScreen(
        XdbConfig(cp=ControlPoint.SBC, lane="L01", broker=url, fullscreen=False), L01_KEY
    )
    qtbot.addWidget(xdb.board)
    try:
        mine.start_heartbeats()
        other.start_heartbeats()
        xdb.start(show=False)
        mine.instruct(InstructionCode.PROCEED, vrn="KT4321")
        qtbot.waitUntil(lambda: xdb.controller.shown.code is InstructionCode.PROCEED, timeout=10000)
        other.stop_heartbeats()
        other.say_offline()  # b's lanes fail closed; L01 is not one of them
        qtbot.waitUntil(lambda: xdb.watch.other_lanes > 0, timeout=10000)
        assert xdb.controller.shown.code is InstructionCode.PROCEED
        mine.stop_heartbeats()
        mine.say_offline()
        qtbot.waitUntil(
            lambda: xdb.controller.shown.reason is FailReason.CONTROLLER_OFFLINE, timeout=10000
        )
        assert xdb.controller.shown.code is InstructionCode.STOP_SEE_OFFICER
    finally:
        xdb.stop()
        xdb.translations.close()
        mine.stop()
        other.stop()


def test_saying_offline_on_a_connection_just_lost_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``connected`` is still set in the instant after the socket went: paho refuses the
    publish (RuntimeError), and the clean stop must go on (the broker has sent the will)."""
    bus = Bus("mqtt://127.0.0.1:1", "xdb-SBC-L01")  # no broker there, never started
    bus.connected.set()
    try:
        with caplog.at_level(logging.WARNING, logger="ui_common.qt_lanewatch"):
            say_offline(bus, "SBC", "L01", "xdb")
    finally:
        bus.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "ui_common.qt_lanewatch"]
    assert any("offline not said" in message for message in said), said


def test_a_display_stops_cleanly_when_its_connection_just_went(qtbot: QtBot) -> None:
    """Saying offline fails; the bus, the translators, the window and the timers stop."""
    xdb = XdbScreen(
        XdbConfig(cp=ControlPoint.SBC, lane="L01", broker="mqtt://127.0.0.1:1", fullscreen=False),
        L01_KEY,
    )
    qtbot.addWidget(xdb.board)
    xdb.tick.start()
    xdb.board.show()
    xdb.bus.connected.set()  # as if up a moment ago
    try:
        xdb.stop()
        assert not xdb.bus.connected.is_set()  # Bus.stop ran
        assert not xdb.board.isVisible()
        assert not xdb.tick.isActive()
        assert xdb.translations._installed == []
    finally:
        xdb.translations.close()

"""The lane-watch model on the GUI thread: the bus reaches widgets only through signals.

``BusBridge`` turns paho's thread callbacks into queued Qt signals; ``LaneWatchController``
feeds them to a ``LaneWatch`` on the GUI thread, re-evaluates when the heartbeat or the
instruction would lapse, and emits ``shown_changed`` only when what to show changes.
``connect_device`` opens the app's bus connection with a retained ``offline`` last will
and says ``online`` on every (re)connect. ``LaneScreen`` is what the XDB and the AIOP
share around their widgets: the lane watch, the bus, the clean stop.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from rocars.bus import Bus, Will
from rocars.errors import BadPayload
from rocars.messages import DeviceStatus
from rocars.topics import (
    device_status_topic,
    instruction_topic,
    sync_status_filters,
    sync_status_topic,
)
from ui_common.errors import InstructionRejected
from ui_common.i18n import Translations
from ui_common.lanewatch import Clock, LaneWatch, Shown, SystemClock

#: The longest the re-evaluation timer is set for (it is set again when it fires).
MAX_TIMER_MS = 60_000

logger = logging.getLogger(__name__)


class BusBridge(QObject):
    """Re-emits bus traffic as signals, so slots run on the thread that owns the bridge.

    Signals:
        message(str, object): topic and payload bytes of a subscribed message.
        connection(bool): the broker connection came up (True) or was lost (False).
    """

    message = Signal(str, object)
    connection = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        #: ``time.perf_counter()`` when the last message of each topic reached paho's callback
        self.received_at: dict[str, float] = {}

    def attach(self, bus: Bus, topic_filters: list[str]) -> None:
        for topic_filter in topic_filters:
            bus.subscribe(topic_filter, self._on_message)
        bus.on_connection(self.connection.emit)

    def _on_message(self, topic: str, payload: bytes) -> None:  # paho's thread
        self.received_at[topic] = time.perf_counter()
        self.message.emit(topic, payload)


class LaneWatchController(QObject):
    """Drives a LaneWatch from the bus on the GUI thread.

    Signals:
        shown_changed(object): the new ``Shown`` whenever what to show changes.
        rejected(str): the key of an instruction that was dropped (bad_signature, replay…).
    """

    shown_changed = Signal(object)
    rejected = Signal(str)

    def __init__(self, watch: LaneWatch, cp: str, lane: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.watch = watch
        self.instruction_topic = instruction_topic(cp, lane)
        #: the site's ``sync/status`` and every shard's ``sync/{shard}/status``
        self.sync_filters = sync_status_filters(cp)
        self._sync_prefix = sync_status_topic(cp).rsplit("/", 1)[0] + "/"
        self.bridge = BusBridge(self)
        self.bridge.message.connect(self.on_message)
        self.bridge.connection.connect(self.on_connection)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        # to the millisecond: a coarse timer (Qt's default) may fire 5 % of its interval
        # late, and a PROCEED stood up to 0.15 s past a lapsed 3 s heartbeat (found in
        # review; docs/displays.md says "at the exact moment")
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self.refresh)
        self._shown = watch.shown()
        self._stopped = False

    @property
    def shown(self) -> Shown:
        return self._shown

    def attach(self, bus: Bus) -> None:
        self.bridge.attach(bus, [self.instruction_topic, *self.sync_filters])

    def stop(self) -> None:
        """The app is shutting down: STOP from now on, whatever still arrives (the broker
        connection is about to go), and no more re-evaluations. Once: an app that paints
        STOP before the rest of its stop (``LaneScreen.paint_stop``) calls it twice."""
        if self._stopped:
            return
        self._stopped = True
        self._timer.stop()
        self.watch.on_connection(False)
        self.refresh()

    def on_message(self, topic: str, payload: object) -> None:
        if self._stopped:
            return
        try:
            self._dispatch(topic, payload)
        except Exception:  # top level of a GUI callback: the re-evaluation below must run
            logger.exception("message on %s not handled", topic)
        finally:
            self.refresh()

    def _dispatch(self, topic: str, payload: object) -> None:
        if not isinstance(payload, bytes):
            logger.warning("dropped a non-bytes payload on %s", topic)
            return
        if topic == self.instruction_topic:
            try:
                instruction = self.watch.on_instruction(payload)
                logger.debug("instruction seq %s %s", instruction.seq, instruction.code)
            except InstructionRejected as err:
                logger.warning("dropped instruction on %s: %s (%s)", topic, err.key, err)
                self.rejected.emit(err.key)
        elif topic.startswith(self._sync_prefix) and topic.endswith("/status"):
            try:
                self.watch.on_sync_status(payload)
            except BadPayload as err:
                logger.warning("dropped sync status on %s: %s", topic, err)

    def on_connection(self, up: bool) -> None:
        if self._stopped:
            return
        self.watch.on_connection(up)
        self.refresh()

    def refresh(self) -> None:
        """Re-evaluate now and arm the timer for the next lapse.

        The wait is read before what to show: read after, a lapse falling between the two
        reads would leave the timer unarmed while the screen still shows the instruction
        (a PROCEED kept on a lane whose controller stopped, until some message came).
        """
        wait = self.watch.seconds_to_next_change()
        shown = self.watch.shown()
        if self._stopped:
            wait = None
        if wait is not None:
            # at most a minute: QTimer takes a signed 32-bit count of ms (24.8 days), and a
            # far-off expiry (a clock stepped 25 days) raised here, before the emit below,
            # and froze the screen on what it showed; early is harmless, this re-arms
            self._timer.start(min(MAX_TIMER_MS, max(1, math.ceil(wait * 1000))))
        else:
            self._timer.stop()
        if shown != self._shown:
            self._shown = shown
            self.shown_changed.emit(shown)


def connect_device(
    url: str,
    cp: str,
    lane: str,
    device: str,
    *,
    client_id: str,
    username: str = "",
    password: str = "",
) -> Bus:
    """A bus connection whose retained status is ``online`` while up, ``offline`` as will."""
    topic = device_status_topic(cp, lane, device)

    def will() -> Will:
        return Will(topic, DeviceStatus(state="offline", detail="connection lost").to_bytes())

    bus = Bus(url, client_id, will=will, username=username, password=password)

    def say_online(up: bool) -> None:  # paho's thread: publishing is thread-safe
        if up:
            bus.publish(topic, DeviceStatus(state="online"), retain=True)

    bus.on_connection(say_online)
    return bus


def say_offline(bus: Bus, cp: str, lane: str, device: str) -> None:
    """A clean shutdown: the retained status says offline, as the will would have.

    Best effort: the rest of the stop (disconnect, translators, window) must still run.
    """
    topic = device_status_topic(cp, lane, device)
    if bus.connected.is_set():
        try:
            info = bus.publish(topic, DeviceStatus(state="offline", detail="stopped"), retain=True)
            info.wait_for_publish(2)
        except (RuntimeError, ValueError) as err:  # paho: not sent, or its queue full
            # the connection went after ``connected`` said it was up: a connection lost
            # has had its last will (offline) sent by the broker
            logger.warning("%s: offline not said on %s: %s", bus.client_id, topic, err)


class LaneDeviceConfig(Protocol):
    """The part of a lane display's config (``XdbConfig``, ``PanelConfig``) ``LaneScreen`` reads."""

    @property
    def cp(self) -> str: ...
    @property
    def lane(self) -> str: ...
    @property
    def broker(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def heartbeat_bound(self) -> float: ...


class LaneScreen(QObject):
    """A lane display's wiring around its window: lane watch, controller, bus, clean stop.

    A subclass builds its window after ``__init__``, calls ``attach_bus`` once its slots
    are connected, and names its window in ``window``.
    """

    config: LaneDeviceConfig

    def __init__(
        self,
        config: LaneDeviceConfig,
        key: bytes,
        translations: Translations,
        *,
        clock: Clock | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.translations = translations
        self.watch = LaneWatch(
            key,  # the lane's (rocars.lanekey.screen_key)
            heartbeat_bound=config.heartbeat_bound,
            clock=self.clock,
            lane=config.lane,
        )
        self.controller = LaneWatchController(self.watch, config.cp, config.lane, self)

    def window(self) -> QWidget:
        raise NotImplementedError

    def attach_bus(self) -> Bus:
        """The device's bus connection (not started yet), watched by the controller."""
        config = self.config
        self.bus = connect_device(
            config.broker,
            config.cp,
            config.lane,
            config.device,
            client_id=f"{config.device}-{config.cp}-{config.lane}",
            username=config.username,  # the password: ROCARS_MQTT_PASSWORD (rocars.bus)
        )
        self.controller.attach(self.bus)
        return self.bus

    def show_window(self, *, fullscreen: bool, size: tuple[int, int]) -> None:
        window = self.window()
        if fullscreen:
            window.showFullScreen()
        else:
            window.resize(*size)
            window.show()

    def paint_stop(self) -> None:
        """STOP on the glass at once, whatever arrives after (the first step of ``stop``;
        an app with more to stop before it, such as the panel's sensor, calls it first)."""
        self.controller.stop()
        window = self.window()
        if isValid(window) and window.isVisible():
            window.repaint()

    def stop(self) -> None:
        """STOP on the glass, then say offline, disconnect, drop the translators, close the
        window (if still there).

        STOP is painted first and at once (the event loop may have ended): saying offline
        waits for the broker up to 2 s and disconnecting takes its time, and the frame
        before (a PROCEED) must not stand meanwhile.
        """
        self.paint_stop()
        say_offline(self.bus, self.config.cp, self.config.lane, self.config.device)
        self.bus.stop()
        self.translations.close()
        window = self.window()
        if isValid(window):
            window.close()

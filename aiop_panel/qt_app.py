"""The running panel: bus, lane watch, panel model, widgets and drop-box sensor, wired up.

The bus and the sensor thread reach the widgets only through Qt signals; presses go
through the plain ``PanelModel``, which says what (if anything) to publish.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, SignalInstance
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from aiop_panel.dropbox import DropBoxSensor
from aiop_panel.panel import Action, PanelConfig, PanelModel
from aiop_panel.qt_panel import PanelWidget
from rocars.messages import DeviceStatus, ManifestDropped, UnladenPressed
from rocars.topics import device_status_topic, manifest_topic, unladen_topic
from ui_common.i18n import UI_COMMON_CATALOGUE, Translations
from ui_common.lanewatch import Clock, Shown
from ui_common.languages import Language
from ui_common.qt_lanewatch import LaneScreen

logger = logging.getLogger(__name__)

AIOP_CATALOGUE = ("aiop_panel", Path(__file__).resolve().parent / "i18n")


def aiop_translations(language: Language = Language.ZH_TW) -> Translations:
    return Translations([UI_COMMON_CATALOGUE, AIOP_CATALOGUE], language)


class AiopScreen(LaneScreen):
    """One lane's panel.

    Signals:
        published(object): a message this panel put on the bus (UnladenPressed / ManifestDropped).
        sensor_drop(): the drop-box sensor counted a manifest (from its thread, queued).
        dropbox_changed(bool): the sensor came or went (from its thread, queued).
    """

    published = Signal(object)
    sensor_drop = Signal()
    dropbox_changed = Signal(bool)

    config: PanelConfig

    def __init__(
        self,
        config: PanelConfig,
        key: bytes,
        *,
        translations: Translations | None = None,
        clock: Clock | None = None,
        parent: QObject | None = None,
    ) -> None:
        translations = translations or aiop_translations(config.language)
        translations.set_language(config.language)
        super().__init__(config, key, translations, clock=clock, parent=parent)
        self.model = PanelModel(
            manifest_confirm=config.manifest_confirm,
            feedback_seconds=config.feedback_seconds,
            language=config.language,
            clock=self.clock,
        )
        self.widget = PanelWidget()
        self.widget.pressed.connect(self.on_press)
        self.widget.confirmed.connect(self.on_confirm)
        self.widget.cancelled.connect(self.on_cancel)
        self.widget.language_chosen.connect(self.on_language)
        self.controller.shown_changed.connect(self.on_shown)
        self._feedback_timer = QTimer(self.widget)  # dies with the widget
        self._feedback_timer.setSingleShot(True)
        self._feedback_timer.timeout.connect(self.refresh)
        self.attach_bus()
        #: the status is built and published by paho's thread and the sensor's: one at a
        #: time, so that one built before a change is never published after it
        self._status_lock = threading.Lock()
        self.sensor: DropBoxSensor | None = None
        if config.dropbox:
            self.sensor = DropBoxSensor(
                config.dropbox,
                self._publish_from_sensor,
                min_closed_ms=config.dropbox_min_closed_ms,
                refractory_ms=config.dropbox_refractory_ms,
                max_closed_ms=config.dropbox_max_closed_ms,
                on_connection=self._on_sensor_connection,
                on_status=self.publish_status,
            )
            self.model.set_dropbox(False)  # until the sensor's port opens
            self.dropbox_changed.connect(self._on_dropbox)
        # after connect_device's plain "online": this one, with the sensor's state, wins
        self.bus.on_connection(lambda up: self.publish_status() if up else None)
        self.refresh()

    def start(self, *, show: bool = True, fullscreen: bool = False) -> None:
        self.bus.start()
        if self.sensor is not None:
            self.sensor.start()
        if show:
            self.show_window(fullscreen=fullscreen, size=(1024, 768))

    def window(self) -> QWidget:
        return self.widget

    def painted_signal(self) -> SignalInstance:
        """Emitted after each paint of the instruction (the bench's first frame)."""
        return self.widget.instruction.painted

    def stop(self) -> None:
        # STOP first: the sensor's thread may take seconds to join, and the frame before
        # (a PROCEED) must not stand meanwhile
        self.paint_stop()
        if self.sensor is not None:
            self.sensor.stop()
        super().stop()

    # -- slots (GUI thread) ------------------------------------------------------------

    def on_shown(self, shown: Shown) -> None:
        self.model.on_shown(shown)
        self.refresh()

    def on_press(self, action: str) -> None:
        self.controller.refresh()  # the gate as of now: an expiry or lapse not yet re-evaluated
        self.model.press(Action(action))
        self.refresh()

    def on_confirm(self) -> None:
        self.controller.refresh()  # the gate as of now: an expiry or lapse not yet re-evaluated
        message = self.model.confirm()
        if isinstance(message, UnladenPressed):
            self.bus.publish(unladen_topic(self.config.cp, self.config.lane), message)
        elif isinstance(message, ManifestDropped):
            self.bus.publish(manifest_topic(self.config.cp, self.config.lane), message)
        if message is not None:
            logger.info("panel published %s", type(message).__name__)
            self.published.emit(message)
        self.refresh()

    def on_cancel(self) -> None:
        self.model.cancel()
        self.refresh()

    def on_language(self, code: str) -> None:
        language = Language.parse(code)
        self.model.set_language(language)
        self.translations.set_language(language)  # Qt sends LanguageChange to every widget
        self.refresh()

    def refresh(self) -> None:
        if not isValid(self.widget):  # the window was closed and deleted: nothing to show
            return
        left = self.model.seconds_to_feedback_end()  # before the view: see LaneWatchController
        now = self.clock.now()
        try:
            view = self.model.view(now)
        except Exception:  # top level of a GUI callback: see below
            # a panel that cannot show this instruction must not keep the one before
            logger.exception("cannot show %s: showing STOP", self.model.shown.code)
            self.model.on_shown(self.model.shown.failed_closed())
            view = self.model.view(now)
        self.widget.set_view(view)
        if left is not None:
            self._feedback_timer.start(max(1, math.ceil(left * 1000)))

    # -- the sensor's thread (and paho's) ----------------------------------------------

    def publish_status(self) -> None:
        """The retained ``status/aiop``: online, and whether the drop-box sensor is there."""
        with self._status_lock:
            self._publish_status()

    def _publish_status(self) -> None:
        detail = ""
        metrics: dict[str, float | int | str | None] = {}
        if self.sensor is not None:
            healthy = self.sensor.healthy
            if not self.sensor.connected.is_set():
                detail = f"drop-box sensor not connected on {self.config.dropbox}"
            elif not healthy:
                detail = (
                    f"drop-box sensor on {self.config.dropbox} sends only noise (a wrong "
                    "baud rate or line ending?)"
                )
            metrics = {
                "healthy": int(healthy),
                "drops": self.sensor.drops,
                "noise_lines": self.sensor.noise,
            }
        topic = device_status_topic(self.config.cp, self.config.lane, self.config.device)
        status = DeviceStatus(state="online", detail=detail, metrics=metrics)
        self.bus.publish(topic, status, retain=True)

    def _on_sensor_connection(self, up: bool) -> None:
        """The sensor's thread: the status now, the screen on the GUI thread (queued)."""
        self.publish_status()
        self.dropbox_changed.emit(up)

    def _on_dropbox(self, up: bool) -> None:
        self.model.set_dropbox(up)
        self.refresh()

    def _publish_from_sensor(self, message: ManifestDropped) -> None:
        """The sensor's thread: the drop, as answering the newest instruction heard."""
        message = self.model.sensor_drop(message, heard=self.watch.last_seq)
        self.bus.publish(manifest_topic(self.config.cp, self.config.lane), message)
        self.sensor_drop.emit()

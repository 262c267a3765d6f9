"""The running board: bus connection, lane watch, widget, wired together on the GUI thread."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer
from shiboken6 import isValid

from rocars.bus import Bus
from rocars.signing import lane_key
from ui_common.i18n import UI_COMMON_CATALOGUE, Translations
from ui_common.lanewatch import Clock, LaneWatch, SystemClock
from ui_common.qt_lanewatch import (
    LaneWatchController,
    connect_device,
    say_offline,
)
from xdb_display.board import XdbConfig, board_state
from xdb_display.qt_board import BoardWidget

logger = logging.getLogger(__name__)

XDB_CATALOGUE = ("xdb_display", Path(__file__).resolve().parent / "i18n")


def xdb_translations() -> Translations:
    return Translations([UI_COMMON_CATALOGUE, XDB_CATALOGUE])


class XdbScreen(QObject):
    """One lane's board. ``start`` connects; MQTT reaches the widget only through signals."""

    def __init__(
        self,
        config: XdbConfig,
        site_secret: bytes,
        *,
        translations: Translations | None = None,
        clock: Clock | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.translations = translations or xdb_translations()
        self.watch = LaneWatch(
            lane_key(site_secret, config.cp, config.lane),
            heartbeat_bound=config.heartbeat_bound,
            clock=self.clock,
        )
        self.controller = LaneWatchController(self.watch, config.cp, config.lane, self)
        self.board = BoardWidget(self.translations, config.lane)
        self.board.setWindowTitle(
            QCoreApplication.translate("Board", "Exit Display Board")
            + f" {config.cp} {config.lane}"
        )
        self.controller.shown_changed.connect(self.update_board)
        self.tick = QTimer(self.board)  # dies with the board
        self.tick.setInterval(250)
        self.tick.timeout.connect(self.update_board)
        self.bus: Bus = connect_device(
            config.broker,
            config.cp,
            config.lane,
            config.device,
            client_id=f"{config.device}-{config.cp}-{config.lane}",
            username=config.username,  # the password: ROCARS_MQTT_PASSWORD (rocars.bus)
        )
        self.controller.attach(self.bus)
        self.update_board()

    def start(self, *, show: bool = True) -> None:
        self.bus.start()
        self.tick.start()
        if show:
            if self.config.fullscreen:
                self.board.setCursor(Qt.CursorShape.BlankCursor)  # a lane board has no mouse
                self.board.showFullScreen()
            else:
                self.board.resize(1280, 720)
                self.board.show()

    def stop(self) -> None:
        if isValid(self.tick):
            self.tick.stop()
        self.controller.stop()
        say_offline(self.bus, self.config.cp, self.config.lane, self.config.device)
        self.bus.stop()
        self.translations.close()
        if isValid(self.board):
            self.board.close()

    def update_board(self, *_: object) -> None:
        if not isValid(self.board):  # the window was closed and deleted: nothing to paint
            return
        self.board.set_state(
            board_state(
                self.controller.shown,
                self.clock.now(),
                self.config.languages,
                self.config.cycle_seconds,
            )
        )

"""The running board: bus connection, lane watch, widget, wired together on the GUI thread."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, SignalInstance
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from ui_common.i18n import UI_COMMON_CATALOGUE, Translations
from ui_common.lanewatch import Clock
from ui_common.qt_lanewatch import LaneScreen
from xdb_display.board import XdbConfig, board_state
from xdb_display.qt_board import BoardWidget

logger = logging.getLogger(__name__)

XDB_CATALOGUE = ("xdb_display", Path(__file__).resolve().parent / "i18n")


def xdb_translations() -> Translations:
    return Translations([UI_COMMON_CATALOGUE, XDB_CATALOGUE])


class XdbScreen(LaneScreen):
    """One lane's board. ``start`` connects; MQTT reaches the widget only through signals."""

    config: XdbConfig

    def __init__(
        self,
        config: XdbConfig,
        key: bytes,
        *,
        translations: Translations | None = None,
        clock: Clock | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(
            config, key, translations or xdb_translations(), clock=clock, parent=parent
        )
        #: the seq of an instruction the board could not draw (logged once)
        self._undrawable: int | None = None
        self.board = BoardWidget(self.translations, config.lane)
        self.board.setWindowTitle(
            QCoreApplication.translate("Board", "Exit Display Board")
            + f" {config.cp} {config.lane}"
        )
        self.controller.shown_changed.connect(self.update_board)
        self.tick = QTimer(self.board)  # dies with the board
        self.tick.setInterval(250)
        self.tick.timeout.connect(self.update_board)
        self.attach_bus()
        self.update_board()

    def start(self, *, show: bool = True) -> None:
        self.bus.start()
        self.tick.start()
        if show:
            if self.config.fullscreen:
                self.board.setCursor(Qt.CursorShape.BlankCursor)  # a lane board has no mouse
            self.show_window(fullscreen=self.config.fullscreen, size=(1280, 720))

    def window(self) -> QWidget:
        return self.board

    def painted_signal(self) -> SignalInstance:
        """Emitted after each paint of the instruction (the bench's first frame)."""
        return self.board.painted

    def stop(self) -> None:
        if isValid(self.tick):
            self.tick.stop()
        super().stop()

    def update_board(self, *_: object) -> None:
        if not isValid(self.board):  # the window was closed and deleted: nothing to paint
            return
        shown, now = self.controller.shown, self.clock.now()
        mode, cycle = self.config.languages, self.config.cycle_seconds
        try:
            state = board_state(shown, now, mode, cycle)
        except Exception:  # top level of a GUI callback: see below
            # a board that cannot draw this instruction must not keep the one before (a
            # PROCEED) on the glass; said once an instruction (the board redraws 4 a second)
            if shown.seq != self._undrawable:
                self._undrawable = shown.seq
                logger.exception("cannot show %s: showing STOP", shown.code)
            state = board_state(shown.failed_closed(), now, mode, cycle)
        self.board.set_state(state)

"""Start-up every screen shares: one QApplication, logging hooks, the CJK font check,
Python's cyclic garbage collected on the GUI thread.

``start_app`` is the only place a screen creates its QApplication; a second call (or a
test's pytest-qt app) gets the existing one.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Sequence
from functools import lru_cache
from types import TracebackType

from PySide6.QtCore import QMessageLogContext, QObject, QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QFont, QFontDatabase, QFontMetrics
from PySide6.QtWidgets import QApplication

from ui_common.errors import FontMissing
from ui_common.languages import Language

logger = logging.getLogger(__name__)
qt_logger = logging.getLogger("qt")

#: Font families in order of preference, per language (all draw Latin too).
FONT_FAMILIES: dict[Language, tuple[str, ...]] = {
    Language.ZH_TW: ("Noto Sans CJK TC", "Noto Sans CJK HK", "WenQuanYi Micro Hei"),
    Language.EN: ("Noto Sans CJK TC", "Noto Sans CJK SC", "WenQuanYi Micro Hei"),
    Language.ZH_CN: ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "Noto Sans CJK TC"),
}
#: Characters a usable font must draw: both scripts' forms of the board's words.
FONT_PROBE = "放行查驗查验車道车道艙單舱单綑綁捆绑請请關员空車"

_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def start_app(argv: Sequence[str], *, name: str, headless: bool = False) -> QApplication:
    """The process's QApplication with the hooks installed and the fonts checked.

    ``headless`` selects the offscreen platform (it must be decided before the app exists).
    """
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(list(argv))
    app.setApplicationName(name)
    install_hooks()
    check_cjk_font()
    if not any(isinstance(child, GuiThreadCollector) for child in app.children()):
        GuiThreadCollector(app)
    return app


class GuiThreadCollector(QObject):
    """Python's cyclic garbage collected on the GUI thread, never on another.

    CPython collects when the thread that allocates passes the thresholds, whichever
    thread that is: in a screen, often the bus's network thread or the watchdog's. A
    reference cycle that holds a Qt object (a widget, a QTimer) then dies off the GUI
    thread: Qt says "Timers cannot be stopped from another thread", and a widget
    destroyed there can bring the screen down. So the automatic collection is turned
    off and a timer on the GUI thread collects each generation when the thresholds say
    it would have been (the same counts, checked every ``interval_ms``). The suite saw
    that warning once, in a screen test whose bus thread was running. ``stop`` gives
    the collection back to CPython.
    """

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect)
        self._timer.start(interval_ms)

    def collect(self) -> None:
        """The generations due, as CPython's own thresholds would pick them."""
        # a generation's count: allocations less frees for the youngest, collections of
        # the one below for the others (each collection adds one to the next's count)
        for generation, threshold in enumerate(gc.get_threshold()):
            if gc.get_count()[generation] <= threshold:
                return
            gc.collect(generation)

    def stop(self) -> None:
        self._timer.stop()
        if self._was_enabled:
            gc.enable()


def install_hooks() -> None:
    """Uncaught exceptions and Qt's own messages go to the log, not to a lost stderr."""
    sys.excepthook = log_uncaught
    qInstallMessageHandler(log_qt_message)


def log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logger.critical("uncaught exception", exc_info=(kind, value, tb))


def log_qt_message(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    file, line = getattr(context, "file", None), getattr(context, "line", 0)
    where = f"{file}:{line}" if file else "qt"
    qt_logger.log(_QT_LEVELS.get(kind, logging.WARNING), "%s (%s)", message, where)


@lru_cache(maxsize=8)
def font_family(lang: Language) -> str:
    """The first installed family for ``lang`` that draws every probe character (cached)."""
    installed = set(QFontDatabase.families())
    for family in FONT_FAMILIES[lang]:
        if family in installed and not missing_glyphs(FONT_PROBE, QFont(family)):
            return family
    raise FontMissing(
        f"no font for {lang} draws Chinese; install fonts-noto-cjk "
        f"(tried {', '.join(FONT_FAMILIES[lang])})",
        language=str(lang),
    )


def check_cjk_font() -> dict[Language, str]:
    """Fail loudly at start-up when the board would show empty boxes instead of Chinese."""
    families = {lang: font_family(lang) for lang in Language}
    logger.debug("fonts: %s", families)
    return families


def screen_font(lang: Language, pixel_size: int, *, bold: bool = True) -> QFont:
    font = QFont(font_family(lang))
    font.setPixelSize(max(1, pixel_size))
    font.setBold(bold)
    return font


def missing_glyphs(text: str, font: QFont) -> list[str]:
    """Characters of ``text`` that ``font`` would draw as an empty box (spaces ignored)."""
    metrics = QFontMetrics(font)
    return [ch for ch in text if not ch.isspace() and not metrics.inFontUcs4(ord(ch))]

"""Start-up pieces: the CJK font check, tofu detection, the logging hooks."""

from __future__ import annotations

import gc
import logging
import sys
import threading

import pytest
from PySide6.QtCore import QMessageLogContext, QTimer, QtMsgType
from PySide6.QtGui import QFont
from pytestqt.qtbot import QtBot

from ui_common import app as ui_app
from ui_common.errors import FontMissing
from ui_common.languages import Language


def test_cjk_fonts_present(qapp: object) -> None:
    families = ui_app.check_cjk_font()
    assert set(families) == set(Language)
    for lang in Language:
        font = ui_app.screen_font(lang, 40)
        assert ui_app.missing_glyphs("放行查驗查验車道AB1234", font) == []


def test_missing_glyph_detected(qapp: object) -> None:
    font = ui_app.screen_font(Language.EN, 40)
    # U+0378 is unassigned: no font draws it
    assert ui_app.missing_glyphs("A\u0378B", font) == ["\u0378"]


def test_no_cjk_font_fails_loudly(qapp: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ui_app.FONT_FAMILIES, Language.ZH_TW, ("No Such Font",))
    ui_app.font_family.cache_clear()
    try:
        with pytest.raises(FontMissing, match="fonts-noto-cjk"):
            ui_app.check_cjk_font()
    finally:
        monkeypatch.undo()
        ui_app.font_family.cache_clear()
    assert ui_app.check_cjk_font()[Language.ZH_TW]


def test_qt_messages_and_uncaught_exceptions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ui_app.log_qt_message(QtMsgType.QtWarningMsg, QMessageLogContext(), "a qt warning")
    assert any(
        r.name == "qt" and r.levelno == logging.WARNING and "a qt warning" in r.getMessage()
        for r in caplog.records
    )
    value = RuntimeError("boom")
    ui_app.log_uncaught(RuntimeError, value, None)
    record = next(r for r in caplog.records if r.getMessage() == "uncaught exception")
    assert record.levelno == logging.CRITICAL
    assert record.exc_info is not None
    assert record.exc_info[1] is value


def test_start_app_reuses_the_session_app(qapp: object) -> None:
    previous = sys.excepthook
    collectors: list[ui_app.GuiThreadCollector] = []
    try:
        app = ui_app.start_app([], name="test")
        assert app is qapp
        assert sys.excepthook is ui_app.log_uncaught
        ui_app.start_app([], name="test")  # once: a second call adds no second collector
        collectors += [c for c in app.children() if isinstance(c, ui_app.GuiThreadCollector)]
        assert len(collectors) == 1
    finally:
        for collector in collectors:
            collector.stop()
            collector.setParent(None)
        sys.excepthook = previous
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(None)
    assert isinstance(ui_app.screen_font(Language.ZH_CN, 10), QFont)


class _Cycle:
    """A reference cycle that holds a running QTimer, as a screen's objects may."""

    def __init__(self, died_on: list[int]) -> None:
        self.me = self
        self.timer = QTimer()
        self.timer.destroyed.connect(lambda: died_on.append(threading.get_ident()))
        self.timer.start(60_000)


def _allocate_cycles(count: int) -> None:
    """Enough container garbage to pass every generation's threshold many times."""
    for _ in range(count):
        junk: list[object] = []
        junk.append(junk)


def test_garbage_with_qt_objects_dies_on_the_gui_thread(qtbot: QtBot) -> None:
    """The suite's collector is the screens' one; another thread that allocates past every
    threshold does not collect, the GUI thread's timer does."""
    assert not gc.isenabled()  # tests/conftest.py installed GuiThreadCollector
    died_on: list[int] = []
    _Cycle(died_on)
    worker = threading.Thread(target=_allocate_cycles, args=(300_000,))
    worker.start()
    worker.join()
    assert died_on == []  # nothing collected it on the worker
    qtbot.waitUntil(lambda: died_on != [], timeout=5000)
    assert died_on == [threading.get_ident()]


def test_the_collector_takes_the_due_generations_and_gives_collection_back(qapp: object) -> None:
    collector = ui_app.GuiThreadCollector(interval_ms=60_000)
    first = gc.get_threshold()[0]
    _allocate_cycles(first + 100)
    assert gc.get_count()[0] > first
    collector.collect()
    assert gc.get_count()[0] < first
    collections = gc.get_count()[1]  # of the youngest generation, since the middle's
    collector.collect()  # nothing due: nothing collected
    assert gc.get_count()[1] == collections
    collector.stop()
    assert not gc.isenabled()  # the suite's collector had it off when this one started

"""Start-up pieces: the CJK font check, tofu detection, the logging hooks."""

from __future__ import annotations

import logging
import sys

import pytest
from PySide6.QtCore import QMessageLogContext, QtMsgType
from PySide6.QtGui import QFont

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
    try:
        app = ui_app.start_app([], name="test")
        assert app is qapp
        assert sys.excepthook is ui_app.log_uncaught
    finally:
        sys.excepthook = previous
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(None)
    assert isinstance(ui_app.screen_font(Language.ZH_CN, 10), QFont)

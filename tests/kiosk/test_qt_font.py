"""The kiosk draws in its language's CJK family, even as the first window of a process."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFont, QFontInfo
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from kiosk.api import KioskClient
from tests.kiosk.conftest import Backend, open_kiosk
from ui_common.app import font_family
from ui_common.languages import Language


def test_the_window_draws_in_the_language_family_whatever_the_app_font_was(
    qtbot: QtBot, backend: Backend, media: Path, tmp_path: Path
) -> None:
    """A fresh process has Qt's default font (DejaVu Sans here) when the window is made;
    before the fix its widgets kept that for Latin text, with another CJK fallback."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.font()
    app.setFont(QFont("DejaVu Sans"))
    try:
        client = KioskClient(backend.api.url)
        with open_kiosk(qtbot, client, media, tmp_path / "print") as ui:
            for lang in (Language.ZH_TW, Language.ZH_CN, Language.EN):
                ui.model.set_language(lang)
                ui.wait_idle()
                for widget in (ui.window.heading, *ui.window.lang_buttons.values()):
                    assert QFontInfo(widget.font()).family() == font_family(lang), (lang, widget)
    finally:
        app.setFont(before)

"""Driving the kiosk window the way a person does: press buttons, type on the on-screen keys."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from kiosk.flows import Kiosk, Screen
from kiosk.qt_app import KioskWindow
from kiosk.qt_screens import KioskScreen
from kiosk.qt_widgets import TextField

WAIT_MS = 15_000


@dataclass
class KioskUi:
    window: KioskWindow
    model: Kiosk
    qtbot: QtBot

    @property
    def screen(self) -> KioskScreen:
        widget = self.window.stack.currentWidget()
        assert isinstance(widget, KioskScreen)
        return widget

    def button(self, name: str) -> QPushButton:
        """The visible button called ``name`` (top bar or the screen showing)."""

        def visible() -> list[QPushButton]:
            return [b for b in self.window.findChildren(QPushButton, name) if b.isVisible()]

        # Buttons a refresh just created are shown on the next turn of the event loop.
        self.qtbot.waitUntil(lambda: bool(visible()), timeout=WAIT_MS)
        return visible()[0]

    def click(self, name: str) -> None:
        widget = self.button(name)
        assert widget.isEnabled(), f"{name} is disabled"
        self.qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)
        self.wait_idle()

    def type(self, field: str, text: str) -> None:
        """Touch the field, then press the on-screen key for each character."""
        widget = self.screen.fields[field]
        self.qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)
        assert isinstance(widget, TextField)
        stack = self.screen.keys_stack
        assert stack is not None
        keys = stack.currentWidget()
        clear = keys.findChild(QPushButton, "key_clear")
        if clear is not None:
            self.qtbot.mouseClick(clear, Qt.MouseButton.LeftButton)
        else:
            for _ in range(len(widget.text())):
                self._press(keys, "⌫")
        for char in text:
            self._press(keys, "space" if char == " " else char)
        assert widget.text() == text, (field, widget.text(), text)

    def _press(self, keys: QWidget, char: str) -> None:
        name = char.upper() if len(char) == 1 and char.isalpha() else char
        key = keys.findChild(QPushButton, f"key_{name}")
        assert key is not None, f"no key {char!r} on {type(keys).__name__}"
        if (
            len(char) == 1
            and char.isalpha()
            and char.islower() != getattr(keys, "lowercase", False)
        ):
            self.qtbot.mouseClick(
                keys.findChild(QPushButton, "key_shift"), Qt.MouseButton.LeftButton
            )
        self.qtbot.mouseClick(key, Qt.MouseButton.LeftButton)

    def wait_idle(self) -> None:
        self.qtbot.waitUntil(lambda: not self.model.busy, timeout=WAIT_MS)

    def at(self, screen: Screen) -> None:
        self.qtbot.waitUntil(lambda: self.model.screen == screen, timeout=WAIT_MS)
        assert self.window.stack.currentWidget() is self.window.screens[screen]

    @property
    def notice_key(self) -> str | None:
        if not self.window.notice.isVisible():
            return None
        return str(self.window.notice.property("key"))

    @property
    def notice_text(self) -> str:
        return self.window.notice.text() if self.window.notice.isVisible() else ""

    def label(self, name: str) -> QLabel:

        def visible() -> list[QLabel]:
            return [w for w in self.window.findChildren(QLabel, name) if w.isVisible()]

        self.qtbot.waitUntil(lambda: bool(visible()), timeout=WAIT_MS)
        return visible()[0]

    def screen_text(self) -> str:
        """Everything the current screen shows in labels and buttons (for text checks)."""
        parts = [w.text() for w in self.screen.findChildren(QLabel) if w.isVisible()]
        parts += [w.text() for w in self.screen.findChildren(QPushButton) if w.isVisible()]
        return "\n".join(parts)

    # -- whole steps -------------------------------------------------------------------

    def sign_in(self, account: str, password: str) -> None:
        self.click("start_driver")
        self.at(Screen.SIGN_IN)
        self.type("account", account)
        self.type("password", password)
        self.click("sign_in")
        self.at(Screen.DRIVER_MENU)

    def prepare_bundle(self, ccrns: list[str], vrn: str = "KX 88", cp: str = "SBC") -> None:
        self.click("menu_bundle")
        self.at(Screen.BUNDLE_CCRNS)
        for ccrn in ccrns:
            self.type("ccrn", ccrn)
            self.click("add_ccrn")
            assert self.notice_key == "ccrn_added", self.notice_text
        self.click("ccrns_next")
        self.at(Screen.BUNDLE_DETAILS)
        self.type("vrn", vrn)
        self.type("vrn_again", vrn)
        self.click(f"cp_{cp}")
        self.click("dir_import")
        self.click("details_next")
        self.at(Screen.BUNDLE_REVIEW)
        self.click("review_confirm")
        self.at(Screen.SIGN_METHOD)

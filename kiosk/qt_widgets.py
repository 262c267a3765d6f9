"""Touch building blocks: big buttons, text fields, the on-screen keypad and keyboard.

A kiosk has no physical keyboard: every text field takes its input from the keypad
(digits) or the keyboard (letters, digits, a few signs) drawn below it. Touch targets
are at least ``TOUCH`` pixels high.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QMouseEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

logger = logging.getLogger(__name__)

#: Minimum height of anything a finger presses.
TOUCH = 72
FONT_PX = 30
BIG_FONT_PX = 40

STYLE = f"""
QWidget {{ font-size: {FONT_PX}px; color: #102030; }}
QWidget#kiosk {{ background: #eef3f7; }}
QPushButton {{
    min-height: {TOUCH}px; padding: 2px 20px; border-radius: 14px;
    background: #ffffff; border: 3px solid #2b6cb0; color: #1a4f85;
}}
QPushButton:pressed {{ background: #d3e5f7; }}
QPushButton:checked {{ background: #2b6cb0; color: white; }}
QPushButton:disabled {{ border-color: #a0aab4; color: #a0aab4; }}
QPushButton[role="primary"] {{ background: #2b6cb0; color: white; font-weight: bold; }}
QPushButton[role="danger"] {{ background: #ffffff; border-color: #b8322a; color: #b8322a; }}
QPushButton[role="key"] {{ min-width: 80px; min-height: 62px; padding: 0px; font-size: 34px; border-radius: 10px; }}
QPushButton[role="nav"] {{ min-width: 150px; }}
QLineEdit, QLabel[role="value"] {{
    min-height: 60px; font-size: 34px; padding: 4px 16px;
    border: 3px solid #7890a8; border-radius: 10px; background: white;
}}
QLineEdit:focus {{ border-color: #2b6cb0; background: #fffbe6; }}
QLineEdit[error="true"] {{ border-color: #b8322a; }}
QLabel[role="title"] {{ font-size: {BIG_FONT_PX}px; font-weight: bold; color: #12355b; }}
QLabel[role="big"] {{ font-size: 54px; font-weight: bold; color: #12355b; }}
QLabel#headline[status="cancelled"], QLabel#headline[status="used"] {{ color: #b8322a; }}
QLabel[role="hint"] {{ font-size: 26px; color: #44566a; }}
QLabel[role="fielderror"] {{ font-size: 24px; color: #b8322a; }}
QLabel#notice[level="error"] {{
    background: #fde8e6; color: #8c1d16; border: 3px solid #b8322a; border-radius: 10px;
    padding: 4px 18px; font-size: 30px; font-weight: bold;
}}
QLabel#notice[level="info"] {{
    background: #e6f6ea; color: #1d6b34; border: 3px solid #2f8a4a; border-radius: 10px;
    padding: 4px 18px; font-size: 30px;
}}
QLabel#stale {{
    background: #fff3cd; color: #7a5200; border: 3px solid #d99a00; border-radius: 10px;
    padding: 8px 16px; font-size: 28px; font-weight: bold;
}}
QFrame#topbar {{ background: #12355b; }}
QFrame#topbar QLabel {{ color: white; font-size: 34px; font-weight: bold; }}
QFrame#topbar QPushButton {{ min-height: 54px; background: #1f4f80; color: white; border-color: #9cc3ea; }}
QFrame#topbar QPushButton:checked {{ background: #ffffff; color: #12355b; }}
QFrame#idle {{ background: #fff3cd; border: 4px solid #d99a00; border-radius: 14px; }}
QScrollArea {{ border: none; background: transparent; }}
QScrollArea > QWidget > QWidget {{ background: transparent; }}
"""


def button(
    text: str = "",
    on_click: Callable[[], None] | None = None,
    *,
    role: str = "",
    name: str = "",
    checkable: bool = False,
) -> QPushButton:
    """A big button; ``name`` is its objectName (tests find it by that). Its text is shown
    as it is: an ``&`` (a file named ``R&D.csv``) is not taken for a shortcut's mark."""
    widget = QPushButton(text.replace("&", "&&"))
    widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keeps the text field's focus
    widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    if role:
        widget.setProperty("role", role)
    if name:
        widget.setObjectName(name)
    widget.setCheckable(checkable)
    if on_click is not None:
        widget.clicked.connect(lambda _checked=False: on_click())
    return widget


def label(text: str = "", *, role: str = "", name: str = "", wrap: bool = True) -> QLabel:
    """A label of plain text: file names and what shippers typed are shown as such. (Qt
    takes a text that looks like markup, ``<b>x</b>.csv``, as rich text unless told.)"""
    widget = QLabel(text)
    widget.setTextFormat(Qt.TextFormat.PlainText)
    widget.setWordWrap(wrap)
    if role:
        widget.setProperty("role", role)
    if name:
        widget.setObjectName(name)
    return widget


def restyle(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


class TextField(QLineEdit):
    """A one-line field bound to an input of the flow model; ``kind`` picks keypad or keyboard.

    Signals:
        focused(object): this field got the focus (the screen points its keys at it).
    """

    focused = Signal(object)

    def __init__(
        self, name: str, kind: str = "text", *, secret: bool = False, max_length: int = 64
    ) -> None:
        super().__init__()
        self.setObjectName(name)
        self.kind = kind
        #: the most characters it holds (``Keys`` types no more). Qt's own limit counts
        #: UTF-16 units, in which a rare Chinese character (𠝹, common in Hong Kong names)
        #: is two: a name of 40 such, from the centre, showed as 35 on the amend form,
        #: and an edit sent it cut short (found in review). Twice that: never a cut.
        self.max_chars = max_length
        self.setMaxLength(2 * max_length)
        if secret:
            self.setEchoMode(QLineEdit.EchoMode.Password)
        # No system input method: the kiosk's own keys type here.
        self.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled, False)
        # No context menu: its Undo gave the previous person's typing back after the
        # session ended, and its Copy / Paste / Select All have no place at a kiosk.
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 (Qt's name)
        super().focusInEvent(event)
        self.focused.emit(self)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        # a tap points the keys here at once: the focus-in event waits for the window
        # to be the active one (a system dialog, another window that took it), and
        # meanwhile the keys typed into the field tapped before (a test flaked on it)
        super().mousePressEvent(event)
        self.focused.emit(self)

    def set_error(self, error: bool) -> None:
        self.setProperty("error", "true" if error else "false")
        restyle(self)


class Keys(QWidget):
    """Base of keypad and keyboard: types into ``target``.

    Signals:
        typed(): a key changed the target's text.
        enter(): the OK key.
    """

    typed = Signal()
    enter = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.target: QLineEdit | None = None

    def key(self, text: str) -> QPushButton:
        shown = {"space": "␣"}.get(text, text)  # "&" is escaped by ``button``
        return button(shown, lambda: self.press(text), role="key", name=f"key_{text}")

    def press(self, text: str) -> None:
        target = self.target
        if target is None:
            return
        if text == "⌫":
            target.backspace()
        elif isinstance(target, TextField) and len(target.text()) >= target.max_chars:
            return  # full (its limit in characters, not Qt's UTF-16 units)
        elif text == "space":
            target.insert(" ")
        else:
            target.insert(text)
        self.typed.emit()

    def clear_target(self) -> None:
        if self.target is not None:
            self.target.setText("")  # not clear(): nothing to undo back
            self.typed.emit()


class Keypad(Keys):
    """Digits 0-9, backspace, clear: for CCRNs, UBRs, accounts, codes and PINs."""

    def __init__(self) -> None:
        super().__init__()
        grid = QGridLayout(self)
        grid.setSpacing(10)
        for i, digit in enumerate("123456789"):
            grid.addWidget(self.key(digit), i // 3, i % 3)
        self.clear_key = button("C", self.clear_target, role="key", name="key_clear")
        grid.addWidget(self.clear_key, 3, 0)
        grid.addWidget(self.key("0"), 3, 1)
        grid.addWidget(self.key("⌫"), 3, 2)
        self.setMaximumWidth(560)


class Keyboard(Keys):
    """Letters (upper/lower), digits and the signs addresses and names need."""

    ROWS = ("1234567890", "QWERTYUIOP", "ASDFGHJKL-", "ZXCVBNM,./")

    def __init__(self) -> None:
        super().__init__()
        self.lowercase = False
        box = QVBoxLayout(self)
        box.setSpacing(8)
        self.letter_keys: list[QPushButton] = []
        for row in self.ROWS:
            line = QHBoxLayout()
            line.setSpacing(8)
            for char in row:
                key = self.key(char)
                key.setMinimumHeight(54)
                key.setStyleSheet("min-height: 54px;")
                if char.isalpha():
                    self.letter_keys.append(key)
                line.addWidget(key)
            box.addLayout(line)
        last = QHBoxLayout()
        self.shift = button("⇧ abc", self.toggle_case, role="key", name="key_shift")
        self.shift.setStyleSheet("min-height: 54px; min-width: 150px;")
        last.addWidget(self.shift, 2)
        for char in "#&()'@":
            key = self.key(char)
            key.setStyleSheet("min-height: 54px;")
            last.addWidget(key, 1)
        space = self.key("space")
        space.setStyleSheet("min-height: 54px;")
        last.addWidget(space, 5)
        back = self.key("⌫")
        back.setStyleSheet("min-height: 54px;")
        last.addWidget(back, 2)
        box.addLayout(last)

    def press(self, text: str) -> None:
        if self.lowercase and len(text) == 1 and text.isalpha():
            text = text.lower()
        super().press(text)

    def toggle_case(self) -> None:
        self.lowercase = not self.lowercase
        for key in self.letter_keys:
            key.setText(key.text().lower() if self.lowercase else key.text().upper())
        self.shift.setText("⇧ ABC" if self.lowercase else "⇧ abc")

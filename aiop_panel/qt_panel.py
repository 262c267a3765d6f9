"""The panel's widgets: render a ``PanelView``, forward presses. No rules live here.

Touch-sized (buttons at least 96 px high); every text goes through ``translate`` and is
re-labelled on ``QEvent.LanguageChange`` when the driver picks 繁 / EN / 简.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from aiop_panel.panel import Action, Feedback, PanelView
from rocars.messages import InstructionCode
from ui_common.app import screen_font
from ui_common.i18n import tr
from ui_common.instruction import (
    FAIL_REASONS,
    STYLES,
    SYNC_MARK_COLOURS,
    SYNC_MARKS,
    draw_pictogram,
    instruction_text,
    phrase,
)
from ui_common.languages import ALL_LANGUAGES, Language
from ui_common.textfit import DrawnText, draw_fitted

TOUCH_HEIGHT = 96
_FEEDBACK_COLOURS = {
    Feedback.SENT: "#0050a0",
    Feedback.RECEIVED: "#00843d",
    Feedback.NOT_AVAILABLE: "#c8102e",
    Feedback.CANCELLED: "#444444",
}
#: amber, black text: a standing notice, not the answer to a press
_DROPBOX_DOWN = "#ffb000"


def feedback_text(feedback: Feedback) -> str:
    if feedback is Feedback.SENT:
        return tr("Panel", "Sent. Please wait")
    if feedback is Feedback.RECEIVED:
        return tr("Panel", "Received by the lane")
    if feedback is Feedback.NOT_AVAILABLE:
        return tr("Panel", "Not available now")
    return tr("Panel", "Cancelled")


class InstructionView(QWidget):
    """The instruction as on the board, in the panel's current language only.

    Signals:
        painted(float): ``time.perf_counter()`` at the end of each paint.
    """

    painted = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: PanelView | None = None
        self.drawn: list[DrawnText] = []
        self.setMinimumHeight(200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_view(self, view: PanelView) -> None:
        self.view = view
        self.update()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.LanguageChange:
            self.update()
        super().changeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        try:
            self.drawn = []
            view = self.view
            code = view.code if view else InstructionCode.STOP_SEE_OFFICER
            style = STYLES[code]
            painter.fillRect(self.rect(), style.background)
            if view is None:
                return
            w, h = self.width(), self.height()
            pad = max(4, h // 30)
            picto_side = min(h - 2 * pad, w // 4)
            draw_pictogram(
                painter, QRectF(pad, pad, picto_side, picto_side), code, style.foreground
            )
            lang = view.language
            words = instruction_text(code, bay=view.bay, time=view.earliest)
            detail = words.detail
            if view.reason is not None:
                detail = f"{detail} · {phrase(FAIL_REASONS[view.reason])}"
            left = pad * 3 + picto_side
            width = w - left - pad * 2
            if view.vrn:
                plate = tr("Panel", "Vehicle {vrn}", vrn=view.vrn)
            elif view.reason is None:
                plate = tr("Panel", "No vehicle")
            else:
                plate = ""  # failing closed: the lane's vehicle is not known for sure
            boxes = [
                (words.headline, QRect(left, pad, width, round(h * 0.42)), False, False),
                (detail, QRect(left, pad + round(h * 0.42), width, round(h * 0.28)), True, True),
                (
                    plate,
                    QRect(left, round(h * 0.74), round(width * 0.7), round(h * 0.22)),
                    False,
                    True,
                ),
            ]
            for text, box, wrap, variable in boxes:
                drawn = draw_fitted(
                    painter, text, lang, box, style.foreground, wrap=wrap, variable=variable
                )
                if drawn is not None:
                    self.drawn.append(drawn)
            # the sync mark, bottom right
            dot = max(8, h // 14)
            mark_box = QRect(left + round(width * 0.72), round(h * 0.8), round(width * 0.28), dot)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QColor("#000000"))
            painter.setBrush(SYNC_MARK_COLOURS[view.sync_mark])
            painter.drawEllipse(QRect(mark_box.left(), mark_box.top(), dot, dot))
            mark = draw_fitted(
                painter,
                phrase(SYNC_MARKS[view.sync_mark]),
                lang,
                mark_box.adjusted(dot + pad, 0, 0, 0),
                style.foreground,
            )
            if mark is not None:
                self.drawn.append(mark)
        finally:
            painter.end()
        self.painted.emit(time.perf_counter())


class PanelWidget(QWidget):
    """The whole panel.

    Signals:
        pressed(str): an action button (``unladen`` / ``manifest``) was pressed.
        confirmed(): the driver confirmed the pending action.
        cancelled(): the driver cancelled it.
        language_chosen(str): a language button was pressed (its code).
    """

    pressed = Signal(str)
    confirmed = Signal()
    cancelled = Signal()
    language_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: PanelView | None = None
        self.instruction = InstructionView(self)
        self.feedback = QLabel(self)
        self.feedback.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.feedback.setMinimumHeight(64)
        # the drop box's notice is a sentence (~860 px in English at 36 pt): on one line
        # it was cut on a narrower screen
        self.feedback.setWordWrap(True)
        self.unladen = self._button(lambda *_: self.pressed.emit(str(Action.UNLADEN)))
        self.manifest = self._button(lambda *_: self.pressed.emit(str(Action.MANIFEST)))
        self.question = QLabel(self)
        self.question.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.question.setWordWrap(True)
        self.confirm = self._button(lambda *_: self.confirmed.emit())
        self.cancel = self._button(lambda *_: self.cancelled.emit())
        self.languages: dict[Language, QPushButton] = {}
        for lang in ALL_LANGUAGES:
            button = self._button(self._chooser(lang))
            button.setText(lang.button_label)
            button.setCheckable(True)
            button.setFont(screen_font(lang, 34))
            self.languages[lang] = button

        actions = QHBoxLayout()
        actions.addWidget(self.unladen, 2)
        actions.addWidget(self.manifest, 2)
        self.confirm_row = QWidget(self)
        confirm_layout = QHBoxLayout(self.confirm_row)
        confirm_layout.setContentsMargins(0, 0, 0, 0)
        confirm_layout.addWidget(self.question, 3)
        confirm_layout.addWidget(self.confirm, 1)
        confirm_layout.addWidget(self.cancel, 1)
        lang_row = QHBoxLayout()
        lang_row.addStretch(1)
        for button in self.languages.values():
            lang_row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.instruction, 5)
        layout.addWidget(self.feedback)
        layout.addLayout(actions)
        layout.addWidget(self.confirm_row)
        layout.addLayout(lang_row)
        self.setStyleSheet(
            "PanelWidget { background: #101418; } QLabel { color: white; }"
            "QPushButton { background: #e8e8e8; color: black; border-radius: 10px; padding: 8px; }"
            "QPushButton[available='false'] { background: #5a5a5a; color: #b8b8b8; }"
            "QPushButton:checked { background: #ffd400; }"
        )
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.retranslate()

    def _chooser(self, lang: Language) -> Callable[..., None]:
        return lambda *_: self.language_chosen.emit(str(lang))

    def _button(self, slot: Callable[..., None]) -> QPushButton:
        button = QPushButton(self)
        button.setMinimumSize(QSize(TOUCH_HEIGHT, TOUCH_HEIGHT))
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(slot)
        return button

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)

    def retranslate(self) -> None:
        """Every label in the installed language (called on LanguageChange)."""
        lang = self.view.language if self.view else Language.ZH_TW
        self.setWindowTitle(tr("Panel", "All-in-one Panel"))
        self.unladen.setText(tr("Panel", "Unladen Vehicle"))
        self.manifest.setText(tr("Panel", "Manifest dropped"))
        self.confirm.setText(tr("Panel", "Confirm"))
        self.cancel.setText(tr("Panel", "Cancel"))
        for widget in (self.unladen, self.manifest, self.confirm, self.cancel):
            widget.setFont(screen_font(lang, 34))
        self.question.setFont(screen_font(lang, 30))
        self.feedback.setFont(screen_font(lang, 36))
        if self.view is not None:
            self._show_view(self.view)

    def set_view(self, view: PanelView) -> None:
        language_changed = self.view is None or self.view.language is not view.language
        self.view = view
        if language_changed:
            self.retranslate()  # fonts follow the language (the texts follow LanguageChange)
        self._show_view(view)

    def _show_view(self, view: PanelView) -> None:
        self.instruction.set_view(view)
        self._set_available(self.unladen, view.unladen_available)
        self._set_available(self.manifest, view.manifest_available)
        self.manifest.setVisible(view.manifest_button)
        self.confirm_row.setVisible(view.confirming is not None)
        if view.confirming is Action.UNLADEN:
            self.question.setText(tr("Panel", "Is this truck empty (unladen)?"))
        elif view.confirming is Action.MANIFEST:
            self.question.setText(tr("Panel", "Have you put the manifest in the drop box?"))
        if view.feedback is None and view.dropbox_down:
            self.feedback.setText(tr("Panel", "Manifest box out of order: please see the officer"))
            self.feedback.setStyleSheet(
                f"background: {_DROPBOX_DOWN}; color: black; border-radius: 8px;"
            )
        elif view.feedback is None:
            self.feedback.setText("")
            self.feedback.setStyleSheet("")
        else:
            self.feedback.setText(feedback_text(view.feedback))
            self.feedback.setStyleSheet(
                f"background: {_FEEDBACK_COLOURS[view.feedback]}; color: white; border-radius: 8px;"
            )
        for lang, button in self.languages.items():
            button.setChecked(lang is view.language)

    @staticmethod
    def _set_available(button: QPushButton, available: bool) -> None:
        # stays clickable: a press when not available gets "not available now" feedback
        value = "true" if available else "false"
        if button.property("available") != value:
            button.setProperty("available", value)
            button.style().unpolish(button)
            button.style().polish(button)

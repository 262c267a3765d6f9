"""The board widget: paints a ``BoardState`` large enough to read from a truck cab.

Everything is painted in one ``paintEvent`` (no child widgets, no layouts): colour field
of the code, pictogram, the bay or time huge beside it, each language's words fitted to
their box, and a black top bar with lane, plate, sync mark and clock. Each text is
fitted to its box (largest pixel size that fits) and recorded in ``drawn`` so a test can
prove nothing is clipped.
"""

from __future__ import annotations

import time
from dataclasses import replace

from PySide6.QtCore import QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QWidget

from rocars.messages import InstructionCode
from ui_common.i18n import Translations
from ui_common.instruction import (
    FAIL_REASONS,
    STYLES,
    SYNC_MARK_COLOURS,
    SYNC_MARKS,
    draw_pictogram,
    instruction_text,
    phrase,
)
from ui_common.lanewatch import FailReason
from ui_common.languages import ALL_LANGUAGES, Language
from ui_common.textfit import DrawnText, draw_fitted
from xdb_display.board import BoardState

TOP_BAR = QColor("#000000")
TOP_TEXT = QColor("#ffffff")


class BoardWidget(QWidget):
    """The exit display board for one lane.

    Signals:
        painted(float): ``time.perf_counter()`` at the end of each paint.
    """

    painted = Signal(float)

    def __init__(
        self, translations: Translations, lane: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.translations = translations
        self.lane = lane
        self.state: BoardState | None = None
        self.drawn: list[DrawnText] = []
        self.paint_count = 0
        self.last_paint_cpu = 0.0  # seconds of CPU the last paint took (bench)
        self._pictograms: dict[tuple[InstructionCode, int, int], QImage] = {}
        self._warm_queue: list[BoardState] = []
        self._warm_size = QSize()
        self.warmed = 0
        self._warm_timer = QTimer(self)
        self._warm_timer.setSingleShot(True)
        self._warm_timer.setInterval(200)
        self._warm_timer.timeout.connect(self._start_warm_up)
        self._warm_step = QTimer(self)  # a child: dies with the widget, never fires after
        self._warm_step.setSingleShot(True)
        self._warm_step.setInterval(0)
        self._warm_step.timeout.connect(self._warm_next)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(QSize(320, 180))

    def set_state(self, state: BoardState) -> None:
        if state != self.state:
            if self.state is None or len(self.state.languages) != len(state.languages):
                self._warm_timer.start()
            self.state = state
            self.update()

    # -- warming the image caches ------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._warm_timer.start()  # restarts: one warm-up once the size settles

    def warm_states(self) -> list[BoardState]:
        """A board for every code (and STOP for every reason) in the languages in use."""
        if self.state is None:
            return []
        if len(self.state.languages) > 1:
            language_sets = [self.state.languages]
        else:
            language_sets = [(lang,) for lang in ALL_LANGUAGES]
        base = replace(self.state, vrn=None, bay=None, earliest=None, reason=None)
        states = []
        for languages in language_sets:
            for code in InstructionCode:
                states.append(replace(base, code=code, languages=languages))
            for reason in FailReason:
                states.append(
                    replace(
                        base,
                        code=InstructionCode.STOP_SEE_OFFICER,
                        reason=reason,
                        languages=languages,
                    )
                )
            # every digit of the earliest time at its (fixed) size
            for earliest in ("01:23", "45:67", "89:00"):
                states.append(
                    replace(
                        base, code=InstructionCode.TOO_EARLY, earliest=earliest, languages=languages
                    )
                )
        return states

    def _start_warm_up(self) -> None:
        self._warm_queue = self.warm_states()
        self._warm_size = self.size()
        self._warm_next()

    def _warm_next(self) -> None:
        """Paint one board offscreen per event-loop turn, so an arriving message waits little."""
        if not self._warm_queue or self.size() != self._warm_size:
            return
        state = self._warm_queue.pop(0)
        image = QImage(self.size(), QImage.Format.Format_RGB32)
        painter = QPainter(image)
        drawn, self.drawn = self.drawn, []  # what is on the glass, not what is warmed
        try:
            self._paint(painter, state)
        finally:
            painter.end()
            self.drawn = drawn
        self.warmed += 1
        self._warm_step.start()

    # -- painting ------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        cpu_start = time.thread_time()
        painter = QPainter(self)
        try:
            self.drawn = []
            if self.state is not None:
                self._paint(painter, self.state)
            else:
                painter.fillRect(self.rect(), STYLES[InstructionCode.STOP_SEE_OFFICER].background)
        finally:
            painter.end()
        self.paint_count += 1
        self.last_paint_cpu = time.thread_time() - cpu_start
        self.painted.emit(time.perf_counter())

    def _paint(self, painter: QPainter, state: BoardState) -> None:
        width, height = self.width(), self.height()
        style = STYLES[state.code]
        bar_h = max(24, round(height * 0.11))
        pad = max(4, round(height * 0.02))
        painter.fillRect(QRect(0, 0, width, bar_h), TOP_BAR)
        main = QRect(0, bar_h, width, height - bar_h)
        painter.fillRect(main, style.background)
        self._paint_top_bar(painter, state, QRect(0, 0, width, bar_h), pad)

        # left column: pictogram, and the bay / time huge under it
        inner = main.adjusted(pad * 2, pad * 2, -pad * 2, -pad * 2)
        col_w = min(inner.height(), round(width * 0.3))
        left = QRect(inner.left(), inner.top(), col_w, inner.height())
        big = state.big_value
        if big:
            picto = QRect(left.left(), left.top(), col_w, round(left.height() * 0.6))
            value_box = QRect(
                left.left(), picto.bottom() + pad, col_w, left.bottom() - picto.bottom() - pad
            )
            self._text(painter, big, Language.EN, value_box, style.foreground, 10_000, False, True)
        else:
            picto = left
        painter.drawImage(picto.topLeft(), self._pictogram(state.code, picto.size()))

        # right column: one block per language
        right = QRect(
            left.right() + pad * 3,
            inner.top(),
            inner.right() - left.right() - pad * 3,
            inner.height(),
        )
        count = len(state.languages)
        varies = state.big_value is not None  # the bay / time is in the detail line
        block_h = right.height() // count
        for i, lang in enumerate(state.languages):
            block = QRect(right.left(), right.top() + i * block_h, right.width(), block_h - pad)
            words = instruction_text(
                state.code,
                language=lang,
                translations=self.translations,
                bay=state.bay,
                time=state.earliest,
            )
            detail = words.detail
            if state.reason is not None:
                reason = phrase(
                    FAIL_REASONS[state.reason], language=lang, translations=self.translations
                )
                detail = f"{detail} · {reason}"
            head_h = round(block.height() * 0.62)
            head = QRect(block.left(), block.top(), block.width(), head_h)
            sub = QRect(block.left(), block.top() + head_h, block.width(), block.height() - head_h)
            self._text(painter, words.headline, lang, head, style.foreground, 10_000, False)
            self._text(
                painter, detail, lang, sub, style.foreground, round(head_h * 0.5), True, varies
            )
            if i < count - 1:
                painter.fillRect(
                    QRect(block.left(), block.bottom() + pad // 2, block.width(), max(1, pad // 4)),
                    style.foreground,
                )

    def _pictogram(self, code: InstructionCode, size: QSize) -> QImage:
        """The code's pictogram as an image, drawn once per code and size (paths are slow)."""
        key = (code, size.width(), size.height())
        image = self._pictograms.get(key)
        if image is None:
            if len(self._pictograms) > 32:
                self._pictograms.clear()
            image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(Qt.GlobalColor.transparent)
            painter = QPainter(image)
            try:
                draw_pictogram(
                    painter,
                    QRectF(0, 0, size.width(), size.height()),
                    code,
                    STYLES[code].foreground,
                )
            finally:
                painter.end()
            self._pictograms[key] = image
        return image

    def _paint_top_bar(self, painter: QPainter, state: BoardState, bar: QRect, pad: int) -> None:
        h = bar.height()
        text_h = h - 2 * pad
        plate = f"{self.lane}   {state.vrn}" if state.vrn else self.lane
        self._text(
            painter,
            plate,
            Language.EN,
            QRect(pad * 2, pad, round(bar.width() * 0.42), text_h),
            TOP_TEXT,
            10_000,
            False,
            True,
        )
        clock_w = round(bar.width() * 0.17)
        clock_box = QRect(bar.width() - clock_w - pad * 2, pad, clock_w, text_h)
        drawn = draw_fitted(
            painter, state.clock, Language.EN, clock_box, TOP_TEXT, variable=True, fit_as="88:88:88"
        )
        if drawn is not None:
            self.drawn.append(drawn)
        # the sync mark: a dot and a word in the first language shown
        lang = state.languages[0]
        dot = round(text_h * 0.5)
        mark_left = round(bar.width() * 0.48)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(SYNC_MARK_COLOURS[state.sync_mark])
        painter.drawEllipse(QRect(mark_left, (h - dot) // 2, dot, dot))
        painter.restore()
        words = phrase(SYNC_MARKS[state.sync_mark], language=lang, translations=self.translations)
        mark_box = QRect(
            mark_left + dot + pad,
            pad + text_h // 4,
            clock_box.left() - mark_left - dot - 3 * pad,
            text_h // 2,
        )
        self._text(painter, words, lang, mark_box, TOP_TEXT, 10_000, False)

    def _text(
        self,
        painter: QPainter,
        text: str,
        language: Language,
        box: QRect,
        colour: QColor,
        max_px: int,
        wrap: bool,
        variable: bool = False,
    ) -> None:
        drawn = draw_fitted(
            painter, text, language, box, colour, max_px=max_px, wrap=wrap, variable=variable
        )
        if drawn is not None:
            self.drawn.append(drawn)

"""How an instruction looks on every screen: its words, colours and pictogram.

Texts are English source strings in the ``Instruction`` context (the ``.ts`` catalogues
hold Traditional and Simplified Chinese). Pictograms are drawn with QPainter, so no
image file can go missing and they scale to any board.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPolygonF

from rocars.messages import InstructionCode
from ui_common.i18n import Translations, tr, translate_noop
from ui_common.lanewatch import FailReason, SyncMark
from ui_common.languages import Language

C = InstructionCode

#: The big words per code (kept short: they must fill a lane board from a cab).
HEADLINES: dict[InstructionCode, str] = {
    C.READY: translate_noop("Instruction", "READY"),
    C.DROP_MANIFEST: translate_noop("Instruction", "DROP MANIFEST"),
    C.PROCEED: translate_noop("Instruction", "PROCEED"),
    C.INSPECT: translate_noop("Instruction", "INSPECTION"),
    C.TOO_EARLY: translate_noop("Instruction", "TOO EARLY"),
    C.NO_BUNDLE: translate_noop("Instruction", "NO BUNDLE"),
    C.WRONG_CONTROL_POINT: translate_noop("Instruction", "WRONG CONTROL POINT"),
    C.STOP_SEE_OFFICER: translate_noop("Instruction", "STOP"),
}

#: The line under the big words; ``{bay}`` and ``{time}`` are filled in.
DETAILS: dict[InstructionCode, str] = {
    C.READY: translate_noop("Instruction", "Drive up to the booth"),
    C.DROP_MANIFEST: translate_noop("Instruction", "Put the paper manifest in the drop box"),
    C.PROCEED: translate_noop("Instruction", "Drive on to the exit"),
    C.INSPECT: translate_noop("Instruction", "Go to inspection bay {bay}"),
    C.TOO_EARLY: translate_noop("Instruction", "Earliest crossing time {time}"),
    C.NO_BUNDLE: translate_noop("Instruction", "Empty truck: press Unladen. Laden: see officer"),
    C.WRONG_CONTROL_POINT: translate_noop(
        "Instruction", "Bundled for another control point: see officer"
    ),
    C.STOP_SEE_OFFICER: translate_noop("Instruction", "See a customs officer"),
}

#: Why a screen fails closed (small print under STOP).
FAIL_REASONS: dict[FailReason, str] = {
    FailReason.BROKER_LOST: translate_noop("Instruction", "No connection to the lane"),
    FailReason.CONTROLLER_OFFLINE: translate_noop("Instruction", "Lane controller offline"),
    FailReason.NO_HEARTBEAT: translate_noop("Instruction", "Lane controller not responding"),
    FailReason.NO_INSTRUCTION: translate_noop("Instruction", "Waiting for the lane"),
    FailReason.EXPIRED: translate_noop("Instruction", "Instruction expired"),
    # a signed instruction this display cannot read (a newer controller's code or format):
    # the engineer at the lane must be told it is not a wait that ends by itself
    FailReason.INSTRUCTION_UNREADABLE: translate_noop("Instruction", "Instruction unreadable"),
}

SYNC_MARKS: dict[SyncMark, str] = {
    SyncMark.CENTRAL_UP: translate_noop("Instruction", "Online"),
    SyncMark.OFFLINE_MODE: translate_noop("Instruction", "Offline mode"),
    SyncMark.CONTROLLER_LOST: translate_noop("Instruction", "Lane offline"),
}


@dataclass(frozen=True, slots=True)
class Style:
    """Background and text colour of a code: high contrast, readable through a windscreen."""

    background: QColor
    foreground: QColor


STYLES: dict[InstructionCode, Style] = {
    C.READY: Style(QColor("#1f2933"), QColor("#ffffff")),
    C.DROP_MANIFEST: Style(QColor("#0050a0"), QColor("#ffffff")),
    C.PROCEED: Style(QColor("#00843d"), QColor("#ffffff")),
    C.INSPECT: Style(QColor("#ff9800"), QColor("#000000")),
    C.TOO_EARLY: Style(QColor("#5e2b97"), QColor("#ffffff")),
    C.NO_BUNDLE: Style(QColor("#ffd400"), QColor("#000000")),
    C.WRONG_CONTROL_POINT: Style(QColor("#b34700"), QColor("#ffffff")),
    C.STOP_SEE_OFFICER: Style(QColor("#c8102e"), QColor("#ffffff")),
}

SYNC_MARK_COLOURS: dict[SyncMark, QColor] = {
    SyncMark.CENTRAL_UP: QColor("#2ecc71"),
    SyncMark.OFFLINE_MODE: QColor("#ffb000"),
    SyncMark.CONTROLLER_LOST: QColor("#ff3b30"),
}


@dataclass(frozen=True, slots=True)
class InstructionText:
    headline: str
    detail: str


def instruction_text(
    code: InstructionCode,
    *,
    language: Language | None = None,
    translations: Translations | None = None,
    **params: Any,
) -> InstructionText:
    """The words for ``code`` in ``language`` (or the installed language when None).

    ``params`` fill ``{bay}`` and ``{time}``; missing ones show as a dash.
    """
    values = {"bay": "-", "time": "-", **{k: v for k, v in params.items() if v is not None}}
    if language is None or translations is None:
        return InstructionText(
            tr("Instruction", HEADLINES[code], **values), tr("Instruction", DETAILS[code], **values)
        )
    return InstructionText(
        translations.text(language, "Instruction", HEADLINES[code], **values),
        translations.text(language, "Instruction", DETAILS[code], **values),
    )


def phrase(
    source: str, *, language: Language | None = None, translations: Translations | None = None
) -> str:
    """A fail reason or sync mark (from the tables above) in a language."""
    if language is None or translations is None:
        return tr("Instruction", source)
    return translations.text(language, "Instruction", source)


# -- pictograms ----------------------------------------------------------------------------


def draw_pictogram(painter: QPainter, rect: QRectF, code: InstructionCode, colour: QColor) -> None:
    """Draw ``code``'s symbol in ``colour`` inside the square centred in ``rect``."""
    side = min(rect.width(), rect.height())
    box = QRectF(rect.center().x() - side / 2, rect.center().y() - side / 2, side, side).adjusted(
        side * 0.05, side * 0.05, -side * 0.05, -side * 0.05
    )
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(colour, max(2.0, side * 0.07))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    _DRAWERS[code](painter, box, colour)
    painter.restore()


def _pt(box: QRectF, fx: float, fy: float) -> QPointF:
    return QPointF(box.left() + fx * box.width(), box.top() + fy * box.height())


def _poly(box: QRectF, points: list[tuple[float, float]]) -> QPolygonF:
    return QPolygonF([_pt(box, x, y) for x, y in points])


def _arrow_up(painter: QPainter, box: QRectF, colour: QColor) -> None:
    painter.setBrush(QBrush(colour))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawPolygon(
        _poly(
            box,
            [
                (0.5, 0.04),
                (0.92, 0.48),
                (0.66, 0.48),
                (0.66, 0.96),
                (0.34, 0.96),
                (0.34, 0.48),
                (0.08, 0.48),
            ],
        )
    )


def _turn_to_bay(painter: QPainter, box: QRectF, colour: QColor) -> None:
    path = QPainterPath(_pt(box, 0.3, 0.95))
    path.lineTo(_pt(box, 0.3, 0.5))
    path.quadTo(_pt(box, 0.3, 0.3), _pt(box, 0.5, 0.3))
    path.lineTo(_pt(box, 0.68, 0.3))
    pen = painter.pen()
    pen.setWidthF(box.width() * 0.16)
    pen.setCapStyle(Qt.PenCapStyle.FlatCap)
    painter.setPen(pen)
    painter.drawPath(path)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(colour))
    painter.drawPolygon(_poly(box, [(0.66, 0.08), (0.97, 0.3), (0.66, 0.52)]))


def _manifest_into_box(painter: QPainter, box: QRectF, colour: QColor) -> None:
    # a sheet with lines, an arrow down, the box's slot
    painter.drawRect(QRectF(_pt(box, 0.28, 0.03), _pt(box, 0.72, 0.45)))
    for y in (0.14, 0.24, 0.34):
        painter.drawLine(_pt(box, 0.36, y), _pt(box, 0.64, y))
    painter.setBrush(QBrush(colour))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawPolygon(_poly(box, [(0.35, 0.52), (0.65, 0.52), (0.5, 0.7)]))
    painter.drawRect(QRectF(_pt(box, 0.08, 0.76), _pt(box, 0.92, 0.97)))


def _clock(painter: QPainter, box: QRectF, colour: QColor) -> None:
    painter.drawEllipse(
        box.adjusted(
            box.width() * 0.04, box.height() * 0.04, -box.width() * 0.04, -box.height() * 0.04
        )
    )
    centre = box.center()
    painter.drawLine(centre, _pt(box, 0.5, 0.2))
    painter.drawLine(centre, _pt(box, 0.72, 0.62))
    pen = painter.pen()
    pen.setWidthF(pen.widthF() * 0.5)
    painter.setPen(pen)
    for i in range(12):
        angle = i * math.pi / 6
        r1, r2 = box.width() * 0.34, box.width() * 0.4
        cos, sin = math.cos(angle), math.sin(angle)
        painter.drawLine(
            QPointF(centre.x() + r1 * cos, centre.y() + r1 * sin),
            QPointF(centre.x() + r2 * cos, centre.y() + r2 * sin),
        )


def _no_document(painter: QPainter, box: QRectF, colour: QColor) -> None:
    painter.drawRect(QRectF(_pt(box, 0.2, 0.05), _pt(box, 0.8, 0.95)))
    for y in (0.25, 0.4, 0.55):
        painter.drawLine(_pt(box, 0.32, y), _pt(box, 0.68, y))
    pen = painter.pen()
    pen.setWidthF(box.width() * 0.1)
    painter.setPen(pen)
    painter.drawLine(_pt(box, 0.05, 0.95), _pt(box, 0.95, 0.05))


def _u_turn(painter: QPainter, box: QRectF, colour: QColor) -> None:
    path = QPainterPath(_pt(box, 0.7, 0.95))
    path.lineTo(_pt(box, 0.7, 0.4))
    path.arcTo(QRectF(_pt(box, 0.22, 0.12), _pt(box, 0.7, 0.6)), 0, 180)
    path.lineTo(_pt(box, 0.22, 0.62))
    pen = painter.pen()
    pen.setWidthF(box.width() * 0.14)
    pen.setCapStyle(Qt.PenCapStyle.FlatCap)
    painter.setPen(pen)
    painter.drawPath(path)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(colour))
    painter.drawPolygon(_poly(box, [(0.02, 0.6), (0.42, 0.6), (0.22, 0.92)]))


def _stop(painter: QPainter, box: QRectF, colour: QColor) -> None:
    points = []
    centre, radius = box.center(), box.width() * 0.48
    for i in range(8):
        angle = math.pi / 8 + i * math.pi / 4
        points.append(
            QPointF(centre.x() + radius * math.cos(angle), centre.y() + radius * math.sin(angle))
        )
    painter.drawPolygon(QPolygonF(points))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(colour))
    painter.drawRect(QRectF(_pt(box, 0.2, 0.42), _pt(box, 0.8, 0.58)))


def _lane(painter: QPainter, box: QRectF, colour: QColor) -> None:
    painter.drawLine(_pt(box, 0.15, 0.95), _pt(box, 0.3, 0.05))
    painter.drawLine(_pt(box, 0.85, 0.95), _pt(box, 0.7, 0.05))
    for y0 in (0.08, 0.38, 0.68):
        painter.drawLine(_pt(box, 0.5, y0), _pt(box, 0.5, y0 + 0.16))


_DRAWERS = {
    C.READY: _lane,
    C.DROP_MANIFEST: _manifest_into_box,
    C.PROCEED: _arrow_up,
    C.INSPECT: _turn_to_bay,
    C.TOO_EARLY: _clock,
    C.NO_BUNDLE: _no_document,
    C.WRONG_CONTROL_POINT: _u_turn,
    C.STOP_SEE_OFFICER: _stop,
}

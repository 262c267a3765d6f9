"""The printed receipt: a PDF through QPdfWriter, in the language on screen.

The kiosk's printer takes PDF from its spool folder; what is printed is what the
result screen shows (UBR, times in Hong Kong time, VRN, control point, CCRNs), never
an account, password, code or PIN.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import QFont, QPageLayout, QPageSize, QPainter, QPdfWriter

from kiosk.flows import hk_time
from rocars.timeutil import utc_now
from ui_common.app import font_family
from ui_common.i18n import tr
from ui_common.languages import Language

logger = logging.getLogger(__name__)

RECEIPT_WIDTH_MM = 80.0
RECEIPT_HEIGHT_MM = 200.0
MARGIN_MM = 5.0


def write_receipt(
    path: Path,
    lang: Language,
    title: str,
    rows: list[tuple[str, str]],
    printed_at: datetime | None = None,
) -> Path:
    """Write the receipt PDF to ``path`` (80 mm roll paper); OSError if it cannot.

    ``printed_at`` is the time it states (now unless given: the kiosk passes its clock).
    The page is as long as the receipt (at least ``RECEIPT_HEIGHT_MM``): the paper is a
    roll, and a bundle of 30 CCRNs or more ran past a fixed page, its last CCRNs and the
    time printed left off with nothing to say so. Laid out once to measure, then drawn.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    printed = tr("Receipt", "Printed {time} HKT", time=hk_time(printed_at or utc_now()))
    blocks = [
        (tr("Receipt", "ROCARS self-help kiosk"), 9.0, False, 0.3),
        (title, 12.0, True, 1.0),
        *(
            (text, size, bold, gap)
            for name, value in rows
            for text, size, bold, gap in (
                (name, 8.0, False, 0.1),
                (value, 11.0, True, 0.8),
            )
        ),
        (printed, 8.0, False, 0.3),
    ]
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    measure = QPdfWriter(buffer)
    _set_page(measure, RECEIPT_HEIGHT_MM)
    needed_px = _draw(measure, lang, blocks, path)
    needed_mm = needed_px / measure.resolution() * 25.4 + 2 * MARGIN_MM + 1.0
    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setCreator("rocars-edge kiosk")
    _set_page(writer, max(RECEIPT_HEIGHT_MM, needed_mm))
    _draw(writer, lang, blocks, path)
    logger.info("receipt written to %s", path)
    return path


def _set_page(writer: QPdfWriter, height_mm: float) -> None:
    writer.setResolution(300)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QSizeF(RECEIPT_WIDTH_MM, height_mm), QPageSize.Unit.Millimeter, "receipt"),
            QPageLayout.Orientation.Portrait,
            QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM),
            QPageLayout.Unit.Millimeter,
        )
    )


def _draw(
    writer: QPdfWriter,
    lang: Language,
    blocks: list[tuple[str, float, bool, float]],
    path: Path,
) -> float:
    """Draw ``blocks`` (text, points, bold, gap after in mm/10 units) down the page; how far
    down the last one ends, in the writer's pixels."""
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write the receipt to {path}")
    try:
        family = font_family(lang)
        dpi = writer.resolution()
        width = writer.width()
        y = 0.0
        for text, points, bold, gap in blocks:
            f = QFont(family)
            f.setPixelSize(int(points * dpi / 72))
            f.setBold(bold)
            painter.setFont(f)
            rect = painter.boundingRect(
                QRectF(0, y, width, 100_000), int(Qt.TextFlag.TextWordWrap), text
            )
            painter.drawText(rect, int(Qt.TextFlag.TextWordWrap), text)
            y = rect.bottom() + gap * dpi / 10
    finally:
        painter.end()
    return y

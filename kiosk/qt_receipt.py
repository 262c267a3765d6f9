"""The printed receipt: a PDF through QPdfWriter, in the language on screen.

The kiosk's printer takes PDF from its spool folder; what is printed is what the
result screen shows (UBR, times in Hong Kong time, VRN, control point, CCRNs), never
an account, password, code or PIN.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import QFont, QPageLayout, QPageSize, QPainter, QPdfWriter

from kiosk.flows import hk_time
from rocars.timeutil import utc_now
from ui_common.app import font_family
from ui_common.i18n import tr
from ui_common.languages import Language

logger = logging.getLogger(__name__)

RECEIPT_WIDTH_MM = 80.0
RECEIPT_HEIGHT_MM = 200.0


def write_receipt(
    path: Path,
    lang: Language,
    title: str,
    rows: list[tuple[str, str]],
    printed_at: datetime | None = None,
) -> Path:
    """Write the receipt PDF to ``path`` (80 mm roll paper); OSError if it cannot.

    ``printed_at`` is the time it states (now unless given: the kiosk passes its clock).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setCreator("rocars-edge kiosk")
    writer.setResolution(300)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(
                QSizeF(RECEIPT_WIDTH_MM, RECEIPT_HEIGHT_MM), QPageSize.Unit.Millimeter, "receipt"
            ),
            QPageLayout.Orientation.Portrait,
            QMarginsF(5, 5, 5, 5),
            QPageLayout.Unit.Millimeter,
        )
    )
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write the receipt to {path}")
    try:
        family = font_family(lang)
        dpi = writer.resolution()
        width = writer.width()
        y = 0.0

        def font(points: float, bold: bool = False) -> QFont:
            f = QFont(family)
            f.setPixelSize(int(points * dpi / 72))
            f.setBold(bold)
            return f

        def block(text: str, f: QFont, gap: float = 0.3) -> None:
            nonlocal y
            painter.setFont(f)
            rect = painter.boundingRect(
                QRectF(0, y, width, 10_000), int(Qt.TextFlag.TextWordWrap), text
            )
            painter.drawText(rect, int(Qt.TextFlag.TextWordWrap), text)
            y = rect.bottom() + gap * dpi / 10

        block(tr("Receipt", "ROCARS self-help kiosk"), font(9))
        block(title, font(12, bold=True), gap=1.0)
        for name, value in rows:
            block(name, font(8), gap=0.1)
            block(value, font(11, bold=True), gap=0.8)
        block(tr("Receipt", "Printed {time} HKT", time=hk_time(printed_at or utc_now())), font(8))
    finally:
        painter.end()
    logger.info("receipt written to %s", path)
    return path

"""Fitted text: never clipped, cached images paint the same as the first time."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage, QPainter

from ui_common.languages import Language
from ui_common.textfit import DrawnText, draw_fitted


def paint(
    text: str, box: QRect, language: Language = Language.EN, **options: object
) -> tuple[DrawnText, QImage]:
    image = QImage(box.right() + 10, box.bottom() + 10, QImage.Format.Format_RGB32)
    image.fill(QColor("#000000"))
    painter = QPainter(image)
    try:
        drawn = draw_fitted(painter, text, language, box, QColor("#ffffff"), **options)  # type: ignore[arg-type]
    finally:
        painter.end()
    assert drawn is not None
    return drawn, image


@pytest.mark.parametrize(
    "text", ["00:00", "11:11", "14:55", "B1", "B0000000", "22/11 09:05", "AB1234 粤Z1234港"]
)
@pytest.mark.parametrize(
    "box", [QRect(10, 10, 300, 120), QRect(0, 0, 900, 300), QRect(5, 5, 60, 200)]
)
def test_variable_text_never_clipped(qapp: object, text: str, box: QRect) -> None:
    drawn, image = paint(text, box, variable=True)
    assert not drawn.clipped, (text, drawn.needed, box)
    blank = QImage(image.size(), QImage.Format.Format_RGB32)
    blank.fill(QColor("#000000"))
    assert image != blank  # something was drawn


@pytest.mark.parametrize("language", list(Language))
def test_wrapped_text_fits_and_cache_repaints_identically(qapp: object, language: Language) -> None:
    text = (
        "請把紙本艙單投入收集箱"
        if language is not Language.EN
        else "Put the paper manifest in the drop box"
    )
    box = QRect(0, 0, 500, 260)
    first, image1 = paint(text, box, language, wrap=True)
    second, image2 = paint(text, box, language, wrap=True)
    assert not first.clipped
    assert first.font.pixelSize() >= 48  # big enough to go through the image cache
    assert image1 == image2


def test_empty_or_degenerate_box_draws_nothing(qapp: object) -> None:
    image = QImage(10, 10, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    try:
        assert draw_fitted(painter, "", Language.EN, QRect(0, 0, 10, 10), QColor("#fff")) is None
        assert draw_fitted(painter, "x", Language.EN, QRect(0, 0, 0, 10), QColor("#fff")) is None
    finally:
        painter.end()

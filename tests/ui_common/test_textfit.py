"""Fitted text: never clipped, cached images paint the same as the first time."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter

from ui_common.languages import Language
from ui_common.textfit import SPRITE_MIN_PX, DrawnText, draw_fitted


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


def ink_right(image: QImage) -> int:
    """The rightmost column with anything drawn on the black background (-1: none)."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=rgba.sizeInBytes())
    rows = data.reshape(rgba.height(), rgba.bytesPerLine())[:, : rgba.width() * 4]
    columns = np.flatnonzero(
        rows.reshape(rgba.height(), rgba.width(), 4)[:, :, :3].max(axis=(0, 2))
    )
    return int(columns[-1]) if columns.size else -1


@pytest.mark.parametrize("box", [QRect(0, 0, 1294, 220), QRect(20, 10, 900, 200)])
def test_a_long_word_on_wrapped_lines_is_not_cut(qapp: object, box: QRect) -> None:
    """Balancing the lines narrows the box only as far as the text still fits: a bay of
    16 wide letters cannot break, and a box narrower than it cut it off (the big text is
    drawn into an image no larger than its box)."""
    bay = "W" * 16
    drawn, image = paint(f"Go to inspection bay {bay}", box, wrap=True)
    assert drawn.font.pixelSize() >= 48  # through the image cache, where it was cut
    assert not drawn.clipped, (drawn.box, drawn.needed)
    word = QFontMetrics(drawn.font).horizontalAdvance(bay)
    assert ink_right(image) >= box.left() + word - drawn.font.pixelSize() // 2


def ink(image: QImage) -> int:
    """Pixels drawn on the black background."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=rgba.sizeInBytes())
    rows = data.reshape(rgba.height(), rgba.bytesPerLine())[:, : rgba.width() * 4]
    return int((rows.reshape(rgba.height(), rgba.width(), 4)[:, :, :3].max(axis=2) > 0).sum())


@pytest.mark.parametrize("language", [Language.EN, Language.ZH_TW])
def test_a_combining_accent_is_drawn_with_its_letter(qapp: object, language: Language) -> None:
    """A bay may carry a Latin accent as a combining mark (``check_bay``). Drawn big, a
    text is composed of one image per character: the mark's image, of no width, cut
    its accent off, and "CAFE" + U+0301 showed as "CAFE" (found in review)."""
    box = QRect(0, 0, 700, 220)
    _, plain = paint("CAFE", box, language, variable=True)
    drawn, combining = paint("CAFE\u0301", box, language, variable=True)
    _, precomposed = paint("CAF\u00c9", box, language, variable=True)
    assert drawn.font.pixelSize() >= SPRITE_MIN_PX  # the per-character images' path
    assert not drawn.clipped
    accent = ink(precomposed) - ink(plain)
    assert accent > 0
    assert ink(combining) - ink(plain) >= accent // 2, (ink(plain), ink(combining), accent)

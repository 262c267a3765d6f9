"""Every code has words, readable colours and a pictogram that draws something."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter

from rocars.messages import InstructionCode
from ui_common.instruction import DETAILS, HEADLINES, STYLES, draw_pictogram, instruction_text
from ui_common.screenshot import colour_share


def luminance(colour: QColor) -> float:
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.red())
        + 0.7152 * channel(colour.green())
        + 0.0722 * channel(colour.blue())
    )


def contrast(a: QColor, b: QColor) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@pytest.mark.parametrize("code", list(InstructionCode))
def test_code_has_words_and_contrast(code: InstructionCode) -> None:
    assert HEADLINES[code]
    assert DETAILS[code]
    style = STYLES[code]
    # WCAG AA for large text is 3:1; a lane board wants more
    assert contrast(style.background, style.foreground) >= 4.5


def test_key_colours_mean_what_drivers_expect() -> None:
    assert STYLES[InstructionCode.PROCEED].background.green() > 100
    assert STYLES[InstructionCode.STOP_SEE_OFFICER].background.red() > 180
    inspect = STYLES[InstructionCode.INSPECT].background
    assert inspect.red() > 200
    assert 100 < inspect.green() < 200
    assert inspect.blue() < 60
    # no two codes share a background
    assert len({s.background.name() for s in STYLES.values()}) == len(STYLES)


@pytest.mark.parametrize("code", list(InstructionCode))
def test_pictogram_draws(qapp: object, code: InstructionCode) -> None:
    image = QImage(200, 200, QImage.Format.Format_RGB32)
    image.fill(QColor("#000000"))
    painter = QPainter(image)
    draw_pictogram(painter, QRectF(0, 0, 200, 200), code, QColor("#ffffff"))
    painter.end()
    share = colour_share(image, QColor("#ffffff"), step=2)
    assert 0.03 < share < 0.8


def test_params_filled_and_missing_shown_as_dash(qapp: object) -> None:
    text = instruction_text(InstructionCode.INSPECT, bay="B7")
    assert "B7" in text.detail
    assert "-" in instruction_text(InstructionCode.TOO_EARLY).detail

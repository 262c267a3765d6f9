"""Text fitted to a box: the largest pixel size at which it fits, and proof that it did.

Screens paint their big words with ``draw_fitted`` and keep the returned ``DrawnText``
so a test can check that nothing was clipped (``needed`` inside ``box``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter

from ui_common.app import screen_font
from ui_common.languages import Language

LINE = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
WRAP = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap)
MIN_PX = 6
_DIGITS = re.compile(r"\d")
#: Qt's raster engine draws glyphs above 64 px as paths on every paint (milliseconds per
#: big word); texts above this size are rendered once into an image and blitted.
SPRITE_MIN_PX = 48
SPRITE_BUDGET_BYTES = 64 * 1024 * 1024
SPRITE_MARGIN = 4


@dataclass(frozen=True, slots=True)
class DrawnText:
    """One text as painted: its box, the space it needed, its font."""

    text: str
    language: Language
    box: QRect
    needed: QRect
    font: QFont

    @property
    def clipped(self) -> bool:
        return self.needed.width() > self.box.width() or self.needed.height() > self.box.height()


def needed_rect(text: str, font: QFont, width: int, height: int, wrap: bool) -> QRect:
    metrics = QFontMetrics(font)
    if wrap:
        return metrics.boundingRect(QRect(0, 0, width, height), WRAP, text)
    return QRect(0, 0, metrics.horizontalAdvance(text), metrics.height())


@lru_cache(maxsize=4096)
def fit_pixel_size(
    text: str,
    language: Language,
    width: int,
    height: int,
    max_px: int,
    wrap: bool,
    bold: bool = True,
) -> int:
    """Largest pixel size (at least MIN_PX) at which ``text`` fits ``width`` x ``height``."""
    lo, hi, best = MIN_PX, max(MIN_PX, max_px), MIN_PX
    while lo <= hi:
        mid = (lo + hi) // 2
        needed = needed_rect(text, screen_font(language, mid, bold=bold), width, height, wrap)
        if needed.width() <= width and needed.height() <= height:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


def _balanced(text: str, font: QFont, box: QRect, height: int, flags: int) -> QRect:
    """The narrowest box that keeps the text on as many lines: no word (or CJK character)
    left alone on the last line. Keeps the box's horizontal alignment.

    A narrower width counts only if the text still fits it: a word that cannot break (a
    long bay) runs past a line too narrow for it without adding a line, and is then cut
    at the box's edge (the image cache draws into the box).
    """
    lo, hi = box.width() // 2, box.width()
    while lo < hi:
        mid = (lo + hi) // 2
        needed = needed_rect(text, font, mid, box.height(), True)
        if needed.height() <= height and needed.width() <= mid:
            hi = mid
        else:
            lo = mid + 1
    spare = box.width() - hi
    if flags & int(Qt.AlignmentFlag.AlignHCenter):
        x = box.x() + spare // 2
    elif flags & int(Qt.AlignmentFlag.AlignRight):
        x = box.x() + spare
    else:
        x = box.x()
    return QRect(x, box.y(), hi, box.height())


def draw_fitted(
    painter: QPainter,
    text: str,
    language: Language,
    box: QRect,
    colour: QColor,
    *,
    max_px: int = 10_000,
    wrap: bool = False,
    bold: bool = True,
    align: int | None = None,
    variable: bool = False,
    fit_as: str | None = None,
) -> DrawnText | None:
    """Paint ``text`` as large as fits in ``box`` (never larger than ``max_px``).

    ``variable`` marks a text that changes often (plate, clock, bay, time): when big and
    on one line, it is composed from per-character images instead of one image per text.
    ``fit_as`` sizes the text as if it were that text (e.g. ``88:88:88`` for a clock, so
    the size does not jump every second).
    """
    if box.width() <= 0 or box.height() <= 0 or not text:
        return None
    if fit_as is None and variable:
        fit_as = _DIGITS.sub("8", text)  # one fit serves every number of the same shape
    limit = min(max_px, box.height())
    px = fit_pixel_size(fit_as or text, language, box.width(), box.height(), limit, wrap, bold)
    font = screen_font(language, px, bold=bold)
    needed = needed_rect(text, font, box.width(), box.height(), wrap)
    if fit_as and (needed.width() > box.width() or needed.height() > box.height()):
        # the template was narrower than the text after all: fit the text itself
        px = fit_pixel_size(text, language, box.width(), box.height(), limit, wrap, bold)
        font = screen_font(language, px, bold=bold)
        needed = needed_rect(text, font, box.width(), box.height(), wrap)
    flags = align if align is not None else (WRAP if wrap else LINE)
    if wrap:
        flags |= int(Qt.TextFlag.TextWordWrap)
    one_line = not wrap or QFontMetrics(font).horizontalAdvance(text) <= box.width()
    if not one_line:
        box = _balanced(text, font, box, needed.height(), flags)
        needed = needed_rect(text, font, box.width(), box.height(), wrap)
    if px >= SPRITE_MIN_PX and variable and one_line and align is None:
        # per-character images lose kerning: shrink until the plain sum of advances fits
        units = _clusters(text)
        for _ in range(px):
            metrics = QFontMetrics(font)
            total = sum(metrics.horizontalAdvance(unit) for unit in units)
            if total <= box.width() or px <= MIN_PX:
                break
            px -= 1
            font = screen_font(language, px, bold=bold)
        needed = QRect(0, 0, total, metrics.height())
        _draw_glyphs(painter, units, language, px, bold, colour.rgba(), box)
    elif px >= SPRITE_MIN_PX:
        offset, image = _sprite(
            text, language, px, bold, colour.rgba(), box.width(), box.height(), flags
        )
        painter.drawImage(box.topLeft() + offset, image)
    else:
        painter.setFont(font)
        painter.setPen(colour)
        painter.drawText(box, flags, text)
    return DrawnText(text, language, QRect(box), needed, font)


def _clusters(text: str) -> list[str]:
    """``text`` as the units a reader sees: a character with the combining marks after it
    (``E`` + U+0301 is one É). Drawn one character at a time, a mark has no width of its
    own, and its image cut the accent off: a bay "É" showed as "E"."""
    units: list[str] = []
    for ch in text:
        if units and unicodedata.combining(ch):
            units[-1] += ch
        else:
            units.append(ch)
    return units


def _draw_glyphs(
    painter: QPainter,
    units: list[str],
    language: Language,
    px: int,
    bold: bool,
    rgba: int,
    box: QRect,
) -> None:
    """Left-aligned, vertically centred, one cached image per unit (``_clusters``; no
    kerning)."""
    font = screen_font(language, px, bold=bold)
    metrics = QFontMetrics(font)
    x = box.left()
    y = box.top() + (box.height() - metrics.height()) // 2
    for unit in units:
        advance = metrics.horizontalAdvance(unit)
        if not unit.isspace():
            width = advance + 2 * SPRITE_MARGIN
            height = metrics.height() + 2 * SPRITE_MARGIN
            offset, image = _sprite(
                unit, language, px, bold, rgba, width, height, int(Qt.AlignmentFlag.AlignCenter)
            )
            painter.drawImage(QPoint(x - SPRITE_MARGIN, y - SPRITE_MARGIN) + offset, image)
        x += advance


_SpriteKey = tuple[str, Language, int, bool, int, int, int, int]
_sprites: OrderedDict[_SpriteKey, tuple[QPoint, QImage]] = OrderedDict()
_sprite_bytes = 0


def _sprite(
    text: str,
    language: Language,
    px: int,
    bold: bool,
    rgba: int,
    width: int,
    height: int,
    flags: int,
) -> tuple[QPoint, QImage]:
    """``text`` drawn once into a transparent image; where it goes inside its box."""
    global _sprite_bytes
    key = (text, language, px, bold, rgba, width, height, flags)
    found = _sprites.get(key)
    if found is not None:
        _sprites.move_to_end(key)
        return found
    font = screen_font(language, px, bold=bold)
    bounds = QFontMetrics(font).boundingRect(QRect(0, 0, width, height), flags, text)
    area = bounds.adjusted(-SPRITE_MARGIN, -SPRITE_MARGIN, SPRITE_MARGIN, SPRITE_MARGIN)
    area = area.intersected(QRect(0, 0, width, height))
    image = QImage(
        max(1, area.width()), max(1, area.height()), QImage.Format.Format_ARGB32_Premultiplied
    )
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.setFont(font)
        painter.setPen(QColor.fromRgba(rgba))
        painter.drawText(QRect(-area.x(), -area.y(), width, height), flags, text)
    finally:
        painter.end()
    entry = (area.topLeft(), image)
    _sprites[key] = entry
    _sprite_bytes += image.sizeInBytes()
    while _sprite_bytes > SPRITE_BUDGET_BYTES and len(_sprites) > 1:
        _, (_, old) = _sprites.popitem(last=False)
        _sprite_bytes -= old.sizeInBytes()
    return entry

"""Screenshots: a run that draws the same picture leaves the committed file alone."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from ui_common.screenshot import grab_png, same_picture


def picture(width: int = 200, height: int = 100) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(20, 120, 40))
    return image


def test_noise_is_the_same_picture_and_a_change_is_not() -> None:
    base = picture()
    assert same_picture(base, base.copy())
    edges = base.copy()
    for x in range(150):  # 0.75 % of the pixels, a little off: anti-aliased edges
        edges.setPixelColor(x, 50, QColor(40, 140, 60))
    assert same_picture(base, edges)
    patch = base.copy()
    for x in range(200):  # 5 % of the pixels moved a little: a recoloured area
        for y in range(5):
            patch.setPixelColor(x, y, QColor(30, 130, 50))
    assert not same_picture(base, patch)
    dot = base.copy()
    dot.setPixelColor(3, 3, QColor(255, 255, 255))  # one pixel, far off
    assert not same_picture(base, dot)
    assert not same_picture(base, picture(201, 100))


def test_grab_png_rewrites_only_a_changed_picture(qtbot: QtBot, tmp_path: Path) -> None:
    label = QLabel("PROCEED")
    label.resize(240, 80)
    qtbot.addWidget(label)
    path = tmp_path / "shot.png"
    first = grab_png(label, path)
    written = path.read_bytes()
    # the same picture in other bytes (another compression level): kept as it is
    assert first.save(str(path), "PNG", 100)  # type: ignore[call-overload]
    kept = path.read_bytes()
    assert kept != written
    grab_png(label, path)
    assert path.read_bytes() == kept
    label.setText("INSPECT")
    grab_png(label, path)
    assert path.read_bytes() != kept
    assert not same_picture(QImage(str(path)), first)

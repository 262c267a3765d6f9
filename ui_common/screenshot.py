"""Screenshots for tests and docs: grab a widget to PNG and check what it shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QWidget

#: A picture counts as unchanged when no channel of any pixel moved by more than this ...
NOISE_LEVELS = 48
#: ... and at most this share of its pixels moved at all: glyph edges anti-aliased a
#: little differently (which fonts a test process loaded first decides the rasteriser's
#: cache), not a change anyone would see. A recoloured area or moved text is far more.
NOISE_SHARE = 0.01


def _pixels(image: QImage) -> np.ndarray:
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    data = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=rgba.sizeInBytes())
    rows = data.reshape(rgba.height(), rgba.bytesPerLine())
    return rows[:, : rgba.width() * 4].reshape(rgba.height(), rgba.width(), 4).astype(np.int16)


def same_picture(a: QImage, b: QImage) -> bool:
    """True when ``a`` and ``b`` differ at most by anti-aliasing noise (see above)."""
    if a.size() != b.size():
        return False
    diff = np.abs(_pixels(a) - _pixels(b)).max(axis=2)
    return bool(diff.max() <= NOISE_LEVELS and (diff > 0).mean() <= NOISE_SHARE)


def grab_png(widget: QWidget, path: str | Path) -> QImage:
    """Render ``widget`` (shown or not) to ``path`` as PNG; returns the image.

    An existing file that shows the same picture (``same_picture``) is left as it is, so
    a test run does not rewrite the committed screenshots for noise.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    image = widget.grab().toImage()
    if target.exists():
        before = QImage(str(target))
        if not before.isNull() and same_picture(before, image):
            return image
    if not image.save(str(target)):  # format from the .png suffix
        raise OSError(f"cannot write {target}")
    return image


def colour_share(
    image: QImage, colour: QColor, *, step: int | None = None, tolerance: int = 8
) -> float:
    """Share of sampled pixels within ``tolerance`` of ``colour`` (per channel).

    Samples a grid (``step`` pixels apart; by default about 100 x 60 samples).
    """
    if step is None:
        step = max(1, min(image.width() // 100, image.height() // 60))
    want = (colour.red(), colour.green(), colour.blue())
    hits = total = 0
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            pixel = image.pixelColor(x, y)
            total += 1
            got = (pixel.red(), pixel.green(), pixel.blue())
            if all(abs(a - b) <= tolerance for a, b in zip(got, want, strict=True)):
                hits += 1
    return hits / total if total else 0.0

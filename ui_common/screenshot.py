"""Screenshots for tests and docs: grab a widget to PNG and check what it shows."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QWidget


def grab_png(widget: QWidget, path: str | Path) -> QImage:
    """Render ``widget`` (shown or not) to ``path`` as PNG; returns the image."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    image = widget.grab().toImage()
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

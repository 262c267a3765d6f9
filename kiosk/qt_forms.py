"""Layout pieces the kiosk's screens share, so each screen states only what is its own.

The helpers create and add widgets in the order the screens always did: the creation
order is the focus order of the text fields, and the objectNames are what tests press.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLayout, QPushButton, QScrollArea, QWidget

from kiosk.qt_widgets import button, label

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Height of the big choices on a menu screen.
MENU_BUTTON_PX = 150


def clear_layout(layout: QLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item is None:
            break
        widget = item.widget()
        if widget is not None:
            widget.setParent(None)
            widget.deleteLater()
        elif item.layout() is not None:
            inner = item.layout()
            assert inner is not None
            clear_layout(inner)


def rows_grid(rows: list[tuple[str, str]], grid: QGridLayout, *, big_first: bool = False) -> None:
    clear_layout(grid)
    for i, (name, value) in enumerate(rows):
        key = label(name, role="hint")
        key.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        shown = label(value, role="big" if big_first and i == 0 else "", name=f"row_{i}")
        shown.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        grid.addWidget(key, i, 0)
        grid.addWidget(shown, i, 1)
    grid.setColumnStretch(1, 1)
    for row in range(grid.rowCount()):
        grid.setRowStretch(row, 0)
    grid.setRowStretch(len(rows), 1)


def scrolled(content: QLayout) -> QScrollArea:
    """``content`` in a scroll area: lists and forms that can grow past the screen."""
    holder = QWidget()
    holder.setLayout(content)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(holder)
    return scroll


def choices(
    items: Iterable[T], on_pick: Callable[[T], None], name: Callable[[T], str]
) -> dict[T, QPushButton]:
    """One checkable button per item (a control point, a direction, a query mode)."""
    return {
        item: button(on_click=partial(on_pick, item), checkable=True, name=name(item))
        for item in items
    }

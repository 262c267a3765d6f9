"""Batch files as a shipper may bring them, for the tests that read or upload them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from openpyxl import Workbook

from kiosk.cargo import FIELD_NAMES


def write_formatted_xlsx(path: Path, rows: Iterable[Sequence[object]], width: int = 2000) -> None:
    """``rows`` under the template's header, then a row formatted ``width`` cells wide (a
    whole row selected and formatted, written cell by cell): a file of a few KB with more
    cells in a row than a batch can need (``kiosk.batch.MAX_ROW_CELLS``)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(FIELD_NAMES))
    for row in rows:
        sheet.append(list(row))
    below = sheet.max_row + 1
    for column in range(1, width + 1):
        sheet.cell(row=below, column=column).number_format = "@"
    book.save(path)

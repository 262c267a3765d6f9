"""Batch upload of cargo data from a template file on removable media (xlsx or CSV).

A file is read whole before anything is sent: an unreadable, oversized or wrongly laid
out file is refused as a whole (``batch_*`` keys) and nothing is submitted. A readable
file is checked row by row; rows with errors are listed (row, field, key) and the valid
rows are submitted.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook

from kiosk.cargo import FIELD_NAMES, FieldError, validate_cargo
from kiosk.session import KioskError
from rocars.models import CargoItems

logger = logging.getLogger(__name__)

BATCH_SUFFIXES = (".xlsx", ".csv")
MAX_FILE_BYTES = 1024 * 1024
MAX_ROWS = 200
TEMPLATE_NAME = "rocars_cargo_template"


class BatchFileError(KioskError):
    """The file as a whole cannot be used: ``batch_unreadable``, ``batch_too_large``..."""

    key = "batch_unreadable"


@dataclass(frozen=True)
class BatchRow:
    """One data row: ``row`` is the row number a person sees in the spreadsheet (header is 1)."""

    row: int
    items: CargoItems | None
    errors: list[FieldError] = field(default_factory=list)


def list_batch_files(media: Path) -> list[Path]:
    if not media.is_dir():
        return []
    found = [
        p
        for p in sorted(media.iterdir(), key=lambda p: p.name.lower())
        if p.suffix.lower() in BATCH_SUFFIXES and p.is_file()
    ]
    return found[:50]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_xlsx(data: bytes) -> list[list[str]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise BatchFileError(f"not an xlsx workbook: {err}", key="batch_unreadable") from err
    try:
        sheet = book.worksheets[0]
        rows: list[list[str]] = []
        for values in sheet.iter_rows(values_only=True):
            if len(rows) > MAX_ROWS + 1:
                raise BatchFileError("too many rows", key="batch_too_many_rows", max=MAX_ROWS)
            rows.append([_cell(v) for v in values[: len(FIELD_NAMES) + 5]])
        return rows
    finally:
        book.close()


def _read_csv(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BatchFileError("CSV is not UTF-8", key="batch_unreadable") from err
    try:
        rows: list[list[str]] = []
        for values in csv.reader(io.StringIO(text)):
            if len(rows) > MAX_ROWS + 1:
                raise BatchFileError("too many rows", key="batch_too_many_rows", max=MAX_ROWS)
            rows.append([v.strip() for v in values])
        return rows
    except csv.Error as err:
        raise BatchFileError(f"bad CSV: {err}", key="batch_unreadable") from err


def read_batch(path: Path, now: datetime) -> list[BatchRow]:
    """Every data row of ``path`` with its items or its errors; BatchFileError for the file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BatchFileError(
                f"{path.name} is {size} bytes", key="batch_too_large", max_kb=MAX_FILE_BYTES // 1024
            )
        data = path.read_bytes()
    except OSError as err:
        raise BatchFileError(f"cannot read {path.name}: {err}", key="batch_unreadable") from err
    if len(data) > MAX_FILE_BYTES:  # grew while we looked
        raise BatchFileError("file too large", key="batch_too_large", max_kb=MAX_FILE_BYTES // 1024)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        table = _read_xlsx(data)
    elif suffix == ".csv":
        table = _read_csv(data)
    else:
        raise BatchFileError(f"{path.name}: not .xlsx or .csv", key="batch_unreadable")
    if not table:
        raise BatchFileError("empty file", key="batch_empty")
    header = [h.strip().lower() for h in table[0]]
    missing = [name for name in FIELD_NAMES if name not in header]
    if missing:
        raise BatchFileError(
            f"header lacks {missing}", key="batch_bad_header", columns=", ".join(missing)
        )
    index = {name: header.index(name) for name in FIELD_NAMES}
    out: list[BatchRow] = []
    for number, values in enumerate(table[1:], start=2):
        if not any(values):
            continue
        record = {n: values[i] if i < len(values) else "" for n, i in index.items()}
        items, errors = validate_cargo(record, now)
        out.append(BatchRow(number, items, errors))
    if not out:
        raise BatchFileError("no data rows", key="batch_empty")
    if len(out) > MAX_ROWS:
        raise BatchFileError("too many rows", key="batch_too_many_rows", max=MAX_ROWS)
    return out


def write_template(folder: Path) -> list[Path]:
    """A blank template, as .xlsx and .csv, in ``folder`` (the shipper's USB stick)."""
    folder.mkdir(parents=True, exist_ok=True)
    xlsx = folder / f"{TEMPLATE_NAME}.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new Workbook always has one sheet
    sheet.title = "cargo"
    sheet.append(list(FIELD_NAMES))
    for column in sheet.iter_cols(min_row=1, max_row=1):
        for cell in column:
            sheet.column_dimensions[cell.column_letter].width = max(14, len(str(cell.value)) + 2)
    book.save(xlsx)
    csv_path = folder / f"{TEMPLATE_NAME}.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerow(FIELD_NAMES)
    logger.info("wrote the blank batch template to %s", folder)
    return [xlsx, csv_path]

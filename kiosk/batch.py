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
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

from kiosk.cargo import FIELD_NAMES, FieldError, validate_cargo
from kiosk.session import KioskError
from rocars.models import CargoItems

logger = logging.getLogger(__name__)

BATCH_SUFFIXES = (".xlsx", ".csv")
MAX_FILE_BYTES = 1024 * 1024
# An .xlsx is a zip and openpyxl parses it unpacked: a 70 KB file can hold a 64 MB cell.
# Ordinary sheets compress well under 16 to 1, so every such file within MAX_FILE_BYTES
# still fits. At this bound the costliest sheet (one row of 1.6 million empty formatted
# cells, which openpyxl builds whole) still takes about 5 s and 1 GB.
MAX_UNPACKED_BYTES = 16 * MAX_FILE_BYTES
MAX_ROWS = 200
# Columns read from each xlsx row: the template's columns may stand after many of the
# shipper's own, as in a CSV; cells further right are dropped as the row is read.
MAX_COLUMNS = 256
# Excel's last row. openpyxl fills a gap in the row numbers with empty rows, so a damaged
# or hand-made row number such as 10**12 would otherwise keep it busy for hours.
MAX_SHEET_ROWS = 1_048_576
TEMPLATE_NAME = "rocars_cargo_template"
# "rocars_cargo_template (2).csv" and on: past this many copies the stick is treated as
# not writable rather than searched on.
MAX_TEMPLATE_COPIES = 100

# What zipfile and openpyxl raise on a damaged workbook, when it is opened or while its
# rows are read: a bad zip or deflate stream (BadZipFile, zlib.error, EOFError), a part
# missing (KeyError) or a sheet listed but absent (IndexError), XML that does not parse
# (ParseError is a SyntaxError), a value or attribute of the wrong form (ValueError,
# TypeError), a file that is not a workbook at all (OSError), a zip feature zipfile does
# not do (NotImplementedError; RuntimeError for an encrypted part).
_DAMAGED_XLSX: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    KeyError,
    IndexError,
    SyntaxError,
    ValueError,
    TypeError,
    OSError,
)


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


def _numbered(rows: Iterable[list[str]]) -> list[tuple[int, list[str]]]:
    """The header and every non-blank row after it, each with its number in the spreadsheet.

    Only data rows count toward MAX_ROWS: blank lines below the data (or ",,,," from a
    spreadsheet's CSV export, or formatted empty rows) do not make a short file too long.
    """
    table: list[tuple[int, list[str]]] = []
    for number, values in enumerate(rows, start=1):
        if number > 1 and not any(values):
            continue
        if len(table) > MAX_ROWS:  # the header and MAX_ROWS data rows are in already
            raise BatchFileError("too many rows", key="batch_too_many_rows", max=MAX_ROWS)
        table.append((number, values))
    return table


def _check_unpacked_size(data: bytes) -> None:
    """Refuse an .xlsx that unpacks far beyond the file limit before openpyxl reads any of it.

    The sizes are those the zip declares; zipfile stops each part at its declared size
    (a part that holds more then fails its CRC check), so they bound what is read.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except _DAMAGED_XLSX as err:
        raise BatchFileError(f"not an xlsx workbook: {err}", key="batch_unreadable") from err
    if unpacked > MAX_UNPACKED_BYTES:
        raise BatchFileError(
            f"xlsx unpacks to {unpacked} bytes",
            key="batch_too_large",
            max_kb=MAX_FILE_BYTES // 1024,
        )


def _xlsx_rows(sheet: Any) -> Iterator[list[str]]:
    for values in sheet.iter_rows(max_col=MAX_COLUMNS, max_row=MAX_SHEET_ROWS, values_only=True):
        # Most rows of a sheet can be empty (missing or formatted below the data): they
        # skip the work per cell.
        if values.count(None) == len(values):
            yield []
        else:
            yield [_cell(v) for v in values]


def _read_xlsx(data: bytes) -> list[tuple[int, list[str]]]:
    _check_unpacked_size(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            # Read-only mode trusts the sheet's own <dimension> record, and some exporters
            # write "A1" there: openpyxl would then read nothing but that cell. (The bounds
            # _xlsx_rows gives iter_rows take the record's place.)
            sheet.reset_dimensions()
            # The rows are parsed while they are iterated, so damage inside the sheet
            # shows here rather than in load_workbook.
            return _numbered(_xlsx_rows(sheet))
        finally:
            book.close()
    except _DAMAGED_XLSX as err:
        raise BatchFileError(f"damaged xlsx workbook: {err}", key="batch_unreadable") from err


def _read_csv(data: bytes) -> list[tuple[int, list[str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BatchFileError("CSV is not UTF-8", key="batch_unreadable") from err
    try:
        return _numbered([v.strip() for v in values] for values in csv.reader(io.StringIO(text)))
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
    header = [h.strip().lower() for h in table[0][1]]
    missing = [name for name in FIELD_NAMES if name not in header]
    if missing:
        raise BatchFileError(
            f"header lacks {missing}", key="batch_bad_header", columns=", ".join(missing)
        )
    index = {name: header.index(name) for name in FIELD_NAMES}
    out: list[BatchRow] = []
    for number, values in table[1:]:
        record = {n: values[i] if i < len(values) else "" for n, i in index.items()}
        items, errors = validate_cargo(record, now)
        out.append(BatchRow(number, items, errors))
    if not out:
        raise BatchFileError("no data rows", key="batch_empty")
    return out


def _write_new(folder: Path, suffix: str, data: bytes) -> Path:
    """Write ``data`` under the first free template name; a file already there is kept.

    Each name is created exclusively (mode "x"), so a file that appears between looking
    and writing is not overwritten either.
    """
    for number in range(1, MAX_TEMPLATE_COPIES + 1):
        name = TEMPLATE_NAME if number == 1 else f"{TEMPLATE_NAME} ({number})"
        path = folder / f"{name}{suffix}"
        try:
            handle = path.open("xb")
        except FileExistsError:
            continue
        try:
            with handle:
                handle.write(data)
        except OSError:
            path.unlink(missing_ok=True)  # ours, half written: not left for a shipper to pick
            raise
        return path
    raise FileExistsError(f"{MAX_TEMPLATE_COPIES} template copies in {folder} already")


def write_template(folder: Path) -> list[Path]:
    """A blank template, as .xlsx and .csv, in ``folder`` (the shipper's USB stick).

    A file of the same name (perhaps the shipper's filled-in template) is kept: the new one
    is then "rocars_cargo_template (2).xlsx" and so on. Returns the files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new Workbook always has one sheet
    sheet.title = "cargo"
    sheet.append(list(FIELD_NAMES))
    for column in sheet.iter_cols(min_row=1, max_row=1):
        for cell in column:
            sheet.column_dimensions[cell.column_letter].width = max(14, len(str(cell.value)) + 2)
    xlsx = io.BytesIO()
    book.save(xlsx)
    text = io.StringIO(newline="")
    csv.writer(text).writerow(FIELD_NAMES)
    written = [
        _write_new(folder, ".xlsx", xlsx.getvalue()),
        _write_new(folder, ".csv", text.getvalue().encode("utf-8")),
    ]
    logger.info("wrote the blank batch template to %s", folder)
    return written

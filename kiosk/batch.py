"""Batch upload of cargo data from a template file on removable media (xlsx or CSV).

A file is read whole before anything is sent: an unreadable, oversized or wrongly laid
out file is refused as a whole (``batch_*`` keys) and nothing is submitted. A readable
file is checked row by row; rows with errors are listed (row, field, key) and the valid
rows are submitted. What became of each row is written back beside the file
(``write_results``).

An .xlsx is counted before openpyxl reads it (``_XlsxCensus``): openpyxl builds objects
per XML element (a whole row's cells, every shared string, every style record), so a
file within the byte bounds could take a gigabyte and a minute. The counts are bounded
by what a batch of MAX_ROWS rows can need.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat

from openpyxl import Workbook, load_workbook

from kiosk.cargo import FIELD_NAMES, FieldError, items_digest, validate_cargo, window_errors
from kiosk.media import files_on_sticks, read_regular, stick_roots, write_new
from kiosk.session import KioskError
from rocars.models import CargoItems
from rocars.timeutil import in_hk

logger = logging.getLogger(__name__)

BATCH_SUFFIXES = (".xlsx", ".csv")
#: Batch files listed for the shipper to choose from.
MAX_LISTED = 50
MAX_FILE_BYTES = 1024 * 1024
# An .xlsx is a zip and openpyxl parses it unpacked: a 70 KB file can hold a 64 MB cell.
# Ordinary sheets compress well under 16 to 1, so every such file within MAX_FILE_BYTES
# still fits. Within this bound alone a file of tiny XML elements still took openpyxl
# up to a minute and 2 GB (3 million style records; one row of 1.6 million empty
# formatted cells: 5 s and 1 GB): the counts below bound what it builds.
MAX_UNPACKED_BYTES = 16 * MAX_FILE_BYTES
MAX_ROWS = 200
# Columns read from each xlsx row: the template's columns may stand after many of the
# shipper's own, as in a CSV; cells further right are dropped as the row is read.
MAX_COLUMNS = 256
# Excel's last row. openpyxl fills a gap in the row numbers with empty rows, so a damaged
# or hand-made row number such as 10**12 would otherwise keep it busy for hours. Rows
# numbered past it are not read at all.
MAX_SHEET_ROWS = 1_048_576
# What openpyxl is given to read of an .xlsx, counted first (``_XlsxCensus``); a file
# past any of these is refused before openpyxl builds anything (``batch_too_complex``: it
# may be a few KB, so "too large", with the byte limit, would mislead). Each leaves room
# for the fullest batch: MAX_ROWS rows of MAX_COLUMNS cells, every cell a text of its own
# (about 206 000 elements, 50 000 strings), formatted rows below them, a styled workbook
# (a few hundred records). A file at all of these bounds at once takes about 1.2 s and
# 9 MB to read, as long as such a full batch does.
#: Rows a sheet may span, blank ones included: data below this row is refused (too many
#: rows), formatted empty rows below it are not read.
MAX_READ_ROWS = 50 * MAX_ROWS
#: Cells in one row (openpyxl builds a row whole, also its cells past MAX_COLUMNS), XML
#: elements in one row (a cell holds one to three: value, formula, text), and cells in
#: all the sheets.
MAX_ROW_CELLS = 4 * MAX_COLUMNS
MAX_ROW_ELEMENTS = 4 * MAX_ROW_CELLS
MAX_SHEET_CELLS = 2 * (MAX_ROWS + 1) * MAX_COLUMNS
#: Entries of the shared string table (Excel keeps each distinct text once): one for
#: every cell of the header and MAX_ROWS rows, MAX_COLUMNS wide.
MAX_SHARED_STRINGS = (MAX_ROWS + 1) * MAX_COLUMNS
#: XML elements outside the rows and the plain strings of the string table (styles, the
#: workbook, its relationships, the sheets' other records, formatted runs of text),
#: which openpyxl builds whole, as objects of its own.
MAX_OTHER_ELEMENTS = 10_000
#: XML elements in all, and parts in the zip.
MAX_XML_ELEMENTS = 250_000
MAX_PARTS = 1000
#: Nesting and attributes of one element, and the bytes of one tag (spreadsheet XML
#: nests about 10 deep, with under 40 attributes to an element).
MAX_DEPTH = 100
MAX_ATTRIBUTES = 200
MAX_TAG_BYTES = 256 * 1024
TEMPLATE_NAME = "rocars_cargo_template"
# "rocars_cargo_template (2).csv" and on: past this many copies the stick is treated as
# not writable rather than searched on.
MAX_TEMPLATE_COPIES = 100
#: What a batch's results are saved as beside its file (``write_results``), in Hong Kong
#: time: ``shipments-results-20261121-143000.csv``. Such files are not listed as batch
#: files: they hold no cargo rows.
RESULTS_SUFFIX = "-results-%Y%m%d-%H%M%S"
RESULTS_COLUMNS = ("row", "ccrn", "status", "why")
_RESULTS_NAME = re.compile(r"-results-\d{8}-\d{6}(?: \(\d+\))?\.csv$", re.IGNORECASE)

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
    """One data row: ``row`` is the row number a person sees in the spreadsheet (header is 1).

    ``place`` is the row's place in the file whatever its number, for its Idempotency-Key
    (``kiosk.flows``): the file's tag (``read_batch``: which file of the session), its
    items' digest and how many rows of the same items came before it (``f1.b0-<digest>``,
    ``f1.b1-<digest>``...). A row deleted or inserted above it leaves it the same; the
    same items in another file are another consignment. Empty for a row whose items are
    not valid.
    """

    row: int
    items: CargoItems | None
    errors: list[FieldError] = field(default_factory=list)
    place: str = ""


def list_batch_files(media: Path) -> list[Path]:
    """The .xlsx and .csv files at the root of the USB sticks under ``media``
    (``kiosk.media.stick_roots``): regular files only, no links, not the results the kiosk
    wrote there (``write_results``); at most MAX_LISTED."""
    results = _RESULTS_NAME.search
    return files_on_sticks(
        media, BATCH_SUFFIXES, depth=0, limit=MAX_LISTED, skip=lambda n: bool(results(n))
    )


def template_folder(media: Path) -> Path | None:
    """Where the blank template goes: the (first) USB stick's root; None without a stick."""
    roots = stick_roots(media)
    return roots[0] if roots else None


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
    A row is blank when the template's columns are: text in a column of the shipper's own
    (ignored, as the whole column is) does not make it a row of nine missing items.
    """
    table: list[tuple[int, list[str]]] = []
    columns: list[int] = []
    for number, values in enumerate(rows, start=1):
        if number == 1:
            header = [h.strip().lower() for h in values]
            columns = [header.index(name) for name in FIELD_NAMES if name in header]
        elif not any(values[i] for i in columns if i < len(values)):
            continue
        if len(table) > MAX_ROWS:  # the header and MAX_ROWS data rows are in already
            raise BatchFileError("too many rows", key="batch_too_many_rows", max=MAX_ROWS)
        table.append((number, values))
    return table


def _too_large(what: str) -> BatchFileError:
    """More bytes than a batch file may hold (on the stick, or unpacked)."""
    return BatchFileError(what, key="batch_too_large", max_kb=MAX_FILE_BYTES // 1024)


def _too_complex(what: str) -> BatchFileError:
    """More XML than a batch of MAX_ROWS rows can need, in a file within the byte bounds:
    not "too large" (its size is fine), and what to do is different (kiosk.qt_text)."""
    return BatchFileError(f"xlsx {what}", key="batch_too_complex", max=MAX_ROWS)


# Element names as expat gives them with namespace_separator=" ", in the namespace openpyxl
# reads (it reads a row, a string table by these names only).
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main "
_ROW, _SST, _SI = (_MAIN + local for local in ("row", "sst", "si"))
# What a plain shared string holds: its text, and the phonetic settings Japanese Excel
# writes to every string typed with an IME.
_PLAIN = frozenset(_MAIN + local for local in ("t", "phoneticPr"))
# What reading one part may raise when the part itself cannot be read: not XML (a
# picture), damaged, compressed in a way zipfile does not do, encrypted. openpyxl cannot
# read it either, and fails on it if it needs it.
_UNREADABLE_PART: tuple[type[Exception], ...] = (
    expat.ExpatError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    OSError,
)


class _XlsxCensus:
    """Counts the XML elements of every part of an .xlsx, streaming, in constant memory.

    It stops at the first bound passed, before openpyxl reads anything. Every part is
    counted, whatever its name: the content types and relationships decide which parts
    openpyxl reads and what it takes them for. The counting mirrors how openpyxl reads
    a sheet: any ``row`` element is a row, numbered by its ``r`` or as the one after the
    last, each element directly in it a cell, and openpyxl builds one row's elements
    at a time.
    """

    def __init__(self) -> None:
        self.elements = 0
        self.other = 0
        self.strings = 0
        self.cells = 0
        #: part name -> the first row past MAX_READ_ROWS with data in it: openpyxl is not
        #: asked to read it. Only the first sheet's matter (``_read_xlsx``): a workbook's
        #: other sheets (a price list, notes) are never read
        self.data_past: dict[str, int] = {}
        #: part name -> the first row numbered no higher than the one before it: openpyxl
        #: drops such a row without a word (found in review: a hand-made export's row
        #: neither sent, listed nor written to the results)
        self.rows_back: dict[str, int] = {}
        self.part = ""
        self._reset_part()

    def _reset_part(self) -> None:
        self.depth = 0
        self.in_strings = False  # in a shared string table
        self.row_depth = 0  # depth of the row being read; 0 outside one
        self.row = 0
        self.row_cells = 0
        self.row_elements = 0
        self.row_unread = False  # a row openpyxl stops before: it must hold no data

    def count(self, source: IO[bytes], part: str = "") -> None:
        """Count one part; BatchFileError at a bound, ``_UNREADABLE_PART`` where it breaks."""
        self._reset_part()
        self.part = part
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.ordered_attributes = True  # a flat list: cheaper than a dict
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.StartDoctypeDeclHandler = self._doctype
        fed = 0
        while chunk := source.read(64 * 1024):
            parser.Parse(chunk, False)
            fed += len(chunk)
            # Expat holds a tag until it is whole, then hands over all its attributes at
            # once: one tag of megabytes would be a list of a million strings.
            if fed - parser.CurrentByteIndex > MAX_TAG_BYTES:
                raise _too_complex(f"has an XML tag over {MAX_TAG_BYTES} bytes")
        parser.Parse(b"", True)

    def _doctype(self, *_args: object) -> None:
        # A part of an Office document has no DTD (ECMA-376 Part 2); one that does could
        # define entities that multiply the text openpyxl builds.
        raise BatchFileError("xlsx part with a DTD", key="batch_unreadable")

    def _start(self, name: str, attributes: list[str]) -> None:
        depth = self.depth = self.depth + 1
        self.elements += 1
        if self.elements > MAX_XML_ELEMENTS:
            raise _too_complex(f"has over {MAX_XML_ELEMENTS} XML elements")
        if depth > MAX_DEPTH or len(attributes) > 2 * MAX_ATTRIBUTES:
            raise _too_complex("has an XML element nested too deep or with too many attributes")
        if name == _ROW:
            previous, self.row = self.row, _row_number(attributes, self.row)
            if 0 < self.row <= previous:
                self.rows_back.setdefault(self.part, self.row)
            self.row_depth = depth
            self.row_cells = self.row_elements = 0
            self.row_unread = MAX_READ_ROWS < self.row <= MAX_SHEET_ROWS
        elif self.row_depth:  # most elements: cells and what they hold
            self.row_elements += 1
            if self.row_elements > MAX_ROW_ELEMENTS:
                raise _too_complex(f"row {self.row} has over {MAX_ROW_ELEMENTS} XML elements")
            if depth == self.row_depth + 1:
                self.cells += 1
                self.row_cells += 1
                if self.row_cells > MAX_ROW_CELLS:
                    raise _too_complex(f"row {self.row} has over {MAX_ROW_CELLS} cells")
                if self.cells > MAX_SHEET_CELLS:
                    raise _too_complex(f"has over {MAX_SHEET_CELLS} cells")
            elif self.row_unread:
                # a value, formula or text in a row openpyxl is not asked to read
                self.data_past.setdefault(self.part, self.row)
        elif depth == 1:
            self.in_strings = name == _SST
        elif self.in_strings and ((depth == 2 and name == _SI) or (depth == 3 and name in _PLAIN)):
            # a plain string (formatted runs of text count as records, below)
            if depth == 2:
                self.strings += 1
                if self.strings > MAX_SHARED_STRINGS:
                    raise _too_complex(f"has over {MAX_SHARED_STRINGS} shared strings")
        else:
            self.other += 1
            if self.other > MAX_OTHER_ELEMENTS:
                raise _too_complex(f"has over {MAX_OTHER_ELEMENTS} XML records besides its cells")

    def _end(self, _name: str) -> None:
        if self.depth == self.row_depth:
            self.row_depth = 0
        self.depth -= 1


def _row_number(attributes: list[str], previous: int) -> int:
    """A row's number as openpyxl takes it: its ``r``, else the one after the last."""
    for index in range(0, len(attributes) - 1, 2):
        if attributes[index] == "r":
            try:
                return int(float(attributes[index + 1]))
            except (ValueError, OverflowError):
                return 0  # openpyxl refuses the sheet when it comes to this row
    return previous + 1


def _check_xlsx(data: bytes) -> _XlsxCensus:
    """Refuse an .xlsx that unpacks far beyond the file limit, or that openpyxl would build
    far more of than a batch needs, before openpyxl reads any of it.

    The unpacked sizes are those the zip declares; zipfile stops each part at its declared
    size (a part that holds more then fails its CRC check), so they bound what is read.
    """
    census = _XlsxCensus()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            unpacked = sum(info.file_size for info in infos)
            if unpacked > MAX_UNPACKED_BYTES:
                raise _too_large(f"xlsx unpacks to {unpacked} bytes")
            parts = [info for info in infos if not info.is_dir()]
            if len(parts) > MAX_PARTS:
                raise _too_complex(f"has {len(parts)} parts")
            for info in parts:
                try:
                    with archive.open(info) as source:
                        census.count(source, info.filename)
                except _UNREADABLE_PART:
                    continue  # counted up to where it breaks: openpyxl gets no further
    except _DAMAGED_XLSX as err:
        raise BatchFileError(f"not an xlsx workbook: {err}", key="batch_unreadable") from err
    return census


def _xlsx_rows(sheet: Any) -> Iterator[list[str]]:
    last_row = min(MAX_READ_ROWS, MAX_SHEET_ROWS)
    for values in sheet.iter_rows(max_col=MAX_COLUMNS, max_row=last_row, values_only=True):
        # Most rows of a sheet can be empty (missing or formatted below the data): they
        # skip the work per cell.
        if values.count(None) == len(values):
            yield []
        else:
            yield [_cell(v) for v in values]


def _read_xlsx(data: bytes) -> list[tuple[int, list[str]]]:
    census = _check_xlsx(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
        try:
            sheet = book.worksheets[0]
            # data below the rows read, in the sheet read: too many rows. The part is the
            # one openpyxl opens for it (its private name for it; without one, any part
            # with such data counts, as before 2026-12-07, when a second sheet's long
            # list refused the batch as too many rows)
            path = getattr(sheet, "_worksheet_path", None)
            past = census.data_past.get(path) if isinstance(path, str) else None
            if past is None and not isinstance(path, str) and census.data_past:
                past = min(census.data_past.values())
            if past is not None:
                raise BatchFileError(
                    f"xlsx has data in row {past}", key="batch_too_many_rows", max=MAX_ROWS
                )
            back = census.rows_back.get(path) if isinstance(path, str) else None
            if back is None and not isinstance(path, str) and census.rows_back:
                back = min(census.rows_back.values())
            if back is not None:
                raise BatchFileError(
                    f"xlsx numbers row {back} again, or after a later one: openpyxl would drop it",
                    key="batch_unreadable",
                )
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
    """The rows of a UTF-8 CSV (with or without Excel's byte order mark), its lines ended
    in any way (CR LF, LF, or CR alone as old Mac exports do).

    Read strictly: a quote left open would otherwise take the rest of the file into one
    field, and the rows after it would be neither sent nor listed. Such a file is refused
    naming the line the broken row starts on.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        # Excel's plain "CSV" is the PC's own code page (Big5 in Hong Kong)
        raise BatchFileError("CSV is not UTF-8", key="batch_csv_not_utf8") from err
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1

    def records() -> Iterator[list[str]]:
        nonlocal line
        while True:
            line = reader.line_num + 1  # where the next row starts
            try:
                values = next(reader)
            except StopIteration:
                return
            yield [v.strip() for v in values]

    try:
        return _numbered(records())
    except csv.Error as err:
        raise BatchFileError(
            f"bad CSV in the row from line {line}: {err}", key="batch_csv_bad_line", line=line
        ) from err


def read_batch(
    path: Path,
    now: datetime,
    first_sent: Mapping[str, datetime] | None = None,
    *,
    tag: str = "",
) -> list[BatchRow]:
    """Every data row of ``path`` with its items or its errors; BatchFileError for the file.

    A row's expected date is checked against the window as of ``now``, or, for a row sent
    before (``first_sent``, by ``BatchRow.place``), as of when it was first sent: chosen
    again after midnight, a row dated that day is sent again with its key and the centre
    answers the CCRN it made, instead of being refused here (``kiosk.flows``).
    """
    try:
        # a regular file, not a link (it may point anywhere) nor a FIFO (it would wait for a
        # writer), read no further than the bound (a /proc file says it is 0 bytes long)
        data = read_regular(path, MAX_FILE_BYTES)
    except OSError as err:
        raise BatchFileError(f"cannot read {path.name}: {err}", key="batch_unreadable") from err
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(f"{path.name} is over {MAX_FILE_BYTES} bytes")
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
    twice = [name for name in FIELD_NAMES if header.count(name) > 1]
    if twice:
        # which of the two is the item? A row with text only in the second was skipped
        # as blank; refused, the shipper keeps one
        raise BatchFileError(
            f"header names {twice} twice", key="batch_duplicate_header", columns=", ".join(twice)
        )
    index = {name: header.index(name) for name in FIELD_NAMES}
    sent = first_sent or {}
    before: Counter[str] = Counter()  # rows of the same items so far
    out: list[BatchRow] = []
    for number, values in table[1:]:
        record = {n: values[i] if i < len(values) else "" for n, i in index.items()}
        items, errors = validate_cargo(record, None)
        if items is None:
            out.append(BatchRow(number, None, errors))
            continue
        digest = items_digest(items)
        place = f"{tag}b{before[digest]}-{digest[:20]}"
        before[digest] += 1
        late = window_errors(items, sent.get(place, now))
        out.append(BatchRow(number, None if late else items, late, place))
    if not out:
        raise BatchFileError("no data rows", key="batch_empty")
    return out


def _write_new(folder: Path, suffix: str, data: bytes) -> Path:
    """Write ``data`` under the first free template name; a file already there is kept."""
    return write_new(folder, TEMPLATE_NAME, suffix, data, copies=MAX_TEMPLATE_COPIES)


def _csv_bytes(rows: Iterable[Sequence[object]]) -> bytes:
    """CSV as Excel opens it as UTF-8 (its byte order mark; without, Excel takes the PC's
    code page and shows Chinese as garbage, and saves it so)."""
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return text.getvalue().encode("utf-8-sig")


def write_results(path: Path, rows: Iterable[Sequence[object]], at: datetime) -> Path:
    """A batch's results beside its file: ``NAME-results-YYYYMMDD-HHMMSS.csv`` (Hong Kong
    time ``at``), one line per row (``RESULTS_COLUMNS``: row, CCRN, status, why).

    The screen's list is gone when the session ends; on the stick the shipper keeps the
    CCRNs (and does not choose the file again in a new session, which would be new
    cargo). Never over a file or through a link (``kiosk.media.write_new``); OSError when
    the stick cannot be written.
    """
    name = path.stem + in_hk(at).strftime(RESULTS_SUFFIX)
    data = _csv_bytes([RESULTS_COLUMNS, *rows])
    written = write_new(path.parent, name, ".csv", data, copies=MAX_TEMPLATE_COPIES)
    logger.info("wrote the results of %s to %s", path.name, written)
    return written


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
    written = [
        _write_new(folder, ".xlsx", xlsx.getvalue()),
        _write_new(folder, ".csv", _csv_bytes([FIELD_NAMES])),
    ]
    logger.info("wrote the blank batch template to %s", folder)
    return written

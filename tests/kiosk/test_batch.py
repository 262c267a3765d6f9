"""Batch files: read whole, refused whole when unusable, checked row by row otherwise."""

from __future__ import annotations

import csv
import errno
import io
import os
import random
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from openpyxl import Workbook

from kiosk import batch
from kiosk.api import KioskClient
from kiosk.batch import (
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    MAX_UNPACKED_BYTES,
    TEMPLATE_NAME,
    BatchFileError,
    list_batch_files,
    read_batch,
    write_results,
    write_template,
)
from kiosk.cargo import FIELD_NAMES
from kiosk.flows import MEDIA_HOLD_S, Call, Kiosk, Screen, run_work
from rocars.models import CargoItems
from tests.kiosk.batch_files import write_formatted_xlsx
from tests.kiosk.conftest import held_kiosk

NOW = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
ROW = ["3", "PALLETS", "PORK", "A", "B", "C", "D", "2026-11-23", "import", "", "", "", ""]


def test_xlsx_with_real_dates_and_blank_lines(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(FIELD_NAMES))
    sheet.append([3, "PALLETS", "PORK", "A", "B", "C", "D", datetime(2026, 11, 23), "export"])
    sheet.append([])
    sheet.append([3.0, "PALLETS", "PORK", "", "B", "C", "D", "2026-11-23", "import"])
    book.save(tmp_path / "b.xlsx")
    rows = read_batch(tmp_path / "b.xlsx", NOW)
    assert [r.row for r in rows] == [2, 4]
    assert rows[0].items is not None
    assert rows[0].items.direction == "export"
    assert rows[1].items is None
    assert rows[1].errors[0].field == "consignor_name"


def test_columns_in_any_order_and_extra_columns(tmp_path: Path) -> None:
    header = ["notes", *reversed(FIELD_NAMES)]
    (tmp_path / "r.csv").write_text(
        ",".join(header) + "\n" + ",".join(["x", *reversed(ROW)]) + "\n", encoding="utf-8"
    )
    rows = read_batch(tmp_path / "r.csv", NOW)
    assert rows[0].items is not None
    assert rows[0].items.packages == 3


@pytest.mark.parametrize(
    ("name", "data", "key"),
    [
        ("a.csv", b"\xff\xfe\x00bad", "batch_csv_not_utf8"),
        ("a.xlsx", b"not a zip", "batch_unreadable"),
        ("a.txt", b"packages\n", "batch_unreadable"),
        ("a.csv", b"", "batch_empty"),
        ("a.csv", ",".join(FIELD_NAMES).encode() + b"\n\n\n", "batch_empty"),
        ("a.csv", b"packages,vrn\n1,KX1\n", "batch_bad_header"),
        (  # which packages is the item? A row with text only in the second was skipped
            "a.csv",
            (",".join([*FIELD_NAMES, "packages"]) + "\n" + ",".join(["", *ROW[1:], "3"])).encode(),
            "batch_duplicate_header",
        ),
        (
            "a.csv",
            (",".join(FIELD_NAMES) + "\n" + (",".join(ROW) + "\n") * (MAX_ROWS + 1)).encode(),
            "batch_too_many_rows",
        ),
    ],
)
def test_unusable_files_are_refused_whole(tmp_path: Path, name: str, data: bytes, key: str) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / name, NOW)
    assert refused.value.key == key


def test_template_lists_and_reads_back_empty(tmp_path: Path) -> None:
    written = write_template(tmp_path / "usb")
    assert [p.name for p in list_batch_files(tmp_path / "usb")] == sorted(p.name for p in written)
    for path in written:
        with pytest.raises(BatchFileError) as empty:
            read_batch(path, NOW)
        assert empty.value.key == "batch_empty"
    assert list_batch_files(tmp_path / "missing") == []


def _xlsx(*rows: Sequence[object]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rezip(data: bytes, change: Callable[[str, bytes], bytes | None]) -> bytes:
    """``data`` with each part replaced by ``change(name, part)``; None leaves the part out."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for name in src.namelist():
            part = change(name, src.read(name))
            if part is not None:
                dst.writestr(name, part)
    return out.getvalue()


def _in_sheet(old: bytes, new: bytes) -> Callable[[str, bytes], bytes | None]:
    return lambda name, part: part.replace(old, new) if name.endswith("sheet1.xml") else part


GOOD_XLSX = _xlsx(list(FIELD_NAMES), [3, "PALLETS", "PORK", "A", "B", "C", "D", "2026-11-23"])
DAMAGED_XLSX: dict[str, Callable[[str, bytes], bytes | None]] = {
    # a stick pulled out before the file was flushed, or a file from another tool
    "sheet_cut_short": lambda n, p: p[: len(p) // 2] if n.endswith("sheet1.xml") else p,
    "workbook_cut_short": lambda n, p: p[: len(p) // 2] if n == "xl/workbook.xml" else p,
    "sheet_missing": lambda n, p: None if n.endswith("sheet1.xml") else p,
    "number_cell_not_a_number": _in_sheet(b"<v>3</v>", b"<v>abc</v>"),
    "row_number_not_a_number": _in_sheet(b'<row r="2"', b'<row r="two"'),
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_XLSX))
def test_damaged_xlsx_is_unreadable(tmp_path: Path, damage: str) -> None:
    """Damage found while the rows are read is refused like damage found on opening."""
    (tmp_path / "d.xlsx").write_bytes(_rezip(GOOD_XLSX, DAMAGED_XLSX[damage]))
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / "d.xlsx", NOW)
    assert refused.value.key == "batch_unreadable"


def test_shipper_is_told_a_damaged_xlsx_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "d.xlsx").write_bytes(_rezip(GOOD_XLSX, DAMAGED_XLSX["sheet_cut_short"]))
    model = Kiosk(KioskClient("http://127.0.0.1:9"), media=tmp_path, clock=lambda: NOW)
    model.start_shipper()
    model.batch_start()
    model.batch_upload(tmp_path / "d.xlsx")  # nothing is sent: refused before any call
    assert model.notice is not None
    assert model.notice.key == "batch_unreadable"


def test_xlsx_template_columns_after_many_of_the_shippers_own(tmp_path: Path) -> None:
    """The same sheet as .xlsx and as .csv reads the same, wherever the template's columns are."""
    own = [f"our_ref_{i}" for i in range(20)]
    header, row = [*own, *FIELD_NAMES], [*(["x"] * len(own)), *ROW]
    (tmp_path / "o.xlsx").write_bytes(_xlsx(header, row))
    (tmp_path / "o.csv").write_text(f"{','.join(header)}\n{','.join(row)}\n", encoding="utf-8")
    from_xlsx = read_batch(tmp_path / "o.xlsx", NOW)
    assert from_xlsx[0].items is not None
    assert from_xlsx == read_batch(tmp_path / "o.csv", NOW)


def test_xlsx_whose_dimension_record_says_a1(tmp_path: Path) -> None:
    """Some exporters write <dimension ref="A1"/> whatever the sheet holds."""
    wrong = _rezip(
        _xlsx(list(FIELD_NAMES), ROW),
        lambda name, part: (
            re.sub(rb'<dimension ref="[^"]*" */>', b'<dimension ref="A1"/>', part)
            if name.endswith("sheet1.xml")
            else part
        ),
    )
    assert b'<dimension ref="A1"/>' in zipfile.ZipFile(io.BytesIO(wrong)).read(
        "xl/worksheets/sheet1.xml"
    )
    (tmp_path / "w.xlsx").write_bytes(wrong)
    rows = read_batch(tmp_path / "w.xlsx", NOW)
    assert [r.row for r in rows] == [2]
    assert rows[0].items is not None


@pytest.mark.parametrize("blank", ["", ",,,,,,,,,,,,", " , ,"])
def test_blank_csv_lines_do_not_count_toward_the_row_limit(tmp_path: Path, blank: str) -> None:
    """MAX_ROWS data rows, each followed by blank lines, are fine; one more data row is not."""
    lines = [",".join(FIELD_NAMES)]
    for _ in range(MAX_ROWS):
        lines += [",".join(ROW), blank, blank]
    (tmp_path / "b.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = read_batch(tmp_path / "b.csv", NOW)
    assert [r.row for r in rows] == list(range(2, 3 * MAX_ROWS + 2, 3))  # as in the sheet
    assert all(r.items is not None for r in rows)
    (tmp_path / "b.csv").write_text("\n".join([*lines, ",".join(ROW)]) + "\n", encoding="utf-8")
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / "b.csv", NOW)
    assert refused.value.key == "batch_too_many_rows"


def test_formatted_empty_xlsx_rows_do_not_count_toward_the_row_limit(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(FIELD_NAMES))
    for _ in range(5):
        sheet.append(ROW)
    for number in range(7, 400):  # formatted below the data, or contents deleted
        sheet.cell(row=number, column=2).number_format = "@"
    sheet.append(ROW)  # row 400
    book.save(tmp_path / "f.xlsx")
    rows = read_batch(tmp_path / "f.xlsx", NOW)
    assert [r.row for r in rows] == [2, 3, 4, 5, 6, 400]


def test_xlsx_rows_past_the_last_sheet_row_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row numbered 10**12 would have openpyxl make every empty row before it."""
    monkeypatch.setattr(batch, "MAX_SHEET_ROWS", 1000)  # Excel's 1048576 takes a second
    far = _rezip(
        _xlsx(list(FIELD_NAMES), ROW, ROW), _in_sheet(b'<row r="3"', b'<row r="1000000000000"')
    )
    (tmp_path / "far.xlsx").write_bytes(far)
    assert [r.row for r in read_batch(tmp_path / "far.xlsx", NOW)] == [2]


def _renumbered(old: int, new: int) -> Callable[[str, bytes], bytes | None]:
    """Sheet row ``old`` numbered ``new``, its cells too (as a careless exporter would)."""

    def change(name: str, part: bytes) -> bytes:
        if not name.endswith("sheet1.xml"):
            return part
        part = part.replace(f'<row r="{old}"'.encode(), f'<row r="{new}"'.encode())
        return re.sub(rf'r="([A-Z]+){old}"'.encode(), rf'r="\g<1>{new}"'.encode(), part)

    return change


@pytest.mark.parametrize(("old", "new"), [(4, 3), (4, 2)])
def test_xlsx_that_numbers_a_row_again_or_backwards_is_refused(
    tmp_path: Path, old: int, new: int
) -> None:
    """openpyxl drops a row numbered no higher than the one before it without a word:
    neither sent, listed nor written to the results (found in review). Refused whole,
    before anything is sent."""
    made = _xlsx(list(FIELD_NAMES), ROW, ROW, ROW)
    (tmp_path / "ok.xlsx").write_bytes(made)
    assert [r.row for r in read_batch(tmp_path / "ok.xlsx", NOW)] == [2, 3, 4]
    (tmp_path / "r.xlsx").write_bytes(_rezip(made, _renumbered(old, new)))
    with pytest.raises(BatchFileError, match=f"numbers row {new} again") as info:
        read_batch(tmp_path / "r.xlsx", NOW)
    assert info.value.key == "batch_unreadable"


def test_xlsx_that_unpacks_far_beyond_the_limit_is_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is on what openpyxl would parse, not on the zip: refused before it parses."""
    monkeypatch.setattr(batch, "MAX_UNPACKED_BYTES", 1024 * 1024)
    packed = _rezip(GOOD_XLSX, _in_sheet(b"PORK", b"A" * (2 * 1024 * 1024)))  # one 2 MiB cell
    assert len(packed) < MAX_FILE_BYTES // 10
    (tmp_path / "z.xlsx").write_bytes(packed)
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / "z.xlsx", NOW)
    assert refused.value.key == "batch_too_large"
    assert refused.value.params == {"max_kb": MAX_FILE_BYTES // 1024}


SHARED_STRINGS_TYPE = (
    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)
SHARED_STRINGS_REL = (
    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
)


def _excel_like(data: bytes, more_strings: bytes = b"") -> bytes:
    """``data`` (from openpyxl, which writes each text in its cell) with its texts in a
    shared string table, as Excel saves a sheet, and ``more_strings`` (``<si>`` items)
    at the end of the table."""
    strings: list[bytes] = []

    def shared(match: re.Match[bytes]) -> bytes:
        strings.append(b"<si>" + match.group(2) + b"</si>")
        return b'<c r="%s" t="s"><v>%d</v></c>' % (match.group(1), len(strings) - 1)

    def change(name: str, part: bytes) -> bytes:
        if name.endswith("sheet1.xml"):
            return re.sub(rb'<c r="(\w+)" t="inlineStr"><is>(.*?)</is></c>', shared, part)
        if name == "[Content_Types].xml":
            override = b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/>'
            return part.replace(b"</Types>", override % SHARED_STRINGS_TYPE + b"</Types>")
        if name == "xl/_rels/workbook.xml.rels":
            rel = b'<Relationship Id="rIdS" Type="%s" Target="sharedStrings.xml"/>'
            return part.replace(b"</Relationships>", rel % SHARED_STRINGS_REL + b"</Relationships>")
        return part

    out = io.BytesIO(_rezip(data, change))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        table = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        archive.writestr(
            "xl/sharedStrings.xml", table + b"".join(strings) + more_strings + b"</sst>"
        )
    return out.getvalue()


def _unpacked(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(info.file_size for info in archive.infolist())


def _in_part(suffix: str, old: bytes, new: bytes) -> Callable[[str, bytes], bytes | None]:
    return lambda name, part: part.replace(old, new, 1) if name.endswith(suffix) else part


def _extra_part(data: bytes, name: str, part: bytes) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, part)
    return out.getvalue()


# Files within the byte bounds (MAX_FILE_BYTES on the stick, MAX_UNPACKED_BYTES unpacked)
# that openpyxl would build far more of than a batch can need: objects per cell, per
# shared string, per style record, each an element of a few bytes. The full-size ones
# took 5 s and 1 GB (one row of cells) to 61 s and 2 GB (style records).
OVERBUILT_XLSX: dict[str, tuple[Callable[[], bytes], str]] = {
    "one_row_of_100000_cells": (
        lambda: _rezip(
            GOOD_XLSX,
            _in_sheet(b"</sheetData>", b"<row>" + b"<c/>" * 100_000 + b"</row></sheetData>"),
        ),
        "batch_too_complex",
    ),
    "150_rows_of_1000_cells": (
        lambda: _rezip(
            GOOD_XLSX,
            _in_sheet(
                b"</sheetData>",
                (b"<row>" + b'<c s="0"/>' * 1000 + b"</row>") * 150 + b"</sheetData>",
            ),
        ),
        "batch_too_complex",
    ),
    "60000_shared_strings": (
        lambda: _excel_like(GOOD_XLSX, b"<si><t>x</t></si>" * 60_000),
        "batch_too_complex",
    ),
    "a_text_in_20000_formatted_runs": (
        lambda: _excel_like(
            GOOD_XLSX, b"<si>" + b"<r><rPr><b/></rPr><t>x</t></r>" * 5000 + b"</si>"
        ),
        "batch_too_complex",
    ),
    "20000_cell_formats": (
        lambda: _rezip(
            GOOD_XLSX,
            _in_part(
                "styles.xml",
                b"</cellXfs>",
                b'<xf numFmtId="0" fontId="0"/>' * 20_000 + b"</cellXfs>",
            ),
        ),
        "batch_too_complex",
    ),
    "400000_empty_rows": (
        lambda: _rezip(
            GOOD_XLSX, _in_sheet(b"</sheetData>", b"<row/>" * 400_000 + b"</sheetData>")
        ),
        "batch_too_complex",
    ),
    "a_cell_of_40000_attributes": (
        lambda: _rezip(
            GOOD_XLSX,
            _in_sheet(
                b'<c r="A2"', b'<c r="A2"' + b"".join(b' a%d="1"' % i for i in range(40_000))
            ),
        ),
        "batch_too_complex",
    ),
    "elements_nested_200_deep": (
        lambda: _extra_part(GOOD_XLSX, "customXml/item1.xml", b"<a>" * 200 + b"</a>" * 200),
        "batch_too_complex",
    ),
    "a_dtd_with_an_entity": (
        lambda: _rezip(
            GOOD_XLSX,
            lambda name, part: (
                part.replace(
                    b"<worksheet", b'<!DOCTYPE worksheet [<!ENTITY p "PORK">]><worksheet', 1
                ).replace(b">PORK<", b">&p;<")
                if name.endswith("sheet1.xml")
                else part
            ),
        ),
        "batch_unreadable",
    ),
    # rows openpyxl is not asked to read (it would fill every empty row before them)
    "data_in_row_20000": (
        lambda: _rezip(
            GOOD_XLSX,
            _in_sheet(b"</sheetData>", b'<row r="20000"><c t="n"><v>3</v></c></row></sheetData>'),
        ),
        "batch_too_many_rows",
    ),
}


@pytest.mark.parametrize("shape", sorted(OVERBUILT_XLSX))
def test_xlsx_that_would_build_far_more_than_a_batch_needs_is_refused(
    tmp_path: Path, shape: str
) -> None:
    make, key = OVERBUILT_XLSX[shape]
    data = make()
    assert len(data) <= MAX_FILE_BYTES
    assert _unpacked(data) <= MAX_UNPACKED_BYTES  # within the byte bounds
    (tmp_path / "o.xlsx").write_bytes(data)
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / "o.xlsx", NOW)
    assert refused.value.key == key
    if key == "batch_too_complex":
        assert refused.value.params == {"max": MAX_ROWS}


def test_a_small_xlsx_past_a_count_bound_is_too_complex_not_too_large(tmp_path: Path) -> None:
    """A file of a few KB with a row formatted 2000 cells wide is not told "at most 1024 KB"
    (it is far less) but that it holds more than a batch of MAX_ROWS rows can need."""
    write_formatted_xlsx(tmp_path / "wide.xlsx", [ROW], width=2000)
    assert (tmp_path / "wide.xlsx").stat().st_size < 64 * 1024
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / "wide.xlsx", NOW)
    assert refused.value.key == "batch_too_complex"
    assert refused.value.params == {"max": MAX_ROWS}


def test_an_xlsx_over_the_byte_limit_is_still_too_large(tmp_path: Path) -> None:
    """The byte bounds keep their key and their number: on the stick, and unpacked."""
    noise = random.Random(7).randbytes(MAX_FILE_BYTES)  # does not compress
    big = _extra_part(GOOD_XLSX, "xl/media/image1.bin", noise)  # a photo in the sheet
    assert len(big) > MAX_FILE_BYTES
    (tmp_path / "big.xlsx").write_bytes(big)
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / "big.xlsx", NOW)
    assert refused.value.key == "batch_too_large"
    assert refused.value.params == {"max_kb": MAX_FILE_BYTES // 1024}


_MEASURE = """
import sys, tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from kiosk.batch import BatchFileError, read_batch
tracemalloc.start()
try:
    read_batch(Path(sys.argv[1]), datetime(2026, 11, 21, 20, 0, tzinfo=UTC))
    key = "read"
except BatchFileError as err:
    key = err.key
print(key, tracemalloc.get_traced_memory()[1])
"""


def test_the_costliest_xlsx_within_the_byte_bounds_is_refused_in_little_memory(
    tmp_path: Path,
) -> None:
    """One row of 1.6 million formatted empty cells, 16 MiB unpacked: openpyxl built it
    whole (880 MiB traced, 1 GB resident, 5 s). Measured in a process of its own."""
    cell = b'<c s="1"/>'
    count = (MAX_UNPACKED_BYTES - _unpacked(GOOD_XLSX) - 100) // len(cell)
    data = _rezip(
        GOOD_XLSX, _in_sheet(b"</sheetData>", b"<row>" + cell * count + b"</row></sheetData>")
    )
    assert count > 1_600_000
    assert len(data) <= MAX_FILE_BYTES
    assert _unpacked(data) <= MAX_UNPACKED_BYTES
    (tmp_path / "wide.xlsx").write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(tmp_path / "wide.xlsx")],
        capture_output=True,
        text=True,
        timeout=100,
        check=True,
    )
    key, peak = done.stdout.split()
    assert key == "batch_too_complex"
    assert int(peak) < 16 * 1024 * 1024, f"{int(peak) / 2**20:.0f} MiB at the peak"


def test_a_full_batch_at_every_bound_is_read(tmp_path: Path) -> None:
    """The bounds leave room for a real batch: MAX_ROWS rows with the template's columns
    after the shipper's own, up to MAX_COLUMNS, every cell a text of its own (as Excel
    saves it: one shared string each), real dates, and formatted empty rows below."""
    own = [f"our_ref_{i}" for i in range(MAX_COLUMNS - len(FIELD_NAMES))]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([*own, *FIELD_NAMES])
    for number in range(MAX_ROWS):
        mine = [f"{number}/{i}" for i in range(len(own))]
        items = [3, f"PALLETS {number}", "PORK", "A", "B", "C", "D", datetime(2026, 11, 23)]
        sheet.append([*mine, *items, "import"])
    for number in range(MAX_ROWS + 2, MAX_ROWS + 2000):
        sheet.cell(row=number, column=3).number_format = "@"
    out = io.BytesIO()
    book.save(out)
    data = _excel_like(out.getvalue())
    assert len(data) <= MAX_FILE_BYTES
    (tmp_path / "full.xlsx").write_bytes(data)
    rows = read_batch(tmp_path / "full.xlsx", NOW)
    assert [r.row for r in rows] == list(range(2, MAX_ROWS + 2))
    assert all(r.items is not None for r in rows)


def test_a_batch_file_is_read_off_the_gui_thread(tmp_path: Path) -> None:
    """Choosing a file starts the background call that reads it ("Please wait" shows, the
    idle clock holds); a file refused whole comes back as that call's error."""
    (tmp_path / "d.xlsx").write_bytes(_rezip(GOOD_XLSX, DAMAGED_XLSX["sheet_cut_short"]))
    pending: list[Call] = []
    model = held_kiosk(tmp_path, pending, NOW)
    model.start_shipper()
    model.batch_start()
    # the sticks are listed off the GUI thread too (a slow stick takes seconds)
    assert model.busy
    assert model.screen != Screen.BATCH
    assert [call.label for call in pending] == ["list batch files"]
    model.complete(pending[0], *run_work(pending.pop()))
    assert model.screen == Screen.BATCH
    assert model.batch_files == [tmp_path / "d.xlsx"]
    model.batch_upload(tmp_path / "d.xlsx")
    assert model.busy
    assert model.notice is None  # not read yet
    # read in the stick's call (its hold on the idle clock), sent in the next
    assert [(call.label, call.hold_s) for call in pending] == [("read batch file", MEDIA_HOLD_S)]
    assert model.tick(1000.0) == "active"
    model.complete(pending[0], *run_work(pending[0]))
    assert not model.busy
    assert model.notice is not None
    assert model.notice.key == "batch_unreadable"
    assert model.screen == Screen.BATCH


def test_template_never_overwrites_a_file_on_the_stick(tmp_path: Path) -> None:
    """A shipper's filled-in template keeps its name; the new blank one takes the next free."""
    media = tmp_path / "usb"
    media.mkdir()
    filled = {
        f"{TEMPLATE_NAME}.xlsx": _xlsx(list(FIELD_NAMES), ROW),
        f"{TEMPLATE_NAME}.csv": f"{','.join(FIELD_NAMES)}\n{','.join(ROW)}\n".encode(),
        f"{TEMPLATE_NAME} (2).csv": b"someone's own file",
    }
    for name, data in filled.items():
        (media / name).write_bytes(data)
    written = write_template(media)
    assert [p.name for p in written] == [f"{TEMPLATE_NAME} (2).xlsx", f"{TEMPLATE_NAME} (3).csv"]
    for name, data in filled.items():
        assert (media / name).read_bytes() == data
    for path in written:
        with pytest.raises(BatchFileError) as empty:
            read_batch(path, NOW)
        assert empty.value.key == "batch_empty"


def test_shipper_is_told_the_names_the_template_was_saved_under(tmp_path: Path) -> None:
    (tmp_path / f"{TEMPLATE_NAME}.csv").write_text("filled in", encoding="utf-8")
    model = Kiosk(KioskClient("http://127.0.0.1:9"), media=tmp_path, clock=lambda: NOW)
    model.start_shipper()
    model.batch_start()
    model.batch_template()
    assert model.notice is not None
    assert model.notice.key == "template_saved"
    assert model.notice.params == {"files": f"{TEMPLATE_NAME}.xlsx, {TEMPLATE_NAME} (2).csv"}
    assert (tmp_path / f"{TEMPLATE_NAME}.csv").read_text(encoding="utf-8") == "filled in"


def test_template_gives_up_rather_than_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "MAX_TEMPLATE_COPIES", 3)
    names = [f"{TEMPLATE_NAME}.csv", f"{TEMPLATE_NAME} (2).csv", f"{TEMPLATE_NAME} (3).csv"]
    for name in names:
        (tmp_path / name).write_text(name, encoding="utf-8")
    with pytest.raises(FileExistsError):  # an OSError: the kiosk says the stick is not writable
        write_template(tmp_path)
    assert [(tmp_path / name).read_text(encoding="utf-8") for name in names] == names


def test_a_batch_stops_sending_once_its_session_has_ended(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Finish pressed while a batch is being sent (the idle clock waits for a call): the rows not sent
    yet are not sent (before, each still got a CCRN that nobody saw, and sending the file
    again made duplicates); the CCRNs made are in the log."""
    (tmp_path / "b.xlsx").write_bytes(_xlsx(list(FIELD_NAMES), ROW, ROW, ROW))
    pending: list[Call] = []
    model = held_kiosk(tmp_path, pending, NOW)
    sent: list[CargoItems] = []

    def submit_cargo(items: CargoItems, idempotency_key: str | None = None) -> SimpleNamespace:
        sent.append(items)
        if len(sent) == 1:
            model.finish()  # pressed while the first row was out
        return SimpleNamespace(ccrn=f"100104125{len(sent)}")

    model.api = SimpleNamespace(submit_cargo=submit_cargo)  # type: ignore[assignment]
    model.start_shipper()
    model.batch_start()
    model.complete(pending[0], *run_work(pending.pop()))
    model.batch_upload(tmp_path / "b.xlsx")
    model.complete(pending[0], *run_work(pending.pop()))  # the file read off the stick
    result, error = run_work(pending[0])
    assert error is None
    assert len(sent) == 1
    assert [o.ccrn for o in result] == ["1001041251"]
    assert "stopped after 1 of 3 rows (session ended); CCRNs made: 1001041251" in caplog.text
    model.complete(pending[0], result, None)  # its answer is dropped
    assert model.screen == Screen.START
    # nobody is there to be told of a results file: none is written (the stick may be
    # another person's by now)
    assert len(pending) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.xlsx"]


# -- CSV as Excel and people write it --------------------------------------------------------


@pytest.mark.parametrize(
    "broken", ['"via Macau', '"via" Macau'], ids=["quote_left_open", "text_after_the_quote"]
)
def test_a_broken_quote_refuses_the_file_naming_its_line(tmp_path: Path, broken: str) -> None:
    """Read leniently, a quote left open took the rest of the file into one field: rows 4
    and 5 were neither sent nor listed, and nothing said so. The file is refused whole,
    naming the line the broken row starts on."""
    lines = [",".join(FIELD_NAMES), ",".join(ROW), ",".join([*ROW[:-1], broken]), *[",".join(ROW)] * 2]  # fmt: skip
    (tmp_path / "q.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / "q.csv", NOW)
    assert refused.value.key == "batch_csv_bad_line"
    assert refused.value.params == {"line": 3}


@pytest.mark.parametrize("end", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr_only"])
def test_csv_lines_may_end_in_any_way_and_quoted_fields_keep_their_line_breaks(
    tmp_path: Path, end: str
) -> None:
    """CR alone (old Mac exports) was refused ("new-line character seen in unquoted
    field"). A quoted field of two lines is still one field of one row."""
    two_lines = [*ROW[:-1], f'"via Macau{end}then Zhuhai"']
    text = end.join([",".join(FIELD_NAMES), ",".join(two_lines), ",".join(ROW)]) + end
    (tmp_path / "e.csv").write_bytes(text.encode("utf-8"))
    rows = read_batch(tmp_path / "e.csv", NOW)
    assert [r.row for r in rows] == [2, 3]
    assert rows[0].items is not None
    assert rows[0].items.transhipment == f"via Macau{end}then Zhuhai"
    assert rows[1].items is not None


def test_a_csv_saved_in_big5_is_told_to_be_saved_as_csv_utf8(tmp_path: Path) -> None:
    """Excel's plain "CSV" is the PC's code page (Big5 in Hong Kong): the shipper is told
    what to save it as, not only that it cannot be read."""
    row = ",".join([*ROW[:3], "香港貨運有限公司", *ROW[4:]])
    (tmp_path / "big5.csv").write_bytes(f"{','.join(FIELD_NAMES)}\n{row}\n".encode("big5"))
    with pytest.raises(BatchFileError) as refused:
        read_batch(tmp_path / "big5.csv", NOW)
    assert refused.value.key == "batch_csv_not_utf8"


def test_the_csv_template_opens_in_excel_as_utf8_and_reads_back(tmp_path: Path) -> None:
    """Without a byte order mark Excel opens a CSV in the PC's code page, and saves it so:
    the template has one, and a template filled in (the mark kept) reads."""
    written = write_template(tmp_path)
    template = next(p for p in written if p.suffix == ".csv")
    data = template.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + b"packages,")
    row = ",".join([*ROW[:3], "香港貨運有限公司", *ROW[4:]])
    template.write_bytes(data + f"{row}\r\n".encode())
    rows = read_batch(template, NOW)
    assert rows[0].items is not None
    assert rows[0].items.consignor_name == "香港貨運有限公司"


def test_rows_with_text_only_in_the_shippers_own_columns_are_blank(tmp_path: Path) -> None:
    """Extra columns are ignored, and so is a row with text only in them (an office code
    filled down the sheet): before, it was a row of nine missing items, and 300 of them
    made the file "too many rows"."""
    header = ",".join([*FIELD_NAMES, "office"])
    data_row = ",".join([*ROW, "HK"])
    only_office = ",".join([""] * len(FIELD_NAMES) + ["HK"])
    lines = [header, data_row, data_row, *[only_office] * 300, data_row]
    (tmp_path / "x.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = read_batch(tmp_path / "x.csv", NOW)
    assert [r.row for r in rows] == [2, 3, 304]
    assert all(r.items is not None for r in rows)
    # a row with one template item filled is a data row, with its errors
    lines[5] = ",".join(["3", *[""] * (len(FIELD_NAMES) - 1), "HK"])
    (tmp_path / "x.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = read_batch(tmp_path / "x.csv", NOW)
    assert [r.row for r in rows] == [2, 3, 6, 304]
    assert rows[2].items is None


# -- the results, beside the file ------------------------------------------------------------


class NumberingCentre:
    """Answers each new Idempotency-Key with a new CCRN, a known one with its own."""

    def __init__(self) -> None:
        self.ccrns: dict[str, str] = {}

    def submit_cargo(self, items: CargoItems, idempotency_key: str | None = None) -> Any:
        assert idempotency_key is not None
        ccrn = self.ccrns.setdefault(idempotency_key, f"{4000000001 + len(self.ccrns)}")
        return SimpleNamespace(ccrn=ccrn)


def test_the_results_are_saved_beside_the_file(tmp_path: Path) -> None:
    """The result screen's CCRNs were gone at Finish, and the same file chosen in a new
    session was new cargo: the results are written beside the file (Hong Kong time in the
    name), the screen says so, and they are not offered as a batch file."""
    lines = [",".join(FIELD_NAMES), ",".join(ROW), ",".join(["x", *ROW[1:]]), ",".join(ROW)]
    (tmp_path / "rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = Kiosk(NumberingCentre(), media=tmp_path, clock=lambda: NOW)  # type: ignore[arg-type]
    model.start_shipper()
    model.batch_start()
    model.batch_upload(tmp_path / "rows.csv")
    assert model.screen == Screen.BATCH_RESULT
    name = "rows-results-20261122-040000.csv"  # NOW is 04:00 HKT
    assert model.notice is not None
    assert (model.notice.key, model.notice.params) == ("batch_results_saved", {"file": name})
    data = (tmp_path / name).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel opens it as UTF-8
    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))) == [
        ["row", "ccrn", "status", "why"],
        ["2", "4000000001", "submitted", ""],
        ["3", "", "not submitted", "packages: field_not_number"],
        ["4", "4000000002", "submitted", ""],
    ]
    assert [p.name for p in list_batch_files(tmp_path)] == ["rows.csv"]
    # chosen again within the second: a name of its own; a link planted under the next
    # name is neither followed nor overwritten
    target = tmp_path / "elsewhere"
    target.write_text("not the kiosk's", encoding="utf-8")
    (tmp_path / "rows-results-20261122-040000 (2).csv").symlink_to(target)
    model.back()
    model.batch_upload(tmp_path / "rows.csv")
    assert model.notice is not None
    assert model.notice.params == {"file": "rows-results-20261122-040000 (3).csv"}
    assert target.read_text(encoding="utf-8") == "not the kiosk's"
    assert [p.name for p in list_batch_files(tmp_path)] == ["rows.csv"]


def test_results_that_cannot_be_saved_leave_the_result_on_the_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write_protected(*_args: object, **_kwargs: object) -> Path:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(batch, "write_new", write_protected)
    (tmp_path / "rows.csv").write_text(f"{','.join(FIELD_NAMES)}\n{','.join(ROW)}\n", "utf-8")
    model = Kiosk(NumberingCentre(), media=tmp_path, clock=lambda: NOW)  # type: ignore[arg-type]
    model.start_shipper()
    model.batch_start()
    model.batch_upload(tmp_path / "rows.csv")
    assert model.screen == Screen.BATCH_RESULT
    assert [o.ccrn for o in model.batch_outcomes] == ["4000000001"]
    assert model.notice is not None
    assert model.notice.key == "batch_results_not_saved"


def test_results_not_made_durable_are_not_said_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The screen's "saved" is the shipper's cue to pull the stick: the results are
    flushed to it first, and a flush that fails (the stick pulled, a write error) leaves
    no half file and says the results were not saved (OSError to the caller)."""
    written: list[int] = []
    real_fsync = os.fsync

    def recorded(fd: int) -> None:
        written.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recorded)
    path = write_results(tmp_path / "rows.csv", [(2, "4000000001", "submitted", "")], NOW)
    assert len(written) == 2  # the file and its folder
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(OSError, match="Input/output error"):
        write_results(tmp_path / "rows.csv", [(2, "4000000001", "submitted", "")], NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_sticks_are_listed_and_written_off_the_gui_thread(tmp_path: Path) -> None:
    """Listing a stick and writing the template to it are background calls ("Please
    wait" shows): a slow or failing stick takes seconds, and the screen froze meanwhile.
    Nothing is listed or written until the call runs."""
    pending: list[Call] = []
    model = held_kiosk(tmp_path, pending, NOW)
    (tmp_path / "a.csv").write_text("x\n", encoding="utf-8")
    model.start_shipper()
    model.batch_start()
    assert model.busy
    assert [call.label for call in pending] == ["list batch files"]
    model.complete(pending[0], *run_work(pending.pop()))
    assert (model.screen, model.batch_files) == (Screen.BATCH, [tmp_path / "a.csv"])
    model.batch_template()
    assert model.busy
    assert [call.label for call in pending] == ["write the template"]
    assert not list(tmp_path.glob(f"{TEMPLATE_NAME}*"))
    model.complete(pending[0], *run_work(pending.pop()))
    assert model.notice is not None
    assert model.notice.key == "template_saved"
    assert len(model.batch_files) == 3  # a.csv and the template's two files
    # the certificates too (the driver's side)
    model.home()
    model.start_driver()
    model.choose_certificate()
    assert [call.label for call in pending] == ["list certificates"]
    model.complete(pending[0], *run_work(pending.pop()))
    assert model.notice is not None
    assert model.notice.key == "cert_none_found"


@pytest.mark.parametrize("first", [True, False])
def test_only_the_first_sheet_s_rows_count(tmp_path: Path, first: bool) -> None:
    """A workbook whose second sheet holds a long list (notes, a price list: data below
    row 10 000) is read from its first sheet, as ever; before 2026-12-07 it was refused as
    too many rows. The cargo sheet itself with data there still is."""
    book = Workbook()
    cargo = book.active
    assert cargo is not None
    cargo.append(list(FIELD_NAMES))
    cargo.append(ROW)
    notes = book.create_sheet("notes")
    (cargo if first else notes).cell(row=20_000, column=1, value="a long list")
    out = io.BytesIO()
    book.save(out)
    (tmp_path / "b.xlsx").write_bytes(out.getvalue())
    if first:
        with pytest.raises(BatchFileError) as refused:
            read_batch(tmp_path / "b.xlsx", NOW)
        assert refused.value.key == "batch_too_many_rows"
    else:
        rows = read_batch(tmp_path / "b.xlsx", NOW)
        assert [r.row for r in rows] == [2]
        assert rows[0].items is not None


def test_a_stick_failing_mid_listing_does_not_leave_the_kiosk_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stick that fails while it is listed (an I/O error) ends the call with
    ``kiosk_error``: the kiosk is not left "busy" for ever (found in review: the plain
    executor raised with the kiosk busy). The template written, a failing listing after it
    still says it was saved."""
    model = Kiosk(KioskClient("http://127.0.0.1:9"), media=tmp_path)
    (tmp_path / "a.csv").write_text("x\n", encoding="utf-8")  # a stick: files at its root

    def failing(media: Path) -> list[Path]:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr("kiosk.flows.list_certificates", failing)
    model.start_driver()
    model.choose_certificate()
    assert not model.busy
    assert model.notice is not None
    assert model.notice.key == "kiosk_error"
    model.home()
    model.start_shipper()
    model.batch_start()
    assert model.screen == Screen.BATCH
    monkeypatch.setattr("kiosk.flows.list_batch_files", failing)
    model.batch_template()
    assert not model.busy
    assert model.notice is not None
    assert model.notice.key == "template_saved"
    assert list(tmp_path.glob(f"{TEMPLATE_NAME}*"))


def test_a_batch_s_results_are_written_in_the_stick_s_call_once_they_are_shown(
    tmp_path: Path,
) -> None:
    """Read off the stick in its call, sent in the next, and the results written beside
    the file in a stick's call again, with the outcomes on the screen meanwhile: a stick
    that hangs as the results are written holds neither the session nor a sending
    thread."""
    (tmp_path / "b.xlsx").write_bytes(_xlsx(list(FIELD_NAMES), ROW, ROW))
    pending: list[Call] = []
    model = held_kiosk(tmp_path, pending, NOW)
    made = iter(["1001041251", "1001041252"])
    model.api = SimpleNamespace(  # type: ignore[assignment]
        submit_cargo=lambda items, idempotency_key=None: SimpleNamespace(ccrn=next(made))
    )
    model.start_shipper()
    model.batch_start()
    model.complete(pending[0], *run_work(pending.pop()))
    model.batch_upload(tmp_path / "b.xlsx")
    labels = []
    while pending and pending[0].label != "write batch results":
        call = pending.pop()
        labels.append((call.label, call.hold_s))
        model.complete(call, *run_work(call))
    assert labels == [("read batch file", MEDIA_HOLD_S), ("batch upload", None)]
    assert (pending[0].label, pending[0].hold_s) == ("write batch results", MEDIA_HOLD_S)
    assert model.screen == Screen.BATCH_RESULT
    assert [o.ccrn for o in model.batch_outcomes] == ["1001041251", "1001041252"]
    assert model.busy
    model.complete(pending[0], *run_work(pending.pop()))
    assert model.notice is not None
    assert model.notice.key == "batch_results_saved"
    assert len(list(tmp_path.glob("b-results-*.csv"))) == 1

"""Batch files: read whole, refused whole when unusable, checked row by row otherwise."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from kiosk.batch import MAX_ROWS, BatchFileError, list_batch_files, read_batch, write_template
from kiosk.cargo import FIELD_NAMES

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
        ("a.csv", b"\xff\xfe\x00bad", "batch_unreadable"),
        ("a.xlsx", b"not a zip", "batch_unreadable"),
        ("a.txt", b"packages\n", "batch_unreadable"),
        ("a.csv", b"", "batch_empty"),
        ("a.csv", ",".join(FIELD_NAMES).encode() + b"\n\n\n", "batch_empty"),
        ("a.csv", b"packages,vrn\n1,KX1\n", "batch_bad_header"),
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

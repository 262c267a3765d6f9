"""The printed receipt (kiosk/qt_receipt.py): a real PDF, read back with poppler."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from pytestqt.qtbot import QtBot

from kiosk.qt_receipt import RECEIPT_HEIGHT_MM, write_receipt
from ui_common.languages import Language


def test_a_receipt_as_long_as_its_ccrns(qtbot: QtBot, tmp_path: Path) -> None:
    """99 CCRNs (the most a bundle holds): on one 200 mm page, the CCRNs after about the
    30th and the printing time ran past its end, left off the paper with nothing to say
    so. The page is as long as the receipt: the paper is a roll."""
    ccrns = [f"40000000{n:02d}" for n in range(99)]
    rows = [("UBR", "7000000001"), ("CCRNs", ", ".join(ccrns))]
    pdf = write_receipt(
        tmp_path / "r.pdf",
        Language.EN,
        "Bundle result",
        rows,
        printed_at=datetime(2026, 12, 7, 6, 0, tzinfo=UTC),
    )
    info = subprocess.run(
        ["pdfinfo", str(pdf)], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert match is not None, info
    height_mm = float(match.group(2)) / 72 * 25.4
    assert height_mm > RECEIPT_HEIGHT_MM + 10
    assert re.search(r"Pages:\s+1\n", info), info
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    assert all(c in text for c in ccrns)
    # after the last CCRN, the printing time (in the language on screen)
    assert text.split(ccrns[-1])[1].strip()
    # a short one keeps the usual page
    short = write_receipt(tmp_path / "s.pdf", Language.EN, "Bundle result", rows[:1])
    info = subprocess.run(
        ["pdfinfo", str(short)], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert match is not None
    assert abs(float(match.group(2)) / 72 * 25.4 - RECEIPT_HEIGHT_MM) < 1

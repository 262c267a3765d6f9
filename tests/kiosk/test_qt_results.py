"""What the result screens say and print, and what is left of them once the session ends.

Against the fixed centre (``FixedCentre``, no network): a cancelled or used bundle's
earliest crossing time, an answer from the control point's copy on the receipt and on the
amendment form, a batch that stopped, and the widgets after Finish and the idle timeout.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QPushButton
from pytestqt.qtbot import QtBot

from kiosk import batch
from kiosk.cargo import FIELD_NAMES
from kiosk.flows import QueryMode, Screen
from kiosk.qt_text import bundle_rows
from rocars.client import ApiError
from rocars.ids import ControlPoint, Direction
from rocars.models import Bundle, BundleStatus, Cargo, CargoItems
from tests.kiosk.conftest import open_kiosk
from tests.kiosk.fixed_centre import NOW, FixedCentre, cargo_items
from tests.kiosk.kit import KioskUi
from ui_common.languages import Language

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

UBR = "7000000001"
#: the control point's copy: 10:05 HKT
STALE = "2026-11-21T02:05:00Z"
ITEMS = cargo_items()


@pytest.fixture
def centre() -> FixedCentre:
    return FixedCentre()


@pytest.fixture
def kiosk(qtbot: QtBot, centre: FixedCentre, media: Path, tmp_path: Path) -> Iterator[KioskUi]:
    client: Any = centre
    with open_kiosk(qtbot, client, media, tmp_path / "print", clock=lambda: NOW) as ui:
        ui.model.set_language(Language.EN)
        yield ui


def bundle(centre: FixedCentre, status: BundleStatus, earliest: timedelta) -> Bundle:
    """A bundle of the centre's, its earliest crossing time ``earliest`` from now."""
    found = Bundle(
        ubr=UBR,
        vrn="KX88",
        cp=ControlPoint.SBC,
        direction=Direction.IMPORT,
        ccrns=["4000000001"],
        bundled_at=NOW - timedelta(hours=2),
        earliest_at=NOW + earliest,
        status=status,
        updated_at=NOW,
    )
    centre.bundles[UBR] = found
    return found


def query(kiosk: KioskUi, mode: QueryMode, key: str) -> None:
    model = kiosk.model
    model.start_query()
    model.set_query_mode(mode)
    model.set_input("query", key)
    model.run_query()
    kiosk.wait_idle()
    kiosk.at(Screen.QUERY_RESULT)


@pytest.mark.parametrize(
    ("status", "said"),
    [(BundleStatus.CANCELLED, "cancelled"), (BundleStatus.USED, "used already")],
)
def test_the_earliest_time_of_a_bundle_no_longer_valid_does_not_say_cross(
    kiosk: KioskUi, centre: FixedCentre, status: BundleStatus, said: str
) -> None:
    """Its time long past, a cancelled or used bundle was "You may cross now" in large
    letters; only a small status row said otherwise."""
    found = bundle(centre, status, -timedelta(hours=1))
    assert not kiosk.model.may_cross_now(found)
    query(kiosk, QueryMode.EARLIEST, UBR)
    headline = kiosk.label("headline").text()
    assert said in headline
    assert "cross" not in headline.lower()
    shown = kiosk.screen_text()
    for misleading in ("may cross", "Not before", "Earliest crossing time"):
        assert misleading not in shown
    assert "cross" not in shown.lower()  # the status row neither ("Used (crossed)" before)
    kiosk.model.set_language(Language.ZH_TW)
    assert "過境" not in kiosk.label("headline").text()
    kiosk.model.set_language(Language.ZH_CN)
    assert "过境" not in kiosk.label("headline").text()


def test_an_active_bundle_still_says_when_the_truck_may_cross(
    kiosk: KioskUi, centre: FixedCentre
) -> None:
    bundle(centre, BundleStatus.ACTIVE, timedelta(minutes=30))
    query(kiosk, QueryMode.EARLIEST, UBR)
    assert kiosk.label("headline").text() == "Not before 2026-11-21 15:00 HKT"
    bundle(centre, BundleStatus.ACTIVE, -timedelta(minutes=30))
    kiosk.model.back()
    query(kiosk, QueryMode.EARLIEST, UBR)
    assert kiosk.label("headline").text() == "You may cross now (from 2026-11-21 14:00 HKT)"
    assert kiosk.model.may_cross_now(centre.bundles[UBR])
    # not yet, by seconds: the minute shown is the one the truck may cross in (rounded up)
    bundle(centre, BundleStatus.ACTIVE, timedelta(seconds=40))
    kiosk.model.back()
    query(kiosk, QueryMode.EARLIEST, UBR)
    assert kiosk.label("headline").text() == "Not before 2026-11-21 14:31 HKT"
    # the result's rows, on screen and on the receipt (qt_text.bundle_rows)
    assert ("Earliest crossing time", "2026-11-21 14:31 HKT") in bundle_rows(centre.bundles[UBR])


def receipt_text(kiosk: KioskUi) -> str:
    kiosk.click("print")
    receipt = kiosk.window.last_receipt
    assert receipt is not None
    return subprocess.run(
        ["pdftotext", str(receipt), "-"], check=True, capture_output=True, text=True, timeout=30
    ).stdout


def test_a_receipt_of_an_answer_from_the_copy_says_so(kiosk: KioskUi, centre: FixedCentre) -> None:
    """The screen said the answer came from the control point's copy, with its time; the
    receipt printed from it did not."""
    bundle(centre, BundleStatus.ACTIVE, timedelta(minutes=30))
    centre.stale_since = STALE
    query(kiosk, QueryMode.UBR, UBR)
    assert kiosk.label("stale").isVisible()
    printed = " ".join(receipt_text(kiosk).split())
    assert "The control point's copy as of" in printed
    assert "may be out of date" in printed
    screen = kiosk.window.screens[Screen.QUERY_RESULT]
    rows = screen.receipt_rows()  # type: ignore[attr-defined]
    assert rows[0] == (
        "Answered from",
        "The control point's copy as of 2026-11-21 10:05 HKT: may be out of date",
    )
    # the centre answering: no such row
    centre.stale_since = None
    kiosk.model.back()
    query(kiosk, QueryMode.UBR, UBR)
    assert "copy as of" not in " ".join(receipt_text(kiosk).split())


def test_an_amendment_form_filled_from_the_copy_says_so(
    kiosk: KioskUi, centre: FixedCentre
) -> None:
    """Submitted, an amendment replaces the cargo data whole: filled from an older copy,
    it would overwrite what is newer at the centre. Before, the form did not say so."""
    ccrn = centre.submit_cargo(ITEMS).ccrn
    centre.stale_since = STALE
    model = kiosk.model
    model.start_shipper()
    model.amend_start()
    model.set_input("amend_ccrn", ccrn)
    model.amend_lookup()
    kiosk.wait_idle()
    kiosk.at(Screen.CARGO_FORM)
    stale = kiosk.label("stale")
    assert "control point's copy as of 2026-11-21 10:05 HKT" in stale.text()
    assert "may be out of date" in stale.text()
    model.home()
    model.new_cargo()  # a new submission: nothing to say
    kiosk.at(Screen.CARGO_FORM)
    form = kiosk.window.screens[Screen.CARGO_FORM]
    assert not form.findChild(QLabel, "stale").isVisible()
    centre.stale_since = None
    model.home()
    model.amend_start()
    model.set_input("amend_ccrn", ccrn)
    model.amend_lookup()
    kiosk.wait_idle()
    kiosk.at(Screen.CARGO_FORM)
    assert not form.findChild(QLabel, "stale").isVisible()


def shown_anywhere(kiosk: KioskUi, text: str) -> list[str]:
    """The labels and buttons of the window (shown or not) whose text has ``text``."""
    for _ in range(3):  # the rows taken away are deleted on the next turns of the loop
        QApplication.processEvents()
    widgets = kiosk.window.findChildren(QLabel) + kiosk.window.findChildren(QPushButton)
    return [w.text() for w in widgets if text in w.text()]


def end_session(kiosk: KioskUi, end: str) -> None:
    """Finish pressed, or the idle timeout; the next person then picks English."""
    model = kiosk.model
    if end == "finish":
        kiosk.click("finish")
    else:
        model.idle.last_touch = time.monotonic() - model.idle.reset_after - 1
        kiosk.window._tick()  # noqa: SLF001 - the idle timeout, without waiting 90 s
    kiosk.at(Screen.START)
    model.set_language(Language.EN)


@pytest.mark.parametrize("end", ["finish", "idle"])
def test_typing_cannot_be_undone_back_after_the_session(kiosk: KioskUi, end: str) -> None:
    """``QLineEdit.clear()`` can be undone (the fields' context menu had Undo, as Ctrl+Z
    does): after Finish or the idle timeout the next person could bring the account
    number and the password back."""
    kiosk.sign_in("654321", "Pa55word")
    end_session(kiosk, end)
    for screen in kiosk.window.screens.values():
        for name, field in screen.fields.items():
            assert field.text() == "", name
            assert not field.isUndoAvailable(), f"{name}: the last person's text can be undone back"
            field.undo()
            assert field.text() == "", name
            assert field.contextMenuPolicy() == Qt.ContextMenuPolicy.NoContextMenu, name


@pytest.mark.parametrize("end", ["finish", "idle"])
def test_the_result_screens_keep_nothing_after_the_session(
    kiosk: KioskUi, centre: FixedCentre, media: Path, end: str
) -> None:
    """The query, cargo and batch results kept their rows (the UBR, the plate, the CCRN,
    the names) in widgets no longer shown, for anything that reads them to find."""
    model = kiosk.model
    bundle(centre, BundleStatus.ACTIVE, timedelta(minutes=30))
    query(kiosk, QueryMode.UBR, UBR)
    assert shown_anywhere(kiosk, UBR)
    end_session(kiosk, end)
    for text in (UBR, "KX88"):
        assert shown_anywhere(kiosk, text) == [], text

    model.start_shipper()
    model.new_cargo()
    for name, value in {
        "packages": "12", "package_description": "CARTONS", "article_description": "LAMPS",
        "consignor_name": "SHENZHEN LIGHTS", "consignor_address": "1 HIGH-TECH RD",
        "consignee_name": "KWUN TONG TRADING", "consignee_address": "8 HOI BUN RD",
    }.items():  # fmt: skip
        model.set_input(f"cargo.{name}", value)
    model.cargo_submit()
    kiosk.wait_idle()
    kiosk.at(Screen.CARGO_RESULT)
    ccrn = model.cargo_result.ccrn if model.cargo_result else ""
    assert shown_anywhere(kiosk, ccrn)
    end_session(kiosk, end)
    for text in (ccrn, "KWUN TONG TRADING", "SHENZHEN LIGHTS"):
        assert shown_anywhere(kiosk, text) == [], text

    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    (media / "rows.csv").write_text(
        f"{','.join(FIELD_NAMES)}\n3,PALLETS,PORK,A,B,C,D,{tomorrow},import,,,,\n",
        encoding="utf-8",
    )
    model.start_shipper()
    model.batch_start()
    kiosk.wait_idle()
    model.batch_upload(media / "rows.csv")
    kiosk.wait_idle()
    kiosk.at(Screen.BATCH_RESULT)
    made = model.batch_outcomes[0].ccrn or ""
    assert shown_anywhere(kiosk, made)
    end_session(kiosk, end)
    for text in (made, "rows.csv"):
        assert shown_anywhere(kiosk, text) == [], text


class LosingCentre(FixedCentre):
    """Its second submission's answer is lost on the way back (it may have been saved)."""

    def submit_cargo(self, items: CargoItems, idempotency_key: str | None = None) -> Cargo:
        if len(self.cargo) == 1:
            self.cargo["lost"] = self.cargo["4000000001"]
            raise ApiError("lost", key="central_unreachable", detail={"maybe_applied": True})
        return super().submit_cargo(items, idempotency_key)


def test_a_batch_that_stopped_says_so_and_counts_what_may_have_been_saved(
    qtbot: QtBot, media: Path, tmp_path: Path
) -> None:
    client: Any = LosingCentre()
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    row = f"3,PALLETS,PORK,A,B,C,D,{tomorrow},import,,,,"
    (media / "rows.csv").write_text(
        "\n".join([",".join(FIELD_NAMES), row, row, row, row]) + "\n", encoding="utf-8"
    )
    with open_kiosk(qtbot, client, media, tmp_path / "print", clock=lambda: NOW) as kiosk:
        kiosk.model.set_language(Language.EN)
        kiosk.click("start_shipper")
        kiosk.click("menu_batch")
        kiosk.click("upload_rows.csv")
        kiosk.at(Screen.BATCH_RESULT)
        assert tuple(kiosk.model.batch_counts) == (1, 2, 1)
        assert kiosk.label("batch_summary").text() == (
            "1 row(s) submitted, 2 row(s) not submitted, may have been saved: 1."
        )
        stopped = kiosk.label("batch_stopped").text()
        assert stopped.startswith("Sending stopped at row 3:")
        assert "Choose the same file again" in stopped
        assert kiosk.label("batch_row_3").text().startswith("Row 3: may have been saved")
        assert kiosk.label("batch_row_4").text() == "Row 4: not sent (sending had stopped)"
        assert len(client.cargo) == 2  # rows 2 and 3 went out; 4 and 5 did not


def batch_of_one(media: Path, name: str = "rows.csv") -> None:
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    row = f"3,PALLETS,PORK,A,B,C,D,{tomorrow},import,,,,"
    (media / name).write_text(f"{','.join(FIELD_NAMES)}\n{row}\n", encoding="utf-8")


def test_the_batch_result_says_where_its_results_were_saved(
    kiosk: KioskUi, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CCRNs on the screen are gone at Finish: the screen says the results were saved
    beside the file, by name; or that they could not be, the result still shown."""
    batch_of_one(media)
    kiosk.click("start_shipper")
    kiosk.click("menu_batch")
    kiosk.click("upload_rows.csv")
    kiosk.at(Screen.BATCH_RESULT)
    assert kiosk.notice_key == "batch_results_saved"
    assert kiosk.notice_text == (
        "The results (each row's CCRN) were saved on the USB stick beside the file:"
        " rows-results-20261121-143000.csv"
    )
    assert (media / "rows-results-20261121-143000.csv").exists()
    assert kiosk.label("batch_row_2").text() == "Row 2: CCRN 4000000001"

    def write_protected(*_args: object, **_kwargs: object) -> Path:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(batch, "write_new", write_protected)
    kiosk.click("back")
    kiosk.click("upload_rows.csv")
    kiosk.at(Screen.BATCH_RESULT)
    assert kiosk.notice_key == "batch_results_not_saved"
    assert "Note the CCRNs below" in kiosk.notice_text
    assert kiosk.label("batch_row_2").text().startswith("Row 2: CCRN 40000000")
    assert kiosk.label("batch_summary").text() == "1 row(s) submitted, 0 row(s) not submitted."


def test_a_file_name_that_looks_like_markup_is_shown_as_it_is(kiosk: KioskUi, media: Path) -> None:
    """Qt takes a text that may be rich text (``<b>...``) as such: a file named so was
    shown bold, or as an image or a link. Labels show plain text."""
    name = "<b>rows.csv"
    batch_of_one(media, name)
    kiosk.click("start_shipper")
    kiosk.click("menu_batch")
    kiosk.click(f"upload_{name}")
    kiosk.at(Screen.BATCH_RESULT)
    title = kiosk.window.screens[Screen.BATCH_RESULT].title
    assert title.text() == f"Batch upload: {name}"
    assert title.textFormat() == Qt.TextFormat.PlainText
    assert kiosk.window.notice.textFormat() == Qt.TextFormat.PlainText
    assert "<b>rows-results-" in kiosk.notice_text

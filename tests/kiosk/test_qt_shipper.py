"""Shipper flows through the widgets: submit, amend, refusals, batch upload."""

from __future__ import annotations

import csv
import os
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from kiosk.batch import MAX_FILE_BYTES
from kiosk.cargo import FIELD_NAMES
from kiosk.flows import Screen
from rocars.models import BundleRequest, SecurityCodeAuth
from rocars.timeutil import HK_TZ, utc_now
from tests.kiosk.batch_files import write_formatted_xlsx
from tests.kiosk.conftest import Backend
from tests.kiosk.kit import KioskUi

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

FORM = {
    "packages": "12",
    "package_description": "CARTONS",
    "article_description": "LED LAMPS",
    "consignor_name": "SHENZHEN LIGHTS CO",
    "consignor_address": "1 HIGH-TECH RD, SHENZHEN",
    "consignee_name": "KWUN TONG TRADING",
    "consignee_address": "8 HOI BUN RD, KWUN TONG",
}


def fill_form(kiosk: KioskUi, values: dict[str, str]) -> None:
    for name, text in values.items():
        kiosk.type(f"cargo.{name}", text)


def test_submit_cargo_shows_the_ccrn_and_prints_it(kiosk: KioskUi, backend: Backend) -> None:
    kiosk.click("start_shipper")
    kiosk.click("menu_submit")
    kiosk.at(Screen.CARGO_FORM)
    fill_form(kiosk, FORM | {"vrn": "KX 77"})
    kiosk.click("date_next")
    kiosk.click("cargo_dir_export")
    kiosk.click("cargo_submit")
    kiosk.at(Screen.CARGO_RESULT)
    cargo = kiosk.model.cargo_result
    assert cargo is not None
    assert kiosk.label("row_0").text() == cargo.ccrn
    stored = backend.api.client.get_cargo(cargo.ccrn)
    assert stored.items.consignor_name == "SHENZHEN LIGHTS CO"
    assert stored.items.vrn == "KX77"
    assert stored.items.direction == "export"
    assert stored.items.expected_date == utc_now().astimezone(HK_TZ).date() + timedelta(days=1)
    kiosk.click("print")
    assert kiosk.notice_key == "receipt_printed"
    assert kiosk.window.last_receipt is not None
    assert cargo.ccrn in kiosk.window.last_receipt.name


def test_form_errors_name_each_field_and_nothing_is_sent(kiosk: KioskUi, backend: Backend) -> None:
    before = backend.api.client.changes(backend.api.replica.cursor(), 1000).next
    kiosk.click("start_shipper")
    kiosk.click("menu_submit")
    fill_form(kiosk, FORM | {"packages": "0", "consignor_name": "", "container_no": "ABC"})
    for _ in range(16):  # the date buttons stop at +14 days
        kiosk.click("date_next")
    assert (
        kiosk.label("expected_date").text()
        == (utc_now().astimezone(HK_TZ).date() + timedelta(days=14)).isoformat()
    )
    kiosk.click("cargo_submit")
    assert kiosk.model.screen == Screen.CARGO_FORM
    assert kiosk.notice_key == "form_has_errors"
    errors = kiosk.model.cargo_errors
    assert errors["packages"].key == "field_out_of_range"
    assert errors["consignor_name"].key == "field_required"
    assert errors["container_no"].key == "container_invalid"
    assert kiosk.label("error_consignor_name").text() == "必須填寫。"
    assert kiosk.label("error_container_no").text()
    assert backend.api.client.changes(backend.api.replica.cursor(), 1000).next == before


def test_amend_until_bundled_then_refused(kiosk: KioskUi, backend: Backend) -> None:
    ccrn = backend.new_cargo()
    kiosk.click("start_shipper")
    kiosk.click("menu_amend")
    kiosk.type("amend_ccrn", ccrn)
    kiosk.click("find_cargo")
    kiosk.at(Screen.CARGO_FORM)
    assert kiosk.screen.fields["cargo.packages"].text() == "5"
    kiosk.type("cargo.packages", "40")
    kiosk.click("cargo_submit")
    kiosk.at(Screen.CARGO_RESULT)
    assert backend.api.client.get_cargo(ccrn).items.packages == 40

    account = backend.account("valid", 2)
    backend.api.client.bundle(
        BundleRequest(
            account=account["account"],
            password=account["password"],
            auth=SecurityCodeAuth(code=backend.code(account)),
            vrn="KX91",
            cp="SBC",
            direction="import",
            ccrns=[ccrn],
        )
    )
    kiosk.click("back")
    kiosk.at(Screen.SHIPPER_MENU)
    kiosk.click("menu_amend")
    kiosk.type("amend_ccrn", ccrn)
    kiosk.click("find_cargo")
    assert kiosk.notice_key == "cargo_bundled"
    assert ccrn in kiosk.notice_text
    assert kiosk.model.screen == Screen.AMEND_CCRN


def test_amend_refused_by_the_centre_when_bundled_meanwhile(
    kiosk: KioskUi, backend: Backend
) -> None:
    ccrn = backend.new_cargo()
    kiosk.click("start_shipper")
    kiosk.click("menu_amend")
    kiosk.type("amend_ccrn", ccrn)
    kiosk.click("find_cargo")
    kiosk.at(Screen.CARGO_FORM)
    account = backend.account("valid", 2)
    backend.api.client.bundle(
        BundleRequest(
            account=account["account"],
            password=account["password"],
            auth=SecurityCodeAuth(code=backend.code(account)),
            vrn="KX92",
            cp="SBC",
            direction="import",
            ccrns=[ccrn],
        )
    )
    kiosk.type("cargo.packages", "41")
    kiosk.click("cargo_submit")
    assert kiosk.notice_key == "cargo_bundled"
    assert backend.api.client.get_cargo(ccrn).items.packages == 5


def write_xlsx(path: Path, rows: list[dict[str, str]]) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(FIELD_NAMES))
    for row in rows:
        sheet.append([row.get(name, "") for name in FIELD_NAMES])
    book.save(path)


def test_batch_upload_lists_bad_rows_and_submits_the_good_ones(
    kiosk: KioskUi, backend: Backend, media: Path
) -> None:
    tomorrow = (utc_now().astimezone(HK_TZ).date() + timedelta(days=1)).isoformat()
    good = FORM | {"expected_date": tomorrow, "direction": "import"}
    write_xlsx(
        media / "today.xlsx",
        [
            good,
            good | {"consignee_name": ""},
            good | {"expected_date": "2020-01-01"},
            good | {"packages": "lots", "vrn": "KX 5"},
            good | {"direction": "export", "container_no": "MSCU1234567"},
        ],
    )
    kiosk.click("start_shipper")
    kiosk.click("menu_batch")
    kiosk.at(Screen.BATCH)
    kiosk.click("upload_today.xlsx")
    kiosk.at(Screen.BATCH_RESULT)
    outcomes = {o.row: o for o in kiosk.model.batch_outcomes}
    assert sorted(outcomes) == [2, 3, 4, 5, 6]
    assert outcomes[2].ccrn
    assert outcomes[6].ccrn
    assert [e.field for e in outcomes[3].errors] == ["consignee_name"]
    assert outcomes[4].errors[0].key == "expected_date_out_of_window"
    assert outcomes[5].errors[0].key == "field_not_number"
    assert backend.api.client.get_cargo(outcomes[6].ccrn).items.container_no == "MSCU1234567"
    assert kiosk.label("batch_summary").text() == "已遞交 2 行，3 行未遞交。"
    assert "收貨人名稱" in kiosk.label("batch_row_3").text()  # the field, named


def test_batch_template_saved_then_a_csv_and_refused_files(
    kiosk: KioskUi, backend: Backend, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an empty stick mounted at the media folder itself (an empty folder that is no mount
    # point is "no stick": kiosk.media)
    ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda path: Path(path) == media or ismount(path))
    kiosk.click("start_shipper")
    kiosk.click("menu_batch")
    kiosk.click("batch_template")
    assert kiosk.notice_key == "template_saved"
    # with the byte order mark Excel needs to take it as UTF-8
    with (media / "rocars_cargo_template.csv").open(encoding="utf-8-sig") as template:
        header = next(csv.reader(template))
    assert header == list(FIELD_NAMES)
    sheet = load_workbook(media / "rocars_cargo_template.xlsx").active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == list(FIELD_NAMES)

    before = backend.api.client.changes(backend.api.replica.cursor(), 1000).next
    (media / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (media / "huge.csv").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    (media / "wrong.csv").write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    write_formatted_xlsx(media / "formatted.xlsx", [])  # a few KB, but a row 2000 cells wide
    kiosk.click("back")
    kiosk.click("menu_batch")
    for name, key in (
        ("broken.xlsx", "batch_unreadable"),
        ("huge.csv", "batch_too_large"),
        ("formatted.xlsx", "batch_too_complex"),
        ("wrong.csv", "batch_bad_header"),
        ("rocars_cargo_template.csv", "batch_empty"),
    ):
        kiosk.click(f"upload_{name}")
        assert kiosk.notice_key == key, name
        assert kiosk.model.screen == Screen.BATCH
        if name == "formatted.xlsx":  # what to do, with the row limit (not the file size)
            assert "最多 200 行貨物資料" in kiosk.notice_text
            assert "KB" not in kiosk.notice_text
    assert backend.api.client.changes(backend.api.replica.cursor(), 1000).next == before

    tomorrow = (utc_now().astimezone(HK_TZ).date() + timedelta(days=1)).isoformat()
    with (media / "rows.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELD_NAMES)
        writer.writeheader()
        writer.writerow(FORM | {"expected_date": tomorrow, "direction": "import"})
    kiosk.click("back")
    kiosk.click("menu_batch")
    kiosk.click("upload_rows.csv")
    kiosk.at(Screen.BATCH_RESULT)
    assert kiosk.model.batch_counts == (1, 0, 0)

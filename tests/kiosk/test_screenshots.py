"""Every screen in the three languages, saved for docs/ and checked for what a person sees.

Checks on each: the kiosk's 1920x1080, no character drawn as an empty box, every button
at least TOUCH_MIN high with its text inside it, the receipt rendered from PDF.

The kiosk here runs on a fixed clock against a centre with fixed answers
(``FixedCentre``), so a run rewrites no screenshot that did not change.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from PySide6.QtWidgets import QApplication, QLabel, QPushButton
from pytestqt.qtbot import QtBot

from kiosk.cargo import FIELD_NAMES
from kiosk.flows import MEDIA_HOLD_S, Call, QueryMode, Screen, run_work
from kiosk.qt_app import KIOSK_SIZE
from kiosk.session import Notice
from rocars.client import ApiError
from rocars.ids import ControlPoint, Direction
from rocars.models import BundleStatus, CargoItems
from rocars.timeutil import HK_TZ
from tests.kiosk.batch_files import write_formatted_xlsx
from tests.kiosk.conftest import Backend, copy_cert, open_kiosk
from tests.kiosk.fixed_centre import NOW, FixedCentre, cargo_items
from tests.kiosk.kit import KioskUi
from ui_common.app import missing_glyphs
from ui_common.languages import Language
from ui_common.linguist import ROOT
from ui_common.screenshot import grab_png

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

SHOTS = ROOT / "docs" / "screenshots"
TOUCH_MIN = 60
TOMORROW = NOW.astimezone(HK_TZ).date() + timedelta(days=1)
CODE = "246810"  # the fixed centre takes any security code
#: the time of the control point's copy in the shots of a stale answer: 10:05 HKT
STALE = "2026-11-21T02:05:00Z"


@pytest.fixture
def centre() -> FixedCentre:
    return FixedCentre()


@pytest.fixture
def kiosk(qtbot: QtBot, centre: FixedCentre, media: Path, tmp_path: Path) -> Iterator[KioskUi]:
    """conftest's kiosk, on ``NOW`` and the fixed centre instead of the local API.

    The text cursor does not blink here: a blinking one is in some shots and not in others.
    """
    client: Any = centre  # KioskClient's calls, answered from memory
    flash = QApplication.cursorFlashTime()
    QApplication.setCursorFlashTime(0)
    try:
        with open_kiosk(qtbot, client, media, tmp_path / "print", clock=lambda: NOW) as ui:
            yield ui
    finally:
        QApplication.setCursorFlashTime(flash)


def new_cargo(centre: FixedCentre) -> str:
    """A CCRN submitted straight to the centre, for the test to bundle."""
    return centre.submit_cargo(cargo_items(expected_date=TOMORROW)).ccrn


def check_screen(kiosk: KioskUi, name: str) -> list[str]:
    """What is wrong with the screen showing: boxes for glyphs, small or overflowing buttons."""
    problems: list[str] = []
    window = kiosk.window
    if (window.width(), window.height()) != KIOSK_SIZE:
        problems.append(f"{name}: window is {window.width()}x{window.height()}")
    for widget in window.findChildren(QLabel) + window.findChildren(QPushButton):
        if not widget.isVisible() or not widget.text():
            continue
        missing = missing_glyphs(widget.text(), widget.font())
        if missing:
            problems.append(f"{name}: {widget.text()!r} has no glyph for {missing}")
        if isinstance(widget, QPushButton):
            if widget.height() < TOUCH_MIN:
                problems.append(f"{name}: button {widget.text()!r} is {widget.height()} px high")
            needed = widget.fontMetrics().horizontalAdvance(widget.text().replace("&&", "&"))
            if needed > widget.width() - 8:
                problems.append(f"{name}: {widget.text()!r} does not fit its button")
        elif not widget.wordWrap():
            if widget.fontMetrics().horizontalAdvance(widget.text()) > widget.width() + 2:
                problems.append(f"{name}: label {widget.text()!r} is cut off")
    return problems


def render_receipt(receipt: Path, name: str) -> None:
    """The receipt PDF as a PNG in docs/screenshots (what the roll printer prints)."""
    subprocess.run(
        ["pdftoppm", "-png", "-r", "110", "-singlefile", str(receipt), str(SHOTS / name)],
        check=True,
        timeout=30,
    )


def write_batch(media: Path, name: str = "shipments.xlsx", *, bad_last: bool = False) -> None:
    tomorrow = TOMORROW.isoformat()
    good = {
        "packages": "3",
        "package_description": "PALLETS",
        "article_description": "FROZEN PORK",
        "consignor_name": "GUANGZHOU FOODS",
        "consignor_address": "9 PORT RD, GUANGZHOU",
        "consignee_name": "HK COLD STORE",
        "consignee_address": "1 CHAI WAN RD",
        "expected_date": tomorrow,
        "direction": "import",
    }
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(FIELD_NAMES))
    bad = good | {"consignee_name": "", "packages": "x"}
    for row in (good, good, good, bad) if bad_last else (good, bad, good):
        sheet.append([row.get(n, "") for n in FIELD_NAMES])
    book.save(media / name)


@pytest.mark.parametrize("lang", list(Language))
def test_every_screen_in_every_language(
    kiosk: KioskUi,
    backend: Backend,
    centre: FixedCentre,
    media: Path,
    tmp_path: Path,
    lang: Language,
) -> None:
    model = kiosk.model
    account = backend.account("valid", 0)
    copy_cert(backend, account, media)
    write_batch(media)
    problems: list[str] = []
    seen: set[Screen] = set()

    def shot(name: str, action: Callable[[], None] | None = None) -> None:
        if action is not None:
            action()
            kiosk.wait_idle()
        # the active window (so a focused field shows its frame and cursor) whatever
        # windows other tests of this process opened before
        kiosk.window.activateWindow()
        for _ in range(3):
            QApplication.processEvents()
        seen.add(model.screen)
        grab_png(kiosk.window, SHOTS / f"kiosk_{name}_{lang.value}.png")
        problems.extend(check_screen(kiosk, name))

    def typed(field: str, value: str) -> Callable[[], None]:
        def act() -> None:
            model.set_input(field, value)
            model._changed()

        return act

    def notice(key: str, **params: str) -> Callable[[], None]:
        def act() -> None:  # the longest notices, as the flows raise them
            model.notice = Notice(key, params)
            model._changed()

        return act

    model.set_language(lang)
    shot("start")
    shot("sign_in", model.start_driver)
    typed("account", account["account"])()
    typed("password", account["password"])()
    shot("driver_menu", model.sign_in)
    model.driver_bundle()
    for ccrn in (new_cargo(centre), new_cargo(centre)):
        model.set_input("ccrn", ccrn)
        model.add_ccrn()
        kiosk.wait_idle()
    shot("bundle_ccrns")
    model.ccrns_next()
    model.set_input("vrn", "KX 88")
    model.set_input("vrn_again", "KX88")
    model.set_cp(ControlPoint.SBC)
    shot("bundle_details", lambda: model.set_direction(Direction.IMPORT))
    model.set_input("vrn_again", "KX 98")
    shot("bundle_vrn_mismatch", model.details_next)  # typed twice, not the same
    model.set_input("vrn_again", "KX88")
    shot("bundle_review", model.details_next)
    shot("sign_method", model.review_confirm)
    shot("sign_code", model.choose_code)
    # a code the centre took a moment ago (a bundle, then a cancel within 30 s)
    shot("sign_code_used", notice("security_code_used"))
    # the local API's limit of refused credentials per kiosk
    shot("sign_code_too_many", notice("too_many_attempts", retry_after="890"))
    model.back()
    shot("sign_cert", model.choose_certificate)
    shot("sign_pin", lambda: model.pick_certificate(model.certificates[0]))
    # a signature the centre took already (a request sent twice)
    shot("sign_pin_used", notice("cert_signature_used"))
    # an encryption-only certificate of a pair, picked by mistake
    shot("sign_pin_not_for_signing", notice("cert_not_for_signing"))
    model.back()
    model.back()
    model.choose_code()
    model.set_input("code", CODE)
    shot("bundle_result", model.submit_code)
    assert model.result is not None
    ubr = model.result.ubr
    kiosk.window.print_receipt(
        kiosk.window.screens[Screen.BUNDLE_RESULT].title.text(),
        kiosk.window.screens[Screen.BUNDLE_RESULT].result_rows(),  # type: ignore[attr-defined]
        f"bundle_{ubr}",
    )
    receipt = kiosk.window.last_receipt
    assert receipt is not None
    shutil.copyfile(receipt, tmp_path / "receipt.pdf")
    render_receipt(receipt, f"kiosk_receipt_{lang.value}")
    text = subprocess.run(
        ["pdftotext", str(receipt), "-"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    assert ubr in text
    model.back()
    shot("cancel_ubr", model.driver_cancel)
    model.set_input("ubr", ubr)
    shot("cancel_choose", model.cancel_lookup)
    model.cancel_one(model.cancel_bundle.ccrns[0] if model.cancel_bundle else "")
    model.choose_code()
    model.set_input("code", CODE)
    shot("cancel_result", model.submit_code)
    model.finish()
    model.set_language(lang)  # Finish starts the next person in the default language
    shot("query", model.start_query)

    model.set_input("query", "9110635999")
    shot("query_not_found_stale", notice("ubr_not_found_stale", ubr="9110635999", time="08:05"))
    model.set_query_mode(QueryMode.EARLIEST)
    model.set_input("query", ubr)
    shot("query_result", model.run_query)
    # the same query of a bundle cancelled, or used already: no time, no "cross"
    active = centre.bundles[ubr]
    for status in (BundleStatus.CANCELLED, BundleStatus.USED):
        centre.bundles[ubr] = active.model_copy(update={"status": status})
        model.back()
        shot(f"query_earliest_{status.value}", model.run_query)
    centre.bundles[ubr] = active
    # an answer from the control point's copy (the centre down), and its receipt
    centre.stale_since = STALE
    model.back()
    model.set_query_mode(QueryMode.UBR)
    shot("query_result_stale", model.run_query)
    kiosk.window.screens[Screen.QUERY_RESULT].print.click()  # type: ignore[attr-defined]
    receipt = kiosk.window.last_receipt
    assert receipt is not None
    render_receipt(receipt, f"kiosk_receipt_stale_{lang.value}")
    centre.stale_since = None

    model.finish()
    model.set_language(lang)  # Finish starts the next person in the default language
    shot("shipper_menu", model.start_shipper)
    model.new_cargo()
    model.set_input("cargo.packages", "0")
    shot("cargo_form", model.cargo_submit)
    for name, value in {
        "packages": "12",
        "package_description": "CARTONS",
        "article_description": "LED LAMPS",
        "consignor_name": "SHENZHEN LIGHTS CO",
        "consignor_address": "1 HIGH-TECH RD, SHENZHEN",
        "consignee_name": "KWUN TONG TRADING",
        "consignee_address": "8 HOI BUN RD, KWUN TONG",
    }.items():
        model.set_input(f"cargo.{name}", value)
    # the form as it stands when the centre went silent after taking it: new cargo data,
    # no CCRN to check with
    shot("cargo_maybe_applied", notice("cargo_maybe_submitted"))
    shot("cargo_result", model.cargo_submit)
    assert model.cargo_result is not None
    made = model.cargo_result.ccrn
    model.home()
    shot("amend_ccrn", model.amend_start)
    # the form filled from the control point's copy (the centre down)
    centre.stale_since = STALE
    model.set_input("amend_ccrn", made)
    shot("amend_form_stale", model.amend_lookup)
    centre.stale_since = None
    model.home()
    model.batch_start()
    kiosk.wait_idle()
    shot("batch", model.batch_template)
    shot("batch_result", lambda: model.batch_upload(media / "shipments.xlsx"))
    kiosk.window._tick()  # noqa: SLF001 - the idle warning, without waiting a minute
    model.idle.last_touch = time.monotonic() - (model.idle.warn_after + 1)  # 29 s left
    kiosk.window._tick()
    shot("idle_warning")
    model.touch(time.monotonic())  # still here

    # a file of a few KB with a row formatted 2000 cells wide: not too large, too complex
    write_formatted_xlsx(media / "shipments_formatted.xlsx", [])
    model.home()
    model.batch_start()
    kiosk.wait_idle()
    shot("batch_too_complex", lambda: model.batch_upload(media / "shipments_formatted.xlsx"))
    # the stick taken out: the template cannot be saved
    model.media = tmp_path / "no-stick"
    model.batch_start()
    kiosk.wait_idle()
    shot("batch_no_stick", model.batch_template)
    assert model.notice is not None
    assert model.notice.key == "media_no_stick"
    model.media = media

    # the second row's answer lost on the way back: the batch stops there
    write_batch(media, "shipments_stopped.xlsx", bad_last=True)
    submit = centre.submit_cargo
    sent: list[CargoItems] = []

    def losing(items: CargoItems, idempotency_key: str | None = None) -> Any:
        sent.append(items)
        if len(sent) == 2:  # the second row of this batch
            raise ApiError("lost", key="central_unreachable", detail={"maybe_applied": True})
        return submit(items, idempotency_key)

    centre.submit_cargo = losing  # type: ignore[method-assign]
    model.home()
    model.batch_start()
    kiosk.wait_idle()
    shot("batch_result_stopped", lambda: model.batch_upload(media / "shipments_stopped.xlsx"))
    assert model.batch_stopped_at == 3
    centre.submit_cargo = submit  # type: ignore[method-assign]

    # a query whose answer is 20 s in coming (the centre slow): still working, how long
    model.finish()
    model.set_language(lang)
    model.start_query()
    model.set_input("query", ubr)
    held: list[Call] = []
    model.executor = held.append  # the answer held back
    model.run_query()
    kiosk.window._busy_since = time.monotonic() - 20  # noqa: SLF001 - without waiting 20 s
    kiosk.window._show_busy()  # noqa: SLF001
    shot("query_still_working")
    model.executor = kiosk.window._execute  # noqa: SLF001
    model.complete(held[0], *run_work(held[0]))
    assert not kiosk.window.busy.isVisible()

    # a USB stick that does not answer, its hold over: the idle countdown over the wait
    model.finish()
    model.set_language(lang)
    model.start_shipper()
    held.clear()
    model.executor = held.append  # the listing never answers
    model.batch_start()
    now = time.monotonic()
    model.tick(now - MEDIA_HOLD_S - 15)  # the hold began 75 s ago
    model.idle.touch(now - 70)  # its last held tick: 20 s left of the idle clock
    kiosk.window._busy_since = now - 75  # noqa: SLF001 - without waiting 75 s
    kiosk.window._tick()  # noqa: SLF001
    assert kiosk.window.idle.isVisible()
    shot("stick_not_answering")
    model.executor = kiosk.window._execute  # noqa: SLF001
    model.finish()

    assert seen == set(Screen), f"screens never shown: {set(Screen) - seen}"
    assert not problems, "\n".join(problems)

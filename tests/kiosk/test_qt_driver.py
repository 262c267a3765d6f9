"""Driver flows through the widgets, against the real local API and the simulated centre."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from kiosk import qt_app
from kiosk.api import KioskClient
from kiosk.flows import Screen
from kiosk.session import IdleClock
from rocars.timeutil import HK_TZ, minute_up
from tests.kiosk.conftest import Backend, copy_cert, open_kiosk
from tests.kiosk.hang_up import HangUpCentre, local_api_before
from tests.kiosk.kit import WAIT_MS, KioskUi
from ui_common.languages import Language

# The offscreen platform says this whenever a top-level window is shown.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def bundle_with_code(kiosk: KioskUi, backend: Backend, ccrns: list[str]) -> str:
    account = backend.account("valid", 0)
    kiosk.sign_in(account["account"], account["password"])
    kiosk.prepare_bundle(ccrns)
    kiosk.click("sign_with_code")
    kiosk.at(Screen.SIGN_CODE)
    kiosk.type("code", backend.code(account))
    kiosk.click("submit_code")
    kiosk.at(Screen.BUNDLE_RESULT)
    result = kiosk.model.result
    assert result is not None
    return result.ubr


def test_bundle_with_security_code_shows_the_result_in_hk_time(
    kiosk: KioskUi, backend: Backend
) -> None:
    ccrns = [backend.new_cargo(), backend.new_cargo()]
    ubr = bundle_with_code(kiosk, backend, ccrns)
    central = backend.api.client.get_bundle(ubr)
    assert central.ccrns == ccrns
    assert central.vrn == "KX88"
    assert central.earliest_at - central.bundled_at == timedelta(minutes=30)
    text = kiosk.screen_text()
    assert ubr in text
    earliest = minute_up(central.earliest_at)  # a "not before" time: rounded up
    assert earliest.astimezone(HK_TZ).strftime("%Y-%m-%d %H:%M") + " HKT" in text
    assert "深圳灣" in text  # the control point, named in the language on screen
    assert "進口（進入香港）" in text
    assert all(c in text for c in ccrns)
    assert not kiosk.model.code  # the code is gone once used


def test_print_receipt_writes_a_pdf_that_renders(
    kiosk: KioskUi, backend: Backend, tmp_path: Path
) -> None:
    ubr = bundle_with_code(kiosk, backend, [backend.new_cargo()])
    kiosk.click("lang_en")
    kiosk.click("print")
    assert kiosk.notice_key == "receipt_printed"
    pdf = kiosk.window.last_receipt
    assert pdf is not None
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "100", "-singlefile", str(pdf), str(tmp_path / "receipt")],
        check=True,
        timeout=30,
    )
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    assert ubr in text
    assert "Earliest crossing time" in text
    assert "Shenzhen Bay" in text
    image = QImage(str(tmp_path / "receipt.png"))
    assert image.width() > 200
    assert image.height() > 400
    dark = sum(
        1
        for y in range(0, image.height(), 4)
        for x in range(0, image.width(), 4)
        if image.pixelColor(x, y).lightness() < 100
    )
    assert dark > 200  # ink on the paper, not a blank page


def to_bundle_details(kiosk: KioskUi, backend: Backend) -> None:
    """Signed in, one new CCRN added: the screen that asks for the plate (twice)."""
    account = backend.account("valid", 0)
    kiosk.sign_in(account["account"], account["password"])
    kiosk.click("menu_bundle")
    kiosk.type("ccrn", backend.new_cargo())
    kiosk.click("add_ccrn")
    kiosk.click("ccrns_next")
    kiosk.at(Screen.BUNDLE_DETAILS)


def test_a_plate_typed_differently_twice_is_typed_again(kiosk: KioskUi, backend: Backend) -> None:
    """The second box is cleared and gets the keys; tapping the first to mend it keeps
    the keys there (the focus is moved once a notice, not at every refresh)."""
    to_bundle_details(kiosk, backend)
    kiosk.type("vrn_again", "KX 89")
    kiosk.type("vrn", "KX 88")  # the keys were last on the first box
    kiosk.click("cp_SBC")
    kiosk.click("dir_import")
    kiosk.click("details_next")
    assert kiosk.model.screen == Screen.BUNDLE_DETAILS
    assert kiosk.notice_key == "vrn_mismatch"
    assert "兩次輸入的號碼不同" in kiosk.notice_text
    first, again = kiosk.screen.fields["vrn"], kiosk.screen.fields["vrn_again"]
    assert (first.text(), again.text()) == ("KX88", "")
    keyboard = kiosk.screen.keyboard
    assert keyboard is not None
    assert keyboard.target is again  # the keys type into the box that was cleared
    kiosk.type("vrn", "KX 89")  # the first was the wrong one
    assert keyboard.target is first
    kiosk.type("vrn_again", "kx89")
    kiosk.click("details_next")
    kiosk.at(Screen.BUNDLE_REVIEW)
    assert "KX89" in kiosk.screen_text()


def test_bundle_with_certificate(kiosk: KioskUi, backend: Backend, media: Path) -> None:
    account = backend.account("valid", 1)
    copy_cert(backend, account, media)
    ccrn = backend.new_cargo()
    kiosk.sign_in(account["account"], account["password"])
    kiosk.prepare_bundle([ccrn], vrn="KX 89")
    kiosk.click("sign_with_cert")
    kiosk.at(Screen.SIGN_CERT)
    kiosk.click(f"cert_{account['account']}")
    kiosk.at(Screen.SIGN_PIN)
    kiosk.type("pin", "000000" if account["cert_pin"] != "000000" else "111111")
    kiosk.click("submit_pin")
    assert kiosk.notice_key == "pin_wrong"
    assert kiosk.model.screen == Screen.SIGN_PIN
    assert not kiosk.screen.fields["pin"].text()  # a wrong PIN is cleared, not kept
    kiosk.type("pin", account["cert_pin"])
    kiosk.click("submit_pin")
    kiosk.at(Screen.BUNDLE_RESULT)
    assert kiosk.model.result is not None
    assert backend.api.client.get_bundle(kiosk.model.result.ubr).ccrns == [ccrn]


@pytest.mark.parametrize(
    ("case", "key"), [("expired", "cert_expired"), ("revoked", "cert_revoked")]
)
def test_unusable_certificate_is_refused_with_its_reason(
    kiosk: KioskUi, backend: Backend, media: Path, case: str, key: str
) -> None:
    account = backend.account(case)
    copy_cert(backend, account, media)
    kiosk.sign_in(account["account"], account["password"])
    kiosk.prepare_bundle([backend.new_cargo()])
    kiosk.click("sign_with_cert")
    kiosk.click(f"cert_{account['account']}")
    kiosk.type("pin", account["cert_pin"])
    kiosk.click("submit_pin")
    assert kiosk.notice_key == key
    assert kiosk.notice_text  # translated text, not the key
    assert key not in kiosk.notice_text
    assert kiosk.model.screen == Screen.SIGN_PIN


def test_cancel_one_ccrn_then_the_whole_bundle(kiosk: KioskUi, backend: Backend) -> None:
    first, second = backend.new_cargo(), backend.new_cargo()
    ubr = bundle_with_code(kiosk, backend, [first, second])
    account = backend.account("valid", 0)
    kiosk.click("done")
    kiosk.at(Screen.START)

    kiosk.sign_in(account["account"], account["password"])
    kiosk.click("menu_cancel")
    kiosk.type("ubr", ubr)
    kiosk.click("find_bundle")
    kiosk.at(Screen.CANCEL_CHOOSE)
    kiosk.click(f"cancel_{first}")
    kiosk.click("sign_with_code")
    # A wrong code first: refused with its message, nothing cancelled.
    wrong = "000000" if backend.code(account) != "000000" else "111111"
    kiosk.type("code", wrong)
    kiosk.click("submit_code")
    assert kiosk.notice_key == "security_code_invalid"
    assert backend.api.client.get_bundle(ubr).ccrns == [first, second]
    kiosk.type("code", backend.code(account))
    kiosk.click("submit_code")
    kiosk.at(Screen.CANCEL_RESULT)
    assert backend.api.client.get_bundle(ubr).ccrns == [second]
    assert backend.api.client.get_cargo(first).status == "submitted"

    kiosk.click("back")  # back to the driver's menu, still signed in
    kiosk.at(Screen.DRIVER_MENU)
    kiosk.click("menu_cancel")
    kiosk.type("ubr", ubr)
    kiosk.click("find_bundle")
    kiosk.click("cancel_all")
    kiosk.click("sign_with_code")
    kiosk.type("code", backend.code(account))
    kiosk.click("submit_code")
    kiosk.at(Screen.CANCEL_RESULT)
    assert backend.api.client.get_bundle(ubr).status == "cancelled"


def test_unknown_and_already_bundled_ccrns_are_refused_on_add(
    kiosk: KioskUi, backend: Backend
) -> None:
    account = backend.account("valid", 0)
    kiosk.sign_in(account["account"], account["password"])
    kiosk.click("menu_bundle")
    kiosk.type("ccrn", "1999999999")
    kiosk.click("add_ccrn")
    assert kiosk.notice_key == "ccrn_not_found"
    assert "1999999999" in kiosk.notice_text
    kiosk.type("ccrn", "1001041258")  # bundled in the demo data
    kiosk.click("add_ccrn")
    assert kiosk.notice_key == "ccrn_in_another_bundle"  # not added: nothing to remove
    assert "不能加入" in kiosk.notice_text  # the kiosk starts in Traditional Chinese
    kiosk.type("ccrn", "12345")
    kiosk.click("add_ccrn")
    assert kiosk.notice_key == "ccrn_invalid"
    assert kiosk.model.ccrns == []


def test_ccrn_bundled_meanwhile_is_refused_by_the_centre(kiosk: KioskUi, backend: Backend) -> None:
    ccrn = backend.new_cargo()
    account = backend.account("valid", 0)
    kiosk.sign_in(account["account"], account["password"])
    kiosk.prepare_bundle([ccrn])
    # Someone else bundles it (another kiosk) before this driver signs.
    other = backend.account("valid", 2)
    from rocars.models import BundleRequest, SecurityCodeAuth

    backend.api.client.bundle(
        BundleRequest(
            account=other["account"],
            password=other["password"],
            auth=SecurityCodeAuth(code=backend.code(other)),
            vrn="KX90",
            cp="SBC",
            direction="import",
            ccrns=[ccrn],
        )
    )
    kiosk.click("sign_with_code")
    kiosk.type("code", backend.code(account))
    kiosk.click("submit_code")
    assert kiosk.notice_key == "ccrn_already_bundled"
    assert ccrn in kiosk.notice_text


def test_security_code_lockout_is_shown(kiosk: KioskUi, backend: Backend) -> None:
    account = backend.account("foreign")  # this driver is used for nothing else
    kiosk.sign_in(account["account"], account["password"])
    kiosk.prepare_bundle([backend.new_cargo()])
    kiosk.click("sign_with_code")
    right = backend.code(account)
    wrong = "000000" if right != "000000" else "111111"
    keys = []
    for _ in range(6):
        kiosk.type("code", wrong)
        kiosk.click("submit_code")
        keys.append(kiosk.notice_key)
        if keys[-1] == "account_locked":
            break
    assert keys[0] == "security_code_invalid"
    assert keys[-1] == "account_locked"
    kiosk.type("code", backend.code(account))
    kiosk.click("submit_code")
    assert kiosk.notice_key == "account_locked"  # even the right code now
    assert "秒" in kiosk.notice_text  # retry time in the message


def test_queries_by_ubr_ccrn_and_earliest_time(kiosk: KioskUi, backend: Backend) -> None:
    kiosk.click("start_query")
    kiosk.at(Screen.QUERY)
    kiosk.type("query", "9110635860")
    kiosk.click("run_query")
    kiosk.at(Screen.QUERY_RESULT)
    assert "1001041258" in kiosk.screen_text()
    assert not kiosk.label("row_0").text() == ""
    kiosk.click("back")
    kiosk.click("query_ccrn")
    kiosk.type("query", "1001041258")
    kiosk.click("run_query")
    kiosk.at(Screen.QUERY_RESULT)
    text = kiosk.screen_text()
    assert "9110635860" in text
    assert "已綑綁" in text
    kiosk.click("back")
    kiosk.click("query_earliest")
    kiosk.type("query", "9110635860")
    kiosk.click("run_query")
    kiosk.at(Screen.QUERY_RESULT)
    headline = kiosk.label("headline").text()
    bundle = backend.api.client.get_bundle("9110635860")
    assert bundle.earliest_at.astimezone(HK_TZ).strftime("%H:%M") in headline
    kiosk.click("back")
    kiosk.click("query_ubr")
    kiosk.type("query", "9999999999")
    kiosk.click("run_query")
    assert kiosk.notice_key == "ubr_not_found"


def test_query_while_the_centre_is_down_says_it_may_be_stale(
    kiosk: KioskUi, backend: Backend
) -> None:
    backend.api.central_down()
    try:
        kiosk.click("start_query")
        kiosk.type("query", "9110635860")
        kiosk.click("run_query")
        kiosk.at(Screen.QUERY_RESULT)
        stale = kiosk.label("stale").text()
        assert "可能不是最新" in stale
        # a number the copy does not know: said with the copy's time, as that line says it
        copy_time = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", stale)
        assert copy_time is not None
        kiosk.click("back")
        kiosk.at(Screen.QUERY)
        kiosk.type("query", "9999999999")
        kiosk.click("run_query")
        assert kiosk.notice_key == "ubr_not_found_stale"
        assert f"於香港時間 {copy_time.group()} 的資料副本沒有 UBR 9999999999" in kiosk.notice_text
        # bundling is refused with a clear message
        kiosk.click("finish")
        account = backend.account("valid", 0)
        kiosk.sign_in(account["account"], account["password"])
        kiosk.click("menu_bundle")
        kiosk.type("ccrn", "1001041283")
        kiosk.click("add_ccrn")  # the replica still knows it
        kiosk.click("ccrns_next")
        kiosk.type("vrn", "KX1")
        kiosk.type("vrn_again", "KX1")
        kiosk.click("cp_SBC")
        kiosk.click("dir_import")
        kiosk.click("details_next")
        kiosk.click("review_confirm")
        kiosk.click("sign_with_code")
        kiosk.type("code", backend.code(account))
        kiosk.click("submit_code")
        assert kiosk.notice_key == "central_unavailable"
    finally:
        backend.api.central_back()
    kiosk.click("finish")
    kiosk.click("start_query")
    kiosk.type("query", "9110635860")
    kiosk.click("run_query")
    kiosk.at(Screen.QUERY_RESULT)
    assert kiosk.model.stale_since is None
    assert not [w for w in kiosk.window.findChildren(QLabel, "stale") if w.isVisible()]


def test_a_slow_query_says_please_wait_and_keeps_the_session(
    qtbot: QtBot, hang_up_centre: HangUpCentre, media: Path, tmp_path: Path
) -> None:
    """The centre says nothing; the agent waits for it (2 s here, up to two minutes on a
    site), then answers from its copy. Meanwhile the driver sees "Please wait…", the idle
    clock (set to clear the session after 1 s here) holds, and the answer is shown when
    it comes: not cut off by the kiosk's own 0.5 s connect timeout."""
    hang_up_centre.delay = 30.0  # silent, until the test ends
    with (
        local_api_before(hang_up_centre.url, tmp_path, agent_timeout=2.0) as url,
        open_kiosk(qtbot, KioskClient(url, timeout=0.5), media, tmp_path / "print") as kiosk,
    ):
        kiosk.model.idle = IdleClock(warn_after=0.5, reset_after=1.0)
        session = kiosk.model.session
        kiosk.click("start_query")
        kiosk.type("query", "9110635860")
        qtbot.mouseClick(kiosk.button("run_query"), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(kiosk.window.busy.isVisible, timeout=WAIT_MS)
        assert kiosk.window.busy.text() == "請稍候…"
        kiosk.wait_idle()
        assert kiosk.model.session == session  # not cleared while the driver waited
        assert kiosk.notice_key == "ubr_not_found_never_synced"
        assert "9110635860" in kiosk.notice_text
        assert not kiosk.window.busy.isVisible()
        assert not kiosk.window.idle.isVisible()
        assert kiosk.screen.fields["query"].text() == "9110635860"


def test_a_long_wait_says_how_long_so_far_until_the_answer_comes(
    qtbot: QtBot,
    hang_up_centre: HangUpCentre,
    media: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past BUSY_HINT_AFTER_S (15 s on a site, 0.3 s here) "Please wait…" also says the
    kiosk is still working and how long it has waited, counting on, so a driver does not
    take two minutes of the same words for a kiosk that hung. The answer takes it away;
    the next call starts again at "Please wait…"."""
    monkeypatch.setattr(qt_app, "BUSY_HINT_AFTER_S", 0.3)
    monkeypatch.setattr(qt_app, "BUSY_HINT_EVERY_MS", 50)
    hang_up_centre.delay = 30.0  # silent, until the test ends: each query waits 2.5 s
    with (
        local_api_before(hang_up_centre.url, tmp_path, agent_timeout=2.5) as url,
        open_kiosk(qtbot, KioskClient(url, timeout=0.5), media, tmp_path / "print") as kiosk,
    ):
        busy = kiosk.window.busy
        kiosk.click("start_query")
        kiosk.type("query", "9110635860")
        for wait, hint in (
            ("請稍候…", r"仍在處理中… 已等候 (\d+) 秒。回覆比平常慢，請繼續等候。"),
            (
                "Please wait…",
                r"Still working… (\d+) s so far\. The answer is taking longer than usual;"
                r" please keep waiting\.",
            ),
        ):
            qtbot.mouseClick(kiosk.button("run_query"), Qt.MouseButton.LeftButton)
            assert busy.isVisible()
            assert busy.text() == wait  # a new call: not the last one's time
            qtbot.waitUntil(lambda: busy.text() != wait, timeout=WAIT_MS)  # noqa: B023
            counted = re.fullmatch(hint, busy.text())
            assert counted is not None, busy.text()
            first = int(counted[1])
            assert first < 2  # counted from this call's start (each takes 2.5 s)
            qtbot.waitUntil(lambda: f" {first + 1} " in busy.text())  # noqa: B023 - counting on
            kiosk.wait_idle()
            assert not busy.isVisible()
            assert kiosk.notice_key == "ubr_not_found_never_synced"
            kiosk.click("lang_en")  # and the next call in English
        kiosk.click("lang_zh_TW")
        assert busy.text() == "請稍候…"  # gone with the answer, not only hidden


def test_a_quick_answer_never_says_how_long_it_took(
    kiosk: KioskUi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer within BUSY_HINT_AFTER_S (1 s here) leaves "Please wait…" as it was, also
    once that time has passed: the count stops with the answer."""
    monkeypatch.setattr(qt_app, "BUSY_HINT_AFTER_S", 1.0)
    kiosk.window.busy_timer.setInterval(50)
    busy = kiosk.window.busy
    shown: list[str] = []
    set_text = busy.setText
    monkeypatch.setattr(busy, "setText", lambda text: (shown.append(text), set_text(text)))
    kiosk.click("start_query")
    kiosk.type("query", "9110635860")
    kiosk.click("run_query")  # the centre answers at once
    kiosk.at(Screen.QUERY_RESULT)
    end = time.monotonic() + 2 * qt_app.BUSY_HINT_AFTER_S  # past the hint's time, idle
    qtbot = kiosk.qtbot
    qtbot.waitUntil(lambda: time.monotonic() > end, timeout=WAIT_MS)
    kiosk.click("lang_en")
    assert not busy.isVisible()
    assert "請稍候…" in shown
    assert set(shown) <= {"請稍候…", "Please wait…"}


def test_language_switch_mid_flow_keeps_what_was_typed(kiosk: KioskUi, backend: Backend) -> None:
    account = backend.account("valid", 0)
    kiosk.sign_in(account["account"], account["password"])
    kiosk.click("menu_bundle")
    kiosk.type("ccrn", "1999999999")
    kiosk.click("add_ccrn")
    assert "道路貨物資料系統沒有" in kiosk.notice_text
    kiosk.click("lang_en")
    assert kiosk.model.lang == Language.EN
    assert kiosk.screen.title.text() == "Bundle: the CCRNs on this truck"
    assert "not known to ROCARS" in kiosk.notice_text
    assert kiosk.screen.fields["ccrn"].text() == "1999999999"
    kiosk.click("lang_zh_CN")
    assert kiosk.screen.title.text() == "捆绑：这辆货车的 CCRN"
    assert "道路货物资料系统没有" in kiosk.notice_text
    assert kiosk.button("back").text() == "◀ 返回"


def test_back_to_the_first_screen_leaves_nothing_for_the_next_person(
    kiosk: KioskUi, backend: Backend
) -> None:
    account = backend.account("valid", 0)
    kiosk.click("lang_en")
    kiosk.sign_in(account["account"], account["password"])
    kiosk.click("back")
    kiosk.at(Screen.SIGN_IN)
    kiosk.click("back")  # to the first screen, and the driver walks away
    kiosk.at(Screen.START)
    assert not kiosk.model.password
    sign_in = kiosk.window.screens[Screen.SIGN_IN]
    assert sign_in.fields["account"].text() == ""
    assert sign_in.fields["password"].text() == ""
    assert kiosk.model.lang == Language.EN  # the language chosen stays
    kiosk.click("start_driver")  # the next person
    kiosk.at(Screen.SIGN_IN)
    assert sign_in.fields["account"].text() == ""
    kiosk.click("sign_in")
    assert kiosk.notice_key == "account_invalid"
    assert kiosk.model.screen == Screen.SIGN_IN


def test_a_tapped_field_takes_the_keys_while_another_window_is_active(
    kiosk: KioskUi, backend: Backend, qtbot: QtBot
) -> None:
    """A tap on a field points the keys at it even when the kiosk's window is not the
    active one (a system dialog, a window that took the activation): the focus, and its
    focus-in event, wait for the activation; the driver's keys must not."""
    to_bundle_details(kiosk, backend)
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is other, timeout=WAIT_MS)
    kiosk.type("vrn", "KX 88")
    kiosk.type("vrn_again", "KX 88")
    assert (kiosk.model.input("vrn"), kiosk.model.input("vrn_again")) == ("KX 88", "KX 88")

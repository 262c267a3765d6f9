"""Sessions end cleanly: the idle timeout, and nothing personal left behind."""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from kiosk.api import KioskClient
from kiosk.flows import Kiosk, Screen
from kiosk.qt_app import CATALOGUE, KioskWindow
from kiosk.session import IdleClock
from rocars.broker import free_port
from tests.kiosk.conftest import Backend, copy_cert
from tests.kiosk.kit import KioskUi
from ui_common.i18n import Translations
from ui_common.languages import Language

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def test_idle_warns_then_clears_everything(kiosk: KioskUi, backend: Backend) -> None:
    kiosk.model.idle = IdleClock(warn_after=0.5, reset_after=1.5)
    account = backend.account("valid", 0)
    kiosk.click("lang_en")
    kiosk.sign_in(account["account"], account["password"])
    kiosk.click("menu_bundle")
    kiosk.type("ccrn", "1001041283")
    kiosk.qtbot.waitUntil(kiosk.window.idle.isVisible, timeout=5000)
    assert "cleared in" in kiosk.window.idle_text.text()
    kiosk.click("idle_continue")  # the person is still there
    assert not kiosk.window.idle.isVisible()
    assert kiosk.model.screen == Screen.BUNDLE_CCRNS
    kiosk.qtbot.waitUntil(kiosk.window.idle.isVisible, timeout=5000)
    kiosk.qtbot.waitUntil(lambda: kiosk.model.screen == Screen.START, timeout=5000)
    assert not kiosk.window.idle.isVisible()
    assert kiosk.model.lang == Language.ZH_TW  # the next person starts in the default
    assert kiosk.model.account == ""
    assert not kiosk.model.password
    kiosk.click("start_driver")
    assert kiosk.screen.fields["account"].text() == ""
    assert kiosk.screen.fields["password"].text() == ""


def test_local_api_unreachable_is_said_plainly(kiosk: KioskUi) -> None:
    kiosk.model.api = KioskClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    kiosk.click("start_query")
    kiosk.type("query", "9110635860")
    kiosk.click("run_query")
    assert kiosk.notice_key == "kiosk_offline"
    assert kiosk.model.screen == Screen.QUERY


def _files_since(folder: Path, since: float) -> list[Path]:
    out = []
    for path in folder.rglob("*"):
        try:
            # regular files only: a link to a /proc file (as other runs leave under /tmp)
            # "changes" all the time, and reading it need not end
            if path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_mtime >= since and path.stat().st_size < 5e6:
                out.append(path)
        except OSError:  # a temporary file another process just removed
            continue
    return out


def _has(secret: str, data: bytes) -> bool:
    return (
        re.search(rb"(?<![0-9A-Za-z])" + re.escape(secret.encode()) + rb"(?![0-9A-Za-z])", data)
        is not None
    )


def test_nothing_personal_is_kept_after_a_session(
    kiosk: KioskUi, backend: Backend, media: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.time() - 1
    account = backend.account("valid", 1)
    cert = copy_cert(backend, account, media)
    kiosk.sign_in(account["account"], account["password"])
    kiosk.prepare_bundle([backend.new_cargo()])
    kiosk.click("sign_with_cert")
    kiosk.click(f"cert_{account['account']}")
    kiosk.type("pin", account["cert_pin"])
    kiosk.click("submit_pin")
    kiosk.at(Screen.BUNDLE_RESULT)
    kiosk.click("print")
    assert kiosk.model.result is not None
    ubr = kiosk.model.result.ubr
    kiosk.click("back")
    kiosk.click("menu_cancel")
    kiosk.type("ubr", ubr)
    kiosk.click("find_bundle")
    kiosk.click("cancel_all")
    kiosk.click("sign_with_code")
    code = backend.code(account)
    kiosk.type("code", code)
    kiosk.click("submit_code")
    kiosk.at(Screen.CANCEL_RESULT)
    kiosk.click("print")
    kiosk.click("done")
    kiosk.at(Screen.START)

    secrets = [account["password"], account["cert_pin"], code]
    # nothing in the model or the widgets
    model = kiosk.model
    assert not model.password
    assert not model.pin
    assert not model.code
    assert not model.account
    assert "Secret(***)" == repr(model.password)
    for screen in kiosk.window.screens.values():
        for widget in screen.fields.values():
            assert widget.text() not in secrets or widget.text() == ""
    # nothing in the logs
    logged = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert logged, "the session logged nothing at all?"
    for secret in secrets:
        assert not _has(secret, logged), "a secret reached the log"
    # nothing on disk: receipts, the media, the local API's data, temporary files
    written = _files_since(tmp_path, started) + _files_since(
        backend.api.replica.path.parent, started
    )
    # New temporary files anywhere, except other tests' own folders (tmp_path is ours).
    written += [
        p
        for p in _files_since(Path(tempfile.gettempdir()), started)
        if not any(part.startswith("pytest-of-") for part in p.parts)
    ]
    written = sorted(set(written))
    receipts = [p for p in written if p.suffix == ".pdf"]
    assert len(receipts) == 2
    assert sorted(p.name for p in media.iterdir()) == [cert.name]  # nothing added to the stick
    for path in written:
        if path == cert:
            continue
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # another program's short-lived temporary file: not kept
            continue
        for secret in secrets:
            assert not _has(secret, data), f"a secret was written to {path}"


def test_hung_usb_sticks_neither_hold_the_session_nor_block_other_calls(
    kiosk: KioskUi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stick whose listing never returns: after ``MEDIA_HOLD_S`` the idle clock clears
    the session; and with two such sticks' calls hung, a query still gets its answer (the
    stick's calls have threads of their own; found in review: two hung listings took the
    pool's two threads, and every later call waited for ever, the session held with it)."""
    hung = threading.Event()

    def never_returns(media: Path) -> list[Path]:
        hung.wait(30)
        return []

    monkeypatch.setattr("kiosk.flows.list_batch_files", never_returns)
    monkeypatch.setattr("kiosk.flows.MEDIA_HOLD_S", 0.3)
    kiosk.model.idle = IdleClock(warn_after=0.3, reset_after=0.8)
    try:
        for _ in range(2):
            kiosk.click("start_shipper")
            kiosk.qtbot.mouseClick(kiosk.button("menu_batch"), Qt.MouseButton.LeftButton)
            assert kiosk.model.busy
            kiosk.qtbot.waitUntil(lambda: kiosk.model.screen == Screen.START, timeout=5000)
            assert not kiosk.model.busy
        kiosk.model.idle = IdleClock()
        # a third stick call would wait behind the two for ever: refused at once, said
        kiosk.click("start_shipper")
        kiosk.click("menu_batch")
        assert not kiosk.model.busy
        assert kiosk.notice_key == "media_not_answering"
        assert "USB" in kiosk.window.notice.text()  # translated, not the key
        kiosk.model.reset()
        kiosk.click("start_query")
        kiosk.type("query", "9110635860")
        kiosk.click("run_query")
        kiosk.qtbot.waitUntil(lambda: not kiosk.model.busy, timeout=5000)
        assert [b.ubr for b in kiosk.model.query_bundles] == ["9110635860"]
    finally:
        hung.set()


def test_calls_that_follow_each_other_count_one_wait(
    kiosk: KioskUi, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is read off the stick, sent, and its results written, three calls one
    after the other: "Please wait" counts the person's one wait from the first, not
    from 0 s at each (found in review)."""
    monkeypatch.setattr("kiosk.qt_app.BUSY_HINT_AFTER_S", 0.3)

    def slow_read(*args: object, **kwargs: object) -> list[object]:
        time.sleep(0.5)
        return []

    def slow_write(*args: object) -> None:
        time.sleep(1.0)

    monkeypatch.setattr("kiosk.flows.read_batch", slow_read)
    monkeypatch.setattr(kiosk.model, "_save_results", slow_write)
    (media / "b.csv").write_text("x\n")
    kiosk.click("start_shipper")
    kiosk.click("menu_batch")
    kiosk.qtbot.mouseClick(kiosk.button("upload_b.csv"), Qt.MouseButton.LeftButton)
    kiosk.qtbot.waitUntil(lambda: kiosk.model.screen == Screen.BATCH_RESULT, timeout=5000)
    assert kiosk.model.busy  # the results being written
    assert kiosk.window.busy.text() != "請稍候…"  # the hint: waited past 0.3 s already
    kiosk.wait_idle()


def test_a_hung_usb_stick_does_not_hold_the_kiosk_open(
    qtbot: QtBot,
    backend: Backend,
    media: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The window goes (closed, then destroyed as the process ends) while a stick's call
    has not come back: it does not wait for the call, and the late answer is dropped,
    said in the log (found in review: the stick's thread pool, destroyed with the window,
    waited for its running call, so a kiosk with a hung stick never ended)."""
    hung = threading.Event()
    came_back = threading.Event()

    def never_returns(folder: Path) -> list[Path]:
        hung.wait(60)
        came_back.set()
        return []

    monkeypatch.setattr("kiosk.flows.list_batch_files", never_returns)
    translations = Translations([CATALOGUE], Language.EN)
    client = KioskClient(backend.api.url)
    model = Kiosk(client, media=media, idle=IdleClock(warn_after=60, reset_after=90))
    window = KioskWindow(model, translations, print_dir=tmp_path / "print", tick_ms=50)
    try:
        window.show()
        qtbot.waitExposed(window)
        ui = KioskUi(window, model, qtbot)
        ui.click("start_shipper")
        qtbot.mouseClick(ui.button("menu_batch"), Qt.MouseButton.LeftButton)
        assert model.busy
        stick = [t for t in threading.enumerate() if t.name == "kiosk-stick"]
        assert len(stick) == 1
        assert stick[0].daemon  # left behind, never waited for at exit
        window.close()
        shiboken6.delete(window)  # what the end of the process does to it
        assert not came_back.is_set()  # the window went while the call was still out
    finally:
        hung.set()
        translations.close()
        client.close()
    with caplog.at_level(logging.INFO, logger="kiosk.qt_app"):
        stick[0].join(10)
        assert not stick[0].is_alive()
    assert "answered after the kiosk window closed" in caplog.text

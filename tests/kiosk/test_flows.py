"""The flow model on its own: no widgets, calls run synchronously against the real local API."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from kiosk.api import KioskClient
from kiosk.flows import Call, Kiosk, QueryMode, Screen
from kiosk.session import IdleClock, Secret
from rocars.ids import ControlPoint, Direction
from tests.kiosk.conftest import Backend
from ui_common.languages import Language


@pytest.fixture
def model(backend: Backend, tmp_path: Path) -> Kiosk:
    return Kiosk(KioskClient(backend.api.url), media=tmp_path)


def test_a_whole_bundle_without_widgets(model: Kiosk, backend: Backend) -> None:
    account = backend.account("valid", 2)
    model.start_driver()
    model.set_input("account", account["account"])
    model.set_input("password", account["password"])
    model.sign_in()
    assert model.screen == Screen.DRIVER_MENU
    model.driver_bundle()
    ccrn = backend.new_cargo()
    model.set_input("ccrn", ccrn)
    model.add_ccrn()
    model.ccrns_next()
    model.set_input("vrn", "kx 1o1")  # typed loosely: normalised, O read as 0
    model.set_cp(ControlPoint.SBC)
    model.set_direction(Direction.IMPORT)
    model.details_next()
    assert model.input("vrn") == "KX101"
    model.review_confirm()
    model.choose_code()
    model.set_input("code", backend.code(account))
    model.submit_code()
    assert model.screen == Screen.BUNDLE_RESULT, model.notice
    assert model.result is not None
    assert model.result.ccrns == [ccrn]
    assert not model.code
    model.set_language(Language.EN)
    model.home()
    assert model.screen == Screen.DRIVER_MENU
    assert model.account == account["account"]


def test_local_checks_before_anything_is_sent(model: Kiosk) -> None:
    model.start_driver()
    model.set_input("account", "12345")
    model.sign_in()
    assert model.notice is not None
    assert model.notice.key == "account_invalid"
    model.set_input("account", "123456")
    model.sign_in()
    assert model.notice is not None
    assert model.notice.key == "password_required"
    model.set_input("password", "x")
    model.sign_in()
    model.driver_bundle()
    model.ccrns_next()
    assert model.notice is not None
    assert model.notice.key == "ccrns_empty"
    model.set_input("ccrn", "1001 0412 83")
    model.add_ccrn()
    assert model.ccrns == ["1001041283"]
    assert model.input("ccrn") == ""  # cleared for the next one
    model.set_input("ccrn", "1001041283")
    model.add_ccrn()
    assert model.notice is not None
    assert model.notice.key == "ccrn_duplicate"
    model.ccrns_next()
    model.set_input("vrn", "TOO LONG PLATE")
    model.details_next()
    assert model.notice is not None
    assert model.notice.key == "vrn_invalid"
    model.set_input("vrn", "KX1")
    model.details_next()
    assert model.notice is not None
    assert model.notice.key == "cp_required"
    model.set_cp(ControlPoint.SBC)
    model.details_next()
    assert model.notice is not None
    assert model.notice.key == "direction_required"
    model.set_direction(Direction.IMPORT)
    model.details_next()
    model.review_confirm()
    model.choose_code()
    model.set_input("code", "12a")
    model.submit_code()
    assert model.notice is not None
    assert model.notice.key == "security_code_format"
    model.choose_certificate()  # nothing on the media
    assert model.notice is not None
    assert model.notice.key == "cert_none_found"
    model.start_query()
    model.set_query_mode(QueryMode.CCRN)
    model.set_input("query", "99")
    model.run_query()
    assert model.notice is not None
    assert model.notice.key == "ccrn_invalid"


def test_an_answer_after_the_session_ended_is_dropped(backend: Backend, tmp_path: Path) -> None:
    pending: list[Call] = []
    model = Kiosk(KioskClient(backend.api.url), media=tmp_path, executor=pending.append)
    model.start_query()
    model.set_input("query", "9110635860")
    model.run_query()
    assert model.busy
    assert len(pending) == 1
    model.run_query()  # pressed again while busy: ignored
    assert len(pending) == 1
    model.reset()  # the person walked away
    call = pending[0]
    model.complete(call, call.work(), None)
    assert model.screen == Screen.START
    assert model.query_bundles == []
    assert not model.busy


def test_idle_clock_and_secrets() -> None:
    clock = IdleClock(warn_after=10, reset_after=20)
    clock.touch(100)
    assert clock.check(105) == "active"
    assert clock.check(111) == "warn"
    assert clock.warned
    assert clock.seconds_left(111) == 9
    assert clock.check(121) == "expired"
    with pytest.raises(ValueError, match="warn_after"):
        IdleClock(warn_after=5, reset_after=5)
    secret = Secret("123456")
    assert "123456" not in repr(secret)
    assert "123456" not in f"{secret}"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    secret.clear()
    assert not secret
    assert secret.reveal() == ""


def test_idle_at_the_start_screen_does_nothing_but_a_changed_language_resets(
    model: Kiosk,
) -> None:
    model.idle = IdleClock(warn_after=1, reset_after=2)
    model.touch(0)
    assert model.tick(100) == "active"
    model.set_language(Language.ZH_CN)
    assert model.tick(200) == "expired"
    assert model.lang == Language.ZH_TW

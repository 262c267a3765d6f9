"""The flow model on its own: no widgets, calls run synchronously against the real local API."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from kiosk.api import AGENT_MAX_CENTRAL_TIMEOUT_S, KIOSK_ANSWER_TIMEOUT_S, KioskClient
from kiosk.flows import MEDIA_HOLD_S, Call, Kiosk, QueryMode, Screen, hk_time
from kiosk.session import IdleClock, Secret
from rocars.client import DEADLINE_FACTOR, ApiError
from rocars.ids import ControlPoint, Direction
from rocars.models import BundleStatus
from sync.config import CentralConfig
from sync.local_api import refusing_router
from tests.fixtures.asgi import fixed_answer, proxy_page, serving
from tests.kiosk.conftest import Backend, copy_cert, held_kiosk
from tests.kiosk.hang_up import HangUpCentre, local_api_before
from tests.sync.test_local_api import items
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
    model.set_input("vrn_again", "KX101")  # the same plate, typed as it reads
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


def test_the_plate_must_be_typed_the_same_twice(model: Kiosk, backend: Backend) -> None:
    """A mistyped plate names another truck: typed twice, a typo in one is caught."""
    model.start_driver()
    model.set_input("account", "123456")
    model.set_input("password", "x")
    model.sign_in()
    model.driver_bundle()
    model.set_input("ccrn", backend.new_cargo())
    model.add_ccrn()
    model.ccrns_next()
    model.set_cp(ControlPoint.SBC)
    model.set_direction(Direction.IMPORT)
    for first, second in (("KX 88", "KX 89"), ("KX88", "KX888"), ("KX88", "KX 88!")):
        model.set_input("vrn", first)
        model.set_input("vrn_again", second)
        model.details_next()
        assert model.screen == Screen.BUNDLE_DETAILS
        assert model.notice is not None
        assert model.notice.key == "vrn_mismatch"
        assert model.input("vrn") == "KX88"  # the first is kept, the second cleared
        assert model.input("vrn_again") == ""
    model.details_next()  # the second left empty
    assert model.notice is not None
    assert model.notice.key == "vrn_again_required"
    assert model.screen == Screen.BUNDLE_DETAILS
    model.set_input("vrn_again", "kx 88")  # the same plate, however spaced or cased
    model.details_next()
    assert model.screen == Screen.BUNDLE_REVIEW
    assert (model.input("vrn"), model.input("vrn_again")) == ("KX88", "KX88")
    model.back()
    model.back()
    model.driver_bundle()  # a new bundle asks for both again
    assert (model.input("vrn"), model.input("vrn_again")) == ("", "")


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
    assert model.notice.key == "vrn_again_required"
    model.set_input("vrn_again", "KX1")
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


def test_the_idle_clock_waits_while_a_call_is_out(backend: Backend, tmp_path: Path) -> None:
    """A slow answer (a write may take two minutes) is not a person gone: the session and
    the answer stay, and the idle clock runs again from when the answer came."""
    pending: list[Call] = []
    model = Kiosk(KioskClient(backend.api.url), media=tmp_path, executor=pending.append)
    model.idle = IdleClock(warn_after=1, reset_after=2)
    model.touch(0)
    model.start_query()
    model.set_input("query", "9110635860")
    model.run_query()
    assert model.busy
    session = model.session
    assert model.tick(100) == "active"  # no warning, no reset while the answer is awaited
    call = pending[0]
    model.complete(call, call.work(), None)
    assert model.session == session
    assert [b.ubr for b in model.query_bundles] == ["9110635860"]
    assert model.tick(101.5) == "warn"
    assert model.tick(103) == "expired"


@pytest.mark.parametrize("touched", [False, True])
def test_the_idle_clock_waits_for_the_usb_stick_only_so_long(tmp_path: Path, touched: bool) -> None:
    """A stick that hangs may never end its listing: past ``MEDIA_HOLD_S`` the idle clock
    runs, and a session nobody is at is cleared (its late answer dropped); a touch keeps
    it, as on any screen (found in review: the session stood until Finish)."""
    pending: list[Call] = []
    model = Kiosk(KioskClient("http://127.0.0.1:9"), media=tmp_path, executor=pending.append)
    model.idle = IdleClock(warn_after=10, reset_after=20)
    model.touch(0)
    model.start_shipper()
    model.batch_start()
    assert model.busy
    session = model.session
    assert model.tick(1) == "active"
    assert model.tick(1 + MEDIA_HOLD_S - 1) == "active"  # waited for, as any call
    if touched:
        model.touch(1 + MEDIA_HOLD_S + 5)
    assert model.tick(1 + MEDIA_HOLD_S + 10) == ("active" if touched else "warn")
    assert model.tick(1 + MEDIA_HOLD_S + 20) == ("warn" if touched else "expired")
    assert (model.session == session) is touched
    call = pending[0]
    model.complete(call, call.work(), None)
    assert model.screen == (Screen.BATCH if touched else Screen.START)
    assert not model.busy
    if touched:
        # the answer, in after the hold: the idle clock starts again from it
        assert model.tick(1 + MEDIA_HOLD_S + 21) == "active"
        assert model.tick(1 + MEDIA_HOLD_S + 32) == "warn"


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


def test_back_to_the_first_screen_ends_the_session(model: Kiosk) -> None:
    """A driver who backs out to the first screen and walks away leaves nothing behind:
    the next person pressing "Truck driver", "Sign in" is not signed in as them."""
    shown: list[Screen] = []
    model.add_listener(lambda: shown.append(model.screen))
    model.set_language(Language.EN)
    model.start_driver()
    model.set_input("account", "110928")
    model.set_input("password", "s3cret-pass")
    model.sign_in()
    session = model.session
    model.back()
    assert model.password  # one screen back is still the same person
    model.back()
    assert shown[-3:] == [Screen.DRIVER_MENU, Screen.SIGN_IN, Screen.START]
    assert model.session == session + 1  # the window wipes every screen's fields
    assert not model.password
    assert model.account == ""
    assert model.input("account") == ""
    assert model.lang == Language.EN  # the language they chose stays on the first screen
    model.start_driver()
    model.sign_in()
    assert model.screen == Screen.SIGN_IN
    assert model.notice is not None
    assert model.notice.key == "account_invalid"


def test_idle_at_the_start_screen_clears_whatever_is_held(model: Kiosk) -> None:
    """Only a first screen nobody has used is left alone; anything held there is cleared."""
    model.idle = IdleClock(warn_after=1, reset_after=2)
    model.touch(0)
    model.set_input("account", "110928")
    model.set_input("password", "s3cret-pass")
    assert model.screen == Screen.START
    assert model.tick(1.5) == "warn"
    assert model.tick(100) == "expired"
    assert not model.password
    assert model.input("account") == ""
    assert model.tick(200) == "active"  # now nothing is held


def fill_cargo_form(model: Kiosk) -> None:
    """A shipper's new cargo form, filled in right (today's date, import)."""
    model.start_shipper()
    model.new_cargo()
    for name, value in {
        "packages": "3", "package_description": "CARTONS", "article_description": "TEA",
        "consignor_name": "A", "consignor_address": "B", "consignee_name": "C",
        "consignee_address": "D",
    }.items():  # fmt: skip
        model.set_input(f"cargo.{name}", value)


@pytest.fixture
def hung_up_kiosk(hang_up_centre: HangUpCentre, tmp_path: Path) -> Iterator[Kiosk]:
    """A kiosk on the real local API (uvicorn, loopback) in front of ``hang_up_centre``."""
    with local_api_before(hang_up_centre.url, tmp_path) as url:
        client = KioskClient(url)
        yield Kiosk(client, media=tmp_path)
        client.close()


def test_a_write_the_centre_may_have_done_says_check_first(
    hung_up_kiosk: Kiosk, hang_up_centre: HangUpCentre
) -> None:
    """The centre hangs up after reading the cargo: it may have issued a CCRN, so the
    shipper is told to check before sending again, not "try again later"."""
    model = hung_up_kiosk
    fill_cargo_form(model)
    model.cargo_submit()
    assert hang_up_centre.received == ["POST /v1/cargo HTTP/1.1"]  # it reached the centre
    assert model.screen == Screen.CARGO_FORM
    assert model.notice is not None
    # new cargo data: no CCRN to check with Query, ask staff (a second CCRN otherwise)
    assert model.notice.key == "cargo_maybe_submitted"
    hang_up_centre.gone()
    model.cargo_submit()  # the same form again: now the centre refuses the connection
    assert model.notice is not None
    assert model.notice.key == "central_unavailable"  # surely not done


@pytest.mark.parametrize("delay", [0.0, 30.0], ids=["hangs_up", "says_nothing"])
def test_a_write_lost_on_the_kiosks_own_link_says_check_first(
    hang_up_centre: HangUpCentre, tmp_path: Path, delay: float
) -> None:
    """The local API read the whole cargo request, then the kiosk's own connection to it
    broke or timed out: the agent may have had a CCRN issued, so not "try again". A query
    lost the same way, or a write that never left the kiosk, changed nothing."""
    local_api = hang_up_centre  # in the local API's place this time
    local_api.delay = delay
    client = KioskClient(local_api.url, timeout=0.5, answer_timeout=0.5)
    model = Kiosk(client, media=tmp_path)
    fill_cargo_form(model)
    model.cargo_submit()
    assert local_api.received == ["POST /v1/cargo HTTP/1.1"]  # it reached the local API
    assert model.screen == Screen.CARGO_FORM
    assert model.notice is not None
    assert model.notice.key == "cargo_maybe_submitted"  # new cargo data: ask staff
    model.start_query()
    model.set_input("query", "9110635860")
    model.run_query()
    assert local_api.received[-1] == "GET /v1/bundles/9110635860 HTTP/1.1"
    assert model.notice is not None
    assert model.notice.key == "kiosk_offline"  # a query did nothing
    local_api.gone()
    model.back()
    assert model.screen == Screen.CARGO_FORM
    model.cargo_submit()  # the same form again: now the connection is refused
    assert model.notice is not None
    assert model.notice.key == "kiosk_offline"  # surely not done
    client.close()


def test_every_call_waits_for_the_local_api_longer_than_the_agent_waits_for_the_centre(
    hang_up_centre: HangUpCentre, tmp_path: Path
) -> None:
    """A slow centre's answer reaches the person, to a write as to a query (not cut off as
    "offline")."""
    CentralConfig(timeout_s=AGENT_MAX_CENTRAL_TIMEOUT_S)
    with pytest.raises(ValidationError):
        CentralConfig(timeout_s=AGENT_MAX_CENTRAL_TIMEOUT_S + 0.001)
    assert KIOSK_ANSWER_TIMEOUT_S > AGENT_MAX_CENTRAL_TIMEOUT_S * DEADLINE_FACTOR
    assert KioskClient("http://127.0.0.1:1").answer_timeout.read == KIOSK_ANSWER_TIMEOUT_S
    # The local API answers after the connect timeout but within the answer timeout.
    local_api = hang_up_centre
    local_api.delay = 1.0
    body = b'{"error":"central_unavailable","detail":{"what":"x","maybe_applied":false}}'
    local_api.answer = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    )
    client = KioskClient(local_api.url, timeout=0.3, answer_timeout=10.0)
    model = Kiosk(client, media=tmp_path)
    fill_cargo_form(model)
    model.cargo_submit()
    assert model.notice is not None
    assert model.notice.key == "central_unavailable"  # the local API's answer, heard
    model.start_query()
    model.set_input("query", "9110635860")
    model.run_query()
    assert model.notice is not None
    assert model.notice.key == "central_unavailable"  # heard by a query too
    client.close()


def test_a_query_hears_the_agent_answer_from_its_copy_when_the_centre_is_silent(
    hang_up_centre: HangUpCentre, tmp_path: Path
) -> None:
    """The centre says nothing; the agent waits for it as long as it is set to (here 1 s,
    up to 120 s on a site), then answers from its copy. The kiosk waits for that answer,
    whatever its own connect timeout (0.5 s here: a query used to give up at the kiosk's
    15 s and tell the driver the kiosk was offline). A CCRN's cargo and its bundles are
    asked for at once: the driver waits for the agent once, not twice."""
    hang_up_centre.delay = 30.0  # silent, until the test ends
    with local_api_before(hang_up_centre.url, tmp_path, agent_timeout=1.0) as url:
        client = KioskClient(url, timeout=0.5)
        model = Kiosk(client, media=tmp_path)
        model.start_query()
        model.set_input("query", "9110635860")
        model.run_query()
        assert hang_up_centre.received == ["GET /v1/bundles/9110635860 HTTP/1.1"]
        assert model.notice is not None
        assert model.notice.key == "ubr_not_found_never_synced"  # the agent's own answer
        held = hang_up_centre.most_at_once  # 1: the centre still holds that request
        model.set_query_mode(QueryMode.CCRN)
        model.set_input("query", "1001041258")
        model.run_query()
        assert sorted(hang_up_centre.received[1:]) == [
            "GET /v1/bundles?ccrn=1001041258 HTTP/1.1",
            "GET /v1/cargo/1001041258 HTTP/1.1",
        ]
        assert hang_up_centre.most_at_once == held + 2  # the two went out together
        assert model.notice is not None
        assert model.notice.key == "ccrn_not_found_never_synced"
        client.close()


def test_a_number_the_copy_does_not_know_says_the_centre_is_down(
    model: Kiosk, backend: Backend
) -> None:
    """Not "not known to ROCARS, check the number": a bundle or cargo data newer than the
    control point's copy is not in it, and the centre cannot be asked."""
    backend.api.central_down()
    try:
        last_sync = backend.api.replica.last_sync_at()
        assert last_sync is not None
        since = hk_time(last_sync)  # as the query result's stale line shows it
        model.start_query()
        model.set_input("query", "9999999999")
        model.run_query()
        assert model.notice is not None
        assert model.notice.key == "ubr_not_found_stale"
        assert model.notice.params["ubr"] == "9999999999"
        assert model.notice.params["time"] == since
        model.set_query_mode(QueryMode.CCRN)
        model.set_input("query", "1999999999")
        model.run_query()
        assert model.notice is not None
        assert model.notice.key == "ccrn_not_found_stale"
        assert model.notice.params["ccrn"] == "1999999999"
        assert model.notice.params["time"] == since
    finally:
        backend.api.central_back()
    model.run_query()
    assert model.notice is not None
    assert model.notice.key == "ccrn_not_found"  # the centre itself says so again


def test_a_number_a_copy_never_synced_does_not_know(hung_up_kiosk: Kiosk) -> None:
    model = hung_up_kiosk  # its replica has never caught up; its centre hangs up
    model.start_query()
    model.set_input("query", "9999999999")
    model.run_query()
    assert model.notice is not None
    assert model.notice.key == "ubr_not_found_never_synced"
    assert model.notice.params["ubr"] == "9999999999"


def _to_sign_code(model: Kiosk, backend: Backend, account: dict[str, Any]) -> None:
    to_sign_method(model, backend, account)
    model.choose_code()
    assert model.screen == Screen.SIGN_CODE


def to_sign_method(model: Kiosk, backend: Backend, account: dict[str, Any]) -> None:
    """Signed in as ``account``, a bundle of one new CCRN for KX1 reviewed: the screen
    that asks how to sign it."""
    model.start_driver()
    model.set_input("account", account["account"])
    model.set_input("password", account["password"])
    model.sign_in()
    model.driver_bundle()
    model.set_input("ccrn", backend.new_cargo())
    model.add_ccrn()
    model.ccrns_next()
    model.set_input("vrn", "KX1")
    model.set_input("vrn_again", "KX1")
    model.set_cp(ControlPoint.SBC)
    model.set_direction(Direction.IMPORT)
    model.details_next()
    model.review_confirm()


def test_a_request_that_does_not_validate_clears_the_code_and_the_pin(
    model: Kiosk, backend: Backend, tmp_path: Path
) -> None:
    """Nothing is sent, and the code or PIN is gone as after every other attempt."""
    account = backend.account("valid", 2)
    _to_sign_code(model, backend, account)
    model.set_input("password", "")  # the request cannot be built without one
    model.set_input("code", "123456")
    model.submit_code()
    assert model.notice is not None
    assert model.notice.key == "validation_error"
    assert model.notice.params["fields"] == "password"
    assert not model.code
    assert model.screen == Screen.SIGN_CODE
    # a cancellation signed with a certificate: its request is checked the same way
    model.set_input("password", account["password"])
    model.set_input("code", backend.code(account))
    model.submit_code()
    assert model.screen == Screen.BUNDLE_RESULT, model.notice
    assert model.result is not None
    ubr = model.result.ubr
    model.home()
    model.driver_cancel()
    model.set_input("ubr", ubr)
    model.cancel_lookup()
    assert model.screen == Screen.CANCEL_CHOOSE, model.notice
    model.cancel_all()
    copy_cert(backend, account, tmp_path)
    model.choose_certificate()
    model.pick_certificate(model.certificates[0])
    model.set_input("pin", account["cert_pin"])
    model.set_input("password", "x" * 65)
    model.submit_pin()
    assert model.notice is not None
    assert model.notice.key == "validation_error"
    assert model.notice.params["fields"] == "password"
    assert not model.pin
    assert model.screen == Screen.SIGN_PIN
    assert backend.api.client.get_bundle(ubr).status == BundleStatus.ACTIVE  # nothing was sent


@contextmanager
def kiosk_before(app: Any, tmp_path: Path) -> Iterator[tuple[Kiosk, KioskClient, str]]:
    """A kiosk (its model and client) on ``app`` served on loopback, at the url given."""
    with serving(app) as url:
        client = KioskClient(url)
        try:
            yield Kiosk(client, media=tmp_path), client, url
        finally:
            client.close()


def cargo_notice(model: Kiosk) -> str:
    """A shipper's cargo form sent: the notice it got (the form stays up)."""
    fill_cargo_form(model)
    model.cargo_submit()
    assert model.screen == Screen.CARGO_FORM
    assert model.notice is not None
    return model.notice.key


def query_notice(model: Kiosk) -> str:
    """A query of a CCRN: the notice it got."""
    model.start_query()
    model.set_input("query", "9110635860")
    model.run_query()
    assert model.notice is not None
    return model.notice.key


def test_a_kiosk_the_agent_will_not_serve_says_so_in_its_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An agent that will not serve the kiosks' calls in clear on the LAN answers them 503
    ``kiosk_calls_refused`` (``sync.local_api.refusing_router``): the screen says the
    control point system is out of reach (as a kiosk cut off does: nothing the person
    can do), a write is not "may already be done" (nothing was), and the log says why."""
    app = FastAPI()
    app.include_router(refusing_router("kiosks' calls not served: they would cross the LAN"))
    with kiosk_before(app, tmp_path) as (model, client, url):
        with caplog.at_level(logging.ERROR, logger="kiosk.api"):
            assert cargo_notice(model) == "kiosk_offline"
        assert (
            f"the local API at {url} refuses this kiosk's calls: kiosks' calls not served"
            in caplog.text
        )
        assert query_notice(model) == "kiosk_offline"
        with pytest.raises(ApiError) as refused:
            client.submit_cargo(items())
        assert refused.value.key == "kiosk_calls_refused"
        assert refused.value.status == 503
        assert not (refused.value.detail or {}).get("maybe_applied")


#: JSON, but of no call's shape
_empty_json = fixed_answer(200, b"application/json", b"{}")
#: what an exception in the agent answers
_server_error = fixed_answer(500, b"text/plain", b"Internal Server Error")


@pytest.mark.parametrize(
    "app",
    [proxy_page, _empty_json, _server_error],
    ids=["proxy_page", "wrong_shape", "server_error"],
)
def test_an_answer_the_kiosk_cannot_read_is_check_first_for_a_write(
    app: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 200 that is no answer of the call's (a proxy's login page between the kiosk and
    the agent, an agent of another version): a write may have been done there, so
    "check first", as for a lost connection; a query did nothing ("try again or ask
    staff", not "refused"). The log says what came back."""
    with kiosk_before(app, tmp_path) as (model, _, _):
        with caplog.at_level(logging.WARNING, logger="kiosk.api"):
            assert cargo_notice(model) == "cargo_maybe_submitted"
        assert "the local API's answer cannot be read: POST /v1/cargo" in caplog.text
        assert query_notice(model) == "kiosk_error"


def test_the_cargo_form_does_not_change_while_it_is_being_sent(tmp_path: Path) -> None:
    """The direction and date buttons of the cargo form changed the form while its
    submission was out (found in review): what the shipper then saw was not what was
    sent, and a lost answer's retry would carry another key."""
    pending: list[Call] = []
    model = held_kiosk(tmp_path, pending)
    model.start_shipper()
    model.new_cargo()
    model.set_cargo_direction(Direction.IMPORT)
    before = dict(model.cargo_values)
    model.busy = True  # a submission out
    model.set_cargo_direction(Direction.EXPORT)
    model.step_date(1)
    assert model.cargo_values == before
    model.busy = False
    model.set_cargo_direction(Direction.EXPORT)
    model.step_date(1)
    assert model.cargo_values["direction"] == "export"
    assert model.cargo_values["expected_date"] != before.get("expected_date")


def test_the_screens_take_no_action_while_a_call_is_out(tmp_path: Path) -> None:
    """A CCRN being checked: Next, and any other press, waits for the answer. Before, a
    person could go on to review and sign, and the CCRN was added to the bundle when its
    answer came, after the list had been reviewed."""
    pending: list[Call] = []
    model = held_kiosk(tmp_path, pending)
    model.start_driver()
    model.set_input("account", "123456")
    model.set_input("password", "secret")
    model.sign_in()
    model.driver_bundle()
    model.ccrns = ["1001041258"]
    model.set_input("ccrn", "1001041266")
    model.add_ccrn()
    assert model.busy
    for press in (model.ccrns_next, model.driver_cancel, model.start_query, model.batch_start):
        press()
        assert model.screen == Screen.BUNDLE_CCRNS
    model.remove_ccrn("1001041258")
    assert model.ccrns == ["1001041258"]
    assert len(pending) == 1

"""The kiosk's flows as one plain state machine: a test drives every screen without widgets.

``Kiosk`` holds which screen is showing, what the person typed, the last answer and the
notice to show (a stable key). Actions that need the local API build a ``Call``; the
executor runs its ``work`` off the GUI thread and hands the outcome back to
``complete`` (the Qt app through a signal, a plain test synchronously). A call that
comes back after the session ended is dropped.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Concatenate, NamedTuple, ParamSpec

from pydantic import ValidationError

from kiosk.api import Answer, KioskClient
from kiosk.batch import (
    BatchRow,
    list_batch_files,
    read_batch,
    template_folder,
    write_results,
    write_template,
)
from kiosk.cargo import FIELD_NAMES, FieldError, items_digest, items_to_values, validate_cargo
from kiosk.certs import NO_PIN_OPENS, CertificateError, list_certificates, sign_with_certificate
from kiosk.session import DEFAULT_LANGUAGE, IdleClock, KioskError, Level, Notice, Secret
from rocars.client import (
    ANSWER_TOO_LARGE,
    KIOSK_CALLS_REFUSED,
    MALFORMED_ANSWER,
    UNREADABLE_ERROR,
    ApiError,
)
from rocars.errors import InvalidIdentifier, RocarsError
from rocars.ids import (
    ControlPoint,
    Direction,
    normalize_account,
    normalize_ccrn,
    normalize_ubr,
    normalize_vrn,
)
from rocars.models import (
    MAX_CCRNS_PER_BUNDLE,
    Bundle,
    BundleRequest,
    BundleStatus,
    CancelRequest,
    Cargo,
    CargoItems,
    CargoStatus,
    CertificateAuth,
    SecurityCodeAuth,
    cancel_op,
)
from rocars.timeutil import HK_TZ, in_hk, minute_up, parse_rfc3339, utc_now
from ui_common.languages import Language

logger = logging.getLogger(__name__)

#: The ``op`` a bundling signature covers (see ``rocars.models.signed_content``; a
#: cancellation signs ``rocars.models.cancel_op``); the body is the request without
#: ``auth`` and ``password`` (the centre checks the same).
OP_BUNDLE = "bundle"
#: A write that may have been done all the same (its answer lost or unreadable): check
#: before trying again.
MAYBE_APPLIED = "central_unavailable_maybe_applied"
#: ... when it was new cargo data: there is no CCRN to check with; a second submission
#: would make a second CCRN.
CARGO_MAYBE_SUBMITTED = "cargo_maybe_submitted"
#: new forms whose answer was lost kept with their keys in a session (the oldest go)
MAX_LOST_FORMS = 16
#: How long the idle clock waits for a call on the USB stick (``Kiosk._on_stick``:
#: listing, reading and signing with a certificate, a batch file read, its results and the
#: template written), seconds. A failing stick ends such a call with an error; a hung one
#: may never end it, and a signed-in session left on the screen would stand until someone
#: pressed Finish. Past this the idle clock runs (its warning, then the reset), as for a
#: person who left; a touch keeps the session.
MEDIA_HOLD_S = 60.0
#: The answers to a batch row after which the rest of the batch is not sent: the control
#: point system is out of reach, or the row may have been saved with no answer (each
#: further row would likely go the same way, and add to what staff must sort out).
BATCH_STOPPERS = frozenset({MAYBE_APPLIED, "kiosk_offline", "central_unavailable"})
#: A "not found" from the control point's copy (the centre down; ``stale_since`` in its
#: detail): what the person is told, when the copy has a time and when it was never current.
STALE_NOT_FOUND = {
    "ubr_not_found": ("ubr_not_found_stale", "ubr_not_found_never_synced"),
    "ccrn_not_found": ("ccrn_not_found_stale", "ccrn_not_found_never_synced"),
}


class Screen(StrEnum):
    START = "start"
    SIGN_IN = "sign_in"
    DRIVER_MENU = "driver_menu"
    BUNDLE_CCRNS = "bundle_ccrns"
    BUNDLE_DETAILS = "bundle_details"
    BUNDLE_REVIEW = "bundle_review"
    SIGN_METHOD = "sign_method"
    SIGN_CODE = "sign_code"
    SIGN_CERT = "sign_cert"
    SIGN_PIN = "sign_pin"
    BUNDLE_RESULT = "bundle_result"
    CANCEL_UBR = "cancel_ubr"
    CANCEL_CHOOSE = "cancel_choose"
    CANCEL_RESULT = "cancel_result"
    QUERY = "query"
    QUERY_RESULT = "query_result"
    SHIPPER_MENU = "shipper_menu"
    CARGO_FORM = "cargo_form"
    CARGO_RESULT = "cargo_result"
    AMEND_CCRN = "amend_ccrn"
    BATCH = "batch"
    BATCH_RESULT = "batch_result"


class Purpose(StrEnum):
    """What the signature on the sign screens is for."""

    BUNDLE = "bundle"
    CANCEL_ALL = "cancel_all"
    CANCEL_ONE = "cancel_one"


class QueryMode(StrEnum):
    UBR = "ubr"
    CCRN = "ccrn"
    EARLIEST = "earliest"


@dataclass
class Call:
    """Work for a background thread and what to do with its result on the GUI thread."""

    label: str
    work: Callable[[], Any]
    done: Callable[[Any], None]
    session: int
    failed: Callable[[RocarsError], None] | None = None
    #: how long the idle clock waits for it, seconds (``Kiosk.tick``); None: until it ends
    hold_s: float | None = None


Executor = Callable[[Call], None]


def run_work(call: Call) -> tuple[Any, RocarsError | None]:
    """Run ``call.work``; what it raised on purpose comes back as the error, and anything
    else (a bug, a USB stick failing mid-read: ``OSError``) as ``kiosk_error``, logged: the
    call ends either way, and the kiosk is not left waiting for it."""
    try:
        return call.work(), None
    except RocarsError as err:
        return None, err
    except Exception:
        logger.exception("%s failed unexpectedly", call.label)
        return None, KioskError("unexpected failure", key="kiosk_error")


@dataclass
class BatchOutcome:
    """One row of a batch: its CCRN, or why not. ``maybe_saved``: sent, but its answer was
    lost (it may have a CCRN nobody saw); ``unsent``: not sent at all, the batch having
    stopped at an earlier row (``BATCH_STOPPERS``)."""

    row: int
    ccrn: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    notice: Notice | None = None
    unsent: bool = False

    @property
    def maybe_saved(self) -> bool:
        return self.notice is not None and self.notice.key == MAYBE_APPLIED

    def results_row(self) -> tuple[int, str, str, str]:
        """This row in the results saved beside the file (``kiosk.batch.write_results``):
        row, CCRN, status and why, in the template's language (its column names are
        English); the keys are those the screen translates."""
        why = [f"{e.field}: {_with_params(e.key, e.params)}" for e in self.errors]
        if self.notice is not None:
            why.append(_with_params(self.notice.key, self.notice.params))
        if self.ccrn:
            status = "submitted"
        elif self.maybe_saved:
            status = "may have been saved"
            why.append("no CCRN came back")
        elif self.unsent and not self.errors:  # as the screen says (a row with errors, not)
            status = "not sent"
            why.append("sending had stopped at an earlier row")
        else:
            status = "not submitted"
        return self.row, self.ccrn or "", status, "; ".join(why)


def _with_params(key: str, params: dict[str, str]) -> str:
    shown = ", ".join(f"{name} {value}" for name, value in params.items())
    return f"{key} ({shown})" if shown else key


class BatchCounts(NamedTuple):
    """A batch's rows: submitted (a CCRN), not submitted, and may have been saved."""

    submitted: int
    not_submitted: int
    maybe_saved: int


def hk_time(value: datetime, *, up: bool = False) -> str:
    """A time as a person at the control point reads it: Hong Kong time, to the minute
    (rounded up with ``up``: a "not before" time, ``rocars.timeutil.minute_up``)."""
    return in_hk(minute_up(value) if up else value).strftime("%Y-%m-%d %H:%M")


def _maybe_applied(error: ApiError) -> bool:
    """The call failed after it may have been done (``detail.maybe_applied``)."""
    return isinstance(error.detail, dict) and error.detail.get("maybe_applied") is True


def stale_time(since: str) -> str:
    """The time of the control point's copy (``stale_since``, RFC 3339) as ``hk_time``."""
    try:
        return hk_time(parse_rfc3339(since))
    except ValueError:
        return since


P = ParamSpec("P")


def _when_idle(
    action: Callable[Concatenate[Kiosk, P], None],
) -> Callable[Concatenate[Kiosk, P], None]:
    """A person's action does nothing while a call is out (the screen says "Please wait").
    Before, the screens went on taking input: a CCRN being checked was added when its
    answer came, after the person had gone on past the list to review and sign. Back,
    Home and Finish have their own rules (Finish ends the session at once)."""

    @functools.wraps(action)
    def guarded(kiosk: Kiosk, /, *args: P.args, **kwargs: P.kwargs) -> None:
        if kiosk.busy:
            logger.info("%s ignored: a call is out", action.__name__)
            kiosk._changed()  # a toggled button shows the model's choice again
            return
        action(kiosk, *args, **kwargs)

    return guarded


class Kiosk:
    """The whole kiosk as a state machine. Listeners are called after every change."""

    def __init__(
        self,
        api: KioskClient,
        *,
        media: Path,
        executor: Executor | None = None,
        idle: IdleClock | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.api = api
        self.media = media
        self.executor: Executor = executor or self._run_now
        self.idle = idle or IdleClock()
        self.clock = clock
        self.listeners: list[Callable[[], None]] = []
        self._session = 0
        self._reset_state()

    # -- state ---------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.lang: Language = DEFAULT_LANGUAGE
        self.screen = Screen.START
        self.history: list[Screen] = []
        self.notice: Notice | None = None
        self.busy = False
        #: the call out (``busy``), and when the idle clock first waited for it
        self._call: Call | None = None
        self._held_since: float | None = None
        #: the call out was waited for past its ``hold_s``; then its answer came in since
        #: the last tick: the idle clock starts again from it (``tick``)
        self._hold_over = False
        self._answered = False
        self.inputs: dict[str, str] = {}
        self.password = Secret()
        self.code = Secret()
        self.pin = Secret()
        self.account = ""
        self.ccrns: list[str] = []
        self.cp: ControlPoint | None = None
        self.direction: Direction | None = None
        self.purpose = Purpose.BUNDLE
        self.cancel_bundle: Bundle | None = None
        self.cancel_ccrn: str | None = None
        self.certificates: list[Path] = []
        self.certificate: Path | None = None
        self.result: Bundle | None = None
        self.query_mode = QueryMode.UBR
        self.query_bundles: list[Bundle] = []
        self.query_cargo: Cargo | None = None
        self.query_key = ""
        self.stale_since: str | None = None
        self.cargo_values: dict[str, str] = {}
        self.cargo_errors: dict[str, FieldError] = {}
        self.amend_ccrn: str | None = None
        # the amendment form was filled from the control point's copy (``stale_since``)
        self.amend_stale_since: str | None = None
        self.cargo_result: Cargo | None = None
        self.cargo_amended = False
        self.batch_files: list[Path] = []
        self.batch_file: Path | None = None
        self.batch_outcomes: list[BatchOutcome] = []
        # this session's part of its cargo submissions' Idempotency-Keys (``_cargo_key``),
        # and the forms it has had saved (a new form after a success is a new key)
        self._keys_session = uuid.uuid4().hex
        self._forms_saved = 0
        #: when each batch row (``BatchRow.place``) was first sent this session: chosen
        #: again, it is checked as of then (``batch_upload``)
        self._batch_sent: dict[str, datetime] = {}
        #: each batch file's tag in this session's keys, by its path (``batch_upload``)
        self._batch_tags: dict[str, str] = {}
        #: new forms whose answer was lost, as they were sent: when, and their key
        #: (``cargo_submit``), the newest last
        self._lost_forms: list[tuple[dict[str, str], datetime, str]] = []
        # Nothing typed and no screen left since the session began: the idle timeout
        # has nothing to clear (every other state holds something of the person's).
        self._untouched = True

    @property
    def session(self) -> int:
        """Counts ended sessions: a view that sees it change wipes every field it has."""
        return self._session

    def add_listener(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    def _go(self, screen: Screen, *, remember: bool = True) -> None:
        if remember and screen != self.screen:
            self.history.append(self.screen)
        self._untouched = False
        self.screen = screen
        self.notice = None

    def _tell(self, key: str, level: Level = Level.ERROR, **params: object) -> None:
        self.notice = Notice(key, {k: str(v) for k, v in params.items()}, level)

    def set_input(self, name: str, value: str) -> None:
        """What a text box on the current screen now holds (secrets go to their own slot)."""
        self._untouched = False
        if name == "password":
            self.password = Secret(value)
        elif name == "code":
            self.code = Secret(value)
        elif name == "pin":
            self.pin = Secret(value)
        elif name.startswith("cargo."):
            self.cargo_values[name.removeprefix("cargo.")] = value
        else:
            self.inputs[name] = value

    def input(self, name: str) -> str:
        if name.startswith("cargo."):
            return self.cargo_values.get(name.removeprefix("cargo."), "")
        return self.inputs.get(name, "")

    # -- the session and its end -----------------------------------------------------------

    def touch(self, now: float) -> None:
        """Any touch on the screen: the person is still there."""
        self.idle.touch(now)

    def tick(self, now: float) -> str:
        """Called every second or so: ``active``, ``warn`` (show the countdown) or ``expired``.

        While a call is out the person is waiting for its answer, not gone: a query or a
        write may take up to ``KIOSK_ANSWER_TIMEOUT_S`` when the centre is slow, and a
        bundle made then dropped with the session would never be shown. The idle clock
        starts again when the answer is in. A call with a ``hold_s`` (the USB stick's)
        is waited for that long; then the idle clock runs from where it stood.
        """
        untouched = self.screen == Screen.START and self._untouched
        if self._answered:
            # of a call held past its ``hold_s``: the person who waited for it may be there
            self._answered = False
            self.idle.touch(now)
        if self.busy and self._holds(now):
            self.idle.touch(now)
            return "active"
        if untouched and self.lang == DEFAULT_LANGUAGE:
            self.idle.touch(now)
            return "active"
        state = self.idle.check(now)
        if state == "expired":
            logger.info("session idle too long: cleared")
            self.reset()
        return state

    def _holds(self, now: float) -> bool:
        """The idle clock still waits for the call out (``tick``)."""
        hold = None if self._call is None else self._call.hold_s
        if hold is None:
            return True
        if self._held_since is None:
            self._held_since = now
        if now - self._held_since < hold:
            return True
        self._hold_over = True
        return False

    def reset(self) -> None:
        """End the session: drop everything typed, back to the first screen."""
        self._end_session(DEFAULT_LANGUAGE)

    def _end_session(self, lang: Language) -> None:
        self.password.clear()
        self.code.clear()
        self.pin.clear()
        self._session += 1
        self._reset_state()
        self.lang = lang
        self._changed()

    finish = reset

    def set_language(self, lang: Language) -> None:
        self.lang = lang
        self._changed()

    def back(self) -> None:
        if self.busy:
            return
        if self.screen in (Screen.SIGN_CODE, Screen.SIGN_PIN):
            self.code.clear()
            self.pin.clear()
        if self.history:
            self.screen = self.history.pop()
        else:
            self.screen = Screen.START
        if self.screen == Screen.START:
            # Back at the first screen the person has left: nothing of theirs (a driver's
            # account and password) may wait there for the next one. Their language stays.
            self._end_session(self.lang)
            return
        self.notice = None
        self._changed()

    def home(self) -> None:
        """Back to the driver's or shipper's menu (or the start), keeping the sign-in."""
        if self.busy:
            return
        for menu in (Screen.DRIVER_MENU, Screen.SHIPPER_MENU):
            if menu in self.history:
                self.history = self.history[: self.history.index(menu)]
                self.screen = menu
                self.notice = None
                self._changed()
                return
        self.reset()

    # -- background calls ----------------------------------------------------------------

    def _run_now(self, call: Call) -> None:
        result, error = run_work(call)
        self.complete(call, result, error)

    def _start(
        self,
        label: str,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[RocarsError], None] | None = None,
        *,
        hold_s: float | None = None,
    ) -> None:
        if self.busy:
            return
        self.busy = True
        self.notice = None
        call = Call(label, work, done, self._session, failed, hold_s)
        self._call, self._held_since, self._hold_over = call, None, False
        self._changed()
        self.executor(call)

    def _on_stick(
        self,
        label: str,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[RocarsError], None] | None = None,
    ) -> None:
        """``_start`` for a call on the USB stick: the idle clock waits for it
        ``MEDIA_HOLD_S`` at most, and it runs on the stick's threads (``kiosk.qt_app``)."""
        self._start(label, work, done, failed, hold_s=MEDIA_HOLD_S)

    def complete(self, call: Call, result: Any, error: RocarsError | None) -> None:
        """The outcome of a call, on the GUI thread."""
        if call.session != self._session:
            logger.info("dropped the answer to %s: its session has ended", call.label)
            return
        self.busy = False
        self._call = self._held_since = None
        self._answered, self._hold_over = self._hold_over, False
        if error is None:
            call.done(result)
        else:
            logger.info("%s failed: %s", call.label, error.key)
            if call.failed is not None:
                call.failed(error)
            else:
                self.notice = self._notice_for(error)
        self._changed()

    def _notice_for(self, error: RocarsError) -> Notice:
        if isinstance(error, ApiError) and _maybe_applied(error):
            # A write that may have been done all the same: the kiosk's own link to the
            # local API broke after it went out, its answer could not be read or was too
            # large to read (kiosk.api), or the centre went silent after the request
            # reached it (the local API's ``central_unavailable``). Sent again, it could be
            # done twice (a second CCRN, a second bundle).
            params = Notice.from_error(error).params
            return Notice(MAYBE_APPLIED, params)
        if isinstance(error, ApiError) and error.key == "central_unreachable":
            # The kiosk could not reach the control point's local API at all.
            return Notice("kiosk_offline")
        if isinstance(error, ApiError) and error.key == KIOSK_CALLS_REFUSED:
            # The agent will not serve this kiosk (its API in clear on the LAN): to the
            # person, the control point system is out of reach; the log says why.
            return Notice("kiosk_offline")
        if isinstance(error, ApiError) and error.key in (
            MALFORMED_ANSWER,
            UNREADABLE_ERROR,
            ANSWER_TOO_LARGE,
        ):
            # An answer this kiosk cannot read (a version apart from the agent's, a proxy's
            # page, a server error with no error key, more than it reads) to a query, or a
            # refusal: nothing the person can do but try again or ask staff.
            return Notice("kiosk_error")
        if isinstance(error, ApiError) and error.key == "validation_error":
            detail = error.detail if isinstance(error.detail, list) else []
            fields = ", ".join(str(d.get("field", "")) for d in detail if isinstance(d, dict))
            return Notice("validation_error", {"fields": fields})
        notice = Notice.from_error(error)
        since = notice.params.get("stale_since")
        if isinstance(error, ApiError) and error.key in STALE_NOT_FOUND and since:
            # Not in the control point's copy, and the centre could not be asked: a bundle
            # or cargo data newer than the copy is not in it yet.
            stale, never = STALE_NOT_FOUND[error.key]
            if since == "never":
                return Notice(never, notice.params)
            return Notice(stale, {**notice.params, "time": stale_time(since)})
        return notice

    # -- first screen --------------------------------------------------------------------

    @_when_idle
    def start_driver(self) -> None:
        self._go(Screen.SIGN_IN)
        self._changed()

    @_when_idle
    def start_shipper(self) -> None:
        self._go(Screen.SHIPPER_MENU)
        self._changed()

    @_when_idle
    def start_query(self) -> None:
        self._go(Screen.QUERY)
        self._changed()

    # -- driver: sign in -----------------------------------------------------------------

    @_when_idle
    def sign_in(self) -> None:
        try:
            self.account = normalize_account(self.input("account"))
        except InvalidIdentifier:
            self._tell("account_invalid")
            self._changed()
            return
        if not self.password or len(self.password) > 64:
            self._tell("password_required")
            self._changed()
            return
        self._go(Screen.DRIVER_MENU)
        self._changed()

    @_when_idle
    def driver_bundle(self) -> None:
        self.ccrns = []
        self.cp = None
        self.direction = None
        self.inputs.pop("vrn", None)
        self.inputs.pop("vrn_again", None)
        self._go(Screen.BUNDLE_CCRNS)
        self._changed()

    @_when_idle
    def driver_cancel(self) -> None:
        self.cancel_bundle = None
        self._go(Screen.CANCEL_UBR)
        self._changed()

    # -- driver: bundle ------------------------------------------------------------------

    @_when_idle
    def add_ccrn(self) -> None:
        """Check the typed CCRN with the centre (known, not yet bundled), then add it."""
        try:
            ccrn = normalize_ccrn(self.input("ccrn"))
        except InvalidIdentifier:
            self._tell("ccrn_invalid")
            self._changed()
            return
        if ccrn in self.ccrns:
            self._tell("ccrn_duplicate", ccrn=ccrn)
            self._changed()
            return
        if len(self.ccrns) >= MAX_CCRNS_PER_BUNDLE:
            self._tell("too_many_ccrns", max=MAX_CCRNS_PER_BUNDLE)
            self._changed()
            return

        def done(answer: Answer[Cargo]) -> None:
            cargo = answer.value
            if cargo.status == CargoStatus.BUNDLED:
                # not added: "remove it from the list" (the centre's refusal of a whole
                # bundle, ccrn_already_bundled) would name a step there is no need for
                self._tell("ccrn_in_another_bundle", ccrn=ccrn)
                return
            self.ccrns.append(ccrn)
            self.inputs["ccrn"] = ""
            self._tell("ccrn_added", Level.INFO, ccrn=ccrn)

        self._start("check ccrn", lambda: self.api.query_cargo(ccrn), done)

    @_when_idle
    def remove_ccrn(self, ccrn: str) -> None:
        if ccrn in self.ccrns:
            self.ccrns.remove(ccrn)
        self.notice = None
        self._changed()

    @_when_idle
    def ccrns_next(self) -> None:
        if not self.ccrns:
            self._tell("ccrns_empty")
        else:
            self._go(Screen.BUNDLE_DETAILS)
        self._changed()

    @_when_idle
    def set_cp(self, cp: ControlPoint) -> None:
        self.cp = cp
        self.notice = None
        self._changed()

    @_when_idle
    def set_direction(self, direction: Direction) -> None:
        self.direction = direction
        self.notice = None
        self._changed()

    @_when_idle
    def details_next(self) -> None:
        """The plate is typed twice: a mistyped plate that names another truck crossing
        would clear that truck on this bundle's cargo, and one typo is far likelier than
        the same typo twice. The two are compared as normalised (``KX 1O1`` is ``KX101``);
        when they differ, the second is cleared and both are to be checked."""
        try:
            vrn = normalize_vrn(self.input("vrn"))
        except InvalidIdentifier:
            self._tell("vrn_invalid")
            self._changed()
            return
        self.inputs["vrn"] = vrn
        again = self.input("vrn_again")
        if not again.strip():
            self._tell("vrn_again_required")
            self._changed()
            return
        try:
            same = normalize_vrn(again) == vrn
        except InvalidIdentifier:
            same = False
        if not same:
            self.inputs["vrn_again"] = ""
            self._tell("vrn_mismatch")
            self._changed()
            return
        self.inputs["vrn_again"] = vrn
        if self.cp is None:
            self._tell("cp_required")
        elif self.direction is None:
            self._tell("direction_required")
        else:
            self._go(Screen.BUNDLE_REVIEW)
        self._changed()

    @_when_idle
    def review_confirm(self) -> None:
        self.purpose = Purpose.BUNDLE
        self._go(Screen.SIGN_METHOD)
        self._changed()

    # -- driver: sign ----------------------------------------------------------------------

    @_when_idle
    def choose_code(self) -> None:
        self.code.clear()
        self._go(Screen.SIGN_CODE)
        self._changed()

    @_when_idle
    def choose_certificate(self) -> None:
        """The certificates on the sticks, listed off the GUI thread: a slow or failing
        stick can take seconds to list (``kiosk.media``), and the screen says "Please
        wait" meanwhile rather than freezing."""

        def listed(found: list[Path]) -> None:
            self.certificates = found
            if not found:
                self._tell("cert_none_found")
            else:
                self._go(Screen.SIGN_CERT)

        self._on_stick(
            "list certificates", functools.partial(list_certificates, self.media), listed
        )

    @_when_idle
    def pick_certificate(self, path: Path) -> None:
        self.certificate = path
        self.pin.clear()
        self._go(Screen.SIGN_PIN)
        self._changed()

    @_when_idle
    def submit_code(self) -> None:
        code = self.code.reveal()
        if not (len(code) == 6 and code.isdigit()):
            self._tell("security_code_format")
            self._changed()
            return
        auth = SecurityCodeAuth(code=code)
        self._send(lambda _op, _body: auth)

    @_when_idle
    def submit_pin(self) -> None:
        if not self.pin or self.certificate is None:
            self._tell("pin_required")
            self._changed()
            return
        path, pin = self.certificate, self.pin.reveal()

        def auth(op: str, body: dict[str, Any]) -> CertificateAuth:
            return sign_with_certificate(path, pin, op, body, self.clock())

        self._send(auth, on_stick=True)

    def _send(
        self, make_auth: Callable[[str, dict[str, Any]], Any], *, on_stick: bool = False
    ) -> None:
        """Sign and send what the sign screens are for, in the background. Signed with a
        certificate (``on_stick``: read off the USB stick), the signing is a call of its
        own, the stick's (``hold_s``: a hung stick does not hold the session, nor a thread
        the sending needs); the request goes out once it is signed, in the same session.
        """

        def failed(error: RocarsError) -> None:
            self.code.clear()
            self.pin.clear()
            self.notice = self._notice_for(error)
            if (
                isinstance(error, CertificateError)
                and error.key in NO_PIN_OPENS
                and self.screen == Screen.SIGN_PIN
                and self.history[-1:] == [Screen.SIGN_CERT]
            ):
                # no PIN will open this file: back to the list, to pick another (or Back
                # to the security code), not another PIN to try
                self.screen = self.history.pop()
                self.certificate = None

        try:
            request = self._unsigned_request()
        except ValidationError as err:
            # Nothing is sent, and the code or PIN goes as after any other attempt.
            self.code.clear()
            self.pin.clear()
            fields = ", ".join(str(e["loc"][0]) for e in err.errors() if e["loc"])
            self._tell("validation_error", fields=fields)
            self._changed()
            return
        body = request.model_dump(mode="json")
        label: str
        send: Callable[[Any], Bundle]
        done: Callable[[Bundle], None]
        if isinstance(request, BundleRequest):
            bundle = request
            op, label, done = OP_BUNDLE, "bundle", self._bundled

            def send(auth: Any) -> Bundle:
                return self.api.bundle(bundle.model_copy(update={"auth": auth}))

        else:
            assert self.cancel_bundle is not None
            ubr, one = self.cancel_bundle.ubr, self.cancel_ccrn
            cancel = request
            op, label, done = cancel_op(ubr, one), "cancel", self._cancelled

            def send(auth: Any) -> Bundle:
                signed = cancel.model_copy(update={"auth": auth})
                if one is None:
                    return self.api.cancel_bundle(ubr, signed)
                return self.api.cancel_ccrn(ubr, one, signed)

        if not on_stick:
            self._start(label, lambda: send(make_auth(op, body)), done, failed)
            return

        def signed(auth: Any) -> None:
            self._start(label, functools.partial(send, auth), done, failed)

        self._on_stick("sign", functools.partial(make_auth, op, body), signed, failed)

    def _unsigned_request(self) -> BundleRequest | CancelRequest:
        """The request the sign screens are for, with a placeholder ``auth`` (signed later)."""
        account, password = self.account, self.password.reveal()
        placeholder = SecurityCodeAuth(code="000000")
        if self.purpose == Purpose.BUNDLE:
            assert self.cp is not None
            assert self.direction is not None
            return BundleRequest(
                account=account,
                password=password,
                auth=placeholder,
                vrn=self.inputs.get("vrn", ""),
                cp=self.cp,
                direction=self.direction,
                ccrns=list(self.ccrns),
            )
        return CancelRequest(account=account, password=password, auth=placeholder)

    def _bundled(self, bundle: Bundle) -> None:
        self.code.clear()
        self.pin.clear()
        self.result = bundle
        logger.info("bundled %d CCRNs as UBR %s", len(bundle.ccrns), bundle.ubr)
        self.history = [h for h in self.history if h in (Screen.START, Screen.DRIVER_MENU)]
        self._go(Screen.BUNDLE_RESULT, remember=False)

    def _cancelled(self, bundle: Bundle) -> None:
        self.code.clear()
        self.pin.clear()
        self.result = bundle
        logger.info("cancelled %s of UBR %s", self.cancel_ccrn or "all", bundle.ubr)
        self.history = [h for h in self.history if h in (Screen.START, Screen.DRIVER_MENU)]
        self._go(Screen.CANCEL_RESULT, remember=False)

    # -- driver: cancel ------------------------------------------------------------------

    @_when_idle
    def cancel_lookup(self) -> None:
        try:
            ubr = normalize_ubr(self.input("ubr"))
        except InvalidIdentifier:
            self._tell("ubr_invalid")
            self._changed()
            return

        def done(answer: Answer[Bundle]) -> None:
            if answer.value.status != BundleStatus.ACTIVE:
                self._tell("bundle_not_active", ubr=ubr)
                return
            self.cancel_bundle = answer.value
            self._go(Screen.CANCEL_CHOOSE)

        self._start("find bundle", lambda: self.api.query_bundle(ubr), done)

    @_when_idle
    def cancel_all(self) -> None:
        self.cancel_ccrn = None
        self.purpose = Purpose.CANCEL_ALL
        self._go(Screen.SIGN_METHOD)
        self._changed()

    @_when_idle
    def cancel_one(self, ccrn: str) -> None:
        self.cancel_ccrn = ccrn
        self.purpose = Purpose.CANCEL_ONE
        self._go(Screen.SIGN_METHOD)
        self._changed()

    # -- queries -------------------------------------------------------------------------

    @_when_idle
    def set_query_mode(self, mode: QueryMode) -> None:
        self.query_mode = mode
        self.notice = None
        self._changed()

    @_when_idle
    def run_query(self) -> None:
        mode = self.query_mode
        text = self.input("query")
        try:
            key = normalize_ccrn(text) if mode == QueryMode.CCRN else normalize_ubr(text)
        except InvalidIdentifier:
            self._tell("ccrn_invalid" if mode == QueryMode.CCRN else "ubr_invalid")
            self._changed()
            return

        def work() -> tuple[list[Bundle], Cargo | None, str | None]:
            if mode == QueryMode.CCRN:
                # Both at once: each may wait for a slow centre as long as the agent does,
                # and the person waits for the slower one, not for the two in turn.
                other = ThreadPoolExecutor(1, thread_name_prefix="kiosk-query")
                try:
                    pending = other.submit(self.api.query_bundles_for_ccrn, key)
                    cargo = self.api.query_cargo(key)
                    bundles = pending.result()
                finally:  # a cargo error is shown at once, not after the other call
                    other.shutdown(wait=False, cancel_futures=True)
                return bundles.value, cargo.value, bundles.stale_since or cargo.stale_since
            one = self.api.query_bundle(key)
            return [one.value], None, one.stale_since

        def done(result: tuple[list[Bundle], Cargo | None, str | None]) -> None:
            self.query_bundles, self.query_cargo, self.stale_since = result
            self.query_key = key
            self._go(Screen.QUERY_RESULT)

        self._start("query", work, done)

    def may_cross_now(self, bundle: Bundle) -> bool:
        """The truck may cross on this bundle now: it is active and its time has come. A
        cancelled or used bundle never lets a truck cross, whatever its time said."""
        return bundle.status == BundleStatus.ACTIVE and self.clock() >= bundle.earliest_at

    # -- shipper -------------------------------------------------------------------------

    @_when_idle
    def new_cargo(self) -> None:
        today = self.clock().astimezone(HK_TZ).date()
        self.amend_ccrn = None
        self.amend_stale_since = None
        self.cargo_values = {name: "" for name in FIELD_NAMES}
        self.cargo_values["expected_date"] = today.isoformat()
        self.cargo_values["direction"] = Direction.IMPORT.value
        self.cargo_errors = {}
        self._go(Screen.CARGO_FORM)
        self._changed()

    @_when_idle
    def amend_start(self) -> None:
        self._go(Screen.AMEND_CCRN)
        self._changed()

    @_when_idle
    def amend_lookup(self) -> None:
        try:
            ccrn = normalize_ccrn(self.input("amend_ccrn"))
        except InvalidIdentifier:
            self._tell("ccrn_invalid")
            self._changed()
            return

        def done(answer: Answer[Cargo]) -> None:
            cargo = answer.value
            if cargo.status == CargoStatus.BUNDLED:
                self._tell("cargo_bundled", ccrn=ccrn, ubr=cargo.ubr or "")
                return
            self.amend_ccrn = ccrn
            # From the control point's copy (the centre down), the form may show older data
            # than the centre holds: the form says so (submitted, it would replace it all).
            self.amend_stale_since = answer.stale_since
            self.cargo_values = items_to_values(cargo.items)
            self.cargo_errors = {}
            self._go(Screen.CARGO_FORM)

        self._start("find cargo", lambda: self.api.query_cargo(ccrn), done)

    @_when_idle
    def set_cargo_direction(self, direction: Direction) -> None:
        """The direction buttons of the cargo form."""
        self.set_input("cargo.direction", direction.value)
        self.cargo_errors.pop("direction", None)
        self._changed()

    @_when_idle
    def step_date(self, days: int) -> None:
        """The date buttons: one day earlier or later, within today..+14."""
        today = self.clock().astimezone(HK_TZ).date()
        try:
            current = date.fromisoformat(self.cargo_values.get("expected_date", ""))
        except ValueError:
            current = today
        wanted = min(max(current + timedelta(days=days), today), today + timedelta(days=14))
        self.cargo_values["expected_date"] = wanted.isoformat()
        self.cargo_errors.pop("expected_date", None)
        self._changed()

    @_when_idle
    def cargo_submit(self) -> None:
        # The same new form sent again after a lost answer is checked as of when it was
        # first sent: past midnight its date (today's, by default) was out of the window,
        # and the shipper, moving it, made a new key, maybe a second CCRN; the centre
        # answers a known key with its CCRN whatever the date now (and refuses it anew).
        # It goes with its first key, also after other forms were saved meanwhile (a key
        # counting the forms saved made it a new submission then: found in review)
        at = self.clock()
        lost = None
        if self.amend_ccrn is None:
            lost = next((f for f in self._lost_forms if f[0] == self.cargo_values), None)
        if lost is not None:
            at = lost[1]
        items, errors = validate_cargo(self.cargo_values, at)
        self.cargo_errors = {e.field: e for e in errors}
        if items is None:
            first = errors[0]
            self._tell("form_has_errors", count=len(errors), field=first.field)
            self._changed()
            return
        ccrn = self.amend_ccrn
        checked: CargoItems = items

        def done(cargo: Cargo) -> None:
            self.cargo_result = cargo
            self.cargo_amended = ccrn is not None
            logger.info("cargo %s %s", cargo.ccrn, "amended" if ccrn else "submitted")
            self.history = [h for h in self.history if h in (Screen.START, Screen.SHIPPER_MENU)]
            self._go(Screen.CARGO_RESULT, remember=False)

        def failed(error: RocarsError) -> None:
            self.notice = self._notice_for(error)
            if self.notice.key == MAYBE_APPLIED:
                # No CCRN came back, so there is nothing to check with Query; sent again, a
                # new submission that was saved would get a second CCRN.
                self.notice = Notice(CARGO_MAYBE_SUBMITTED, self.notice.params)

        if ccrn is None:
            key = lost[2] if lost is not None else self._cargo_key(f"f{self._forms_saved}", checked)
            form = dict(self.cargo_values)

            def forget() -> None:
                self._lost_forms = [f for f in self._lost_forms if f[0] != form]

            def saved(cargo: Cargo) -> None:
                self._forms_saved += 1
                forget()
                done(cargo)

            def lost_or_failed(error: RocarsError) -> None:
                failed(error)
                if self.notice is not None and self.notice.key == CARGO_MAYBE_SUBMITTED:
                    forget()
                    self._lost_forms = [*self._lost_forms, (form, at, key)][-MAX_LOST_FORMS:]

            submit = functools.partial(self.api.submit_cargo, checked, key)
            self._start("submit cargo", submit, saved, lost_or_failed)
        else:
            self._start("amend cargo", lambda: self.api.amend_cargo(ccrn, checked), done)

    # -- shipper: batch upload -------------------------------------------------------------

    @_when_idle
    def batch_start(self) -> None:
        """The batch screen with the files on the sticks, listed off the GUI thread (as
        ``choose_certificate``)."""

        def listed(found: list[Path]) -> None:
            self.batch_files = found
            self.batch_outcomes = []
            self._go(Screen.BATCH)

        self._on_stick("list batch files", functools.partial(list_batch_files, self.media), listed)

    @_when_idle
    def batch_template(self) -> None:
        """The blank template, written to the USB stick's root (``kiosk.media``), off the
        GUI thread: a write to a stick is flushed to it, which can take seconds."""
        media, batch_files = self.media, list(self.batch_files)

        def work() -> tuple[str, list[Path], list[Path]]:
            folder = template_folder(media)
            if folder is None:
                return "media_no_stick", [], []
            try:
                written = write_template(folder)
            except OSError as err:
                logger.warning("cannot write the template to %s: %s", folder, err)
                return "media_not_writable", [], []
            try:
                files = list_batch_files(media)
            except OSError as err:  # saved all the same: the list is shown as it was
                logger.warning("cannot list %s again: %s", media, err)
                files = batch_files
            return "template_saved", written, files

        def done(result: tuple[str, list[Path], list[Path]]) -> None:
            key, written, files = result
            if key != "template_saved":
                self._tell(key)
                return
            self.batch_files = files
            self._tell(key, Level.INFO, files=", ".join(p.name for p in written))

        self._on_stick("write the template", work, done)

    @_when_idle
    def batch_upload(self, path: Path) -> None:
        """Read the whole file first; only a readable file gets its valid rows submitted.

        The reading is a background call, the stick's (``hold_s``), and the sending the
        next: an .xlsx within the bounds can still take a second (kiosk.batch), and the
        screen says "Please wait" meanwhile. A file refused whole comes back as that
        call's error (``batch_*``), before anything is sent.

        A row sent before in this session is checked as of when it was first sent, as a
        lost form is (``cargo_submit``): at 00:01 a row sent at 23:58 with that day's
        date was refused by the kiosk's own window check and never sent again with its
        key, and its CCRN was lost. What became of each row is written beside the file.
        """
        now = self.clock()
        session = self._session
        sent = self._batch_sent  # this session's: dropped with it
        keys = self._keys_session  # taken now: a row sent as the session ends is not the next's
        # which file of the session (by its path: two sticks often carry files of one
        # name, the kiosk's template, and by name the second's rows got the first's
        # keys, so their CCRNs: found in review): the same items in two files are two
        # consignments, and the same file chosen again gives its rows their keys again
        tag = self._batch_tags.setdefault(str(path), f"f{len(self._batch_tags) + 1}.")

        def work(rows: list[BatchRow]) -> list[BatchOutcome]:
            outcomes: list[BatchOutcome] = []
            stopped = False
            for row in rows:
                if self._session != session:
                    # Finish ended the session (the idle clock waits for a call): nobody
                    # sees the rest, so it is not sent; what was, is said in the log
                    made = [o.ccrn for o in outcomes if o.ccrn]
                    logger.warning(
                        "batch upload of %s stopped after %d of %d rows (session ended);"
                        " CCRNs made: %s",
                        path.name,
                        len(outcomes),
                        len(rows),
                        ", ".join(made) or "none",
                    )
                    break
                if stopped:
                    outcomes.append(BatchOutcome(row.row, errors=row.errors, unsent=True))
                    continue
                outcome = self._submit_row(row, sent, now, keys)
                outcomes.append(outcome)
                if outcome.notice is not None and outcome.notice.key in BATCH_STOPPERS:
                    # The control point system is out of reach, or went silent after this
                    # row went out: the next rows would most likely go the same way, and
                    # each one lost so could be a CCRN nobody saw.
                    stopped = True
                    made = [o.ccrn for o in outcomes if o.ccrn]
                    logger.warning(
                        "batch upload of %s stopped at row %d (%s); rows after it not sent;"
                        " CCRNs made: %s",
                        path.name,
                        row.row,
                        outcome.notice.key,
                        ", ".join(made) or "none",
                    )
            return outcomes

        def saved(results: Path | None) -> None:
            if results is not None:
                self._tell("batch_results_saved", Level.INFO, file=results.name)
            else:
                # the result is on the screen still: only the copy on the stick is missing
                self._tell("batch_results_not_saved")

        def done(outcomes: list[BatchOutcome]) -> None:
            # in the session that sent them (an ended one's answer is dropped: nobody is
            # there, and the stick may be another's by now)
            self.batch_file = path
            self.batch_outcomes = outcomes
            self._go(Screen.BATCH_RESULT)
            # the results beside the file, in the stick's call; the screen has them now
            self._on_stick(
                "write batch results", functools.partial(self._save_results, path, outcomes), saved
            )

        def read(rows: list[BatchRow]) -> None:
            self._start("batch upload", functools.partial(work, rows), done)

        # the file read off the stick first, in the stick's call (``hold_s``); then sent;
        # then the results written beside it, in the stick's call again
        self._on_stick(
            "read batch file", functools.partial(read_batch, path, now, sent, tag=tag), read
        )

    def _save_results(self, path: Path, outcomes: list[BatchOutcome]) -> Path | None:
        """Runs on a stick's worker thread: the results beside the batch file, or None
        when its folder cannot be written (write-protected, full, taken out)."""
        try:
            return write_results(path, [o.results_row() for o in outcomes], self.clock())
        except OSError as err:
            logger.warning("cannot write the results of %s beside it: %s", path.name, err)
            return None
        except Exception:  # the outcomes (CCRNs made) must reach the screen whatever this is
            logger.exception("the results of %s not written", path.name)
            return None

    def _submit_row(
        self, row: BatchRow, sent: dict[str, datetime], now: datetime, keys: str
    ) -> BatchOutcome:
        """Runs on the worker thread: one row, its CCRN or why not. ``sent`` remembers when
        a row the centre took (or may have: its answer lost) was first sent (``now``, the
        time it was checked as of); one refused or never sent is checked afresh."""
        if row.items is None:
            return BatchOutcome(row.row, errors=row.errors)
        try:
            cargo = self.api.submit_cargo(row.items, f"{keys}-{row.place}")
        except ApiError as err:
            outcome = BatchOutcome(row.row, notice=self._notice_for(err))
            if outcome.maybe_saved:
                sent.setdefault(row.place, now)
            return outcome
        except Exception:
            # Top of the loop over the rows: whatever went wrong with this one (a bug, an
            # answer of a shape nobody expected), the CCRNs already made must not be lost
            # with the call. The row may have gone out: counted as a lost answer is, and
            # the batch stops there (BATCH_STOPPERS).
            logger.exception("batch row %d: sending failed", row.row)
            sent.setdefault(row.place, now)
            return BatchOutcome(row.row, notice=Notice(MAYBE_APPLIED))
        sent.setdefault(row.place, now)
        return BatchOutcome(row.row, ccrn=cargo.ccrn)

    def _cargo_key(self, scope: str, items: CargoItems) -> str:
        """A form's Idempotency-Key: this session's, the form's place (``scope``) and the
        items' digest. The same form sent again in this session (its answer was lost) has
        the same key, and the centre answers with the cargo it made instead of making a
        second one; a form changed is a new submission, and so is a new form after one was
        saved. A batch row's key is the session's and its place in the file
        (``BatchRow.place``: how many rows of the same items came before it, and the
        items' digest), not its row number: a row deleted or inserted above it leaves it
        its key."""
        return f"{self._keys_session}-{scope}-{items_digest(items)}"

    @property
    def batch_counts(self) -> BatchCounts:
        """Rows submitted, rows not submitted (errors, refused, not sent) and rows that may
        have been saved (sent, the answer lost): the last are neither."""
        ok = sum(1 for o in self.batch_outcomes if o.ccrn)
        maybe = sum(1 for o in self.batch_outcomes if o.maybe_saved)
        return BatchCounts(ok, len(self.batch_outcomes) - ok - maybe, maybe)

    @property
    def batch_stopped_at(self) -> int | None:
        """The row after which the batch was not sent any further (None: every row was)."""
        if not any(o.unsent for o in self.batch_outcomes):
            return None
        for outcome in self.batch_outcomes:
            if outcome.notice is not None and outcome.notice.key in BATCH_STOPPERS:
                return outcome.row
        return None

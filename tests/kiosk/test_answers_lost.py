"""Writes whose answer never came back whole: the cargo data may have been saved.

A new submission has no CCRN to check with Query: the shipper is told to press Submit
again with the form unchanged, which sends the same Idempotency-Key, and the centre
answers the cargo the first one made. A batch stops at the first row whose answer
was lost or that could not reach the control point system, and counts the rows that may
have been saved apart from the rest. An answer too large to read is such a lost answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.api import Answer, KioskClient
from kiosk.cargo import FIELD_NAMES
from kiosk.flows import Kiosk, Screen
from kiosk.qt_app import CATALOGUE
from kiosk.qt_text import message
from rocars.client import ApiError
from rocars.models import Cargo, CargoItems
from tests.fixtures.asgi import fixed_answer, serving
from tests.kiosk.fixed_centre import cargo_items
from tests.kiosk.hang_up import HangUpCentre
from ui_common.i18n import Translations
from ui_common.languages import Language

NOW = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)  # 14:30 HKT
TOMORROW = "2026-11-22"
HEADER = ",".join(FIELD_NAMES)
GOOD_ROW = f"3,PALLETS,PORK,A,B,C,D,{TOMORROW},import,,,,"
FORM = {
    "packages": "3", "package_description": "CARTONS", "article_description": "TEA",
    "consignor_name": "A", "consignor_address": "B", "consignee_name": "C",
    "consignee_address": "D",
}  # fmt: skip

LOST = ApiError("POST /v1/cargo: timed out", key="central_unreachable", detail={"maybe_applied": True})  # fmt: skip
OFFLINE = ApiError("POST /v1/cargo: refused", key="central_unreachable")
CENTRE_DOWN = ApiError(
    "centre down",
    key="central_unavailable",
    status=503,
    detail={"message": "x", "what": "cargo", "maybe_applied": False},
)
REFUSED = ApiError("bad", key="validation_error", status=422, detail=[{"field": "vrn"}])


def cargo(ccrn: str = "1001041258") -> Cargo:
    items = cargo_items(packages=3, expected_date=date(2026, 11, 22))
    return Cargo(ccrn=ccrn, submitted_at=NOW, updated_at=NOW, items=items)


class Centre:
    """``submit_cargo`` answers from ``answers`` in turn (an ApiError is raised)."""

    def __init__(self, *answers: ApiError | str) -> None:
        self.answers = list(answers)
        self.sent: list[CargoItems] = []
        self.keys: list[str | None] = []

    def submit_cargo(self, items: CargoItems, idempotency_key: str | None = None) -> Cargo:
        self.sent.append(items)
        self.keys.append(idempotency_key)
        answer = self.answers.pop(0) if self.answers else "4000000099"
        if isinstance(answer, ApiError):
            raise answer
        return cargo(answer)

    def amend_cargo(self, ccrn: str, items: CargoItems) -> Cargo:
        raise LOST

    def query_cargo(self, ccrn: str) -> Answer[Cargo]:
        return Answer(cargo(ccrn))


def fill(model: Kiosk) -> None:
    model.new_cargo()
    for name, value in FORM.items():
        model.set_input(f"cargo.{name}", value)


def submitted(client: object, media: Path) -> Kiosk:
    """A kiosk whose shipper filled the form and pressed Submit once."""
    model = Kiosk(client, media=media, clock=lambda: NOW)  # type: ignore[arg-type]
    model.start_shipper()
    fill(model)
    model.cargo_submit()
    return model


def uploaded(client: object, media: Path, path: Path) -> Kiosk:
    """A kiosk whose shipper chose the batch file ``path`` once."""
    model = Kiosk(client, media=media, clock=lambda: NOW)  # type: ignore[arg-type]
    model.start_shipper()
    model.batch_start()
    model.batch_upload(path)
    return model


@pytest.fixture
def english(qapp: object) -> Iterator[None]:
    translations = Translations([CATALOGUE], Language.EN)
    yield
    translations.close()


def test_new_cargo_whose_answer_was_lost_is_sent_again_with_its_key(
    tmp_path: Path, english: None
) -> None:
    """ "Check with Query" cannot be done without a CCRN. Submit again with the form as it
    was sends the same Idempotency-Key (the centre answers the cargo it made, not a
    second); a changed form, or a new form after one was saved, is a new key. An
    amendment has its CCRN: "check with Query" stays right for it."""
    centre = Centre(LOST, LOST)
    model = submitted(centre, tmp_path)
    assert model.screen == Screen.CARGO_FORM
    assert model.notice is not None
    assert model.notice.key == "cargo_maybe_submitted"
    text = message(model.notice)
    assert "Press Submit again without changing the form" in text
    assert "not a second one" in text
    assert "Query" not in text
    model.cargo_submit()  # lost again
    model.set_input("cargo.packages", "13")
    model.cargo_submit()  # a changed form: saved (the centre's next answer)
    assert model.screen == Screen.CARGO_RESULT
    first, again, changed = centre.keys
    assert first is not None
    assert again == first
    assert changed not in (None, first)
    model.new_cargo()
    fill(model)
    model.set_input("cargo.packages", "13")
    model.cargo_submit()  # the same items as the one saved: a new form, a new key
    assert centre.keys[3] not in centre.keys[:3]
    assert all(len(k or "") <= 64 for k in centre.keys)

    model.home()
    model.amend_start()
    model.set_input("amend_ccrn", "1001041258")
    model.amend_lookup()
    assert model.screen == Screen.CARGO_FORM
    model.cargo_submit()
    assert model.notice is not None
    assert model.notice.key == "central_unavailable_maybe_applied"
    assert "Query" in message(model.notice)


def test_a_lost_submission_sent_again_after_midnight_keeps_its_key(
    tmp_path: Path, english: None
) -> None:
    """Sent at 23:59 with today's date (the form's default), the answer lost; Submit
    again at 00:00 was refused by the kiosk's own date check before the centre could
    answer the key with its CCRN, and moving the date made a new key (maybe a second
    CCRN). The same form is checked as of when it was first sent; a changed one, as of
    now."""
    clock = [datetime(2026, 11, 21, 15, 59, 30, tzinfo=UTC)]  # 23:59:30 HKT
    centre = Centre(LOST)
    model = Kiosk(centre, media=tmp_path, clock=lambda: clock[0])  # type: ignore[arg-type]
    model.start_shipper()
    fill(model)
    model.cargo_submit()
    assert model.notice is not None
    assert model.notice.key == "cargo_maybe_submitted"
    clock[0] += timedelta(minutes=1)  # 00:00:30 HKT: the form's date is yesterday's now
    model.cargo_submit()
    assert model.screen == Screen.CARGO_RESULT
    assert centre.keys[1] == centre.keys[0]
    # a changed form after midnight: today's window
    model.new_cargo()
    fill(model)
    model.set_input("cargo.expected_date", "2026-11-21")
    model.cargo_submit()
    assert model.cargo_errors["expected_date"].key == "expected_date_out_of_window"


def batch_file(folder: Path, *rows: str) -> Path:
    path = folder / "rows.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_batch_stops_at_the_first_row_that_may_have_been_saved(tmp_path: Path) -> None:
    """Row 3's answer was lost: it may have a CCRN nobody saw. Rows 4 and 5 are not sent
    (before, every row was, each perhaps lost the same way); row 6 had errors. Row 3 is
    counted apart: neither submitted nor not submitted."""
    centre = Centre("4000000001", LOST)
    path = batch_file(tmp_path, GOOD_ROW, GOOD_ROW, GOOD_ROW, GOOD_ROW, "x,,,,,,,,,,,,")
    model = uploaded(centre, tmp_path, path)
    assert model.screen == Screen.BATCH_RESULT
    assert len(centre.sent) == 2
    assert tuple(model.batch_counts) == (1, 3, 1)
    assert model.batch_counts.maybe_saved == 1
    assert model.batch_stopped_at == 3
    rows = {o.row: o for o in model.batch_outcomes}
    assert rows[2].ccrn == "4000000001"
    assert rows[3].maybe_saved
    assert rows[3].ccrn is None
    assert rows[4].unsent
    assert rows[5].unsent
    assert not rows[4].maybe_saved
    assert rows[6].errors  # listed with its errors, as before
    # the same file chosen again in the session: each row sent with the key it had (the
    # centre answers rows 2 and 3 with the cargo they made); rows 2 and 4, the same
    # items, keep keys of their own
    sent = list(centre.keys)
    model.batch_upload(path)
    assert centre.keys[2:4] == sent
    assert len(set(centre.keys[2:])) == 4


@pytest.mark.parametrize(
    ("error", "key"),
    [(OFFLINE, "kiosk_offline"), (CENTRE_DOWN, "central_unavailable")],
    ids=["kiosk_offline", "centre_down"],
)
def test_a_batch_stops_when_the_control_point_system_cannot_be_reached(
    tmp_path: Path, error: ApiError, key: str
) -> None:
    centre = Centre("4000000001", error)
    model = uploaded(centre, tmp_path, batch_file(tmp_path, GOOD_ROW, GOOD_ROW, GOOD_ROW))
    assert len(centre.sent) == 2
    assert tuple(model.batch_counts) == (1, 2, 0)
    assert model.batch_stopped_at == 3
    outcome = model.batch_outcomes[1]
    assert outcome.notice is not None
    assert outcome.notice.key == key
    assert not outcome.maybe_saved


def test_a_row_the_centre_refuses_does_not_stop_the_batch(tmp_path: Path) -> None:
    centre = Centre("4000000001", REFUSED, "4000000003")
    model = uploaded(centre, tmp_path, batch_file(tmp_path, GOOD_ROW, GOOD_ROW, GOOD_ROW))
    assert len(centre.sent) == 3
    assert tuple(model.batch_counts) == (2, 1, 0)
    assert model.batch_stopped_at is None


def raw(status: str, length: int) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()


def test_a_write_whose_answer_is_too_large_may_have_been_done(
    hang_up_centre: HangUpCentre, tmp_path: Path
) -> None:
    """The local API answered, more than the kiosk reads (``central_answer_too_large``):
    the write reached it and may have been done, as when an answer is lost. Before, the
    person read "error_unknown"."""
    local_api = hang_up_centre
    local_api.answer = raw("200 OK", 999_999_999)
    client = KioskClient(local_api.url)
    try:
        with pytest.raises(ApiError) as lost:
            client.submit_cargo(cargo().items)
        assert lost.value.key == "central_answer_too_large"
        assert lost.value.detail == {"maybe_applied": True}
        model = submitted(client, tmp_path)
        assert model.notice is not None
        assert model.notice.key == "cargo_maybe_submitted"
        model.amend_ccrn = "1001041258"  # an amendment (its form filled before)
        model.cargo_submit()
        assert model.notice is not None
        assert model.notice.key == "central_unavailable_maybe_applied"
        model.start_query()
        model.set_input("query", "9110635860")
        model.run_query()
        assert model.notice is not None
        assert model.notice.key == "kiosk_error"  # a query did nothing
        # a refusal is one, however long: nothing was done
        local_api.answer = raw("409 Conflict", 999_999_999)
        with pytest.raises(ApiError) as refused:
            client.submit_cargo(cargo().items)
        assert refused.value.key == "central_answer_too_large"
        assert not (refused.value.detail or {}).get("maybe_applied")
    finally:
        client.close()


def test_the_agents_too_large_answer_from_the_centre_may_have_been_done(tmp_path: Path) -> None:
    """The agent passing on the centre's ``central_answer_too_large`` to a write."""
    body = b'{"error":"central_answer_too_large","detail":"over 64 MB"}'
    with serving(fixed_answer(502, b"application/json", body)) as url:
        client = KioskClient(url)
        try:
            model = submitted(client, tmp_path)
            assert model.notice is not None
            assert model.notice.key == "cargo_maybe_submitted"
        finally:
            client.close()

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
from rocars.ids import validate_idempotency_key
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


def test_a_lost_submission_sent_again_after_another_form_was_saved_keeps_its_key(
    tmp_path: Path,
) -> None:
    """Form A's answer lost; the shipper submits form B (saved), then A again unchanged:
    A goes with its first key, so the centre answers the cargo it may have made. Its
    key counted the forms saved, so B's save made it a new submission, a second CCRN if
    the first was saved (found in review). Saved, a form sent again is a new one."""
    centre = Centre(LOST, "4000000002", "4000000001", "4000000003")
    model = submitted(centre, tmp_path)
    assert model.notice is not None
    assert model.notice.key == "cargo_maybe_submitted"
    model.new_cargo()
    fill(model)
    model.set_input("cargo.packages", "13")
    model.cargo_submit()
    assert model.screen == Screen.CARGO_RESULT
    model.new_cargo()
    fill(model)  # form A, as it was
    model.cargo_submit()
    assert model.screen == Screen.CARGO_RESULT
    a_first, b, a_again = centre.keys
    assert a_again == a_first
    assert b not in (None, a_first)
    model.new_cargo()
    fill(model)  # form A once more, after it was saved: another consignment
    model.cargo_submit()
    assert centre.keys[3] not in centre.keys[:3]


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
    # and so in the results beside the file
    results = (tmp_path / "rows-results-20261121-143000.csv").read_text(encoding="utf-8-sig")
    assert [line.split(",")[:3] for line in results.splitlines()] == [
        ["row", "ccrn", "status"],
        ["2", "4000000001", "submitted"],
        ["3", "", "may have been saved"],
        ["4", "", "not sent"],
        ["5", "", "not sent"],
        ["6", "", "not submitted"],
    ]
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


class NumberingCentre(Centre):
    """Answers each new Idempotency-Key with a new CCRN and a known one with its CCRN,
    as the centre does; ``lose`` answers go missing after the cargo was made."""

    def __init__(self, *lose: int) -> None:
        super().__init__()
        self.ccrns: dict[str | None, str] = {}
        self.lose = set(lose)  # which submissions' answers (1, 2, ...) are lost

    def submit_cargo(self, items: CargoItems, idempotency_key: str | None = None) -> Cargo:
        self.sent.append(items)
        self.keys.append(idempotency_key)
        ccrn = self.ccrns.setdefault(idempotency_key, f"{4000000001 + len(self.ccrns)}")
        if len(self.sent) in self.lose:
            raise LOST
        return cargo(ccrn)


def row(packages: int, expected: str = TOMORROW) -> str:
    return f"{packages},PALLETS,PORK,A,B,C,D,{expected},import,,,,"


def test_a_row_keeps_its_key_when_rows_above_it_are_deleted_or_inserted(
    tmp_path: Path,
) -> None:
    """A row's key held its row number: the shipper deleted a bad row (or added one) and
    chose the file again, and every row below it was sent with a new key, a second CCRN
    each. Its key is its items and how many rows of the same items came before it, in
    this session: a new session is new cargo, as for the form."""
    centre = NumberingCentre()
    path = batch_file(tmp_path, "x,,,,,,,,,,,,", row(1), row(2), row(1))
    model = uploaded(centre, tmp_path, path)
    first = {o.row: o.ccrn for o in model.batch_outcomes}
    assert first == {2: None, 3: "4000000001", 4: "4000000002", 5: "4000000003"}
    # the bad row deleted: the rows below it move up
    batch_file(tmp_path, row(1), row(2), row(1))
    model.back()
    model.batch_upload(path)
    again = {o.row: o.ccrn for o in model.batch_outcomes}
    assert again == {2: "4000000001", 3: "4000000002", 4: "4000000003"}
    assert len(centre.ccrns) == 3
    # a new row inserted above the rest: they move down
    batch_file(tmp_path, row(7), row(1), row(2), row(1))
    model.back()
    model.batch_upload(path)
    again = {o.row: o.ccrn for o in model.batch_outcomes}
    assert again == {2: "4000000004", 3: "4000000001", 4: "4000000002", 5: "4000000003"}
    assert len(centre.ccrns) == 4
    # the two rows of the same items keep keys of their own, each its own CCRN
    assert len(set(centre.keys)) == 4
    model.finish()
    model.start_shipper()
    model.batch_start()
    model.batch_upload(path)
    assert len(centre.ccrns) == 8  # a new session: new cargo


def test_the_same_items_in_two_files_of_a_session_are_two_consignments(
    tmp_path: Path,
) -> None:
    """A shipper splits a long list into two files; a row in the second has the items of
    one in the first (the plate is optional). Its key named no file, so the centre
    answered the first file's CCRN, and one consignment was never made. Each file of
    the session has its own tag; the same file chosen again keeps its rows' keys."""
    centre = NumberingCentre()
    first = batch_file(tmp_path, row(1), row(2))
    model = uploaded(centre, tmp_path, first)
    second = tmp_path / "more.csv"
    second.write_text("\n".join([HEADER, row(2), row(1)]) + "\n", encoding="utf-8")
    model.back()
    model.batch_upload(second)
    assert len(centre.ccrns) == 4
    model.back()
    model.batch_upload(first)  # chosen again: its rows' CCRNs, nothing new
    assert [o.ccrn for o in model.batch_outcomes] == ["4000000001", "4000000002"]
    assert len(centre.ccrns) == 4
    # a file of the same name on another stick (the kiosk's template, often): its own
    # consignments (by its name, it had the first file's keys, so its CCRNs: found in
    # review)
    other_stick = tmp_path / "stick2"
    other_stick.mkdir()
    model.back()
    model.batch_upload(batch_file(other_stick, row(1), row(2)))
    assert [o.ccrn for o in model.batch_outcomes] == ["4000000005", "4000000006"]
    assert len(centre.ccrns) == 6
    assert all(len(k or "") <= 64 for k in centre.keys)


def test_a_row_far_down_the_file_has_a_key_the_centre_takes(tmp_path: Path) -> None:
    """Rows numbered 100 000 and on (blank lines above them) had a key of 65 characters:
    the local API refuses keys over 64, and each such row was refused."""
    path = tmp_path / "far.csv"
    path.write_text(HEADER + "\n" * 100_000 + GOOD_ROW + "\n", encoding="utf-8")
    centre = NumberingCentre()
    model = uploaded(centre, tmp_path, path)
    assert [o.row for o in model.batch_outcomes] == [100_001]
    (key,) = centre.keys
    assert key is not None
    assert validate_idempotency_key(key) == key


def test_a_batch_chosen_again_after_midnight_is_checked_as_of_when_its_rows_were_sent(
    tmp_path: Path,
) -> None:
    """Sent at 23:58 with that day's date, row 3's answer lost and the batch stopped there.
    At 00:01 the file chosen again was checked as of now: every row dated the day before
    was refused by the kiosk itself, never sent again with its key, and their CCRNs were
    lost (moving the date made new ones). Rows sent before are checked as of when they
    were first sent; a row never sent, as of now."""
    clock = [datetime(2026, 11, 21, 15, 58, tzinfo=UTC)]  # 23:58 HKT
    today = "2026-11-21"
    centre = NumberingCentre(2)  # row 3's answer lost
    path = batch_file(tmp_path, row(1, today), row(2, today), row(3, today), row(4, TOMORROW))
    model = Kiosk(centre, media=tmp_path, clock=lambda: clock[0])  # type: ignore[arg-type]
    model.start_shipper()
    model.batch_start()
    model.batch_upload(path)
    assert [o.ccrn for o in model.batch_outcomes] == ["4000000001", None, None, None]
    assert model.batch_stopped_at == 3
    clock[0] += timedelta(minutes=3)  # 00:01 HKT: "today" was yesterday
    model.back()
    model.batch_upload(path)
    outcomes = {o.row: o for o in model.batch_outcomes}
    assert outcomes[2].ccrn == "4000000001"  # the CCRN it had
    assert outcomes[3].ccrn == "4000000002"  # the CCRN nobody saw
    assert centre.keys[2:4] == centre.keys[0:2]
    assert [e.key for e in outcomes[4].errors] == ["expected_date_out_of_window"]  # never sent
    assert outcomes[5].ccrn == "4000000003"
    assert len(centre.ccrns) == 3
    # a new session: its rows are new, checked as of now
    model.finish()
    model.start_shipper()
    model.batch_start()
    model.batch_upload(path)
    assert [o.row for o in model.batch_outcomes if o.ccrn] == [5]


def test_a_row_that_fails_in_an_unexpected_way_stops_the_batch_and_keeps_the_ccrns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Anything but the API's own errors escaped the row and the call: the CCRNs already
    made were never shown. The row may have gone out: it counts as a lost answer does, and
    the batch stops there."""

    class Faulty(NumberingCentre):
        def submit_cargo(self, items: CargoItems, idempotency_key: str | None = None) -> Cargo:
            if len(self.sent) == 1:
                self.sent.append(items)
                raise RuntimeError("an answer of a shape nobody expected")
            return super().submit_cargo(items, idempotency_key)

    centre = Faulty()
    model = uploaded(centre, tmp_path, batch_file(tmp_path, row(1), row(2), row(3)))
    assert model.screen == Screen.BATCH_RESULT
    assert [o.ccrn for o in model.batch_outcomes] == ["4000000001", None, None]
    assert model.batch_outcomes[1].maybe_saved
    assert model.batch_outcomes[2].unsent
    assert tuple(model.batch_counts) == (1, 1, 1)
    assert model.batch_stopped_at == 3
    assert "batch row 3: sending failed" in caplog.text
    assert "RuntimeError: an answer of a shape nobody expected" in caplog.text

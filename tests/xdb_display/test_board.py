"""The board's plain model: what it shows for a lane-watch answer, no Qt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rocars.config import load_config
from rocars.errors import ConfigError
from rocars.messages import InstructionCode, SyncStatus
from rocars.signing import lane_key, signed_payload
from rocars.timeutil import hk_short
from tests.fixtures.displays import (
    STALE_BOUNDS_REFUSED,
    FakeClock,
    make_instruction,
    site_secret,
    stale_bounds_hold,
)
from ui_common.errors import InstructionRejected
from ui_common.lanewatch import FailReason, LaneWatch, Shown, SyncMark
from ui_common.languages import ALL_LANGUAGES, Language
from xdb_display.board import LanguageMode, XdbConfig, board_state

#: the lane a display must be told (no default)
LANE = {"cp": "SBC", "lane": "L01"}

C = InstructionCode
NOW = datetime(2026, 11, 21, 6, 30, 15, tzinfo=UTC)  # 14:30:15 in Hong Kong


def shown(code: InstructionCode, **fields: object) -> Shown:
    instruction = make_instruction(code, 1, **fields)  # type: ignore[arg-type]
    return Shown(code, instruction, None, SyncMark.CENTRAL_UP)


def test_proceed_shows_plate_clock_all_languages() -> None:
    state = board_state(shown(C.PROCEED, vrn="AB1234"), NOW)
    assert state.code is C.PROCEED
    assert state.vrn == "AB1234"
    assert state.clock == "14:30:15"
    assert state.languages == ALL_LANGUAGES
    assert state.big_value is None


def test_inspect_shows_bay() -> None:
    state = board_state(shown(C.INSPECT, bay="B12"), NOW)
    assert state.bay == "B12"
    assert state.big_value == "B12"


def test_too_early_shows_hk_short() -> None:
    state = board_state(shown(C.TOO_EARLY, earliest_at=NOW + timedelta(minutes=25)), NOW)
    assert state.earliest == "14:56"  # 14:55:15, rounded up
    assert state.big_value == "14:56"


def test_hk_time_names_the_day_when_not_today() -> None:
    assert hk_short(NOW + timedelta(hours=12), NOW) == "22/11 02:31"
    assert hk_short(NOW.replace(second=0), NOW) == "14:30"


def test_a_not_before_time_is_rounded_up_to_the_minute() -> None:
    """An earliest time of 14:55:45 shown as 14:55 told the driver at 14:55:20 that the
    time had come, and the lane said TOO_EARLY: it is shown as 14:56."""
    earliest = datetime(2026, 11, 21, 6, 55, 45, tzinfo=UTC)  # 14:55:45 in Hong Kong
    assert board_state(shown(C.TOO_EARLY, earliest_at=earliest), NOW).earliest == "14:56"
    on_the_minute = NOW.replace(second=0)
    assert hk_short(on_the_minute, NOW) == "14:30"
    assert hk_short(on_the_minute + timedelta(milliseconds=1), NOW) == "14:31"
    assert hk_short(datetime.max.replace(tzinfo=UTC), NOW) == "31/12 23:59"


def test_failing_closed_shows_no_plate() -> None:
    state = board_state(
        Shown(C.STOP_SEE_OFFICER, None, FailReason.NO_HEARTBEAT, SyncMark.CONTROLLER_LOST), NOW
    )
    assert state.code is C.STOP_SEE_OFFICER
    assert state.vrn is None
    assert state.reason is FailReason.NO_HEARTBEAT
    assert state.sync_mark is SyncMark.CONTROLLER_LOST


def test_cycle_mode_goes_through_each_language() -> None:
    seen = [
        board_state(
            shown(C.READY), NOW + timedelta(seconds=4 * i), LanguageMode.CYCLE, 4.0
        ).languages
        for i in range(3)
    ]
    assert all(len(langs) == 1 for langs in seen)
    assert {langs[0] for langs in seen} == set(Language)


def test_config_refuses_bad_values() -> None:
    assert load_config(XdbConfig, None, LANE).heartbeat_bound == 3.0
    with pytest.raises(ConfigError):
        load_config(XdbConfig, None, {**LANE, "languages": "some"})
    with pytest.raises(ConfigError):
        load_config(XdbConfig, None, {**LANE, "lane": "bad lane/"})
    with pytest.raises(ConfigError):
        load_config(XdbConfig, None, {**LANE, "colour": "red"})


@pytest.mark.parametrize("bad", STALE_BOUNDS_REFUSED)
def test_config_bounds_how_long_a_stale_instruction_may_stand(bad: dict[str, float]) -> None:
    stale_bounds_hold(XdbConfig, LANE, bad)


#: bays that would leave the big value of INSPECT blank or garbled
#: (right to left, or glyphs the screens' font lacks)
BLANK_BAYS = [" ", "\u3000", "\u200b", "\u202eB12", "\n\n", "\t", "\x00", "\u3164", "\u0301"]
BLANK_BAYS += ["א12", "\U0001f69a", "ก๑", "\U00013000", "\u0710\u0711"]


@pytest.mark.parametrize("bay", BLANK_BAYS)
def test_the_board_never_shows_inspect_with_a_blank_bay(bay: str) -> None:
    """Such a bay, even signed by the lane, is not shown: the board fails closed in place
    of the truck before's PROCEED."""
    key = lane_key(site_secret(), "SBC", "L01")
    clock = FakeClock()
    watch = LaneWatch(key, clock=clock, lane="L01")
    watch.on_connection(True)
    watch.on_sync_status(
        SyncStatus(state="online", central="up", ts=clock.now(), lanes=["L01"]).to_bytes()
    )
    watch.on_instruction(make_instruction(C.PROCEED, 10).to_bytes())
    fields = {k: v for k, v in make_instruction(C.INSPECT, 11).to_dict().items() if k != "sig"}
    with pytest.raises(InstructionRejected):
        watch.on_instruction(signed_payload({**fields, "bay": bay}, key)[1])
    state = board_state(watch.shown(), NOW)
    assert state.code is C.STOP_SEE_OFFICER
    assert state.big_value is None


@pytest.mark.parametrize("missing", ["cp", "lane"])
def test_config_needs_its_lane_and_control_point(missing: str) -> None:
    """No default lane: one not told its lane would show L01's instructions."""
    given = {k: v for k, v in LANE.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_config(XdbConfig, None, given)

"""The panel's state machine, with a fake clock and no Qt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aiop_panel.panel import Action, Feedback, PanelConfig, PanelModel
from rocars.config import load_config
from rocars.errors import ConfigError
from rocars.messages import InstructionCode, ManifestDropped, UnladenPressed
from tests.fixtures.displays import (
    STALE_BOUNDS_REFUSED,
    FakeClock,
    make_instruction,
    stale_bounds_hold,
)
from ui_common.lanewatch import FailReason, Shown, SyncMark
from ui_common.languages import Language

#: the lane a display must be told (no default)
LANE = {"cp": "SBC", "lane": "L01"}

C = InstructionCode


def shown(code: InstructionCode, seq: int, vrn: str = "AB1234") -> Shown:
    return Shown(code, make_instruction(code, seq, vrn=vrn), None, SyncMark.CENTRAL_UP)


STOP = Shown(C.STOP_SEE_OFFICER, None, FailReason.NO_HEARTBEAT, SyncMark.CONTROLLER_LOST)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def model(clock: FakeClock) -> PanelModel:
    return PanelModel(manifest_confirm=True, feedback_seconds=5, clock=clock)


def test_unladen_only_on_no_bundle(model: PanelModel, clock: FakeClock) -> None:
    for code in C:
        model.on_shown(shown(code, 1))
        assert model.view(clock.now()).unladen_available is (code is C.NO_BUNDLE)
    model.on_shown(STOP)
    assert not model.view(clock.now()).unladen_available


def test_unladen_flow_confirm_sent_received(model: PanelModel, clock: FakeClock) -> None:
    model.on_shown(shown(C.NO_BUNDLE, 3, vrn="XY987"))
    model.press(Action.UNLADEN)
    view = model.view(clock.now())
    assert view.confirming is Action.UNLADEN
    assert view.feedback is None
    message = model.confirm()
    assert isinstance(message, UnladenPressed)
    assert (message.vrn, message.instruction_seq) == ("XY987", 3)  # what it answers
    view = model.view(clock.now())
    assert (view.feedback, view.feedback_about) == (Feedback.SENT, Action.UNLADEN)
    assert not view.unladen_available  # pressed once for this instruction
    model.press(Action.UNLADEN)
    assert model.view(clock.now()).feedback is Feedback.NOT_AVAILABLE
    model.on_shown(shown(C.PROCEED, 4, vrn="XY987"))
    assert model.view(clock.now()).feedback is Feedback.RECEIVED
    clock.advance(5.1)
    assert model.view(clock.now()).feedback is None


@pytest.mark.parametrize(
    ("code", "action", "answer"),
    [
        (C.NO_BUNDLE, Action.UNLADEN, C.PROCEED),
        (C.NO_BUNDLE, Action.UNLADEN, C.INSPECT),
        (C.NO_BUNDLE, Action.UNLADEN, C.DROP_MANIFEST),
        (C.DROP_MANIFEST, Action.MANIFEST, C.PROCEED),
        (C.DROP_MANIFEST, Action.MANIFEST, C.INSPECT),
    ],
)
def test_received_only_when_the_next_instruction_answers_the_press(
    model: PanelModel,
    clock: FakeClock,
    code: InstructionCode,
    action: Action,
    answer: InstructionCode,
) -> None:
    """A timeout STOP (or READY, or the same request again) after the lane ignored the
    press is not "Received by the lane"; the answer that follows a later press is."""
    seq = 0
    for ignored in (C.STOP_SEE_OFFICER, C.READY, code):
        seq += 3
        model.on_shown(shown(code, seq))
        model.press(action)
        message = model.confirm()
        assert message is not None
        assert message.instruction_seq == seq  # what it answers
        model.on_shown(shown(ignored, seq + 1))
        assert model.view(clock.now()).feedback is Feedback.SENT  # no "received"
        model.on_shown(shown(answer, seq + 2))  # the awaited press ended with the above
        assert model.view(clock.now()).feedback is Feedback.SENT
        clock.advance(5.1)
    model.on_shown(shown(code, 20))
    model.press(action)
    assert model.confirm() is not None
    model.on_shown(STOP)  # failing closed is not the lane's answer: still waiting
    assert model.view(clock.now()).feedback is Feedback.SENT
    model.on_shown(shown(answer, 21))
    assert (model.view(clock.now()).feedback, model.view(clock.now()).feedback_about) == (
        Feedback.RECEIVED,
        action,
    )


def test_press_when_not_available_says_so_and_sends_nothing(
    model: PanelModel, clock: FakeClock
) -> None:
    model.on_shown(shown(C.PROCEED, 1))
    model.press(Action.UNLADEN)
    view = model.view(clock.now())
    assert view.confirming is None
    assert view.feedback is Feedback.NOT_AVAILABLE
    assert model.confirm() is None


def test_confirm_too_late_is_not_available(model: PanelModel, clock: FakeClock) -> None:
    model.on_shown(shown(C.NO_BUNDLE, 1))
    model.press(Action.UNLADEN)
    model.on_shown(STOP)  # the lane failed closed while the driver was deciding
    assert model.view(clock.now()).confirming is None
    assert model.confirm() is None
    model.on_shown(shown(C.NO_BUNDLE, 2))
    model.press(Action.UNLADEN)
    model.confirming = Action.UNLADEN
    model.shown = STOP  # a race: the view changed between press and confirm
    assert model.confirm() is None
    assert model.view(clock.now()).feedback is Feedback.NOT_AVAILABLE


@pytest.mark.parametrize(
    ("code", "action"), [(C.NO_BUNDLE, Action.UNLADEN), (C.DROP_MANIFEST, Action.MANIFEST)]
)
def test_a_confirmation_answers_only_the_instruction_it_was_asked_for(
    model: PanelModel, clock: FakeClock, code: InstructionCode, action: Action
) -> None:
    model.on_shown(shown(code, 1, vrn="AB1234"))  # truck A
    model.press(action)
    # the lane reads the next truck (no READY in between) while A's driver is deciding
    model.on_shown(shown(code, 2, vrn="XY987"))
    assert model.view(clock.now()).confirming is None
    assert model.confirm() is None  # A's answer is not published as B's
    model.on_shown(shown(code, 3, vrn="AB1234"))
    model.press(action)
    model.confirming = action
    model.shown = shown(code, 4, vrn="XY987")  # a race: the view changed between the two
    assert model.confirm() is None
    assert model.view(clock.now()).feedback is Feedback.NOT_AVAILABLE
    model.on_shown(shown(code, 4, vrn="XY987"))
    model.press(action)  # B's own confirmation still goes through
    assert model.confirm() is not None


def test_cancel(model: PanelModel, clock: FakeClock) -> None:
    model.on_shown(shown(C.NO_BUNDLE, 1))
    model.press(Action.UNLADEN)
    model.cancel()
    view = model.view(clock.now())
    assert view.confirming is None
    assert view.feedback is Feedback.CANCELLED
    assert view.unladen_available


def test_manifest_only_where_the_lane_allows(clock: FakeClock) -> None:
    strict = PanelModel(manifest_confirm=False, clock=clock)
    strict.on_shown(shown(C.DROP_MANIFEST, 1))
    view = strict.view(clock.now())
    assert not view.manifest_button
    assert not view.manifest_available
    relaxed = PanelModel(manifest_confirm=True, clock=clock)
    relaxed.on_shown(shown(C.DROP_MANIFEST, 1))
    assert relaxed.view(clock.now()).manifest_available
    relaxed.press(Action.MANIFEST)
    message = relaxed.confirm()
    assert isinstance(message, ManifestDropped)
    assert message.source == "panel"
    assert not relaxed.view(clock.now()).manifest_available
    relaxed.on_shown(shown(C.NO_BUNDLE, 2))
    assert not relaxed.view(clock.now()).manifest_available


def test_language_and_hk_time(model: PanelModel, clock: FakeClock) -> None:
    """TOO_EARLY's time in Hong Kong time; with its day when that is not today there."""
    model.set_language(Language.EN)
    for earliest, text in [
        (clock.now() + timedelta(minutes=25), "16:25"),  # 08:00 UTC is 16:00 in Hong Kong
        (clock.now() + timedelta(hours=9), "22/11 01:00"),
    ]:
        instruction = make_instruction(C.TOO_EARLY, 1, earliest_at=earliest)
        model.on_shown(Shown(C.TOO_EARLY, instruction, None, SyncMark.CENTRAL_UP))
        view = model.view(clock.now())
        assert view.language is Language.EN
        assert view.earliest == text


def test_config() -> None:
    config = load_config(
        PanelConfig, None, {**LANE, "manifest_confirm": True, "dropbox": "/dev/ttyUSB0"}
    )
    assert config.manifest_confirm
    with pytest.raises(ConfigError):
        load_config(PanelConfig, None, {**LANE, "language": "fr"})
    with pytest.raises(ConfigError):
        load_config(PanelConfig, None, {**LANE, "dropbox_min_closed_ms": 0})


def test_a_missing_dropbox_sensor_is_shown_only_when_the_manifest_is_wanted(
    clock: FakeClock,
) -> None:
    model = PanelModel(clock=clock)
    model.on_shown(shown(C.DROP_MANIFEST, 1))
    assert not model.view(clock.now()).dropbox_down  # no sensor at this lane
    model.set_dropbox(False)
    assert model.view(clock.now()).dropbox_down
    model.on_shown(shown(C.NO_BUNDLE, 2))
    assert not model.view(clock.now()).dropbox_down
    model.on_shown(STOP)  # failing closed: the STOP says it all
    assert not model.view(clock.now()).dropbox_down
    model.on_shown(shown(C.DROP_MANIFEST, 3))
    model.set_dropbox(True)
    assert not model.view(clock.now()).dropbox_down


def test_a_missing_sensor_is_not_shown_where_the_driver_can_confirm_the_drop(
    clock: FakeClock,
) -> None:
    """ "See the officer" beside a working Manifest dropped button: two ways, one wrong."""
    model = PanelModel(manifest_confirm=True, clock=clock)
    model.set_dropbox(False)
    model.on_shown(shown(C.DROP_MANIFEST, 1))
    view = model.view(clock.now())
    assert view.manifest_available
    assert not view.dropbox_down


@pytest.mark.parametrize("bad", STALE_BOUNDS_REFUSED)
def test_config_bounds_how_long_a_stale_instruction_may_stand(bad: dict[str, float]) -> None:
    stale_bounds_hold(PanelConfig, LANE, bad)


@pytest.mark.parametrize("missing", ["cp", "lane"])
def test_config_needs_its_lane_and_control_point(missing: str) -> None:
    """No default lane: one not told its lane would show L01's instructions."""
    given = {k: v for k, v in LANE.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        load_config(PanelConfig, None, given)


def test_a_sensor_drop_names_the_drop_manifest_shown(model: PanelModel) -> None:
    """The lane takes a drop that names its instruction for that instruction only: one
    delivered late (the panel's link was down) cannot answer the next truck's."""
    drop = ManifestDropped(source="sensor")
    model.on_shown(shown(C.DROP_MANIFEST, 7))
    named = model.sensor_drop(drop)
    assert (named.id, named.ts, named.instruction_seq) == (drop.id, drop.ts, 7)
    model.on_shown(shown(C.PROCEED, 8))  # not a drop's: the newest heard, which the lane
    assert model.sensor_drop(drop, heard=8).instruction_seq == 8  # takes for it only
    model.on_shown(STOP)  # failing closed: still the newest heard (found in review: a drop
    assert model.sensor_drop(drop, heard=8).instruction_seq == 8  # then went untagged)
    assert model.sensor_drop(drop).instruction_seq is None  # none heard yet: by its time
    model.on_shown(shown(C.DROP_MANIFEST, 9))
    model.press(Action.MANIFEST)
    message = model.confirm()
    assert isinstance(message, ManifestDropped)
    assert (message.source, message.instruction_seq) == ("panel", 9)

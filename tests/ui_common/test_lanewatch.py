"""The fail-closed rules, driven with a fake clock and no Qt."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from rocars.errors import BadPayload
from rocars.messages import InstructionCode, SyncStatus
from rocars.signing import lane_key, signed_payload
from tests.fixtures.displays import FakeClock, make_instruction, site_secret
from tests.fixtures.logs import said_by
from ui_common.errors import InstructionRejected
from ui_common.lanewatch import FailReason, LaneWatch, SyncMark

C = InstructionCode


def online(clock: FakeClock, central: str = "up") -> bytes:
    status = SyncStatus(state="online", central=central, ts=clock.now())  # type: ignore[arg-type]
    return status.to_bytes()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def watch(clock: FakeClock) -> LaneWatch:
    w = LaneWatch(lane_key(site_secret(), "SBC", "L01"), heartbeat_bound=3.0, clock=clock)
    w.on_connection(True)
    w.on_sync_status(online(clock))
    return w


def test_nothing_heard_is_stop() -> None:
    w = LaneWatch(b"k" * 32, clock=FakeClock())
    shown = w.shown()
    assert shown.code is C.STOP_SEE_OFFICER
    assert shown.reason is FailReason.BROKER_LOST
    w.on_connection(True)
    assert w.shown().reason is FailReason.CONTROLLER_OFFLINE


def test_verified_instruction_is_shown(watch: LaneWatch) -> None:
    assert watch.shown().reason is FailReason.NO_INSTRUCTION
    watch.on_instruction(make_instruction(C.PROCEED, 5).to_bytes())
    shown = watch.shown()
    assert shown.code is C.PROCEED
    assert shown.seq == 5
    assert shown.reason is None
    assert shown.sync_mark is SyncMark.CENTRAL_UP


@pytest.mark.parametrize("code", list(InstructionCode))
def test_every_code_passes_through(watch: LaneWatch, code: InstructionCode) -> None:
    watch.on_instruction(make_instruction(code, 1).to_bytes())
    assert watch.shown().code is code


def test_forged_instruction_dropped_and_previous_kept(watch: LaneWatch) -> None:
    watch.on_instruction(make_instruction(C.NO_BUNDLE, 1).to_bytes())
    forged = make_instruction(C.PROCEED, 2, key=b"not-the-lane-key")
    with pytest.raises(InstructionRejected) as err:
        watch.on_instruction(forged.to_bytes())
    assert err.value.key == "bad_signature"
    # another lane's key does not open this lane either
    other_lane = make_instruction(C.PROCEED, 3, lane="L02")
    with pytest.raises(InstructionRejected):
        watch.on_instruction(other_lane.to_bytes())
    assert watch.shown().code is C.NO_BUNDLE
    assert watch.rejected == 2


def test_tampered_field_breaks_signature(watch: LaneWatch) -> None:
    good = make_instruction(C.INSPECT, 1, bay="B3").to_dict()
    good["bay"] = "B9"
    with pytest.raises(InstructionRejected) as err:
        watch.on_instruction(json.dumps(good).encode())
    assert err.value.key == "bad_signature"


@pytest.mark.parametrize("payload", [b"", b"not json", b"[]", b'{"v":1}', b"\xff" * 10])
def test_bad_payload_dropped(watch: LaneWatch, payload: bytes) -> None:
    with pytest.raises(InstructionRejected) as err:
        watch.on_instruction(payload)
    assert err.value.key == "bad_payload"
    assert watch.shown().reason is FailReason.NO_INSTRUCTION


#: payloads that ``json.loads`` or the time parsing refused with other errors than the
#: JSON ones: nested past the recursion limit, an integer of over 4300 digits, a time
#: before year 1 once in UTC
ODD_PAYLOADS = {
    "deep": b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}",
    "huge_int": b'{"seq":' + b"1" * 5000 + b"}",
    "year_0": json.dumps(
        {"v": 1, "id": "01JD0000000000000000000000", "ts": "0001-01-01T00:00:00+01:00"}
    ).encode(),
}


@pytest.mark.parametrize("name", [*ODD_PAYLOADS, "lone_surrogate"])
def test_odd_payloads_are_bad_payloads_and_change_nothing(watch: LaneWatch, name: str) -> None:
    watch.on_instruction(make_instruction(C.NO_BUNDLE, 1).to_bytes())
    if name == "lone_surrogate":  # valid UTF-8 JSON (an escape) that cannot be signed
        fields = make_instruction(C.PROCEED, 2).to_dict()
        payload = json.dumps({**fields, "note": "\ud800"}).encode()
    else:
        payload = ODD_PAYLOADS[name]
    with pytest.raises(InstructionRejected) as err:
        watch.on_instruction(payload)
    assert err.value.key == "bad_payload"
    from rocars.errors import BadPayload

    if name != "lone_surrogate":
        with pytest.raises(BadPayload):
            watch.on_sync_status(payload)
    assert watch.shown().code is C.NO_BUNDLE


#: what a newer controller may send that this display cannot read
UNREADABLE = {
    "unknown_code": {"code": "STOP_LANE_CLOSED"},
    "version_2": {"v": 2},
    "ubr_format": {"ubr": "12345"},
}


@pytest.mark.parametrize("change", UNREADABLE)
def test_a_signed_instruction_it_cannot_read_fails_closed(watch: LaneWatch, change: str) -> None:
    """Signed with the lane key, it is the lane's word even if this display cannot read
    it: the PROCEED before it (the truck before's) must not stand until it expires."""
    key = lane_key(site_secret(), "SBC", "L01")
    proceed = make_instruction(C.PROCEED, 10, vrn="AA1111")
    watch.on_instruction(proceed.to_bytes())
    fields = make_instruction(C.STOP_SEE_OFFICER, 11, vrn="BB2222").to_dict()
    fields = {k: v for k, v in fields.items() if k != "sig"} | UNREADABLE[change]
    # the same, signed with another key: junk, the PROCEED stays
    with pytest.raises(InstructionRejected) as err:
        watch.on_instruction(signed_payload(fields, b"not-the-lane-key")[1])
    assert err.value.key == "bad_signature"
    assert (watch.shown().code, watch.shown().seq) == (C.PROCEED, 10)
    with pytest.raises(InstructionRejected) as err:
        watch.on_instruction(signed_payload(fields, key)[1])
    assert err.value.key == "instruction_unreadable"
    shown = watch.shown()
    assert (shown.code, shown.reason) == (C.STOP_SEE_OFFICER, FailReason.INSTRUCTION_UNREADABLE)
    assert shown.instruction is None
    assert watch.rejected == 2
    # its seq counts: the PROCEED again is a replay, and so is another seq 11
    with pytest.raises(InstructionRejected) as err:
        watch.on_instruction(proceed.to_bytes())
    assert err.value.key == "replay"
    with pytest.raises(InstructionRejected):
        watch.on_instruction(make_instruction(C.PROCEED, 11).to_bytes())
    assert watch.shown().code is C.STOP_SEE_OFFICER
    # the lane's next word that it can read is shown
    watch.on_instruction(make_instruction(C.READY, 12).to_bytes())
    assert (watch.shown().code, watch.shown().reason) == (C.READY, None)


def test_a_signed_unreadable_instruction_without_a_seq_still_fails_closed(
    watch: LaneWatch,
) -> None:
    key = lane_key(site_secret(), "SBC", "L01")
    watch.on_instruction(make_instruction(C.PROCEED, 10).to_bytes())
    fields = {k: v for k, v in make_instruction(C.READY, 11).to_dict().items() if k != "sig"}
    with pytest.raises(InstructionRejected):
        watch.on_instruction(signed_payload({**fields, "seq": "eleven"}, key)[1])
    assert watch.shown().code is C.STOP_SEE_OFFICER
    assert watch.shown().reason is FailReason.INSTRUCTION_UNREADABLE
    watch.on_instruction(make_instruction(C.READY, 11).to_bytes())  # seq 10 was the last
    assert watch.shown().code is C.READY


def test_replay_dropped_but_same_message_reconfirms(watch: LaneWatch) -> None:
    old = make_instruction(C.PROCEED, 7)
    watch.on_instruction(old.to_bytes())
    ready = make_instruction(C.READY, 8)
    watch.on_instruction(ready.to_bytes())
    with pytest.raises(InstructionRejected) as err:
        watch.on_instruction(old.to_bytes())
    assert err.value.key == "replay"
    assert watch.shown().code is C.READY
    # a different message with the same seq is a replay too
    with pytest.raises(InstructionRejected):
        watch.on_instruction(make_instruction(C.PROCEED, 8).to_bytes())
    # the very same message again (retained copy after a reconnect) is fine
    watch.on_instruction(ready.to_bytes())
    assert watch.shown().code is C.READY
    assert watch.rejected == 2


def test_expired_instruction_becomes_stop(watch: LaneWatch, clock: FakeClock) -> None:
    watch.on_instruction(
        make_instruction(C.PROCEED, 1, expires_at=clock.now() + timedelta(seconds=2)).to_bytes()
    )
    assert watch.shown().code is C.PROCEED
    assert watch.seconds_to_next_change() == pytest.approx(2.0)
    clock.advance(1.0)
    watch.on_sync_status(online(clock))
    clock.advance(1.0)
    shown = watch.shown()
    assert shown.code is C.STOP_SEE_OFFICER
    assert shown.reason is FailReason.EXPIRED
    assert shown.instruction is None


def test_a_clock_stepped_back_does_not_keep_an_instruction_up(
    watch: LaneWatch, clock: FakeClock
) -> None:
    """The site's clocks stepped back an hour together (its NTP source put right): the
    heartbeats still agree with this clock, and by the wall clock alone the truck
    before's PROCEED stood for the hour (found in review). Told later than now by more
    than the clocks' leeway, it fails closed; and by the monotonic clock it never lasts
    longer than its lifetime from when it came."""
    told = clock.now()
    watch.on_instruction(
        make_instruction(C.PROCEED, 1, ts=told, expires_at=told + timedelta(seconds=13)).to_bytes()
    )
    assert watch.shown().code is C.PROCEED
    clock.wall -= timedelta(hours=1)
    clock.mono += 1.0
    watch.on_sync_status(online(clock))
    assert (watch.shown().code, watch.shown().reason) == (C.STOP_SEE_OFFICER, FailReason.EXPIRED)
    # a step within the leeway: the wall clock 1.5 s back, then time goes on
    watch.on_instruction(
        make_instruction(
            C.PROCEED, 2, ts=clock.now(), expires_at=clock.now() + timedelta(seconds=13)
        ).to_bytes()
    )
    assert watch.shown().code is C.PROCEED
    assert watch.seconds_to_next_change() == pytest.approx(3.0)  # the heartbeat
    clock.wall -= timedelta(seconds=1.5)
    for _ in range(13):
        clock.advance(1.0)
        watch.on_sync_status(online(clock))
    assert (watch.shown().code, watch.shown().reason) == (C.STOP_SEE_OFFICER, FailReason.EXPIRED)


def test_an_instruction_told_ahead_of_this_clock_is_stop(
    watch: LaneWatch, clock: FakeClock
) -> None:
    """The agent's clock an hour ahead when it told the PROCEED (put right since): its
    lifetime by this clock would be an hour and 13 s."""
    ahead = clock.now() + timedelta(hours=1)
    watch.on_instruction(
        make_instruction(
            C.PROCEED, 1, ts=ahead, expires_at=ahead + timedelta(seconds=13)
        ).to_bytes()
    )
    assert watch.shown().reason is FailReason.EXPIRED
    # within the leeway it stands, no longer than its lifetime and the leeway
    soon = clock.now() + timedelta(seconds=watch.max_skew * 0.8)
    watch.on_instruction(
        make_instruction(C.PROCEED, 2, ts=soon, expires_at=soon + timedelta(seconds=13)).to_bytes()
    )
    assert watch.shown().code is C.PROCEED


def test_an_instruction_or_status_without_its_time_is_refused(watch: LaneWatch) -> None:
    """A default ``ts`` made on arrival would stand for what the sender never said: an
    instruction would never be ahead, and an online status with none counted as fresh
    whenever it was read (a retained one revived a display each time: found in review)."""
    body = make_instruction(C.PROCEED, 1).to_dict()
    del body["ts"]
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    _, payload = signed_payload(unsigned, lane_key(site_secret(), "SBC", "L01"))
    with pytest.raises(InstructionRejected) as err:
        watch.on_instruction(payload)
    assert err.value.key == "instruction_unreadable"  # signed right: it fails closed
    assert watch.shown().reason is FailReason.INSTRUCTION_UNREADABLE
    status = json.loads(SyncStatus(state="online", central="up").to_bytes())
    del status["ts"]
    with pytest.raises(BadPayload):
        watch.on_sync_status(json.dumps(status).encode())


def test_expired_on_arrival_is_stop(watch: LaneWatch, clock: FakeClock) -> None:
    watch.on_instruction(
        make_instruction(C.PROCEED, 1, expires_at=clock.now() - timedelta(seconds=1)).to_bytes()
    )
    assert watch.shown().reason is FailReason.EXPIRED


@pytest.mark.parametrize("code", [c for c in InstructionCode if c is not C.READY])
def test_an_instruction_without_a_lifetime_is_stop(watch: LaneWatch, code: InstructionCode) -> None:
    """The lane gives every code but READY an ``expires_at``: a signed one without any
    (a bug, another build) would stand for as long as its controller beats."""
    before = make_instruction(C.PROCEED, 1)
    watch.on_instruction(before.to_bytes())
    watch.on_instruction(make_instruction(code, 2, expires_at=None).to_bytes())
    shown = watch.shown()
    assert (shown.code, shown.reason) == (C.STOP_SEE_OFFICER, FailReason.EXPIRED)
    # it was taken: the PROCEED before it does not come back
    with pytest.raises(InstructionRejected):
        watch.on_instruction(before.to_bytes())
    watch.on_instruction(make_instruction(C.READY, 3).to_bytes())
    assert watch.shown().code is C.READY
    assert watch.shown().reason is None


def test_heartbeat_silence_fails_closed_and_recovers(watch: LaneWatch, clock: FakeClock) -> None:
    watch.on_instruction(make_instruction(C.PROCEED, 1).to_bytes())
    clock.advance(2.9)
    assert watch.shown().code is C.PROCEED
    assert watch.seconds_to_next_change() == pytest.approx(0.1)
    clock.advance(0.2)
    shown = watch.shown()
    assert (shown.code, shown.reason) == (C.STOP_SEE_OFFICER, FailReason.NO_HEARTBEAT)
    assert shown.sync_mark is SyncMark.CONTROLLER_LOST
    watch.on_sync_status(online(clock))
    assert watch.shown().code is C.PROCEED


def test_last_will_fails_closed(watch: LaneWatch) -> None:
    watch.on_instruction(make_instruction(C.PROCEED, 1).to_bytes())
    watch.on_sync_status(SyncStatus(state="offline", central="down").to_bytes())
    shown = watch.shown()
    assert (shown.code, shown.reason) == (C.STOP_SEE_OFFICER, FailReason.CONTROLLER_OFFLINE)


def run_status(clock: FakeClock, instance: str, state: str = "online") -> bytes:
    central = "up" if state == "online" else "down"
    status = SyncStatus(
        state=state,  # type: ignore[arg-type]
        central=central,  # type: ignore[arg-type]
        ts=clock.now(),
        lanes=["L01"],
        instance=instance,
    )
    return status.to_bytes()


@pytest.mark.parametrize("next_run", ["run2", "run1"])
def test_after_the_last_will_the_instruction_must_come_again(
    clock: FakeClock, next_run: str
) -> None:
    """The controller's next heartbeat (a new run's, or the same run back) did not revive
    the PROCEED held from before its last will: that needs the instruction again."""
    w = LaneWatch(lane_key(site_secret(), "SBC", "L01"), clock=clock, lane="L01")
    w.on_connection(True)
    w.on_sync_status(run_status(clock, "run1"))
    proceed = make_instruction(C.PROCEED, 10)
    w.on_instruction(proceed.to_bytes())
    assert w.shown().code is C.PROCEED
    w.on_sync_status(run_status(clock, "run1", "offline"))
    assert w.shown().reason is FailReason.CONTROLLER_OFFLINE
    clock.advance(2)
    w.on_sync_status(run_status(clock, next_run))
    assert (w.shown().code, w.shown().reason) == (C.STOP_SEE_OFFICER, FailReason.NO_INSTRUCTION)
    clock.advance(1)
    w.on_sync_status(run_status(clock, next_run))
    assert w.shown().reason is FailReason.NO_INSTRUCTION
    w.on_instruction(proceed.to_bytes())  # seq 10 again (its retained copy)
    assert w.shown().code is C.PROCEED
    w.on_instruction(make_instruction(C.READY, 11).to_bytes())
    assert w.shown().code is C.READY


def test_another_run_of_the_controller_must_send_the_instruction_again(
    clock: FakeClock,
) -> None:
    """A controller restarted without its last will reaching the display (a lost will, a
    second process): the held instruction is the old run's word, not the new run's."""
    w = LaneWatch(lane_key(site_secret(), "SBC", "L01"), clock=clock, lane="L01")
    w.on_connection(True)
    # a retained instruction read before the first status is that status's run's word
    w.on_instruction(make_instruction(C.PROCEED, 10).to_bytes())
    w.on_sync_status(run_status(clock, "run1"))
    assert w.shown().code is C.PROCEED
    clock.advance(1)
    w.on_sync_status(run_status(clock, "run1"))
    assert w.shown().code is C.PROCEED
    clock.advance(1)
    w.on_sync_status(run_status(clock, "run2"))
    assert (w.shown().code, w.shown().reason) == (C.STOP_SEE_OFFICER, FailReason.NO_INSTRUCTION)
    w.on_instruction(make_instruction(C.READY, 11).to_bytes())
    assert w.shown().code is C.READY
    clock.advance(1)
    w.on_sync_status(run_status(clock, "run2"))
    assert w.shown().code is C.READY


def test_broker_loss_needs_fresh_heartbeat_and_reconfirmation(
    watch: LaneWatch, clock: FakeClock
) -> None:
    proceed = make_instruction(C.PROCEED, 1)
    watch.on_instruction(proceed.to_bytes())
    watch.on_connection(False)
    assert watch.shown().reason is FailReason.BROKER_LOST
    watch.on_connection(True)
    assert watch.shown().reason is FailReason.CONTROLLER_OFFLINE
    watch.on_sync_status(online(clock))
    # the PROCEED held from before the loss is not shown until the lane says it again
    assert watch.shown().reason is FailReason.NO_INSTRUCTION
    watch.on_instruction(proceed.to_bytes())
    assert watch.shown().code is C.PROCEED


def test_central_down_is_offline_mode_not_stop(watch: LaneWatch, clock: FakeClock) -> None:
    watch.on_instruction(make_instruction(C.PROCEED, 1).to_bytes())
    watch.on_sync_status(online(clock, central="down"))
    shown = watch.shown()
    assert shown.code is C.PROCEED
    assert shown.sync_mark is SyncMark.OFFLINE_MODE


def test_bad_heartbeat_changes_nothing(watch: LaneWatch, clock: FakeClock) -> None:
    from rocars.errors import BadPayload

    clock.advance(2.0)
    with pytest.raises(BadPayload):
        watch.on_sync_status(b'{"state": "sleepy"}')
    clock.advance(1.5)
    assert watch.shown().reason is FailReason.NO_HEARTBEAT


def test_old_retained_heartbeat_does_not_count(clock: FakeClock) -> None:
    w = LaneWatch(lane_key(site_secret(), "SBC", "L01"), heartbeat_bound=3.0, clock=clock)
    w.on_connection(True)
    w.on_instruction(make_instruction(C.PROCEED, 1).to_bytes())
    old = SyncStatus(state="online", central="up", ts=clock.now() - timedelta(seconds=30))
    w.on_sync_status(old.to_bytes())
    assert w.shown().reason is FailReason.CONTROLLER_OFFLINE
    assert w.stale_heartbeats == 1
    # a controller whose clock runs far ahead is refused too (the display fails closed)
    ahead = SyncStatus(state="online", central="up", ts=clock.now() + timedelta(seconds=30))
    w.on_sync_status(ahead.to_bytes())
    assert w.shown().code is C.STOP_SEE_OFFICER
    # one that would keep the display on for less than half the bound is refused too
    w.on_sync_status(
        SyncStatus(state="online", central="up", ts=clock.now() - timedelta(seconds=4)).to_bytes()
    )
    assert w.shown().reason is FailReason.CONTROLLER_OFFLINE
    assert w.stale_heartbeats == 3
    # within the skew plus half the bound is fine
    w.on_sync_status(
        SyncStatus(state="online", central="up", ts=clock.now() - timedelta(seconds=3.4)).to_bytes()
    )
    assert w.shown().code is C.PROCEED
    # ... for what is left of its bound once the clocks' leeway (2 s) is granted: sent 3.4 s
    # ago, it counts as 1.4 s old (an agent that hung after it is not trusted for 3 s more)
    assert w.seconds_to_next_change() == pytest.approx(1.6)
    clock.advance(1.7)
    assert w.shown().reason is FailReason.NO_HEARTBEAT
    # one within the leeway counts from when it came (the clocks may differ that much)
    w.on_sync_status(
        SyncStatus(state="online", central="up", ts=clock.now() - timedelta(seconds=1.5)).to_bytes()
    )
    clock.advance(2.9)
    assert w.shown().code is C.PROCEED


@pytest.mark.parametrize(
    ("ahead_s", "steady"),
    [(0.0, C.PROCEED), (3.0, C.PROCEED), (4.0, C.STOP_SEE_OFFICER), (4.6, C.STOP_SEE_OFFICER)],
)
def test_a_display_clock_ahead_never_flashes(
    clock: FakeClock, ahead_s: float, steady: InstructionCode
) -> None:
    """Heartbeats every second, as the agent sends them, to a display whose clock runs
    ``ahead_s`` ahead: what it shows is the same all along, sampled every 0.1 s (it used
    to take a heartbeat 4-5 s old for the second or less left of its bound, and so
    flashed PROCEED and STOP with every heartbeat)."""
    w = LaneWatch(lane_key(site_secret(), "SBC", "L01"), heartbeat_bound=3.0, clock=clock)
    w.on_connection(True)
    w.on_instruction(make_instruction(C.PROCEED, 1).to_bytes())
    seen: set[InstructionCode] = set()
    for tick in range(100):
        if tick % 10 == 0:
            sent = clock.now() - timedelta(seconds=ahead_s)
            w.on_sync_status(SyncStatus(state="online", central="up", ts=sent).to_bytes())
        seen.add(w.shown().code)
        clock.advance(0.1)
    assert seen == {steady}


@pytest.mark.parametrize(
    ("ahead_s", "shown"),
    [(1.9, C.PROCEED), (2.1, C.STOP_SEE_OFFICER), (4.0, C.STOP_SEE_OFFICER)],
)
def test_a_heartbeat_from_ahead_counts_only_within_the_skew(
    clock: FakeClock, ahead_s: float, shown: InstructionCode
) -> None:
    """A display whose clock lags the controller's by more than the skew (2 s) fails
    closed: it took heartbeats up to the skew plus the bound ahead, and kept an
    instruction up past its expiry by as much."""
    w = LaneWatch(lane_key(site_secret(), "SBC", "L01"), heartbeat_bound=3.0, clock=clock)
    w.on_connection(True)
    w.on_instruction(make_instruction(C.PROCEED, 1).to_bytes())
    ahead = SyncStatus(state="online", central="up", ts=clock.now() + timedelta(seconds=ahead_s))
    w.on_sync_status(ahead.to_bytes())
    assert w.shown().code is shown
    assert w.stale_heartbeats == (0 if shown is C.PROCEED else 1)


def test_refused_heartbeats_are_logged_at_a_run_start_not_each(
    watch: LaneWatch, clock: FakeClock
) -> None:
    with said_by("ui_common.lanewatch") as said:
        for _ in range(61):
            old = SyncStatus(state="online", central="up", ts=clock.now() - timedelta(seconds=9))
            watch.on_sync_status(old.to_bytes())
        watch.on_sync_status(online(clock))
        watch.on_sync_status(
            SyncStatus(
                state="online", central="up", ts=clock.now() - timedelta(seconds=9)
            ).to_bytes()
        )
    runs = [m for m in said.messages if "ignored a sync heartbeat" in m]
    assert watch.stale_heartbeats == 62
    assert [m.split("; ")[1] for m in runs] == ["1 in a row)", "61 in a row)", "1 in a row)"]


def test_heartbeats_from_ahead_are_logged_at_a_run_start_not_each(
    watch: LaneWatch, clock: FakeClock
) -> None:
    with said_by("ui_common.lanewatch") as said:
        for _ in range(61):
            ahead = SyncStatus(state="online", central="up", ts=clock.now() + timedelta(seconds=4))
            watch.on_sync_status(ahead.to_bytes())
    runs = [m for m in said.messages if "ignored a sync heartbeat" in m]
    assert watch.stale_heartbeats == 61
    assert [m.split("; ")[1] for m in runs] == ["1 in a row)", "61 in a row)"]
    assert "4.0 s ahead" in runs[0]


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LaneWatch(b"k", heartbeat_bound=0)

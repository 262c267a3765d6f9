"""The replay guard with hand-made times: replayed bursts, steady reads, clock steps."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from avrs_adapter.errors import AvrsError
from avrs_adapter.replay import LagFile, ReplayGuard, device_datetime, time_resolution
from rocars import files
from tests.avrs_adapter.conftest import replay_warnings
from tests.fixtures.logs import Said

#: the adapter's naive local time at monotonic 100.0
START = datetime(2026, 12, 7, 9, 30, 0)
#: the device's clock: on UTC and 3 s slow (both part of its learned lag)
DEVICE_BEHIND = timedelta(hours=8, seconds=3)


class Device:
    """Reads of one device, received at monotonic ``at``: fed to a guard."""

    def __init__(self, guard: ReplayGuard) -> None:
        self.guard = guard
        self.at = 100.0
        self.step = timedelta(0)  # how far its clock was stepped

    def wall(self) -> datetime:
        return START + timedelta(seconds=self.at - 100.0)

    def live(self, vrn: str = "AB1234") -> bool:
        """A read taken now, its time in the device's compact form."""
        seen = self.wall() - DEVICE_BEHIND + self.step
        return self.guard.check(seen.strftime("%Y%m%d%H%M%S"), self.at, self.wall(), vrn)

    def kept(self, age: float, vrn: str = "CD5678") -> bool:
        """A read taken ``age`` seconds ago, sent only now."""
        seen = self.wall() - DEVICE_BEHIND + self.step - timedelta(seconds=age)
        return self.guard.check(seen.strftime("%Y%m%d%H%M%S"), self.at, self.wall(), vrn)


def test_device_time_forms() -> None:
    assert device_datetime("20261207093015") == datetime(2026, 12, 7, 9, 30, 15)
    assert device_datetime("2026-12-07T09:30:15") == datetime(2026, 12, 7, 9, 30, 15)
    assert device_datetime("2026-12-07T09:30:15.5") == datetime(2026, 12, 7, 9, 30, 15, 500_000)
    aware = datetime(2026, 12, 7, 1, 30, 15, tzinfo=UTC)
    local = aware.astimezone().replace(tzinfo=None)
    assert device_datetime("2026-12-07T01:30:15Z") == local
    assert device_datetime("") is None
    assert device_datetime("0001-01-01T00:00:00+01:00") is None


def test_a_replayed_burst_is_dropped_counted_and_logged_sparingly(said: Said) -> None:
    device = Device(ReplayGuard())
    for _ in range(5):  # steady reads, one a minute
        assert device.live()
        device.at += 60.0
    assert device.guard.baseline == pytest.approx(8 * 3600 + 3)
    # the link comes back: 250 reads kept for the last 25 minutes, a few ms apart
    for i in range(250):
        assert not device.kept(1500.0 - 6.0 * i)
        device.at += 0.004
    assert device.guard.stats.replayed == 250
    assert device.guard.stats.rebaselines == 0
    # the first of the run, then the 100th and 200th: never a line per read
    assert len(replay_warnings(said)) == 3
    device.at += 1.0
    assert device.live()
    assert device.kept(4.0)  # a read a few seconds old is within the bound
    assert device.guard.stats.replayed == 250


def test_steady_reads_of_a_drifting_clock_are_all_taken() -> None:
    """A device clock losing time (much faster than any does): the baseline follows
    it, as the smallest lag of the recent reads only."""
    device = Device(ReplayGuard())
    for i in range(100):
        device.step = -timedelta(seconds=0.1 * i)  # 10 s lost over the run: over the bound
        assert device.live()
        device.at += 37.0
    assert device.guard.stats.replayed == 0


def test_a_clock_stepped_back_is_rebaselined_after_spaced_reads(said: Said) -> None:
    device = Device(ReplayGuard())
    for _ in range(3):
        assert device.live()
        device.at += 30.0
    device.step = -timedelta(hours=1)  # NTP puts the device's clock right
    for _ in range(3):  # trucks 20 s apart: three spaced reads, but not yet a minute
        assert not device.live("EF9012")  # each truck read twice, 50 ms apart
        device.at += 0.05
        assert not device.live("EF9012")  # not evidence: too close to the one before
        assert device.guard.stats.rebaselines == 0
        device.at += 20.0
    assert not device.live("EF9012")  # a minute after the first, its lag the same
    assert device.guard.stats.rebaselines == 1
    assert device.guard.baseline == pytest.approx(8 * 3600 + 3 + 3600)
    device.at += 0.05
    assert device.live("EF9012")  # the next read is published
    assert device.guard.stats.replayed == 7
    assert any("clock was stepped" in m for m in said.messages)
    # and a replay is still told from the new baseline
    device.at += 30.0
    assert not device.kept(600.0)


def test_a_clock_stepped_back_with_trucks_40_s_apart() -> None:
    device = Device(ReplayGuard())
    assert device.live()
    device.at += 40.0
    device.step = -timedelta(minutes=20)
    assert not device.live("EF9012")
    device.at += 40.0
    assert not device.live("EF9013")
    assert device.guard.stats.rebaselines == 0
    device.at += 40.0
    assert not device.live("EF9014")  # the third, 80 s after the first
    assert device.guard.stats.rebaselines == 1
    for _ in range(3):
        device.at += 40.0
        assert device.live("GH3456")
    assert device.guard.stats.replayed == 3


def test_a_slowly_paced_replay_is_not_a_clock_step() -> None:
    """The buffer sent a line every 1.2 s: one truck read once a second for 4 s, then two
    more trucks. The first truck's reads are spaced and their lags agree, but they come
    within seconds, and the next truck's lag differs by the minutes between them."""
    device = Device(ReplayGuard())
    for _ in range(5):  # live reads at 0-240 s
        assert device.live()
        device.at += 60.0
    device.at = 1000.0  # the link was down from 300 s to 900 s
    for taken in (320.0, 321.0, 322.0, 323.0, 500.0, 800.0):
        assert not device.kept(device.at - 100.0 - taken)
        device.at += 1.2
    assert (device.guard.stats.replayed, device.guard.stats.rebaselines) == (6, 0)
    assert device.guard.baseline == pytest.approx(8 * 3600 + 3)
    device.at += 5.0
    assert device.live()


def test_a_burst_whose_lags_agree_is_not_a_clock_step() -> None:
    """Reads kept for the same minute, sent ms apart: their lags agree, but they are a
    burst, not the steady reads of a stepped clock."""
    device = Device(ReplayGuard())
    assert device.live()
    device.at += 60.0
    for _ in range(50):
        assert not device.kept(600.0)
        device.at += 0.01
    assert device.guard.stats.rebaselines == 0
    assert device.live()


def test_spaced_replayed_reads_that_disagree_are_not_a_clock_step() -> None:
    device = Device(ReplayGuard())
    assert device.live()
    for i in range(6):  # a slow replay: spaced, but each read kept for another time
        device.at += 1.5
        assert not device.kept(600.0 - 30.0 * i)
    assert device.guard.stats.rebaselines == 0


def test_a_clock_stepped_forward_lowers_the_baseline_at_its_second_read() -> None:
    device = Device(ReplayGuard())
    assert device.live()
    device.at += 30.0
    device.step = timedelta(minutes=10)
    assert device.live()
    assert device.guard.baseline == pytest.approx(8 * 3600 + 3)  # one read: not yet
    device.at += 30.0
    assert device.live()
    assert device.guard.baseline == pytest.approx(8 * 3600 + 3 - 600)
    device.at += 30.0
    assert not device.kept(60.0)


def test_one_read_dated_ahead_does_not_drop_the_next_trucks() -> None:
    """A read whose device time is 10 h ahead (one corrupted digit of the hour, a clock
    glitch) was taken as the baseline: the next trucks' reads looked replayed and were
    dropped until a re-baseline (review, 2026-12-08). It is published, and the usual lag
    kept: the next reads are live."""
    device = Device(ReplayGuard())
    assert device.live()
    device.at += 30.0
    device.step = timedelta(hours=10)
    assert device.live("ZZ99")
    device.step = timedelta(0)
    for vrn in ("CD5678", "EF9012", "GH3456"):
        device.at += 30.0
        assert device.live(vrn)
    assert (device.guard.stats.replayed, device.guard.baseline) == (0, 8 * 3600 + 3)
    assert not device.kept(60.0)  # and a replay is still told


def test_a_read_without_a_device_time_is_taken() -> None:
    guard = ReplayGuard()
    assert guard.check("", 100.0, START, "AB1234")
    assert guard.baseline is None
    assert guard.check("20261207093000", 100.0, START, "AB1234")
    assert guard.check("", 100.0, START + timedelta(hours=1), "AB1234")
    assert guard.stats.replayed == 0


@pytest.mark.parametrize(
    ("text", "resolution"),
    [
        ("20261207093015", 1.0),
        ("2026-12-07T09:30:15", 1.0),
        ("2026-12-07 09:30:15.5+08:00", 1.0),
        ("20261207T093015Z", 1.0),
        ("2026-12-07T09:30", 60.0),
        ("2026-12-07 09:30", 60.0),
        ("2026-W49-1T0930+0800", 60.0),
        ("20261207T1012", 60.0),
        ("2026-12-07", None),
        ("20261207", None),
        ("2026-12-07T09", None),
        ("", None),
    ],
)
def test_time_resolution(text: str, resolution: float | None) -> None:
    assert time_resolution(text) == resolution


@pytest.mark.parametrize("form", ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y%m%dT%H%M"])
def test_a_device_time_in_whole_minutes(form: str) -> None:
    """Its lag varies by up to a minute: the bound is a minute more for it."""
    guard = ReplayGuard()
    at = 100.0

    def read(age: float = 0.0) -> bool:
        wall = START + timedelta(seconds=at - 100.0)
        seen = wall - DEVICE_BEHIND - timedelta(seconds=age)
        return guard.check(seen.strftime(form), at, wall, "AB1234")

    for i in range(60):  # live reads 20-60 s apart
        assert read()
        at += 20.0 + (i * 17) % 41
    assert guard.stats.replayed == 0
    assert not read(600.0)  # a read 10 minutes old
    assert guard.stats.replayed == 1
    # a clock stepped back an hour: trucks 40 s apart, lags a minute apart at most
    for _ in range(3):
        at += 40.0
        assert not read(3600.0)
    assert guard.stats.rebaselines == 1
    at += 40.0
    assert read(3600.0)


def test_a_device_time_without_a_time_of_day_is_never_dropped(said: Said) -> None:
    guard = ReplayGuard(expected_lag=0.0)
    for i in range(20):
        wall = START + timedelta(minutes=37 * i)
        for days in (0, 3):
            assert guard.check(f"{wall - timedelta(days=days):%Y-%m-%d}", 100.0, wall, "AB1234")
    assert (guard.stats.replayed, guard.baseline) == (0, 0.0)
    told = [r for r in said.records if "not checked for replays" in r.getMessage()]
    assert [r.levelno for r in told] == [logging.INFO]  # once per guard


def test_a_slow_clock_on_a_quiet_lane_is_followed() -> None:
    """Two trucks an hour, the device losing 100 ppm (0.18 s between trucks): the
    baseline is of the last hour's reads, not of the last 32 (16 hours)."""
    device = Device(ReplayGuard())
    for i in range(60):
        device.step = -timedelta(seconds=0.18 * i)
        assert device.live()
        if i == 30:
            device.at += 60.0
            assert not device.kept(300.0)  # a replay 5 minutes late
        device.at += 1800.0
    assert device.guard.stats.replayed == 1
    device.at += 3 * 3600.0  # a quiet night: the newest read is still the baseline
    assert not device.kept(300.0)


def test_a_drifting_clock_after_a_night_without_trucks() -> None:
    """A device clock losing 100 ppm, a lane closed for 16 hours: the morning's first
    truck is 5.8 s later on the device's clock than the evening's last and is published;
    a replay after the night is still dropped (its lag is over the allowance by far)."""
    device = Device(ReplayGuard())
    for _ in range(5):
        assert device.live()
        device.at += 60.0
    night = 16 * 3600.0
    device.at += night
    device.step = -timedelta(seconds=night * 1e-4)
    assert device.kept(60.0) is False  # the buffer of a link down at dawn
    assert device.live()  # the first truck of the morning
    assert device.guard.stats.replayed == 1
    assert device.guard.baseline == pytest.approx(8 * 3600 + 3 + 5.76, abs=1.0)


def test_the_first_read_sets_the_baseline() -> None:
    """The documented limit: a replay at the first connect after the adapter starts is
    taken (its reads only raise no later read's bar: the next two live reads lower it,
    one alone may be a corrupted time)."""
    device = Device(ReplayGuard())
    assert device.kept(600.0)
    device.at += 10.0
    assert device.live()
    device.at += 10.0
    assert device.live()
    assert device.guard.baseline == pytest.approx(8 * 3600 + 3)


def test_a_known_device_lag_tells_a_replay_at_the_first_connect() -> None:
    device = Device(ReplayGuard(expected_lag=DEVICE_BEHIND.total_seconds()))
    assert not device.kept(600.0)
    assert device.live()
    assert device.guard.stats.replayed == 1


def test_a_wrong_known_lag_is_put_right_by_the_clock_step_rule() -> None:
    """Said to be NTP-synced to local time, the device is on UTC: its first spaced reads
    are dropped, as for a clock stepped back, then its reads are taken."""
    device = Device(ReplayGuard(expected_lag=0.0))
    for _ in range(3):
        assert not device.live()
        device.at += 30.0
    assert device.live()
    assert device.guard.baseline == pytest.approx(8 * 3600 + 3)


def test_a_saved_lag_allows_for_the_drift_since_it_was_saved() -> None:
    """The adapter restarted in the morning with last evening's lag (saved 12 h ago) from
    a device losing 100 ppm: the first truck, 5.8 s later than the lag (over the bound
    alone), is published; with the lag saved just now it is not; a replay is dropped."""
    drifted = 12 * 3600.0 * 1e-4 + 1.0  # and up to a second of the device's rounding
    for age, taken in ((12 * 3600.0, True), (0.0, False)):
        guard = ReplayGuard(expected_lag=LAG, expected_at=100.0 - age, bound=5.0)
        device = Device(guard)
        device.step = -timedelta(seconds=drifted + 0.5)  # 5.8 s: over the bound alone
        assert device.live() is taken
    device = Device(ReplayGuard(expected_lag=LAG, expected_at=100.0 - 12 * 3600.0))
    assert not device.kept(60.0)


def test_bad_settings() -> None:
    with pytest.raises(AvrsError):
        ReplayGuard(bound=0.5)
    with pytest.raises(AvrsError):
        ReplayGuard(rebaseline_reads=1)
    with pytest.raises(AvrsError):
        ReplayGuard(expected_lag=-3 * 86400.0)
    with pytest.raises(AvrsError):
        ReplayGuard(step_span=-1.0)
    with pytest.raises(AvrsError):
        ReplayGuard(history_s=10.0)
    with pytest.raises(AvrsError):
        ReplayGuard(max_drift=0.01)


# -- the lag kept across restarts (LagFile) --------------------------------------------------

#: the adapter's time at monotonic 100.0, as the lag file is given it
NOW = START.astimezone(UTC)
LAG = DEVICE_BEHIND.total_seconds()


def lag_file_warnings(said: Said) -> list[str]:
    return [
        r.getMessage()
        for r in said.records
        if r.levelno == logging.WARNING and "device lag" in r.getMessage()
    ]


def write_lag(path: Path, lag: object = LAG, saved_at: object = None) -> None:
    stamp = (NOW - timedelta(hours=1)).isoformat() if saved_at is None else saved_at
    path.write_text(json.dumps({"v": 1, "device_lag": lag, "saved_at": stamp}))


def test_a_saved_lag_is_the_first_baseline(tmp_path: Path, said: Said) -> None:
    path = tmp_path / "replay-lpr0.json"
    write_lag(path, saved_at=(NOW - timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    lag_file = LagFile(path)
    lag = lag_file.load(NOW)
    assert lag == LAG
    assert lag_file.saved_age == 6 * 86400.0
    device = Device(ReplayGuard(expected_lag=lag))
    assert not device.kept(600.0)  # the buffer replayed at the first connect: dropped
    assert device.live()
    assert lag_file_warnings(said) == []


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no file yet"),
        (b"", "not JSON"),
        (b'{"v": 1, "device_lag": 288', "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"x" * 5000, "over 4096 bytes"),
        (b"[28803.0]", "not a version 1"),
        (b'{"v": 2, "device_lag": 28803.0, "saved_at": "2026-12-07T00:30:00Z"}', "version 1"),
        (b'{"v": 1, "device_lag": "28803", "saved_at": "2026-12-07T00:30:00Z"}', "not a number"),
        (b'{"v": 1, "device_lag": true, "saved_at": "2026-12-07T00:30:00Z"}', "not a number"),
        (b'{"v": 1, "device_lag": NaN, "saved_at": "2026-12-07T00:30:00Z"}', "not within"),
        (b'{"v": 1, "device_lag": 1e300, "saved_at": "2026-12-07T00:30:00Z"}', "not within"),
        (b'{"v": 1, "device_lag": 28803.0}', "not an RFC 3339"),
        (b'{"v": 1, "device_lag": 28803.0, "saved_at": "yesterday"}', "not an RFC 3339"),
        (b'{"v": 1, "device_lag": 28803.0, "saved_at": "2026-12-07T00:30:00"}', "not an RFC"),
        ("old", "8 days ago"),
        ("future", "in the future"),
        ("folder", "unreadable"),
    ],
)
def test_a_lag_file_that_cannot_be_used_is_ignored_with_a_warning(
    tmp_path: Path, said: Said, content: bytes | str | None, why: str
) -> None:
    path = tmp_path / "replay-lpr0.json"
    if content == "old":
        write_lag(path, saved_at=(NOW - timedelta(days=8)).isoformat())
    elif content == "future":
        write_lag(path, saved_at=(NOW + timedelta(hours=1)).isoformat())
    elif content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    lag_file = LagFile(path)
    assert lag_file.load(NOW) is None
    (warning,) = lag_file_warnings(said)
    assert why in warning
    assert "the first read sets the baseline" in warning
    # reads are taken as without a file: the first one sets the baseline
    device = Device(ReplayGuard(expected_lag=None))
    assert device.kept(600.0)


def test_the_lag_is_saved_atomically_and_at_most_once_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "replay-lpr0.json"
    write_lag(path, lag=100.0)
    calls: list[str] = []
    fsync, rename = os.fsync, os.replace

    def synced(fd: int) -> None:
        calls.append("fsync")
        fsync(fd)

    def renamed(src: str, dst: Path) -> None:
        assert Path(src).parent == path.parent  # the same filesystem: a rename is atomic
        assert json.loads(Path(src).read_text())["v"] == 1  # whole before it is renamed
        calls.append("replace")
        rename(src, dst)

    monkeypatch.setattr(files.os, "fsync", synced)
    monkeypatch.setattr(files.os, "replace", renamed)
    lag_file = LagFile(path)
    assert lag_file.load(NOW) == 100.0

    def offer(lag: float, at: float, *, confirmed: bool = True, final: bool = False) -> float:
        now = NOW + timedelta(seconds=at - 100.0)
        lag_file.offer(lag, at=at, now=now, confirmed=confirmed, final=final)
        return float(json.loads(path.read_text())["device_lag"])

    assert offer(LAG, 100.0) == LAG  # moved from the saved lag: saved at once
    assert calls[:2] == ["fsync", "replace"]  # the data synced before the rename
    stamp = json.loads(path.read_text())["saved_at"]
    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp) == NOW
    assert offer(LAG - 2.0, 130.0) == LAG  # moved, but 30 s after the last save
    assert offer(LAG - 2.0, 161.0) == LAG - 2.0  # a minute on
    assert offer(LAG - 2.3, 400.0) == LAG - 2.0  # moved by less than 0.5 s: not saved
    assert lag_file.saves == 2
    # borne out by reads, unchanged: saved again every ten minutes, so its age (and the
    # drift allowed for it at the next start) stays small
    assert offer(LAG - 2.3, 161.0 + 590.0) == LAG - 2.0
    assert offer(LAG - 2.3, 161.0 + 600.0) == LAG - 2.3
    # the source ends: saved at once, if a read bore it out since
    assert offer(LAG - 2.4, 161.0 + 610.0, final=True) == LAG - 2.4
    assert lag_file.saves == 4
    offer(LAG - 2.4, 161.0 + 620.0, confirmed=False, final=True)
    assert lag_file.saves == 4  # nothing new to say
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_a_failed_save_is_logged_once_and_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, said: Said
) -> None:
    path = tmp_path / "replay-lpr0.json"
    write_lag(path, lag=100.0)
    before = path.read_bytes()
    rename = os.replace

    def disk_full(src: str, dst: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", disk_full)
    lag_file = LagFile(path)
    for at in (100.0, 130.0, 170.0, 240.0):
        lag_file.offer(LAG, at=at, now=NOW, confirmed=True)  # never raised
    assert path.read_bytes() == before  # the old file whole
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # its temp file removed
    assert len(lag_file_warnings(said)) == 1
    assert "No space left" in lag_file_warnings(said)[0]
    monkeypatch.setattr(files.os, "replace", rename)
    lag_file.offer(LAG, at=250.0, now=NOW, confirmed=True)
    assert lag_file.saves == 0  # within a minute of the last try
    lag_file.offer(LAG, at=301.0, now=NOW, confirmed=True)
    assert json.loads(path.read_text())["device_lag"] == LAG
    assert len(lag_file_warnings(said)) == 1

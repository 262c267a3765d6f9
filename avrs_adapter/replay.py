"""Replayed reads: reads an LPR device stored while its link was down, sent late.

Many LPR devices keep their reads while their output link is down and send the buffer
when it is back (a serial or ``socket://`` reconnect). Those reads arrive in a burst,
seconds or minutes after the truck was there; published as fresh, a read of a truck
long gone could open a lane session while another truck stands at the booth.

A read that carries the device's time of the read has a *lag*: the adapter's time when
its line came in minus that device time, as plain numbers (the zone difference and the
device's clock skew are part of it). A device's normal lag is stable; a replayed read's
is larger by how long it was kept. The baseline is the smallest lag of the reads taken
within the last ``history_s`` seconds, at most ``history`` of them and always the newest
(a replayed read can only be later, never earlier; a short window follows a drifting
clock on a quiet lane too); a read whose lag is over the baseline by more than ``bound``
seconds is replayed: not published. The bound grows by ``max_drift`` (200 ppm) of the
time since the last read taken: over a long quiet gap (a lane closed for the night) a
device clock without NTP drifts, and at 100 ppm 14 hours is 5 s; a replay is still told,
as its reads are kept for a time of which the allowance is only a small part. A device
time in whole minutes (``…T09:30``) makes
a lag up to 60 s larger: for its reads the bound is 60 s more (a replay is told once it
is over a minute late). A date only (or an hour) is too coarse: such a read is taken as
one without a device time, never dropped.

A device clock stepped back (an NTP correction) would make every later read look
replayed. ``rebaseline_reads`` such reads in a row, each ``spacing`` seconds or more after
the one before (a replayed buffer comes as a burst, ms apart; a stepped clock gives
steady reads), whose lags agree within ``agree`` seconds (60 s more for times in whole
minutes) and which arrived over at least ``step_span`` seconds: the device's clock was
stepped, the baseline is theirs (those reads stay dropped, the next are published). The
span tells a slowly paced replay (a line a second or so) from a step: within a minute
the buffer passes from one truck's reads to the next's, whose lag differs by the time
between the trucks. A replay paced exactly as its reads were taken, of reads of one
truck over a minute or more, still looks like a step. A clock stepped forward lowers the
baseline at its second read (both published): one read alone ahead of the usual lag (a
corrupted time) does not, or the next trucks' reads looked replayed. Before any read the first one sets the baseline: a replay at the first
connect after the adapter starts cannot be told, unless the device's lag is known
beforehand (``expected_lag``: 0 for a device whose clock is NTP-synced to this machine's
local time), which is then the first baseline.

``LagFile`` keeps the baseline across restarts of the adapter: saved (atomically, when it
moved by over ``SAVE_CHANGE`` s, at most every ``SAVE_EVERY`` s, and when the source ends)
and read back at start as the first baseline, unless it is unusable or over ``MAX_AGE``
old. A wrong saved lag is put right as a wrong ``expected_lag`` is. The time since the
lag was saved counts for the drift allowance (``expected_at``).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from avrs_adapter.errors import AvrsError
from rocars.files import write_atomically
from rocars.timeutil import parse_rfc3339, to_rfc3339

logger = logging.getLogger(__name__)

_COMPACT_TIME = re.compile(r"^\d{14}$")
#: the date of an ISO 8601 time: 2026-12-07, 20261207, 2026-W49-1, 2026W491, 2026-W49
_ISO_DATE = re.compile(r"\d{4}(?:-\d\d-\d\d|\d{4}|-W\d\d(?:-\d)?|W\d\d\d?)")
_CLOCK_DIGITS = re.compile(r"[\d:]*")

#: the first replayed read of a run is logged, then every this many
LOG_EVERY = 100

#: the largest device lag taken as known (a clock a whole day off, besides its zone), s
MAX_DEVICE_LAG = 172_800.0
#: a saved lag is saved again when the baseline moved by more than this, s
SAVE_CHANGE = 0.5
#: at most one save of the lag in this many s (and one at the source's end)
SAVE_EVERY = 60.0
#: a lag unchanged but borne out by reads is saved again this often: its age stays small.
#: At start the drift allowance runs from the save (MAX_DRIFT of its age): saved once a
#: day, a crash 23 h on gave a read the device kept 18 s a pass as fresh (found in
#: review); ten minutes add at most 0.12 s
REFRESH_EVERY = 600.0
#: a saved lag older than this is not used: the device may have been reset or replaced
MAX_AGE = timedelta(days=7)
#: a lag file is a line of JSON; anything larger is not one
_MAX_FILE = 4096
#: the most a device's clock is taken to drift from this machine's, s a s (200 ppm:
#: 17 s a day; quartz clocks are within 20-100 ppm)
MAX_DRIFT = 2e-4


@dataclass(slots=True)
class ReplayStats:
    replayed: int = 0  # reads with a device time too late for the device's lag: dropped
    rebaselines: int = 0  # the device's clock was stepped back: a new baseline

    def as_dict(self) -> dict[str, int]:
        return {"replayed": self.replayed, "replay_rebaselines": self.rebaselines}


@dataclass(slots=True)
class _StepRun:
    """Spaced replayed reads in a row whose lags agree: a clock stepped back, if they
    keep coming long enough. Its extremes, not a list: its size is bounded."""

    first: float  # received, monotonic s
    last: float
    reads: int
    low: float  # the smallest and largest of their lags, s
    high: float


def device_datetime(text: str) -> datetime | None:
    """The device time of a read as a naive local time; None when there is none.

    A time with an offset (ISO 8601 ``…+08:00`` or ``Z``) is taken to this machine's zone.
    """
    text = text.strip()
    try:
        if _COMPACT_TIME.match(text):
            return datetime.strptime(text, "%Y%m%d%H%M%S")
        if not text:
            return None
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.tzinfo is not None:
            value = value.astimezone().replace(tzinfo=None)
    except (ValueError, OverflowError):  # year 1 with an offset: no local time
        return None
    return value


def time_resolution(text: str) -> float | None:
    """The seconds one step of a device time stands for: 1 with seconds, 60 without
    (``2026-12-07 09:30``); None for a date only or an hour: too coarse to tell a replay.
    """
    text = text.strip()
    if _COMPACT_TIME.match(text):
        return 1.0
    day = _ISO_DATE.match(text)
    clock = text[day.end() + 1 :] if day else ""  # after one separator, T or another
    try:
        time.fromisoformat(clock)
    except ValueError:
        return None  # a date only (or no time at all)
    match = _CLOCK_DIGITS.match(clock)  # hh, hhmm or hhmmss before a fraction or zone
    digits = len(match.group().replace(":", "")) if match else 0
    return {6: 1.0, 4: 60.0}.get(digits)


class ReplayGuard:
    """Tells replayed reads of one device (module doc). Not thread-safe: one caller;
    ``stats`` and ``baseline`` may be read from another thread."""

    def __init__(
        self,
        *,
        bound: float = 5.0,
        rebaseline_reads: int = 3,
        spacing: float = 1.0,
        agree: float = 2.0,
        step_span: float = 60.0,
        history: int = 32,
        history_s: float = 3600.0,
        expected_lag: float | None = None,
        expected_at: float | None = None,
        max_drift: float = MAX_DRIFT,
        device: str = "lpr0",
    ) -> None:
        if (
            not 1.0 <= bound <= 3600.0
            or not 2 <= rebaseline_reads <= 100
            or not 0.0 <= step_span <= 3600.0
            or not 60.0 <= history_s <= 86_400.0
            or not (expected_lag is None or abs(expected_lag) <= MAX_DEVICE_LAG)
            or not 0.0 <= max_drift <= 1e-3
        ):
            raise AvrsError(
                f"replay bound must be 1-3600 s, re-baseline reads 2-100 over 0-3600 s, the "
                f"history 60-86400 s, the expected device lag within 2 days and the drift "
                f"0-0.001, got {bound!r}, {rebaseline_reads!r}, {step_span!r}, "
                f"{history_s!r}, {expected_lag!r} and {max_drift!r}",
                key="avrs_bad_replay_guard",
            )
        self.bound = bound
        self.rebaseline_reads = rebaseline_reads
        self.spacing = spacing
        self.agree = agree
        self.step_span = step_span
        self.history_s = history_s
        self.max_drift = max_drift
        self.device = device
        self.stats = ReplayStats()
        #: the device's normal lag, s (the smallest of ``_lags``); None before any read
        self.baseline: float | None = None
        #: reads taken with a device time (each bears the baseline out)
        self.taken = 0
        #: (received, lag) of the reads taken, the oldest dropped after ``history_s``
        self._lags: deque[tuple[float, float]] = deque(maxlen=history)
        #: when the baseline was last borne out (monotonic s; None: at the next read):
        #: the drift allowance grows from it
        self._borne_at = expected_at
        if expected_lag is not None:
            self._lags.append((float("-inf"), expected_lag))  # until the first read taken
            self.baseline = expected_lag
        self._steps: _StepRun | None = None
        #: the lag of a read well ahead of the baseline, not taken yet (``_ahead_of_baseline``)
        self._ahead: float | None = None
        self._run = 0  # replayed reads since the last read taken
        self._coarse_told = False  # a device time too coarse was logged

    def check(self, device_time: str, received: float, received_wall: datetime, vrn: str) -> bool:
        """True: publish the read. False: it is replayed (counted, logged sparingly).

        ``received``: monotonic time its line came in; ``received_wall``: the adapter's
        naive local time then."""
        seen = device_datetime(device_time)
        if seen is None:
            return True
        resolution = time_resolution(device_time)
        if resolution is None:
            if not self._coarse_told:
                self._coarse_told = True
                logger.info(
                    "%s: device time %r has no minutes: its reads are not checked for replays",
                    self.device,
                    device_time,
                )
            return True
        # a time in whole seconds is within the bound's margin; one in whole minutes is
        # up to a minute early, so its lag up to a minute larger
        slack = 0.0 if resolution <= 1.0 else resolution
        lag = (received_wall - seen).total_seconds()
        if self._borne_at is None:
            self._borne_at = received
        drift = self.max_drift * max(0.0, received - self._borne_at)
        if self.baseline is not None and lag < self.baseline - self.bound - slack - drift:
            self._ahead_of_baseline(received, lag, slack)
            return True
        if self.baseline is None or lag <= self.baseline + self.bound + slack + drift:
            self._take(received, lag)
            return True
        self.stats.replayed += 1
        self._run += 1
        if self._run == 1:
            logger.warning(
                "%s: read %r of %s came %.1f s after the device's usual lag (%.1f s): a "
                "replayed read (kept while the link was down), not published",
                self.device,
                vrn,
                device_time,
                lag - self.baseline,
                self.baseline,
            )
        elif self._run % LOG_EVERY == 0:
            logger.warning("%s: %d replayed reads in a row not published", self.device, self._run)
        self._maybe_stepped(received, lag, slack)
        return False

    def _ahead_of_baseline(self, received: float, lag: float, slack: float) -> None:
        """A read whose lag is well under the baseline: never a replay (published), but
        alone it does not lower the baseline. One corrupted device time (a digit of the
        hour) or a clock that jumped ahead for a read made the next trucks' reads look
        replayed, dropped until a re-baseline (review, 2026-12-08). A second read that
        agrees (a clock stepped forward) lowers it; a read at the usual lag forgets it."""
        ahead = self._ahead
        if ahead is not None and abs(lag - ahead) <= self.agree + slack:
            self._take(received, lag)
            return
        if ahead is None:
            logger.warning(
                "%s: a read %.1f s ahead of the device's usual lag (%.1f s): published; "
                "the usual lag is kept until another read agrees",
                self.device,
                (self.baseline or 0.0) - lag,
                self.baseline or 0.0,
            )
        self._ahead = lag
        self._run = 0
        self._steps = None

    def _take(self, received: float, lag: float) -> None:
        self._ahead = None
        if self._run:
            logger.info("%s: reads live again after %d replayed ones", self.device, self._run)
        self._run = 0
        self._steps = None
        self._borne_at = received
        self.taken += 1
        lags = self._lags
        lags.append((received, lag))
        while received - lags[0][0] > self.history_s:  # never the newest
            lags.popleft()
        self.baseline = min(other for _, other in lags)

    def _maybe_stepped(self, received: float, lag: float, slack: float) -> None:
        """A clock stepped back gives steady, spaced reads with the same new lag."""
        run = self._steps
        if run is not None and received - run.last < self.spacing:
            return  # a burst, or the same truck read again: not evidence of a step
        agree = self.agree + slack
        if run is None or lag - run.low > agree or run.high - lag > agree:
            self._steps = _StepRun(received, received, 1, lag, lag)
            return
        run.last = received
        run.reads += 1
        run.low = min(run.low, lag)
        run.high = max(run.high, lag)
        if run.reads < self.rebaseline_reads or received - run.first < self.step_span:
            return
        old = self.baseline
        self._lags.clear()
        self._lags.append((received, run.low))
        self.baseline = run.low
        self._borne_at = received
        self.stats.rebaselines += 1
        self._run = 0
        self._steps = None
        logger.warning(
            "%s: %d spaced reads over %.0f s with a lag of %.1f s (was %.1f s): the "
            "device's clock was stepped; taking its reads again",
            self.device,
            run.reads,
            received - run.first,
            run.low,
            old,
        )


def _saved_lag(path: Path, now: datetime) -> tuple[float, float] | str:
    """The lag saved in ``path`` and its age (s), or why it cannot be used."""
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_FILE + 1)
    except FileNotFoundError:
        return "no file yet"
    except OSError as err:
        return f"unreadable: {err}"
    if len(data) > _MAX_FILE:
        return f"over {_MAX_FILE} bytes"
    try:
        saved = json.loads(data.decode("utf-8"))
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError too
        return f"not JSON: {err}"
    if not isinstance(saved, dict) or saved.get("v") != 1:
        return "not a version 1 lag file"
    lag = saved.get("device_lag")
    if isinstance(lag, bool) or not isinstance(lag, int | float):
        return f"device_lag {lag!r} is not a number"
    if not math.isfinite(lag) or abs(lag) > MAX_DEVICE_LAG:
        return f"device_lag {lag!r} is not within {MAX_DEVICE_LAG:.0f} s"
    try:
        saved_at = parse_rfc3339(str(saved.get("saved_at")))
    except ValueError:  # not a time, or one without an offset
        return f"saved_at {saved.get('saved_at')!r} is not an RFC 3339 time"
    if saved_at > now:
        return f"saved_at {saved_at.isoformat()} is in the future"
    if now - saved_at > MAX_AGE:
        return f"saved {(now - saved_at).days} days ago, over {MAX_AGE.days}"
    return float(lag), (now - saved_at).total_seconds()


class LagFile:
    """A device's learnt lag kept in a file across restarts of the adapter (module doc).

    Nothing here raises: a file that cannot be used is ignored, a save that fails is
    logged once and tried again later. ``at``: monotonic s; ``now``: an aware time."""

    def __init__(self, path: Path, device: str = "lpr0") -> None:
        self.path = path
        self.device = device
        #: the lag last saved (or read at start); None before either
        self.saved: float | None = None
        #: how long before ``load`` the lag it read was saved, s (the guard's drift
        #: allowance counts from then)
        self.saved_age = 0.0
        self.saves = 0
        self._tried_at: float | None = None  # the last save, done or failed
        self._saved_at: float | None = None  # the last save done
        self._confirmed = False  # a read bore the lag out since the last save
        self._failing = False

    def load(self, now: datetime) -> float | None:
        """The saved lag, to be the guard's first baseline; None (one WARNING) if unusable."""
        found = _saved_lag(self.path, now)
        if isinstance(found, str):
            logger.warning(
                "%s: saved device lag %s not used (%s): the first read sets the baseline",
                self.device,
                self.path,
                found,
            )
            return None
        lag, self.saved_age = found
        self.saved = lag
        logger.info("%s: device lag %.1f s, saved in %s", self.device, lag, self.path)
        return lag

    def offer(
        self, lag: float, *, at: float, now: datetime, confirmed: bool, final: bool = False
    ) -> None:
        """The guard's baseline now: saved if it is due. ``confirmed``: a read was taken
        since the last offer; ``final``: the source ends (no wait for ``SAVE_EVERY``)."""
        self._confirmed = self._confirmed or confirmed
        moved = self.saved is None or abs(lag - self.saved) > SAVE_CHANGE
        if final:
            due = moved or self._confirmed
        else:
            if self._tried_at is not None and at - self._tried_at < SAVE_EVERY:
                return
            stale = self._saved_at is None or at - self._saved_at >= REFRESH_EVERY
            due = moved or (self._confirmed and stale)
        if not due:
            return
        self._tried_at = at
        try:
            self._write(lag, now)
        except OSError as err:
            if not self._failing:
                logger.warning(
                    "%s: cannot save the device lag to %s: %s (tried again later)",
                    self.device,
                    self.path,
                    err,
                )
            self._failing = True
            return
        if self._failing:
            logger.info("%s: device lag saved to %s again", self.device, self.path)
        self._failing = False
        self.saved = lag
        self._saved_at = at
        self._confirmed = False
        self.saves += 1

    def _write(self, lag: float, now: datetime) -> None:
        """A temp file in the same directory, synced, renamed over the file: a crash
        leaves the old file or the new one, never half of one."""
        stamp = to_rfc3339(now)
        text = json.dumps({"v": 1, "device_lag": round(lag, 3), "saved_at": stamp}) + "\n"
        write_atomically(self.path, text.encode())

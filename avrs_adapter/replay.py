"""Replayed reads: reads an LPR device stored while its link was down, sent late.

Many LPR devices keep their reads while their output link is down and send the buffer
when it is back (a serial or ``socket://`` reconnect). Those reads arrive in a burst,
seconds or minutes after the truck was there; published as fresh, a read of a truck
long gone could open a lane session while another truck stands at the booth.

A read that carries the device's time of the read has a *lag*: the adapter's time when
its line came in minus that device time, as plain numbers (the zone difference and the
device's clock skew are part of it). A device's normal lag is stable; a replayed read's
is larger by how long it was kept. The baseline is the smallest lag of the last
``history`` reads taken (a replayed read can only be later, never earlier); a read whose
lag is over the baseline by more than ``bound`` seconds is replayed: not published.

A device clock stepped back (an NTP correction) would make every later read look
replayed. ``rebaseline_reads`` such reads in a row, each ``spacing`` seconds or more after
the one before (a replayed buffer comes as a burst, ms apart; a stepped clock gives
steady reads) whose lags agree within ``agree`` seconds: the device's clock was stepped,
the baseline is theirs (those reads stay dropped, the next are published). A clock
stepped forward lowers the baseline at once. Before any read the first one sets the
baseline: a replay at the first connect after the adapter starts cannot be told, unless
the device's lag is known beforehand (``expected_lag``: 0 for a device whose clock is
NTP-synced to this machine's local time), which is then the first baseline.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from avrs_adapter.errors import AvrsError

logger = logging.getLogger(__name__)

_COMPACT_TIME = re.compile(r"^\d{14}$")

#: the first replayed read of a run is logged, then every this many
LOG_EVERY = 100


@dataclass(slots=True)
class ReplayStats:
    replayed: int = 0  # reads with a device time too late for the device's lag: dropped
    rebaselines: int = 0  # the device's clock was stepped back: a new baseline

    def as_dict(self) -> dict[str, int]:
        return {"replayed": self.replayed, "replay_rebaselines": self.rebaselines}


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
        history: int = 32,
        expected_lag: float | None = None,
        device: str = "lpr0",
    ) -> None:
        if (
            not 1.0 <= bound <= 3600.0
            or not 2 <= rebaseline_reads <= 100
            or not (expected_lag is None or abs(expected_lag) <= 172_800)
        ):
            raise AvrsError(
                f"replay bound must be 1-3600 s, re-baseline reads 2-100 and the expected "
                f"device lag within 2 days, got {bound!r}, {rebaseline_reads!r} and "
                f"{expected_lag!r}",
                key="avrs_bad_replay_guard",
            )
        self.bound = bound
        self.rebaseline_reads = rebaseline_reads
        self.spacing = spacing
        self.agree = agree
        self.device = device
        self.stats = ReplayStats()
        #: the device's normal lag, s (the smallest of ``_lags``); None before any read
        self.baseline: float | None = None
        self._lags: deque[float] = deque(maxlen=history)
        if expected_lag is not None:
            self._lags.append(expected_lag)
            self.baseline = expected_lag
        #: (received, lag) of the spaced replayed reads in a row that may be a clock step
        self._steps: list[tuple[float, float]] = []
        self._run = 0  # replayed reads since the last read taken

    def check(self, device_time: str, received: float, received_wall: datetime, vrn: str) -> bool:
        """True: publish the read. False: it is replayed (counted, logged sparingly).

        ``received``: monotonic time its line came in; ``received_wall``: the adapter's
        naive local time then."""
        seen = device_datetime(device_time)
        if seen is None:
            return True
        lag = (received_wall - seen).total_seconds()
        if self.baseline is None or lag <= self.baseline + self.bound:
            self._take(lag)
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
        self._maybe_stepped(received, lag)
        return False

    def _take(self, lag: float) -> None:
        if self._run:
            logger.info("%s: reads live again after %d replayed ones", self.device, self._run)
        self._run = 0
        self._steps.clear()
        self._lags.append(lag)
        self.baseline = min(self._lags)

    def _maybe_stepped(self, received: float, lag: float) -> None:
        """A clock stepped back gives steady, spaced reads with the same new lag."""
        steps = self._steps
        if steps and received - steps[-1][0] < self.spacing:
            return  # a burst, or the same truck read again: not evidence of a step
        if any(abs(lag - other) > self.agree for _, other in steps):
            steps.clear()
        steps.append((received, lag))
        if len(steps) < self.rebaseline_reads:
            return
        old = self.baseline
        self._lags.clear()
        self._lags.extend(other for _, other in steps)
        self.baseline = min(self._lags)
        self.stats.rebaselines += 1
        self._run = 0
        steps.clear()
        logger.warning(
            "%s: %d spaced reads with a lag of %.1f s (was %.1f s): the device's clock was "
            "stepped; taking its reads again",
            self.device,
            self.rebaseline_reads,
            self.baseline,
            old,
        )

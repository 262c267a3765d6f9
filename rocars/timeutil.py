"""UTC times as the bus carries them: RFC 3339 with milliseconds and a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

HK_TZ = timezone(timedelta(hours=8), "HKT")


def in_hk(value: datetime) -> datetime:
    """``value`` in Hong Kong time, as every screen shows times.

    A time in the last eight hours of year 9999 UTC (a far-off date standing for "never")
    has no Hong Kong date: ``astimezone`` raises. It is shown as the last minute Hong
    Kong's calendar holds, so that no screen fails on it (an exit board that failed to
    draw a TOO_EARLY kept the truck before's PROCEED on the glass).
    """
    try:
        return value.astimezone(HK_TZ)
    except OverflowError:  # (or the first hours of year 1: the first minute, then)
        edge = datetime.max if value.year > 1 else datetime.min
        return edge.replace(second=0, microsecond=0, tzinfo=HK_TZ)


def minute_up(value: datetime) -> datetime:
    """``value`` rounded up to the whole minute: a "not before" time shown to the minute
    is then never one that has come while the lane still refuses the truck (16:30:45
    shown as 16:30 told a driver at 16:30:20 to go, and the lane said TOO_EARLY)."""
    if not (value.second or value.microsecond):
        return value
    try:
        return value.replace(second=0, microsecond=0) + timedelta(minutes=1)
    except OverflowError:  # the last minute a datetime holds ("never")
        return value


def hk_short(value: datetime, now: datetime) -> str:
    """``HH:MM`` Hong Kong time, rounded up (``minute_up``); ``DD/MM HH:MM`` when it is
    not today in Hong Kong (the lane screens' TOO_EARLY time)."""
    local, today = in_hk(minute_up(value)), in_hk(now)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%d/%m %H:%M")


def utc_now() -> datetime:
    """Now, in UTC, truncated to milliseconds (what the wire can carry)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@lru_cache(maxsize=1024)
def to_rfc3339(value: datetime) -> str:
    """Format an aware datetime as ``2026-11-21T08:00:00.123Z``.

    Cached: a lane formats the same few times (the read's, its instruction's expiry) a
    dozen times a truck, in the session, the record and the outbox row. Equal instants
    in other zones hash and compare equal and give the same text; a naive time never
    equals an aware one, and an error is not cached.
    """
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime: times on the wire are always UTC")
        value = value.astimezone(UTC)
    # isoformat is C code: ~15x cheaper than strftime, and a lane formats several per read
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 time with an offset; naive times are refused."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time without an offset: {text!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError as err:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(f"time out of range: {text!r}") from err

"""What one person's use of the kiosk holds, and how it ends.

A session starts at the first screen and ends when the person presses "Finish" or
walks away (the idle timeout). Either way everything they typed is dropped: the
model keeps passwords, codes and PINs in memory only, never on disk or in logs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rocars.errors import RocarsError
from ui_common.languages import Language

logger = logging.getLogger(__name__)


class KioskError(RocarsError):
    """Base of the kiosk's own errors: a stable key a screen translates."""

    key = "kiosk_error"


DEFAULT_LANGUAGE = Language.ZH_TW


class Level(StrEnum):
    INFO = "info"
    ERROR = "error"


@dataclass(frozen=True)
class Notice:
    """A message a person reads: a stable key plus its placeholders (translated by the UI)."""

    key: str
    params: dict[str, str] = field(default_factory=dict)
    level: Level = Level.ERROR

    @classmethod
    def from_error(cls, err: RocarsError) -> Notice:
        params = {k: str(v) for k, v in err.params.items() if isinstance(v, str | int)}
        detail = getattr(err, "detail", None)
        if isinstance(detail, dict):
            for name, value in detail.items():
                if name != "message" and isinstance(value, str | int):
                    params.setdefault(name, str(value))
        return cls(err.key, params)


@dataclass
class IdleClock:
    """Idle timeout: warn after ``warn_after`` seconds without a touch, reset after ``reset_after``.

    Times are ``time.monotonic()`` seconds, passed in so a test can drive it.
    """

    warn_after: float = 60.0
    reset_after: float = 90.0
    last_touch: float = 0.0
    warned: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.warn_after < self.reset_after:
            raise ValueError("need 0 < warn_after < reset_after")

    def touch(self, now: float) -> None:
        self.last_touch = now
        self.warned = False

    def seconds_left(self, now: float) -> int:
        return max(0, int(self.reset_after - (now - self.last_touch) + 0.999))

    def check(self, now: float) -> str:
        """``active``, ``warn`` (first time and after), or ``expired``."""
        idle = now - self.last_touch
        if idle >= self.reset_after:
            return "expired"
        if idle >= self.warn_after:
            self.warned = True
            return "warn"
        return "active"


class Secret:
    """A password, code or PIN held for one session: never printed, never logged."""

    __slots__ = ("_value",)

    def __init__(self, value: str = "") -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def clear(self) -> None:
        self._value = ""

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is never pickled")

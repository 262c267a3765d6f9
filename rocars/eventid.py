"""Unique event ids: ULIDs (sortable by time, 26 Crockford base-32 characters)."""

from __future__ import annotations

import re

from ulid import ULID

_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_event_id() -> str:
    """A fresh ULID string."""
    return str(ULID())


def is_event_id(text: str) -> bool:
    """True for a ULID or a lower-case UUID (UUIDv7 from other producers)."""
    return bool(_ULID.match(text) or _UUID.match(text))

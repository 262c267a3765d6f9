"""Errors of the shared contract.

What a person is told is a stable key plus placeholders; the UI layer translates it.
"""

from __future__ import annotations

from typing import Any


class RocarsError(Exception):
    """Base of every error the project raises on purpose.

    ``key`` is stable (it is what a UI translates); ``params`` fill its placeholders.
    """

    key = "error"

    def __init__(self, message: str = "", *, key: str | None = None, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(message or self.key)

    def as_json(self) -> dict[str, Any]:
        """The design's error body: ``{"error": KEY, "detail": ...}``."""
        return {"error": self.key, "detail": {"message": str(self), **self.params}}


class InvalidIdentifier(RocarsError):
    """A CCRN, UBR, VRN, control point, lane or account that does not have the right form."""

    key = "invalid_identifier"


class BadPayload(RocarsError):
    """A bus payload that is not JSON, not an object, or fails validation."""

    key = "bad_payload"


class BadSignature(BadPayload):
    """An instruction whose HMAC does not verify with the lane's key."""

    key = "bad_signature"


class ConfigError(RocarsError):
    """A config file or secret that is missing or wrong."""

    key = "config_error"


class BusError(RocarsError):
    """The MQTT bus could not be reached or refused us."""

    key = "bus_error"

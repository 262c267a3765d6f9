"""Errors of the exit display board."""

from __future__ import annotations

from rocars.errors import RocarsError


class Error(RocarsError):
    """Base of every error xdb_display raises on purpose."""

    key = "xdb_error"

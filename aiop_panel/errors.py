"""Errors of the booth panel."""

from __future__ import annotations

from rocars.errors import RocarsError


class Error(RocarsError):
    """Base of every error aiop_panel raises on purpose."""

    key = "aiop_error"

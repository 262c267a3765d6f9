"""Errors of the shared screen base."""

from __future__ import annotations

from rocars.errors import RocarsError


class Error(RocarsError):
    """Base of every error ui_common raises on purpose."""

    key = "ui_error"


class FontMissing(Error):
    """No font on this machine draws Chinese: the screens would show empty boxes."""

    key = "font_missing"


class TranslationError(Error):
    """A translation catalogue is missing, unreadable or incomplete."""

    key = "translation_error"


class UnknownLanguage(Error):
    """A language code the screens do not offer."""

    key = "language_unknown"


class InstructionRejected(Error):
    """An instruction a display must not show: bad payload, forged, or a replay.

    ``key`` says which: ``bad_payload``, ``bad_signature``, ``replay``.
    """

    key = "instruction_rejected"

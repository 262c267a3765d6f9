"""Errors of the sync agent: one base, specific subclasses, stable keys."""

from __future__ import annotations

from rocars.errors import RocarsError


class SyncError(RocarsError):
    """Base of every error the sync agent raises on purpose."""

    key = "sync_error"


class ReplicaError(SyncError):
    """The replica database could not be read or written."""

    key = "replica_error"


class CursorMismatch(ReplicaError):
    """A page was fetched for a cursor the replica no longer holds (applied twice, or raced)."""

    key = "replica_cursor_mismatch"


class OutboxError(SyncError):
    """The outbox database could not be read or written."""

    key = "outbox_error"


class OutboxTooNew(OutboxError):
    """The outbox was written by a newer agent (a higher ``PRAGMA user_version``): this
    one refuses to open it and changes nothing in it."""

    key = "outbox_too_new"


class MalformedPage(SyncError):
    """A change-feed page that does not validate: logged and fetched again, never applied."""

    key = "central_malformed_page"

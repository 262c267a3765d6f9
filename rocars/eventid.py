"""Unique event ids: ULIDs (sortable by time, 26 Crockford base-32 characters)."""

from __future__ import annotations

import os
import re
import threading
import time

_ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits a lookup

#: The random part of an id, in bytes (80 bits).
_RANDOM_BYTES = 10
#: Random bytes are taken from the OS this many ids at a time. ``os.urandom`` is a system
#: call that lets the GIL go: on a plate read's path (a session id and one or two
#: instruction ids a read) another thread could take the GIL there and keep the read
#: waiting; measured ~6 us a call in the lane path against ~0.5 in a loop. One call every
#: 400 ids instead, the same bytes from the same source.
_POOL_IDS = 400


class _Pool:
    """OS random bytes handed out ``_RANDOM_BYTES`` at a time, each once (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data = b""
        self.at = 0

    def take(self) -> int:
        with self.lock:
            at = self.at
            if at >= len(self.data):
                self.data, at = os.urandom(_RANDOM_BYTES * _POOL_IDS), 0
            self.at = at + _RANDOM_BYTES
            return int.from_bytes(self.data[at : at + _RANDOM_BYTES], "big")


_pool = _Pool()


def _after_fork() -> None:
    # a forked child must not hand out the bytes its parent hands out next (the same ids
    # in two processes), nor inherit a lock another thread held at the fork
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_after_fork)


def new_event_id() -> str:
    """A fresh ULID string: 48 bits of Unix milliseconds, 80 random bits.

    Encoded here (two characters a lookup) rather than through the ``ulid`` package: a
    lane makes three per truck, and this is half the cost. The tests check the result
    against that package's decoder.
    """
    value = (time.time_ns() // 1_000_000) << 80 | _pool.take()
    middle = "".join([_PAIRS[(value >> shift) & 0x3FF] for shift in range(115, 4, -10)])
    return _ALPHABET[value >> 125] + middle + _ALPHABET[value & 0x1F]


def is_event_id(text: str) -> bool:
    """True for a ULID or a lower-case UUID (UUIDv7 from other producers)."""
    return bool(_ULID.fullmatch(text) or _UUID.fullmatch(text))

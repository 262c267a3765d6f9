"""Driver accounts: password hashes, TOTP security codes, and the failure lockout.

A driver signs with account number + password, then the 6-digit code of a hardware
token (TOTP, 30 s step, one step either side accepted) or a certificate. A code is good
once: the centre keeps each account's last accepted step (in the store, so a restart
keeps it) and refuses that step and earlier ones (RFC 6238 section 5.2). Five password
or code failures within 15 minutes lock the account until the oldest of them ages out.
An attempt reserves its place in that count before it is checked (``Lockout.attempt``):
checked first and counted only after the slow hash, twenty guesses sent at once all
passed the check before the first failure was counted. One that finds every place held
by attempts still being checked waits for them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import NoReturn

import pyotp

from hardware_sim.store import AccountRow, CentralError, Store

logger = logging.getLogger(__name__)

MAX_FAILURES = 5
FAILURE_WINDOW_S = 15 * 60
#: The token's time step, and how many steps either side of the centre's are accepted.
CODE_STEP_S = 30
CODE_WINDOW = 1
_PBKDF2_ROUNDS = 20_000
#: How long an attempt waits for a place held by others being checked (each takes
#: milliseconds) before it is answered ``account_locked`` all the same.
ATTEMPT_WAIT_S = 10.0
#: The refusals that count towards the lockout (no certificate refusal does).
COUNTED_FAILURES = frozenset({"credentials_invalid", "security_code_invalid", "security_code_used"})
#: What a password is hashed with and compared against when the account does not exist:
#: refused without a hash, an unknown account was answered ~100x sooner than a wrong
#: password, which told anyone which account numbers exist. No password hashes to zeros.
_DUMMY_SALT = bytes(16)
_DUMMY_HASH = bytes(32)


def hash_password(password: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """``(salt, hash)``: PBKDF2-SHA256 (the demo keeps rounds low so tests stay fast)."""
    salt = salt if salt is not None else os.urandom(16)
    return salt, hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ROUNDS)


def make_account(
    account: str, password: str, totp_secret: str, *, immediate: bool = False, name: str = ""
) -> AccountRow:
    salt, pw_hash = hash_password(password)
    return AccountRow(account, salt, pw_hash, totp_secret, immediate, name or account)


def code_step(at: datetime) -> int:
    """The token's time step at ``at`` (what ``pyotp``'s ``timecode`` gives)."""
    return int(at.timestamp()) // CODE_STEP_S


def totp_now(secret: str, at: datetime | None = None) -> str:
    """The code the driver's token shows now (or at ``at``): what tests and the scenario type."""
    totp = pyotp.TOTP(secret, interval=CODE_STEP_S)
    return str(totp.at(at) if at is not None else totp.now())


class Lockout:
    """Failures per account in a sliding window; ``check`` raises ``account_locked``.

    Attempts being checked (``attempt``) count with the failures, so that no more
    attempts are ever checked at once than failures would still be allowed; one more
    waits until one of them is answered (a success gives its place back).
    """

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = FAILURE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        wait_s: float = ATTEMPT_WAIT_S,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.wait_s = wait_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}
        self._next_sweep = float("-inf")
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)

    def _recent(self, account: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(account, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def _forget_if_clear(self, account: str) -> None:
        """Under ``_lock``: an account with no failure in the window and no attempt being
        checked leaves the table. Kept, every account number ever tried (also each one
        that does not exist) held an empty deque for as long as the centre ran."""
        if not self._failures.get(account) and account not in self._in_flight:
            self._failures.pop(account, None)

    def _sweep(self, now: float) -> None:
        """Under ``_lock``, at most once a window: drop every account whose failures have
        all aged out and that nothing is checking (one failed once and never tried again
        is otherwise looked at, and forgotten, only when it is tried again)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window_s
        stale = [
            account
            for account, failures in self._failures.items()
            if (not failures or failures[-1] <= now - self.window_s)
            and account not in self._in_flight
        ]
        for account in stale:
            del self._failures[account]

    def _refuse_if_locked(self, account: str, now: float) -> deque[float]:
        """Under ``_lock``: the recent failures, ``account_locked`` if ``max_failures``."""
        failures = self._recent(account, now)
        if len(failures) >= self.max_failures:
            # free again when enough of them age out
            oldest = failures[len(failures) - self.max_failures]
            _locked(account, max(1, int(oldest + self.window_s - now + 0.999)))
        return failures

    def check(self, account: str) -> None:
        now = self._clock()
        with self._lock:
            self._refuse_if_locked(account, now)
            self._forget_if_clear(account)

    @contextmanager
    def attempt(self, account: str) -> Iterator[None]:
        """Check and reserve a place among the failures, for one verification.

        ``account_locked`` if the account is locked, or if attempts being checked hold
        every place for ``wait_s`` (``retry_after`` 1). A ``credentials_invalid``,
        ``security_code_invalid`` or ``security_code_used`` raised inside turns the place
        into a failure; anything else (a success, another error) gives it back.
        """
        deadline = time.monotonic() + self.wait_s
        with self._lock:
            while True:
                failures = self._refuse_if_locked(account, self._clock())
                in_flight = self._in_flight.get(account, 0)
                if len(failures) + in_flight < self.max_failures:
                    break
                left = deadline - time.monotonic()
                if left <= 0:  # still every place held: as if locked, for a moment
                    _locked(account, 1)
                self._freed.wait(left)
            self._in_flight[account] = in_flight + 1
        failed = False
        try:
            yield
        except CentralError as err:
            failed = err.key in COUNTED_FAILURES
            raise
        finally:
            count = self._release(account, failed)
            if failed:
                logger.warning("account %s: %d failure(s) in the window", account, count)

    def _release(self, account: str, failed: bool) -> int:
        """Give back a reservation, in the same step counting it as a failure if
        ``failed``: no other attempt can take its place between the two."""
        now = self._clock()
        with self._lock:
            left = self._in_flight.get(account, 0) - 1
            if left > 0:
                self._in_flight[account] = left
            else:
                self._in_flight.pop(account, None)
            failures = self._recent(account, now)
            if failed:
                failures.append(now)
            self._forget_if_clear(account)
            self._sweep(now)
            self._freed.notify_all()
            return len(failures)

    def fail(self, account: str) -> None:
        now = self._clock()
        with self._lock:
            self._recent(account, now).append(now)
            count = len(self._failures[account])
            self._sweep(now)
            self._freed.notify_all()
        logger.warning("account %s: %d failure(s) in the window", account, count)

    def reset(self, account: str) -> None:
        with self._lock:
            self._failures.pop(account, None)
            self._freed.notify_all()


def _locked(account: str, retry_after: int) -> NoReturn:
    raise CentralError(
        f"account {account} locked for {retry_after}s",
        key="account_locked",
        status=429,
        retry_after=retry_after,
    )


class AccountBook:
    """Checks a driver's credentials against the store, counting failures."""

    def __init__(self, store: Store, lockout: Lockout | None = None) -> None:
        self.store = store
        self.lockout = lockout or Lockout()

    def check_password(self, account: str, password: str) -> AccountRow:
        """The account if the password matches; ``account_locked`` / ``credentials_invalid``."""
        with self.lockout.attempt(account):
            row = self.store.get_account(account)
            salt, pw_hash = (_DUMMY_SALT, _DUMMY_HASH) if row is None else (row.salt, row.pw_hash)
            matches = hmac.compare_digest(hash_password(password, salt)[1], pw_hash)
            if row is None or not matches:
                raise CentralError(
                    "account number or password is wrong", key="credentials_invalid", status=403
                )
            return row

    def check_code(self, row: AccountRow, code: str, at: datetime) -> None:
        """The security code of the hardware token, one 30 s step either side, once.

        A code of a step this account already had a code accepted for, or of an earlier
        one, is refused like a wrong one (and counts as a failure): someone who saw the
        driver type it cannot use it again, nor can the driver; the token's next code
        works. A locked account is refused here too (``account_locked``): the password
        was checked before, but guesses of the code sent at once all passed that.
        """
        with self.lockout.attempt(row.account):
            totp = pyotp.TOTP(row.totp_secret, interval=CODE_STEP_S)
            now = code_step(at)
            given = code.encode()
            steps = [
                step
                for step in range(now - CODE_WINDOW, now + CODE_WINDOW + 1)
                if hmac.compare_digest(totp.generate_otp(step).encode(), given)
            ]
            if not steps:
                raise CentralError(
                    "security code is wrong", key="security_code_invalid", status=403
                )
            # Only the latest step the code matches is claimed. Claiming the first one
            # that could be, a code that two steps of the window share (about one window
            # in 300,000) claimed the earlier step, then the later one: accepted twice.
            if not self.store.claim_code_step(row.account, steps[-1]):
                raise CentralError(
                    "security code already used: wait for the token's next code",
                    key="security_code_used",
                    status=403,
                )

    def succeeded(self, account: str) -> None:
        self.lockout.reset(account)

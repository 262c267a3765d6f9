"""The failure lockout and the security code, on a clock the test moves."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hardware_sim import accounts
from hardware_sim.accounts import MAX_FAILURES, AccountBook, Lockout, make_account, totp_now
from hardware_sim.store import CentralError, Store

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_lock_until_the_oldest_ages_out() -> None:
    clock = Clock()
    lockout = Lockout(clock=clock)
    for _ in range(4):
        lockout.fail("123456")
        clock.now += 60
    lockout.check("123456")
    lockout.fail("123456")
    with pytest.raises(CentralError) as info:
        lockout.check("123456")
    assert (info.value.key, info.value.status) == ("account_locked", 429)
    assert info.value.params["retry_after"] == 15 * 60 - 4 * 60
    lockout.check("654321")  # other accounts are not affected
    clock.now += 15 * 60 - 4 * 60
    lockout.check("123456")


def test_success_resets() -> None:
    lockout = Lockout(clock=Clock())
    for _ in range(4):
        lockout.fail("123456")
    lockout.reset("123456")
    for _ in range(4):
        lockout.fail("123456")
    lockout.check("123456")


def test_password_and_code(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    book = AccountBook(store, Lockout(clock=Clock()))
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    store.put_account(make_account("123456", "654321", secret))
    row = book.check_password("123456", "654321")
    at = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    # one step either side: the previous step's code, then (a later step) the current one
    book.check_code(row, totp_now(secret, at - timedelta(seconds=30)), at)
    book.check_code(row, totp_now(secret, at), at)
    with pytest.raises(CentralError, match="security code"):
        book.check_code(row, totp_now(secret, at + timedelta(seconds=90)), at)
    for account, password in (("123456", "000000"), ("999999", "654321")):
        with pytest.raises(CentralError) as info:
            book.check_password(account, password)
        assert info.value.key == "credentials_invalid"
    store.close()


def test_a_security_code_is_accepted_once(tmp_path: Path) -> None:
    """RFC 6238 5.2: once a code of a time step is accepted for an account, that step and
    every earlier one are refused for it, within the window and after a restart."""
    store = Store(tmp_path / "c.sqlite3")
    clock = Clock()
    book = AccountBook(store, Lockout(clock=clock))
    secret, other_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
    store.put_account(make_account("123456", "654321", secret))
    store.put_account(make_account("234567", "654321", other_secret))
    row, other = store.get_account("123456"), store.get_account("234567")
    assert row is not None
    assert other is not None
    at = datetime(2026, 11, 22, 1, 0, 10, tzinfo=UTC)
    step = timedelta(seconds=30)
    book.check_code(row, totp_now(secret, at), at)

    def refused(code: str, when: datetime) -> CentralError:
        with pytest.raises(CentralError) as info:
            book.check_code(row, code, when)
        assert (info.value.key, info.value.status) == ("security_code_used", 403)
        return info.value

    # the same code again, in its own step or the next (still inside the window)
    assert "already used" in str(refused(totp_now(secret, at), at))
    refused(totp_now(secret, at), at + step)
    # an earlier step's code, though still inside the window
    refused(totp_now(secret, at - step), at)
    # the other account's codes are its own business
    book.check_code(other, totp_now(other_secret, at), at)
    # the token's next code is fine, once
    book.check_code(row, totp_now(secret, at + step), at)
    refused(totp_now(secret, at + step), at + step)
    # each of the four refusals counted as a failure: one more locks the account
    book.lockout.check("123456")
    book.lockout.fail("123456")
    with pytest.raises(CentralError) as locked:
        book.lockout.check("123456")
    assert locked.value.key == "account_locked"
    # a restarted centre (a new book on the same store) remembers
    book = AccountBook(store, Lockout(clock=clock))
    refused(totp_now(secret, at + step), at + step)
    book.check_code(row, totp_now(secret, at + 2 * step), at + 2 * step)
    store.close()


def _at_once(
    attempts: int, call: Callable[[int], object], verified: list[int], gate: threading.Event
) -> Counter[str]:
    """``call(i)`` from ``attempts`` threads started together; the keys they were refused
    with (``ok``: not refused). Each verification (``verified`` grows) waits at ``gate``,
    so that all that get past the lockout are inside at once, as requests are while
    PBKDF2 runs. The gate opens when more than ``MAX_FAILURES`` are inside (the lockout
    let too many in), when every attempt is inside or answered, or after a second (the
    rest wait in the lockout for a place)."""
    keys: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(attempts)

    def run(i: int) -> None:
        start.wait(10)
        try:
            call(i)
        except CentralError as err:
            with lock:
                keys[err.key] += 1
        else:
            with lock:
                keys["ok"] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 1
    while (
        len(verified) <= MAX_FAILURES
        and len(verified) + sum(keys.values()) < attempts
        and time.monotonic() < deadline
    ):
        time.sleep(0.005)
    gate.set()
    for thread in threads:
        thread.join(10)
    return keys


def _gated(verified: list[int], gate: threading.Event, inner: Callable[..., T]) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        verified.append(1)
        gate.wait(10)
        return inner(*args, **kwargs)

    return wrapper


SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _one_account(tmp_path: Path, lockout: Lockout | None = None) -> tuple[Store, AccountBook]:
    """A store with account 123456 (password 654321, token ``SECRET``) and its book."""
    store = Store(tmp_path / "c.sqlite3")
    store.put_account(make_account("123456", "654321", SECRET))
    return store, AccountBook(store, lockout)


def test_guesses_sent_at_once_get_five_password_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty wrong passwords for one account at once: five are checked (and fail), the
    rest are refused ``account_locked`` without a check. Before, all twenty passed the
    lockout's check while the first PBKDF2 still ran."""
    store, book = _one_account(tmp_path)
    verified: list[int] = []
    gate = threading.Event()
    monkeypatch.setattr(accounts, "hash_password", _gated(verified, gate, accounts.hash_password))

    keys = _at_once(20, lambda i: book.check_password("123456", f"guess{i}"), verified, gate)

    assert len(verified) == MAX_FAILURES
    assert keys == {"credentials_invalid": MAX_FAILURES, "account_locked": 20 - MAX_FAILURES}
    with pytest.raises(CentralError) as locked:
        book.check_password("123456", "654321")  # the right one: locked all the same
    assert locked.value.key == "account_locked"
    assert locked.value.params["retry_after"] > 14 * 60
    store.close()


def test_code_guesses_sent_at_once_get_five_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the right password, wrong security codes at once: the code step holds the
    lockout itself (before, only the password step checked it, so every request that
    had passed it guessed a code)."""
    store, book = _one_account(tmp_path)
    secret = SECRET
    row = book.check_password("123456", "654321")
    at = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    right = totp_now(secret, at)
    wrong = [f"{(int(right) + n) % 1_000_000:06d}" for n in range(1000, 1020)]
    verified: list[int] = []
    gate = threading.Event()
    monkeypatch.setattr(accounts, "code_step", _gated(verified, gate, accounts.code_step))

    keys = _at_once(20, lambda i: book.check_code(row, wrong[i], at), verified, gate)

    assert len(verified) == MAX_FAILURES
    assert keys == {"security_code_invalid": MAX_FAILURES, "account_locked": 20 - MAX_FAILURES}
    with pytest.raises(CentralError) as locked:
        book.check_code(row, right, at)
    assert locked.value.key == "account_locked"
    store.close()


def test_right_passwords_sent_at_once_all_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More right passwords at once than there are places: those over wait for a place
    (a success gives its place back) instead of being refused."""
    store, book = _one_account(tmp_path)
    verified: list[int] = []
    gate = threading.Event()
    monkeypatch.setattr(accounts, "hash_password", _gated(verified, gate, accounts.hash_password))

    keys = _at_once(8, lambda i: book.check_password("123456", "654321"), verified, gate)

    assert keys == {"ok": 8}
    assert len(verified) == 8
    store.close()


def test_a_reservation_is_given_back_on_success_and_on_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four failures leave room for one more attempt: every success and every error that
    is not a wrong credential (a database fault) gives its reservation back, however many
    there are, so the right password and code still pass."""
    store, book = _one_account(tmp_path, Lockout(clock=Clock()))
    secret = SECRET
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(CentralError, match="password is wrong"):
            book.check_password("123456", "000000")
    for _ in range(10):
        row = book.check_password("123456", "654321")
    at = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)

    def broken(*args: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patch:
        patch.setattr(store, "get_account", broken)
        patch.setattr(store, "claim_code_step", broken)
        for _ in range(10):
            with pytest.raises(sqlite3.OperationalError):
                book.check_password("123456", "654321")
            with pytest.raises(sqlite3.OperationalError):
                book.check_code(row, totp_now(secret, at), at)
    book.lockout.check("123456")
    row = book.check_password("123456", "654321")
    book.check_code(row, totp_now(secret, at), at)
    book.succeeded("123456")
    for _ in range(MAX_FAILURES - 1):  # the success cleared the four failures
        with pytest.raises(CentralError, match="security code"):
            book.check_code(row, "000000", at)
    book.lockout.check("123456")
    store.close()


def test_an_attempt_waits_for_a_place_only_so_long() -> None:
    """Five attempts being checked hold every place: a sixth waits ``wait_s`` for one,
    then is answered ``account_locked`` (retry in a second); once they are answered,
    with success, there is room again."""
    clock = Clock()
    lockout = Lockout(clock=clock, wait_s=0.05)
    with ExitStack() as held:
        for _ in range(MAX_FAILURES):
            held.enter_context(lockout.attempt("123456"))
        with pytest.raises(CentralError) as info, lockout.attempt("123456"):
            pass
        assert (info.value.key, info.value.params["retry_after"]) == ("account_locked", 1)
        with lockout.attempt("654321"):  # other accounts are not affected
            pass
    with lockout.attempt("123456"):
        pass
    lockout.check("123456")


def test_an_unknown_account_costs_a_password_hash_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused without a hash, an unknown account was answered in 0.06 ms and a wrong
    password in 5.5 ms: the time told which account numbers exist. Both hash now."""
    store, book = _one_account(tmp_path, Lockout(clock=Clock()))
    calls: list[tuple[str, bytes | None]] = []
    real = accounts.hash_password

    def spy(password: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
        calls.append((password, salt))
        return real(password, salt)

    monkeypatch.setattr(accounts, "hash_password", spy)
    for account, password in (("999999", "654321"), ("999999", ""), ("123456", "000000")):
        calls.clear()
        with pytest.raises(CentralError) as info:
            book.check_password(account, password)
        assert info.value.key == "credentials_invalid"
        assert len(calls) == 1, account
        assert calls[0][0] == password
        assert calls[0][1] is not None
        assert len(calls[0][1]) == 16
    calls.clear()
    assert book.check_password("123456", "654321").account == "123456"
    assert len(calls) == 1
    store.close()


def test_an_account_leaves_the_table_once_nothing_is_held_for_it() -> None:
    """Every account number tried (also one that does not exist) kept an entry, an
    empty deque once its failures aged out, for as long as the centre ran."""
    clock = Clock()
    lockout = Lockout(clock=clock)
    lockout.check("111111")  # never failed
    with lockout.attempt("222222"):  # a success
        assert "222222" not in lockout._failures or not lockout._failures["222222"]
    with pytest.raises(CentralError), lockout.attempt("333333"):  # another error
        raise CentralError("no such cargo", key="ccrn_not_found", status=404)
    assert lockout._failures == {}
    with pytest.raises(CentralError), lockout.attempt("123456"):
        raise CentralError("wrong", key="credentials_invalid", status=403)
    assert list(lockout._failures) == ["123456"]
    clock.now += 15 * 60  # aged out
    lockout.check("123456")
    assert lockout._failures == {}
    with lockout.attempt("123456"):
        pass
    assert lockout._failures == {}
    lockout.fail("123456")
    lockout.reset("123456")
    assert lockout._failures == {}


def test_an_account_never_tried_again_is_forgotten_within_two_windows() -> None:
    clock = Clock()
    lockout = Lockout(clock=clock)
    for account in ("100001", "100002", "100003"):
        lockout.fail(account)
    clock.now += 15 * 60
    lockout.fail("100004")  # the failures above have aged out: forgotten now
    assert list(lockout._failures) == ["100004"]
    clock.now += 60
    lockout.fail("100005")  # at most one look over the table a window
    assert list(lockout._failures) == ["100004", "100005"]
    clock.now += 14 * 60  # a window after the last look: 100004's failure has aged out
    with pytest.raises(CentralError), lockout.attempt("100006"):
        raise CentralError("wrong", key="security_code_invalid", status=403)
    assert list(lockout._failures) == ["100005", "100006"]
    lockout.check("100004")
    assert list(lockout._failures) == ["100005", "100006"]


def test_a_code_two_steps_share_is_accepted_once(tmp_path: Path) -> None:
    """RFC 6238 5.2 again, for a code that two steps of the window share (rare: about one
    window in 300,000). The first step it matched was claimed, so the same code was
    then accepted again for the later step; now only the latest step it matches is
    claimed, and no earlier step can be claimed after a later one."""
    store, book = _one_account(tmp_path, Lockout(clock=Clock()))
    row = store.get_account("123456")
    assert row is not None
    first = datetime(2026, 3, 23, 7, 18, 0, tzinfo=UTC)  # found by trying steps
    step = timedelta(seconds=30)
    shared = totp_now(SECRET, first)
    assert shared == totp_now(SECRET, first + step) == "212317"
    at = first + step + timedelta(seconds=10)  # the window: first, first + step, the next
    book.check_code(row, shared, at)
    for when in (at, at + step):
        with pytest.raises(CentralError) as info:
            book.check_code(row, shared, when)
        assert info.value.key == "security_code_used"
    book.check_code(row, totp_now(SECRET, at + step), at + step)  # the token's next code
    store.close()

"""The failure lockout and the security code, on a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware_sim.accounts import AccountBook, Lockout, make_account, totp_now
from hardware_sim.store import CentralError, Store


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

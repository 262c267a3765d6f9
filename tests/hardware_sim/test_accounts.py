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
    book.check_code(row, totp_now(secret, at), at)
    book.check_code(row, totp_now(secret, at - timedelta(seconds=30)), at)
    with pytest.raises(CentralError, match="security code"):
        book.check_code(row, totp_now(secret, at - timedelta(seconds=90)), at)
    for account, password in (("123456", "000000"), ("999999", "654321")):
        with pytest.raises(CentralError) as info:
            book.check_password(account, password)
        assert info.value.key == "credentials_invalid"
    store.close()

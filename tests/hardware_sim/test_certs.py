"""The demo key pool and the verifier's order of checks, without a server."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from hardware_sim import certs
from hardware_sim.certs import CertVerifier, DriverCert, create_driver_certs, sign_request
from hardware_sim.store import CentralError
from rocars.models import CertificateAuth
from rocars.timeutil import utc_now


def _public(key: certs.rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_key_pool_gives_distinct_keys_and_reuses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(certs.KEY_POOL_ENV, str(tmp_path / "pool"))
    monkeypatch.setattr(certs, "_pool_next", itertools.count())
    first = [_public(certs._new_key()) for _ in range(3)]
    assert len(set(first)) == 3
    assert sorted(p.name for p in (tmp_path / "pool").iterdir()) == [
        "key-0.pem",
        "key-1.pem",
        "key-2.pem",
    ]
    monkeypatch.setattr(certs, "_pool_next", itertools.count())
    assert [_public(certs._new_key()) for _ in range(3)] == first
    (tmp_path / "pool" / "key-0.pem").write_text("damaged")
    monkeypatch.setattr(certs, "_pool_next", itertools.count())
    assert _public(certs._new_key()) not in first


def test_verifier_checks_in_order(tmp_path: Path) -> None:
    now = utc_now()
    revoked: set[int] = set()
    paths = create_driver_certs(
        tmp_path,
        [DriverCert("123456", "A", "1111", "valid"), DriverCert("234567", "B", "2222", "revoked")],
        now,
        revoked.add,
    )
    verifier = CertVerifier(certs.load_or_create_ca(tmp_path), lambda s: s in revoked)
    body = {"account": "123456", "vrn": "AB1"}
    good = CertificateAuth.model_validate(sign_request(paths["123456"], "1111", "bundle", body))
    verifier.verify(good, "123456", "bundle", [body], now)

    def refused(auth: CertificateAuth, account: str = "123456", op: str = "bundle") -> str:
        with pytest.raises(CentralError) as info:
            verifier.verify(auth, account, op, [body], now)
        return info.value.key

    assert refused(good, op="cancel") == "cert_signature_invalid"
    assert refused(good, account="234567") == "cert_account_mismatch"
    bad = CertificateAuth.model_validate(sign_request(paths["234567"], "2222", "bundle", body))
    assert refused(bad, account="234567") == "cert_revoked"
    later = now + timedelta(minutes=6)
    with pytest.raises(CentralError, match="5 minutes"):
        verifier.verify(good, "123456", "bundle", [body], later)
    with pytest.raises(CentralError) as info:
        verifier.verify(good, "123456", "bundle", [body], now + timedelta(days=400))
    assert info.value.key == "cert_expired"

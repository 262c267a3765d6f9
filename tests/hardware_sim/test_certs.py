"""The demo key pool and the verifier's order of checks, without a server."""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from hardware_sim import certs
from hardware_sim.certs import CertVerifier, DriverCert, create_driver_certs, sign_request
from hardware_sim.store import CentralError, Store
from rocars.models import CertificateAuth
from rocars.timeutil import utc_now
from tests.hardware_sim import centralkit as kit


def _public(key: rsa.RSAPrivateKey) -> bytes:
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
    store = Store(tmp_path / "c.sqlite3")
    verifier = CertVerifier(
        certs.load_or_create_ca(tmp_path), lambda s: s in revoked, store.claim_cert_signature
    )
    body = {"account": "123456", "vrn": "AB1"}
    good = CertificateAuth.model_validate(sign_request(paths["123456"], "1111", "bundle", body))
    verifier.verify(good, "123456", "bundle", [body], now)

    def refused(auth: CertificateAuth, account: str = "123456", op: str = "bundle") -> str:
        with pytest.raises(CentralError) as info:
            verifier.verify(auth, account, op, [body], now)
        return info.value.key

    assert refused(good) == "cert_signature_used"
    # the checks before it still come first: a used signature that does not verify ...
    assert refused(good, op="cancel") == "cert_signature_invalid"
    assert refused(good, account="234567") == "cert_account_mismatch"
    bad = CertificateAuth.model_validate(sign_request(paths["234567"], "2222", "bundle", body))
    assert refused(bad, account="234567") == "cert_revoked"
    later = now + timedelta(minutes=6)
    with pytest.raises(CentralError, match="5 minutes"):  # ... or is stale
        verifier.verify(good, "123456", "bundle", [body], later)
    with pytest.raises(CentralError) as info:
        verifier.verify(good, "123456", "bundle", [body], now + timedelta(days=400))
    assert info.value.key == "cert_expired"
    store.close()


def _signed(
    cert: x509.Certificate, key: rsa.RSAPrivateKey, body: dict[str, Any]
) -> CertificateAuth:
    return CertificateAuth.model_validate(certs.certificate_auth(cert, key, "bundle", body))


def test_issued_certificates_carry_the_signing_profile(tmp_path: Path) -> None:
    now = utc_now()
    paths = create_driver_certs(
        tmp_path, [DriverCert("123456", "A", "1111", "valid")], now, lambda serial: None
    )
    leaf, _key = certs.load_p12(paths["123456"], "1111")
    basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value == kit.key_usage(digital_signature=True)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == [kit.CLIENT_AUTH]
    assert len(leaf.extensions) == 3
    ca = certs.load_or_create_ca(tmp_path)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ca_usage.critical
    assert ca_usage.value == kit.key_usage(key_cert_sign=True, crl_sign=True)


@pytest.fixture
def verifier(tmp_path: Path) -> Iterator[CertVerifier]:
    store = Store(tmp_path / "c.sqlite3")
    yield CertVerifier(
        certs.load_or_create_ca(tmp_path), lambda serial: False, store.claim_cert_signature
    )
    store.close()


@pytest.mark.parametrize(
    ("extensions", "why"),
    [
        pytest.param(
            {"usage": kit.key_usage(key_encipherment=True)}, "digitalSignature", id="encipher"
        ),
        pytest.param(
            {"usage": kit.key_usage(content_commitment=True)}, "digitalSignature", id="nonrep"
        ),
        pytest.param({"usage": None}, "KeyUsage", id="no-key-usage"),
        pytest.param({"ca": True}, "CA", id="ca"),
        pytest.param(
            {"usage": kit.key_usage(digital_signature=True, key_cert_sign=True)},
            "CA",
            id="cert-sign",
        ),
        pytest.param({"eku": [ExtendedKeyUsageOID.SERVER_AUTH]}, "clientAuth", id="server-eku"),
    ],
)
def test_a_certificate_that_may_not_sign_requests_is_refused(
    tmp_path: Path, verifier: CertVerifier, extensions: dict[str, Any], why: str
) -> None:
    """RFC 5280 4.2.1.3, 4.2.1.9, 4.2.1.12: a CA's key, or one not meant for signatures,
    does not sign a driver's request, even from the ROCARS CA and correctly signed."""
    cert, key = kit.custom_leaf(tmp_path, "123456", **extensions)
    body = {"account": "123456", "vrn": "AB1"}
    with pytest.raises(CentralError, match=why) as info:
        verifier.verify(_signed(cert, key, body), "123456", "bundle", [body], utc_now())
    assert (info.value.key, info.value.status) == ("cert_not_for_signing", 403)
    # the same certificate with the driver profile is fine
    good, good_key = kit.custom_leaf(tmp_path, "123456", eku=[kit.CLIENT_AUTH])
    verifier.verify(_signed(good, good_key, body), "123456", "bundle", [body], utc_now())


ODD_POLICY = x509.ObjectIdentifier("1.3.6.1.4.1.32473.2")


@pytest.mark.parametrize(
    ("extension", "named"),
    [
        pytest.param(kit.UNKNOWN_EXTENSION, "1.3.6.1.4.1.32473.1", id="unknown"),
        pytest.param(
            x509.SubjectAlternativeName([x509.RFC822Name("driver@example.com")]),
            "SubjectAlternativeName (2.5.29.17)",
            id="subject-alt-name",
        ),
        pytest.param(
            x509.CertificatePolicies([x509.PolicyInformation(ODD_POLICY, None)]),
            "CertificatePolicies (2.5.29.32)",
            id="policies",
        ),
    ],
)
def test_a_critical_extension_the_centre_does_not_process_is_refused(
    tmp_path: Path, verifier: CertVerifier, extension: x509.ExtensionType, named: str
) -> None:
    """RFC 5280 4.2: an extension its issuer marked critical must not be ignored, so a
    certificate with one the centre does not read is refused, though otherwise a good
    driver certificate. A critical subjectAltName (the name of a subject left empty,
    4.2.1.6) is one: the centre knows a driver by the subject's UID only."""
    body = {"account": "123456", "vrn": "AB1"}
    cert, key = kit.custom_leaf(
        tmp_path, "123456", eku=[kit.CLIENT_AUTH], extra=[(extension, True)]
    )
    with pytest.raises(CentralError, match="critical extension") as info:
        verifier.verify(_signed(cert, key, body), "123456", "bundle", [body], utc_now())
    assert (info.value.key, info.value.status) == ("cert_not_for_signing", 403)
    assert named in str(info.value)
    # the same extension not critical may be ignored
    cert, key = kit.custom_leaf(
        tmp_path, "123456", eku=[kit.CLIENT_AUTH], extra=[(extension, False)]
    )
    verifier.verify(_signed(cert, key, body), "123456", "bundle", [body], utc_now())


def test_a_critical_key_usage_or_extended_key_usage_is_fine(
    tmp_path: Path, verifier: CertVerifier
) -> None:
    body = {"account": "123456", "vrn": "AB1"}
    eku = x509.ExtendedKeyUsage([kit.CLIENT_AUTH])
    cert, key = kit.custom_leaf(tmp_path, "123456", extra=[(eku, True)])
    assert all(e.critical for e in cert.extensions)  # BasicConstraints, KeyUsage, EKU
    verifier.verify(_signed(cert, key, body), "123456", "bundle", [body], utc_now())


def test_a_certificate_whose_extensions_do_not_parse_is_refused_not_a_crash(
    tmp_path: Path,
) -> None:
    certs.load_or_create_ca(tmp_path)
    cert, _key = kit.custom_leaf(tmp_path, "123456", eku=[kit.CLIENT_AUTH])
    der = cert.public_bytes(serialization.Encoding.DER)
    # the ExtendedKeyUsage OID (2.5.29.37) turned into a second KeyUsage (2.5.29.15)
    twice = x509.load_der_x509_certificate(
        der.replace(bytes([6, 3, 0x55, 0x1D, 0x25]), bytes([6, 3, 0x55, 0x1D, 0x0F]))
    )
    problem = certs._signing_profile_problem(twice)
    assert problem is not None
    assert "do not parse" in problem


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def fresh_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certs, "_pool_next", itertools.count())


@pytest.mark.usefixtures("fresh_pool")
def test_a_new_key_pool_is_private_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = tmp_path / "deep" / "pool"
    monkeypatch.setenv(certs.KEY_POOL_ENV, str(pool))
    old = os.umask(0)
    try:
        certs._new_key()
    finally:
        os.umask(old)
    assert stat.S_IMODE(pool.stat().st_mode) == 0o700
    assert [(p.name, stat.S_IMODE(p.stat().st_mode)) for p in pool.iterdir()] == [
        ("key-0.pem", 0o600)
    ]


def _plant(pool: Path, key: rsa.RSAPrivateKey) -> None:
    for n in range(3):
        (pool / f"key-{n}.pem").write_bytes(_pem(key))


def _other_users(pool: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a folder of another user needs root")
    pool.mkdir(mode=0o700)
    os.chown(pool, 65534, 65534)  # nobody's, as if made first by another local user


def _ours_open_to_group(pool: Path) -> None:
    pool.mkdir()
    pool.chmod(0o770)


def _ours_open_to_all(pool: Path) -> None:
    pool.mkdir()
    pool.chmod(0o1777)


def _symlink_to_private(pool: Path) -> None:
    target = pool.with_name("elsewhere")
    target.mkdir(mode=0o700)
    pool.symlink_to(target)


@pytest.mark.usefixtures("fresh_pool")
@pytest.mark.parametrize(
    ("make", "why"),
    [
        pytest.param(_other_users, "belongs to uid 65534", id="other-user"),
        pytest.param(_ours_open_to_group, "0770", id="group-writable"),
        pytest.param(_ours_open_to_all, "1777", id="world-writable"),
        pytest.param(_symlink_to_private, "symbolic link", id="symlink"),
    ],
)
def test_a_key_pool_someone_else_could_have_planted_is_not_used(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[Path], None],
    why: str,
) -> None:
    """``CentralProcess`` points at ``/tmp/rocars-demo-keys-$UID``, a name any local user
    can take first: keys found there may be known to someone else, and the demo CA's key
    is one of them."""
    pool = tmp_path / "rocars-demo-keys"
    make(pool)
    planted = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _plant(pool.resolve(), planted)
    before = sorted(p.name for p in pool.resolve().iterdir())
    monkeypatch.setenv(certs.KEY_POOL_ENV, str(pool))
    ca = certs.load_or_create_ca(tmp_path / "certs")
    assert _public_of(ca) != _public(planted)
    assert sorted(p.name for p in pool.resolve().iterdir()) == before, "wrote to that folder"
    assert why in caplog.text
    assert str(pool) in caplog.text


@pytest.mark.usefixtures("fresh_pool")
def test_a_key_pool_path_that_is_a_file_gives_fresh_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pool = tmp_path / "pool"
    pool.write_text("not a folder")
    monkeypatch.setenv(certs.KEY_POOL_ENV, str(pool))
    certs._new_key()
    assert pool.read_text() == "not a folder"
    assert "not a folder" in caplog.text


def _public_of(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_the_demo_cas_key_and_a_drivers_p12_are_private_from_their_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written and then chmod-ed to 0600, under umask 022 the CA's key and each .p12 were
    readable by every local user until the chmod, and for good had it never come (a
    crash: here a chmod that fails)."""

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("stopped before the chmod")

    folder = tmp_path / "certs"
    monkeypatch.setattr(os, "chmod", crash)
    old = os.umask(0o022)
    try:
        with contextlib.suppress(OSError):
            create_driver_certs(
                folder,
                [DriverCert("123456", "A", "246810", "valid")],
                utc_now(),
                lambda serial: None,
            )
    finally:
        os.umask(old)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {
        certs.CA_KEY_FILE: 0o600,
        certs.CA_FILE: 0o644,
        "123456.p12": 0o600,
    }

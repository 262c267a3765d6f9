"""Signing with a driver's .p12: the signature the centre checks, and the local refusals."""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kiosk.certs import MAX_CERT_BYTES, CertificateError, list_certificates, sign_with_certificate
from rocars.models import signed_content
from tests.kiosk.conftest import Backend


def test_signature_verifies_over_the_signed_content(backend: Backend) -> None:
    account = backend.account("valid")
    body = {"account": account["account"], "vrn": "KX1", "ccrns": ["1001041283"]}
    now = datetime.now(UTC)
    auth = sign_with_certificate(
        Path(account["cert_path"]), account["cert_pin"], "bundle", body, now
    )
    cert = x509.load_pem_x509_certificate(auth.certificate.encode())
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(
        base64.b64decode(auth.signature),
        signed_content("bundle", body, auth.signed_at),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_wrong_pin_expired_and_not_a_certificate(backend: Backend, tmp_path: Path) -> None:
    valid, expired = backend.account("valid"), backend.account("expired")
    now = datetime.now(UTC)
    cases = [
        (Path(valid["cert_path"]), "999999", "pin_wrong"),
        (Path(expired["cert_path"]), expired["cert_pin"], "cert_expired"),
    ]
    (tmp_path / "junk.p12").write_bytes(b"junk")
    (tmp_path / "big.p12").write_bytes(b"0" * (MAX_CERT_BYTES + 1))
    cases += [
        (tmp_path / "junk.p12", "1", "pin_wrong"),
        (tmp_path / "big.p12", "1", "cert_unreadable"),
    ]
    cases.append((tmp_path / "gone.p12", "1", "cert_unreadable"))
    for path, pin, key in cases:
        with pytest.raises(CertificateError) as refused:
            sign_with_certificate(path, pin, "bundle", {}, now)
        assert refused.value.key == key, path


def test_lists_only_certificate_files(backend: Backend, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    shutil.copyfile(backend.account("valid")["cert_path"], tmp_path / "sub" / "ME.PFX")
    (tmp_path / "a.p12").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_certificates(tmp_path)] == ["a.p12", "ME.PFX"]
    assert list_certificates(tmp_path / "no-stick") == []

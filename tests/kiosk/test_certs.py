"""Signing with a driver's .p12: the signature the centre checks, and the local refusals."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from hardware_sim.certs import DriverCert, create_driver_certs
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


def _p12(tmp_path: Path, pin: str) -> Path:
    """A driver's .p12 from a CA of its own (no centre needed)."""
    now = datetime.now(UTC)
    paths = create_driver_certs(
        tmp_path, [DriverCert("123456", "A", pin, "valid")], now, lambda serial: None
    )
    return paths["123456"]


@pytest.mark.parametrize(
    ("pin", "outcome"),
    [("246810", contextlib.nullcontext()), ("999999", pytest.raises(CertificateError))],
    ids=["right-pin", "wrong-pin"],
)
def test_the_p12_and_pin_buffers_are_zeroed_after_parsing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pin: str,
    outcome: contextlib.AbstractContextManager[Any],
) -> None:
    """What the parser read the file and the PIN from is one mutable buffer each, all
    zeros once signing is over, right PIN or wrong."""
    path = _p12(tmp_path, "246810")
    size = path.stat().st_size
    seen: list[tuple[Any, Any]] = []
    real = pkcs12.load_key_and_certificates

    def spy(data: Any, password: Any, *args: Any) -> Any:
        seen.append((data, password))
        assert bytes(data) == path.read_bytes()  # the whole file, as read
        return real(data, password, *args)

    monkeypatch.setattr(pkcs12, "load_key_and_certificates", spy)
    with outcome:
        sign_with_certificate(path, pin, "bundle", {}, datetime.now(UTC))
    ((data, password),) = seen
    assert isinstance(data, bytearray)
    assert isinstance(password, bytearray)
    assert len(data) == size
    assert not any(data), "the buffer the .p12 was parsed from is not zeroed"
    assert not any(password), "the PIN buffer is not zeroed"


def test_a_p12_that_grows_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size is taken before reading: a file longer than that is not read on."""
    path = _p12(tmp_path, "246810")
    real_fstat = os.fstat

    def smaller(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((*st[:6], st.st_size - 10, *st[7:]))

    monkeypatch.setattr(os, "fstat", smaller)
    with pytest.raises(CertificateError) as refused:
        sign_with_certificate(path, "246810", "bundle", {}, datetime.now(UTC))
    assert refused.value.key == "cert_unreadable"

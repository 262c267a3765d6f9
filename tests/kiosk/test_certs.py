"""Signing with a driver's .p12: the signature the centre checks, and the local refusals."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12
from cryptography.x509.oid import NameOID

from hardware_sim.certs import DriverCert, create_driver_certs
from kiosk.api import KioskClient
from kiosk.certs import MAX_CERT_BYTES, CertificateError, list_certificates, sign_with_certificate
from kiosk.flows import MEDIA_HOLD_S, Call, Kiosk, Screen
from rocars.models import signed_content
from tests.kiosk.conftest import Backend, copy_cert
from tests.kiosk.test_flows import to_sign_method


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
        (tmp_path / "junk.p12", "1", "cert_unreadable"),
        (tmp_path / "big.p12", "1", "cert_unreadable"),
    ]
    cases.append((tmp_path / "gone.p12", "1", "cert_unreadable"))
    for path, pin, key in cases:
        with pytest.raises(CertificateError) as refused:
            sign_with_certificate(path, pin, "bundle", {}, now)
        assert refused.value.key == key, path


def _no_pin(path: Path) -> None:
    """A driver's key and certificate in a PKCS#12 with no PIN (as some tools export)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "A")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"A", key, cert, None, NoEncryption()))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _noise_in_a_sequence(path: Path) -> None:
    path.write_bytes(b"\x30\x82\x00\x10" + b"x" * 16)


def _cut_short(path: Path) -> None:
    path.write_bytes(_p12(path.parent, "246810").read_bytes()[:-40])


def _with_a_pin(path: Path) -> None:
    path.write_bytes(_p12(path.parent, "246810").read_bytes())


@pytest.mark.parametrize(
    ("make", "key"),
    [
        pytest.param(_no_pin, "cert_no_pin", id="no-pin"),
        pytest.param(_empty, "cert_unreadable", id="empty"),
        pytest.param(_noise_in_a_sequence, "cert_unreadable", id="noise"),
        pytest.param(_cut_short, "cert_unreadable", id="cut-short"),
        pytest.param(_with_a_pin, "pin_wrong", id="a-real-one"),
    ],
)
def test_a_file_no_pin_opens_is_not_called_a_wrong_pin(
    tmp_path: Path, make: Callable[[Path], None], key: str
) -> None:
    """Before, every file the PIN did not open was ``pin_wrong``, and a driver went on
    trying PINs on a file with none, an empty or a damaged one."""
    path = tmp_path / "stick" / "me.p12"
    path.parent.mkdir()
    make(path)
    for pin in ("999999", "1"):
        with pytest.raises(CertificateError) as refused:
            sign_with_certificate(path, pin, "bundle", {}, datetime.now(UTC))
        assert refused.value.key == key


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _elements(data: bytes) -> list[bytes]:
    """The DER elements inside the SEQUENCE ``data`` (definite lengths)."""
    at = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
    out = []
    while at < len(data):
        first = data[at + 1]
        start = at + 2 + (first & 0x7F if first & 0x80 else 0)
        size = first if first < 0x80 else int.from_bytes(data[at + 2 : start], "big")
        out.append(data[at : start + size])
        at = start + size
    return out


def test_a_file_that_asks_for_millions_of_rounds_is_refused_before_it_is_opened(
    tmp_path: Path,
) -> None:
    """The integrity check's rounds are the file's to say: 2^31 (64 KiB can ask for it)
    held the kiosk's worker for minutes on every PIN tried. Over 10 million: refused at
    once, unreadable; the real file's count (thousands) is read in place and opens."""
    real = _p12(tmp_path, "246810").read_bytes()
    version, auth_safe, mac = _elements(real)
    digest, salt, _count = _elements(mac)
    rounds = (1 << 31) - 1
    count = _der(0x02, rounds.to_bytes(4, "big"))
    hostile = _der(0x30, version + auth_safe + _der(0x30, digest + salt + count))
    path = tmp_path / "slow.p12"
    path.write_bytes(hostile)
    started = datetime.now(UTC)
    with pytest.raises(CertificateError) as refused:
        sign_with_certificate(path, "246810", "bundle", {}, datetime.now(UTC))
    assert refused.value.key == "cert_unreadable"
    assert datetime.now(UTC) - started < timedelta(seconds=5)
    auth = sign_with_certificate(_p12(tmp_path, "246810"), "246810", "bundle", {}, started)
    assert auth.signature


@pytest.mark.parametrize(
    ("sealed", "encoding"),
    [(False, "der"), (True, "der"), (True, "ber_auth_safe"), (True, "long_length")],
)
def test_a_file_with_no_integrity_check_is_refused_before_it_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sealed: bool, encoding: str
) -> None:
    """A PKCS#12 with no MacData: with its key in the clear it opens with any PIN (anyone
    holding the file could sign with it); with its key sealed, any PIN goes to the key's
    own decryption, whose rounds nothing bounds (2^31 in 2 KB: some ten minutes of a core
    for every PIN tried, found in review). Refused as unreadable before the library is
    asked (before 2026-12-07 the first was refused as having no PIN, the second opened)."""
    path = tmp_path / "nomac.p12"
    if sealed:
        path.write_bytes(_p12(tmp_path, "246810").read_bytes())
    else:
        _no_pin(path)
    version, auth_safe, _mac = _elements(path.read_bytes())
    content = version + auth_safe
    if encoding == "ber_auth_safe":  # the library reads BER too (found in the re-review)
        inner = _elements(_der(0x30, auth_safe))[0]
        head = 2 + (inner[1] & 0x7F if inner[1] & 0x80 else 0)
        content = version + bytes([inner[0], 0x80]) + inner[head:] + b"\x00\x00"
    if encoding == "long_length":  # a length in more octets than it needs
        path.write_bytes(b"\x30\x85" + len(content).to_bytes(5, "big") + content)
    else:
        path.write_bytes(_der(0x30, content))

    def never(*_: object) -> None:
        raise AssertionError("the library was asked to open a file with no MAC")

    monkeypatch.setattr("kiosk.certs.pkcs12.load_key_and_certificates", never)
    with pytest.raises(CertificateError) as refused:
        sign_with_certificate(path, "246810", "bundle", {}, datetime.now(UTC))
    assert refused.value.key == "cert_unreadable"
    assert "no integrity check" in str(refused.value) or encoding == "long_length"


def test_a_file_no_pin_opens_takes_the_driver_back_to_the_list(
    backend: Backend, tmp_path: Path
) -> None:
    """The PIN screen is for a PIN that could open the file: for one no PIN opens, the
    driver is told why on the list of certificates, to pick another or go back to the
    security code."""
    account = backend.account("valid", 1)
    model = Kiosk(KioskClient(backend.api.url), media=tmp_path)
    to_sign_method(model, backend, account)
    _no_pin(tmp_path / "nopin.p12")
    copy_cert(backend, account, tmp_path)
    model.choose_certificate()
    assert model.screen == Screen.SIGN_CERT, model.notice
    model.pick_certificate(tmp_path / "nopin.p12")
    model.set_input("pin", account["cert_pin"])
    model.submit_pin()
    assert model.notice is not None
    assert model.notice.key == "cert_no_pin"
    assert model.screen == Screen.SIGN_CERT
    assert model.certificate is None
    assert not model.pin
    # the right file from the same list signs
    model.pick_certificate(next(p for p in model.certificates if p.name != "nopin.p12"))
    model.set_input("pin", account["cert_pin"])
    model.submit_pin()
    assert model.result is not None, model.notice  # bundled


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
    # then a try with none, from the same buffer: after the right PIN, that the file
    # needs one; after a wrong one, whether it has one (``cert_no_pin``)
    (data, password), *after = seen
    assert [p for _, p in after] == [None]
    assert all(d is data for d, _ in after)
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


def test_signing_with_a_certificate_is_the_stick_s_call_and_sending_another(
    backend: Backend, tmp_path: Path
) -> None:
    """The certificate is read off the stick (and signs) in a call of its own, with the
    stick's hold on the idle clock; the signed request goes out in the next: a stick that
    hangs mid-read neither holds the session nor a thread the sending needs."""
    account = backend.account("valid", 0)
    model = Kiosk(KioskClient(backend.api.url), media=tmp_path)
    calls: list[tuple[str, float | None]] = []

    def recorded(call: Call) -> None:
        calls.append((call.label, call.hold_s))
        model._run_now(call)

    model.executor = recorded
    to_sign_method(model, backend, account)
    copy_cert(backend, account, tmp_path)
    model.choose_certificate()
    model.pick_certificate(model.certificates[0])
    model.set_input("pin", account["cert_pin"])
    model.submit_pin()
    assert model.result is not None, model.notice  # bundled
    assert calls[-3:] == [
        ("list certificates", MEDIA_HOLD_S),
        ("sign", MEDIA_HOLD_S),
        ("bundle", None),
    ]

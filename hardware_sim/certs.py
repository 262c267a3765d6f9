"""The demo certificate authority, drivers' PKCS#12 files, and signature checks.

Stands in for the e-Cert / ID-Cert infrastructure: one self-signed RSA-2048 CA per data
folder (``DATA/certs/ca.pem``), a leaf per demo driver whose subject carries the account
number (``UID``), written as ``DATA/certs/{account}.p12`` protected by the driver's PIN.
A request is signed with RSA PKCS#1 v1.5 SHA-256 over ``rocars.models.signed_content``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from hardware_sim.store import CentralError
from rocars.models import CertificateAuth, signed_content
from rocars.timeutil import to_rfc3339, utc_now

logger = logging.getLogger(__name__)

#: How far a signature's ``signed_at`` may be from the centre's clock.
SIGNATURE_MAX_AGE = timedelta(minutes=5)
CA_FILE = "ca.pem"
CA_KEY_FILE = "ca.key.pem"


#: Optional folder of reusable demo keys (``CentralProcess`` sets it for its children):
#: making RSA keys is most of a new centre's start-up time, and tests start many centres.
KEY_POOL_ENV = "ROCARS_DEMO_KEY_POOL"
_pool_next = itertools.count()


def _new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key, or the next unused one of the key pool in this process.

    Keys from the pool are distinct within a process (so within one data folder); only
    demo data uses them.
    """
    pool = os.environ.get(KEY_POOL_ENV)
    if not pool:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = Path(pool) / f"key-{next(_pool_next)}.pem"
    try:
        # Our own files: skip the consistency check, which costs as much as a new key.
        key = serialization.load_pem_private_key(
            path.read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
        if isinstance(key, rsa.RSAPrivateKey):
            return key
    except (OSError, ValueError):
        pass  # not made yet (or damaged): make it
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return key


def _ca(name: str, now: datetime) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ROCARS demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def load_or_create_ca(certs_dir: Path, now: datetime | None = None) -> x509.Certificate:
    """The data folder's CA certificate, made (with its key) the first time."""
    certs_dir.mkdir(parents=True, exist_ok=True)
    cert_path = certs_dir / CA_FILE
    if not cert_path.exists():
        cert, key = _ca("ROCARS demo CA", now or utc_now())
        key_path = certs_dir / CA_KEY_FILE
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        logger.info("created the demo CA in %s", certs_dir)
    return x509.load_pem_x509_certificate(cert_path.read_bytes())


def _load_ca_key(certs_dir: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(
        (certs_dir / CA_KEY_FILE).read_bytes(), None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CentralError("the demo CA key is not RSA", key="cert_untrusted", status=500)
    return key


def issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    account: str,
    name: str,
    not_before: datetime,
    not_after: datetime,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A driver's certificate: subject ``UID`` = the 6-digit account."""
    key = _new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, name),
                    x509.NameAttribute(NameOID.USER_ID, account),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def write_p12(
    path: Path,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    pin: str,
) -> None:
    data = pkcs12.serialize_key_and_certificates(
        name=cert.subject.rfc4514_string().encode(),
        key=key,
        cert=cert,
        cas=[ca_cert],
        encryption_algorithm=serialization.BestAvailableEncryption(pin.encode()),
    )
    path.write_bytes(data)
    path.chmod(0o600)


def load_p12(path: Path, pin: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The leaf and its key; ValueError for a wrong PIN or a file that is not PKCS#12."""
    key, cert, _cas = pkcs12.load_key_and_certificates(path.read_bytes(), pin.encode())
    if cert is None or not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} holds no RSA key and certificate")
    return cert, key


def sign_request(
    p12_path: Path, pin: str, op: str, body: dict[str, Any], signed_at: datetime | None = None
) -> dict[str, Any]:
    """The ``auth`` object (``CertificateAuth`` as JSON) for a request signed with a .p12."""
    cert, key = load_p12(p12_path, pin)
    at = signed_at or utc_now()
    signature = key.sign(signed_content(op, body, at), padding.PKCS1v15(), hashes.SHA256())
    return {
        "method": "certificate",
        "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "signature": base64.b64encode(signature).decode(),
        "signed_at": to_rfc3339(at),
    }


def account_of(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
    return str(attrs[0].value) if attrs else None


def _refuse(key: str, message: str, **params: Any) -> CentralError:
    return CentralError(message, key=key, status=403, **params)


class CertVerifier:
    """Checks a ``CertificateAuth``: chain, dates, revocation, signature, account, age."""

    def __init__(self, ca_cert: x509.Certificate, is_revoked: Callable[[int], bool]) -> None:
        self.ca_cert = ca_cert
        self.is_revoked = is_revoked

    def verify(
        self,
        auth: CertificateAuth,
        account: str,
        op: str,
        bodies: Sequence[dict[str, Any]],
        now: datetime,
    ) -> None:
        """``bodies``: the request as received and as normalised; one of them must verify."""
        try:
            cert = x509.load_pem_x509_certificate(auth.certificate.encode())
        except ValueError as err:
            raise _refuse("cert_untrusted", f"not a PEM certificate: {err}") from err
        try:
            cert.verify_directly_issued_by(self.ca_cert)
        except (ValueError, TypeError, InvalidSignature) as err:
            raise _refuse(
                "cert_untrusted", f"certificate not issued by the ROCARS CA: {err}"
            ) from err
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise _refuse(
                "cert_expired",
                "certificate is outside its validity period",
                not_after=to_rfc3339(cert.not_valid_after_utc),
            )
        if self.is_revoked(cert.serial_number):
            raise _refuse("cert_revoked", "certificate is revoked")
        public_key = cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise _refuse("cert_untrusted", "certificate key is not RSA")
        try:
            signature = base64.b64decode(auth.signature, validate=True)
        except (binascii.Error, ValueError) as err:
            raise _refuse("cert_signature_invalid", "signature is not base64") from err
        if not any(self._verifies(public_key, signature, op, b, auth.signed_at) for b in bodies):
            raise _refuse("cert_signature_invalid", "signature does not verify")
        if account_of(cert) != account:
            raise _refuse("cert_account_mismatch", "certificate belongs to another account")
        if abs(now - auth.signed_at) > SIGNATURE_MAX_AGE:
            raise _refuse(
                "cert_signature_stale",
                "signature is more than 5 minutes from the centre's clock",
                signed_at=to_rfc3339(auth.signed_at),
            )

    @staticmethod
    def _verifies(
        public_key: rsa.RSAPublicKey,
        signature: bytes,
        op: str,
        body: dict[str, Any],
        signed_at: datetime,
    ) -> bool:
        try:
            public_key.verify(
                signature, signed_content(op, body, signed_at), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class DriverCert:
    """Which certificate a demo driver gets: ``valid``, ``expired``, ``revoked``, ``foreign``."""

    account: str
    name: str
    pin: str
    case: str


def create_driver_certs(
    certs_dir: Path, drivers: Sequence[DriverCert], now: datetime, revoke: Callable[[int], None]
) -> dict[str, Path]:
    """Write each driver's .p12; ``revoked`` ones go on the list, ``foreign`` from another CA."""
    ca_cert = load_or_create_ca(certs_dir, now)
    ca_key = _load_ca_key(certs_dir)
    foreign: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None
    paths: dict[str, Path] = {}
    for driver in drivers:
        issuer_cert, issuer_key = ca_cert, ca_key
        not_before, not_after = now - timedelta(days=30), now + timedelta(days=365)
        if driver.case == "expired":
            not_before, not_after = now - timedelta(days=400), now - timedelta(days=1)
        elif driver.case == "foreign":
            foreign = foreign or _ca("Some other CA", now)
            issuer_cert, issuer_key = foreign
        cert, key = issue_leaf(
            issuer_cert, issuer_key, driver.account, driver.name, not_before, not_after
        )
        if driver.case == "revoked":
            revoke(cert.serial_number)
        path = certs_dir / f"{driver.account}.p12"
        write_p12(path, cert, key, issuer_cert, driver.pin)
        paths[driver.account] = path
    return paths

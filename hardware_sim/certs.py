"""The demo certificate authority, drivers' PKCS#12 files, and signature checks.

Stands in for the e-Cert / ID-Cert infrastructure: one self-signed RSA-2048 CA per data
folder (``DATA/certs/ca.pem``), a leaf per demo driver whose subject carries the account
number (``UID``), written as ``DATA/certs/{account}.p12`` protected by the driver's PIN.
A request is signed with RSA PKCS#1 v1.5 SHA-256 over ``rocars.models.signed_content``;
a signature the centre accepted does not work a second time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import itertools
import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from hardware_sim.store import CentralError
from rocars.certs import key_usage
from rocars.files import write_atomically
from rocars.models import CertificateAuth, signed_content
from rocars.timeutil import to_rfc3339, utc_now

logger = logging.getLogger(__name__)

#: How far a signature's ``signed_at`` may be from the centre's clock.
SIGNATURE_MAX_AGE = timedelta(minutes=5)
#: How long past its ``signed_at`` an accepted signature is remembered: its window, and a
#: minute more, so a copy that passed the age check just before the window closed still
#: finds it even if another request's clean-up ran in between.
SIGNATURE_KEPT = SIGNATURE_MAX_AGE + timedelta(minutes=1)
CA_FILE = "ca.pem"
CA_KEY_FILE = "ca.key.pem"


#: Optional folder of reusable demo keys (``CentralProcess`` sets it for its children):
#: making RSA keys is most of a new centre's start-up time, and tests start many centres.
KEY_POOL_ENV = "ROCARS_DEMO_KEY_POOL"
_pool_next = itertools.count()
_pool_refused: set[str] = set()


def _open_pool(path: Path) -> tuple[int | None, str]:
    """The pool folder opened (made 0700 if new), or None and why it is not used.

    A key found in the pool becomes the demo CA's key or a driver's, so the folder must be
    one nobody else can have written: a real folder (not a symbolic link) of this user,
    closed to group and others. The default lives in the shared temp folder, where any
    local user could make it first. The checks run on the opened folder itself, and its
    files are then reached through that descriptor, so the name cannot be swapped between
    the check and the use.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        named = os.lstat(path)
        if stat.S_ISLNK(named.st_mode):
            return None, "it is a symbolic link"
        if not stat.S_ISDIR(named.st_mode):
            return None, "it is not a folder"
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        return None, f"it cannot be opened: {err}"
    opened = os.fstat(fd)
    if opened.st_uid != os.geteuid():
        problem = f"it belongs to uid {opened.st_uid}, not {os.geteuid()}"
    elif opened.st_mode & 0o077:
        problem = f"its mode {stat.S_IMODE(opened.st_mode):04o} lets others in (want 0700)"
    else:
        return fd, ""
    os.close(fd)
    return None, problem


def _pool_key(pool: int, name: str) -> rsa.RSAPrivateKey | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pool)
        with os.fdopen(fd, "rb") as file:
            data = file.read()
        # Our own files: skip the consistency check, which costs as much as a new key.
        key = serialization.load_pem_private_key(data, None, unsafe_skip_rsa_key_validation=True)
    except (OSError, ValueError):
        return None  # not made yet (or damaged): make it
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def _save_pool_key(pool: int, name: str, key: rsa.RSAPrivateKey) -> None:
    tmp = f"{name}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=pool)
    fd = os.open(
        tmp,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
        dir_fd=pool,
    )
    with os.fdopen(fd, "wb") as file:
        file.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    os.replace(tmp, name, src_dir_fd=pool, dst_dir_fd=pool)


def _new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key, or the next unused one of the key pool in this process.

    Keys from the pool are distinct within a process (so within one data folder); only
    demo data uses them. A pool folder that is not safe (``_open_pool``) is left alone,
    with a warning, and the keys are made fresh.
    """
    path = os.environ.get(KEY_POOL_ENV)
    if not path:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pool, problem = _open_pool(Path(path))
    if pool is None:
        if path not in _pool_refused:
            _pool_refused.add(path)
            logger.warning("not using the demo key pool %s: %s; making new keys", path, problem)
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    try:
        name = f"key-{next(_pool_next)}.pem"
        key = _pool_key(pool, name)
        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            try:
                _save_pool_key(pool, name, key)
            except OSError as err:  # the pool only saves time: a key not kept is fine
                logger.warning("could not keep a demo key in %s: %s", path, err)
        return key
    finally:
        os.close(pool)


#: A driver certificate's extensions, each with whether it is critical: the profile
#: ``CertVerifier`` asks for. Not a CA, a key for digital signatures only, for client
#: authentication (the driver proves who signs the request).
DRIVER_EXTENSIONS: tuple[tuple[x509.ExtensionType, bool], ...] = (
    (x509.BasicConstraints(ca=False, path_length=None), True),
    (key_usage(digital_signature=True), True),
    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
)

#: The extensions the centre reads when it checks a driver's certificate
#: (``_signing_profile_problem``). RFC 5280 4.2: a certificate with any other extension
#: marked critical is refused, whether or not ``cryptography`` can parse it: its issuer
#: said it must not be used by one who ignores it, and the centre would ignore it.
PROCESSED_EXTENSIONS = frozenset(
    {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE}
)


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
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def load_or_create_ca(certs_dir: Path, now: datetime | None = None) -> x509.Certificate:
    """The data folder's CA certificate, made (with its key) the first time."""
    certs_dir.mkdir(parents=True, exist_ok=True)
    cert_path = certs_dir / CA_FILE
    if not cert_path.exists():
        cert, key = _ca("ROCARS demo CA", now or utc_now())
        # 0600 from its creation: written then chmod-ed, the key was readable by every
        # local user in between (umask 022), and for good after a crash there
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_atomically(certs_dir / CA_KEY_FILE, key_pem, 0o600)
        write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
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
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = DRIVER_EXTENSIONS,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A driver's certificate: subject ``UID`` = the 6-digit account.

    ``extensions`` (each with whether it is critical): the driver profile, unless a test
    asks for others (``tests/hardware_sim/centralkit.custom_leaf``).
    """
    key = _new_key()
    builder = (
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
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(ca_key, hashes.SHA256()), key


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
    write_atomically(path, data, 0o600)  # 0600 from its creation, as the CA's key


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
    return certificate_auth(cert, key, op, body, signed_at)


def certificate_auth(
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    op: str,
    body: dict[str, Any],
    signed_at: datetime | None = None,
) -> dict[str, Any]:
    """The ``auth`` object for a request signed with ``key``, showing ``cert``."""
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


_E = TypeVar("_E", bound=x509.ExtensionType)


def _extension(extensions: x509.Extensions, kind: type[_E]) -> _E | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _extension_name(extension: x509.Extension[x509.ExtensionType]) -> str:
    """``SubjectAlternativeName (2.5.29.17)``, or the bare OID for one ``cryptography``
    does not know."""
    oid = extension.oid.dotted_string
    if isinstance(extension.value, x509.UnrecognizedExtension):
        return oid
    return f"{type(extension.value).__name__} ({oid})"


def _signing_profile_problem(cert: x509.Certificate) -> str | None:
    """Why ``cert`` may not sign a driver's request (RFC 5280 4.2, 4.2.1.3, .9, .12), or None.

    A driver's certificate is an end entity whose KeyUsage allows digital signatures; a
    CA's key or a key meant for encryption only must not sign, even when the CA issued
    it. ExtendedKeyUsage is optional, but when present it must allow client auth. No
    other extension may be critical (``PROCESSED_EXTENSIONS``).
    """
    try:
        extensions = cert.extensions
    except (ValueError, x509.DuplicateExtension) as err:
        return f"its extensions do not parse: {err}"
    unprocessed = [
        _extension_name(e) for e in extensions if e.critical and e.oid not in PROCESSED_EXTENSIONS
    ]
    if unprocessed:
        return f"it has a critical extension the centre does not process: {', '.join(unprocessed)}"
    basic = _extension(extensions, x509.BasicConstraints)
    usage = _extension(extensions, x509.KeyUsage)
    if (basic is not None and basic.ca) or (usage is not None and usage.key_cert_sign):
        return "it is a CA certificate"
    if usage is None:
        return "it has no KeyUsage"
    if not usage.digital_signature:
        return "its KeyUsage does not allow digitalSignature"
    eku = _extension(extensions, x509.ExtendedKeyUsage)
    if eku is not None and not {
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    } & set(eku):
        return "its ExtendedKeyUsage does not allow clientAuth"
    return None


class CertVerifier:
    """Checks a ``CertificateAuth``: chain and profile, dates, revocation, signature,
    account, age, and that the signature was not accepted before.

    ``claim_signature(digest, keep_until, now)`` records a signature's SHA-256 and says
    whether it was new (``Store.claim_cert_signature``): atomic, so of two requests with
    one signature only one is accepted.
    """

    def __init__(
        self,
        ca_cert: x509.Certificate,
        is_revoked: Callable[[int], bool],
        claim_signature: Callable[[bytes, datetime, datetime], bool],
    ) -> None:
        self.ca_cert = ca_cert
        self.is_revoked = is_revoked
        self.claim_signature = claim_signature

    def verify(
        self,
        auth: CertificateAuth,
        account: str,
        op: str,
        bodies: Sequence[dict[str, Any]],
        now: datetime,
    ) -> None:
        """``bodies``: the request as received and as normalised; one of them must verify.

        A signature that passes every other check is used up here, last: a copy that does
        not verify, or is stale, is refused as that. It stays used whatever becomes of the
        request after (an unknown or bundled CCRN, a cancelled bundle), like an accepted
        security code, so a captured request refused once cannot pass later when the
        state has changed; the kiosk signs each attempt anew.
        """
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
        problem = _signing_profile_problem(cert)
        if problem is not None:
            raise _refuse("cert_not_for_signing", f"certificate may not sign requests: {problem}")
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
        digest = hashlib.sha256(signature).digest()
        if not self.claim_signature(digest, auth.signed_at + SIGNATURE_KEPT, now):
            raise _refuse(
                "cert_signature_used",
                "signature already used: the kiosk must sign again",
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

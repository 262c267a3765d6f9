"""The broker's TLS files: a site CA and a server certificate made here, or the site's own.

Booth PCs reach the control point server's broker over the booth LAN. Over plain MQTT
every device's password crosses that LAN in clear, and whoever reads ``avrs-L01``'s can
publish plate reads for lane L01. With TLS the devices check the broker's certificate
against ``ca.crt`` (their ``ROCARS_MQTT_CAFILE``) and its name against the address they
were given, so a password goes only to the real broker.

Two ways to get the files, both written into the broker folder as ``server.crt``,
``server.key`` (0600, the broker's user) and ``ca.crt`` (0644: what every device trusts):

- ``site_tls``: a site CA made here (``ca.key`` stays in the folder, 0600 and root's,
  only to re-issue the server's certificate: move it offline if the site wants) and a
  server certificate for the names and addresses devices use, re-issued on a re-run when
  those change, it ends within ``RENEW_DAYS`` or it has not begun (made while the clock
  ran ahead). A site CA that has not begun is refused: a new one means a new ``ca.crt``
  on every device, which only the operator can do.
- ``own_tls``: a certificate (with its chain) and key from the site's own PKI, with the
  CA that devices are to trust.

Either way the certificate is checked as a device will check it, with the web PKI rules
of ``cryptography.x509.verification`` (RFC 5280 path, validity now, the name in its
subjectAltName), before anything is written: an expired certificate, a key that is not
the certificate's or a name it does not cover is refused with the reason.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from rocars.certs import key_usage
from rocars.files import write_atomically

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
#: the broker's certificate, as broker-config names it in the agents' .env files (the
#: agent names it near its end; ``broker_certificate`` in sync.toml says otherwise)
BROKER_CERTIFICATE_ENV = "ROCARS_BROKER_CERTIFICATE"
SERVER_KEY = "server.key"
#: the sync agent's local API (the kiosks' calls) on the same server: its own key, from
#: the same site CA, readable by the agent's user only
API_CERT = "api.crt"
API_KEY = "api.key"
#: the certificates each TLS set-up makes: (certificate, key) file names
LEAVES = ((SERVER_CERT, SERVER_KEY), (API_CERT, API_KEY))

CA_DAYS = 3650
SERVER_DAYS = 825
#: a re-run re-issues a server certificate that ends within this many days
RENEW_DAYS = 30
#: a certificate starts this much before it was made: a device's clock a little behind
BACKDATE = dt.timedelta(minutes=10)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


class TlsFilesError(ValueError):
    """The TLS files cannot be made or used; the message says why. Nothing was written."""


Host = ipaddress.IPv4Address | ipaddress.IPv6Address | str


def parse_hosts(names: Sequence[str]) -> list[Host]:
    """The addresses and DNS names devices use to reach the broker, each checked."""
    hosts: list[Host] = []
    for name in names:
        try:
            hosts.append(ipaddress.ip_address(name))
            continue
        except ValueError:
            pass
        if len(name) > 253 or not _HOSTNAME.match(name):
            raise TlsFilesError(f"{name!r} is neither an IP address nor a host name")
        hosts.append(name.lower())
    if not hosts:
        raise TlsFilesError("TLS needs the names or addresses devices use for the broker")
    if len(set(hosts)) != len(hosts):
        raise TlsFilesError(f"a host appears twice: {', '.join(map(str, hosts))}")
    return hosts


def _subject(host: Host) -> verification.Subject:
    if isinstance(host, str):
        return x509.DNSName(host)
    return x509.IPAddress(host)


def check_server(
    chain: Sequence[x509.Certificate],
    key: PrivateKeyTypes,
    roots: Sequence[x509.Certificate],
    hosts: Sequence[Host],
    now: dt.datetime,
) -> None:
    """Refuse (``TlsFilesError``) a server certificate a device would not accept for every
    host now, or whose key is not ``key``."""
    leaf = chain[0]
    if not _same_key(leaf, key):
        raise TlsFilesError("the key is not the server certificate's key")
    if now >= leaf.not_valid_after_utc:
        raise TlsFilesError(
            f"the server certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    if now < leaf.not_valid_before_utc:
        raise TlsFilesError(
            f"the server certificate is not valid until {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    store = verification.Store(list(roots))
    for host in hosts:
        verifier = (
            verification.PolicyBuilder()
            .store(store)
            .time(now)
            .build_server_verifier(_subject(host))
        )
        try:
            verifier.verify(leaf, list(chain[1:]))
        except verification.VerificationError as err:
            raise TlsFilesError(
                f"a device reaching the broker as {host} would refuse its certificate: {err}"
            ) from err


def site_tls(
    out: Path,
    site: str,
    names: Sequence[str],
    *,
    now: dt.datetime | None = None,
    leaf: tuple[str, str] = (SERVER_CERT, SERVER_KEY),
) -> None:
    """Make (or keep) the site CA and a server certificate for ``names`` in ``out``, as
    ``leaf`` (its certificate's and key's file names)."""
    now = now or dt.datetime.now(dt.UTC)
    hosts = parse_hosts(names)
    ca_cert_path, ca_key_path = out / CA_CERT, out / CA_KEY
    ca_key: PrivateKeyTypes | None = None
    if ca_cert_path.exists():
        ca_cert = _load_certs(ca_cert_path)[0]
        if now < ca_cert.not_valid_before_utc:
            # made while this machine's clock ran ahead: every device refuses what it
            # signed until then, and a server certificate issued now would not chain
            raise TlsFilesError(
                f"the site CA is not valid until {ca_cert.not_valid_before_utc:%Y-%m-%d %H:%M} "
                f"UTC (made while this machine's clock ran ahead?): check the clock, remove "
                f"{CA_CERT} and {CA_KEY} and re-run, then copy the new {CA_CERT} to every device"
            )
        if now + dt.timedelta(days=RENEW_DAYS) >= ca_cert.not_valid_after_utc:
            raise TlsFilesError(
                f"the site CA ends on {ca_cert.not_valid_after_utc:%Y-%m-%d}: remove {CA_CERT} and "
                f"{CA_KEY} for a new one, and give every device the new {CA_CERT}"
            )
    elif ca_key_path.exists():
        # a first run stopped between the CA's key and its certificate: the key is the CA
        ca_key = _load_key(ca_key_path)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise TlsFilesError(f"{ca_key_path} is not an EC key: remove it for a new site CA")
        ca_cert = _ca_certificate(ca_key, site, now)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, site, now)
    server_cert_path, server_key_path = out / leaf[0], out / leaf[1]
    if server_cert_path.exists() and server_key_path.exists():
        try:
            chain, key = _load_certs(server_cert_path), _load_key(server_key_path)
            # good now (not one made while the clock ran ahead, which devices refuse until
            # its start) and still in RENEW_DAYS
            for then in (now, now + dt.timedelta(days=RENEW_DAYS)):
                check_server(chain, key, [ca_cert], hosts, then)
            if set(names_of(chain[0])) == {str(h) for h in hosts}:
                # still good: devices need nothing new, and the CA's key is not needed
                # (it may be kept offline)
                if ca_key is not None:
                    _write_ca(out, ca_cert, ca_key)
                return
        except TlsFilesError:
            pass  # re-issued below
    if ca_key is None:
        if not ca_key_path.exists():
            raise TlsFilesError(
                f"a new {leaf[0]} is needed and the site CA's key {ca_key_path} is "
                "not here: bring it back for this run (or remove ca.crt for a new site CA, "
                "and give every device the new one)"
            )
        ca_key = _load_key(ca_key_path)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _server_certificate(server_key, ca_cert, ca_key, hosts, now)
    check_server([server_cert], server_key, [ca_cert], hosts, now)
    out.mkdir(parents=True, exist_ok=True)
    _write_ca(out, ca_cert, ca_key)
    _write(server_key_path, _key_pem(server_key), 0o600)
    _write(server_cert_path, server_cert.public_bytes(serialization.Encoding.PEM), 0o644)


def own_tls(
    out: Path,
    cert: Path,
    key: Path,
    ca: Path,
    names: Sequence[str],
    *,
    now: dt.datetime | None = None,
) -> None:
    """Check the site's own certificate (with its chain), key and CA, then copy them in,
    as each of ``LEAVES`` (the broker's and the local API's)."""
    now = now or dt.datetime.now(dt.UTC)
    hosts = parse_hosts(names)
    chain, private, roots = _load_certs(cert), _load_key(key), _load_certs(ca)
    for root in roots:
        # a server certificate as its own anchor passes the check here, but not a device's
        # OpenSSL, which wants a chain up to a CA
        if not _is_ca(root):
            raise TlsFilesError(
                f"{ca} holds a certificate that is not a CA's: {root.subject.rfc4514_string()}"
            )
    check_server(chain, private, roots, hosts, now)
    out.mkdir(parents=True, exist_ok=True)
    for cert_name, key_name in LEAVES:
        _write(out / key_name, _key_pem(private), 0o600)
        _write(
            out / cert_name,
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
            0o644,
        )
    _write(
        out / CA_CERT, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in roots), 0o644
    )


def load_server_pair(cert: Path, key: Path) -> list[x509.Certificate]:
    """A server's certificate chain from ``cert``, checked to be ``key``'s (not its
    dates: an expired certificate still loads); ``TlsFilesError`` says what is wrong."""
    chain, private = _load_certs(cert), _load_key(key)
    try:
        same = _same_key(chain[0], private)
    except (UnsupportedAlgorithm, ValueError) as err:
        raise TlsFilesError(f"the certificate in {cert} has a key of no known kind") from err
    if not same:
        raise TlsFilesError(f"{key} is not the key of the certificate in {cert}")
    return chain


def certificate_end(path: Path) -> dt.datetime:
    """When the (first) certificate in ``path`` ends, UTC."""
    return certificate_validity(path)[1]


def certificate_validity(path: Path) -> tuple[dt.datetime, dt.datetime]:
    """When the (first) certificate in ``path`` begins and ends, UTC."""
    cert = _load_certs(path)[0]
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def _same_key(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def names_of(cert: x509.Certificate) -> list[str]:
    """The DNS names and addresses in a certificate's subjectAltName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.DNSName)] + [
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    ]


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, site: str, now: dt.datetime
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"rocars-edge broker CA {site}")])
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage(key_cert_sign=True, crl_sign=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: PrivateKeyTypes,
    hosts: Sequence[Host],
    now: dt.datetime,
) -> x509.Certificate:
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TlsFilesError(f"the site CA's key is not an EC key: {type(ca_key).__name__}")
    names: list[x509.GeneralName] = [
        x509.DNSName(h) if isinstance(h, str) else x509.IPAddress(h) for h in hosts
    ]
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(hosts[0]))]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + dt.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            key_usage(digital_signature=True),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _serial() -> int:
    return secrets.randbits(159) | 1  # positive, at most 20 bytes (RFC 5280 §4.1.2.2)


def _load_certs(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as err:
        raise TlsFilesError(f"cannot read {path}: {err.strerror}") from err
    except ValueError as err:
        raise TlsFilesError(f"{path} holds no PEM certificate: {err}") from err
    return certs


def _load_key(path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as err:
        raise TlsFilesError(f"cannot read {path}: {err.strerror}") from err
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        # the error names the file, never its bytes
        raise TlsFilesError(f"{path} holds no unencrypted PEM private key we can use") from err


def _key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_ca(out: Path, cert: x509.Certificate, key: PrivateKeyTypes) -> None:
    if not (out / CA_KEY).exists():
        _write(out / CA_KEY, _key_pem(key), 0o600)
    if not (out / CA_CERT).exists():
        _write(out / CA_CERT, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a new file and a rename: a key is never readable by others on its way."""
    write_atomically(path, data, mode)

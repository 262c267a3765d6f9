"""Digital certificates from removable media: find a .p12, open it with the PIN, sign.

The file's bytes and the PIN are used only inside ``sign_with_certificate``; what leaves
it is the certificate (public) and the signature. The file is read straight into one
``bytearray`` and the PIN encoded into another; the parser is given those buffers (no
``bytes`` copy of either), and both are overwritten with zeros as soon as it returns.
That is all Python lets us promise: the PIN's ``str`` (and the encoder's passing copy)
and the private key inside the key object (OpenSSL's memory, until it is freed) are
not ours to wipe, and the file itself stays on the media.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from kiosk.media import files_on_sticks, open_regular
from kiosk.session import KioskError
from rocars.models import CertificateAuth, signed_content

logger = logging.getLogger(__name__)

CERT_SUFFIXES = (".p12", ".pfx")
#: A PKCS#12 with a chain is a few KiB; anything this big is not one.
MAX_CERT_BYTES = 64 * 1024
MAX_LISTED = 50
#: Folders below a stick's root looked through for certificates.
MAX_DEPTH = 4


class CertificateError(KioskError):
    """The certificate could not be used: ``pin_wrong``, ``cert_no_pin``, ``cert_unreadable``,
    ``cert_expired``..."""

    key = "cert_unreadable"


#: What a file no PIN will open is refused as: told so, a driver picks another file
#: (``kiosk.flows``) instead of trying PINs.
NO_PIN_OPENS = frozenset({"cert_unreadable", "cert_no_pin"})


def list_certificates(media: Path) -> list[Path]:
    """The .p12/.pfx files on the USB sticks under ``media``, in path order, at most
    MAX_LISTED: regular files at a stick's root or up to MAX_DEPTH folders below it, no
    links followed (``kiosk.media.files_on_sticks``: the walk is bounded; the kiosk runs
    it off the GUI thread, and a person waits for it)."""
    return files_on_sticks(media, CERT_SUFFIXES, depth=MAX_DEPTH, limit=MAX_LISTED)


def _wipe(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))


def _fill(file: io.FileIO, data: bytearray) -> bool:
    """Read ``file`` into ``data``; True when it held exactly ``len(data)`` bytes."""
    with memoryview(data) as view:
        done = 0
        while done < len(data):
            got = file.readinto(view[done:])
            if not got:
                return False
            done += got
    return not file.read(1)


def _read(path: Path) -> bytearray:
    """The whole file in a new ``bytearray``, read into it with no ``bytes`` in between.

    Unbuffered, so no copy is left in an ``io`` buffer either. A file over
    ``MAX_CERT_BYTES``, or one that is not as long as its size said, is refused, and so
    is anything but a regular file (a link, a FIFO, a device: ``open_regular``).
    """
    data = bytearray()
    size, whole = 0, False
    try:
        # a regular file only, not through a link: a FIFO would hold the worker for ever
        with io.FileIO(open_regular(path), "rb", closefd=True) as file:
            size = os.fstat(file.fileno()).st_size
            if size <= MAX_CERT_BYTES:
                data = bytearray(size)
                whole = _fill(file, data)
    except OSError as err:
        _wipe(data)
        raise CertificateError(f"cannot read {path.name}: {err}", key="cert_unreadable") from err
    if size > MAX_CERT_BYTES:
        raise CertificateError(f"{path.name} is too large", key="cert_unreadable")
    if not whole:
        _wipe(data)
        raise CertificateError(f"{path.name} changed while read", key="cert_unreadable")
    return data


#: The most PBKDF rounds a certificate file's integrity check may ask for: tools write
#: 2048 to a few hundred thousand; 2^31 (which 64 KiB can ask for) held the kiosk's
#: worker for minutes on every PIN tried
MAX_MAC_ITERATIONS = 10_000_000


def _load(path: Path, pin: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    data = _read(path)
    secret = bytearray()
    try:
        iterations = _mac_iterations(data)
        if iterations is not None and iterations > MAX_MAC_ITERATIONS:
            raise CertificateError(
                f"{path.name} asks for {iterations} rounds to open", key="cert_unreadable"
            )
        if iterations is None:
            # no integrity check to be read: the library takes any PIN to the key's own
            # decryption, whose rounds nothing bounds (2^31: some ten minutes of a core
            # for every PIN tried, found in review). Nor is a file handed over whose
            # check cannot be read here (BER lengths, which the library reads too: the
            # re-review got a MAC-less file past that way). Real e-Cert / ID-Cert files
            # are DER with a MAC
            if not _is_pfx(data):
                raise CertificateError(f"{path.name} is not a PKCS#12 file", key="cert_unreadable")
            raise CertificateError(
                f"{path.name} has no integrity check (MAC) in DER", key="cert_unreadable"
            )
        secret = bytearray(pin, "utf-8")
        key, cert, _chain = pkcs12.load_key_and_certificates(data, secret)
        try:
            pkcs12.load_key_and_certificates(data, None)
        except ValueError:
            pass  # the PIN is needed: as it should be
        else:
            # no integrity check and nothing sealed: any PIN opened it (anyone holding
            # the file could sign with it)
            raise CertificateError(f"{path.name} has no PIN", key="cert_no_pin")
    except ValueError as err:
        # cryptography says "Invalid password or PKCS12 data" for a wrong PIN and a
        # damaged file alike; told "wrong PIN" for a file no PIN opens, a driver would
        # keep trying PINs
        raise _why_not_opened(path, data) from err
    finally:
        _wipe(data)
        _wipe(secret)
    if cert is None or not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateError(f"{path.name} holds no RSA key and certificate")
    return key, cert


def _why_not_opened(path: Path, data: bytearray) -> CertificateError:
    """Why a .p12 the PIN did not open cannot be used: not a PKCS#12 at all (empty,
    cut short, another kind of file), one with no PIN (anyone holding the file could
    sign with it), or, as far as can be told without the right PIN, a wrong PIN."""
    if not _is_pfx(data):
        return CertificateError(f"{path.name} is not a PKCS#12 file", key="cert_unreadable")
    try:
        pkcs12.load_key_and_certificates(data, None)
    except ValueError:
        return CertificateError(f"cannot open {path.name}", key="pin_wrong")
    return CertificateError(f"{path.name} has no PIN", key="cert_no_pin")


def _tlv(data: bytearray, at: int) -> tuple[int, int, int] | None:
    """The DER element at ``at``: (tag, where its content starts, its length); None if it
    does not fit in ``data`` or has BER's open-ended length."""
    if at + 2 > len(data):
        return None
    tag, first, at = data[at], data[at + 1], at + 2
    if first == 0x80:
        return None
    length = first
    if first > 0x80:
        size = first & 0x7F
        if size > 4 or at + size > len(data):
            return None
        length = 0
        for _ in range(size):
            length, at = length * 256 + data[at], at + 1
    if at + length > len(data):
        return None
    return tag, at, length


def _past(data: bytearray, at: int, count: int) -> int | None:
    """Where the element after ``count`` elements from ``at`` starts; None if one of them
    cannot be read (``_tlv``)."""
    for _ in range(count):
        element = _tlv(data, at)
        if element is None:
            return None
        at = element[1] + element[2]
    return at


def _mac_iterations(data: bytearray) -> int | None:
    """The rounds of a PFX's integrity check (``MacData.iterations``, RFC 7292 4), read in
    place; None when it has none or cannot be read so (BER: the library then decides)."""
    pfx = _tlv(data, 0)
    if pfx is None or pfx[0] != 0x30:
        return None
    at = _past(data, pfx[1], 2)  # the version, the authSafe
    mac = None if at is None else _tlv(data, at)
    if mac is None or mac[0] != 0x30:
        return None
    at = _past(data, mac[1], 2)  # the DigestInfo, the salt
    if at is None:
        return None
    if at >= mac[1] + mac[2]:
        return 1  # DEFAULT 1
    count = _tlv(data, at)
    if count is None or count[0] != 0x02 or not 1 <= count[2] <= 8:
        return None
    value = 0
    for offset in range(count[2]):
        value = value * 256 + data[count[1] + offset]
    return value


def _is_pfx(data: bytearray) -> bool:
    """Whether ``data`` is laid out as a PKCS#12 ``PFX`` (RFC 7292 4): one SEQUENCE, the
    whole file, opening with the INTEGER version 3. Its inside is sealed with the PIN, so
    a file damaged there is told from a wrong PIN by nothing; an empty, cut short or
    foreign file is. BER's open-ended length (some older tools write it) is taken too.
    Read byte by byte: no copy of the file is made."""
    if len(data) < 5 or data[0] != 0x30:
        return False
    first = data[1]
    at = 2
    if first < 0x80:
        length: int | None = first
    elif first == 0x80:
        length = None  # BER: to the end-of-contents bytes
    else:
        size = first & 0x7F
        if size > 4 or len(data) < at + size:
            return False
        length = 0
        for _ in range(size):
            length, at = length * 256 + data[at], at + 1
    if length is not None and at + length != len(data):
        return False
    return len(data) >= at + 3 and (data[at], data[at + 1], data[at + 2]) == (0x02, 0x01, 0x03)


def sign_with_certificate(
    path: Path, pin: str, op: str, body: dict[str, Any], now: datetime
) -> CertificateAuth:
    """A ``CertificateAuth`` over ``signed_content(op, body, now)``.

    An expired or not-yet-valid certificate is refused here, before it travels; the
    centre also checks it, and whether it is revoked or from a CA it trusts.
    """
    key, cert = _load(path, pin)
    if cert.not_valid_after_utc < now:
        raise CertificateError(
            f"{path.name} expired {cert.not_valid_after_utc:%Y-%m-%d}",
            key="cert_expired",
            date=cert.not_valid_after_utc.date().isoformat(),
        )
    if cert.not_valid_before_utc > now:
        raise CertificateError(f"{path.name} is not valid yet", key="cert_not_yet_valid")
    signature = key.sign(signed_content(op, body, now), padding.PKCS1v15(), hashes.SHA256())
    logger.info("signed %s with a certificate (serial %x)", op, cert.serial_number)
    return CertificateAuth(
        certificate=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        signature=base64.b64encode(signature).decode("ascii"),
        signed_at=now,
    )

"""Helpers for the central tests: act as a shipper or a driver against a real centre."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hardware_sim.accounts import totp_now
from hardware_sim.certs import CA_FILE, _load_ca_key, sign_request
from hardware_sim.launch import CentralProcess
from rocars.models import BundleRequest, CancelRequest, Cargo, CargoItems
from rocars.timeutil import HK_TZ, utc_now


def headers(central: CentralProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {central.token}"}


def http(central: CentralProcess) -> httpx.Client:
    return httpx.Client(base_url=central.url, headers=headers(central), timeout=10)


class Driver(dict[str, Any]):
    """A demo driver (its ``/sim/accounts`` entry) of one centre.

    ``code_auth`` takes its codes from that centre (``CentralProcess.security_code``): a
    code is accepted once, so each request gets a code not used before.
    """

    def __init__(self, central: CentralProcess, entry: dict[str, Any]) -> None:
        super().__init__(entry)
        self.central = central


def accounts(central: CentralProcess) -> list[dict[str, Any]]:
    body = httpx.get(f"{central.url}/sim/accounts", headers=headers(central), timeout=10).json()
    return [Driver(central, entry) for entry in body["accounts"]]


def account(central: CentralProcess, case: str = "valid", index: int = 0) -> dict[str, Any]:
    """The ``index``-th demo driver with that certificate case (``valid`` ones not immediate)."""
    found = [a for a in accounts(central) if a["cert_case"] == case and not a["immediate"]]
    return found[index]


def immediate_account(central: CentralProcess) -> dict[str, Any]:
    return next(a for a in accounts(central) if a["immediate"])


def trucks(central: CentralProcess) -> list[dict[str, Any]]:
    body = httpx.get(f"{central.url}/sim/trucks", headers=headers(central), timeout=10).json()
    result: list[dict[str, Any]] = body["trucks"]
    return result


def today() -> date:
    return utc_now().astimezone(HK_TZ).date()


def items(**overrides: Any) -> CargoItems:
    data: dict[str, Any] = {
        "packages": 12,
        "package_description": "CARTONS",
        "article_description": "LED DESK LAMPS",
        "consignor_name": "SHENZHEN LIGHT CO",
        "consignor_address": "1 NANSHAN ROAD, SHENZHEN",
        "consignee_name": "TSUEN WAN LIGHTING LTD",
        "consignee_address": "8 TEXACO ROAD, TSUEN WAN",
        "expected_date": today(),
        "direction": "import",
    }
    data.update(overrides)
    return CargoItems.model_validate(data)


def new_cargo(client: Any, **overrides: Any) -> Cargo:
    cargo: Cargo = client.submit_cargo(items(**overrides))
    return cargo


def code_auth(acc: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """A security code: the token's at ``at``; else, for a ``Driver``, one its centre has
    not seen yet; else the token's code now."""
    if at is None and isinstance(acc, Driver):
        return {"method": "security_code", "code": acc.central.security_code(acc)}
    return {"method": "security_code", "code": totp_now(acc["totp_secret"], at)}


def bundle_body(
    acc: dict[str, Any],
    vrn: str,
    ccrns: list[str],
    *,
    cp: str = "SBC",
    direction: str = "import",
    auth: dict[str, Any] | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    return {
        "account": acc["account"],
        "password": acc["password"] if password is None else password,
        "auth": auth or code_auth(acc),
        "vrn": vrn,
        "cp": cp,
        "direction": direction,
        "ccrns": ccrns,
    }


def bundle_request(acc: dict[str, Any], vrn: str, ccrns: list[str], **kw: Any) -> BundleRequest:
    return BundleRequest.model_validate(bundle_body(acc, vrn, ccrns, **kw))


def cancel_request(acc: dict[str, Any], auth: dict[str, Any] | None = None) -> CancelRequest:
    return CancelRequest.model_validate(
        {"account": acc["account"], "password": acc["password"], "auth": auth or code_auth(acc)}
    )


def cert_auth(
    acc: dict[str, Any], op: str, body: dict[str, Any], signed_at: datetime | None = None
) -> dict[str, Any]:
    return sign_request(Path(acc["cert_path"]), acc["cert_pin"], op, body, signed_at)


def key_usage(**bits: bool) -> x509.KeyUsage:
    """A KeyUsage with only the named bits set (``digital_signature=True``...)."""
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: bits.get(name, False) for name in names})


SIGNING_USAGE = key_usage(digital_signature=True)


def custom_leaf(
    certs_dir: Path,
    account: str,
    *,
    ca: bool = False,
    usage: x509.KeyUsage | None = SIGNING_USAGE,
    eku: list[x509.ObjectIdentifier] | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A certificate for ``account`` from the data folder's own CA, with the extensions
    given (``usage=None``: no KeyUsage at all), for the profile checks."""
    ca_cert = x509.load_pem_x509_certificate((certs_dir / CA_FILE).read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = utc_now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "Custom"),
                    x509.NameAttribute(NameOID.USER_ID, account),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(_load_ca_key(certs_dir), hashes.SHA256()), key


CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH

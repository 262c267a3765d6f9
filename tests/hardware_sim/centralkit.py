"""Helpers for the central tests: act as a shipper or a driver against a real centre."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from hardware_sim.accounts import totp_now
from hardware_sim.certs import CA_FILE, _load_ca_key, issue_leaf, key_usage, sign_request
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


SIGNING_USAGE = key_usage(digital_signature=True)
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
#: An extension nobody processes: an OID under the enterprise number kept for
#: documentation (RFC 5612), holding a DER NULL.
UNKNOWN_EXTENSION = x509.UnrecognizedExtension(
    x509.ObjectIdentifier("1.3.6.1.4.1.32473.1"), b"\x05\x00"
)


def custom_leaf(
    certs_dir: Path,
    account: str,
    *,
    ca: bool = False,
    usage: x509.KeyUsage | None = SIGNING_USAGE,
    eku: list[x509.ObjectIdentifier] | None = None,
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A certificate for ``account`` from the data folder's own CA, with the extensions
    given (``usage=None``: no KeyUsage at all; ``extra``: more, each with whether it is
    critical), for the profile checks."""
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=ca, path_length=0 if ca else None), True)
    ]
    if usage is not None:
        extensions.append((usage, True))
    if eku is not None:
        extensions.append((x509.ExtendedKeyUsage(eku), False))
    extensions.extend(extra)
    ca_cert = x509.load_pem_x509_certificate((certs_dir / CA_FILE).read_bytes())
    now = utc_now()
    return issue_leaf(
        ca_cert,
        _load_ca_key(certs_dir),
        account,
        "Custom",
        now - timedelta(days=1),
        now + timedelta(days=30),
        extensions,
    )

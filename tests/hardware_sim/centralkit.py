"""Helpers for the central tests: act as a shipper or a driver against a real centre."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx

from hardware_sim.accounts import totp_now
from hardware_sim.certs import sign_request
from hardware_sim.launch import CentralProcess
from rocars.models import BundleRequest, CancelRequest, Cargo, CargoItems
from rocars.timeutil import HK_TZ, utc_now


def headers(central: CentralProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {central.token}"}


def http(central: CentralProcess) -> httpx.Client:
    return httpx.Client(base_url=central.url, headers=headers(central), timeout=10)


def accounts(central: CentralProcess) -> list[dict[str, Any]]:
    body = httpx.get(f"{central.url}/sim/accounts", headers=headers(central), timeout=10).json()
    result: list[dict[str, Any]] = body["accounts"]
    return result


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

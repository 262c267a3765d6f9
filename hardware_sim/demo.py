"""Seeded demo data: drivers, cargo, bundles and the trucks of every clearance case.

``generate_demo`` is a pure function of its arguments, so a scenario run with seed 7
meets the same plates, accounts and UBRs every time. ``seed_store`` writes it into a new
centre (accounts hashed, certificates made, everything through the change feed).

Demo VRNs have 1-3 digits; the synthetic benchmark bundles have 4, so they never meet.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hardware_sim.accounts import make_account
from hardware_sim.certs import DriverCert, create_driver_certs
from hardware_sim.store import FIRST_CCRN, FIRST_UBR, Store
from rocars.ids import ControlPoint, Direction
from rocars.messages import InstructionCode
from rocars.models import (
    EARLIEST_CROSSING_DELAY,
    Bundle,
    BundleStatus,
    Cargo,
    CargoItems,
    CargoStatus,
)
from rocars.timeutil import HK_TZ

logger = logging.getLogger(__name__)

TRUCK_KINDS = (
    "laden_proceed",
    "laden_inspect",
    "too_early",
    "wrong_cp",
    "second_plate",
    "cancelled",
    "unladen",
    "laden_no_bundle",
)
#: Demo drivers' certificate cases; the first ``valid`` driver is ``immediate``.
CERT_CASES = ("valid", "valid", "valid", "valid", "expired", "revoked", "foreign")
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_NAMES = (
    "CHAN Tai Man",
    "WONG Siu Ming",
    "LEE Ka Yan",
    "CHEUNG Wai Kit",
    "LAM Chi Keung",
    "HO Mei Ling",
    "NG Kwok Wing",
)
_GOODS = (
    ("CARTONS", "MOBILE PHONE ACCESSORIES"),
    ("PALLETS", "FROZEN PORK"),
    ("CARTONS", "GARMENTS, COTTON T-SHIRTS"),
    ("DRUMS", "INDUSTRIAL LUBRICANT"),
    ("CRATES", "FRESH VEGETABLES"),
    ("CARTONS", "ELECTRONIC COMPONENTS"),
)


@dataclass(frozen=True)
class DemoAccount:
    """A driver the tests and the scenario can act as (the password is in clear: demo only)."""

    account: str
    password: str
    totp_secret: str
    immediate: bool
    cert_pin: str
    cert_case: str
    name: str


@dataclass(frozen=True)
class DemoTruck:
    """A truck of the traffic scenario: its plate(s), which case it is, its bundle if any."""

    vrn: str
    second_plate: str | None
    kind: str
    ubr: str | None
    account: str


@dataclass
class DemoData:
    accounts: list[DemoAccount] = field(default_factory=list)
    cargo: list[Cargo] = field(default_factory=list)
    bundles: list[tuple[Bundle, str]] = field(default_factory=list)
    trucks: list[DemoTruck] = field(default_factory=list)
    vehicles: dict[str, str] = field(default_factory=dict)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def generate_demo(
    seed: int,
    cp: ControlPoint | str,
    direction: Direction | str,
    now: datetime,
    trucks_per_kind: int = 2,
) -> DemoData:
    """Deterministic demo data for one control point and direction, times relative to ``now``."""
    cp, direction = ControlPoint(cp), Direction(direction)
    rng = random.Random(seed)
    data = DemoData()
    used: set[str] = set()

    def unique(make: Any) -> str:
        for _ in range(1000):
            value: str = make()
            if value not in used:
                used.add(value)
                return value
        raise RuntimeError("could not make a unique demo value")

    for i, case in enumerate(CERT_CASES):
        data.accounts.append(
            DemoAccount(
                account=unique(lambda: str(rng.randint(1, 9)) + _digits(rng, 5)),
                password=_digits(rng, 6),
                totp_secret="".join(
                    rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(32)
                ),
                immediate=i == 0,
                cert_pin=_digits(rng, 6),
                cert_case=case,
                name=_NAMES[i % len(_NAMES)],
            )
        )
    drivers = [a.account for a in data.accounts if a.cert_case == "valid" and not a.immediate]
    other_cps = [c for c in ControlPoint if c is not cp]
    today = now.astimezone(HK_TZ).date()
    numbers = {"ccrn": FIRST_CCRN, "ubr": FIRST_UBR}

    def next_number(kind: str) -> str:
        value = numbers[kind]
        numbers[kind] += 1
        return str(value)

    def cargo_for(vrn: str | None, submitted_at: datetime) -> Cargo:
        packages, article = rng.choice(_GOODS)
        items = CargoItems(
            packages=rng.randint(1, 400),
            package_description=packages,
            article_description=article,
            consignor_name=rng.choice(["SHENZHEN HUAXIN TRADING CO LTD", "DONGGUAN PEARL MFG LTD"]),
            consignor_address="NO. 8 INDUSTRIAL ROAD, SHENZHEN, GUANGDONG",
            consignee_name=rng.choice(["KOWLOON BAY LOGISTICS LTD", "TSUEN WAN TRADING CO"]),
            consignee_address="UNIT 5, 12/F, KWAI CHUNG PLAZA, KWAI CHUNG, NT",
            expected_date=today,
            direction=direction,
            vrn=vrn,
        )
        return Cargo(
            ccrn=next_number("ccrn"),
            submitted_at=submitted_at,
            updated_at=submitted_at,
            items=items,
        )

    for kind in TRUCK_KINDS:
        for n in range(trucks_per_kind):
            vrn = unique(
                lambda: rng.choice(_LETTERS) + rng.choice(_LETTERS) + str(rng.randint(1, 999))
            )
            account = drivers[(len(data.trucks)) % len(drivers)]
            second_plate = None
            if kind == "second_plate":
                second_plate = unique(
                    lambda: "粤Z" + rng.choice(_LETTERS.replace("R", "")) + _digits(rng, 3) + "港"
                )
                data.vehicles[vrn] = second_plate
            ubr: str | None = None
            if kind in ("unladen",):
                pass
            elif kind == "laden_no_bundle":
                data.cargo.append(cargo_for(vrn, now - timedelta(hours=3)))
            else:
                bundled_at = now if kind == "too_early" else now - timedelta(hours=2)
                ccrn_count = rng.randint(1, 2)
                cargos = [
                    cargo_for(vrn, bundled_at - timedelta(hours=1)) for _ in range(ccrn_count)
                ]
                ubr = next_number("ubr")
                cancelled = kind == "cancelled"
                inspect = kind == "laden_inspect"
                bundle = Bundle(
                    ubr=ubr,
                    vrn=vrn,
                    second_plate=second_plate,
                    cp=other_cps[n % len(other_cps)] if kind == "wrong_cp" else cp,
                    direction=direction,
                    ccrns=[c.ccrn for c in cargos],
                    bundled_at=bundled_at,
                    earliest_at=bundled_at + EARLIEST_CROSSING_DELAY,
                    status=BundleStatus.CANCELLED if cancelled else BundleStatus.ACTIVE,
                    result=InstructionCode.INSPECT if inspect else InstructionCode.PROCEED,
                    bay=f"B{rng.randint(1, 8)}" if inspect else None,
                    updated_at=bundled_at + timedelta(minutes=10) if cancelled else bundled_at,
                )
                data.bundles.append((bundle, account))
                for cargo in cargos:
                    if not cancelled:
                        cargo = cargo.model_copy(
                            update={
                                "status": CargoStatus.BUNDLED,
                                "ubr": ubr,
                                "updated_at": bundled_at,
                            }
                        )
                    data.cargo.append(cargo)
            data.trucks.append(DemoTruck(vrn, second_plate, kind, ubr, account))
    # Cargo without a VRN, free to bundle from a kiosk.
    for _ in range(2 * len(drivers)):
        data.cargo.append(cargo_for(None, now - timedelta(hours=1)))
    return data


def seed_store(store: Store, certs_dir: Path, demo: DemoData, now: datetime) -> None:
    """Write the demo into a new centre: accounts, certificates, cargo, bundles, trucks."""
    for acc in demo.accounts:
        store.put_account(
            make_account(
                acc.account, acc.password, acc.totp_secret, immediate=acc.immediate, name=acc.name
            )
        )
    paths = create_driver_certs(
        certs_dir,
        [DriverCert(a.account, a.name, a.cert_pin, a.cert_case) for a in demo.accounts],
        now,
        lambda serial: store.revoke_cert(serial, now),
    )
    store.seed(
        cargo=demo.cargo,
        bundles=demo.bundles,
        vehicles=demo.vehicles,
        demo_accounts=[
            {**asdict(a), "cert_path": str(paths[a.account].resolve())} for a in demo.accounts
        ],
        demo_trucks=[asdict(t) for t in demo.trucks],
    )
    logger.info(
        "seeded %d accounts, %d cargo, %d bundles, %d trucks",
        len(demo.accounts),
        len(demo.cargo),
        len(demo.bundles),
        len(demo.trucks),
    )

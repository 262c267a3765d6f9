"""A centre with fixed answers, so the kiosk's screenshots are the same on every run.

The screenshot test's kiosk talks to this instead of the local API (the edge of the
world: the network): the CCRNs, the UBR and every time on its screens and receipts
come from here and from ``NOW``, not from the wall clock or from whichever tests ran
before it against the session's simulated centre. The flows against the real local
API are the other kiosk tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kiosk.api import Answer
from rocars.ids import Direction
from rocars.messages import InstructionCode
from rocars.models import (
    Bundle,
    BundleRequest,
    BundleStatus,
    CancelRequest,
    Cargo,
    CargoItems,
    CargoStatus,
)

#: The kiosk's clock in the screenshots: 14:30 HKT.
NOW = datetime(2026, 11, 21, 6, 30, tzinfo=UTC)
#: A bundle's earliest crossing time, as the centre sets it.
EARLIEST_AFTER = timedelta(minutes=30)


def cargo_items(**changes: Any) -> CargoItems:
    """A consignment's items for the kiosk tests (expected tomorrow, an import)."""
    data: dict[str, Any] = {
        "packages": 5,
        "package_description": "CARTONS",
        "article_description": "TEA",
        "consignor_name": "A",
        "consignor_address": "B",
        "consignee_name": "C",
        "consignee_address": "D",
        "expected_date": (NOW + timedelta(days=1)).date(),
        "direction": Direction.IMPORT,
    }
    return CargoItems.model_validate({**data, **changes})


class FixedCentre:
    """The calls the kiosk makes (``KioskClient``'s), answered from memory at ``NOW``.

    CCRNs are numbered from 4000000001 and UBRs from 7000000001 in the order they are
    made; there are no signatures to check (the screens are the point, not the rules).
    """

    def __init__(self) -> None:
        self.cargo: dict[str, Cargo] = {}
        self.bundles: dict[str, Bundle] = {}
        #: set: the queries are answered from the control point's copy of that time
        #: (the centre down), as the local API's ``stale_since``
        self.stale_since: str | None = None

    def close(self) -> None:
        pass

    # -- cargo -------------------------------------------------------------------------

    def submit_cargo(self, items: CargoItems, idempotency_key: str | None = None) -> Cargo:
        ccrn = str(4_000_000_001 + len(self.cargo))
        cargo = Cargo(ccrn=ccrn, submitted_at=NOW, updated_at=NOW, items=items)
        self.cargo[ccrn] = cargo
        return cargo

    def amend_cargo(self, ccrn: str, items: CargoItems) -> Cargo:
        cargo = self.cargo[ccrn].model_copy(update={"items": items})
        self.cargo[ccrn] = cargo
        return cargo

    def query_cargo(self, ccrn: str) -> Answer[Cargo]:
        return Answer(self.cargo[ccrn], self.stale_since)

    # -- bundles -----------------------------------------------------------------------

    def bundle(self, request: BundleRequest) -> Bundle:
        ubr = str(7_000_000_001 + len(self.bundles))
        bundle = Bundle(
            ubr=ubr,
            vrn=request.vrn,
            cp=request.cp,
            direction=request.direction,
            ccrns=request.ccrns,
            bundled_at=NOW,
            earliest_at=NOW + EARLIEST_AFTER,
            status=BundleStatus.ACTIVE,
            result=InstructionCode.PROCEED,
            updated_at=NOW,
        )
        self.bundles[ubr] = bundle
        for ccrn in request.ccrns:
            self.cargo[ccrn] = self.cargo[ccrn].model_copy(
                update={"status": CargoStatus.BUNDLED, "ubr": ubr}
            )
        return bundle

    def cancel_bundle(self, ubr: str, request: CancelRequest) -> Bundle:
        bundle = self.bundles[ubr].model_copy(update={"status": BundleStatus.CANCELLED})
        self.bundles[ubr] = bundle
        return bundle

    def cancel_ccrn(self, ubr: str, ccrn: str, request: CancelRequest) -> Bundle:
        left = [c for c in self.bundles[ubr].ccrns if c != ccrn]
        bundle = self.bundles[ubr].model_copy(update={"ccrns": left})
        self.bundles[ubr] = bundle
        return bundle

    def query_bundle(self, ubr: str) -> Answer[Bundle]:
        return Answer(self.bundles[ubr], self.stale_since)

    def query_bundles_for_ccrn(self, ccrn: str) -> Answer[list[Bundle]]:
        return Answer([b for b in self.bundles.values() if ccrn in b.ccrns], self.stale_since)

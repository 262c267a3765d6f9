"""The seeded demo data: deterministic, and every plate a plate the lane could read."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hardware_sim.demo import TRUCK_KINDS, generate_demo
from rocars.ids import is_mainland_plate, normalize_vrn
from rocars.models import BundleStatus, CargoStatus

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = generate_demo(7, "SBC", "import", NOW, 3)
    b = generate_demo(7, "SBC", "import", NOW, 3)
    c = generate_demo(8, "SBC", "import", NOW, 3)
    assert a == b
    assert [t.vrn for t in a.trucks] != [t.vrn for t in c.trucks]
    assert [x.account for x in a.accounts] != [x.account for x in c.accounts]


def test_trucks_plates_and_bundles() -> None:
    data = generate_demo(7, "LMC", "export", NOW, 3)
    assert [t.kind for t in data.trucks] == [k for k in TRUCK_KINDS for _ in range(3)]
    vrns = [t.vrn for t in data.trucks]
    assert len(set(vrns)) == len(vrns)
    for vrn in vrns:
        assert normalize_vrn(vrn) == vrn
        assert re.fullmatch(r"[A-HJ-NPR-Z]{2}\d{1,3}", vrn), vrn
    bundles = {b.ubr: b for b, _ in data.bundles}
    cargo = {c.ccrn: c for c in data.cargo}
    assert len(cargo) == len(data.cargo)
    for t in data.trucks:
        if t.kind == "second_plate":
            assert t.second_plate is not None
            assert is_mainland_plate(t.second_plate)
            assert data.vehicles[t.vrn] == t.second_plate
        if t.kind in ("unladen", "laden_no_bundle"):
            assert t.ubr is None
            continue
        assert t.ubr is not None
        bundle = bundles[t.ubr]
        assert bundle.direction == "export"
        assert (bundle.cp == "LMC") == (t.kind != "wrong_cp")
        for ccrn in bundle.ccrns:
            if t.kind == "cancelled":
                assert bundle.status is BundleStatus.CANCELLED
                assert cargo[ccrn].status is CargoStatus.SUBMITTED
            else:
                assert (cargo[ccrn].status, cargo[ccrn].ubr) == (CargoStatus.BUNDLED, t.ubr)
                assert cargo[ccrn].items.vrn == t.vrn
    assert any(c.items.vrn is None and c.status is CargoStatus.SUBMITTED for c in data.cargo)

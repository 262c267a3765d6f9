"""Cargo form validation names each bad field."""

from __future__ import annotations

from datetime import UTC, datetime

from kiosk.cargo import FIELD_NAMES, items_to_values, validate_cargo

NOW = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)  # 04:00 on 22 Nov in Hong Kong
GOOD = {
    "packages": "12",
    "package_description": "CARTONS",
    "article_description": "LED LAMPS",
    "consignor_name": "A",
    "consignor_address": "B",
    "consignee_name": "C",
    "consignee_address": "D",
    "expected_date": "2026-11-22",
    "direction": "Import",
}


def test_good_values_become_items_and_back() -> None:
    items, errors = validate_cargo(GOOD | {"vrn": "kx 12", "container_no": "mscu1234567"}, NOW)
    assert errors == []
    assert items is not None
    assert items.vrn == "KX12"
    assert items.container_no == "MSCU1234567"
    values = items_to_values(items)
    assert set(values) == set(FIELD_NAMES)
    assert validate_cargo(values, NOW)[0] == items


def test_every_bad_field_is_named_in_form_order() -> None:
    bad = GOOD | {
        "packages": "0",
        "consignor_name": "",
        "consignee_address": "x" * 176,
        "direction": "sideways",
        "container_no": "ABC",
        "vrn": "NOT A PLATE 123",
    }
    items, errors = validate_cargo(bad, NOW)
    assert items is None
    assert [(e.field, e.key) for e in errors] == [
        ("packages", "field_out_of_range"),
        ("consignor_name", "field_required"),
        ("consignee_address", "field_too_long"),
        ("direction", "field_bad_direction"),
        ("vrn", "field_too_long"),
        ("container_no", "container_invalid"),
    ]
    assert errors[2].params == {"max": "175"}


def test_the_fourteen_day_window_uses_hong_kong_dates() -> None:
    for day, ok in (
        ("2026-11-21", False),
        ("2026-11-22", True),
        ("2026-12-06", True),
        ("2026-12-07", False),
    ):
        items, errors = validate_cargo(GOOD | {"expected_date": day}, NOW)
        assert (items is not None) is ok, day
        if not ok:
            assert errors[0].key == "expected_date_out_of_window"
            assert errors[0].params == {"earliest": "2026-11-22", "latest": "2026-12-06"}
    _, errors = validate_cargo(GOOD | {"expected_date": "22/11/2026"}, NOW)
    assert errors[0].key == "field_bad_date"
    _, errors = validate_cargo(GOOD | {"packages": "many"}, NOW)
    assert errors[0].key == "field_not_number"

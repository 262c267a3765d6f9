"""Cargo data as a shipper types it: the form's fields, and validation that names the field.

The same rules serve the on-screen form and each row of a batch upload file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from rocars.errors import RocarsError
from rocars.models import CargoItems, check_expected_date


@dataclass(frozen=True)
class FieldSpec:
    """One item of the cargo form; ``name`` is the API's field name and the template column."""

    name: str
    required: bool
    kind: str = "text"  # text | int | date | direction | vrn | code
    max_length: int = 0
    multiline: bool = False


#: In the order the form and the template show them: the 8 mandatory items (9 with the
#: direction the date belongs to), then the VRN when known, then the optional ones.
FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("packages", True, "int", 6),
    FieldSpec("package_description", True, "text", 70),
    FieldSpec("article_description", True, "text", 512, multiline=True),
    FieldSpec("consignor_name", True, "text", 70),
    FieldSpec("consignor_address", True, "text", 175, multiline=True),
    FieldSpec("consignee_name", True, "text", 70),
    FieldSpec("consignee_address", True, "text", 175, multiline=True),
    FieldSpec("expected_date", True, "date", 10),
    FieldSpec("direction", True, "direction"),
    FieldSpec("vrn", False, "vrn", 10),
    FieldSpec("container_no", False, "code", 11),
    FieldSpec("licence_no", False, "code", 35),
    FieldSpec("transhipment", False, "text", 256, multiline=True),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class FieldError:
    """``key`` is the message (``field_required``, ``field_too_long``...), ``field`` names the item."""

    field: str
    key: str
    params: dict[str, str] = dataclasses.field(default_factory=dict)


def _pydantic_to_field_errors(err: ValidationError) -> list[FieldError]:
    out: list[FieldError] = []
    for item in err.errors(include_url=False, include_input=False):
        name = str(item["loc"][0]) if item["loc"] else "body"
        kind = item["type"]
        ctx: dict[str, Any] = dict(item.get("ctx") or {})
        if kind in ("missing", "string_too_short"):
            out.append(FieldError(name, "field_required"))
        elif kind == "string_too_long":
            out.append(FieldError(name, "field_too_long", {"max": str(ctx.get("max_length", ""))}))
        elif kind in ("int_parsing", "int_type", "int_from_float"):
            out.append(FieldError(name, "field_not_number"))
        elif kind in ("greater_than_equal", "less_than_equal"):
            out.append(FieldError(name, "field_out_of_range", {"min": "1", "max": "999999"}))
        elif kind.startswith("date"):
            out.append(FieldError(name, "field_bad_date"))
        elif name == "direction":
            out.append(FieldError(name, "field_bad_direction"))
        elif name == "vrn":
            out.append(FieldError(name, "vrn_invalid"))
        elif name == "container_no":
            out.append(FieldError(name, "container_invalid"))
        else:
            out.append(FieldError(name, "field_invalid"))
    return out


def validate_cargo(
    values: dict[str, str], now: datetime | None
) -> tuple[CargoItems | None, list[FieldError]]:
    """The form (or a file row) as ``CargoItems``, or the errors naming each bad field.

    The expected date is checked against the window as of ``now``; with None it is not
    (a batch row's window is checked as of when it was first sent: ``kiosk.batch``)."""
    data: dict[str, Any] = {}
    errors: list[FieldError] = []
    for spec in FIELDS:
        text = str(values.get(spec.name, "") or "").strip()
        if not text:
            if spec.required:
                errors.append(FieldError(spec.name, "field_required"))
            continue
        if spec.max_length and len(text) > spec.max_length:
            errors.append(FieldError(spec.name, "field_too_long", {"max": str(spec.max_length)}))
            continue
        if spec.kind == "direction":
            text = text.lower()
        data[spec.name] = text
    if errors:
        # Report every field at once; pydantic adds what the simple checks missed.
        try:
            CargoItems.model_validate(data)
        except ValidationError as err:
            seen = {e.field for e in errors}
            errors += [
                e for e in _pydantic_to_field_errors(err) if e.field not in seen and e.field in data
            ]
        order = {name: i for i, name in enumerate(FIELD_NAMES)}
        return None, sorted(errors, key=lambda e: order.get(e.field, len(order)))
    try:
        items = CargoItems.model_validate(data)
    except ValidationError as err:
        return None, _pydantic_to_field_errors(err)
    if now is None:
        return items, []
    errors = window_errors(items, now)
    return (None, errors) if errors else (items, [])


def window_errors(items: CargoItems, now: datetime) -> list[FieldError]:
    """The expected date outside today..+14 days (Hong Kong) as of ``now``, or []."""
    try:
        check_expected_date(items.expected_date, now)
    except RocarsError as err:
        params = {k: str(v) for k, v in err.params.items() if k != "field"}
        return [FieldError("expected_date", err.key, params)]
    return []


def items_digest(items: CargoItems) -> str:
    """What a submission's Idempotency-Key says of its items (``kiosk.flows``): the same
    items, the same digest."""
    canonical = json.dumps(items.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()[:24]


def items_to_values(items: CargoItems) -> dict[str, str]:
    """Back to the form's text fields (for an amendment)."""
    out: dict[str, str] = {}
    for name in FIELD_NAMES:
        value = getattr(items, name)
        if value is None:
            out[name] = ""
        elif isinstance(value, date):
            out[name] = value.isoformat()
        else:
            out[name] = str(value)
    return out

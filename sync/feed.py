"""Change-feed pages to replica rows, fast.

Loading a million bundles through the full ``rocars.models`` path (Python validators per
identifier, a Python time serializer per field) costs ~50 µs a change. The centre sends
identifiers already normalised, so a page is first checked against a strict wire schema
that pydantic-core runs without Python code: canonical forms only (10-digit UBR/CCRN, a
normalised HK plate, a normalised Mainland plate, known enums, aware times). Every value
that schema accepts is one the full model accepts unchanged, so the replica holds the
same thing either way. A page the strict schema refuses (a change kind it does not know,
a plate not in canonical form) goes through the full models: they normalise it, or the
page is malformed and is not applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Literal, NotRequired

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from rocars.models import MAX_CCRNS_PER_BUNDLE, Bundle, Change, ChangePage
from rocars.timeutil import to_rfc3339
from sync.errors import MalformedPage

logger = logging.getLogger(__name__)

_TEN_DIGITS = Annotated[str, Field(pattern=r"^\d{10}$")]
_HK_VRN = r"[A-HJ-NPR-Z0-9]{1,8}"
_MAINLAND = r"粤Z[A-HJ-NP-Z0-9]{4}[港澳]"
_VRN = Annotated[str, Field(pattern=rf"^{_HK_VRN}$")]
_PLATE = Annotated[str, Field(pattern=rf"^(?:{_HK_VRN}|{_MAINLAND})$")]
# RFC 3339 with an offset; a day that does not exist (Feb 30) passes here and fails the
# full model when the lane reads it, which fails closed (STOP_SEE_OFFICER).
_TIME = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
        r"(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
    ),
]


class _WireBundle(TypedDict):
    ubr: _TEN_DIGITS
    vrn: _VRN
    second_plate: NotRequired[_PLATE | None]
    cp: Literal["STK", "MKT", "LMC", "SBC", "HZM", "HZO", "HYW"]
    direction: Literal["import", "export"]
    ccrns: Annotated[list[_TEN_DIGITS], Field(min_length=1, max_length=MAX_CCRNS_PER_BUNDLE)]
    bundled_at: _TIME
    earliest_at: _TIME
    status: NotRequired[Literal["active", "cancelled", "used"]]
    result: NotRequired[Literal["PROCEED", "INSPECT"]]
    bay: NotRequired[Annotated[str, Field(max_length=16)] | None]
    updated_at: _TIME


class _WireChange(TypedDict):
    seq: Annotated[int, Field(ge=1)]
    kind: Literal["bundle"]
    key: _TEN_DIGITS
    op: NotRequired[Literal["upsert", "delete"]]
    bundle: NotRequired[_WireBundle | None]


class _WirePage(TypedDict):
    changes: list[_WireChange]
    next: str


_PAGE = TypeAdapter(_WirePage)


#: The replica's bundle columns, in table order (``ccrns`` comma-joined).
BUNDLE_COLUMNS = (
    "ubr",
    "vrn",
    "second_plate",
    "cp",
    "direction",
    "ccrns",
    "bundled_at",
    "earliest_at",
    "status",
    "result",
    "bay",
    "updated_at",
)
BundleRow = tuple[str, str, str | None, str, str, str, str, str, str, str, str | None, str]


@dataclass(slots=True)
class PageRows:
    """One page as the replica writes it (the last change of each key wins)."""

    next: str
    changes: int = 0
    bundles: dict[str, tuple[BundleRow, list[str]]] = field(default_factory=dict)
    dropped_ubrs: set[str] = field(default_factory=set)
    cargo: dict[str, str] = field(default_factory=dict)
    dropped_ccrns: set[str] = field(default_factory=set)

    def put_bundle(self, row: BundleRow, ccrns: list[str]) -> None:
        self.dropped_ubrs.discard(row[0])
        self.bundles[row[0]] = (row, ccrns)

    def drop_bundle(self, ubr: str) -> None:
        self.bundles.pop(ubr, None)
        self.dropped_ubrs.add(ubr)

    def put_cargo(self, ccrn: str, body: str) -> None:
        self.dropped_ccrns.discard(ccrn)
        self.cargo[ccrn] = body

    def drop_cargo(self, ccrn: str) -> None:
        self.cargo.pop(ccrn, None)
        self.dropped_ccrns.add(ccrn)


def bundle_row(bundle: Bundle) -> BundleRow:
    """A validated bundle as replica columns."""
    return (
        bundle.ubr,
        bundle.vrn,
        bundle.second_plate,
        bundle.cp.value,
        bundle.direction.value,
        ",".join(bundle.ccrns),
        to_rfc3339(bundle.bundled_at),
        to_rfc3339(bundle.earliest_at),
        bundle.status.value,
        bundle.result.value,
        bundle.bay,
        to_rfc3339(bundle.updated_at),
    )


def bundle_from_row(row: tuple[object, ...]) -> Bundle:
    """Replica columns back to a validated bundle."""
    data = dict(zip(BUNDLE_COLUMNS, row, strict=True))
    data["ccrns"] = str(data["ccrns"]).split(",")
    return Bundle.model_validate(data)


def rows_from_changes(changes: list[Change], next_cursor: str) -> PageRows:
    """Rows from validated models (the general path)."""
    rows = PageRows(next=next_cursor, changes=len(changes))
    for change in changes:
        if change.kind == "bundle":
            if change.op == "delete" or change.bundle is None:
                rows.drop_bundle(change.key)
            else:
                rows.put_bundle(bundle_row(change.bundle), change.bundle.ccrns)
        elif change.op == "delete" or change.cargo is None:
            rows.drop_cargo(change.key)
        else:
            rows.put_cargo(change.cargo.ccrn, change.cargo.model_dump_json())
    return rows


def parse_page(raw: bytes) -> PageRows:
    """A ``GET /v1/changes`` body to rows; MalformedPage if it does not validate."""
    try:
        page = _PAGE.validate_json(raw)
    except ValidationError:
        return _slow_page(raw)
    rows = PageRows(next=page["next"], changes=len(page["changes"]))
    for change in page["changes"]:
        b = change.get("bundle")
        if change.get("op", "upsert") == "delete":
            rows.drop_bundle(change["key"])
        elif b is None:
            raise MalformedPage(f"change {change['seq']}: an upsert of bundle needs its bundle")
        else:
            ccrns = b["ccrns"]
            row: BundleRow = (
                b["ubr"],
                b["vrn"],
                b.get("second_plate"),
                b["cp"],
                b["direction"],
                ",".join(ccrns),
                b["bundled_at"],
                b["earliest_at"],
                b.get("status", "active"),
                b.get("result", "PROCEED"),
                b.get("bay"),
                b["updated_at"],
            )
            rows.put_bundle(row, ccrns)
    return rows


def _slow_page(raw: bytes) -> PageRows:
    try:
        page = ChangePage.model_validate_json(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()[:5]
        )
        raise MalformedPage(f"change page does not validate: {problems}") from err
    return rows_from_changes(page.changes, page.next)

"""Domain models and the central ROCARS API's bodies.

The simulated centre serves these, the sync agent replicates and forwards them,
the kiosk fills them in. Field names are the API's JSON names.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from rocars.errors import InvalidIdentifier, RocarsError
from rocars.ids import (
    Account,
    Ccrn,
    ControlPoint,
    Direction,
    MainlandPlate,
    Ubr,
    Vrn,
    normalize_ccrn,
    normalize_ubr,
)
from rocars.messages import InstructionCode, PlateRead, UtcTime
from rocars.signing import canonical_json
from rocars.timeutil import HK_TZ, to_rfc3339

#: Cargo data may be submitted at most this far ahead of the expected date.
SUBMISSION_WINDOW_DAYS = 14
#: A truck may cross this long after bundling unless ROCARS directs otherwise.
EARLIEST_CROSSING_DELAY = timedelta(minutes=30)
MAX_CCRNS_PER_BUNDLE = 99


class _Body(BaseModel):
    """A request body: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


#: A driver's password exactly as typed: exempt from ``_Body``'s stripping, or
#: "159013  " was taken as "159013" (a password with spaces around it passed).
Password = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1, max_length=64),
    Field(description="the driver's password, as typed (spaces kept)"),
]


class _Record(BaseModel):
    """A record as the centre returns it: unknown fields ignored for forward compatibility."""

    model_config = ConfigDict(extra="ignore")


#: What no cargo text needs and a screen or receipt must not be given: control characters
#: (tab and line breaks aside: the transhipment details are several lines) and the
#: bidirectional embeddings, overrides and isolates, which make a text read otherwise
#: than it is stored.
_HIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _text(max_length: int, description: str) -> Any:
    return Field(min_length=1, max_length=max_length, description=description)


class CargoItems(_Body):
    """What a shipper submits: the 8 mandatory items, the VRN when known, the optional ones."""

    packages: int = Field(ge=1, le=999_999, description="number of packages")
    package_description: str = _text(70, "description of packages, e.g. CARTONS")
    article_description: str = _text(512, "description of articles in each package")
    consignor_name: str = _text(70, "consignor name")
    consignor_address: str = _text(175, "consignor address")
    consignee_name: str = _text(70, "consignee name")
    consignee_address: str = _text(175, "consignee address")
    expected_date: date = Field(
        description="expected date of arrival (import) or departure (export)"
    )
    direction: Direction = Field(description="import into or export from Hong Kong")
    vrn: Vrn | None = Field(
        default=None, description="vehicle registration number, from the trucker"
    )
    container_no: str | None = Field(
        default=None, pattern=r"^[A-Z]{4}[0-9]{7}$", description="ISO 6346 container number"
    )
    licence_no: str | None = Field(
        default=None, max_length=35, description="licence / permit number"
    )
    transhipment: str | None = Field(
        default=None, max_length=256, description="transhipment details"
    )

    @field_validator("container_no", "licence_no", "transhipment", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip() or None
        return value

    @field_validator("container_no", mode="before")
    @classmethod
    def _container_in_capitals(cls, value: object) -> object:
        # an ISO 6346 number is capitals (its pattern); the free texts are kept as typed:
        # upper-cased, "ß" became "SS", and a text within its limit went over it
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "package_description",
        "article_description",
        "consignor_name",
        "consignor_address",
        "consignee_name",
        "consignee_address",
        "licence_no",
        "transhipment",
    )
    @classmethod
    def _no_hidden_characters(cls, value: str | None) -> str | None:
        found = None if value is None else _HIDDEN.search(value)
        if found:
            raise ValueError(f"control character U+{ord(found.group()):04X} is not allowed")
        return value


def check_expected_date(expected: date, now: datetime) -> None:
    """The submission window: today (Hong Kong) up to 14 days ahead."""
    today = now.astimezone(HK_TZ).date()
    if not today <= expected <= today + timedelta(days=SUBMISSION_WINDOW_DAYS):
        raise RocarsError(
            f"expected date {expected} is outside {today}..+{SUBMISSION_WINDOW_DAYS} days",
            key="expected_date_out_of_window",
            field="expected_date",
            earliest=today.isoformat(),
            latest=(today + timedelta(days=SUBMISSION_WINDOW_DAYS)).isoformat(),
        )


class CargoStatus(StrEnum):
    SUBMITTED = "submitted"
    BUNDLED = "bundled"


class Cargo(_Record):
    """Cargo data as the centre holds it."""

    ccrn: Ccrn
    status: CargoStatus = CargoStatus.SUBMITTED
    ubr: Ubr | None = None
    submitted_at: UtcTime
    updated_at: UtcTime
    items: CargoItems


class BundleStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    USED = "used"


class Bundle(_Record):
    """A bundle: CCRNs tied to a VRN and the control point it may cross at."""

    ubr: Ubr
    vrn: Vrn
    second_plate: MainlandPlate | None = Field(
        default=None,
        description=(
            "the truck's Mainland plate, if any (a Hong Kong plate here would name a second"
            " truck the bundle releases)"
        ),
    )
    cp: ControlPoint
    direction: Direction
    ccrns: list[Ccrn] = Field(min_length=1, max_length=MAX_CCRNS_PER_BUNDLE)
    bundled_at: UtcTime
    earliest_at: UtcTime
    # No defaults that decide: a change whose bundle left these out (or misspelt them)
    # was stored as an active bundle selected for release. ``status`` is required; a
    # missing ``result`` is None, which the lanes take for a selection they cannot know
    # (STOP_SEE_OFFICER), and which is what the local API's answers to kiosks hold (they
    # are never told the selection).
    status: BundleStatus
    result: Literal[InstructionCode.PROCEED, InstructionCode.INSPECT] | None = Field(
        default=None,
        description="the pre-selected clearance result (None: not told, or not known)",
    )
    bay: str | None = Field(default=None, max_length=16, description="inspection bay when INSPECT")
    updated_at: UtcTime


class Change(_Record):
    """One entry of the change feed. ``op`` delete drops the key from the replica."""

    seq: int = Field(ge=1)
    kind: Literal["bundle", "cargo"]
    key: str = Field(description="the UBR of a bundle, the CCRN of cargo")
    op: Literal["upsert", "delete"] = "upsert"
    bundle: Bundle | None = None
    cargo: Cargo | None = None

    @model_validator(mode="after")
    def _body_matches_kind(self) -> Change:
        if self.op == "upsert" and getattr(self, self.kind) is None:
            raise ValueError(f"an upsert of {self.kind} needs its {self.kind}")
        # the key is what the replica drops or writes: a UBR or a CCRN as it keys them
        # ("9110-635-860" dropped nothing before, and the bundle stayed active)
        try:
            self.key = (
                normalize_ubr(self.key) if self.kind == "bundle" else normalize_ccrn(self.key)
            )
        except InvalidIdentifier as err:
            raise ValueError(f"key of a {self.kind} change: {err}") from err
        body = self.bundle.ubr if self.bundle is not None else None
        if self.kind == "cargo" and self.cargo is not None:
            body = self.cargo.ccrn
        if self.op == "upsert" and body != self.key:
            raise ValueError(f"key {self.key} is not the {self.kind}'s own ({body})")
        return self


class ChangePage(_Record):
    """``GET /v1/changes``: ``next`` is the cursor to ask with (the last change's seq; an
    empty page gives ``since`` back), ``mark`` the mark of the change it stands on (asked
    with both, the centre refuses a cursor of another history: docs/central.md; "" from
    a centre that gives none). A page of fewer than ``limit`` changes is caught up."""

    changes: list[Change]
    next: str
    mark: str = Field(default="", pattern=r"^[0-9a-f]{0,64}$")


class DriverAction(_Record):
    kind: Literal["unladen", "manifest"]
    ts: UtcTime
    id: str
    source: str = ""
    ignored: bool = Field(
        default=False, description="the press made no sense in the lane's state: recorded only"
    )


class InstructionLog(_Record):
    seq: int
    code: InstructionCode
    ts: UtcTime
    bay: str | None = None
    earliest_at: UtcTime | None = None


class ClearanceRecord(_Record):
    """One lane session's full story, uploaded to the centre once (idempotent by ``id``)."""

    id: str
    kind: Literal["clearance"] = "clearance"
    cp: ControlPoint
    lane: str
    direction: Direction
    started_at: UtcTime
    ended_at: UtcTime
    vrn: str | None = None
    ubr: Ubr | None = None
    plate_reads: list[PlateRead] = Field(default_factory=list)
    instructions: list[InstructionLog] = Field(default_factory=list)
    actions: list[DriverAction] = Field(default_factory=list)
    outcome: InstructionCode
    reason: str = Field(description="why the session ended: released, timeout, next_vehicle, …")
    offline: bool = Field(
        description="decided from the replica while the centre was unreachable, or while "
        "the replica had not caught up with the feed for longer than a poll takes, or on "
        "a stale replica"
    )


class EventUpload(_Body):
    """``POST /v1/events``."""

    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class EventResult(_Record):
    id: str
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None


class EventUploadResult(_Record):
    results: list[EventResult]


# -- drivers: credentials and signatures ---------------------------------------------------


class SecurityCodeAuth(_Body):
    """Signed with the 6-digit code the driver's hardware token shows now."""

    method: Literal["security_code"] = "security_code"
    code: str = Field(pattern=r"^[0-9]{6}$")


class CertificateAuth(_Body):
    """Signed with the private key of an e-Cert / ID-Cert.

    ``signature`` is base64 of the RSA PKCS#1 v1.5 SHA-256 signature over
    ``signed_content(op, body, signed_at)``; ``certificate`` is the PEM leaf.
    """

    method: Literal["certificate"] = "certificate"
    certificate: str = Field(min_length=64, max_length=16_384)
    signature: str = Field(min_length=16, max_length=4096)
    signed_at: UtcTime

    @field_validator("signed_at")
    @classmethod
    def _with_offset(cls, value: datetime) -> datetime:
        # (a time without an offset, which the signed content cannot hold, is refused
        # by UtcTime itself: "Input should have timezone info")
        # in UTC now: 0001-01-01T00:00:00+14:00 is before year 1 there, and formatting it
        # for the signed content overflowed later (a 500)
        try:
            return value.astimezone(UTC)
        except OverflowError as err:
            raise ValueError("signed_at is out of range") from err


DriverAuth = Annotated[SecurityCodeAuth | CertificateAuth, Field(discriminator="method")]


def cancel_op(ubr: str, ccrn: str | None = None) -> str:
    """The ``op`` a cancellation signs: it names its target, so a captured signature
    cannot be replayed to cancel another bundle or CCRN of the same account."""
    return f"cancel:{ubr}" if ccrn is None else f"cancel_ccrn:{ubr}:{ccrn}"


def signed_content(op: str, body: dict[str, Any], signed_at: datetime) -> bytes:
    """What a certificate signature covers: the operation, the request fields, the time.

    ``body`` is the request as JSON without ``auth`` and ``password``.
    """
    content = {k: v for k, v in body.items() if k not in ("auth", "password")}
    return canonical_json({"op": op, "body": content, "signed_at": to_rfc3339(signed_at)})


class BundleRequest(_Body):
    """``POST /v1/bundles``."""

    account: Account
    password: Password
    auth: DriverAuth
    vrn: Vrn
    cp: ControlPoint
    direction: Direction
    ccrns: list[Ccrn] = Field(min_length=1, max_length=MAX_CCRNS_PER_BUNDLE)

    @field_validator("ccrns")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a CCRN appears twice")
        return value


class CancelRequest(_Body):
    """``DELETE /v1/bundles/{ubr}`` and ``DELETE /v1/bundles/{ubr}/ccrns/{ccrn}`` (JSON body)."""

    account: Account
    password: Password
    auth: DriverAuth


class UbrBlockRequest(_Body):
    """``POST /v1/ubr-blocks``."""

    count: int = Field(ge=1, le=10_000)


class UbrBlock(_Record):
    cp: ControlPoint
    first: Ubr
    count: int
    leased_at: UtcTime
    expires_at: UtcTime


class ApiErrorBody(_Record):
    """Every error answer: ``{"error": KEY, "detail": ...}``."""

    error: str
    detail: Any = None

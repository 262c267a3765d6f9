"""Bus messages: every payload of the design as a validated, immutable model.

Payloads are UTF-8 JSON objects carrying ``v`` (1), ``id`` (ULID/UUID) and ``ts``
(UTC, RFC 3339, ms). Unknown fields are ignored. ``parse`` turns bytes into a model
or raises BadPayload; a consumer logs that and drops the message.
"""

from __future__ import annotations

import json
import unicodedata
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from rocars.errors import BadPayload, InvalidIdentifier
from rocars.eventid import is_event_id, new_event_id
from rocars.ids import Device, Lane, Plate, Ubr, normalize_plate
from rocars.timeutil import parse_rfc3339, to_rfc3339, utc_now

MAX_PAYLOAD_BYTES = 64 * 1024


def _parse_time(name: str, value: object) -> object:
    """RFC 3339 text (or a ``datetime`` made in Python). A number is refused: pydantic took
    ``1765000000`` for epoch seconds, which the contract does not have (found in review:
    lane inputs took a numeric ``ts``, docs/architecture.md says RFC 3339)."""
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, int | float):  # bool too: an int
        # ValueError: pydantic makes a validation error of it (a TypeError would escape)
        raise ValueError(f"{name} is RFC 3339 text (2026-12-07T08:00:00.000Z), not a number")  # noqa: TRY004
    return value


#: A time with its offset: one without (``2026-12-07T08:00:00``, or a naive
#: ``datetime``) says no instant and is refused, in every model (pydantic-core checks
#: it: no Python on the way). Written back as RFC 3339 UTC.
UtcTime = Annotated[
    AwareDatetime,
    PlainSerializer(to_rfc3339, return_type=str, when_used="json"),
]


class InstructionCode(StrEnum):
    """What the lane tells the driver."""

    READY = "READY"
    DROP_MANIFEST = "DROP_MANIFEST"
    PROCEED = "PROCEED"
    INSPECT = "INSPECT"
    TOO_EARLY = "TOO_EARLY"
    NO_BUNDLE = "NO_BUNDLE"
    WRONG_CONTROL_POINT = "WRONG_CONTROL_POINT"
    STOP_SEE_OFFICER = "STOP_SEE_OFFICER"


class Message(BaseModel):
    """The envelope every bus payload shares."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1
    id: str = Field(default_factory=new_event_id, description="unique event id (ULID or UUID)")
    ts: UtcTime = Field(default_factory=utc_now, description="when the event happened, UTC")

    _time_fields: ClassVar[tuple[str, ...]] = ("ts",)
    #: fields a payload of this kind must carry itself when it comes off the bus
    #: (``parse``): a default made on arrival would stand for what the sender never said
    _sent_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not is_event_id(value):
            raise ValueError("id must be a ULID or a UUID")
        return value

    @model_validator(mode="before")
    @classmethod
    def _times(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in cls._time_fields:
                if name in data:
                    data = {**data, name: _parse_time(name, data[name])}
        return data

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as it goes on the wire."""
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


class Alternate(BaseModel):
    """Another plate the reader saw on the same truck (second plate, or a runner-up read)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    vrn: Plate
    confidence: float = Field(ge=0.0, le=1.0)


#: A lane input's own id and time: a read or press stamped on arrival would pass the
#: late-read and before-instruction checks, and one given a new id each time it is
#: delivered again would pass the repeated-read guard (sync.lane)
_LANE_INPUT = frozenset({"id", "ts"})


class PlateRead(Message):
    """``lanes/{lane}/plate``: the AVRS saw a truck. ``vrn`` is empty when it saw no readable plate."""

    _sent_fields: ClassVar[frozenset[str]] = _LANE_INPUT

    vrn: Annotated[str, Field(max_length=16)] = ""
    raw: str = Field(default="", max_length=64)
    confidence: float = Field(ge=0.0, le=1.0)
    source: Literal["serial", "camera"]
    device: Device
    alternates: list[Alternate] = Field(default_factory=list, max_length=8)

    @field_validator("vrn", mode="before")
    @classmethod
    def _vrn(cls, value: object) -> object:
        if value in ("", None):
            return ""
        try:
            return normalize_plate(value)
        except InvalidIdentifier as err:
            raise ValueError(str(err)) from err


#: What a bay may hold: what every screen's font draws, left to right, with nothing that
#: reorders it (no right-to-left script), draws nothing or needs shaping the board lacks.
#: Printable ASCII (letters, digits, punctuation, symbols, the space) ...
_BAY_ASCII = frozenset(chr(code) for code in range(0x20, 0x7F))
#: ... the CJK Unified Ideographs (Han) up to U+9FEF (the block's last 16, added in
#: Unicode 13 and 14, are not in the screens' Noto Sans CJK) ...
_BAY_HAN_FIRST, _BAY_HAN_LAST = 0x4E00, 0x9FEF
#: ... the ideographic space and the CJK and fullwidth punctuation of Chinese names ...
_BAY_CJK_PUNCTUATION = frozenset("\u3000、。，：；（）「」『』【】《》〈〉－／＃．·")
#: ... and one Latin accent (grave to macron below) on an ASCII letter, as a combining
#: mark after it or precomposed (``e\u0301`` or ``é``).
_BAY_ACCENT_FIRST, _BAY_ACCENT_LAST = 0x0300, 0x0331
BAY_MAX_LENGTH = 16


def _bay_char(char: str, before: str) -> bool:
    """Whether ``char`` (after ``before``, "" at the start) may stand in a bay."""
    code = ord(char)
    if char in _BAY_ASCII or char in _BAY_CJK_PUNCTUATION:
        return True
    if _BAY_HAN_FIRST <= code <= _BAY_HAN_LAST:
        return True
    if _BAY_ACCENT_FIRST <= code <= _BAY_ACCENT_LAST:
        return before.isascii() and before.isalpha()
    decomposed = unicodedata.normalize("NFD", char)
    return len(decomposed) == 2 and _bay_char(decomposed[1], decomposed[0])


def check_bay(value: str) -> str:
    """``value`` if it can stand as the bay a board shows huge; ValueError if not.

    At most 16 characters once stripped (the field takes 16 at most as it comes), at
    least one of them not a space, and every one of them allowed: printable ASCII
    (letters, digits, punctuation, symbols, the space), a Han character (U+4E00 to
    U+9FEF), the ideographic space or a CJK/fullwidth punctuation mark of
    ``_BAY_CJK_PUNCTUATION``, or one Latin accent (U+0300 to U+0331) on an ASCII letter,
    combining or precomposed. A driver told INSPECT must see where to go, not a blank,
    boxes for glyphs the screens lack, or a bay reordered right to left. Chinese names
    are bays too.
    """
    if len(value.strip()) > BAY_MAX_LENGTH:
        raise ValueError(f"a bay is at most {BAY_MAX_LENGTH} characters")
    refused = [
        char for at, char in enumerate(value) if not _bay_char(char, value[at - 1] if at else "")
    ]
    if refused:
        raise ValueError(
            f"a bay may hold only ASCII, Han characters, CJK punctuation and Latin accents, "
            f"not {''.join(refused)!r}"
        )
    if not value.strip():
        raise ValueError("a bay needs a visible character")
    return value


class Instruction(Message):
    """``lanes/{lane}/instruction`` (retained): what the XDB and AIOP show. Signed with the lane key."""

    #: ``ts`` sent, not made on arrival: a display holds an instruction no longer than its
    #: lifetime from it, and fails closed on one told later than its clock says now
    _sent_fields: ClassVar[frozenset[str]] = frozenset({"ts"})

    seq: int = Field(ge=0)
    vrn: str | None = Field(default=None, max_length=16)
    code: InstructionCode
    ubr: Ubr | None = None
    bay: str | None = Field(default=None, max_length=BAY_MAX_LENGTH)
    earliest_at: UtcTime | None = None
    expires_at: UtcTime | None = None
    sig: str = Field(default="", max_length=128)

    _time_fields: ClassVar[tuple[str, ...]] = ("ts", "earliest_at", "expires_at")

    @field_validator("bay")
    @classmethod
    def _bay(cls, value: str | None) -> str | None:
        return None if value is None else check_bay(value)

    @model_validator(mode="after")
    def _fields_per_code(self) -> Instruction:
        if self.code is InstructionCode.INSPECT and not self.bay:
            raise ValueError("INSPECT needs a bay")
        if self.code is InstructionCode.TOO_EARLY and self.earliest_at is None:
            raise ValueError("TOO_EARLY needs earliest_at")
        return self


#: What a press or a drop answers: the ``seq`` of the instruction the panel showed.
_ANSWERS = (
    "the seq of the instruction the panel showed when the driver acted (None: not known);"
    " given, the lane takes the event for that instruction only, whatever the clocks say"
)


class UnladenPressed(Message):
    """``lanes/{lane}/aiop/unladen``: the driver pressed Unladen Vehicle on the panel."""

    _sent_fields: ClassVar[frozenset[str]] = _LANE_INPUT

    vrn: str = Field(default="", max_length=16)
    instruction_seq: int | None = Field(default=None, ge=0, description=_ANSWERS)


class ManifestDropped(Message):
    """``lanes/{lane}/aiop/manifest``: the paper manifest went into the drop box."""

    _sent_fields: ClassVar[frozenset[str]] = _LANE_INPUT

    source: Literal["sensor", "panel"]
    instruction_seq: int | None = Field(default=None, ge=0, description=_ANSWERS)


class DeviceStatus(Message):
    """``lanes/{lane}/status/{device}`` (retained; also the device's last will)."""

    state: Literal["online", "offline"]
    detail: str = Field(default="", max_length=512)
    metrics: dict[str, float | int | str | None] = Field(default_factory=dict)


class SyncStatus(Message):
    """``sync/status`` (retained, every second): the displays' heartbeat; also the agent's last will."""

    #: ``ts`` sent, not made on arrival: an online status without one counted as fresh
    #: whenever it was read (a retained one revived a display each time: found in review)
    _sent_fields: ClassVar[frozenset[str]] = frozenset({"ts"})

    state: Literal["online", "offline"]
    central: Literal["up", "down"]
    last_sync_at: UtcTime | None = None
    bundles: int = Field(default=0, ge=0)
    outbox_depth: int = Field(default=0, ge=0)
    detail: str = Field(default="", max_length=512, description="what is wrong, if anything")
    agent: str = Field(default="", max_length=128, description="the agent's MQTT client id")
    shard: str = Field(default="", max_length=16, description="the agent's shard; empty: none")
    instance: str = Field(
        default="",
        max_length=32,
        description=(
            "this run of the agent (random at its start): a status of the same client id "
            "from another run, stamped after this one started, is a second process"
        ),
    )
    lanes: list[Lane] = Field(
        default_factory=list,
        max_length=500,
        description=(
            "the lanes of the agent whose status this is; empty (an agent that does not say): "
            "every lane of the control point"
        ),
    )

    _time_fields: ClassVar[tuple[str, ...]] = ("ts", "last_sync_at")

    def covers(self, lane: str) -> bool:
        """Whether this is the status of the agent that controls ``lane``."""
        return not self.lanes or lane in self.lanes


M = TypeVar("M", bound=Message)


def decode_json(payload: bytes) -> dict[str, Any]:
    """Bytes to a JSON object, or BadPayload (too big, not UTF-8, not JSON, not an object)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise BadPayload(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError) as err:
        # not UTF-8, not JSON, an integer of over 4300 digits (ValueError each), or
        # arrays nested deeper than the interpreter's recursion limit
        raise BadPayload(f"not UTF-8 JSON: {str(err)[:200]}") from err
    if not isinstance(data, dict):
        raise BadPayload(f"payload is a JSON {type(data).__name__}, not an object")
    return data


def parse(model: type[M], payload: bytes | dict[str, Any]) -> M:
    """Validate a payload as ``model``; BadPayload says which field is wrong.

    Bytes go through pydantic's own JSON parser first, in one pass (a plate read: 6.6
    against 10.9 us hot through ``json.loads`` and a dict). That parser is the stricter
    of the two (it refuses ``NaN``, ``Infinity``, lone surrogates and numbers out of a
    float's range, which ``json.loads`` takes), so whatever it refuses, for any reason,
    is parsed again the long way below, and the error says what is wrong as before.
    """
    if isinstance(payload, bytes) and len(payload) <= MAX_PAYLOAD_BYTES:
        try:
            return _sent(model.model_validate_json(payload))
        except ValidationError:
            pass
    data = payload if isinstance(payload, dict) else decode_json(payload)
    try:
        return _sent(model.model_validate(data))
    except ValidationError as err:
        fields = ", ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in err.errors()
        )
        raise BadPayload(f"bad {model.__name__}: {fields}", fields=fields) from err


def _sent(message: M) -> M:
    """``message`` if it carried the fields its kind must send itself (``_sent_fields``);
    BadPayload naming the missing ones if not."""
    missing = message._sent_fields - message.model_fields_set
    if missing:
        fields = ", ".join(f"{name}: missing (the sender's own)" for name in sorted(missing))
        raise BadPayload(f"bad {type(message).__name__}: {fields}", fields=fields)
    return message

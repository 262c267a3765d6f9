"""Identifiers of the domain, their validation and normalisation.

One name per idea: ``ccrn``, ``ubr``, ``vrn``, ``cp``, ``lane`` mean the same everywhere.
"""

from __future__ import annotations

import re
import string
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from rocars.errors import InvalidIdentifier

# [0-9], not \d: \d takes any script's digits (fullwidth, Arabic-Indic), which no
# identifier of ROCARS has. Each is used with fullmatch: ``$`` matches before a final
# newline, so "L01\n" passed as a lane (then a topic level, a file name)
_TEN_DIGITS = re.compile(r"[0-9]{10}")
_SIX_DIGITS = re.compile(r"[0-9]{6}")
_LANE = re.compile(r"[A-Za-z0-9_-]{1,16}")
_SHARD = re.compile(r"[a-z0-9][a-z0-9-]{0,15}")
_DEVICE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# Hong Kong plates: letters and digits, no I, O or Q (folded before this check).
_HK_VRN = re.compile(r"[A-HJ-NPR-Z0-9]{1,8}")
# Cross-boundary Mainland plate: 粤Z + four letters/digits + 港 or 澳.
_MAINLAND = re.compile(r"粤Z[A-HJ-NP-Z0-9]{4}[港澳]")
_FOLD = str.maketrans("IOQ", "100")
_FOLD_MAINLAND = str.maketrans("IO", "10")
#: Written between a Mainland plate's province and letter, or its parts (粤Z·1234港).
_MAINLAND_DOTS = re.compile("[·・•‧.]")
_SEPARATORS = re.compile(r"[\s\-]")
#: Upper case for ASCII letters only: str.upper() makes ASCII of others ("ı" is "I",
#: "ſ" is "S", "ﬁ" is "FI"), which would take them for a real plate's letters
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def _ten_digits(kind: str, value: object) -> str:
    if isinstance(value, str):
        text = _SEPARATORS.sub("", value)
    elif isinstance(value, int) and value >= 0:  # -1234567890's sign is no separator
        text = str(value)
    else:
        text = ""
    if not _TEN_DIGITS.fullmatch(text):
        raise InvalidIdentifier(
            f"{kind} must be 10 digits, got {value!r}", key=f"{kind}_invalid", value=str(value)
        )
    return text


def normalize_ccrn(value: object) -> str:
    """A CCRN: 10 digits; spaces and hyphens a person typed are dropped."""
    return _ten_digits("ccrn", value)


def normalize_ubr(value: object) -> str:
    """A UBR: 10 digits; spaces and hyphens a person typed are dropped."""
    return _ten_digits("ubr", value)


def normalize_account(value: object) -> str:
    """A driver account number: 6 digits."""
    text = str(value).strip()
    if not _SIX_DIGITS.fullmatch(text):
        raise InvalidIdentifier(
            f"account must be 6 digits, got {value!r}", key="account_invalid", value=text
        )
    return text


def normalize_vrn(value: object) -> str:
    """A Hong Kong VRN as the replica keys it.

    Upper case, spaces dropped, I/O/Q folded to 1/0/0 (HK plates never use them),
    at most 8 letters and digits.
    """
    if not isinstance(value, str):
        raise InvalidIdentifier(
            f"vrn must be text, got {value!r}", key="vrn_invalid", value=str(value)
        )
    text = _SEPARATORS.sub("", value.translate(_ASCII_UPPER)).translate(_FOLD)
    if not _HK_VRN.fullmatch(text):
        raise InvalidIdentifier(f"not a Hong Kong plate: {value!r}", key="vrn_invalid", value=value)
    return text


def normalize_plate(value: object) -> str:
    """Any plate the lane may see: a HK VRN, or a cross-boundary Mainland plate (粤Z1234港)."""
    if isinstance(value, str):
        text = _SEPARATORS.sub("", value.translate(_ASCII_UPPER))
        if text.startswith(("粤", "粵")):  # the province in simplified or traditional form
            text = "粤" + _MAINLAND_DOTS.sub("", text[1:]).translate(_FOLD_MAINLAND)
            if _MAINLAND.fullmatch(text):
                return text
            raise InvalidIdentifier(
                f"not a Mainland plate: {value!r}", key="vrn_invalid", value=value
            )
    return normalize_vrn(value)


def normalize_mainland_plate(value: object) -> str:
    """A cross-boundary Mainland plate (粤Z1234港), normalised; a Hong Kong one refused."""
    text = normalize_plate(value)
    if not is_mainland_plate(text):
        raise InvalidIdentifier(
            f"not a Mainland plate: {value!r}", key="vrn_invalid", value=str(value)
        )
    return text


def is_mainland_plate(vrn: str) -> bool:
    """True for a normalised 粤Z…港/澳 plate."""
    return bool(_MAINLAND.fullmatch(vrn))


def identity_plates(plates: list[str]) -> list[str]:
    """The plates that name a truck for sure, of a read's plates (the read plate first,
    then its alternates): the read plate, and its one alternate of the other kind (its
    other plate: Hong Kong for a Mainland read, Mainland for a Hong Kong one). A truck
    has one plate of each kind, so with two or more alternates of the other kind one at
    least is another truck's, and none is taken. An alternate of the read plate's own
    kind is the read plate read another way, maybe another truck's. The list itself when
    there is one plate (no copy on a lane's read)."""
    if len(plates) < 2:
        return plates
    mainland = is_mainland_plate(plates[0])
    other = {p: None for p in plates[1:] if is_mainland_plate(p) != mainland}
    return [plates[0], *other] if len(other) == 1 else plates[:1]


def validate_lane(value: object) -> str:
    """A lane id: 1-16 of letters, digits, ``_`` and ``-`` (it is an MQTT topic level)."""
    text = str(value)
    if not _LANE.fullmatch(text):
        raise InvalidIdentifier(f"bad lane id {value!r}", key="lane_invalid", value=text)
    return text


def validate_shard(value: object) -> str:
    """A shard name (one of several sync agents sharing a site's lanes): 1-16 of lower-case
    letters, digits and ``-``, starting with a letter or digit (it is an MQTT topic level and
    part of a file name). ``status`` is refused: ``sync/status`` is the site's own topic."""
    text = str(value)
    if not _SHARD.fullmatch(text) or text == "status":
        raise InvalidIdentifier(f"bad shard name {value!r}", key="shard_invalid", value=text)
    return text


def validate_device(value: object) -> str:
    """A device id: 1-32 of letters, digits, ``_``, ``.`` and ``-``."""
    text = str(value)
    if not _DEVICE.fullmatch(text):
        raise InvalidIdentifier(f"bad device id {value!r}", key="device_invalid", value=text)
    return text


#: the HTTP header that makes a submission safe to send again (``validate_idempotency_key``)
IDEMPOTENCY_HEADER = "Idempotency-Key"


def validate_idempotency_key(value: object) -> str:
    """A client's key for one submission (``Idempotency-Key``): 1-64 of letters, digits,
    ``_``, ``.``, ``:`` and ``-`` (a UUID or ULID fits). Sent again with the same body, the
    submission is answered as the first one was, not made twice."""
    text = str(value)
    if not _IDEMPOTENCY_KEY.fullmatch(text):
        raise InvalidIdentifier(
            f"bad idempotency key {text[:80]!r}: 1-64 of A-Z a-z 0-9 _ . : -",
            key="idempotency_key_invalid",
            value=text[:80],
        )
    return text


class ControlPoint(StrEnum):
    """The land boundary control points, in IVRS key order."""

    STK = "STK"
    MKT = "MKT"
    LMC = "LMC"
    SBC = "SBC"
    HZM = "HZM"
    HZO = "HZO"
    HYW = "HYW"

    @property
    def ivrs_key(self) -> int:
        """The key a driver presses on the phone menu (1-7)."""
        return list(ControlPoint).index(self) + 1

    @property
    def english_name(self) -> str:
        """The English name (UIs translate their own copy of it)."""
        return _CP_NAMES[self]

    @classmethod
    def from_ivrs_key(cls, key: int) -> ControlPoint:
        """The control point behind IVRS key 1-7."""
        if not 1 <= key <= len(cls):
            raise InvalidIdentifier(
                f"IVRS key must be 1-7, got {key}", key="cp_invalid", value=str(key)
            )
        return list(cls)[key - 1]

    @classmethod
    def parse(cls, value: object) -> ControlPoint:
        """A control point from its code (any case) or its IVRS key."""
        text = str(value).strip().translate(_ASCII_UPPER)
        # ASCII digits only: str.isdigit takes any script's ("١", "²"), and int() then
        # gave another script's key or raised ValueError (as it does past 4300 digits)
        if text.isascii() and text.isdigit() and len(text) < 10:
            return cls.from_ivrs_key(int(text))
        try:
            return cls(text)
        except ValueError as err:
            raise InvalidIdentifier(
                f"unknown control point {value!r}", key="cp_invalid", value=str(value)
            ) from err


_CP_NAMES = {
    ControlPoint.STK: "Sha Tau Kok",
    ControlPoint.MKT: "Man Kam To",
    ControlPoint.LMC: "Lok Ma Chau",
    ControlPoint.SBC: "Shenzhen Bay",
    ControlPoint.HZM: "HZMB Hong Kong Port (to/from the Mainland)",
    ControlPoint.HZO: "HZMB Hong Kong Port (to/from Macao)",
    ControlPoint.HYW: "Heung Yuen Wai",
}


class Direction(StrEnum):
    """Import is into Hong Kong; export is out of it."""

    IMPORT = "import"
    EXPORT = "export"


def _pyd(fn):  # type: ignore[no-untyped-def]
    """Turn an InvalidIdentifier into the ValueError pydantic reports as a field error."""

    def wrapped(value: object) -> str:
        try:
            return fn(value)  # type: ignore[no-any-return]
        except InvalidIdentifier as err:
            raise ValueError(str(err)) from err

    return wrapped


# Field types for pydantic models.
Ccrn = Annotated[str, BeforeValidator(_pyd(normalize_ccrn))]
Ubr = Annotated[str, BeforeValidator(_pyd(normalize_ubr))]
Vrn = Annotated[str, BeforeValidator(_pyd(normalize_vrn))]
Plate = Annotated[str, BeforeValidator(_pyd(normalize_plate))]
MainlandPlate = Annotated[str, BeforeValidator(_pyd(normalize_mainland_plate))]
Lane = Annotated[str, AfterValidator(_pyd(validate_lane))]
Device = Annotated[str, AfterValidator(_pyd(validate_device))]
Account = Annotated[str, BeforeValidator(_pyd(normalize_account))]

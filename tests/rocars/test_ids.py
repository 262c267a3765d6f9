from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rocars.errors import InvalidIdentifier
from rocars.ids import (
    ControlPoint,
    identity_plates,
    normalize_ccrn,
    normalize_mainland_plate,
    normalize_plate,
    normalize_ubr,
    normalize_vrn,
)
from tests.sync.test_lane import make_bundle


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AB 1234", "AB1234"),
        ("ab1234", "AB1234"),
        ("OI 1O2Q", "011020"),
        ("XY  9", "XY9"),
        ("TOPGUN8", "T0PGUN8"),
    ],
)
def test_vrn_normalised(raw: str, expected: str) -> None:
    assert normalize_vrn(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "ABCDEFGHJ", "AB-12$", "粤Z1234港", 1234])
def test_vrn_rejected(raw: object) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        normalize_vrn(raw)
    assert info.value.key == "vrn_invalid"


# str.upper() makes ASCII of these: dotless i (I, then 1), long s, the fi ligature, a
# Kelvin sign is already upper (found in review: "ı0" was plate 10)
@pytest.mark.parametrize("raw", ["ı0", "ſ1", "ﬁ1", "AB1K", "粤Zſ123港", "粤Zab1ı港"])
def test_letters_that_are_not_ascii_are_no_plate_of_ascii(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalize_plate(raw)
    if not raw.startswith("粤"):
        with pytest.raises(InvalidIdentifier):
            normalize_vrn(raw)
    with pytest.raises(InvalidIdentifier):
        ControlPoint.parse("ſtk")


def test_mainland_plate() -> None:
    assert normalize_plate("粤Z 1234 港") == "粤Z1234港"
    assert normalize_plate("粤ZAB12澳") == "粤ZAB12澳"
    with pytest.raises(InvalidIdentifier):
        normalize_plate("粤B1234港")


@pytest.mark.parametrize("fn", [normalize_ccrn, normalize_ubr])
def test_ten_digits(fn: object) -> None:
    assert fn("1001 041-258") == "1001041258"  # type: ignore[operator]
    # fullwidth and Arabic-Indic digits are digits to a regular expression, not to ROCARS
    for bad in ["100104125", "10010412588", "10010412a8", "", "１００１０４１２５８", "١٠٠١٠٤١٢٥٨"]:
        with pytest.raises(InvalidIdentifier):
            fn(bad)  # type: ignore[operator]
    assert fn(1001041258) == "1001041258"  # type: ignore[operator]
    for number in (-1001041258, True):  # the sign was dropped as a separator
        with pytest.raises(InvalidIdentifier):
            fn(number)  # type: ignore[operator]


def test_control_points_in_ivrs_order() -> None:
    assert [cp.ivrs_key for cp in ControlPoint] == [1, 2, 3, 4, 5, 6, 7]
    assert ControlPoint.parse("4") is ControlPoint.SBC
    assert ControlPoint.parse("hyw") is ControlPoint.HYW
    with pytest.raises(InvalidIdentifier):
        ControlPoint.parse("XXX")
    with pytest.raises(InvalidIdentifier):
        ControlPoint.parse("8")


def test_an_account_and_a_security_code_are_ascii_digits() -> None:
    from pydantic import ValidationError

    from rocars.ids import normalize_account
    from rocars.models import SecurityCodeAuth

    assert normalize_account("110928") == "110928"
    assert SecurityCodeAuth(code="123456").code == "123456"
    for bad in ("１１０９２８", "١١٠٩٢٨"):
        with pytest.raises(InvalidIdentifier):
            normalize_account(bad)
        with pytest.raises(ValidationError):
            SecurityCodeAuth(code=bad)


@pytest.mark.parametrize("raw", ["粵Z1234港", "粤Z·1234港", "粤 Z・1234 港", "粵z.1234港"])
def test_mainland_plate_forms_a_reader_may_send(raw: str) -> None:
    """The province in its traditional form, a dot between the parts: the same plate
    (a serial reader's 粵Z1234港 was an unread; the camera grammar folded both)."""
    assert normalize_plate(raw) == "粤Z1234港"


def test_a_second_plate_is_a_mainland_plate() -> None:
    """A bundle's second plate names the truck's Mainland plate: a Hong Kong plate there
    would let a second truck cross on the bundle (the lanes trust the second plate)."""
    assert normalize_mainland_plate("粤Z 1234港") == "粤Z1234港"
    with pytest.raises(InvalidIdentifier) as info:
        normalize_mainland_plate("CD5678")
    assert info.value.key == "vrn_invalid"
    assert make_bundle("9110635860", "AB1234", second_plate="粵Z1234港").second_plate == (
        "粤Z1234港"
    )
    with pytest.raises(ValidationError, match="not a Mainland plate"):
        make_bundle("9110635860", "AB1234", second_plate="CD5678")


def _validators() -> dict[str, Any]:
    from rocars.ids import validate_device, validate_lane, validate_shard

    return {"lane": validate_lane, "device": validate_device, "shard": validate_shard}


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "\t"])
@pytest.mark.parametrize(("kind", "good"), [("lane", "L01"), ("device", "xdb-L01"), ("shard", "a")])
def test_an_identifier_with_a_line_end_after_it_is_refused(
    kind: str, good: str, suffix: str
) -> None:
    """``$`` matches before a final newline: "L01\\n" passed as a lane id (a topic level,
    a file name) and as a device and shard name."""
    validate = _validators()[kind]
    assert validate(good) == good
    with pytest.raises(InvalidIdentifier):
        validate(good + suffix)


@pytest.mark.parametrize("suffix", ["\n", "x"])
def test_a_mainland_plate_with_anything_after_it_is_not_one(suffix: str) -> None:
    from rocars.ids import is_mainland_plate

    assert is_mainland_plate("粤Z1234港")
    assert not is_mainland_plate("粤Z1234港" + suffix)


@pytest.mark.parametrize("digit", ["١", "٤", "４", "²", "𝟒", "4\u0664", "9" * 5000])
def test_a_control_point_key_is_an_ascii_digit(digit: str) -> None:
    """``str.isdigit`` takes any script's digits: "١" (Arabic-Indic one) was STK, "²"
    a bare ValueError, and 5000 nines int()'s digit limit."""
    with pytest.raises(InvalidIdentifier) as info:
        ControlPoint.parse(digit)
    assert info.value.key == "cp_invalid"
    assert ControlPoint.parse(" 1 ") is ControlPoint.STK


@pytest.mark.parametrize(
    ("plates", "expected"),
    [
        (["AB1234"], ["AB1234"]),
        (["AB1234", "AB1284"], ["AB1234"]),  # its own kind: the read plate read otherwise
        (["AB1234", "AB1284", "粤Z1234港"], ["AB1234", "粤Z1234港"]),
        (["粤Z1234港", "AB1234", "粤Z1284港"], ["粤Z1234港", "AB1234"]),
        (["AB1234", "粤Z1234港", "粤Z1234港"], ["AB1234", "粤Z1234港"]),  # one plate, twice
        # two of the other kind: a truck has one, so neither is its for sure
        (["AB1234", "粤Z1234港", "粤Z1284港"], ["AB1234"]),
        (["粤Z1234港", "AB1234", "CD5678"], ["粤Z1234港"]),
    ],
)
def test_identity_plates_take_one_plate_of_the_other_kind_at_most(
    plates: list[str], expected: list[str]
) -> None:
    assert identity_plates(plates) == expected

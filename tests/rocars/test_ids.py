from __future__ import annotations

import pytest

from rocars.errors import InvalidIdentifier
from rocars.ids import (
    ControlPoint,
    normalize_ccrn,
    normalize_plate,
    normalize_ubr,
    normalize_vrn,
)


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


def test_mainland_plate() -> None:
    assert normalize_plate("粤Z 1234 港") == "粤Z1234港"
    assert normalize_plate("粤ZAB12澳") == "粤ZAB12澳"
    with pytest.raises(InvalidIdentifier):
        normalize_plate("粤B1234港")


@pytest.mark.parametrize("fn", [normalize_ccrn, normalize_ubr])
def test_ten_digits(fn: object) -> None:
    assert fn("1001 041-258") == "1001041258"  # type: ignore[operator]
    for bad in ["100104125", "10010412588", "10010412a8", ""]:
        with pytest.raises(InvalidIdentifier):
            fn(bad)  # type: ignore[operator]


def test_control_points_in_ivrs_order() -> None:
    assert [cp.ivrs_key for cp in ControlPoint] == [1, 2, 3, 4, 5, 6, 7]
    assert ControlPoint.parse("4") is ControlPoint.SBC
    assert ControlPoint.parse("hyw") is ControlPoint.HYW
    with pytest.raises(InvalidIdentifier):
        ControlPoint.parse("XXX")
    with pytest.raises(InvalidIdentifier):
        ControlPoint.parse("8")

"""The API's bodies: what ``_Body`` does to the text it is given."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from rocars.models import Bundle, BundleRequest, CancelRequest, SecurityCodeAuth

CODE = {"method": "security_code", "code": " 123456 "}


def bundle(password: str) -> dict[str, Any]:
    return {
        "account": "100001",
        "password": password,
        "auth": CODE,
        "vrn": "AB1",
        "cp": "SBC",
        "direction": "import",
        "ccrns": ["1001041258"],
    }


@pytest.mark.parametrize("password", ["159013  ", " 159013", "\t159013\n", "   "])
def test_a_password_is_kept_as_typed(password: str) -> None:
    """Every other text field is stripped; the password was too, so "159013  " passed
    as "159013": now the centre compares what was typed, and refuses it."""
    request = BundleRequest.model_validate(bundle(password))
    assert request.password == password
    assert isinstance(request.auth, SecurityCodeAuth)
    assert request.auth.code == "123456"  # the rest is still stripped
    cancel = CancelRequest.model_validate({"account": "100001", "password": password, "auth": CODE})
    assert cancel.password == password
    assert cancel.model_dump(mode="json")["password"] == password


@pytest.mark.parametrize("password", ["", "x" * 65])
def test_a_password_is_one_to_64_characters(password: str) -> None:
    with pytest.raises(ValidationError, match="password"):
        BundleRequest.model_validate(bundle(password))
    with pytest.raises(ValidationError, match="password"):
        CancelRequest.model_validate({"account": "100001", "password": password, "auth": CODE})


def test_a_time_without_its_offset_is_refused_in_every_model() -> None:
    """A time with no offset says no instant: a bundle from the feed or a record sent to
    the centre with one is refused where it comes in, not taken and failed later."""
    from tests.sync.test_lane import make_bundle

    body = make_bundle("9110635860", "AB1234").model_dump(mode="json")
    assert Bundle.model_validate(body)
    for field in ("bundled_at", "earliest_at", "updated_at"):
        with pytest.raises(ValidationError, match="timezone info"):
            Bundle.model_validate({**body, field: "2026-12-07T08:00:00"})
    with pytest.raises(ValidationError, match="timezone info"):
        Bundle.model_validate({**body, "earliest_at": datetime(2026, 12, 7, 8, 0)})

"""What a shipper's cargo text may hold: line breaks and tabs, not hidden characters."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from rocars.models import CargoItems

BASE: dict[str, Any] = {
    "packages": 12,
    "package_description": "CARTONS",
    "article_description": "LED LAMPS",
    "consignor_name": "SHENZHEN LIGHTS CO",
    "consignor_address": "1 HIGH-TECH ROAD, SHENZHEN",
    "consignee_name": "KWUN TONG TRADING LTD",
    "consignee_address": "8 HOI BUN ROAD, KWUN TONG",
    "expected_date": date(2026, 12, 7),
    "direction": "import",
}


def test_line_breaks_tabs_and_chinese_are_kept() -> None:
    items = CargoItems.model_validate(
        {
            **BASE,
            "consignee_name": "觀塘貿易有限公司",
            "transhipment": "VIA YANTIAN\nTHEN\tKWAI CHUNG",
        }
    )
    assert items.consignee_name == "觀塘貿易有限公司"
    assert items.transhipment == "VIA YANTIAN\nTHEN\tKWAI CHUNG"


@pytest.mark.parametrize(
    "text",
    [
        "ACME\x00 LTD",  # NUL
        "ACME\x1b[31m LTD",  # a terminal escape
        "ACME\x85 LTD",  # a C1 control
        "\u202eDTL EMCA",  # right-to-left override: shows as ACME LTD
        "ACME \u2067LTD\u2069",  # a right-to-left isolate
    ],
)
@pytest.mark.parametrize("field", ["consignor_name", "article_description", "transhipment"])
def test_hidden_characters_are_refused_naming_the_field(field: str, text: str) -> None:
    with pytest.raises(ValidationError) as err:
        CargoItems.model_validate({**BASE, field: text})
    assert [e["loc"] for e in err.value.errors()] == [(field,)]
    assert "control character U+" in str(err.value)

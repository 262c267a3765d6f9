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


def test_free_texts_are_kept_as_typed_and_a_container_number_in_capitals() -> None:
    """Transhipment details and the licence number were upper-cased: a shipper's text came
    back changed, and 130 x "ß" (within 256) became 260 characters and was refused."""
    items = CargoItems.model_validate(
        {
            **BASE,
            "transhipment": "  via Macau, vessel 'Star Lady'  ",
            "licence_no": "Lic-2026/ab7",
            "container_no": " msku1234565 ",
        }
    )
    assert items.transhipment == "via Macau, vessel 'Star Lady'"
    assert items.licence_no == "Lic-2026/ab7"
    assert items.container_no == "MSKU1234565"
    sharp = CargoItems.model_validate({**BASE, "transhipment": "ß" * 130})
    assert sharp.transhipment == "ß" * 130
    assert CargoItems.model_validate({**BASE, "licence_no": "   "}).licence_no is None


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

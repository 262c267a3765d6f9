"""The sync agent's config: values that would turn a safety off, or defeat themselves, are
refused; every config the docs ship loads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sync.config import LaneConfig, SyncConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


def config(**fields: Any) -> SyncConfig:
    return SyncConfig.model_validate(fields)


def lane(**fields: Any) -> SyncConfig:
    return config(lanes=[{"id": "L01", **fields}])


@pytest.mark.parametrize(
    ("make", "fields", "what"),
    [
        # rule 1 off (0.0), or down to a coin's toss
        (lane, {"confidence_threshold": 0.0}, "confidence_threshold"),
        (lane, {"confidence_threshold": 0.49}, "confidence_threshold"),
        # busy loops, a poll or a status flood
        (config, {"tick_interval_s": 1e-9}, "tick_interval_s"),
        (config, {"status_interval_s": 1e-9}, "status_interval_s"),
        (config, {"pull_interval_s": 1e-9}, "pull_interval_s"),
        (config, {"upload_interval_s": 1e-9}, "upload_interval_s"),
        (config, {"backoff_initial_s": 1e-9}, "backoff_initial_s"),
        (config, {"backoff_max_s": 1e-9}, "backoff_max_s"),
        # the displays' heartbeat bound (3 s) would see one heartbeat at most
        (config, {"status_interval_s": 1.1}, "status_interval_s"),
        (config, {"status_interval_s": 60}, "status_interval_s"),
        # a cap under the first delay
        (config, {"backoff_initial_s": 5, "backoff_max_s": 1}, "backoff_max_s"),
        # the replica stale between two polls: the lanes closed most of the time
        (config, {"pull_interval_s": 300, "replica_max_age_s": 300}, "pull_interval_s"),
        (config, {"pull_interval_s": 600}, "pull_interval_s"),  # the default max age: 300
    ],
)
def test_a_dangerous_or_self_defeating_value_is_refused(
    make: Any, fields: dict[str, Any], what: str
) -> None:
    with pytest.raises(ValidationError, match=what):
        make(**fields)


def test_the_values_the_tests_and_the_defaults_use_are_taken() -> None:
    assert config(
        tick_interval_s=0.01,
        status_interval_s=0.1,
        pull_interval_s=0.1,
        upload_interval_s=0.1,
        backoff_initial_s=0.01,
        backoff_max_s=0.01,
        replica_max_age_s=1.5,
    )
    assert config(status_interval_s=1.0, backoff_initial_s=0.5, backoff_max_s=0.5)
    assert lane(confidence_threshold=0.5, max_read_age_s=3600)  # bench/lane_cpu.py's
    default = SyncConfig()
    assert default.status_interval_s * 2 <= 2.0  # the least bound a display takes
    assert default.pull_interval_s < default.replica_max_age_s


def shipped_configs() -> list[tuple[str, str]]:
    """Each ```toml block of the docs (docs/sync.md's full config, operations.md's)."""
    blocks = []
    for doc in sorted(DOCS.glob("*.md")):
        for n, block in enumerate(re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S)):
            blocks.append((f"{doc.name}#{n}", block))
    return blocks


def test_the_docs_ship_configs() -> None:
    assert {name.split("#")[0] for name, _ in shipped_configs()} >= {"sync.md", "operations.md"}


@pytest.mark.parametrize(("name", "text"), shipped_configs())
def test_every_config_the_docs_ship_loads(name: str, text: str) -> None:
    SyncConfig.model_validate(tomllib.loads(text))


@pytest.mark.parametrize("bay", [" ", "\u200b", "\u202eB12", "B1\n"])
def test_an_inspection_bay_the_displays_cannot_show_is_refused(bay: str) -> None:
    """The displays refuse an INSPECT whose bay they cannot show: one configured here
    would fail every unladen inspection of the lane."""
    with pytest.raises(ValidationError, match="bay"):
        LaneConfig(id="L01", inspect_bay=bay)
    assert LaneConfig(id="L01", inspect_bay="查驗區3").inspect_bay == "查驗區3"

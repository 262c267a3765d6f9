"""A booth PC's own lane key (``ROCARS_LANE_KEY``) instead of the site secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rocars.config import secret
from rocars.errors import ConfigError
from rocars.lanekey import format_lane_key, main, parse_lane_key, screen_key
from rocars.signing import lane_key
from tests.fixtures.brokers import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
SITE = secret("site_secret").encode()


def test_a_printed_lane_key_is_the_lane_key_the_agent_signs_with() -> None:
    text = format_lane_key(SITE, "sbc", "L01")
    assert text.startswith("SBC/L01:")
    assert parse_lane_key(text, "SBC", "L01") == lane_key(SITE, "SBC", "L01")
    assert parse_lane_key(text.upper(), "SBC", "L01") == lane_key(SITE, "SBC", "L01")  # hex


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is not a lane key"),
        ("SBC/L01:" + "ab" * 31, "is not a lane key"),
        ("SBC/L01:" + "zz" * 32, "is not a lane key"),
        ("SBC/L01 " + "ab" * 32, "is not a lane key"),
        ("SBC/L02:" + "ab" * 32, "the key of SBC/L02, this screen is SBC/L01"),
        ("MKT/L01:" + "ab" * 32, "the key of MKT/L01, this screen is SBC/L01"),
    ],
)
def test_a_lane_key_not_for_this_screen_is_refused_naming_both(text: str, problem: str) -> None:
    """A display given another lane's key would fail every instruction closed; it refuses
    to start instead, and the error never shows the key."""
    with pytest.raises(ConfigError, match=problem) as caught:
        parse_lane_key(text, "SBC", "L01")
    assert "ab" * 8 not in str(caught.value)


def test_a_screen_takes_its_lane_key_before_the_site_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROCARS_LANE_KEY", format_lane_key(SITE, "SBC", "L01"))
    monkeypatch.delenv("ROCARS_SITE_SECRET")
    assert screen_key("SBC", "L01") == lane_key(SITE, "SBC", "L01")
    with pytest.raises(ConfigError, match="the key of SBC/L01, this screen is SBC/L02"):
        screen_key("SBC", "L02")
    monkeypatch.delenv("ROCARS_LANE_KEY")
    with pytest.raises(ConfigError, match="ROCARS_SITE_SECRET is not set"):
        screen_key("SBC", "L01")
    monkeypatch.setenv("ROCARS_SITE_SECRET", SITE.decode())
    assert screen_key("SBC", "L02") == lane_key(SITE, "SBC", "L02")


def test_the_command_prints_one_line_a_lane(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cp", "SBC", "--lane", "L01", "--lane", "L02"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"ROCARS_LANE_KEY={format_lane_key(SITE, 'SBC', 'L01')}",
        f"ROCARS_LANE_KEY={format_lane_key(SITE, 'SBC', 'L02')}",
    ]
    assert main(["--cp", "XXX", "--lane", "L01"]) == 2
    assert "XXX" in capsys.readouterr().err
    assert main(["--cp", "SBC", "--lane", "bad/lane"]) == 2


def _xdb(env: dict[str, str], broker: str, lane: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rocars.cli", "xdb", "--broker", broker, "--cp", "SBC"]
        + ["--lane", lane, "--headless", "--window", "--first-frame-exit"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


def test_a_board_runs_with_its_lane_key_and_no_site_secret(mosquitto: Mosquitto) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROCARS_SITE_SECRET")}
    env |= {"QT_QPA_PLATFORM": "offscreen"}
    env["ROCARS_LANE_KEY"] = format_lane_key(SITE, "SBC", "L01")
    ran = _xdb(env, mosquitto.url, "L01")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("first-frame ")
    wrong = _xdb(env, mosquitto.url, "L02")
    assert wrong.returncode == 2
    assert "ROCARS_LANE_KEY is the key of SBC/L01, this screen is SBC/L02" in wrong.stderr
    del env["ROCARS_LANE_KEY"]
    neither = _xdb(env, mosquitto.url, "L01")
    assert neither.returncode == 2
    assert "ROCARS_SITE_SECRET is not set" in neither.stderr

"""``rocars-edge xdb`` as a process: starts headless, paints, says online; refuses bad input."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
from pathlib import Path

import pytest

from rocars.bus import Bus
from rocars.messages import DeviceStatus, parse
from rocars.topics import device_status_topic
from tests.fixtures.brokers import Mosquitto
from xdb_display.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rocars.cli", "xdb", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )


def test_headless_board_paints_and_reports_online(mosquitto: Mosquitto) -> None:
    seen: queue.Queue[bytes] = queue.Queue()
    watcher = Bus(mosquitto.url, "cli-watcher")
    watcher.subscribe(device_status_topic("SBC", "L02", "xdb"), lambda t, p: seen.put(p))
    watcher.start()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rocars.cli",
                "xdb",
                "--lane",
                "L02",
                "--cp",
                "SBC",
                "--broker",
                mosquitto.url,
                "--languages",
                "cycle",
                "--window",
                "--headless",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert parse(DeviceStatus, seen.get(timeout=20)).state == "online"
        finally:
            proc.terminate()  # SIGTERM: a clean stop says offline
            assert proc.wait(20) == 0
        assert parse(DeviceStatus, seen.get(timeout=10)).state == "offline"
    finally:
        watcher.stop()


def test_first_frame_exit(mosquitto: Mosquitto) -> None:
    result = run(
        *("--broker", mosquitto.url, "--cp", "SBC", "--lane", "L01"),
        *("--headless", "--window", "--first-frame-exit"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("first-frame ")


def test_bad_input_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cp", "SBC", "--lane", "bad/lane", "--headless"]) == 2
    assert "lane" in capsys.readouterr().err
    assert main(["--cp", "SBC", "--lane", "L01", "--broker", "http://nowhere", "--headless"]) == 2
    assert "mqtt://" in capsys.readouterr().err
    # a board not told its lane does not start (it would show L01's)
    assert main(["--cp", "SBC", "--headless"]) == 2
    assert "lane: Field required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["--languages", "klingon"])
    assert exit_.value.code == 2

"""``rocars-edge aiop`` as a process: starts headless with its drop box; refuses bad input."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
from pathlib import Path

import pytest

from aiop_panel.cli import main
from hardware_sim.dropbox import SimulatedDropBox
from rocars.bus import Bus
from rocars.messages import DeviceStatus, ManifestDropped, parse
from rocars.topics import device_status_topic, manifest_topic
from tests.fixtures.brokers import Mosquitto

ROOT = Path(__file__).resolve().parents[2]


def test_panel_process_with_dropbox(mosquitto: Mosquitto, tmp_path: Path) -> None:
    status: queue.Queue[bytes] = queue.Queue()
    drops: queue.Queue[bytes] = queue.Queue()
    watcher = Bus(mosquitto.url, "aiop-cli-watcher")
    watcher.subscribe(device_status_topic("SBC", "L01", "aiop"), lambda t, p: status.put(p))
    watcher.subscribe(manifest_topic("SBC", "L01"), lambda t, p: drops.put(p))
    watcher.start()
    box = SimulatedDropBox(tmp_path).start()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rocars.cli",
            "aiop",
            "--lane",
            "L01",
            "--cp",
            "SBC",
            "--broker",
            mosquitto.url,
            "--dropbox",
            box.path,
            "--headless",
        ],
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert parse(DeviceStatus, status.get(timeout=20)).state == "online"
        # the sensor may open the port a moment after the bus: drop until one arrives
        got = None
        for _ in range(20):
            box.drop(hold_ms=120)
            try:
                got = drops.get(timeout=1)
                break
            except queue.Empty:
                continue
        assert got is not None
        assert parse(ManifestDropped, got).source == "sensor"
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
        box.stop()
        watcher.stop()
    states = [parse(DeviceStatus, status.get(timeout=10)).state for _ in range(1)]
    for _ in range(10):  # the online updates (sensor state) come first; the last word is offline
        if states[-1] == "offline":
            break
        states.append(parse(DeviceStatus, status.get(timeout=10)).state)
    assert states[-1] == "offline"


def test_bad_input_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cp", "XYZ", "--lane", "L01", "--headless"]) == 2
    err = capsys.readouterr().err
    assert "cp" in err
    assert "SBC" in err  # the message lists the control points
    assert main(["--cp", "SBC", "--lane", "L01", "--dropbox", "x" * 300, "--headless"]) == 2
    assert "dropbox" in capsys.readouterr().err
    # a panel not told its lane and control point does not start
    assert main(["--headless"]) == 2
    err = capsys.readouterr().err
    assert "cp: Field required" in err
    assert "lane: Field required" in err

"""``rocars-edge up --headless``: a whole simulated control point, run as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware_sim.up import _wait_online
from rocars.bus import Bus
from rocars.errors import RocarsError
from rocars.messages import DeviceStatus, InstructionCode
from rocars.topics import device_status_topic
from tests.fixtures.brokers import Mosquitto


def _up(
    *args: str, timeout: float = 240, screens: bool = False, cameras: int = 0
) -> tuple[int, list[str]]:
    extra = ([] if screens else ["--no-screens"]) + ["--cameras", str(cameras)]
    proc = subprocess.run(
        [sys.executable, "-m", "rocars.cli", "up", "--headless", *extra, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "ROCARS_LOG_LEVEL": "INFO"},
    )
    if proc.returncode:  # its log (connections, reads published), shown with a failure
        sys.stderr.write(proc.stderr)
    return proc.returncode, proc.stdout.splitlines()


def _summary(lines: list[str]) -> dict[str, object]:
    summary = json.loads(lines[-1])
    assert isinstance(summary, dict)
    return summary


def test_up_clears_every_kind_of_truck_and_loses_nothing(tmp_path: Path) -> None:
    code, lines = _up("--trucks", "10", "--seed", "7", "--data", str(tmp_path))
    summary = _summary(lines)
    assert code == 0, "\n".join(lines)
    assert summary["trucks"] == 10
    assert summary["records"] == summary["uploaded"] == 10
    assert summary["lost"] == 0
    assert summary["unexpected"] == 0
    # ten trucks of a seeded round cover every instruction code
    for instruction in InstructionCode:
        assert summary[instruction.value] > 0, instruction  # type: ignore[operator]
    # each truck's journey is printed: arrival, instructions, its record
    assert sum("arrives [" in line for line in lines) == 10
    assert sum(" record " in line for line in lines) == 10
    assert (tmp_path / "sync" / "outbox.db").exists()


def test_up_over_two_shards(tmp_path: Path) -> None:
    """The lanes over two agents (docs/architecture.md, "Several agents at one control
    point"): s1 pulls, s2 reads its replica; each lane's records in its shard's outbox."""
    code, lines = _up(
        "--trucks", "6", "--seed", "7", "--lanes", "2", "--shards", "2", "--data", str(tmp_path)
    )  # fmt: skip
    summary = _summary(lines)
    assert code == 0, "\n".join(lines)
    assert summary["records"] == summary["uploaded"] == 6
    assert summary["lost"] == summary["unexpected"] == 0
    assert "2 lanes over 2 agents (shards)" in lines[0]
    folder = tmp_path / "sync"
    assert not (folder / "outbox.db").exists()
    for shard, lane in (("s1", "L01"), ("s2", "L02")):
        with sqlite3.connect(folder / f"outbox-{shard}.db") as conn:
            lanes = {row[0] for row in conn.execute("SELECT lane FROM records")}
        assert lanes == {lane}, shard


def test_up_is_repeatable_by_seed(tmp_path: Path) -> None:
    def kinds(seed: int, where: Path) -> list[str]:
        code, lines = _up(
            "--trucks", "4", "--seed", str(seed), "--lanes", "1", "--data", str(where)
        )
        assert code == 0, "\n".join(lines)
        return [line.split("arrives ")[1] for line in lines if "arrives [" in line]

    assert kinds(3, tmp_path / "a") == kinds(3, tmp_path / "b")


def test_up_with_screens_drop_boxes_and_kiosk(tmp_path: Path) -> None:
    """The XDB, AIOP (reading its drop box) and kiosk run as processes beside the lanes."""
    code, lines = _up("--trucks", "4", "--seed", "5", "--data", str(tmp_path), screens=True)
    assert code == 0, "\n".join(lines)
    assert _summary(lines)["lost"] == 0
    logs = tmp_path / "logs"
    assert {p.name for p in logs.iterdir()} == {
        "xdb-L01.log",
        "xdb-L02.log",
        "aiop-L01.log",
        "aiop-L02.log",
        "kiosk.log",
    }
    for log in logs.iterdir():
        assert "Traceback" not in log.read_text(errors="replace"), log.name
    # seed 5's fourth truck is laden: its manifest goes into the drop box, the AIOP reads
    # the contact over its serial port and reports it, and the lane releases the result
    drop = next(i for i, line in enumerate(lines) if "into the drop box" in line)
    truck = lines[drop].split()[1:3]  # lane and truck number
    after = [line for line in lines[drop + 1 :] if line.split()[1:3] == truck]
    assert "-> INSPECT" in after[0]


def test_up_reads_a_camera_lane_through_ocr(tmp_path: Path) -> None:
    """The camera lane: each truck is rendered passing a synthetic MJPEG camera and read
    by the real camera path (motion gate, plate finder, RapidOCR)."""
    code, lines = _up(
        "--trucks", "4", "--seed", "7", "--lanes", "1", "--data", str(tmp_path), cameras=1
    )
    assert code == 0, "\n".join(lines)
    summary = _summary(lines)
    assert summary["lost"] == 0
    assert summary["unexpected"] == 0
    records = [line for line in lines if " record " in line]
    assert len(records) == 4
    # what a camera could be shown was read by the camera, with the truck's own plate
    by_camera = [line for line in records if "by cam0" in line]
    assert by_camera
    for line in by_camera:
        plate = line.split()[3]  # time, lane, truck number, plate
        assert f"read {plate}" in line or "read 粤Z" in line


def test_up_on_mosquitto(mosquitto: Mosquitto, tmp_path: Path) -> None:
    code, lines = _up("--trucks", "3", "--broker", mosquitto.url, "--data", str(tmp_path))
    assert code == 0, "\n".join(lines)
    assert _summary(lines)["lost"] == 0


def test_up_without_a_count_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rocars.cli",
            "up",
            "--headless",
            "--no-screens",
            "--data",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    arrivals = 0
    try:
        for line in proc.stdout:
            arrivals += "arrives [" in line
            if " record " in line:
                break
        os.kill(proc.pid, signal.SIGTERM)
        rest = proc.stdout.read()
        assert proc.wait(60) == 0, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    summary = json.loads(rest.splitlines()[-1])
    assert summary["lost"] == 0
    assert summary["trucks"] >= 1


@pytest.mark.parametrize(
    "args",
    [["--lanes", "0"], ["--trucks", "0"], ["--cp", "XXX"], ["--lanes", "2", "--shards", "3"]],
)
def test_up_refuses_bad_arguments(args: list[str]) -> None:
    code, _ = _up(*args, timeout=60)
    assert code == 2


def test_up_waits_for_a_fresh_online_not_one_a_run_before_left(mosquitto: Mosquitto) -> None:
    """On an outside broker, a retained "online" of an earlier run's reader is not taken
    for this run's: the wait goes on until this run's reader says so."""
    topic = device_status_topic("SBC", "L01", "avrs")
    old = DeviceStatus(state="online", ts=datetime.now(UTC) - timedelta(minutes=5))
    bus = Bus(mosquitto.url, "earlier-run")
    bus.start()
    try:
        assert bus.wait_connected(10)
        bus.publish(topic, old, retain=True).wait_for_publish(5)
        with pytest.raises(RocarsError, match=r"plate readers of lanes \['L01'\]"):
            _wait_online(mosquitto.url, "SBC", ["L01"], "avrs", "plate readers", timeout=1.5)
        bus.publish(topic, DeviceStatus(state="online"), retain=True).wait_for_publish(5)
        _wait_online(mosquitto.url, "SBC", ["L01"], "avrs", "plate readers", timeout=10)
    finally:
        bus.stop()

"""``rocars-edge up --headless``: a whole simulated control point, run as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hardware_sim.certs import KEY_POOL_ENV
from hardware_sim.up import _wait_online
from rocars.broker import free_port
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


def _leftovers(marker: Path) -> list[int]:
    """Processes whose command line names ``marker`` (a test's own folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(marker).encode() in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def no_leftovers(tmp_path: Path) -> Iterator[Path]:
    """Stops (by pid) whatever a run of ``up`` under ``tmp_path`` left running: a run that
    failed as it should not may leave its children (centre, screens)."""
    yield tmp_path
    for pid in _leftovers(tmp_path):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextlib.contextmanager
def _running_up(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """``up`` in a session of its own, as a terminal runs it (its own process group);
    killed and reaped at the end of the block if it is still running (a failed test)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rocars.cli", "up", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float = 120) -> list[str]:
    """The lines ``proc`` printed up to and with the first that holds ``text``."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line)
        if text in line or time.monotonic() > deadline:
            break
    assert text in lines[-1], "".join(lines)
    return lines


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    """Its exit code, the rest of its output and its stderr; killed if not done in time."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"up did not end within {timeout}s of the signal:\n{out}\n{err}")
    return proc.returncode, out, err


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
    # the kiosk's receipts go into the run's folder, not a temporary one of their own
    assert (tmp_path / "kiosk-print").is_dir()
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
    [
        ["--lanes", "0"],
        ["--lanes", "17"],
        ["--trucks", "0"],
        ["--trucks", "1.5"],
        ["--cameras", "-1"],
        ["--shards", "0"],
        ["--cp", "XXX"],
        ["--lanes", "2", "--shards", "3"],
        ["--lanes", "1", "--cameras", "2"],
    ],
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


def test_a_ctrl_c_at_the_terminal_lets_the_trucks_finish(no_leftovers: Path) -> None:
    """A Ctrl-C (or coreutils ``timeout``) signals the terminal's whole process group: the
    centre, in a session of its own, does not get it, and up stops it after its summary."""
    with _running_up(
        "--headless", "--no-screens", "--trucks", "4", "--lanes", "1", "--cameras", "0",
        "--data", str(no_leftovers),
    ) as proc:  # fmt: skip
        _wait_for_line(proc, " record ")
        os.killpg(proc.pid, signal.SIGINT)
        code, out, err = _finish(proc, 60)
    assert "Traceback" not in err, err
    summary = json.loads(out.splitlines()[-1])
    assert code == 0, err
    assert summary["central"] == "ok"
    assert summary["trucks"] >= 1
    assert summary["lost"] == summary["unexpected"] == 0
    assert not _leftovers(no_leftovers)


def test_a_signal_during_start_up_ends_it_at_once(no_leftovers: Path) -> None:
    """No broker answers: up waits up to 60 s for the plate readers; a Ctrl-C ends it."""
    with _running_up(
        "--headless", "--no-screens", "--lanes", "1", "--cameras", "0",
        "--broker", f"mqtt://127.0.0.1:{free_port()}", "--data", str(no_leftovers),
    ) as proc:  # fmt: skip
        time.sleep(4)
        os.kill(proc.pid, signal.SIGINT)
        code, _, err = _finish(proc, 20)
    assert code == 128 + signal.SIGINT, err
    assert "stopped by SIGINT" in err
    assert "Traceback" not in err
    assert not _leftovers(no_leftovers)


def test_a_second_signal_stops_at_once(no_leftovers: Path) -> None:
    """The first stop lets the truck in the lane finish (here one that waits a minute for
    a driver who does nothing); the second stops now, its children still stopped."""
    with _running_up(
        "--headless", "--no-screens", "--lanes", "1", "--cameras", "0", "--seed", "1",
        "--trucks", "10", "--lane-timeout", "60", "--data", str(no_leftovers),
    ) as proc:  # fmt: skip
        lines = _wait_for_line(proc, "does nothing (laden, no bundle)")
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(1)
        os.kill(proc.pid, signal.SIGINT)
        code, _, err = _finish(proc, 30)
    assert code == 128 + signal.SIGINT, "".join(lines) + err
    assert "stopped at once" in err
    assert not _leftovers(no_leftovers)


def test_a_child_that_dies_at_start_up_is_named(no_leftovers: Path) -> None:
    """The displays cannot start (no such Qt platform): up says which, how it ended and
    the end of its log, instead of waiting a minute for panels that will never come."""
    code, _, err = _run_up(
        "--trucks", "1", "--lanes", "1", "--cameras", "0", "--data", str(no_leftovers),
        env={"QT_QPA_PLATFORM": "no-such-platform"}, timeout=45,
    )  # fmt: skip
    assert code == 1, err
    assert "exited with code" in err
    assert any(name in err for name in ("xdb-L01", "aiop-L01", "kiosk")), err
    assert "no-such-platform" in err  # the end of its log
    assert "Traceback" not in err.split("the end of its log")[0]


def _run_up(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "rocars.cli", "up", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_up_leaves_no_temporary_folders(no_leftovers: Path) -> None:
    """Without --data, the run's folder (the demo CA's key, the drivers' .p12 files) and
    the kiosk's receipts are gone at the end."""
    tmp = no_leftovers / "tmp"
    tmp.mkdir()
    pool = Path(tempfile.gettempdir()) / f"rocars-demo-keys-{os.getuid()}"
    code, out, err = _run_up(
        "--headless", "--trucks", "1", "--lanes", "1", "--cameras", "0",
        env={"TMPDIR": str(tmp), KEY_POOL_ENV: os.environ.get(KEY_POOL_ENV, str(pool))},
        timeout=120,
    )  # fmt: skip
    assert code == 0, out + err
    assert json.loads(out.splitlines()[-1])["lost"] == 0
    assert not list(tmp.glob("rocars-up-*"))
    assert not list(tmp.glob("rocars-kiosk-print-*"))


def test_up_gives_its_agent_its_own_centres_token(no_leftovers: Path) -> None:
    """An engineer's real ROCARS_CENTRAL_TOKEN in the shell is not the simulated centre's:
    the run's agent uses the centre's own."""
    code, out, err = _run_up(
        "--headless", "--no-screens", "--trucks", "1", "--lanes", "1", "--cameras", "0",
        "--plates", "direct", "--data", str(no_leftovers),
        env={"ROCARS_CENTRAL_TOKEN": "an-engineers-real-token"}, timeout=45,
    )  # fmt: skip
    assert code == 0, out + err
    summary = json.loads(out.splitlines()[-1])
    assert summary["uploaded"] == summary["trucks"] == 1


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--lane-timeout", "-1"], {}),
        (["--hold", "-1"], {}),
        (["--lane-timeout", "nan"], {}),
        (["--seed", "-1"], {}),
        (["--data", "FILE"], {}),
        ([], {"ROCARS_LOG_LEVEL": "verbose"}),
    ],
)
def test_up_bad_input_is_a_one_line_error(
    args: list[str], env: dict[str, str], no_leftovers: Path
) -> None:
    file = no_leftovers / "a-file"
    file.write_text("not a folder")
    args = [str(file) if a == "FILE" else a for a in args]
    code, _, err = _run_up("--headless", "--no-screens", "--trucks", "1", *args, env=env)
    assert code == 2, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("rocars-edge up")

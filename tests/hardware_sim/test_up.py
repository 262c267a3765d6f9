"""``rocars-edge up --headless``: a whole simulated control point, run as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hardware_sim import up
from hardware_sim.central import CentralConfig
from hardware_sim.certs import KEY_POOL_ENV
from hardware_sim.up import _wait_online
from rocars.broker import free_port
from rocars.bus import Bus
from rocars.errors import RocarsError
from rocars.messages import DeviceStatus, InstructionCode
from rocars.topics import device_status_topic
from tests.fixtures.brokers import Mosquitto, wait_port


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
    else:  # a run that went well logged no error (the demo logged one at every start)
        log = proc.stderr.splitlines()
        errors = ["\n".join(log[i : i + 12]) for i, line in enumerate(log) if " ERROR " in line]
        assert not errors, "\n\n".join(errors)  # each with what followed (a traceback)
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
        # no lane has a reader with --plates direct, nor a camera
        ["--plates", "direct", "--cameras", "1", "--trucks", "1"],
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


def test_a_panel_that_never_comes_online_is_named_with_its_log(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A panel stuck connecting (a wrong CA file, no Qt platform) says why only in its
    log: the start-up's error shows that log's end for each lane that did not come."""
    log = tmp_path / "aiop-L02.log"
    log.write_text("rocars-edge aiop: broker_cafile: cannot use the broker's CA file\n")
    with pytest.raises(RocarsError) as err:
        _wait_online(
            mosquitto.url,
            "SBC",
            ["L02"],
            "aiop",
            "panels",
            timeout=1.0,
            log_of=lambda lane: tmp_path / f"aiop-{lane}.log",
        )
    text = str(err.value)
    assert "the panels of lanes ['L02'] did not come online within 1s" in text
    assert f"the end of {log}:" in text
    assert "cannot use the broker's CA file" in text


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


def test_up_help_says_what_headless_plates_and_data_do() -> None:
    code, out, _ = _run_up("--help")
    text = " ".join(out.split())
    assert code == 0
    assert "offscreen" in text
    assert "the journeys are printed either way" in text
    assert "serial-reader lanes" in text
    assert "an earlier run used is refused" in text


def test_up_refuses_a_data_folder_an_earlier_run_used(no_leftovers: Path) -> None:
    """The centre seeds only a new database: an earlier run's bundles are used (its trucks
    would end UNEXPECTED) and another --seed would change nothing. Refused at once."""
    (no_leftovers / "central").mkdir()
    sqlite3.connect(no_leftovers / "central" / "central.sqlite3").close()
    code, out, err = _run_up(
        "--headless", "--no-screens", "--trucks", "1", "--lanes", "1", "--plates", "direct",
        "--data", str(no_leftovers), timeout=60,
    )  # fmt: skip
    assert code == 2, out + err
    assert "use a new folder" in err
    assert "Traceback" not in err


def test_up_runs_with_a_hold_shorter_than_the_readers_settle_time(no_leftovers: Path) -> None:
    """--hold 0.2 (0.1 is allowed): the readers' debounce window follows the hold, and
    their settle time is no longer than it (the reads of a truck come together)."""
    code, lines = _up(
        "--trucks", "3", "--seed", "7", "--lanes", "1", "--hold", "0.2",
        "--data", str(no_leftovers),
    )  # fmt: skip
    assert code == 0, "\n".join(lines)
    summary = _summary(lines)
    assert summary["lost"] == summary["unexpected"] == 0


@pytest.fixture
def ipv6_mosquitto(tmp_path: Path) -> Iterator[str]:
    """A mosquitto listening on the IPv6 loopback only; its URL (host in brackets)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        port = int(sock.getsockname()[1])
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} ::1\nallow_anonymous true\npersistence false\n")
    with (tmp_path / "mosquitto.log").open("ab") as log:
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)
    try:
        wait_port("::1", port, proc=proc)
        yield f"mqtt://[::1]:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_up_reads_plates_over_the_broker_url_as_given(
    ipv6_mosquitto: str, no_leftovers: Path
) -> None:
    """The plate readers connect to the broker URL the user gave: an IPv6 host keeps its
    brackets (and mqtts:// its TLS), not rebuilt as mqtt://HOST:PORT."""
    code, lines = _up(
        "--trucks", "2", "--lanes", "1", "--broker", ipv6_mosquitto,
        "--data", str(no_leftovers), timeout=120,
    )  # fmt: skip
    assert code == 0, "\n".join(lines)
    summary = _summary(lines)
    assert summary["lost"] == summary["unexpected"] == 0
    assert sum(" by lpr0" in line for line in lines) == 2  # read by the serial LPR


class _Started(Exception):
    """Raised by the fake sync agent: the run got as far as its agents."""


@dataclass
class _Seen:
    centres: list[dict[str, Any]] = field(default_factory=list)
    rngs: list[random.Random | None] = field(default_factory=list)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> _Seen:
    """``up.run`` with a fake centre and agents that record how they were made; the first
    agent ends the run (``_Started``)."""
    seen = _Seen()

    class Centre:
        def __init__(self, data_dir: Path, **kwargs: Any) -> None:
            seen.centres.append(kwargs)
            self.url, self.token = "http://127.0.0.1:9", "t"
            self.log_path = data_dir / "central.log"
            self.exit_code = None

        def start(self, cancel: Any = None) -> None:
            pass

        def stop(self) -> None:
            pass

    class Agent:
        def __init__(self, config: Any, *, rng: random.Random | None = None) -> None:
            seen.rngs.append(rng)
            raise _Started

    monkeypatch.setattr(up, "CentralProcess", Centre)
    monkeypatch.setattr(up, "SyncAgent", Agent)
    monkeypatch.setenv(
        "ROCARS_SITE_SECRET", "fe54a33d559861ae6b0df11689c6ceffbb11e8bc946b4e8aff1aacd66968dded"
    )
    return seen


def _run_in_process(tmp_path: Path, *args: str) -> None:
    argv = ["--no-screens", "--broker", "mqtt://127.0.0.1:1", "--data", str(tmp_path), *args]
    with pytest.raises(_Started):
        up.run(up.build_parser().parse_args(argv))


def test_the_agents_random_choices_follow_the_seed(seen: _Seen, tmp_path: Path) -> None:
    """The lanes' random choices (the unladen trucks sampled for inspection) come from an
    RNG seeded by --seed: the same seed, the same choices."""
    for seed in ("3", "3", "4"):
        _run_in_process(tmp_path / seed, "--seed", seed)
    draws = []
    for rng in seen.rngs:
        assert rng is not None
        draws.append([rng.random() for _ in range(5)])
    assert draws[0] == draws[1]
    assert draws[0] != draws[2]


def test_a_long_run_seeds_no_more_trucks_than_the_centre_takes(seen: _Seen, tmp_path: Path) -> None:
    _run_in_process(tmp_path, "--trucks", "20000")
    per_kind = seen.centres[0]["trucks_per_kind"]
    assert per_kind == 1000  # a round of every kind for each ten trucks, at most 1000
    CentralConfig(data_dir=tmp_path, trucks_per_kind=per_kind)  # the centre takes it


def test_a_screen_that_dies_during_the_run_is_named_and_fails_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The journeys watch the bus, not the screens: an exit display board that died
    mid-run is said with its log's end, listed in the summary and makes the exit code 1."""
    log = tmp_path / "xdb-L01.log"
    log.write_text("painting\nSegmentation fault\n")
    startup = up.Startup(threading.Event())
    startup.watch("xdb-L01", log, lambda: -11)
    startup.watch("aiop-L01", tmp_path / "aiop-L01.log", lambda: None)  # still running
    assert up.report_exited(startup) == ["xdb-L01"]
    err = capsys.readouterr().err
    assert "xdb-L01 exited with code -11 during the run" in err
    assert "Segmentation fault" in err
    clean = {"lost": 0, "unexpected": 0, "central": "ok"}
    assert up.exit_code(clean) == 0
    assert up.exit_code({**clean, "exited": ["xdb-L01"]}) == 1

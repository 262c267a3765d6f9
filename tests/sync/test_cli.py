"""``rocars-edge sync`` as a process: starts, answers, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardware_sim.launch import CentralProcess
from rocars.errors import RocarsError
from rocars.messages import Instruction, InstructionCode
from sync.cli import main
from sync.config import SyncConfig
from tests.fixtures.brokers import Mosquitto
from tests.sync.agentkit import Watcher, agent_config, demo_trucks, started_agent

C = InstructionCode


def test_process_runs_and_stops_on_sigterm(
    mosquitto: Mosquitto, central: CentralProcess, tmp_path: Path
) -> None:
    truck = demo_trucks(central)["laden_inspect"][0]
    watcher = Watcher(mosquitto.url)
    config = tmp_path / "sync.toml"
    config.write_text('[[lanes]]\nid = "L01"\nmanifest_required = false\n\n[api]\nport = 0\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync.cli", "--config", str(config), "--broker", mosquitto.url,
         "--central", central.url, "--cp", "SBC", "--data", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert b"sync agent running" in proc.stdout.readline()
        watcher.expect("L01", C.READY)
        watcher.status(lambda s: s.state == "online" and s.central == "up" and s.bundles > 0)
        watcher.plate("L01", truck["vrn"])
        assert watcher.expect("L01", C.INSPECT).bay
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(20) == 0
        watcher.status(lambda s: s.state == "offline")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        watcher.close()
    assert (tmp_path / "data" / "outbox.db").exists()


def test_bad_config_is_refused(tmp_path: Path, capsys: object) -> None:
    config = tmp_path / "sync.toml"
    config.write_text('[[lanes]]\nid = "L01"\nconfidence_threshold = 2\n')
    assert main(["--config", str(config)]) == 2
    config.write_text('[[lanes]]\nid = "L01"\n[[lanes]]\nid = "L01"\n')
    assert main(["--config", str(config)]) == 2
    config.write_text('outbox_flush_interval_s = 5\n[[lanes]]\nid = "L01"\n')  # over 1 s
    assert main(["--config", str(config)]) == 2
    config.write_text("unknown_key = 1\n")
    assert main(["--config", str(config)]) == 2
    assert main(["--config", str(tmp_path / "missing.toml")]) == 2


def test_lanes_on_the_command_line_keep_the_files_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--lanes`` picks lanes: before, the lanes named replaced the file's, every
    setting of theirs back at its default (a threshold of 0.95 run at 0.8, an unladen
    share of 0.5 at 0.05). A lane the file does not have is refused; a file without
    ``[[lanes]]`` has nothing to keep, and the lanes named get the defaults."""
    started: list[SyncConfig] = []

    class NoAgent:  # the config main would run, without running it
        def __init__(self, config: SyncConfig) -> None:
            started.append(config)

        def start(self) -> None:
            raise RocarsError("not started in this test")

        def stop(self) -> None:
            pass

    monkeypatch.setattr("sync.cli.SyncAgent", NoAgent)
    monkeypatch.setattr("sync.cli.signal.signal", lambda *args: None)
    config = tmp_path / "sync.toml"
    config.write_text(
        '[[lanes]]\nid = "L01"\nconfidence_threshold = 0.95\nunladen_inspect_share = 0.5\n'
        '[[lanes]]\nid = "L02"\nhold_s = 3\n'
    )
    assert main(["--config", str(config), "--lanes", "L01"]) == 1
    (lane,) = started.pop().lanes
    assert (lane.id, lane.confidence_threshold, lane.unladen_inspect_share) == ("L01", 0.95, 0.5)
    assert main(["--config", str(config), "--lanes", "L02,L01"]) == 1
    assert [(lane.id, lane.hold_s) for lane in started.pop().lanes] == [("L02", 3), ("L01", 8)]
    assert main(["--config", str(config), "--lanes", "L01,L09"]) == 2  # not in the file
    assert main(["--config", str(config), "--lanes", "L01,L01"]) == 2
    config.write_text("replica_max_age_s = 120\n")  # no [[lanes]]: the lanes named
    assert main(["--config", str(config), "--lanes", "L03,L04"]) == 1
    assert [lane.id for lane in started.pop().lanes] == ["L03", "L04"]
    assert not started


def test_killed_right_after_plate_reads_everything_a_display_saw_is_in_the_outbox(
    mosquitto: Mosquitto, central: CentralProcess, tmp_path: Path
) -> None:
    trucks = demo_trucks(central)
    vrns = [t["vrn"] for kind in ("laden_proceed", "laden_inspect") for t in trucks[kind]]
    watcher = Watcher(mosquitto.url)
    config = tmp_path / "sync.toml"
    config.write_text('[[lanes]]\nid = "L01"\nmanifest_required = false\nhold_s = 30\n')
    data = tmp_path / "sync"  # where agent_config puts it, for the restart below
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync.cli", "--config", str(config), "--broker", mosquitto.url,
         "--central", central.url, "--cp", "SBC", "--data", str(data), "--api-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    seen: list[Instruction] = []
    try:
        assert proc.stdout is not None
        assert b"sync agent running" in proc.stdout.readline()
        seen.append(watcher.expect("L01", C.READY))
        watcher.status(lambda s: s.bundles > 0)
        # reads back to back; killed the moment a display shows the first answer
        for vrn in vrns:
            watcher.plate("L01", vrn)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                lane, instruction = watcher.instructions.get(timeout=0.2)
            except queue.Empty:
                continue
            seen.append(instruction)
            if instruction.code is not C.READY:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        while True:  # what was on its way when it died
            try:
                seen.append(watcher.instructions.get(timeout=1.0)[1])
            except queue.Empty:
                break
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    decisions = {i.seq: i for i in seen if i.code is not C.READY}
    assert decisions, "no decision seen before the kill"
    # restart: the open session is closed (agent_restart), every session is now a record
    agent = started_agent(
        agent_config(
            tmp_path,
            mosquitto.url,
            central.url,
            lanes=[{"id": "L01", "manifest_required": False, "hold_s": 30}],
        )
    )
    try:
        assert agent.outbox.flush(5)
        recorded = {
            log["seq"]: (record["vrn"], log["code"])
            for record in agent.outbox.recent(100, lane="L01")
            for log in record["instructions"]
        }
        for seq, instruction in decisions.items():
            assert recorded.get(seq) == (instruction.vrn, instruction.code.value), seq
        restart = agent.outbox.recent(1, lane="L01")[0]
        assert restart["reason"] == "agent_restart"
        # every seq a display saw stays below what the lane goes on from
        assert watcher.expect("L01", C.READY).seq > max(i.seq for i in seen)
    finally:
        watcher.close()
        agent.stop()


def test_a_real_centre_without_a_token_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo token stands only for a centre on this machine (the simulator): to a real
    centre it was sent all the same, every call answered 401 and the lanes closed once
    the replica aged. Missing, it is a config error (exit 2, the unit not restarted)."""
    monkeypatch.delenv("ROCARS_CENTRAL_TOKEN", raising=False)
    monkeypatch.delenv("ROCARS_CENTRAL_TOKEN_FILE", raising=False)
    config = tmp_path / "sync.toml"
    config.write_text('[central]\nurl = "https://rocars.example.gov.hk"\n\n[[lanes]]\nid = "L01"\n')
    assert main(["--config", str(config)]) == 2
    assert "ROCARS_CENTRAL_TOKEN is not set" in capsys.readouterr().err
    loaded = SyncConfig.model_validate({"central": {"url": "http://127.0.0.1:8700"}})
    assert loaded.central.token() == "dev-central-token"  # the simulator on this machine
    monkeypatch.setenv("ROCARS_CENTRAL_TOKEN", "the-control-points-token")
    real = SyncConfig.model_validate({"central": {"url": "https://rocars.example.gov.hk"}})
    assert real.central.token() == "the-control-points-token"


@pytest.mark.parametrize(
    "central",
    [
        {"url": "https://user:secret@rocars.example.gov.hk"},  # logged and quoted in errors
        {"timeout_s": 41},  # its calls could outlast the kiosk's wait for an answer
    ],
)
def test_central_settings_that_cannot_work_are_refused(central: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="central"):
        SyncConfig.model_validate({"central": central})

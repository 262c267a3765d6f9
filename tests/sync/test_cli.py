"""``rocars-edge sync`` as a process: starts, answers, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from hardware_sim.launch import CentralProcess
from rocars.messages import InstructionCode
from sync.cli import main
from tests.fixtures.brokers import Mosquitto
from tests.sync.agentkit import Watcher, demo_trucks

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
    config.write_text("unknown_key = 1\n")
    assert main(["--config", str(config)]) == 2
    assert main(["--config", str(tmp_path / "missing.toml")]) == 2

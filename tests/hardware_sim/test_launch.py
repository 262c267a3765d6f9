"""CentralProcess: start, crash, start again on the same data; a start that cannot work."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hardware_sim.launch import CentralProcess, CentralStartError
from rocars.client import RocarsClient
from tests.hardware_sim import centralkit as kit


def test_killed_centre_comes_back_with_what_it_committed(central: CentralProcess) -> None:
    with RocarsClient(central.url, token=central.token) as client:
        cargo = kit.new_cargo(client)
        head = client.changes("", 10_000).next
    central.kill()
    assert not central.running
    assert central.pid is None
    central.start()
    assert central.running
    with RocarsClient(central.url, token=central.token) as client:
        assert client.get_cargo(cargo.ccrn) == cargo
        page = client.changes("", 10_000)
        assert page.next == head
        assert client.submit_cargo(kit.items()).ccrn != cargo.ccrn
    assert central.stop() == 0, "SIGTERM is a clean stop"
    assert "Traceback" not in central.log_path.read_text()
    assert central.stop() is None


def test_a_taken_port_is_a_clear_start_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        proc = CentralProcess(tmp_path / "c", port=sock.getsockname()[1], start_timeout=60)
        with pytest.raises(CentralStartError, match="central exited"):
            proc.start()
    assert not proc.running
    assert proc.log_path.is_file()

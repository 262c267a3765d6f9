"""CentralProcess: start, crash, start again on the same data; a start that cannot work."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
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


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_the_centre_has_a_session_of_its_own(central: CentralProcess) -> None:
    """A Ctrl-C at the terminal signals its whole process group: the centre is not in it,
    so the parent can still ask it what it needs and stop it in order."""
    assert central.pid is not None
    assert os.getsid(central.pid) == central.pid
    assert os.getpgid(central.pid) != os.getpgid(0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_centre_goes_with_a_parent_killed_outright(tmp_path: Path) -> None:
    """A parent killed with SIGKILL cannot stop its centre: the centre gets SIGTERM."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from hardware_sim.launch import CentralProcess
        central = CentralProcess(Path({str(tmp_path / "c")!r}))
        central.start()
        print(central.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    centre = 0
    try:
        assert parent.stdout is not None
        centre = int(parent.stdout.readline())
        assert _alive(centre)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 15
        while _alive(centre) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(centre), "the centre outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if centre and _alive(centre):
            os.kill(centre, signal.SIGKILL)


def test_a_start_can_be_cancelled(tmp_path: Path) -> None:
    """``start(cancel=...)``: a stop asked for while the centre starts ends the wait at
    once (a Ctrl-C of ``rocars-edge up``), the centre stopped."""
    from hardware_sim.launch import CentralStartCancelled

    # a bulk load before /health answers: seconds, unless cancelled
    proc = CentralProcess(tmp_path / "c", synthetic_bundles=200_000)
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    began = time.monotonic()
    with pytest.raises(CentralStartCancelled):
        proc.start(cancel=cancel)
    assert time.monotonic() - began < 10
    assert not proc.running

"""The simulated drop-box sensor: a real pty behind a stable path."""

from __future__ import annotations

import os
import re
import select
from pathlib import Path

import pytest

from hardware_sim.dropbox import DropBoxSimError, SimulatedDropBox


def read_line(fd: int) -> bytes:
    data = b""
    for _ in range(50):
        ready, _, _ = select.select([fd], [], [], 2)
        assert ready, "nothing came down the line"
        data += os.read(fd, 64)
        if data.endswith(b"\n"):
            return data
    raise AssertionError(f"no full line: {data!r}")


def test_path_is_stable_across_replug(tmp_path: Path) -> None:
    box = SimulatedDropBox(tmp_path).start()
    try:
        assert Path(box.path).is_symlink()
        first = box.pts
        fd = os.open(box.path, os.O_RDONLY | os.O_NOCTTY)
        try:
            box.contact(True)
            assert re.fullmatch(rb"C1 \d+\r\n", read_line(fd))
            box.contact(False)
            assert re.fullmatch(rb"C0 \d+\r\n", read_line(fd))
            box.timestamps = False
            box.contact(True)
            assert read_line(fd) == b"C1\r\n"
        finally:
            os.close(fd)
        box.unplug()
        assert not Path(box.path).exists()
        with pytest.raises(DropBoxSimError):
            box.contact(True)
        box.replug()
        assert Path(box.path).resolve() == Path(str(box.pts)).resolve()
        assert box.plugged
        assert first is not None
    finally:
        box.stop()


def test_bad_timings_refused(tmp_path: Path) -> None:
    with SimulatedDropBox(tmp_path) as box:
        with pytest.raises(DropBoxSimError):
            box.drop(hold_ms=-1)
        with pytest.raises(DropBoxSimError):
            box.chatter(bounces=1000)

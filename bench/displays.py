"""Displays: bus message -> repainted board, and each app's cold start to first frame.

1. Arrival to paint: a real broker (mosquitto if installed, else the embedded one), the
   XDB at 1920x1080 offscreen, signed instructions with a new plate each time; measured
   from the moment paho's callback receives the instruction to the end of the board's
   paintEvent. Target: within one 16 ms frame.
2. Cold start: ``rocars-edge xdb|aiop --headless --first-frame-exit`` in a fresh
   subprocess, from spawn to the first painted frame. Target: <= 1.5 s.

    .venv/bin/python bench/displays.py [--iterations 300] [--starts 5]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ROCARS_SITE_SECRET", secrets.token_hex(32))

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rocars.broker import EmbeddedBroker, free_port  # noqa: E402
from rocars.bus import Bus  # noqa: E402
from rocars.config import secret  # noqa: E402
from rocars.ids import ControlPoint  # noqa: E402
from rocars.messages import Instruction, InstructionCode, SyncStatus  # noqa: E402
from rocars.signing import lane_key, sign_instruction  # noqa: E402
from rocars.topics import instruction_topic, sync_status_topic  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Broker:
    """mosquitto on a free port if installed, else the embedded broker."""

    def __init__(self) -> None:
        self.kind = (
            "mosquitto"
            if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()
            else "embedded"
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self._embedded: EmbeddedBroker | None = None
        self._dir = tempfile.TemporaryDirectory()
        self.url = ""

    def __enter__(self) -> Broker:
        if self.kind == "mosquitto":
            port = free_port()
            conf = Path(self._dir.name) / "m.conf"
            conf.write_text(
                f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
            )
            exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
            self._proc = subprocess.Popen(
                [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            self.url = f"mqtt://127.0.0.1:{port}"
            import socket

            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
        else:
            self._embedded = EmbeddedBroker()
            self._embedded.start()
            self.url = self._embedded.url
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(5)
        if self._embedded is not None:
            self._embedded.stop()
        self._dir.cleanup()


paint_cpu: list[
    float
] = []  # CPU ms of each measured paint: a figure the machine's load barely moves


def arrival_to_paint(url: str, iterations: int) -> list[tuple[InstructionCode, float]]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ui_common.app import start_app
    from xdb_display.board import XdbConfig
    from xdb_display.qt_app import XdbScreen

    start_app([], name="bench", headless=True)
    config = XdbConfig(
        cp=ControlPoint.SBC, lane="L01", broker=url, fullscreen=False, heartbeat_bound=10.0
    )
    screen = XdbScreen(config, lane_key(secret("site_secret").encode(), config.cp, config.lane))
    screen.board.resize(1920, 1080)
    screen.start(show=False)
    screen.board.show()
    painted: list[float] = []
    screen.board.painted.connect(painted.append)
    key = lane_key(secret("site_secret").encode(), "SBC", "L01")
    lane = Bus(url, "bench-lane")
    lane.start()
    assert lane.wait_connected(10)
    assert screen.bus.wait_connected(10)
    topic = instruction_topic("SBC", "L01")

    def pump(until: float, done: Callable[[], bool]) -> bool:
        """Run the real event loop (it sleeps until woken) until ``done`` or the deadline."""
        loop = QEventLoop()
        check = QTimer()
        check.timeout.connect(
            lambda: loop.quit() if done() or time.perf_counter() > until else None
        )
        screen.board.painted.connect(loop.quit)
        check.start(50)
        for _ in range(1000):
            if done() or time.perf_counter() > until:
                break
            loop.exec()
        check.stop()
        screen.board.painted.disconnect(loop.quit)
        return done()

    lane.publish(sync_status_topic("SBC"), SyncStatus(state="online", central="up"), retain=True)
    codes = [c for c in InstructionCode]
    results: list[tuple[InstructionCode, float]] = []
    paint_cpu.clear()
    for i in range(iterations + 10):
        if i % 20 == 0:
            lane.publish(
                sync_status_topic("SBC"), SyncStatus(state="online", central="up"), retain=True
            )
        code = codes[i % len(codes)]
        fields: dict[str, object] = {"vrn": f"AB{i % 10000:04d}"}
        if code is not InstructionCode.READY:  # as the lane sets it (the displays insist)
            fields["expires_at"] = datetime.now(UTC) + timedelta(minutes=1)
        if code is InstructionCode.INSPECT:
            fields["bay"] = f"B{i % 20}"
        if code is InstructionCode.TOO_EARLY:
            fields["earliest_at"] = datetime.now(UTC) + timedelta(minutes=i % 60)
        instruction = sign_instruction(Instruction(seq=i + 1, code=code, **fields), key)  # type: ignore[arg-type]
        before = len(painted)
        lane.publish(topic, instruction, retain=True)

        def shown(seq: int = i + 1, before: int = before) -> bool:
            state = screen.board.state
            return (
                state is not None
                and screen.controller.shown.seq == seq
                and len(painted) > before
                and painted[-1] > screen.controller.bridge.received_at.get(topic, 0.0)
            )

        if not pump(time.perf_counter() + 5, shown):
            raise RuntimeError(
                f"instruction {i + 1} never painted (state {screen.controller.shown})"
            )
        if i >= 10:  # warm-up excluded
            results.append(
                (code, (painted[-1] - screen.controller.bridge.received_at[topic]) * 1000)
            )
            paint_cpu.append(screen.board.last_paint_cpu * 1000)
    lane.stop()
    screen.stop()
    QApplication.processEvents()
    return results


def cold_start(app_name: str, url: str, starts: int) -> list[float]:
    times: list[float] = []
    for _ in range(starts):
        args = [
            sys.executable,
            "-m",
            "rocars.cli",
            app_name,
            "--headless",
            "--first-frame-exit",
            "--broker",
            url,
            "--cp",
            "SBC",
            "--lane",
            "L01",
        ]
        if app_name == "xdb":
            args.append("--window")
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        elapsed = time.perf_counter() - t0
        proc.wait(30)
        if not line.startswith("first-frame"):
            raise RuntimeError(f"{app_name} printed {line!r} instead of first-frame")
        times.append(elapsed)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    with Broker() as broker:
        per_code = arrival_to_paint(broker.url, args.iterations)
        lat = [ms for _, ms in per_code]
        print(
            f"broker: {broker.kind}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus"
        )
        print(
            f"xdb arrival->painted 1920x1080 (n={len(lat)}): p50 {statistics.median(lat):.2f} ms, "
            f"p99 {percentile(lat, 99):.2f} ms, max {max(lat):.2f} ms (target <= 16 ms)"
        )
        print(
            f"  paint CPU time per frame: p50 {statistics.median(paint_cpu):.2f} ms, "
            f"p99 {percentile(paint_cpu, 99):.2f} ms"
        )
        for code in InstructionCode:
            values = [ms for c, ms in per_code if c is code]
            print(
                f"  {code:<20} p50 {statistics.median(values):6.2f} ms  max {max(values):6.2f} ms"
            )
        for name in ("xdb", "aiop"):
            times = cold_start(name, broker.url, args.starts)
            print(
                f"{name} cold start to first frame (n={len(times)}): median {statistics.median(times):.3f} s, "
                f"max {max(times):.3f} s (target <= 1.5 s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

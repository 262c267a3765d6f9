"""Lane latency benchmark: plate read published -> instruction received, on a real mosquitto.

    .venv/bin/python bench/lane_latency.py            # 20 s per step: 1, 10, 100 lanes
    .venv/bin/python bench/lane_latency.py --quick    # 5 s per step, a smoke check

Processes: mosquitto; the simulated centre (``--synthetic-bundles``, ``delay_ms=20``);
the sync agent (``rocars-edge sync``, 100 lanes, no manifest so a read is answered at
once); a baseline lane process that asks the centre per truck over HTTP
(``GET /v1/bundles?vrn=``) instead of the replica; and this process, which publishes
PlateReads at 2 trucks/s per lane and times each until the instruction for that vrn
arrives (one clock, the same process). The baseline lane runs at 2 trucks/s beside
every step. Targets: agent p99 <= 5 ms at 100 lanes, and >= 10x faster than the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hardware_sim.launch import CentralProcess
from hardware_sim.store import synthetic_vrn
from rocars.broker import free_port
from rocars.bus import Bus
from rocars.messages import Instruction, InstructionCode, PlateRead
from rocars.signing import lane_key, sign_instruction

CP = "SBC"
BASELINE_LANE = "BASE"
RATE_PER_LANE = 2.0


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """As tests/fixtures/brokers.py does: loopback, anonymous, TCP_NODELAY."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 100000\nset_tcp_nodelay true\n"
    )
    log = (workdir / "mosquitto.log").open("ab")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)
    wait_port(port)
    return proc, f"mqtt://127.0.0.1:{port}"


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


# -- the baseline lane (its own process) ---------------------------------------------------


def baseline_main(broker: str, central: str, token: str) -> int:
    """A lane that asks the centre for every truck (what the replica saves us)."""
    key = lane_key(os.environ["ROCARS_SITE_SECRET"].encode(), CP, BASELINE_LANE)
    http = httpx.Client(base_url=central, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    bus = Bus(broker, "bench-baseline")
    seq = [0]

    def on_plate(topic: str, payload: bytes) -> None:
        read = PlateRead.model_validate_json(payload)
        bundles = http.get("/v1/bundles", params={"vrn": read.vrn}).json()["bundles"]
        here = [b for b in bundles if b["cp"] == CP and b["status"] == "active"]
        code = InstructionCode.NO_BUNDLE
        bay = None
        if here:
            code = InstructionCode(here[0]["result"])
            bay = here[0].get("bay") or ("B1" if code is InstructionCode.INSPECT else None)
        seq[0] = max(seq[0] + 1, int(time.time() * 1000))
        instruction = sign_instruction(
            Instruction(seq=seq[0], vrn=read.vrn, code=code, bay=bay), key
        )
        bus.publish(
            f"rocars/{CP}/lanes/{BASELINE_LANE}/instruction", instruction.to_bytes(), retain=True
        )

    bus.subscribe(f"rocars/{CP}/lanes/{BASELINE_LANE}/plate", on_plate)
    bus.start()
    bus.wait_connected(10)
    print("baseline ready", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    bus.stop()
    http.close()
    return 0


# -- the load generator ---------------------------------------------------------------------


@dataclass
class Probe:
    """Publishes reads and times the matching instructions."""

    bus: Bus
    pending: dict[tuple[str, str], float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_instruction(self, topic: str, payload: bytes) -> None:
        now = time.perf_counter()
        lane = topic.split("/")[3]
        data = json.loads(payload)
        with self.lock:
            sent = self.pending.pop((lane, data.get("vrn") or ""), None)
            if sent is not None:
                group = "baseline" if lane == BASELINE_LANE else "agent"
                self.samples.setdefault(group, []).append((now - sent) * 1000)

    def send(self, lane: str, vrn: str) -> None:
        read = PlateRead(vrn=vrn, confidence=0.97, source="serial", device="bench")
        payload = read.to_bytes()
        with self.lock:
            self.pending[(lane, vrn)] = time.perf_counter()
        self.bus.publish(f"rocars/{CP}/lanes/{lane}/plate", payload)


def run_step(probe: Probe, lanes: list[str], seconds: float, bundles: int, seed: int) -> None:
    """Every lane (and the baseline) gets a truck every 1/RATE s, phases spread out."""
    rng = random.Random(seed)
    period = 1.0 / RATE_PER_LANE
    everyone = [*lanes, BASELINE_LANE]
    start = time.perf_counter() + 0.2
    schedule = sorted(
        (start + rng.uniform(0, period) + k * period, lane)
        for lane in everyone
        for k in range(int(seconds * RATE_PER_LANE))
    )
    for when, lane in schedule:
        delay = when - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        probe.send(lane, synthetic_vrn(rng.randrange(bundles)))
    deadline = time.monotonic() + 5
    while probe.pending and time.monotonic() < deadline:
        time.sleep(0.05)


def agent_handling(api_port: int) -> str:
    """The agent's own plate read -> publish time (its /metrics summary), for comparison."""
    text = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=5).text
    found = {}
    for line in text.splitlines():
        if line.startswith('rocars_sync_plate_handling_seconds{quantile="'):
            q = line.split('"')[1]
            found[q] = float(line.split()[-1]) * 1000
    return " ".join(f"p{float(q) * 100:g} {v:.2f} ms" for q, v in found.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s per step")
    parser.add_argument("--seconds", type=float, default=0, help="seconds per step")
    parser.add_argument("--bundles", type=int, default=20_000)
    parser.add_argument("--baseline-worker", nargs=3, metavar=("BROKER", "CENTRAL", "TOKEN"))
    args = parser.parse_args(argv)
    os.environ.setdefault("ROCARS_SITE_SECRET", "bench-site-secret")
    if args.baseline_worker:
        return baseline_main(*args.baseline_worker)
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    steps = [1, 10, 100]

    with tempfile.TemporaryDirectory(prefix="bench-lanes-") as tmp:
        work = Path(tmp)
        mosq, broker = start_mosquitto(work)
        central = CentralProcess(
            work / "central", synthetic_bundles=args.bundles, delay_ms=20, demo=False
        )
        procs: list[subprocess.Popen[bytes]] = [mosq]
        try:
            central.start()
            lanes = [f"L{n:03d}" for n in range(1, max(steps) + 1)]
            config = work / "sync.toml"
            config.write_text(
                "".join(
                    f'[[lanes]]\nid = "{lane}"\nmanifest_required = false\nhold_s = 0.3\n\n'
                    for lane in lanes
                )
            )
            api_port = free_port()
            log = (work / "agent.log").open("ab")
            agent = subprocess.Popen(
                [sys.executable, "-m", "sync.cli", "--config", str(config), "--broker", broker,
                 "--central", central.url, "--cp", CP, "--data", str(work / "sync"),
                 "--api-port", str(api_port)],
                stdout=log, stderr=log,
            )  # fmt: skip
            procs.append(agent)
            baseline = subprocess.Popen(
                [sys.executable, __file__, "--baseline-worker", broker, central.url, central.token],
                stdout=subprocess.PIPE,
            )
            procs.append(baseline)
            assert baseline.stdout is not None
            baseline.stdout.readline()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    health = httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=1).json()
                    if (
                        health["replica"]["bundles"] >= args.bundles
                        and health["broker"]["connected"]
                    ):
                        break
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                time.sleep(0.2)
            else:
                raise TimeoutError("the agent did not catch up")

            bus = Bus(broker, "bench-probe")
            probe = Probe(bus)
            bus.subscribe(f"rocars/{CP}/lanes/+/instruction", probe.on_instruction)
            bus.start()
            bus.wait_connected(10)
            time.sleep(0.5)  # the retained READYs go by
            print(
                f"{RATE_PER_LANE:g} trucks/s per lane, {seconds:g} s per step, "
                f"{args.bundles:,} bundles in the replica; mosquitto on loopback; machine load "
                f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
            )
            results: dict[int, tuple[float, float, float, float, int, int]] = {}
            for n, step in enumerate(steps):
                probe.samples.clear()
                probe.pending.clear()
                run_step(probe, lanes[:step], seconds, args.bundles, seed=n)
                agent_ms = probe.samples.get("agent", [])
                base_ms = probe.samples.get("baseline", [])
                results[step] = (
                    percentile(agent_ms, 0.5),
                    percentile(agent_ms, 0.99),
                    percentile(base_ms, 0.5),
                    percentile(base_ms, 0.99),
                    len(agent_ms),
                    len(probe.pending),
                )
                a50, a99, b50, b99, count, lost = results[step]
                inside = agent_handling(api_port)
                print(
                    f"{step:>3} lanes: agent p50 {a50:.2f} ms p99 {a99:.2f} ms ({count} reads, "
                    f"{lost} unanswered) | baseline p50 {b50:.1f} ms p99 {b99:.1f} ms "
                    f"| p99 ratio {b99 / a99:.1f}x | inside the agent (cumulative) {inside}"
                )
            a99_100 = results[100][1]
            b99_100 = results[100][3]
            print(
                f"target: p99 <= 5 ms at 100 lanes: {a99_100:.2f} ms "
                f"({'met' if a99_100 <= 5 else 'NOT met'}); >= 10x the baseline: "
                f"{b99_100 / a99_100:.1f}x ({'met' if b99_100 / a99_100 >= 10 else 'NOT met'})"
            )
            bus.stop()
        finally:
            for proc in reversed(procs):
                stop(proc)
            central.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

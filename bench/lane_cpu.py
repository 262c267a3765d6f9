"""What a truck costs the agent: one plate read and one session end, timed in-process.

    .venv/bin/python bench/lane_cpu.py            # 2,000 trucks a phase
    .venv/bin/python bench/lane_cpu.py --quick    # 300

The lane controller as the agent runs it (100 lanes, no manifest, a real replica and a
real outbox with its flusher thread, the agent's log set-up) and a publisher that only
keeps the payloads, so no broker and no other process is involved. Each phase times
``LaneController.on_message`` for a PlateRead and ``LaneController.tick`` ending the
session after its hold (per session ended), wall time on this thread:

- **back to back**: reads one after another, every lane in turn (caches hot);
- **paced**: one read every 5 ms, as 100 lanes at 2 trucks/s arrive, the session ends
  between them. Between two reads the process sleeps, and what ran on the CPU meanwhile
  (other processes, on a VM other guests) has taken the caches: this is what a read
  costs in the running agent, and the sum of the two is how much of every second the
  lanes keep the GIL busy at 100 lanes. That share is what reads queue behind, which
  is why it matters for ``bench/lane_latency.py``'s p99 (docs/benchmarks.md);
- **contended**: as in the agent, reads every 5 ms on one thread while the
  controller's timer thread ends the sessions after their hold, on the real clock; a
  read that is due counts as input waiting, so the timer gives way to it as the
  agent's does to a read in its socket (``Bus.input_waiting``). Each read is timed
  from when it was due until it was answered (queueing behind the read or session end
  before it and waiting for the GIL included), which is the agent's part of the
  end-to-end figure without the broker.

No target of its own: it is the figure to watch while changing the lane path, steadier
than the end-to-end benchmark on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from hardware_sim.store import synthetic_vrn
from rocars.logs import setup_logging
from rocars.messages import PlateRead
from rocars.models import Bundle, Change, ChangePage
from rocars.timeutil import utc_now
from sync.config import SyncConfig
from sync.controller import LaneController
from sync.outbox import Outbox
from sync.puller import CentralLink
from sync.replica import Replica

LANES = 100
RATE_PER_LANE = 2.0  # trucks a second
#: one read this often: every lane's trucks, one after another
READ_EVERY_S = 1 / (LANES * RATE_PER_LANE)
CP = "SBC"
#: trucks a phase at most: the fake clock moves 0.41 s a truck, and the reads, made before
#: the phases, must stay within the lanes' max_read_age_s (3,600 s here)
MAX_TRUCKS = 8_000


class KeepPayloads:
    """The bus, minus the bus: what would go out is kept (and counted)."""

    def __init__(self) -> None:
        self.sent = 0

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.sent += 1


def bundles(count: int, now: datetime) -> list[Bundle]:
    """Active bundles at this control point, a fifth of them selected for inspection."""
    rng = random.Random(3)
    return [
        Bundle.model_validate(
            {
                "ubr": f"{9_000_000_000 + n}",
                "vrn": synthetic_vrn(n),
                "cp": CP,
                "direction": "import",
                "ccrns": [f"{1_000_000_000 + n}"],
                "bundled_at": now - timedelta(hours=2),
                "earliest_at": now - timedelta(hours=1),
                "status": "active",
                "result": "INSPECT" if rng.random() < 0.2 else "PROCEED",
                "updated_at": now - timedelta(hours=2),
            }
        )
        for n in range(count)
    ]


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    n = len(ordered)
    return (
        f"p50 {ordered[n // 2] * 1e6:5.0f} p90 {ordered[int(n * 0.9)] * 1e6:5.0f} "
        f"p99 {ordered[min(n - 1, int(n * 0.99))] * 1e6:6.0f} µs "
        f"(mean {statistics.fmean(ordered) * 1e6:.0f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 trucks a phase")
    parser.add_argument("--trucks", type=int, default=0, help="trucks a phase")
    args = parser.parse_args(argv)
    trucks = args.trucks or (300 if args.quick else 2_000)
    if trucks > MAX_TRUCKS:
        parser.error(f"--trucks: at most {MAX_TRUCKS:,}")
    warm = 300

    with tempfile.TemporaryDirectory(prefix="bench-lane-cpu-") as tmp:
        work = Path(tmp)
        # as the agent logs (every decision at INFO, queued to a writer thread), to a file
        log = (work / "agent.log").open("w")
        stderr, sys.stderr = sys.stderr, log
        try:
            setup_logging(background=True)
        finally:
            sys.stderr = stderr
        now = [utc_now()]
        real_time = threading.Event()  # the contended phase runs on the real clock

        def clock() -> datetime:
            return utc_now() if real_time.is_set() else now[0]

        total = warm + 3 * trucks
        replica = Replica(work / "replica.db")
        replica.apply(
            "",
            ChangePage(
                changes=[
                    Change(seq=n + 1, kind="bundle", key=b.ubr, bundle=b)
                    for n, b in enumerate(bundles(total, now[0]))
                ],
                next="c1",
            ),
            now[0],
        )
        outbox = Outbox(work / "outbox.db")
        link = CentralLink(clock)
        link.mark_up()
        config = SyncConfig.model_validate(
            {
                "lanes": [
                    # the reads are made before the phases, whose clock moves on (at most
                    # MAX_TRUCKS * 0.41 s): they must not count as late (max_read_age_s)
                    {
                        "id": f"L{n:03d}",
                        "manifest_required": False,
                        "hold_s": 0.3,
                        "max_read_age_s": 3600,
                    }
                    for n in range(1, LANES + 1)
                ],
                "data_dir": str(work),
            }
        )
        bus = KeepPayloads()
        # the contended phase: when its next read is due (then it is input waiting)
        next_due = [float("inf")]
        controller = LaneController(
            config,
            publisher=bus,
            replica=replica,
            outbox=outbox,
            link=link,
            site_secret=b"bench-site-secret",
            clock=clock,
            input_waiting=lambda: time.perf_counter() >= next_due[0],
        )
        controller.start()
        reads = [
            (
                f"rocars/{CP}/lanes/L{n % LANES + 1:03d}/plate",
                PlateRead(
                    vrn=synthetic_vrn(n), confidence=0.97, source="serial", device="bench"
                ).to_bytes(),
            )
            for n in range(total)
        ]
        replica_sync = now[0]

        def keep_fresh() -> None:
            # the replica counts as current (the puller would say so every 2 s; past
            # pull_interval_s + timeout_s + 5 s the lanes flag decisions offline)
            nonlocal replica_sync
            if (now[0] - replica_sync).total_seconds() > 10:
                replica.apply("c1", ChangePage(changes=[], next="c1"), now[0])
                replica_sync = now[0]

        def back_to_back(batch: list[tuple[str, bytes]]) -> tuple[list[float], list[float]]:
            read_s: list[float] = []
            end_s: list[float] = []
            for start in range(0, len(batch), LANES):
                for topic, payload in batch[start : start + LANES]:
                    began = time.perf_counter()
                    controller.on_message(topic, payload)
                    read_s.append(time.perf_counter() - began)
                now[0] += timedelta(seconds=1)
                keep_fresh()
                began = time.perf_counter()
                controller.tick()
                took = time.perf_counter() - began
                ended = len(batch[start : start + LANES])
                end_s.extend([took / ended] * ended)
            return read_s, end_s

        def paced(batch: list[tuple[str, bytes]]) -> tuple[list[float], list[float]]:
            read_s: list[float] = []
            end_s: list[float] = []
            due = time.monotonic()
            for topic, payload in batch:
                due += READ_EVERY_S
                time.sleep(max(0.0, due - time.monotonic()))
                began = time.perf_counter()
                controller.on_message(topic, payload)
                read_s.append(time.perf_counter() - began)
                # this lane's session ends before its next truck: the timer's work, timed
                # on its own after a pause of its own
                now[0] += timedelta(seconds=0.4)
                keep_fresh()
                time.sleep(0.002)
                began = time.perf_counter()
                controller.tick()
                end_s.append(time.perf_counter() - began)
            return read_s, end_s

        def contended(batch: list[tuple[str, bytes]]) -> tuple[list[float], list[float]]:
            """As in the agent: reads come on one thread (paho's there) every 5 ms while
            the controller's timer thread ends sessions after their hold; both on the
            real clock. A read that is due counts as input waiting (the timer gives way
            to it, as to a read the agent's socket holds). Each read: from when it was
            due until answered (waiting for the GIL, for the read or the session end
            before it included), and ``on_message`` alone."""
            real_time.set()
            replica.apply("c1", ChangePage(changes=[], next="c1"), utc_now())
            stop = threading.Event()
            timer = threading.Thread(target=controller.run, args=(stop,), name="sync-lanes")
            timer.start()
            late_s: list[float] = []
            read_s: list[float] = []
            try:
                due = time.perf_counter() + 0.05
                for topic, payload in batch:
                    next_due[0] = due
                    time.sleep(max(0.0, due - time.perf_counter()))
                    began = time.perf_counter()
                    controller.on_message(topic, payload)
                    done = time.perf_counter()
                    read_s.append(done - began)
                    late_s.append(done - due)
                    due += READ_EVERY_S
                next_due[0] = float("inf")
                time.sleep(0.5)  # the last holds end
            finally:
                stop.set()
                timer.join()
            return late_s, read_s

        gc.collect()
        back_to_back(reads[:warm])
        hot_reads, hot_ends = back_to_back(reads[warm : warm + trucks])
        paced_reads, paced_ends = paced(reads[warm + trucks : warm + 2 * trucks])
        busy_answers, busy_reads = contended(reads[warm + 2 * trucks :])
        outbox.flush()
        sent = bus.sent
        outbox.close()
        replica.close()
        logging.shutdown()
        log.close()

    print(
        f"{LANES} lanes, {trucks} trucks a phase, real replica ({total:,} bundles) and outbox "
        f"('write', flusher running), {sent} instructions kept; wall time on this thread"
    )
    print(f"back to back: read {summary(hot_reads)}; session end {summary(hot_ends)}")
    print(
        f"paced ({READ_EVERY_S * 1e3:g} ms): read {summary(paced_reads)}; "
        f"session end {summary(paced_ends)}"
    )
    print(
        f"contended (timer thread ending sessions meanwhile): read due -> answered "
        f"{summary(busy_answers)}; on_message {summary(busy_reads)}"
    )
    per_truck = statistics.fmean(paced_reads) + statistics.fmean(paced_ends)
    print(
        f"a truck (read + session end, paced means) {per_truck * 1e3:.2f} ms: at {LANES} lanes "
        f"x {RATE_PER_LANE:g} trucks/s the lanes hold the GIL {per_truck / READ_EVERY_S:.0%} "
        "of the time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

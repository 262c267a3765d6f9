"""Replica benchmark: load the change feed of a real simulated centre, then point lookups.

    .venv/bin/python bench/replica.py            # 1,000,000 bundles (targets below)
    .venv/bin/python bench/replica.py --quick    # 50,000 bundles, a smoke check

Targets: load 1M bundles <= 15 s, point lookup p99 <= 100 us, RSS after load <= 250 MB.
The centre runs as its own process (``CentralProcess --synthetic-bundles N``); the load
is timed from the first request to the last page committed.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from hardware_sim.launch import CentralProcess
from hardware_sim.store import synthetic_vrn
from sync.puller import CentralClient, CentralLink, Puller
from sync.replica import Replica


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50k bundles, under a minute")
    parser.add_argument("--bundles", type=int, default=0, help="override the bundle count")
    parser.add_argument("--batch", type=int, default=10_000, help="changes per feed page")
    parser.add_argument("--lookups", type=int, default=100_000)
    args = parser.parse_args(argv)
    count = args.bundles or (50_000 if args.quick else 1_000_000)

    with tempfile.TemporaryDirectory(prefix="bench-replica-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        central = CentralProcess(
            work / "central", synthetic_bundles=count, demo=False, start_timeout=600
        )
        central.start()
        print(f"centre with {count:,} synthetic bundles ready in {time.perf_counter() - t0:.1f} s")
        try:
            rss_before = rss_mb()
            replica = Replica(work / "replica.db")
            client = CentralClient(central.url, token=central.token, timeout=60)
            puller = Puller(replica, client, CentralLink(), batch=args.batch)
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            applied = puller.catch_up(threading.Event())
            load_s = time.perf_counter() - t0
            cpu_s = time.process_time() - cpu0
            n = replica.count_bundles()
            rss_after = rss_mb()
            print(
                f"load: {applied:,} changes -> {n:,} bundles in {load_s:.2f} s "
                f"({applied / load_s:,.0f}/s; target 1M <= 15 s); agent CPU {cpu_s:.2f} s; "
                f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
            )
            print(f"RSS: {rss_before:.0f} MB before, {rss_after:.0f} MB after load (target <= 250)")

            rng = random.Random(1)
            ubrs = [b.ubr for b in replica.active_bundles_for_plate(synthetic_vrn(0))]
            first_ubr = int(ubrs[0])
            for name, lookup, keys in (
                ("bundle(ubr)", replica.bundle, [str(first_ubr + rng.randrange(n)) for _ in range(args.lookups)]),
                ("active_bundles_for_plate(vrn)", replica.active_bundles_for_plate, [synthetic_vrn(rng.randrange(n)) for _ in range(args.lookups)]),
            ):  # fmt: skip
                samples: list[float] = []
                misses = 0
                for key in keys:
                    start = time.perf_counter_ns()
                    found = lookup(key)
                    samples.append((time.perf_counter_ns() - start) / 1000)
                    misses += not found
                print(
                    f"{name}: p50 {percentile(samples, 0.5):.1f} us, p99 "
                    f"{percentile(samples, 0.99):.1f} us over {len(samples):,} lookups, "
                    f"{misses} misses (target p99 <= 100 us)"
                )
            print(f"RSS after lookups: {rss_mb():.0f} MB")
            client.close()
            replica.close()
        finally:
            central.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

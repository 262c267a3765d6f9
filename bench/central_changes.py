"""The simulated centre's change feed at replica scale, and its per-truck plate lookup.

Starts a centre with N synthetic bundles (default 1,000,000) in a temporary folder and
prints: the bulk-load time, the time to pull the whole feed over HTTP in pages of 10,000
(bytes only, then with json.loads), what building the pydantic models would add, and the
latency of ``GET /v1/bundles?vrn=`` (what the benchmark's baseline lane asks per truck).

    .venv/bin/python bench/central_changes.py [N]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from hardware_sim.launch import CentralProcess
from hardware_sim.store import synthetic_vrn
from rocars.models import ChangePage

PAGE = 10_000


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        central = CentralProcess(
            Path(tmp) / "central", demo=False, synthetic_bundles=count, start_timeout=600
        )
        started = time.perf_counter()
        central.start()
        print(f"bulk-load of {count:,} bundles and start: {time.perf_counter() - started:.1f} s")
        try:
            run(central, count)
        finally:
            central.stop()
    return 0


def run(central: CentralProcess, count: int) -> None:
    headers = {"Authorization": f"Bearer {central.token}"}
    with httpx.Client(base_url=central.url, headers=headers, timeout=60) as http:
        for parse in (False, True):
            since, total_bytes, changes, pages = "", 0, 0, 0
            started = time.perf_counter()
            for _ in range(count // PAGE + 10):
                r = http.get("/v1/changes", params={"since": since, "limit": PAGE})
                r.raise_for_status()
                total_bytes += len(r.content)
                pages += 1
                if parse:
                    body = json.loads(r.content)
                    changes += len(body["changes"])
                    nxt = body["next"]
                else:
                    tail = r.content[-40:]
                    nxt = tail[tail.rindex(b'"next":"') + 8 : -2].decode()
                if nxt == since:
                    break
                since = nxt
            elapsed = time.perf_counter() - started
            what = "with json.loads" if parse else "bytes only"
            print(
                f"pull feed ({what}): {elapsed:.2f} s, {pages} pages, "
                f"{total_bytes / 1e6:.0f} MB, {total_bytes / 1e6 / elapsed:.0f} MB/s"
                + (f", {changes:,} changes" if parse else "")
            )
        r = http.get("/v1/changes", params={"since": "", "limit": PAGE})
        started = time.perf_counter()
        ChangePage.model_validate_json(r.content)
        per_page = time.perf_counter() - started
        print(
            f"pydantic ChangePage of one {PAGE:,} page: {per_page * 1000:.0f} ms "
            f"(x{count // PAGE} pages = {per_page * count / PAGE:.1f} s if a client did that)"
        )
        latencies = []
        for i in range(0, count, max(1, count // 1000)):
            started = time.perf_counter()
            r = http.get("/v1/bundles", params={"vrn": synthetic_vrn(i)})
            latencies.append(time.perf_counter() - started)
            if len(r.json()["bundles"]) != 1:
                raise SystemExit(f"lookup of {synthetic_vrn(i)} found {r.text[:200]}")
        latencies.sort()
        print(
            f"GET /v1/bundles?vrn= x{len(latencies)}: p50 "
            f"{statistics.median(latencies) * 1000:.1f} ms, p99 "
            f"{latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

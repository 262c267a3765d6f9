"""The kiosk's local API: what forwarding costs, and how fast the replica answers offline.

Targets: a kiosk query answered in < 50 ms (p95) through the local API while the centre
is up (forwarding adds < 10 ms p50 over asking the centre directly); from the replica
while it is down, and the 503 refusal of a write, in < 10 ms p50 and < 50 ms p95.

    .venv/bin/python bench/local_api.py
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from hardware_sim.launch import CentralProcess
from rocars.broker import free_port
from rocars.timeutil import HK_TZ, utc_now
from sync.local_api import build_router
from sync.puller import CentralClient, CentralLink, Puller
from sync.replica import Replica

UBR = "9110635860"
CCRN = "1001041258"
N = 300
CARGO = {
    "packages": 1,
    "package_description": "CARTONS",
    "article_description": "TEA",
    "consignor_name": "A",
    "consignor_address": "B",
    "consignee_name": "C",
    "consignee_address": "D",
    "expected_date": utc_now().astimezone(HK_TZ).date().isoformat(),
    "direction": "import",
}


def timed(fn: Callable[[], httpx.Response], n: int = N) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = fn()
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code in (200, 503), response.text
    samples.sort()
    return statistics.median(samples), samples[int(n * 0.95) - 1]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        central = CentralProcess(Path(tmp) / "central")
        central.start()
        client = CentralClient(central.url, token=central.token)
        replica = Replica(Path(tmp) / "replica.sqlite")
        Puller(replica, client, CentralLink()).catch_up(max_pages=100)
        up = [True]
        app = FastAPI()
        app.include_router(build_router(client, replica, lambda: up[0]))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        headers = {"Authorization": f"Bearer {central.token}"}
        try:
            with (
                httpx.Client(base_url=central.url, headers=headers) as direct,
                httpx.Client(base_url=f"http://127.0.0.1:{port}") as local,
            ):
                rows = [
                    (
                        "centre direct    GET bundle",
                        timed(lambda: direct.get(f"/v1/bundles/{UBR}")),
                    ),
                    ("local, centre up GET bundle", timed(lambda: local.get(f"/v1/bundles/{UBR}"))),
                    (
                        "local, centre up GET ?ccrn=",
                        timed(lambda: local.get("/v1/bundles", params={"ccrn": CCRN})),
                    ),
                ]
                up[0] = False
                rows += [
                    ("local, replica   GET bundle", timed(lambda: local.get(f"/v1/bundles/{UBR}"))),
                    (
                        "local, replica   GET ?ccrn=",
                        timed(lambda: local.get("/v1/bundles", params={"ccrn": CCRN})),
                    ),
                    (
                        "local, down      POST cargo 503",
                        timed(lambda: local.post("/v1/cargo", json=CARGO)),
                    ),
                ]
        finally:
            server.should_exit = True
            thread.join(10)
            client.close()
            replica.close()
            central.stop()
    print(f"{'call':<34} {'p50 ms':>8} {'p95 ms':>8}   ({N} calls each)")
    for name, (p50, p95) in rows:
        print(f"{name:<34} {p50:8.2f} {p95:8.2f}")


if __name__ == "__main__":
    main()

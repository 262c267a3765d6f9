"""The serial AVRS path: parser throughput, garbage throughput, and pty latency.

Targets: each parser >= 20,000 frames/s (a lane needs ~10 a truck, 120 trucks an hour);
noise/garbage skipped at >= 20 MB/s so a babbling device cannot starve the reader;
a frame written on the virtual device reaches ``observations`` in < 20 ms (p99), so the
lane's latency is the aggregator's settle time (300 ms), not the serial path.

    .venv/bin/python bench/avrs_serial.py
"""

from __future__ import annotations

import queue
import statistics
import tempfile
import threading
import time
from datetime import datetime

from avrs_adapter.aggregator import Aggregator
from avrs_adapter.observation import Observation
from avrs_adapter.protocols import PROTOCOLS, make_protocol
from avrs_adapter.serial_source import SerialSource
from hardware_sim.lpr_device import VirtualLpr

WHEN = datetime(2026, 11, 22, 8, 15, 30)


def parser_throughput(name: str, frames: int = 50_000) -> float:
    encoder = make_protocol(name)
    data = b"".join(encoder.encode(f"AB{i % 10000:04d}", 0.9, "CAM1", WHEN) for i in range(frames))
    parser = make_protocol(name)
    start = time.perf_counter()
    reads = 0
    for i in range(0, len(data), 4096):  # serial reads arrive in chunks
        reads += len(parser.feed(data[i : i + 4096]))
    elapsed = time.perf_counter() - start
    assert reads == frames, (name, reads)
    return frames / elapsed


def garbage_throughput(name: str, size: int = 20 * 1024 * 1024) -> float:
    chunk = bytes((i * 131 + 7) % 256 for i in range(65536)).replace(b"\x02", b"\x82")
    parser = make_protocol(name)
    start = time.perf_counter()
    for _ in range(size // len(chunk)):
        parser.feed(chunk)
    return size / (time.perf_counter() - start) / 1e6


def pty_latency(name: str, frames: int = 200) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp, VirtualLpr(tmp, name) as lpr:
        source = SerialSource(lpr.path, name, 115200, "lpr0")
        stop = threading.Event()
        got: queue.Queue[Observation] = queue.Queue()

        def run() -> None:
            for obs in source.observations(stop):
                got.put(obs)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        for _ in range(500):
            if source.status()["port_state"] == "open":
                break
            time.sleep(0.01)
        latencies = []
        for i in range(frames):
            start = time.perf_counter()
            lpr.send_read(f"AB{i:04d}", 0.9)
            got.get(timeout=5)
            latencies.append((time.perf_counter() - start) * 1000)
        stop.set()
        thread.join(5)
    return latencies


def aggregator_throughput(trucks: int = 20_000) -> float:
    now = [0.0]
    agg = Aggregator(clock=lambda: now[0])
    start = time.perf_counter()
    published = 0
    for t in range(trucks):
        for _ in range(4):
            obs = Observation(f"AB{t % 10000:04d}", "x", 0.9, "serial", "lpr0", now[0])
            published += len(agg.add(obs))
            now[0] += 0.01
        now[0] += 10.0
        published += len(agg.poll())
    assert published == trucks, published
    return trucks / (time.perf_counter() - start)


def main() -> None:
    print("parser throughput (frames/s, 4 KiB chunks):")
    for name in sorted(PROTOCOLS):
        print(f"  {name:<10} {parser_throughput(name):>10,.0f}")
    print("garbage skipped (MB/s, no frame in it):")
    for name in sorted(PROTOCOLS):
        print(f"  {name:<10} {garbage_throughput(name):>10.1f}")
    print("pty write -> Observation latency (ms):")
    for name in sorted(PROTOCOLS):
        lat = sorted(pty_latency(name))
        p99 = lat[int(len(lat) * 0.99) - 1]
        print(f"  {name:<10} median {statistics.median(lat):6.2f}   p99 {p99:6.2f}")
    print(f"aggregator: {aggregator_throughput():,.0f} trucks/s (4 sightings each)")


if __name__ == "__main__":
    main()

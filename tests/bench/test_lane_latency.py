"""bench/lane_latency.py's CPU readings: per thread, on this test's own threads, and the machine's."""

from __future__ import annotations

import os
import threading
import time

from rocars.threads import name_thread
from tests.bench import load_bench

ll = load_bench("lane_latency")


def test_thread_cpu_is_read_by_the_threads_os_name() -> None:
    go, spun, stop = threading.Event(), threading.Event(), threading.Event()

    def spin() -> None:
        go.wait(10)
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass
        spun.set()
        stop.wait(10)  # alive at the second reading

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        name_thread(worker, "bench-spinner")
        before = ll.thread_cpu_s(os.getpid())
        go.set()
        assert spun.wait(30)
        after = ll.thread_cpu_s(os.getpid())
    finally:
        stop.set()
        worker.join()
    used = after["bench-spinner"] - before.get("bench-spinner", 0.0)
    assert 0.2 <= used <= 0.5  # 0.3 s, to the clock's ticks
    # the whole process is at least its threads (each thread's ticks rounded down)
    assert sum(after.values()) <= ll.process_cpu_s(os.getpid()) + 0.01 * len(after)


def test_the_machine_s_busy_and_stolen_shares_are_of_all_its_cpus() -> None:
    # all CPUs' ticks 1000: 500 idle (with I/O wait), 100 stolen by the host, 400 busy
    assert ll.machine_share((5000, 2000, 300), (6000, 2500, 400)) == (40.0, 10.0)
    assert ll.machine_share((5000, 2000, 300), (5000, 2000, 300)) == (0.0, 0.0)
    before = ll.machine_cpu()
    end = time.thread_time() + 0.3
    while time.thread_time() < end:  # one CPU busy for 0.3 s at least
        pass
    busy, stolen = ll.machine_share(before, ll.machine_cpu())
    cpus = os.cpu_count() or 1
    assert busy >= 100 / cpus / 2  # this thread alone kept one CPU of them busy (to ticks)
    assert 0.0 <= stolen <= 100.0 - busy

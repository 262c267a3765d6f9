"""bench/sched_trace.py's reading of a scheduler trace, on a small trace written here.

The tool itself needs perf and root (it is run by hand, docs/benchmarks.md); what it
makes of perf's lines is what decides its tables, so that is tested."""

from __future__ import annotations

import pytest

from tests.bench import load_bench

st = load_bench("sched_trace")


def _switch(
    t: float, cpu: int, prev: tuple[str, int, int], state: str, nxt: tuple[str, int]
) -> str:
    comm, pid, tid = prev
    return (
        f"{comm:>16} {pid:>6}/{tid:<6} [{cpu:03d}] {t:.9f}: sched:sched_switch: prev_comm={comm} "
        f"prev_pid={tid} prev_prio=120 prev_state={state} ==> next_comm={nxt[0]} "
        f"next_pid={nxt[1]} next_prio=120"
    )


def _wakeup(
    t: float, cpu: int, waker: tuple[str, int, int], woken: tuple[str, int], target: int
) -> str:
    comm, pid, tid = waker
    return (
        f"{comm:>16} {pid:>6}/{tid:<6} [{cpu:03d}] {t:.9f}: sched:sched_wakeup: comm={woken[0]} "
        f"pid={woken[1]} prio=120 target_cpu={target:03d}"
    )


def _stack(*functions: str) -> list[str]:
    return [f"\t    ffffffff8100{n:04x} {name}" for n, name in enumerate(functions)]


IDLE0 = ("swapper", 0, 0)
READER = ("mqtt-bus", 10, 11)
CENTRAL = ("python", 20, 21)
SENDER = ("python", 30, 30)

LINES = [
    _switch(1.000, 0, IDLE0, "R", ("mqtt-bus", 11)),
    _switch(1.001, 0, READER, "S", ("swapper/0", 0)),
    *_stack("__schedule", "schedule_hrtimeout_range", "do_select", "__x64_sys_select"),
    _wakeup(1.002, 1, CENTRAL, ("mqtt-bus", 11), 0),  # CPU 0 idle
    _switch(1.0025, 0, IDLE0, "R", ("mqtt-bus", 11)),
    _switch(1.003, 0, READER, "R", ("python", 21)),  # preempted by the centre
    *_stack("__schedule", "preempt_schedule_common"),
    _switch(1.005, 0, CENTRAL, "S", ("mqtt-bus", 11)),
    *_stack("__schedule", "futex_wait_queue", "futex_wait"),
    _switch(1.006, 0, READER, "S", ("swapper/0", 0)),
    *_stack("__schedule", "futex_wait_queue", "futex_wait"),
    # a thread whose own switches are not in the trace: seen coming in only
    _switch(1.007, 1, ("swapper", 0, 0), "R", ("tokio-rt-worker", 99)),
    _switch(1.009, 1, ("swapper", 0, 0), "R", ("python", 30)),
    # both CPUs busy (the centre on 0, the sender on 1) when the reader is woken
    _switch(1.0095, 0, IDLE0, "R", ("python", 21)),
    _wakeup(1.010, 1, SENDER, ("mqtt-bus", 11), 0),
    _switch(1.011, 0, CENTRAL, "S", ("mqtt-bus", 11)),
    *_stack("__schedule", "do_epoll_wait", "ep_poll"),
]


def test_each_state_of_a_thread_and_for_how_long() -> None:
    trace = st.parse_perf_script(LINES, cpus=2)
    reader = trace.threads[11]
    assert (reader.pid, reader.comm) == (10, "mqtt-bus")
    spent = st.time_in_states(reader, 1.0, 1.011)
    assert spent == pytest.approx(
        {
            "running": 0.0025,  # 1.000-1.001, 1.0025-1.003, 1.005-1.006
            "asleep: poll": 0.001,
            "runnable: woken, idle CPU": 0.0005,
            "runnable: preempted": 0.002,
            "asleep: futex": 0.004,  # 1.006 until woken at 1.010
            "runnable: woken, every CPU busy": 0.001,
        }
    )
    # a window cuts the spans at its ends
    assert st.time_in_states(reader, 1.0005, 1.0015) == pytest.approx(
        {"running": 0.0005, "asleep: poll": 0.0005}
    )


def test_who_took_the_cpu_and_for_how_long() -> None:
    trace = st.parse_perf_script(LINES, cpus=2)
    assert trace.preemptions == [(11, pytest.approx(2.0), 21, 1.003)]
    # outside the window asked for, a preemption is not listed
    assert st.parse_perf_script(LINES, start=1.004, cpus=2).preemptions == []


def test_a_thread_seen_only_coming_in_leaves_when_its_cpu_switches() -> None:
    hidden = st.parse_perf_script(LINES, cpus=2).threads[99]
    assert st.time_in_states(hidden, 1.0, 1.02) == pytest.approx(
        {"running": 0.002, "unseen": 0.002}
    )


def test_a_wakeup_onto_a_busy_cpu_beside_an_idle_one() -> None:
    lines = [
        _switch(2.000, 0, IDLE0, "R", ("python", 21)),
        _wakeup(2.001, 0, CENTRAL, ("mqtt-bus", 11), 0),  # CPU 1 never ran anything: idle
        _switch(2.002, 0, CENTRAL, "S", ("mqtt-bus", 11)),
        *_stack("__schedule", "futex_wait"),
    ]
    reader = st.parse_perf_script(lines, cpus=2).threads[11]
    assert st.time_in_states(reader, 2.0, 2.002) == pytest.approx(
        {"runnable: woken, busy CPU, another idle": 0.001}
    )


def test_the_report_names_the_chain_and_who_preempted_it() -> None:
    trace = st.parse_perf_script(LINES, cpus=2)
    step = st.Step(
        reads=[(4.0, 1.0, 1.004), (5.0, 1.0, 1.005), (11.0, 1.0, 1.011)],
        pids={"agents": [10], "mosquitto": 40, "receiver": 50, "central": 20, "sender": 30},
    )
    # the broker and the receiver must be in the trace too
    with pytest.raises(SystemExit, match="broker, receiver"):
        list(st.report(trace, step))
    more = [
        _switch(1.012, 1, SENDER, "S", ("mosquitto", 40)),
        *_stack("__schedule", "ep_poll"),
        _switch(1.013, 1, ("mosquitto", 40, 40), "S", ("python", 50)),
        *_stack("__schedule", "ep_poll"),
    ]
    text = "\n".join(st.report(st.parse_perf_script([*LINES, *more], cpus=2), step))
    assert "3 reads: p50 5.00 p99 11.00 max 11.00 ms; reader tid 11 (agent pid 10)" in text
    assert "reader preempted for over 1 ms: 1 times, 2 ms in all; by central: python 2 ms" in text
    assert "central: python" in text.split("what the CPUs ran")[1]

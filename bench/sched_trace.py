"""Where the slowest plate reads wait: a scheduler trace laid over lane_latency's stamps.

    .venv/bin/python bench/sched_trace.py                     # 100 lanes, 20 s, traced
    .venv/bin/python bench/sched_trace.py --keep /tmp/trace   # keep trace and stamps
    .venv/bin/python bench/sched_trace.py --analyse /tmp/trace   # the tables again
    .venv/bin/python bench/sched_trace.py -- --set background_batch=false   # to lane_latency

It runs ``bench/lane_latency.py --steps N --keep DIR`` under ``perf record -k
CLOCK_MONOTONIC -e sched:sched_switch -e sched:sched_wakeup -a -g --kernel-callchains``:
every context switch on the machine, with the kernel stack of the thread leaving its
CPU, on the clock the bench's sender and receiver stamp each read with
(``time.monotonic_ns()``). Each read's interval (sent -> instruction received) is then
laid over what each thread of its chain did meanwhile: the agent's ``mqtt-bus`` thread
(it reads every message and answers the plate reads; ``rocars.bus`` names it), the
broker, and the receiver. A thread is *running*, *runnable* (preempted, or woken and
waiting for a CPU) or *asleep* (in ``select``/``poll``, on a futex: the GIL, on the disk,
or elsewhere). Then: which threads took the reader's or the broker's CPU for more than
1 ms, by name (the agent's threads are named in the OS: ``rocars.threads``) or by the
bench's role of their process (central, baseline, sender...).

Needs ``perf`` (Debian: ``linux-perf``) and the right to trace every CPU (root, or
``kernel.perf_event_paranoid`` at -1). Tracing costs the run some p99 (about 0.5 ms
here); compare traced runs with traced runs. docs/benchmarks.md, thirteenth and
fourteenth sessions, shows what it found.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rocars.bus import BUS_THREAD_NAME as READER  # the agent's reading thread, by its name

HERE = Path(__file__).resolve().parent
#: a preemption longer than this is listed by who took the CPU
LONG_MS = 1.0

_HEADER = re.compile(r"^\s*(\S.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)")


def sleep_reason(stack: list[str]) -> str:
    """Why a thread went to sleep, from the kernel functions of its stack (innermost first)."""
    text = " ".join(stack)
    if "futex" in text:
        return "futex"
    if any(f in text for f in ("do_select", "do_sys_poll", "do_poll", "ep_poll")):
        return "poll"
    if any(f in text for f in ("fsync", "jbd2", "io_schedule", "ext4")):
        return "disk"
    return "other"


@dataclass
class Thread:
    """One thread's states over the trace: (start, end, state) spans in time order."""

    tid: int
    pid: int = 0
    comm: str = "?"
    spans: list[tuple[float, float, str]] = field(default_factory=list)
    #: the open state: (since, state)
    now: tuple[float, str] | None = None
    #: a preemption being served: (since, the thread that took the CPU)
    preempted_by: tuple[float, int] | None = None
    #: each span's start, once the trace is read (``starts``)
    _starts: list[float] | None = None

    def enter(self, t: float, state: str) -> None:
        if self.now is not None and t > self.now[0]:
            self.spans.append((self.now[0], t, self.now[1]))
        self.now = (t, state)

    def starts(self) -> list[float]:
        if self._starts is None or len(self._starts) != len(self.spans):
            self._starts = [s for s, _, _ in self.spans]
        return self._starts


@dataclass
class Trace:
    threads: dict[int, Thread] = field(default_factory=dict)
    #: (preempted tid, took ms, tid of the thread that took the CPU, since)
    preemptions: list[tuple[int, float, int, float]] = field(default_factory=list)

    def thread(self, tid: int) -> Thread:
        found = self.threads.get(tid)
        if found is None:
            found = self.threads[tid] = Thread(tid)
        return found


def parse_perf_script(
    lines: Iterable[str], start: float = 0.0, end: float = 1e18, cpus: int = 0
) -> Trace:
    """Thread states from ``perf script -F comm,pid,tid,cpu,time,event,trace,ip,sym --ns``
    of sched_switch and sched_wakeup (stack lines follow a switch); events outside
    [start, end] only set the state a thread is in when the window opens. ``cpus``: how
    many the traced machine has (default: this one's); one not seen yet counts as idle.
    The idle task (tid 0, one a CPU) has no states of its own."""
    cpus = cpus or os.cpu_count() or 1
    trace = Trace()
    switch: tuple[float, Thread, str, Thread] | None = None  # waiting for its stack
    stack: list[str] = []
    running: dict[int, int] = {}  # CPU -> the thread on it (0: idle)

    def close_switch() -> None:
        if switch is None:
            return
        t, prev, prev_state, nxt = switch
        if prev.tid and prev_state.startswith("R"):
            prev.enter(t, "runnable: preempted")
            prev.preempted_by = (t, nxt.tid)
        elif prev.tid:
            prev.enter(t, f"asleep: {sleep_reason(stack)}")
            prev.preempted_by = None
        if nxt.preempted_by is not None:
            since, by = nxt.preempted_by
            if start <= since <= end:
                trace.preemptions.append((nxt.tid, (t - since) * 1000, by, since))
            nxt.preempted_by = None
        if nxt.tid:
            nxt.enter(t, "running")

    t = start
    for line in lines:
        head = _HEADER.match(line)
        if head is None:
            parts = line.split()
            if switch is not None and len(parts) >= 2:
                stack.append(parts[1])
            continue
        close_switch()
        switch, stack = None, []
        comm, pid, tid, cpu, stamp, kind, rest = head.groups()
        t = float(stamp)
        if t > end:
            break
        me = trace.thread(int(tid))
        me.pid, me.comm = int(pid), comm
        fields = dict(_FIELD.findall(rest))
        if kind == "sched_switch":
            prev = trace.thread(int(fields["prev_pid"]))
            nxt = trace.thread(int(fields["next_pid"]))
            prev.comm = fields.get("prev_comm", prev.comm)
            nxt.comm = fields.get("next_comm", nxt.comm)
            switch = (t, prev, fields.get("prev_state", "S"), nxt)
            # a thread whose own switches the trace does not hold (another PID namespace:
            # the VM's agent here) is seen only coming in; it left when this CPU switches
            was = running.get(int(cpu), 0)
            if was and was != prev.tid:
                hidden = trace.thread(was)
                if hidden.now is not None and hidden.now[1] == "running":
                    hidden.enter(t, "unseen")
            running[int(cpu)] = nxt.tid
        elif kind == "sched_wakeup":
            woken = trace.thread(int(fields["pid"]))
            woken.comm = fields.get("comm", woken.comm)
            if woken.now is None or woken.now[1].startswith("asleep"):
                # an idle CPU (a halted vCPU) has to wake up first; a busy one must come free
                target = int(fields.get("target_cpu", "-1"))
                if not running.get(target, 0):
                    woken.enter(t, "runnable: woken, idle CPU")
                elif any(not running.get(other, 0) for other in range(cpus) if other != target):
                    woken.enter(t, "runnable: woken, busy CPU, another idle")
                else:
                    woken.enter(t, "runnable: woken, every CPU busy")
    close_switch()
    for thread in trace.threads.values():  # the state each was in at the end
        if thread.now is not None:
            thread.enter(t, thread.now[1])
    return trace


def time_in_states(thread: Thread, a: float, b: float) -> dict[str, float]:
    """Seconds the thread spent in each state within [a, b]."""
    out: dict[str, float] = defaultdict(float)
    spans = thread.spans
    starts = thread.starts()
    k = max(0, bisect.bisect_right(starts, a) - 1)
    while k < len(spans) and spans[k][0] < b:
        s, e, state = spans[k]
        overlap = min(e, b) - max(s, a)
        if overlap > 0:
            out[state] += overlap
        k += 1
    return out


@dataclass
class Step:
    """One step kept by ``lane_latency.py --keep``."""

    reads: list[tuple[float, float, float]]  # (latency ms, sent s, received s), agent lanes
    pids: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Step:
        kept = json.loads(path.read_text())
        received = {(lane, vrn): t for lane, vrn, t in kept["received_ns"]}
        baseline = set(kept["baseline"])
        reads = []
        for (_, lane, vrn), sent in zip(kept["sends"], kept["sent_ns"], strict=True):
            came = received.get((lane, vrn))
            if lane not in baseline and came is not None:
                reads.append(((came - sent) / 1e6, sent / 1e9, came / 1e9))
        reads.sort()
        return cls(reads, kept["pids"])

    def roles(self) -> dict[int, str]:
        """pid -> the bench's name for that process."""
        out: dict[int, str] = {}
        for role, pid in self.pids.items():
            for one in pid if isinstance(pid, list) else [pid]:
                if one:
                    out[int(one)] = "agent" if role == "agents" else role
        return out


def chain(trace: Trace, step: Step) -> dict[str, Thread]:
    """The threads every read passes: the agent's reader, the broker, the receiver."""
    agents = set(step.pids["agents"])
    found: dict[str, Thread] = {}
    for thread in trace.threads.values():
        if thread.pid in agents and thread.comm == READER:
            found.setdefault("reader", thread)
        elif thread.tid == step.pids["mosquitto"]:
            found["broker"] = thread
        elif thread.tid == step.pids["receiver"]:
            found["receiver"] = thread
    missing = {"reader", "broker", "receiver"} - set(found)
    if missing:
        raise SystemExit(
            f"not in the trace: {', '.join(sorted(missing))} (is the agent's paho thread "
            f"named {READER!r}? the agent of this tree names it: rocars.bus)"
        )
    return found


#: (thread, state, column heading)
COLUMNS = [
    ("reader", "running", "reader running"),
    ("reader", "runnable: preempted", "preempted"),
    ("reader", "runnable: woken, idle CPU", "woken, idle CPU"),
    ("reader", "runnable: woken, busy CPU, another idle", "woken, busy CPU, another idle"),
    ("reader", "runnable: woken, every CPU busy", "woken, every CPU busy"),
    ("reader", "asleep: poll", "in select"),
    ("reader", "asleep: futex", "on a futex"),
    ("broker", "runnable: preempted", "broker preempted"),
    ("broker", "runnable: woken, idle CPU", "woken, idle CPU"),
    ("broker", "runnable: woken, busy CPU, another idle", "woken, busy CPU, another idle"),
    ("broker", "runnable: woken, every CPU busy", "woken, every CPU busy"),
    ("receiver", "runnable: preempted", "receiver preempted"),
    ("receiver", "runnable: woken, idle CPU", "woken, idle CPU"),
    ("receiver", "runnable: woken, busy CPU, another idle", "woken, busy CPU, another idle"),
    ("receiver", "runnable: woken, every CPU busy", "woken, every CPU busy"),
]


def label(thread: Thread | None, roles: dict[int, str], tid: int = 0) -> str:
    """A thread as the tables name it: the bench's role of its process and its name."""
    if thread is None:
        return f"tid {tid}"
    role = roles.get(thread.pid)
    return f"{role}: {thread.comm}" if role else thread.comm


def occupancy(
    trace: Trace, groups: list[tuple[str, list[tuple[float, float, float]]]], roles: dict[int, str]
) -> Iterator[str]:
    """What every CPU ran during the reads of each group, ms a read, the busiest first."""
    ran: dict[str, dict[str, float]] = {}
    for name, group in groups:
        per: dict[str, float] = defaultdict(float)
        for _, sent, received in group:
            for thread in trace.threads.values():
                if thread.tid == 0:  # idle
                    continue
                took = time_in_states(thread, sent, received).get("running", 0.0)
                if took:
                    per[label(thread, roles)] += took
        ran[name] = {who: took / max(1, len(group)) * 1000 for who, took in per.items()}
    first = groups[0][0]
    top = sorted(ran[first], key=lambda who: -ran[first][who])[:10]
    yield "what the CPUs ran during the reads, ms a read (the ten busiest in the slowest):"
    yield ""
    yield "| reads | " + " | ".join(top) + " | all |"
    yield "|---|" + "---|" * (len(top) + 1)
    for name, group in groups:
        cells = [f"{ran[name].get(who, 0.0):.2f}" for who in top]
        yield (
            f"| {name} ({len(group)}) | "
            + " | ".join(cells)
            + f" | {sum(ran[name].values()):.2f} |"
        )


def report(trace: Trace, step: Step) -> Iterator[str]:
    threads = chain(trace, step)
    reads = step.reads
    n = len(reads)
    groups = [
        ("slowest 1 %", reads[n - max(1, n // 100) :]),
        ("95-99 %", reads[n * 95 // 100 : n - max(1, n // 100)]),
        ("middle 10 %", reads[n * 45 // 100 : n * 55 // 100]),
    ]
    yield (
        f"{n} reads: p50 {reads[n // 2][0]:.2f} p99 {reads[min(n - 1, n * 99 // 100)][0]:.2f} "
        f"max {reads[-1][0]:.2f} ms; reader tid {threads['reader'].tid} (agent pid "
        f"{threads['reader'].pid}), broker {threads['broker'].tid}, receiver "
        f"{threads['receiver'].tid}"
    )
    yield ""
    yield "mean ms a read, in each state during the read:"
    yield ""
    yield ("| reads | latency | " + " | ".join(heading for _, _, heading in COLUMNS) + " |")
    yield "|---|---|" + "---|" * len(COLUMNS)
    for name, group in groups:
        if not group:
            continue
        totals: dict[str, dict[str, float]] = {who: defaultdict(float) for who in threads}
        for _, sent, received in group:
            for who, thread in threads.items():
                for state, took in time_in_states(thread, sent, received).items():
                    totals[who][state] += took
        cells = [f"{totals[who][state] / len(group) * 1000:.2f}" for who, state, _ in COLUMNS]
        mean = sum(r[0] for r in group) / len(group)
        yield f"| {name} ({len(group)}) | {mean:.2f} | " + " | ".join(cells) + " |"
    yield ""
    roles = step.roles()
    yield from occupancy(trace, groups, roles)
    yield ""
    window = (min(r[1] for r in reads), max(r[2] for r in reads))
    for who in ("reader", "broker"):
        mine = threads[who].tid
        long = [
            (ms, by)
            for tid, ms, by, since in trace.preemptions
            if tid == mine and ms > LONG_MS and window[0] <= since <= window[1]
        ]
        by_whom: dict[str, float] = defaultdict(float)
        for ms, by in long:
            by_whom[label(trace.threads.get(by), roles, by)] += ms
        listed = ", ".join(
            f"{who} {ms:.0f} ms" for who, ms in sorted(by_whom.items(), key=lambda x: -x[1])
        )
        yield (
            f"{who} preempted for over {LONG_MS:g} ms: {len(long)} times, "
            f"{sum(ms for ms, _ in long):.0f} ms in all" + (f"; by {listed}" if long else "")
        )


def analyse(keep: Path) -> int:
    steps = sorted(
        (p for p in keep.glob("step-*.json") if not p.name.endswith("-null.json")),
        key=lambda p: int(p.name.split("-")[1]),
    )
    if not steps:
        raise SystemExit(f"no step-K-N.json in {keep}: run lane_latency.py with --keep {keep}")
    if not (keep / "perf.data").exists():
        raise SystemExit(f"no perf.data in {keep}: record with bench/sched_trace.py --keep {keep}")
    step = Step.load(steps[-1])
    if not step.reads:
        raise SystemExit(f"{steps[-1].name}: no read was answered")
    start = min(r[1] for r in step.reads) - 1.0
    end = max(r[2] for r in step.reads) + 0.1
    script = subprocess.Popen(
        ["perf", "script", "-i", str(keep / "perf.data"), "--ns",
         "-F", "comm,pid,tid,cpu,time,event,trace,ip,sym"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert script.stdout is not None
    try:
        trace = parse_perf_script(script.stdout, start, end)
    finally:
        script.kill()
        script.wait()
    print(f"{steps[-1].name}:")
    for line in report(trace, step):
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--lanes", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the trace here")
    parser.add_argument("--analyse", type=Path, metavar="DIR", help="only the tables, from DIR")
    parser.add_argument("rest", nargs="*", help="after --: more arguments to lane_latency.py")
    args = parser.parse_args(argv)
    if args.analyse:
        return analyse(args.analyse)
    if shutil.which("perf") is None:
        raise SystemExit("perf is not installed (Debian: apt-get install linux-perf)")
    keep = args.keep or Path(tempfile.mkdtemp(prefix="sched-trace-"))
    keep.mkdir(parents=True, exist_ok=True)
    bench = [
        sys.executable, str(HERE / "lane_latency.py"), "--steps", str(args.lanes),
        "--seconds", str(args.seconds), "--keep", str(keep), *args.rest,
    ]  # fmt: skip
    record = [
        "perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-e", "sched:sched_switch",
        "-e", "sched:sched_wakeup", "-a", "-g", "--kernel-callchains",
        "-o", str(keep / "perf.data"), "--", *bench,
    ]  # fmt: skip
    done = subprocess.run(record, check=False)
    if done.returncode:
        raise SystemExit(f"perf record or the bench failed ({done.returncode})")
    try:
        return analyse(keep)
    finally:
        if args.keep is None:
            shutil.rmtree(keep, ignore_errors=True)
        else:
            print(f"kept in {keep}: --analyse {keep} prints this again")


if __name__ == "__main__":
    sys.exit(main())

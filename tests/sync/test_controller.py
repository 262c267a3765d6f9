"""The lane controller on a real bus: an instruction is published only once it is on disk."""

from __future__ import annotations

import json
import queue
import sqlite3
import time
from pathlib import Path

import pytest

from hardware_sim.launch import CentralProcess
from rocars.broker import EmbeddedBroker
from rocars.messages import InstructionCode
from sync.journal import decode, journal_paths
from tests.sync.agentkit import (
    Watcher,
    agent_config,
    break_journal,
    demo_trucks,
    started_agent,
    wait_for,
)

C = InstructionCode


def stored_lane(path: Path, lane: str) -> tuple[int, str | None]:
    """(last_seq, session JSON) as a fresh process reads them from the files: the newest
    of the ``lanes`` table and the lanes' journal."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT last_seq, session FROM lanes WHERE lane = ?", (lane,)).fetchone()
    finally:
        conn.close()
    found = journaled(path, lane) + ([] if row is None else [(int(row[0]), row[1])])
    assert found
    return max(found, key=lambda entry: entry[0])


def journaled(outbox_path: Path, lane: str) -> list[tuple[int, str | None]]:
    """(last_seq, session JSON) of each of the lane's entries in the lanes' journal, as a
    fresh reader finds them in its files."""
    out = []
    for path in journal_paths(outbox_path):
        with path.open("rb") as file:
            for line in file:
                entry = decode(line)
                if entry is not None and entry.lane == lane:
                    out.append((entry.last_seq, entry.session))
    return out


def settle(watcher: Watcher, lanes: set[str]) -> None:
    """Wait for each lane's READY, then until the bus is quiet (late duplicates gone)."""
    seen: set[str] = set()
    deadline = time.monotonic() + 15
    while seen != lanes and time.monotonic() < deadline:
        try:
            seen.add(watcher.instructions.get(timeout=0.5)[0])
        except queue.Empty:
            continue
    assert seen == lanes
    while True:
        try:
            watcher.instructions.get(timeout=0.5)
        except queue.Empty:
            return


def test_no_instruction_reaches_the_bus_before_its_lane_state_is_committed(
    embedded_broker: EmbeddedBroker, central: CentralProcess, tmp_path: Path
) -> None:
    truck = demo_trucks(central)["laden_proceed"][0]
    config = agent_config(tmp_path, embedded_broker.url, central.url)
    agent = started_agent(config)
    watcher = Watcher(embedded_broker.url)
    try:
        settle(watcher, {"L01", "L02"})
        # a plate read's lane state goes to the lanes' journal: it is in the file when
        # the instruction arrives
        watcher.plate("L01", truck["vrn"])
        first = watcher.expect("L01", C.DROP_MANIFEST, vrn=truck["vrn"])
        entries = dict(journaled(config.outbox_path, "L01"))
        assert json.loads(entries[first.seq] or "{}")["vrn"] == truck["vrn"]
        assert agent.outbox.flush(5)
        # with the journal failing, the change goes to SQLite, and there another
        # connection holds the write lock: the agent's commit has to wait
        seq_before, _ = stored_lane(config.outbox_path, "L02")
        break_journal(agent.outbox)
        blocker = sqlite3.connect(config.outbox_path, timeout=5, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            watcher.plate("L02", truck["vrn"])
            lane = agent.controller.lanes["L02"]
            assert wait_for(lambda: lane.code is C.PROCEED, 10)  # decided ...
            with pytest.raises(queue.Empty):  # ... but not on the bus
                watcher.instructions.get(timeout=1.0)
            assert stored_lane(config.outbox_path, "L02") == (seq_before, None)
            assert agent.controller.outbox_error == ""  # waiting, not failing
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        got = watcher.expect("L02", C.PROCEED, vrn=truck["vrn"])
        last_seq, session = stored_lane(config.outbox_path, "L02")
        assert last_seq >= got.seq
        if session is not None:  # the hold may have ended it meanwhile: then it is a record
            assert json.loads(session)["vrn"] == truck["vrn"]
        # a broker reconnect republishes each lane's last committed instruction, no other
        assert wait_for(lambda: agent.controller.lanes["L02"].code is C.READY, 10)
        assert agent.outbox.flush(5)
        last = watcher.expect("L02", C.READY, timeout=5)
        assert last.seq > got.seq
        agent.controller.republish()
        assert watcher.expect("L02", C.READY, timeout=5).seq == last.seq
    finally:
        watcher.close()
        agent.stop()

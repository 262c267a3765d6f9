"""The lane controller on a real bus: an instruction is published only once it is on disk."""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from hardware_sim.launch import CentralProcess
from rocars.broker import EmbeddedBroker
from rocars.messages import InstructionCode
from sync.config import SyncConfig
from sync.journal import decode, journal_paths
from sync.outbox import Outbox
from tests.sync.agentkit import (
    Watcher,
    agent_config,
    break_journal,
    demo_trucks,
    started_agent,
    wait_for,
)
from tests.sync.test_lane import make_bundle
from tests.sync.test_reinspect import Site

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


def test_a_session_left_open_on_a_lane_no_longer_configured_becomes_a_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Shard a stops with a truck's PROCEED within its hold on L01, and L01 moves to
    shard b (same data folder). At a's next start, with L02 only, the session ends in
    a's outbox with a record (``lane_removed``, the outcome it showed) and its stored
    state is cleared; nothing is published for L01 (b's lane now). Before, only the
    configured lanes were started: the session stayed in a's ``lanes`` table for good,
    in no record, its bundle never marked used at the centre."""

    def shard(name: str, *lanes: str) -> SyncConfig:
        return SyncConfig.model_validate(
            {
                "shard": name,
                "data_dir": str(tmp_path),
                "lanes": [{"id": lane, "manifest_required": False, "hold_s": 8} for lane in lanes],
            }
        )

    site = Site(tmp_path)
    site.outbox.close()
    site.config = shard("a", "L01", "L02")
    site.outbox = Outbox(site.config.outbox_path)
    site.controller = site._controller()
    site.bundles(make_bundle("9110635860", "AB1234"))
    site.controller.start()
    try:
        assert site.read("AB1234")["code"] == "PROCEED"
        # shard b, which now has L01, has an outbox of its own: a's session is not its
        b_outbox = Outbox(shard("b", "L01").outbox_path)
        try:
            assert b_outbox.lane("L01") is None
        finally:
            b_outbox.close()
        site.config = shard("a", "L02")
        sent = len(site.bus.sent)
        with caplog.at_level(logging.WARNING, logger="sync.controller"):
            site.restart(timedelta(seconds=30))
        assert site.outbox.flush(5)
        (pending,) = site.outbox.pending(10)
        record = json.loads(pending.body)
        assert (record["lane"], record["vrn"], record["ubr"]) == ("L01", "AB1234", "9110635860")
        assert (record["outcome"], record["reason"]) == ("PROCEED", "lane_removed")
        stored = site.outbox.lane("L01")
        assert stored is not None
        assert stored.session is None
        assert [m["code"] for m in site.bus.sent[sent:]] == ["READY"]  # L02's, none for L01
        assert any("L01" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
        # ended once: the next start finds nothing left open
        site.restart(timedelta(seconds=30))
        assert site.outbox.flush(5)
        assert len(site.outbox.pending(10)) == 1
    finally:
        site.close()


def test_a_stored_lane_name_this_version_refuses_does_not_stop_the_start(
    tmp_path: Path,
) -> None:
    """A session left open under a lane name the lane id rules now refuse (an older
    version took "L01\n"): logged and left as stored; the configured lanes start."""
    site = Site(tmp_path)
    site.bundles(make_bundle("9110635860", "AB1234"))
    site.controller.start()
    try:
        assert site.read("AB1234")["code"] == "PROCEED"
        assert site.outbox.flush(5)
        site.outbox.close()
        conn = sqlite3.connect(site.config.outbox_path)
        conn.execute("UPDATE lanes SET lane = 'L01\n' WHERE lane = 'L01'")
        conn.commit()
        conn.close()
        site.outbox = Outbox(site.config.outbox_path)
        site.restart(timedelta(seconds=30))
        assert site.read("AB1234")["code"] is not None  # L01 runs
        stored = site.outbox.lane("L01\n")
        assert stored is not None
        assert stored.session is not None  # left as it was
    finally:
        site.close()

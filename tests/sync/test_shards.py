"""Several agents at one control point: each its own lanes, status topic and outbox; one pulls.

Two shards of one site run side by side on a real mosquitto and a real simulated centre,
sharing one data folder (the replica one writes and both read).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from hardware_sim.launch import CentralProcess
from rocars.errors import InvalidIdentifier
from rocars.ids import validate_shard
from rocars.messages import DeviceStatus, InstructionCode, SyncStatus
from rocars.models import ChangePage
from rocars.signing import lane_key
from rocars.timeutil import utc_now
from rocars.topics import device_status_topic, sync_status_filters, sync_status_topic
from sync.agent import SyncAgent
from sync.config import SyncConfig, shard_blocks
from sync.inspection_log import InspectionLog
from sync.lane import Inspections
from sync.replica import Replica
from tests.fixtures.brokers import Mosquitto
from tests.sync.agentkit import (
    CP,
    Watcher,
    agent_config,
    centre_event_ids,
    demo_trucks,
    started_agent,
    wait_for,
)
from tests.sync.test_lane import T0
from ui_common.lanewatch import FailReason, LaneWatch

C = InstructionCode
#: the demo trucks by kind (``demo_trucks``)
Trucks = dict[str, list[dict[str, Any]]]


def shard_config(
    tmp_path: Path, broker: str, central: str, shard: str, lanes: list[dict[str, Any]], **more: Any
) -> SyncConfig:
    return agent_config(tmp_path, broker, central, shard=shard, lanes=lanes, **more)


def fresh(agent: SyncAgent) -> bool:
    """A shard that does not pull is ready once it reads a synced replica and the centre up."""
    return agent.replica.last_sync_at() is not None and agent.link.up


@pytest.fixture
def watcher(mosquitto: Mosquitto) -> Iterator[Watcher]:
    """An outside client on the site's broker: inputs in, instructions and statuses out."""
    client = Watcher(mosquitto.url)
    yield client
    client.close()


LANE = {"hold_s": 0.5, "manifest_required": False, "unladen_inspect_share": 0}


@pytest.fixture
def short_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another agent's claim on lanes lapses ``PEER_CLAIM_S`` (5 s) after its last status:
    half that here, for the agents of the test (in this process). Still 2.5 s: two
    processes with one client id hear each other only as each reconnects (the broker
    keeps one of them connected, each reconnects after 1 s), and a claim must outlast
    the time between two reconnects by far for the conflict to stand."""
    monkeypatch.setattr("sync.agent.PEER_CLAIM_S", 2.5)


@contextmanager
def shards_ab(
    mosquitto: Mosquitto, central: CentralProcess, tmp_path: Path, b_share: float = 0
) -> Iterator[tuple[SyncAgent, SyncAgent]]:
    """Shard a (L01, pulls) and shard b (L02, L03, reads a's replica; its lanes draw
    ``b_share`` of the unladen trucks for inspection), one data folder."""
    a = started_agent(
        shard_config(tmp_path, mosquitto.url, central.url, "a", [{"id": "L01", **LANE}])
    )
    b_lane = {**LANE, "unladen_inspect_share": b_share}
    b_config = shard_config(
        tmp_path,
        mosquitto.url,
        central.url,
        "b",
        [{"id": "L02", **b_lane}, {"id": "L03", **b_lane}],
        pull=False,
        api={"port": 0, "kiosk": False},
    )
    b = SyncAgent(b_config)
    try:
        b.start()
        assert wait_for(lambda: fresh(b)), "the shard that does not pull never saw a fresh replica"
        yield a, b
    finally:
        b.stop()
        a.stop()


@pytest.fixture
def two_shards(mosquitto: Mosquitto, central: CentralProcess, tmp_path: Path) -> Any:
    with shards_ab(mosquitto, central, tmp_path) as (a, b):
        yield a, b, demo_trucks(central)


def test_a_truck_told_inspect_at_one_shards_lane_is_told_inspect_at_the_others(
    mosquitto: Mosquitto, central: CentralProcess, tmp_path: Path, watcher: Watcher
) -> None:
    """An unladen truck drawn for inspection at b's lane backs out and queues at a's: it
    is told INSPECT there at once (the shards' inspections.db), not drawn again."""
    with shards_ab(mosquitto, central, tmp_path, b_share=1.0) as (a, b):
        for lane in ("L01", "L02"):
            watcher.expect(lane, C.READY)
        watcher.plate("L02", "ZX2468")
        watcher.expect("L02", C.NO_BUNDLE)
        watcher.unladen("L02", "ZX2468")
        bay = watcher.expect("L02", C.INSPECT).bay
        watcher.expect("L02", C.READY, timeout=5)
        assert wait_for(lambda: a.controller.inspections.pending(["ZX2468"], utc_now()))
        watcher.plate("L01", "ZX2468")
        told = watcher.expect("L01", C.INSPECT)
        assert (told.vrn, told.bay) == ("ZX2468", bay)
        assert b.inspection_log is not None
        assert b.inspection_log.written == 1
        assert a.inspection_log is not None
        assert a.inspection_log.problem == ""
        assert (a.config.data_dir / "inspections.db").exists()
        # the row names b's direction (an export shard of the folder would not take it)
        with sqlite3.connect(a.config.data_dir / "inspections.db") as conn:
            told = conn.execute("SELECT plate, shard, direction FROM told").fetchall()
        assert told == [("ZX2468", b.config.shard, "import")]
        # ... and in /metrics
        assert metric(b, "rocars_sync_inspections_written_total") == 1
        assert metric(a, "rocars_sync_inspections_taken_total") == 1
        assert metric(b, "rocars_sync_inspections_waiting") == 0  # written (above)
        assert metric(a, "rocars_sync_inspections_dropped_total") == 0
        assert metric(a, "rocars_sync_inspections_shared") == 1
        # a file that cannot be used is said in the health (and the status), not fatal
        unusable = InspectionLog(tmp_path / "gone" / "inspections.db", "a", Inspections())
        unusable.sync_once()
        a.inspection_log = unusable
        problems = httpx.get(f"{a.api_url}/health", timeout=5).json()["problems"]
        assert any("(nor shared with the other shards): OperationalError" in p for p in problems)
        assert metric(a, "rocars_sync_inspections_shared") == 0


def metric(agent: SyncAgent, name: str) -> float:
    """One unlabelled sample of the agent's /metrics."""
    text = httpx.get(f"{agent.api_url}/metrics", timeout=5).text
    (value,) = [line.split()[1] for line in text.splitlines() if line.split()[:1] == [name]]
    return float(value)


def test_two_shards_answer_their_own_lanes_and_upload_their_own_records(
    two_shards: tuple[SyncAgent, SyncAgent, Trucks], watcher: Watcher, central: CentralProcess
) -> None:
    a, b, trucks = two_shards
    for lane in ("L01", "L02", "L03"):
        watcher.expect(lane, C.READY)
    proceed, inspect = trucks["laden_proceed"][0], trucks["laden_inspect"][0]
    watcher.plate("L01", proceed["vrn"])
    watcher.plate("L02", inspect["vrn"])
    watcher.plate("L03", proceed["vrn"])
    assert watcher.expect("L01", C.PROCEED).ubr == proceed["ubr"]
    assert watcher.expect("L02", C.INSPECT).bay
    watcher.expect("L03", C.PROCEED)
    for lane in ("L01", "L02", "L03"):
        watcher.expect(lane, C.READY, timeout=5)
    # each read reached its own shard only: one answer each, nothing "unknown" anywhere
    assert a.metrics.value("rocars_sync_plate_reads_total", lane="L01") == 1
    assert b.metrics.value("rocars_sync_plate_reads_total", lane="L01") == 0
    assert b.metrics.value("rocars_sync_plate_reads_total", lane="L02") == 1
    for agent in (a, b):
        assert agent.metrics.total("rocars_sync_bad_payloads_total") == 0
    # an outbox each, each uploaded by its own shard, every record once at the centre
    assert a.config.outbox_path.name == "outbox-a.db"
    assert b.config.outbox_path.name == "outbox-b.db"
    assert wait_for(lambda: a.outbox.count("uploaded") == 1 and b.outbox.count("uploaded") == 2)
    ids = centre_event_ids(central)
    assert len(ids) == len(set(ids))
    mine = [r["id"] for agent in (a, b) for r in agent.outbox.recent(10)]
    assert len(mine) == 3
    assert set(mine) <= set(ids)

    # each shard's heartbeat on its own topic, naming its lanes
    # (the retained status the watcher got first may be from before the centre was up)
    def healthy(name: str) -> SyncStatus:
        return watcher.status(
            lambda s: s.shard == name and s.state == "online" and s.central == "up"
        )

    assert healthy("a").lanes == ["L01"]
    assert healthy("b").lanes == ["L02", "L03"]
    health = httpx.get(f"{b.api_url}/health", timeout=5).json()
    assert (health["shard"], health["pulls"]) == ("b", False)
    assert "puller" not in health["workers"]
    assert health["ok"] is True
    assert health["replica"]["bundles"] > 0


def test_a_shard_that_goes_away_stops_its_own_lanes_only(
    two_shards: tuple[SyncAgent, SyncAgent, Trucks], mosquitto: Mosquitto
) -> None:
    """The displays' rules over the real topics: b's last will fails L02 closed, not L01."""
    a, b, _ = two_shards
    watcher = Watcher(mosquitto.url)
    key = b"k" * 32
    watches = {lane: LaneWatch(key, lane=lane) for lane in ("L01", "L02")}
    for watch in watches.values():
        watch.on_connection(True)

    def feed(status: SyncStatus) -> None:
        for watch in watches.values():
            watch.on_sync_status(status.to_bytes())

    try:
        feed(watcher.status(lambda s: s.shard == "a" and s.state == "online"))
        feed(watcher.status(lambda s: s.shard == "b" and s.state == "online"))
        assert all(w.reason() is FailReason.NO_INSTRUCTION for w in watches.values())
        b.stop()
        feed(watcher.status(lambda s: s.shard == "b" and s.state == "offline"))
        assert watches["L02"].reason() is FailReason.CONTROLLER_OFFLINE
        assert watches["L01"].reason() is FailReason.NO_INSTRUCTION  # a's word still stands
        assert watches["L01"].other_lanes == 2  # b's heartbeat and b's will
        # a's heartbeats go on and do not revive L02
        feed(watcher.status(lambda s: s.shard == "a" and s.state == "online"))
        assert watches["L02"].reason() is FailReason.CONTROLLER_OFFLINE
        # a display connecting now still gets b's will: retained on b's own topic, which
        # a's heartbeats do not overwrite
        late = Watcher(mosquitto.url, "late")
        try:
            assert late.status(lambda s: s.shard == "b").state == "offline"
        finally:
            late.close()
    finally:
        watcher.close()


def test_a_shard_that_does_not_pull_follows_the_centre_through_the_replica(
    two_shards: tuple[SyncAgent, SyncAgent, Trucks], watcher: Watcher, central: CentralProcess
) -> None:
    a, b, trucks = two_shards
    central.stop()
    assert wait_for(lambda: not a.link.up)
    assert wait_for(lambda: not b.link.up, 5), "b did not take up the pulling shard's view"
    watcher.plate("L02", trucks["laden_proceed"][0]["vrn"])
    watcher.expect("L02", C.PROCEED)
    watcher.expect("L02", C.READY, timeout=5)
    assert b.outbox.flush(5)
    assert [r["offline"] for r in b.outbox.recent(5)] == [True]
    assert watcher.status(lambda s: s.shard == "b" and s.central == "down")
    central.start()
    assert wait_for(lambda: b.link.up, 30)
    assert wait_for(lambda: b.outbox.depth() == 0, 30)
    # a record that cannot be read (a hand edit, a bad write) is not taken as "up"
    with sqlite3.connect(b.config.replica_path) as conn:
        conn.execute("UPDATE meta SET value = '{\"up\": tru' WHERE key = 'central'")
    assert wait_for(lambda: not b.link.up, 5)
    assert "unreadable" in b.link.state().error


def test_a_shard_alone_fails_closed_until_someone_pulls(
    mosquitto: Mosquitto, central: CentralProcess, tmp_path: Path
) -> None:
    """No pulling shard: the replica is never synced, the centre never recorded: STOP."""
    trucks = demo_trucks(central)
    config = shard_config(
        tmp_path, mosquitto.url, central.url, "b", [{"id": "L02", "manifest_required": False}],
        pull=False,
    )  # fmt: skip
    watcher = Watcher(mosquitto.url)
    agent = SyncAgent(config)
    agent.start()
    try:
        watcher.plate("L02", trucks["laden_proceed"][0]["vrn"])
        assert watcher.expect("L02", C.STOP_SEE_OFFICER)
        record = agent.replica.central()
        assert record is None
        assert not agent.link.up
        # (its first status may come before its first look at the replica)
        status = watcher.status(lambda s: s.shard == "b" and "no shard has recorded" in s.detail)
        assert (status.state, status.central) == ("online", "down")
    finally:
        watcher.close()
        agent.stop()


class OneRound(threading.Event):
    """A worker's stop event that ends its loop after one round (at its first wait)."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


def test_a_follower_takes_the_record_of_a_silent_pulling_shard_as_down(
    tmp_path: Path,
) -> None:
    """The pulling shard recorded the centre up, then died (SIGKILL: it records nothing
    more). Before, a shard that does not pull took that record as it stood, for good
    (its kiosk calls forwarded, its records not flagged offline); now a record of "up"
    whose replica has not caught up for longer than the pulling shard's poll, timeout
    and margin is taken as down, and the pulling shard's next poll is followed again."""
    now = [T0 + timedelta(minutes=10)]
    config = SyncConfig.model_validate(
        {"shard": "b", "pull": False, "data_dir": str(tmp_path), "lanes": [{"id": "L02"}]}
    )
    follower = SyncAgent(config, clock=lambda: now[0])
    follower.replica = replica = Replica(config.replica_path)
    try:
        replica.apply("", ChangePage(changes=[], next=""), T0)  # caught up at T0
        replica.record_central(True, T0, "")  # by the pulling shard, which then died
        follower._central_loop(OneRound())
        assert not follower.link.up
        assert "no word from the pulling shard" in follower.link.state().error
        # the pulling shard is back and polls: its record is taken again
        replica.apply("", ChangePage(changes=[], next=""), now[0])
        follower._central_loop(OneRound())
        assert follower.link.up
    finally:
        replica.close()


def test_the_pulling_shard_records_the_centre_down_when_it_stops(
    two_shards: tuple[SyncAgent, SyncAgent, Trucks],
) -> None:
    a, b, _ = two_shards
    assert b.link.up
    a.stop()
    record = b.replica.central()
    assert record is not None
    assert (record[0], record[2]) == (False, "the pulling shard stopped")
    assert wait_for(lambda: not b.link.up, 5)
    assert b.link.state().error == "the pulling shard stopped"


def test_shard_names_topics_and_config() -> None:
    for good in ("a", "s1", "import", "hall-2", "x" * 16):
        assert validate_shard(good) == good
    for bad in ("", "A", "-a", "a b", "a/b", "+", "x" * 17, "status"):
        with pytest.raises(InvalidIdentifier):
            validate_shard(bad)
    with pytest.raises(ValidationError):
        SyncConfig.model_validate({"shard": "Hall"})
    plain, shard = SyncConfig(), SyncConfig.model_validate({"shard": "s2", "pull": False})
    assert (plain.client_id, plain.outbox_path.name) == ("sync-SBC-import", "outbox.db")
    assert (shard.client_id, shard.outbox_path.name) == ("sync-SBC-import-s2", "outbox-s2.db")
    assert shard.replica_path == plain.replica_path
    assert shard_blocks(list("abcdefghij"), 3) == [list("abcd"), list("efg"), list("hij")]
    assert shard_blocks(["L01"], 1) == [["L01"]]
    assert sync_status_topic(CP) == "rocars/SBC/sync/status"
    assert sync_status_topic(CP, "s2") == "rocars/SBC/sync/s2/status"
    assert sync_status_filters(CP) == ["rocars/SBC/sync/status", "rocars/SBC/sync/+/status"]
    site = SyncStatus(state="online", central="up")
    mine = SyncStatus(state="online", central="up", shard="s2", lanes=["L02"])
    assert site.covers("L09")
    assert mine.covers("L02")
    assert not mine.covers("L01")


def test_lanewatch_follows_only_the_status_that_covers_its_lane() -> None:
    key = lane_key(b"s" * 32, CP, "L01")
    watch = LaneWatch(key, lane="L01")
    watch.on_connection(True)
    other = SyncStatus(state="offline", central="down", shard="b", lanes=["L02"])
    mine = SyncStatus(state="online", central="up", shard="a", lanes=["L01"])
    site = SyncStatus(state="offline", central="down")
    assert watch.reason() is FailReason.CONTROLLER_OFFLINE  # nothing heard yet
    watch.on_sync_status(mine.to_bytes())
    assert watch.reason() is FailReason.NO_INSTRUCTION
    watch.on_sync_status(other.to_bytes())  # another shard's last will: not this lane's
    assert watch.reason() is FailReason.NO_INSTRUCTION
    assert watch.other_lanes == 1
    watch.on_sync_status(site.to_bytes())  # a status with no lanes speaks for every lane
    assert watch.reason() is FailReason.CONTROLLER_OFFLINE
    # ... to fail closed, but an online that names none no longer revives it once one
    # named it: an older agent's heartbeat after this lane's shard went
    watch.on_sync_status(mine.model_copy(update={"state": "offline"}).to_bytes())
    legacy = SyncStatus(state="online", central="up", agent="sync-SBC-import")
    watch.on_sync_status(legacy.to_bytes())
    assert watch.reason() is FailReason.CONTROLLER_OFFLINE
    assert watch.unnamed_ignored == 1
    watch.on_sync_status(mine.to_bytes())
    assert watch.reason() is FailReason.NO_INSTRUCTION
    # a display that does not know its lane (None) takes every status, as before shards
    blind = LaneWatch(key)
    blind.on_connection(True)
    blind.on_sync_status(mine.to_bytes())
    blind.on_sync_status(other.to_bytes())
    assert blind.reason() is FailReason.CONTROLLER_OFFLINE


def test_the_two_directions_without_shards_no_longer_vouch_for_each_other(
    mosquitto: Mosquitto, central: CentralProcess, tmp_path: Path
) -> None:
    """Import and export agents of one control point, both on ``sync/status``: when the
    import agent dies, its lane's display fails closed although the export agent's
    heartbeats go on on the same topic (before lanes were listed, they revived it)."""
    lane = {"hold_s": 0.5, "manifest_required": False}
    export = started_agent(
        agent_config(
            tmp_path / "export", mosquitto.url, central.url,
            site={"cp": CP, "direction": "export"}, lanes=[{"id": "L02", **lane}],
        )
    )  # fmt: skip
    imp = started_agent(
        agent_config(tmp_path, mosquitto.url, central.url, lanes=[{"id": "L01", **lane}])
    )
    watcher = Watcher(mosquitto.url)
    watches = {name: LaneWatch(b"k" * 32, lane=name) for name in ("L01", "L02")}
    for watch in watches.values():
        watch.on_connection(True)
    try:
        assert imp.status_topic == export.status_topic == sync_status_topic(CP)
        for lanes in (["L01"], ["L02"]):
            status = watcher.status(lambda s, lanes=lanes: s.lanes == lanes and s.state == "online")
            for watch in watches.values():
                watch.on_sync_status(status.to_bytes())
        assert all(w.reason() is FailReason.NO_INSTRUCTION for w in watches.values())
        imp.stop()
        will = watcher.status(lambda s: s.lanes == ["L01"] and s.state == "offline")
        beat = watcher.status(lambda s: s.lanes == ["L02"] and s.state == "online")
        for status in (will, beat):
            for watch in watches.values():
                watch.on_sync_status(status.to_bytes())
        assert watches["L01"].reason() is FailReason.CONTROLLER_OFFLINE
        assert watches["L02"].reason() is FailReason.NO_INSTRUCTION
    finally:
        watcher.close()
        imp.stop()
        export.stop()


def test_two_agents_claiming_one_lane_both_stop_until_fixed(
    mosquitto: Mosquitto,
    watcher: Watcher,
    central: CentralProcess,
    tmp_path: Path,
    short_claims: None,
) -> None:
    """A lane in two shards' configs: both say offline (every display of both fails
    closed) and name the other in their detail; once one is gone, the other goes on."""
    lane = {"hold_s": 0.5, "manifest_required": False}
    a = started_agent(
        shard_config(tmp_path, mosquitto.url, central.url, "a", [{"id": "L01", **lane}])
    )
    b = SyncAgent(
        shard_config(
            tmp_path, mosquitto.url, central.url, "b",
            [{"id": "L01", **lane}, {"id": "L02", **lane}], pull=False,
            api={"port": 0, "kiosk": False},
        )
    )  # fmt: skip
    b.start()
    try:
        down = watcher.status(lambda s: s.shard == "a" and s.state == "offline")
        assert "L01 also claimed by sync-SBC-import-b" in down.detail
        down = watcher.status(lambda s: s.shard == "b" and s.state == "offline")
        assert "L01 also claimed by sync-SBC-import-a" in down.detail
        assert b.lane_conflicts() == {"sync-SBC-import-a": frozenset({"L01"})}
        health = httpx.get(f"{a.api_url}/health", timeout=5).json()
        assert health["ok"] is False
        assert "all lanes stop" in health["problems"][0]
        b.stop()  # the fix: b's config loses L01 (here: b goes away)
        assert watcher.status(
            lambda s: s.shard == "a" and s.state == "online", timeout=20
        ).lanes == ["L01"]
        assert a.lane_conflicts() == {}
    finally:
        b.stop()
        a.stop()


def test_a_second_process_with_one_agents_config_stops_both_a_restart_does_not(
    mosquitto: Mosquitto,
    watcher: Watcher,
    central: CentralProcess,
    tmp_path: Path,
    short_claims: None,
) -> None:
    """Two processes with one config (one client id: the broker keeps one connected at a
    time and they take turns, each answering reads meanwhile) both say offline and name
    the other run; once one is gone, the other goes on. A restart is not a second
    process: the run before left its status retained, stamped before this run began."""
    lane = {"hold_s": 0.5, "manifest_required": False}
    config = shard_config(tmp_path, mosquitto.url, central.url, "a", [{"id": "L01", **lane}])
    first = started_agent(config)
    twin: SyncAgent | None = None
    try:
        watcher.status(lambda s: s.instance == first.instance and s.state == "online")
        first.stop()
        first = started_agent(config)  # a restart: the same config, a new run
        watcher.status(lambda s: s.instance == first.instance and s.state == "online")
        watcher.status(lambda s: s.instance == first.instance and s.state == "online")
        assert first.lane_conflicts() == {}
        twin_config = shard_config(
            tmp_path / "twin", mosquitto.url, central.url, "a", [{"id": "L01", **lane}]
        )
        assert twin_config.client_id == config.client_id
        twin = started_agent(twin_config)
        assert wait_for(lambda: bool(first.lane_conflicts()), timeout=30)
        assert wait_for(lambda: bool(twin is not None and twin.lane_conflicts()), timeout=30)
        (claimer,) = first.lane_conflicts()
        assert f"another process with this config, run {twin.instance}" in claimer
        assert first.lane_conflicts()[claimer] == frozenset({"L01"})
        down = watcher.status(
            lambda s: s.shard == "a" and s.state == "offline" and "another process" in s.detail,
            timeout=30,
        )
        assert "all lanes stop" in down.detail
        twin.stop()
        twin = None
        assert watcher.status(
            lambda s: s.instance == first.instance and s.state == "online", timeout=40
        ).lanes == ["L01"]
        # the broker keeps the session the two shared (the agent's is persistent): a
        # status of the twin's it kept for it may come after, its claim lapsing as any
        assert wait_for(lambda: first.lane_conflicts() == {}, timeout=10)
    finally:
        if twin is not None:
            twin.stop()
        first.stop()


def test_a_plate_reader_on_a_lane_no_shard_controls_is_said(
    two_shards: tuple[SyncAgent, SyncAgent, Trucks], watcher: Watcher
) -> None:
    """Each shard subscribes to its own lanes' reads only, so a lane left out of every
    config had no agent to say that its reads go unanswered (its display shows the lane
    offline). Its plate reader's status is what every shard hears."""
    a, b, _ = two_shards

    def reader(lane: str, state: str) -> None:
        payload = DeviceStatus(state=state).to_bytes()  # type: ignore[arg-type]
        watcher.raw(device_status_topic(CP, lane, "avrs"), payload)

    reader("L04", "online")
    reader("L02", "online")  # b's
    for agent in (a, b):
        assert wait_for(lambda agent=agent: agent.unclaimed_lanes() == ["L04"])  # type: ignore[misc]
    status = watcher.status(lambda s: s.shard == "a" and "L04" in s.detail)
    assert "lanes L04: a plate reader is online but no agent of the site controls" in status.detail
    assert status.state == "online"  # the lanes of the shard itself go on
    assert "L02" not in status.detail
    reader("L04", "offline")  # its will, or the lane added to a config
    for agent in (a, b):
        assert wait_for(lambda agent=agent: agent.unclaimed_lanes() == [])  # type: ignore[misc]


def test_a_single_agent_says_a_plate_reader_on_a_lane_it_does_not_have(
    mosquitto: Mosquitto, central: CentralProcess, watcher: Watcher, tmp_path: Path
) -> None:
    agent = started_agent(agent_config(tmp_path, mosquitto.url, central.url))
    try:
        stale = DeviceStatus(state="online", ts=utc_now() - timedelta(minutes=5))
        watcher.raw(device_status_topic(CP, "L07", "avrs"), stale.to_bytes())
        watcher.raw(device_status_topic(CP, "L01", "avrs"), DeviceStatus(state="online").to_bytes())
        # sent after the two: once it counts, they have been taken (in order, by one client)
        watcher.raw(device_status_topic(CP, "L09", "avrs"), DeviceStatus(state="online").to_bytes())
        assert wait_for(lambda: agent.unclaimed_lanes() != [])
        # not a retained status from long ago, nor its own lane
        assert agent.unclaimed_lanes() == ["L09"]
        health = httpx.get(f"{agent.api_url}/health", timeout=5).json()
        assert any(p.startswith("lanes L09: a plate reader is online") for p in health["problems"])
    finally:
        agent.stop()

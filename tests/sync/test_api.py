"""The agent's own HTTP API (``sync/api.py``) on a running agent."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest
import uvicorn

from hardware_sim.launch import CentralProcess
from rocars.broker import EmbeddedBroker, free_port
from rocars.messages import InstructionCode
from rocars.timeutil import to_rfc3339, utc_now
from sync.api import RECORDS_LOCAL_ONLY, ApiServer, create_api
from sync.errors import SyncError
from sync.outbox import StoredRecord
from tests.fixtures.brokers import Mosquitto
from tests.sync.agentkit import Watcher, agent_config, record, started_agent, wait_for

C = InstructionCode


def test_records_lists_the_records_that_do_not_read_beside_the_others(
    embedded_broker: EmbeddedBroker, central: CentralProcess, tmp_path: Path
) -> None:
    """A record whose stored text does not read (a damaged disk, a hand edit) stays in the
    outbox: the uploader keeps it as rejected. ``/records`` answered 500 for every request
    that reached such a row; it answers the records that read, and lists the others with
    their id, upload state and why (not their text), changing nothing stored."""
    config = agent_config(tmp_path, embedded_broker.url, central.url)
    agent = started_agent(config)
    watcher = Watcher(embedded_broker.url)
    conn = sqlite3.connect(config.outbox_path, timeout=10)
    api = f"{agent.api_url}/records"

    def stored() -> list[tuple[str, bytes]]:
        """(id, body) of every record, newest first."""
        return conn.execute(
            "SELECT id, CAST(body AS BLOB) FROM records ORDER BY pos DESC"
        ).fetchall()

    try:
        # two sessions on L02 end (low-confidence reads: STOP_SEE_OFFICER, then READY)
        watcher.plate("L02", "ZZ1", confidence=0.1)
        watcher.expect("L02", C.STOP_SEE_OFFICER, vrn="ZZ1")
        watcher.plate("L02", "ZZ2", confidence=0.1)
        watcher.expect("L02", C.STOP_SEE_OFFICER, vrn="ZZ2")
        watcher.expect("L02", C.READY)
        assert agent.outbox.flush(5)
        # rows that do not read, as a damaged disk or a hand edit leaves them
        edited = {**json.loads(stored()[0][1]), "id": "01JDBAD0000000000000000003"}
        huge = "{" + "x" * 1_000_000
        bad = {
            "01JDBAD0000000000000000001": "{not json",
            "01JDBAD0000000000000000002": "[1, 2]",
            "01JDBAD0000000000000000003": json.dumps({**edited, "outcome": "MAYBE"}),
            "01JDBAD0000000000000000004": huge,
        }
        now = to_rfc3339(utc_now())
        with conn:
            conn.executemany(
                "INSERT INTO records (id, lane, ended_at, body, state, reason, created_at)"
                " VALUES (?, 'L02', ?, ?, 'pending', NULL, ?)",
                [(rid, now, body, now) for rid, body in bad.items()],
            )
            # a text that is not UTF-8 (which fails a query that reads it as text)
            conn.execute(
                "INSERT INTO records (id, lane, ended_at, body, state, reason, created_at)"
                " VALUES (?, 'L02', ?, CAST(X'7bff7d' AS TEXT), 'pending', NULL, ?)",
                ("01JDBAD0000000000000000005", now, now),
            )
        # and a record after them
        watcher.plate("L02", "ZZ3", confidence=0.1)
        watcher.expect("L02", C.STOP_SEE_OFFICER, vrn="ZZ3")
        watcher.expect("L02", C.READY)
        assert agent.outbox.flush(5)
        rows = stored()
        good = [rid for rid, _ in rows if not rid.startswith("01JDBAD")]
        assert len(good) == 3

        answer = httpx.get(api, params={"limit": 50}, timeout=10)
        assert answer.status_code == 200, answer.text[:300]
        assert len(answer.content) < 20_000  # the unreadable texts are not in it
        body = answer.json()
        assert [r["id"] for r in body["records"]] == good
        assert all(r["upload"]["state"] in ("pending", "uploaded") for r in body["records"])
        assert [r["vrn"] for r in body["records"]] == ["ZZ3", "ZZ2", "ZZ1"]
        unreadable = {u["id"]: u for u in body["unreadable"]}
        # newest first, as the records
        assert list(unreadable) == ["01JDBAD0000000000000000005", *reversed(bad)]
        for rid, entry in unreadable.items():
            assert entry["lane"] == "L02"
            assert entry["ended_at"] == now
            assert entry["bytes"] == (len(bad[rid].encode()) if rid in bad else 3)
            assert entry["upload"]["state"] in ("pending", "rejected")
        assert unreadable["01JDBAD0000000000000000005"]["problem"].startswith("not UTF-8")
        assert unreadable["01JDBAD0000000000000000001"]["problem"].startswith("not JSON")
        assert unreadable["01JDBAD0000000000000000004"]["problem"].startswith("not JSON")
        assert unreadable["01JDBAD0000000000000000002"]["problem"] == "not a JSON object (list)"
        not_a_record = unreadable["01JDBAD0000000000000000003"]["problem"]
        assert not_a_record.startswith("not a clearance record: outcome: Input should be")
        assert all(len(u["problem"]) <= 200 for u in unreadable.values())

        # the limit counts every row; the lane filter applies to both lists
        newest = httpx.get(api, params={"limit": 2}, timeout=10).json()
        assert [r["id"] for r in newest["records"]] == good[:1]
        assert [u["id"] for u in newest["unreadable"]] == ["01JDBAD0000000000000000005"]
        assert httpx.get(api, params={"lane": "L01"}, timeout=10).json() == {
            "records": [],
            "unreadable": [],
        }
        # nothing stored changed (the uploader may have marked the rows meanwhile)
        assert stored() == rows

        # an outbox that cannot be read at all: the error, not a bare 500; then back
        with conn:
            conn.execute("ALTER TABLE records RENAME TO records_away")
        refused = httpx.get(api, timeout=10)
        assert refused.status_code == 503
        assert refused.json()["error"] == "outbox_unreadable"
        with conn:
            conn.execute("ALTER TABLE records_away RENAME TO records")
        again = httpx.get(api, params={"limit": 50}, timeout=10)
        assert again.status_code == 200
        assert [r["id"] for r in again.json()["records"]] == good
    finally:
        conn.close()
        watcher.close()
        agent.stop()


def test_health_says_why_the_broker_is_not_connected(
    mosquitto: Mosquitto, central: CentralProcess, tmp_path: Path
) -> None:
    """An agent told mqtts:// for a plain listener (or a certificate it refuses) is
    never connected; its /health says why, not only that."""
    url = mosquitto.url.replace("mqtt://", "mqtts://")
    agent = started_agent(agent_config(tmp_path, url, central.url))
    try:
        assert wait_for(lambda: bool(agent.bus and agent.bus.problem))
        health = httpx.get(f"{agent.api_url}/health", timeout=5).json()
        assert health["ok"] is False
        assert (
            "broker not connected: the broker hung up in the TLS handshake "
            "(a plain listener? then mqtt://)"
        ) in health["problems"]
    finally:
        agent.stop()


def test_a_port_taken_keeps_the_api_down_not_the_lanes(
    embedded_broker: EmbeddedBroker, central: CentralProcess, tmp_path: Path
) -> None:
    """Another process on the API's port: the agent starts and its lanes answer, the
    status says why the API is not served, and it is served once the port is free."""
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    config = agent_config(
        tmp_path, embedded_broker.url, central.url, api={"host": "127.0.0.1", "port": port}
    )
    agent = started_agent(config)
    watcher = Watcher(embedded_broker.url)
    try:
        assert agent.api is None
        assert "local API not served: local API did not start on" in agent.status().detail
        watcher.plate("L02", "ZZ1", confidence=0.1)
        watcher.expect("L02", C.STOP_SEE_OFFICER, vrn="ZZ1")
        taken.close()
        assert wait_for(lambda: agent.api is not None, 40)  # its retries back off
        assert agent.api_problem == ""
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert not [p for p in health["problems"] if "local API" in p]
    finally:
        taken.close()
        watcher.close()
        agent.stop()


def test_an_api_that_does_not_start_in_time_is_not_left_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A start that times out raised and left uvicorn's thread going: it could start
    serving later, with nobody to stop it, on the port the next try wants. It is told to
    exit and joined before the error."""

    async def never_started(server: uvicorn.Server, sockets: object = None) -> None:
        while not server.should_exit:  # ``started`` never set
            await asyncio.sleep(0.01)

    monkeypatch.setattr(uvicorn.Server, "startup", never_started)
    server = ApiServer(create_api(_Records(), []), "127.0.0.1", free_port())
    try:
        with pytest.raises(SyncError, match="local API did not start"):
            server.start(timeout=0.3)
        assert not server._thread.is_alive()
    finally:
        server._server.should_exit = True  # as before the fix, so the test ends
        server._thread.join(10)


class _Records:
    """An agent's view with one record stored (what ``/records`` reads)."""

    def health(self) -> dict[str, object]:
        return {"ok": True}

    def metrics_text(self) -> str:
        return ""

    def records(self, limit: int, lane: str | None) -> list[StoredRecord]:
        return [RECORD]


RECORD = StoredRecord(
    id=record(1).id,
    lane="L01",
    ended_at=to_rfc3339(record(1).ended_at),
    body=record(1).model_dump_json().encode(),
    upload={"state": "pending"},
)


@pytest.mark.parametrize(
    ("client", "from_network", "status"),
    [
        ("127.0.0.1", False, 200),
        ("::1", False, 200),
        ("10.20.0.31", False, 403),  # a kiosk on the booth LAN
        ("10.20.0.31", True, 200),
    ],
)
def test_records_are_served_on_this_host_only_unless_configured(
    client: str, from_network: bool, status: int
) -> None:
    """Every truck's plates, bundle and outcome: the kiosks, public machines on the LAN,
    reach the API on a network address and must not read them."""
    app = create_api(_Records(), records_from_network=from_network)

    async def ask(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://agent") as http:
            return await http.get(path)

    answer = asyncio.run(ask("/records"))
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["error"] == RECORDS_LOCAL_ONLY
    else:
        assert answer.json()["records"][0]["vrn"] == "AB1234"
    assert asyncio.run(ask("/health")).status_code == 200  # health is for anyone

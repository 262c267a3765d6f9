"""Helpers for the agent tests: an agent on a real broker and centre, a bus watcher;
clearance records to put in an outbox; a loopback change feed (``FeedServer``)."""

from __future__ import annotations

import collections
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from hardware_sim.launch import CentralProcess
from rocars.bus import Bus
from rocars.config import secret
from rocars.eventid import new_event_id
from rocars.messages import (
    Instruction,
    InstructionCode,
    ManifestDropped,
    PlateRead,
    SyncStatus,
    UnladenPressed,
    parse,
)
from rocars.models import ClearanceRecord
from rocars.signing import lane_key, verify_payload
from rocars.topics import (
    instruction_topic,
    manifest_topic,
    plate_topic,
    sync_status_filters,
    unladen_topic,
)
from sync.agent import SyncAgent
from sync.config import SyncConfig
from sync.outbox import Outbox
from tests.fixtures.brokers import AMQTT_URLS

CP = "SBC"


def agent_config(tmp_path: Path, broker_url: str, central_url: str, **overrides: Any) -> SyncConfig:
    data: dict[str, Any] = {
        "site": {"cp": CP, "direction": "import"},
        "central": {"url": central_url, "timeout_s": 2},
        # amqtt keeps no session: told so, as rocars-edge up tells its agents (else it
        # answers "session present" after the clearing, and the first reads of the run
        # may come in the moment the bus drops what it takes for the run before's)
        "bus": {"url": broker_url, "keepalive": 5, "keep_session": broker_url not in AMQTT_URLS},
        "data_dir": str(tmp_path / "sync"),
        "lanes": [
            {"id": "L01", "hold_s": 1.0, "timeout_s": 30},
            {"id": "L02", "hold_s": 1.0, "manifest_required": False},
        ],
        "pull_interval_s": 0.2,
        "upload_interval_s": 0.2,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "status_interval_s": 0.2,
        "tick_interval_s": 0.02,
        "api": {"port": 0},
    }
    data.update(overrides)
    return SyncConfig.model_validate(data)


def break_journal(outbox: Outbox) -> None:
    """From now on the lanes' journal cannot be written: its files' descriptors are
    replaced by read-only ones, so each append fails in ``os.write`` (as on a full or
    failing disk) and the outbox has to fall back to SQLite."""
    journal = outbox._journal
    for path, fd in zip(journal.paths, journal._fds, strict=True):
        read_only = os.open(path, os.O_RDONLY)
        os.dup2(read_only, fd)
        os.close(read_only)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class Watcher:
    """An outside bus client: publishes lane inputs, collects verified instructions."""

    def __init__(self, broker_url: str, name: str = "watcher") -> None:
        self.instructions: queue.Queue[tuple[str, Instruction]] = queue.Queue()
        self.statuses: queue.Queue[SyncStatus] = queue.Queue()
        self._pending: dict[str, collections.deque[Instruction]] = {}
        self.bus = Bus(broker_url, f"{name}-{new_event_id()[-6:]}")
        site = secret("site_secret").encode()
        self.keys = {lane: lane_key(site, CP, lane) for lane in ("L01", "L02", "L03")}
        self.bus.subscribe(f"rocars/{CP}/lanes/+/instruction", self._on_instruction)
        for topic_filter in sync_status_filters(CP):  # the site's and every shard's
            self.bus.subscribe(topic_filter, self._on_status)
        self.bus.start()
        assert self.bus.wait_connected(15)

    def _on_instruction(self, topic: str, payload: bytes) -> None:
        lane = topic.split("/")[3]
        self.instructions.put((lane, verify_payload(payload, self.keys[lane])))

    def _on_status(self, topic: str, payload: bytes) -> None:
        self.statuses.put(parse(SyncStatus, payload))

    def expect(
        self, lane: str, code: InstructionCode, timeout: float = 15.0, vrn: str | None = None
    ) -> Instruction:
        """The next instruction on ``lane`` with ``code``: others of that lane on the way
        are skipped; another lane's are kept for its own ``expect`` (lanes interleave)."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        pending = self._pending.setdefault(lane, collections.deque())
        while True:
            while pending:
                instruction = pending.popleft()
                seen.append(f"{lane}:{instruction.code}")
                if instruction.code is code and (vrn is None or instruction.vrn == vrn):
                    return instruction
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {code} on {lane} within {timeout}s; saw {seen}")
            try:
                got_lane, got = self.instructions.get(timeout=0.2)
            except queue.Empty:
                continue
            self._pending.setdefault(got_lane, collections.deque()).append(got)

    def status(self, predicate: Callable[[SyncStatus], bool], timeout: float = 15.0) -> SyncStatus:
        """The next status that ``predicate`` accepts; those on the way are dropped (the
        first one a new subscriber gets is the retained one, which may predate the test)."""
        deadline = time.monotonic() + timeout
        last: SyncStatus | None = None
        while time.monotonic() < deadline:
            try:
                status = self.statuses.get(timeout=0.2)
            except queue.Empty:
                continue
            if predicate(status):
                return status
            last = status
        seen = "none" if last is None else last.model_dump_json()
        raise AssertionError(f"no matching sync/status within {timeout}s; last seen: {seen}")

    def plate(self, lane: str, vrn: str, confidence: float = 0.95) -> PlateRead:
        read = PlateRead(vrn=vrn, confidence=confidence, source="serial", device="lpr1")
        self.bus.publish(plate_topic(CP, lane), read).wait_for_publish(5)
        return read

    def manifest(self, lane: str) -> None:
        self.bus.publish(
            manifest_topic(CP, lane), ManifestDropped(source="sensor")
        ).wait_for_publish(5)

    def unladen(self, lane: str, vrn: str = "") -> None:
        self.bus.publish(unladen_topic(CP, lane), UnladenPressed(vrn=vrn)).wait_for_publish(5)

    def raw(self, topic: str, payload: bytes) -> None:
        self.bus.publish(topic, payload).wait_for_publish(5)

    def close(self) -> None:
        self.bus.stop()


def demo_trucks(central: CentralProcess) -> dict[str, list[dict[str, Any]]]:
    body = httpx.get(
        f"{central.url}/sim/trucks",
        headers={"Authorization": f"Bearer {central.token}"},
        timeout=10,
    ).json()
    out: dict[str, list[dict[str, Any]]] = {}
    for truck in body["trucks"]:
        out.setdefault(truck["kind"], []).append(truck)
    return out


def centre_events(central: CentralProcess) -> list[dict[str, Any]]:
    """Every event the centre received, page after page (a page stops at about 16 MiB
    of events, fewer than its ``limit``, while more follow)."""
    events: list[dict[str, Any]] = []
    since = ""
    while True:
        body = httpx.get(
            f"{central.url}/v1/events",
            params={"since": since, "limit": 10_000},
            headers={"Authorization": f"Bearer {central.token}"},
            timeout=10,
        ).json()
        events += body["events"]
        if body["next"] == since:
            return events
        since = body["next"]


def centre_event_ids(central: CentralProcess) -> list[str]:
    return [e["id"] for e in centre_events(central)]


def started_agent(config: SyncConfig) -> SyncAgent:
    agent = SyncAgent(config)
    agent.start()
    assert agent.puller.caught_up.wait(20), "the agent did not catch up with the centre"
    return agent


#: when the sessions of ``record`` started
RECORDS_AT = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def record(n: int, lane: str = "L01") -> ClearanceRecord:
    """The ``n``th of a series of small records (~330 bytes stored), each its own id."""
    return ClearanceRecord(
        id=f"01JD{n:022d}",
        cp=CP,
        lane=lane,
        direction="import",
        started_at=RECORDS_AT,
        ended_at=RECORDS_AT + timedelta(seconds=n),
        vrn="AB1234",
        outcome=InstructionCode.NO_BUNDLE,
        reason="next_vehicle",
        offline=True,
    )


def big_record(n: int) -> ClearanceRecord:
    """A record of ~6 KB (40 plate reads): over a 4 KiB body limit even alone."""
    reads = [
        PlateRead(
            vrn="AB1234", raw=f"AB1234-{i:03d}", confidence=0.9, source="serial", device="lpr1"
        )
        for i in range(40)
    ]
    return record(n).model_copy(update={"plate_reads": reads})


class FeedServer:
    """A real loopback HTTP server that serves whatever page body the test sets: the one
    in ``pages`` for the cursor asked with (``since``), else ``body``."""

    def __init__(self) -> None:
        self.body = b""
        self.pages: dict[str, bytes] = {}
        self.requests: list[str] = []
        #: called as each request comes (time passing while the centre answers)
        self.on_request: Callable[[], None] = lambda: None
        #: False: no Content-Length, the body ends with the connection
        self.declare_length = True
        #: the HTTP status of every answer (an error's body: ``{"error": KEY}``)
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.requests.append(self.path)
                outer.on_request()
                since = parse_qs(urlsplit(self.path).query).get("since", [""])[0]
                data = outer.pages.get(since, outer.body)
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                if outer.declare_length:
                    self.send_header("Content-Length", str(len(data)))
                else:
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for the loop's next look at it: every 0.5 s by default
        serve = {"poll_interval": 0.05}
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def feed_page(changes: list[dict[str, object]], nxt: str) -> bytes:
    """A ``GET /v1/changes`` body, compact as the centre writes it."""
    return json.dumps({"changes": changes, "next": nxt}, separators=(",", ":")).encode()


__all__ = [
    "CP",
    "RECORDS_AT",
    "FeedServer",
    "Watcher",
    "agent_config",
    "big_record",
    "centre_event_ids",
    "demo_trucks",
    "feed_page",
    "instruction_topic",
    "record",
    "started_agent",
    "wait_for",
]

"""A truck told INSPECT is remembered across an agent's restart: the lane controller
with a real replica and outbox, restarted on the same files."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rocars.messages import Alternate, InstructionCode, PlateRead, UnladenPressed
from rocars.models import Bundle, BundleStatus, Change, ChangePage
from rocars.timeutil import to_rfc3339
from sync.config import SyncConfig
from sync.controller import LaneController
from sync.errors import OutboxError
from sync.outbox import Outbox
from sync.puller import CentralLink
from sync.replica import Replica
from tests.sync.test_lane import T0, make_bundle

C = InstructionCode
TOPIC = "rocars/SBC/lanes/L01/plate"
UNLADEN = "rocars/SBC/lanes/L01/aiop/unladen"


class Shown:
    """The bus, minus the bus: each instruction's code and reason-free fields, kept."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.sent.append(json.loads(payload))


class Site:
    def __init__(self, tmp_path: Path, window_s: float = 3600, **lane: object) -> None:
        self.now = T0
        self.config = SyncConfig.model_validate(
            {
                "lanes": [{"id": "L01", "manifest_required": False, "hold_s": 1.0, **lane}],
                "data_dir": str(tmp_path),
                "reinspect_window_s": window_s,
            }
        )
        self.replica = Replica(tmp_path / "replica.db")
        self.cursor, self.seq = "", 0
        self.outbox = Outbox(tmp_path / "outbox.db")
        self.bus = Shown()
        self.controller = self._controller()

    def clock(self) -> datetime:
        return self.now

    def _controller(self) -> LaneController:
        link = CentralLink(self.clock)
        link.mark_up()
        return LaneController(
            self.config,
            publisher=self.bus,
            replica=self.replica,
            outbox=self.outbox,
            link=link,
            site_secret=b"test-secret",
            clock=self.clock,
        )

    def bundles(self, *bundles: Bundle) -> None:
        """A page of the feed with ``bundles`` (none: the replica is current, no more)."""
        changes = [
            Change(seq=self.seq + n + 1, kind="bundle", key=b.ubr, bundle=b)
            for n, b in enumerate(bundles)
        ]
        self.seq += len(changes)
        page = ChangePage(changes=changes, next=str(self.seq))
        self.replica.apply(self.cursor, page, self.now)
        self.cursor = page.next

    def read(self, vrn: str, *alternates: str) -> dict[str, object]:
        """The lane's answer to a read of ``vrn`` (and ``alternates``, as confident) now
        (the last instruction sent: the one before when the read was ignored)."""
        payload = PlateRead(
            vrn=vrn,
            confidence=0.97,
            source="serial",
            device="lpr1",
            ts=self.now,
            alternates=[Alternate(vrn=a, confidence=0.9) for a in alternates],
        ).to_bytes()
        self.controller.on_message(TOPIC, payload)
        return self.bus.sent[-1]

    def end_session(self) -> None:
        self.now += timedelta(seconds=2)
        self.controller.tick()

    def restart(self, after: timedelta) -> None:
        assert self.outbox.flush(5)
        self.outbox.close()
        self.now += after
        self.bundles()
        self.outbox = Outbox(self.config.outbox_path)
        self.controller = self._controller()
        self.controller.start()

    def close(self) -> None:
        self.outbox.close()
        self.replica.close()


def test_a_truck_told_inspect_is_told_again_after_a_restart(tmp_path: Path) -> None:
    site = Site(tmp_path)
    try:
        selected = make_bundle(
            "9110635860", "AB1234", result="INSPECT", bay="B3", second_plate="粤Z1234港"
        )
        site.bundles(selected)
        site.controller.start()
        assert (site.read("AB1234")["code"], site.read("AB1234").get("bay")) == ("INSPECT", "B3")
        site.end_session()
        # its record marks the bundle used; the agent restarts 10 minutes later
        site.bundles(selected.model_copy(update={"status": BundleStatus.USED}))
        site.restart(timedelta(minutes=10))
        shown = site.read("粤Z1234港")  # its Mainland plate this time
        assert (shown["code"], shown.get("bay")) == ("INSPECT", "B3")
        assert site.controller.lanes["L01"].session is not None
        assert site.controller.lanes["L01"].session.reason == "inspect_pending"
        site.end_session()
        # once the window is over, the replica decides again: no bundle now
        site.restart(timedelta(hours=1))
        assert site.read("AB1234")["code"] == "NO_BUNDLE"
    finally:
        site.close()


def test_a_restart_recalls_the_plates_the_lane_told_not_each_read_after(
    tmp_path: Path,
) -> None:
    """An unladen truck drawn for inspection, then read again by a Mainland plate with
    its Hong Kong plate as a runner-up: the same truck, the read kept in the record for
    the audit, but never told INSPECT. A restart recalls what the lane told (the
    opening read with its trusted alternates, as the live memory has them), not that
    Mainland reading."""
    site = Site(tmp_path, unladen_inspect_share=1.0)
    try:
        site.bundles()
        site.controller.start()
        assert site.read("AB1234", "AB1284")["code"] == "NO_BUNDLE"
        site.controller.on_message(UNLADEN, UnladenPressed(vrn="AB1234", ts=site.now).to_bytes())
        assert site.bus.sent[-1]["code"] == "INSPECT"
        sent = len(site.bus.sent)
        site.read("粤Z9876港", "AB1234")  # the same truck: ignored
        assert len(site.bus.sent) == sent
        site.end_session()
        site.restart(timedelta(minutes=10))
        memory = site.controller.inspections
        assert memory.pending(["AB1234"], site.now) == ("U1",)
        assert memory.pending(["AB1284"], site.now) == ("U1",)  # a trusted alternate
        assert memory.pending(["粤Z9876港"], site.now) is None
    finally:
        site.close()


def test_a_restart_recalls_a_runner_up_as_a_runner_up(tmp_path: Path) -> None:
    """A truck read with another truck's Mainland plate as a confident runner-up (an AVRS
    pairing plates read close in time) is told INSPECT on its bundle. Recalled at a
    restart, that plate is known as a runner-up of this truck's read, as the live memory
    had it: the truck it belongs to, whose bundle names it, is not told INSPECT for this
    one's inspection (found in review: recalled, every plate was taken as the truck's
    own)."""
    site = Site(tmp_path)
    try:
        site.bundles(make_bundle("9110635870", "CD5678", result="INSPECT", bay="B2"))
        site.controller.start()
        assert site.read("CD5678", "粤Z1234港")["code"] == "INSPECT"
        site.end_session()
        site.restart(timedelta(minutes=10))
        memory = site.controller.inspections
        shuttle = ("AB1234", "粤Z1234港")
        assert memory.pending(["粤Z1234港"], site.now, truck=shuttle) is None
        assert memory.pending(["粤Z1234港"], site.now) == ("B2",)
        assert memory.pending(["CD5678"], site.now, truck=("CD5678",)) == ("B2",)
    finally:
        site.close()


def test_a_restart_with_the_window_off_remembers_nothing(tmp_path: Path) -> None:
    site = Site(tmp_path, window_s=0)
    try:
        site.bundles(make_bundle("9110635860", "AB1234", result="INSPECT", bay="B3"))
        site.controller.start()
        assert site.read("AB1234")["code"] == "INSPECT"
        site.end_session()
        site.restart(timedelta(minutes=1))
        assert site.read("AB1234")["code"] == "INSPECT"  # its bundle, still active here
        assert site.controller.lanes["L01"].session is not None
        assert site.controller.lanes["L01"].session.reason == "inspect"
    finally:
        site.close()


def test_the_recall_walks_back_to_the_window_and_skips_what_does_not_read(
    tmp_path: Path,
) -> None:
    """Newest first, until a record ended before the window; a body that is not UTF-8
    (or not a record) is left out, not the recall lost with it."""
    site = Site(tmp_path)
    try:
        site.bundles(
            make_bundle("9110635860", "AB1234", result="INSPECT", bay="B3"),
            make_bundle("9110635861", "CD5678", result="INSPECT", bay="B4"),
        )
        site.controller.start()
        assert site.read("AB1234")["code"] == "INSPECT"
        site.end_session()
        site.now += timedelta(hours=2)
        site.bundles()
        assert site.read("CD5678")["code"] == "INSPECT"
        site.end_session()
        assert site.outbox.flush(5)
        with sqlite3.connect(site.config.outbox_path) as conn:
            for n, body in enumerate([b'{"outcome":"INSPECT","x":"\xff"}', b'"INSPECT"']):
                conn.execute(
                    "INSERT INTO records (id, lane, ended_at, body, created_at) "
                    "VALUES (?, 'L01', ?, CAST(? AS TEXT), ?)",
                    (f"bad{n}", to_rfc3339(site.now), body, to_rfc3339(site.now)),
                )
        recalled = site.outbox.inspected_since(site.now - timedelta(hours=1))
        assert [r.vrn for r in recalled] == ["CD5678"]
        both = site.outbox.inspected_since(site.now - timedelta(hours=3))
        assert [r.vrn for r in both] == ["AB1234", "CD5678"]
    finally:
        site.close()


def left_open(tmp_path: Path) -> Site:
    """A site whose lane L01 had truck AB1234 at NO_BUNDLE when the agent stopped, and
    its agent made again, not started."""
    site = Site(tmp_path)
    site.bundles()
    site.controller.start()
    assert site.read("AB1234")["code"] == "NO_BUNDLE"
    assert site.outbox.flush(5)
    site.outbox.close()
    site.outbox = Outbox(site.config.outbox_path)
    site.controller = site._controller()
    return site


def test_a_lane_whose_stored_state_cannot_be_read_is_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started afresh, the lane's READY replaced the state it could not read (an I/O
    error at start): the session a crash left open was gone, with no record. The agent
    does not start instead; once the state can be read, the session ends as a crash's."""
    site = left_open(tmp_path)
    try:

        def unreadable(lane: str) -> None:
            raise OutboxError("disk I/O error")

        with monkeypatch.context() as patch:
            patch.setattr(site.outbox, "lane", unreadable)
            sent = len(site.bus.sent)
            with pytest.raises(OutboxError, match="lane L01: cannot read its stored state"):
                site.controller.start()
            assert len(site.bus.sent) == sent  # no READY
        site.controller.start()
        assert site.outbox.flush(5)
        (pending,) = site.outbox.pending(10)
        record = json.loads(pending.body)
        assert (record["vrn"], record["reason"]) == ("AB1234", "agent_restart")
    finally:
        site.close()


def test_a_session_whose_record_cannot_be_made_at_start_is_kept_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session a crash left open that validates as a session but cannot become a record
    (older or edited data, a bug): ``Lane.start`` drops it and READY replaced it, with
    no trace on disk. It is kept in the outbox's quarantine table first, as a session
    start-up cannot read is."""
    site = left_open(tmp_path)
    try:

        def unmakeable(**fields: object) -> None:
            raise ValueError("no record")

        with monkeypatch.context() as patch:
            patch.setattr("sync.lane.ClearanceRecord", unmakeable)
            site.controller.start()
        assert site.bus.sent[-1]["code"] == "READY"
        (kept,) = site.outbox.quarantined()
        assert (kept["source"], kept["lane"]) == ("lanes", "L01")
        assert json.loads(kept["body"])["vrn"] == "AB1234"
        assert "its record cannot be made" in kept["error"]
    finally:
        site.close()


@pytest.mark.parametrize("code", ["PROCEED", "NO_BUNDLE"])
def test_the_timer_ends_a_hold_or_a_wait_by_the_monotonic_clock_too(
    tmp_path: Path, code: str
) -> None:
    """The agent's clock stepped back an hour (a site's NTP source put right) while a
    lane holds a PROCEED (or waits for a driver): the controller's timer asked the lane
    to tick only once the wall clock said the hold was over, so no READY (or timeout)
    came for the hour, whatever the lane measured (found in review)."""
    site = Site(tmp_path, hold_s=8.0, timeout_s=60.0)
    try:
        if code == "PROCEED":
            site.bundles(make_bundle("9110635860", "AB1234"))
        else:
            site.bundles()
        site.controller.start()
        mono = [100.0]
        site.controller.lanes["L01"]._monotonic = lambda: mono[0]
        assert site.read("AB1234")["code"] == code
        site.now -= timedelta(hours=1)
        wait = 8.0 if code == "PROCEED" else 60.0
        mono[0] += wait - 0.5
        site.controller.tick()
        assert site.bus.sent[-1]["code"] == code
        mono[0] += 0.5
        site.controller.tick()
        assert site.bus.sent[-1]["code"] == ("READY" if code == "PROCEED" else "STOP_SEE_OFFICER")
    finally:
        site.close()


def test_a_truck_stopped_in_doubt_at_one_lane_is_stopped_at_the_next(tmp_path: Path) -> None:
    """The controller's lanes share the plates of trucks stopped in doubt (as they share
    the INSPECT memory): waved from L01 to L02, PA3523 is not decided afresh there."""
    site = Site(tmp_path)
    site.config = SyncConfig.model_validate(
        {
            "lanes": [
                {"id": "L01", "manifest_required": False, "hold_s": 1.0},
                {"id": "L02", "manifest_required": False, "hold_s": 1.0},
            ],
            "data_dir": str(tmp_path),
        }
    )
    site.controller = site._controller()
    site.controller.start()
    site.bundles(make_bundle("9110635860", "PA3523"))
    doubt = PlateRead(
        vrn="PA3523",
        confidence=0.9,
        source="serial",
        device="lpr1",
        ts=site.now,
        alternates=[Alternate(vrn="PA3623", confidence=0.95)],
    )
    site.controller.on_message(TOPIC, doubt.to_bytes())
    assert site.bus.sent[-1]["code"] == "STOP_SEE_OFFICER"
    site.now += timedelta(seconds=30)
    site.bundles()
    again = PlateRead(vrn="PA3523", confidence=0.99, source="serial", device="lpr2", ts=site.now)
    site.controller.on_message("rocars/SBC/lanes/L02/plate", again.to_bytes())
    assert (site.bus.sent[-1]["vrn"], site.bus.sent[-1]["code"]) == ("PA3523", "STOP_SEE_OFFICER")
    site.close()

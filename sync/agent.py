"""The sync agent: replica puller, lane controller, uploader, status heartbeat, local API.

``SyncAgent(config).start()`` runs everything on threads of the calling process (the
lead's ``rocars-edge up`` and the benchmarks do that); ``sync.cli`` wraps it in a
process that stops cleanly on SIGTERM. Each worker runs under a supervisor that
restarts it when it dies, at a capped rate, and the status says what is wrong.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from rocars.broker import EmbeddedBroker, free_port
from rocars.brokertls import BROKER_CERTIFICATE_ENV
from rocars.bus import Bus, Will
from rocars.config import http_verify, is_loopback, secret
from rocars.errors import BadPayload
from rocars.messages import DeviceStatus, SyncStatus, parse
from rocars.threads import start_in_background
from rocars.timeutil import to_rfc3339, utc_now
from rocars.topics import (
    READER_DEVICE,
    LaneTopic,
    lane_filter,
    parse_lane_topic,
    sync_echo_topic,
    sync_status_filters,
    sync_status_topic,
)
from sync.api import ApiServer, CertificateWatch, ServerTls, create_api
from sync.config import ApiConfig, SyncConfig
from sync.controller import LaneController
from sync.errors import OutboxError, ReplicaError, SyncError
from sync.inspection_log import InspectionLog
from sync.lane import SYNC_CLOCK_SKEW
from sync.local_api import build_router, refusing_router
from sync.metrics import Metrics
from sync.outbox import Outbox, StoredRecord
from sync.puller import FOLLOW_MARGIN_S, Backoff, CentralClient, CentralLink, LinkState, Puller
from sync.replica import Replica
from sync.uploader import Uploader

logger = logging.getLogger(__name__)

#: A worker that dies is restarted after 1 s, 2 s, 4 s ... at most this long.
MAX_RESTART_DELAY_S = 30.0

#: Python's GIL switch interval while an agent runs (default 5 ms). A plate read passes
#: three threads (paho's, the outbox writer, paho's again to write); each time the GIL is
#: held by a busy thread (the uploader encoding a batch, the API, the change feed), the
#: next one in line waits up to this long for it. Measured in bench/lane_latency.py.
GIL_SWITCH_INTERVAL_S = 0.0005


#: Another agent's status counts as its claim on lanes this long after its own ``ts`` (plus
#: two of this agent's heartbeat intervals): a will is stamped when its agent connected.
PEER_CLAIM_S = 5.0

#: How long a try to have the lanes' decisions flushed before the republish that follows
#: a connection may wait (``outbox_durability = "flush"``); the heartbeat tries again.
RESUME_FLUSH_S = 0.5

#: How long a plate reader's "online" counts (it says it every 2 s by default).
READER_SEEN_S = 10.0
#: Other agents and lanes remembered at most (a broker without ACLs may carry any name).
MAX_HEARD = 1024

#: Builds a router once the agent's replica and clients exist, e.g. the kiosks' API
#: (``kiosk_router``): ``lambda agent: build_router(agent.api_client, agent.replica, ...)``
RouterFactory = Callable[["SyncAgent"], APIRouter]

#: How long a shard that does not pull keeps a kiosk call's "centre unreachable" against
#: the pulling shard's older record of "up", beyond that shard's next poll and its timeout
#: (``pull_interval_s`` and ``central.timeout_s``, taken to be this shard's): a second for
#: it to record what it found and one for this shard to read it (``_central_loop``).
LOST_HOLD_MARGIN_S = 2.0
#: how often the local API's certificate files are looked at (and a failed start tried
#: again)
API_UPKEEP_S = 1.0
#: the longest between two tries to start it (each builds the app: tens of ms of GIL)
API_RETRY_MAX_S = 30.0


def _env_path(name: str) -> Path | None:
    """A path from the environment; None when unset or empty."""
    value = os.environ.get(name, "")
    return Path(value) if value else None


def kiosk_calls_refused(api: ApiConfig) -> str:
    """Why the kiosks' calls are not served ("": they are, or are not asked for): they
    carry drivers' passwords and codes, and would be served in clear on a network
    address."""
    if not api.kiosk or api.tls_cert is not None or api.plain_http or is_loopback(api.host):
        return ""
    return (
        f"kiosks' calls not served: they would cross the LAN in clear on {api.host} "
        "(drivers' passwords and codes): give [api] tls_cert and tls_key (broker-config "
        "--tls-hosts writes api.crt and api.key), or plain_http = true"
    )


def kiosk_router(agent: SyncAgent) -> APIRouter:
    """The kiosks' calls, forwarded to the centre or answered from the replica.

    A forwarded call that finds the centre unreachable marks the link down as the puller
    would (the status says ``central: down``, the lanes flag their decisions offline and
    never close for it), so the next calls go to the replica at once instead of waiting
    ``central.timeout_s`` each; the puller's next success marks it up again.
    """
    config = agent.config
    hold_s = config.pull_interval_s + config.central.timeout_s + LOST_HOLD_MARGIN_S

    def central_lost(reason: str) -> None:
        agent.link.mark_lost(reason, hold_s)

    return build_router(
        agent.api_client, agent.replica, lambda: agent.link.up, central_lost=central_lost
    )


@dataclass
class Worker:
    """One supervised worker thread: ``run(stop)`` until ``stop`` is set."""

    name: str
    run: Callable[[threading.Event], None]
    restarts: int = 0
    error: str = ""
    #: started and not stopped by an error: from ``start`` on, so a status published
    #: before the thread's first line never calls a worker that is starting "down"
    alive: bool = False
    thread: threading.Thread | None = field(default=None, repr=False)

    def start(self, stop: threading.Event, background: bool) -> None:
        """``supervise`` on a thread of its own (``rocars.threads.start_in_background``)."""
        self.alive = True
        self.thread = threading.Thread(
            target=self.supervise, args=(stop,), name=f"sync-{self.name}", daemon=True
        )
        start_in_background(self.thread, background)

    def supervise(self, stop: threading.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            self.alive = True
            started = time.monotonic()
            try:
                self.run(stop)
                if stop.is_set():
                    break
                self.error = "returned unexpectedly"
                logger.error("worker %s returned while the agent runs", self.name)
            except Exception as err:  # top-level of a worker: log, restart at a capped rate
                self.error = f"{type(err).__name__}: {err}"
                logger.exception("worker %s died", self.name)
            self.alive = False
            self.restarts += 1
            if time.monotonic() - started > 60:
                delay = 1.0  # it ran a good while: start again from the short delay
            logger.warning("restarting worker %s in %.0f s", self.name, delay)
            if stop.wait(delay):
                break
            delay = min(delay * 2, MAX_RESTART_DELAY_S)
        self.alive = False


class SyncAgent:
    """The control point's local ROCARS, in-process."""

    def __init__(
        self,
        config: SyncConfig,
        *,
        site_secret: bytes | None = None,
        extra_routers: list[APIRouter | RouterFactory] | None = None,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._site_secret = site_secret
        self._extra_routers = list(extra_routers or [])
        self._clock = clock
        self._rng = rng
        self.metrics = Metrics()
        self.link = CentralLink(clock)
        self.stop_event = threading.Event()
        #: set to publish the status now, not at the next heartbeat
        self._status_now = threading.Event()
        #: the last status published said offline (``publish_status``)
        self._said_offline = False
        #: under ``_link_lock`` (``_on_connection``): connected, as the bus told this agent
        #: (after what the broker kept for it: ``Bus(echo_topic=...)``), and every lane's
        #: instruction still to be republished
        self._bus_up = False
        self._resuming = False
        self._link_lock = threading.Lock()
        #: ``stop`` has begun: no status after its offline (under ``_status_lock``)
        self._status_ended = False
        self._status_lock = threading.Lock()
        self.workers: list[Worker] = []
        self.broker: EmbeddedBroker | None = None
        self.broker_url = config.bus.url
        self.api: ApiServer | None = None
        #: why the local API (or the kiosks' calls on it) is not served ("": it is)
        self.api_problem = ""
        self.broker_cert = None
        broker_cert = config.broker_certificate or _env_path(BROKER_CERTIFICATE_ENV)
        if broker_cert is not None:
            self.broker_cert = CertificateWatch(
                broker_cert,
                "broker certificate",
                "every device refuses the broker, every display fails closed",
                "re-run broker-config, then systemctl reload mosquitto",
            )
        #: its start failed (its TLS files, its port): when the upkeep worker tries again
        self._api_retry: float | None = None
        self._api_backoff = Backoff(API_UPKEEP_S, API_RETRY_MAX_S)
        self.bus: Bus | None = None
        self.inspection_log: InspectionLog | None = None
        self._stopped = False
        self._bundles_cache: tuple[float, int] = (0.0, 0)
        #: other agents claiming lanes of this one: client id -> (monotonic seen, lanes)
        self._claims: dict[str, tuple[float, frozenset[str]]] = {}
        self._claims_lock = threading.Lock()
        #: every other agent of the site heard from lately: client id -> (monotonic
        #: seen, its lanes; empty: every lane), for ``unclaimed_lanes``
        self._peers: dict[str, tuple[float, frozenset[str]]] = {}
        #: lanes not this agent's whose plate reader said online lately -> monotonic seen
        self._readers: dict[str, float] = {}
        #: this run (in every status): tells a second process with this config from this one
        self.instance = secrets.token_hex(6)
        self.started_at = clock()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start everything; on failure what was started is stopped again."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        self.started_at = self._clock()
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        site_secret = self._site_secret or secret("site_secret").encode()
        # a CA file that does not load stops the start before anything runs
        cafile = str(config.central.cafile or "")
        central_verify = http_verify(config.central.url, cafile, "the centre")
        config.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.broker_url:
            self.broker = EmbeddedBroker()
            self.broker.start()
            self.broker_url = self.broker.url
            # said, not refused: the demo and a field engineer's laptop run this way
            logger.warning(
                "bus: no [bus] url: an embedded broker on %s, with no logins and no ACL (any"
                " process on this machine may publish a lane's inputs); a booth PC uses"
                " mosquitto set up by broker-config (docs/operations.md)",
                self.broker_url,
            )
        # only the agent that pulls may rebuild a file of another schema (the shards share it)
        self.replica = Replica(config.replica_path, rebuild=config.pull)
        self.outbox = Outbox(
            config.outbox_path,
            durability=config.outbox_durability,
            flush_interval_s=config.outbox_flush_interval_s,
            background_batch=config.background_batch,
        )
        # a lane change waiting for the writer: offline at once, not at the next heartbeat
        self.outbox.on_backlog = self._status_now.set
        # records the centre refused alone go to it once more: its limit or its rules
        # may have changed since (docs/sync.md, "Records the centre refuses")
        retried = self.outbox.retry_refused()
        if retried:
            logger.warning("outbox: %d records the centre refused are sent again", retried)
        central = config.central
        token = central.token()
        self.feed_client = CentralClient(
            central.url, token=token, timeout=central.timeout_s, verify=central_verify
        )
        self.upload_client = CentralClient(
            central.url, token=token, timeout=central.timeout_s, verify=central_verify
        )
        #: for routers that forward to the centre (the kiosks' local API)
        self.api_client = CentralClient(
            central.url, token=token, timeout=central.timeout_s, verify=central_verify
        )
        self.puller = Puller(
            self.replica,
            self.feed_client,
            self.link,
            batch=config.pull_batch,
            interval_s=config.pull_interval_s,
            backoff_initial_s=config.backoff_initial_s,
            backoff_max_s=config.backoff_max_s,
            metrics=self.metrics,
            clock=self._clock,
        )
        self.uploader = Uploader(
            self.outbox,
            self.upload_client,
            batch=config.upload_batch,
            interval_s=config.upload_interval_s,
            backoff_initial_s=config.backoff_initial_s,
            backoff_max_s=config.backoff_max_s,
            keep_days=config.keep_uploaded_days,
            linger_s=config.upload_linger_s,
            metrics=self.metrics,
            clock=self._clock,
            cp=config.site.cp.value,
        )
        self.bus = Bus(
            self.broker_url,
            config.client_id,
            will=self._will,
            username=config.bus.username,
            password=secret("mqtt_password", "") if config.bus.username else "",
            keepalive=config.bus.keepalive,
            # the broker keeps what the lanes are sent while the agent's connection is down
            # (a read lost then left its truck with no answer, or the truck before's
            # PROCEED republished in front of it); not from one run to the next (Bus).
            # Not on the embedded broker: it runs in this process, its connection never
            # breaks on its own (and amqtt keeps no session of a client that logs in
            # without a user, nor after a clean one of the same id); nor when told so
            # (rocars-edge up's agents on its embedded amqtt, which they reach by url)
            persistent=self.broker is None and config.bus.keep_session,
            # comes back behind what the broker kept (on connecting within a run)
            echo_topic=self.echo_topic,
        )
        self.controller = LaneController(
            config,
            publisher=self.bus,
            replica=self.replica,
            outbox=self.outbox,
            link=self.link,
            site_secret=site_secret,
            metrics=self.metrics,
            clock=self._clock,
            rng=self._rng,
            input_waiting=self.bus.input_waiting,
        )
        if config.reinspect_window_s:
            # the trucks told INSPECT, by every plate the lanes told (sync/inspection_log.py):
            # shared by the shards, and read back at a restart (the outbox's records hold
            # only the plates of a session's first read and its bundle); taken in now, so
            # the first read already knows them (a failure is retried)
            self.inspection_log = InspectionLog(
                config.inspections_path,
                config.shard,
                self.controller.inspections,
                clock=self._clock,
                direction=config.site.direction.value,
            )
            self.inspection_log.sync_once()
        for topic_filter in self.controller.subscriptions():
            self.bus.subscribe(topic_filter, self.controller.on_message)
        # statuses at QoS 0: only a fresh one says anything, and the broker keeps none of
        # them for the agent's session while its connection is down (a backlog of a
        # status a lane every 2 s held up the reads queued with it)
        for topic_filter in sync_status_filters(config.site.cp):
            self.bus.subscribe(topic_filter, self._on_peer_status, qos=0)
        # every lane's plate reader (a status every 2 s): one on a lane that no agent of
        # the site controls is said in the status (``unclaimed_lanes``)
        readers = lane_filter(config.site.cp, LaneTopic.STATUS, device=READER_DEVICE)
        self.bus.subscribe(readers, self._on_reader_status, qos=0)
        self.bus.on_connection(self._on_connection)
        self._register_gauges()
        self.controller.start()  # READY on every lane, queued until connected
        # with "flush" the READYs are handed to the bus once flushed: flushed now, they are
        # queued (and republished on connecting) before this agent first says it is online.
        # A display that connected between the two would take the retained instruction of
        # the run before (a crash's PROCEED) for this run's until the READY came.
        if config.outbox_durability == "flush" and not self.outbox.flush(10):
            logger.error("outbox: the lanes' READY not flushed at start: %s", self.outbox.error)
        self.bus.start()
        # one agent of the site pulls the feed (and records the centre's state in the
        # replica for the others); a shard that does not pull follows that record
        feed = Worker("puller", self.puller.run) if config.pull else None
        self.workers = [
            *([feed] if feed is not None else []),
            Worker("central", self._central_loop),
            Worker("uploader", self.uploader.run),
            Worker("lanes", self.controller.run),
            Worker("status", self._status_loop),
            *(
                [Worker("inspections", self.inspection_log.run)]
                if self.inspection_log is not None
                else []
            ),
            *([Worker("api-upkeep", self._api_loop)] if config.api.enabled else []),
        ]
        for worker in self.workers:
            worker.start(self.stop_event, config.background_batch)
        if config.api.enabled:
            self._start_api()
        # what start-up made lives as long as the agent: out of the collector's way, so a
        # full collection scans only what came after (measured: 45-65 ms -> under 1 ms)
        gc.collect()
        gc.freeze()
        logger.info(
            "sync agent up: %s %s%s, lanes %s, broker %s, centre %s",
            config.site.cp,
            config.site.direction,
            f" shard {config.shard}" if config.shard else "",
            ",".join(self.controller.lanes),
            self.broker_url,
            config.central.url,
        )

    def stop(self) -> None:
        """Stop the workers, publish the offline status (displays fail closed), disconnect."""
        if self._stopped:
            return
        self._stopped = True
        self.stop_event.set()
        self._status_now.set()
        if hasattr(self, "outbox"):
            # the uploader waits on it between rounds (``upload_interval_s``, up to an
            # hour): woken, it sees the stop at once instead of holding the stop up
            self.outbox.new_records.set()
        for worker in self.workers:
            if worker.thread is not None:
                worker.thread.join(timeout=15)
        if self.api is not None:
            self.api.stop()
        if self.config.pull and hasattr(self, "replica"):
            # the shards that follow this one's record must not go on taking the centre
            # for up: nobody refreshes the record now (a crash is caught by its age)
            try:
                self.replica.record_central(False, self._clock(), "the pulling shard stopped")
            except ReplicaError as err:
                logger.error("the centre's state not recorded down at stop: %s", err)
        if hasattr(self, "outbox") and not self.outbox.flush(10):
            # what the writer could not commit is not published either (nor lost: retried)
            logger.error("outbox: lane changes still not committed at shutdown")
        if self.bus is not None:
            with self._status_lock:  # a heartbeat on paho's thread (a connection) after
                self._status_ended = True  # the offline would stand retained
            self.bus.stop(publish_will=True)
        if self.inspection_log is not None:
            self._last_inspections(self.inspection_log)
        for closable in ("feed_client", "upload_client", "api_client", "replica", "outbox"):
            if hasattr(self, closable):
                getattr(self, closable).close()
        if self.broker is not None:
            self.broker.stop()
        gc.unfreeze()  # a process that goes on (tests, ``up``) collects the agent's leftovers
        logger.info("sync agent stopped")

    def _last_inspections(self, log: InspectionLog) -> None:
        """Reads reached the lanes until the bus stopped, after the inspections worker's
        last write: what they told INSPECT goes out now (and a start that failed before
        the worker ran closes the file it opened). Not while the worker still runs (it
        outlived its join, on a file another holds): two threads on one connection."""
        worker = next((w for w in self.workers if w.name == "inspections"), None)
        if worker is not None and worker.thread is not None and worker.thread.is_alive():
            logger.error("inspections: the worker has not ended; the last plates not written")
            return
        try:
            log.sync_once()
            if waiting := log.waiting:
                logger.error(
                    "inspections: %d plates told INSPECT not written to %s at stop (%s)",
                    waiting,
                    log.path,
                    log.problem or "?",
                )
            log.close()
        except Exception:  # the rest of the stop (clients, replica, outbox) must run
            logger.exception("inspections: the last write at stop failed")

    def __enter__(self) -> SyncAgent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_api(self) -> None:
        """Serve the local API, if it can be served as configured; otherwise say why
        (``api_problem``) and leave it to the upkeep worker to try again (backing off to
        every ``API_RETRY_MAX_S``): the lanes never wait for the kiosks' API, not for its
        certificate, not for its port. TLS files that do not load (yet: a renewal half done,
        a key the agent's user cannot read) keep it down; the kiosks' calls are not
        served in clear on a network address unless ``plain_http`` says so (an old
        config after an upgrade: health and metrics are served, the kiosks' calls not)."""
        api = self.config.api
        if self.stop_event.is_set():
            return
        try:
            tls = None
            if api.tls_cert is not None and api.tls_key is not None:
                tls = ServerTls(api.tls_cert, api.tls_key)
            refused = kiosk_calls_refused(api)
            server = self._api_server(tls, refused)
            server.start()
        except SyncError as err:
            problem = f"local API not served: {err} (tried again)"
            if problem != self.api_problem:
                logger.error("%s", problem)
            self.api_problem = problem
            self._api_retry = time.monotonic() + self._api_backoff.next_delay()
            return
        self._api_retry = None
        self.api = server
        self.api_problem = refused

    def _api_server(self, tls: ServerTls | None, refused: str) -> ApiServer:
        """The API as configured; ``refused``: why the kiosks' calls are not served."""
        api = self.config.api
        factories = list(self._extra_routers)
        if refused:
            logger.error("%s", refused)
            factories.append(lambda _agent: refusing_router(refused))
        elif api.kiosk:
            factories.insert(0, kiosk_router)
        routers = [r if isinstance(r, APIRouter) else r(self) for r in factories]
        return ApiServer(
            create_api(self, routers, records_from_network=api.records_from_network),
            api.host,
            api.port or free_port(api.host),
            background_batch=self.config.background_batch,
            tls=tls,
        )

    @property
    def api_url(self) -> str | None:
        return None if self.api is None else self.api.url

    # -- status ------------------------------------------------------------------------

    @property
    def status_topic(self) -> str:
        """``rocars/{cp}/sync/status``, or a shard's ``rocars/{cp}/sync/{shard}/status``."""
        return sync_status_topic(self.config.site.cp, self.config.shard)

    def _sync_status(self, **fields: Any) -> SyncStatus:
        """A status naming this agent and the lanes it speaks for: its own, so that a display
        heeds only the agent of its lane (the other direction's agent of the same control
        point, another shard, or an agent that does not control its lane at all are not its
        controller)."""
        return SyncStatus(
            agent=self.config.client_id,
            shard=self.config.shard,
            instance=self.instance,
            lanes=[lane.id for lane in self.config.lanes],
            **fields,
        )

    def _will(self) -> Will:
        status = self._sync_status(state="offline", central="down", detail="sync agent gone")
        return Will(self.status_topic, status.to_bytes(), retain=True)

    @property
    def echo_topic(self) -> str:
        """``rocars/{cp}/sync/echo``, or a shard's ``rocars/{cp}/sync/{shard}/echo``."""
        return sync_echo_topic(self.config.site.cp, self.config.shard)

    def _on_connection(self, up: bool) -> None:
        """Connected: every lane's instruction published again (a broker that restarted
        lost the retained ones) and the status. The bus says so, on a resumed session,
        once the reads, presses and drops the broker kept for the agent are handled
        (``Bus(echo_topic=...)``): a lane whose truck before was told PROCEED (within its
        hold) showed that PROCEED again to the truck read meanwhile until its own read
        was handled (2 ms, 0.26 s behind 400 kept reads; found in review)."""
        with self._link_lock:
            self._bus_up = self._resuming = up
        if up:  # the heartbeat's worker, not paho's thread, waits for the flush
            self._status_now.set()

    def _resumed(self) -> bool:
        """Connected, and every lane's instruction republished since: the status may be
        said. With ``outbox_durability = "flush"`` the republish waits for the lanes'
        decisions to be flushed (their instructions go out then): before, it sent the
        instruction shown before them, the truck before's PROCEED. Not flushed within
        ``RESUME_FLUSH_S``: False, and the heartbeat tries again."""
        with self._link_lock:
            if not self._bus_up or not self._resuming:
                return self._bus_up
        flushed = self.config.outbox_durability != "flush" or self.outbox.flush(RESUME_FLUSH_S)
        if not flushed and not self.outbox.flush_failed:
            logger.info("outbox: the lanes' last decisions not flushed yet; republish later")
            return False
        with self._link_lock:
            if not self._bus_up or not self._resuming:
                return self._bus_up  # gone meanwhile, or republished by another thread
            self._resuming = False
        # a flush failed for good: no republish (nothing unflushed goes out), but the
        # status, offline with why, as before the connection went
        if flushed:
            self.controller.republish()
        return True

    def problems(self) -> list[str]:
        """What is wrong right now, worst first (empty when all is well)."""
        out: list[str] = []
        try:
            last = self.replica.last_sync_at()
            unreadable = ""
        except ReplicaError as err:  # not "never synced": the operator must see why
            last, unreadable = None, str(err)
        age = self._age(last)
        if unreadable:
            out.append(f"replica unreadable ({unreadable}): lanes fail closed")
        elif last is None:
            out.append("replica never synced: lanes fail closed")
        elif age is not None and age > self.config.replica_max_age_s:
            out.append(f"replica {age:.0f} s old: lanes fail closed")
        elif age is not None and age < -SYNC_CLOCK_SKEW.total_seconds():
            out.append(f"replica synced {-age:.0f} s in the future (clock): lanes fail closed")
        if not self.link.up:
            out.append(f"central down ({self.link.state().error})")
        if self.config.pull and self.puller.last_error:
            detail = self.puller.last_detail
            out.append(f"change feed: {self.puller.last_error}{f' ({detail})' if detail else ''}")
        if self.uploader.problem:
            out.append(f"upload: {self.uploader.problem}")
        if self.controller.outbox_error:
            out.append(f"outbox: {self.controller.outbox_error}")
        elif waiting := self.outbox.waiting:
            out.append(
                f"outbox: {waiting} lane change{'s' if waiting != 1 else ''} waiting to be"
                " written: the displays fail closed"
            )
        refused = self._refused()
        if refused:
            out.append(
                f"outbox: {refused} record{'s' if refused != 1 else ''} refused by the centre"
                " (kept; sent again at the next start)"
            )
        quarantined = self._quarantined()
        if quarantined:
            out.append(
                f"outbox: {quarantined} unreadable lane state{'s' if quarantined != 1 else ''}"
                " kept aside (its quarantine table)"
            )
        for worker in self.workers:
            if not worker.alive:
                out.append(f"worker {worker.name} down: {worker.error}")
            elif worker.error:
                out.append(f"worker {worker.name} restarted {worker.restarts}x: {worker.error}")
        if self.bus is not None and not self.bus.connected.is_set():
            why = self.bus.problem  # a refusal, a TLS certificate, a scheme: rocars.bus
            out.append(f"broker not connected: {why}" if why else "broker not connected")
        if self.api_problem:
            out.append(self.api_problem)
        if self.inspection_log is not None and self.inspection_log.problem:
            out.append(
                f"trucks told INSPECT not kept in {self.config.inspections_path.name}"
                f"{' (nor shared with the other shards)' if self.config.shard else ''}: "
                f"{self.inspection_log.problem}"
            )
        if self.api is not None and self.api.tls is not None:
            out.extend(self.api.tls.problems(self._clock()))
        if self.broker_cert is not None:
            out.extend(self.broker_cert.problems(self._clock()))
        unclaimed = self.unclaimed_lanes()
        if unclaimed:
            out.append(
                f"lanes {','.join(unclaimed)}: a plate reader is online but no agent of the "
                "site controls the lane (its trucks get no instruction: check the lanes of "
                "each agent's sync.toml)"
            )
        for agent, lanes in sorted(self.lane_conflicts().items()):
            out.insert(
                0, f"lanes {','.join(sorted(lanes))} also claimed by {agent}: all lanes stop"
            )
        return out

    # -- other agents of the site ------------------------------------------------------

    def _on_peer_status(self, topic: str, payload: bytes) -> None:
        """Every agent's status (paho's thread): note another agent claiming our lanes."""
        try:
            status = parse(SyncStatus, payload)
        except BadPayload as err:
            logger.warning("dropped sync status on %s: %s", topic, err)
            return
        if not status.agent:
            return
        age = abs((self._clock() - status.ts).total_seconds())
        if age > self._claim_window:
            return  # a retained one, or a will stamped when its agent connected
        if status.agent != self.config.client_id:
            with self._claims_lock:
                if len(self._peers) < MAX_HEARD or status.agent in self._peers:
                    self._peers[status.agent] = (time.monotonic(), frozenset(status.lanes))
        claimer = status.agent
        if status.agent == self.config.client_id:
            # our own status comes back; another run's is a second process with this
            # agent's config (a copied sync.toml on a second PC, a unit started twice):
            # the broker lets one client id connect at a time, so the two take turns, each
            # answering reads while it is connected; its lanes are every lane of ours
            if not status.instance or status.instance == self.instance:
                return
            if status.ts <= self.started_at:
                return  # an earlier run's (its last status, its will): a restart
            claimer = f"{status.agent} (another process with this config, run {status.instance})"
            mine = frozenset(self.controller.lanes)
        else:
            mine = frozenset(self.controller.lanes) & frozenset(status.lanes)
        with self._claims_lock:
            if mine and claimer not in self._claims:
                logger.error(
                    "agent %s (on %s) also controls lanes %s: every lane of this agent stops "
                    "until one of the two configs is fixed",
                    claimer,
                    topic,
                    ",".join(sorted(mine)),
                )
            if mine:
                self._claims[claimer] = (time.monotonic(), mine)

    def _on_reader_status(self, topic: str, payload: bytes) -> None:
        """A plate reader's status (paho's thread): note one on a lane not this agent's."""
        try:
            lane = parse_lane_topic(topic).lane
            if lane in self.controller.lanes:
                return
            status = parse(DeviceStatus, payload)
        except BadPayload as err:
            logger.debug("dropped device status on %s: %s", topic, err)
            return
        fresh = abs((self._clock() - status.ts).total_seconds()) <= READER_SEEN_S
        with self._claims_lock:
            if status.state == "online" and fresh:
                if len(self._readers) < MAX_HEARD or lane in self._readers:
                    self._readers[lane] = time.monotonic()
            else:  # gone (its will, a clean stop), or a retained status from long ago
                self._readers.pop(lane, None)

    def unclaimed_lanes(self) -> list[str]:
        """Lanes whose plate reader is online (a status within ``READER_SEEN_S``) that
        neither this agent nor any other heard from lately controls.

        Each agent subscribes to its own lanes only when it is one of several (shards), so
        a lane left out of every config has no agent to say its reads go unanswered; its
        display shows the lane offline, and this says why."""
        now = time.monotonic()
        window = self._claim_window
        with self._claims_lock:
            self._readers = {
                lane: seen for lane, seen in self._readers.items() if now - seen <= READER_SEEN_S
            }
            self._peers = {a: p for a, p in self._peers.items() if now - p[0] <= window}
            claimed = [lanes for _, lanes in self._peers.values()]
            readers = set(self._readers)
        if any(not lanes for lanes in claimed):
            return []  # an agent that does not name its lanes controls every lane
        return sorted(readers.difference(*claimed).difference(self.controller.lanes))

    @property
    def _claim_window(self) -> float:
        """How long another agent's status counts as its claim (by its ``ts``, and since it
        came): ``PEER_CLAIM_S`` and two of this agent's heartbeat intervals."""
        return PEER_CLAIM_S + 2 * self.config.status_interval_s

    def lane_conflicts(self) -> dict[str, frozenset[str]]:
        """Other agents that claimed lanes of this one recently: their client id -> lanes.

        Two agents publishing instructions for one lane would each run its state machine
        and the display would show whichever spoke last; while a conflict stands this agent
        says ``offline`` (so does the other), and every display of both fails closed.
        """
        now = time.monotonic()
        with self._claims_lock:
            stale = [a for a, (seen, _) in self._claims.items() if now - seen > self._claim_window]
            for agent in stale:
                logger.warning("agent %s no longer claims lanes of this agent", agent)
                del self._claims[agent]
            return {agent: lanes for agent, (_, lanes) in self._claims.items()}

    def status(self) -> SyncStatus:
        """The heartbeat. ``offline`` also while the outbox cannot write: the lanes then
        decide but cannot record, nothing they decide is published, and the displays must
        fail closed at once rather than keep the last instruction until it expires. And
        while another agent claims lanes of this one (``lane_conflicts``)."""
        offline = bool(self.controller.outbox_error or self.outbox.waiting or self.lane_conflicts())
        return self._sync_status(
            state="offline" if offline else "online",
            central="up" if self.link.up else "down",
            last_sync_at=self._last_sync(),
            bundles=self._bundle_count(),
            outbox_depth=self._depth(),
            detail="; ".join(self.problems())[:512],
        )

    def publish_status(self) -> None:
        """The heartbeat; back online after an offline of its own, every lane's instruction
        again: a display drops what it held at an offline (docs/displays.md), and would
        otherwise show STOP until that lane's next instruction (an idle lane: for good)."""
        if self.bus is None or not self._resumed():
            # not connected: the broker says the will; not online before the lanes'
            # instructions are republished (``_on_connection``)
            return
        with self._status_lock:
            if self._status_ended:
                return  # after stop's offline, an online would stand retained
            status = self.status()
            with self._link_lock:
                # still up, as told, while it goes to paho: a heartbeat checked before the
                # link went and handed over after paho had made the next connection went
                # out on it before its CONNACK, online ahead of the kept reads (found in
                # review). Told down meanwhile (paho's thread waits for this), paho drops
                # it with the old connection's packets.
                if not self._bus_up or self._resuming:
                    return
                # QoS 0: paho neither queues it nor sends it again. At QoS 1 a heartbeat
                # written into a link gone silent was sent again at the next CONNACK,
                # before the reads the broker kept (and a display took a second-old
                # online for fresh: found in review); the next one follows in a second
                self.bus.publish(self.status_topic, status.to_bytes(), qos=0, retain=True)
            back = self._said_offline and status.state == "online"
            self._said_offline = status.state == "offline"
            if back:
                logger.info("online again: every lane's instruction published again")
                self.controller.republish()

    def _status_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.publish_status()
            if self._status_now.wait(self.config.status_interval_s):
                self._status_now.clear()

    def _api_loop(self, stop: threading.Event) -> None:
        """The local API's upkeep, off the heartbeat's thread (a start may take seconds):
        a renewed certificate taken up, a start that failed tried again."""
        while not stop.wait(API_UPKEEP_S):
            if self.api is not None and self.api.tls is not None:
                self.api.tls.refresh()  # two stat() calls when nothing changed
            elif self._api_retry is not None and time.monotonic() >= self._api_retry:
                self._start_api()

    def _central_loop(self, stop: threading.Event) -> None:
        """The centre's state between shards, through the replica they share: the pulling
        agent records its view when it changes (and "down" when it stops, ``stop``); the
        others take it up within a second (their lanes mark what they decide while the
        centre is down as offline), and take a record of "up" as down once the pulling
        shard has not caught the replica up for longer than it would (``FOLLOW_MARGIN_S``):
        a pulling shard that dies records nothing more."""
        recorded: tuple[bool, str] | None = None
        config = self.config
        silent_after = config.pull_interval_s + config.central.timeout_s + FOLLOW_MARGIN_S
        while not stop.is_set():
            try:
                if self.config.pull:
                    state = self.link.state()
                    if (state.up, state.error) != recorded:
                        self.replica.record_central(state.up, state.since, state.error)
                        recorded = (state.up, state.error)
                else:
                    found = self.replica.central()
                    if found is None:
                        self.link.mark_down("no shard has recorded the centre's state yet")
                    else:
                        self.link.follow(
                            LinkState(*found), self._last_sync(), silent_after_s=silent_after
                        )
            except ReplicaError as err:
                logger.error("central state through the replica: %s", err)
                recorded = None
                if not self.config.pull:  # what cannot be read is not "up"
                    self.link.mark_down("the centre's recorded state is unreadable")
            stop.wait(1.0)

    def _last_sync(self) -> datetime | None:
        try:
            return self.replica.last_sync_at()
        except ReplicaError:
            return None

    def _age(self, last: datetime | None) -> float | None:
        return None if last is None else (self._clock() - last).total_seconds()

    def _bundle_count(self) -> int:
        # count(*) over a million rows costs milliseconds: once every 10 s is enough
        at, count = self._bundles_cache
        if time.monotonic() - at > 10 or (count == 0 and time.monotonic() - at > 1):
            try:
                count = self.replica.count_bundles()
            except ReplicaError:
                return count
            self._bundles_cache = (time.monotonic(), count)
        return count

    def _depth(self) -> int:
        try:
            return self.outbox.depth()
        except OutboxError:
            return 0

    def _oldest_pending_age(self) -> float | None:
        try:
            return self._age(self.outbox.oldest_pending_at())
        except OutboxError:
            return None

    def _register_gauges(self) -> None:
        m = self.metrics
        m.gauge("rocars_sync_outbox_depth", self._depth)
        m.gauge("rocars_sync_outbox_oldest_pending_seconds", self._oldest_pending_age)
        m.gauge("rocars_sync_outbox_refused", self._refused)
        m.gauge("rocars_sync_outbox_quarantined", self._quarantined)
        m.gauge("rocars_sync_replica_bundles", self._bundle_count)
        m.gauge("rocars_sync_replica_age_seconds", lambda: self._age(self._last_sync()))
        m.gauge("rocars_sync_central_up", lambda: float(self.link.up))
        m.gauge(
            "rocars_sync_broker_connected",
            lambda: float(self.bus is not None and self.bus.connected.is_set()),
        )
        if self.inspection_log is not None:  # a shard's (sync/inspection_log.py)

            def shared(read: Callable[[InspectionLog], float]) -> Callable[[], float | None]:
                return lambda: None if self.inspection_log is None else read(self.inspection_log)

            m.gauge("rocars_sync_inspections_written_total", shared(lambda log: log.written))
            m.gauge("rocars_sync_inspections_taken_total", shared(lambda log: log.taken))
            m.gauge("rocars_sync_inspections_dropped_total", shared(lambda log: log.dropped))
            m.gauge("rocars_sync_inspections_waiting", shared(lambda log: log.waiting))
            m.gauge("rocars_sync_inspections_shared", shared(lambda log: float(not log.problem)))

    # -- the API's view ----------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        last = self._last_sync()
        age = self._age(last)
        link = self.link.state()
        problems = self.problems()
        return {
            "ok": not problems,
            "problems": problems,
            "cp": self.config.site.cp.value,
            "direction": self.config.site.direction.value,
            "shard": self.config.shard,
            "pulls": self.config.pull,
            "central": {
                "state": "up" if link.up else "down",
                "since": to_rfc3339(link.since),
                "error": link.error,
            },
            "replica": {
                "last_sync_at": None if last is None else to_rfc3339(last),
                "age_s": age,
                "max_age_s": self.config.replica_max_age_s,
                "bundles": self._bundle_count(),
            },
            "outbox": {
                "depth": self._depth(),
                # seconds since the oldest record waiting ended (None: none waits)
                "oldest_pending_age_s": self._oldest_pending_age(),
                "rejected": self._rejected(),
                "refused": self._refused(),
                "quarantined": self._quarantined(),
                "commits": self.outbox.commit_stats(),
                "durability": self.outbox.durability,
                "flush_interval_s": self.outbox.flush_interval_s,
                "flushes": self.outbox.flush_stats(),
                "journal": self.outbox.journal_stats(),
                # the most bytes an upload carries now (None: only upload_batch bounds
                # it); learned from the centre's or a proxy's refusals
                "upload_body_budget": self.uploader.body_budget,
            },
            "api": self._api_health(),
            "broker": {
                "url": self.broker_url,
                "connected": self.bus is not None and self.bus.connected.is_set(),
            },
            "workers": {
                w.name: {"alive": w.alive, "restarts": w.restarts, "error": w.error}
                for w in self.workers
            },
            "lanes": {name: lane.code.value for name, lane in self.controller.lanes.items()},
        }

    def _api_health(self) -> dict[str, Any]:
        tls = None if self.api is None else self.api.tls
        return {
            "url": self.api_url,
            "tls": None
            if tls is None
            else {"names": tls.names, "ends": to_rfc3339(tls.end), "problem": tls.problem},
        }

    def _rejected(self) -> int:
        try:
            return self.outbox.count("rejected")
        except OutboxError:
            return 0

    def _refused(self) -> int:
        try:
            return self.outbox.count("refused")
        except OutboxError:
            return 0

    def _quarantined(self) -> int:
        try:
            return self.outbox.quarantine_count()
        except OutboxError:
            return 0

    def metrics_text(self) -> str:
        return self.metrics.render()

    def records(self, limit: int, lane: str | None) -> list[StoredRecord]:
        """The newest records as stored, for ``/records`` to read one by one: a row that
        does not read is kept in the outbox, and must not hide the others."""
        try:
            return self.outbox.stored(limit, lane)
        except OutboxError as err:
            raise SyncError(str(err), key="outbox_unreadable") from err

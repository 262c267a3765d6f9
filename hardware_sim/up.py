"""``rocars-edge up``: a whole simulated control point on one machine.

The embedded broker (unless ``--broker``), the simulated centre, the sync agent, the
displays and the kiosk, and a traffic scenario of trucks. Each truck's journey is printed
as it happens; ``--headless`` runs the screens offscreen; ``--trucks N`` ends after N
trucks with one JSON line.

Every child (the centre, the displays, the kiosk) runs in a session of its own: a Ctrl-C
at the terminal (or ``timeout``) reaches this process alone, which lets the trucks on
the lanes finish, prints the summary and then stops them. A second Ctrl-C stops at once
(the children are still stopped); a third is not caught. Without ``--data`` the run's
temporary folder (the demo CA's key, the drivers' certificates) is removed at the end.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from avrs_adapter.aggregator import Aggregator
from avrs_adapter.observation import Source
from avrs_adapter.publisher import AvrsPublisher
from avrs_adapter.serial_source import SerialSource
from hardware_sim.dropbox import SimulatedDropBox
from hardware_sim.launch import CentralProcess, CentralStartCancelled, child_process_options
from hardware_sim.lpr_device import VirtualLpr
from hardware_sim.scenario import (
    DUE_MARGIN,
    EXPECTED,
    Journey,
    LaneDriver,
    Reporter,
    Scenario,
    Truck,
    camera_sender,
    lpr_sender,
    plan_trucks,
    publish_read,
)
from hardware_sim.synthetic_camera import LiveCamera
from rocars.broker import EmbeddedBroker, free_port
from rocars.bus import Bus
from rocars.config import secret
from rocars.errors import BadPayload, RocarsError
from rocars.ids import ControlPoint, Direction
from rocars.lanekey import LANE_KEY_ENV, format_lane_key
from rocars.messages import DeviceStatus, Instruction, InstructionCode, parse
from rocars.timeutil import HK_TZ, in_hk, parse_rfc3339, utc_now
from rocars.topics import READER_DEVICE, LaneTopic, lane_filter
from sync.agent import SyncAgent
from sync.config import SyncConfig, shard_blocks

logger = logging.getLogger(__name__)

C = InstructionCode

#: how long the centre may fail to answer before the summary calls it unreachable
UNREACHABLE_AFTER_S = 5.0

#: the signals that stop a run: the first lets the lanes finish, the second stops at once
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

#: the most demo trucks of a kind the centre seeds (``CentralConfig.trucks_per_kind``)
MAX_TRUCKS_PER_KIND = 1000

#: the seeded trucks of each kind of a run without ``--trucks``
TRUCKS_PER_KIND = 200

#: the centre's database in ``--data``: there, an earlier run's
CENTRAL_DB = Path("central") / "central.sqlite3"

#: the plate readers' settle time: their reads of one truck come together
READER_SETTLE_S = 0.3


class UsageError(RocarsError):
    """An option or setting ``up`` cannot run with (exit 2)."""

    key = "up_usage"


class StartupStopped(RocarsError):
    """A stop signal came before the trucks began: the run ends without a summary."""

    key = "up_stopped"


@dataclass(frozen=True)
class Child:
    """A process ``up`` started, as a start-up wait watches it."""

    name: str
    log: Path
    exit_code: Callable[[], int | None]


class Startup:
    """What the start-up waits check between two polls: a stop signal (they end at once)
    and the children started so far (one that exited ends the run, naming it)."""

    def __init__(self, stop: threading.Event, *, logs_kept: bool = True) -> None:
        self.stop = stop
        self.children: list[Child] = []
        #: False: the logs go with the run's temporary folder; the error shows their end
        self.logs_kept = logs_kept

    def watch(self, name: str, log: Path, exit_code: Callable[[], int | None]) -> None:
        self.children.append(Child(name, log, exit_code))

    def exited(self) -> list[Child]:
        """The children that have exited (after start-up: a screen that died mid-run)."""
        return [child for child in self.children if child.exit_code() is not None]

    def check(self) -> None:
        if self.stop.is_set():
            raise StartupStopped("stopped while the control point was starting")
        for child in self.children:
            code = child.exit_code()
            if code is not None:
                how = f"exited with code {code}"
                if code < 0:
                    how += f" (killed by {_signal_name(-code)})"
                where = f" {child.log}" if self.logs_kept else ""
                raise RocarsError(
                    f"{child.name} {how} while the control point was starting; "
                    f"the end of its log{where}:\n{_tail(child.log)}"
                )


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        return f"(cannot read it: {err.strerror or err})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


class JourneyPrinter(Reporter):
    """One line per step, prefixed with time, lane and truck, flushed at once."""

    def __init__(self, out: Any = None) -> None:
        self._out = out or sys.stdout
        self._lock = threading.Lock()
        self.codes: Counter[str] = Counter()

    def _line(self, lane: str, truck: Truck, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        plate = truck.vrn or "-"
        with self._lock:
            print(f"{stamp} {lane} #{truck.n:<3} {plate:<9} {text}", file=self._out, flush=True)

    def arrived(self, lane: str, truck: Truck) -> None:
        read = f"plate read {truck.read} ({truck.confidence:.2f})" if truck.read else "plate unread"
        alts = ", ".join(f"{v} ({c:.2f})" for v, c in truck.alternates)
        self._line(
            lane, truck, f"arrives [{truck.kind}] {read}" + (f", also {alts}" if alts else "")
        )

    def instruction(self, lane: str, truck: Truck, ins: Instruction) -> None:
        with self._lock:
            self.codes[ins.code.value] += 1
        extra = ""
        if ins.bay:
            extra += f" bay {ins.bay}"
        if ins.earliest_at:
            extra += f" earliest {in_hk(ins.earliest_at):%H:%M} HKT"
        if ins.ubr:
            extra += f" ubr {ins.ubr}"
        self._line(lane, truck, f"  -> {ins.code.value}{extra}")

    def action(self, lane: str, truck: Truck, what: str) -> None:
        self._line(lane, truck, f"  <- driver {what}")

    def notice(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            print(f"{stamp} !! {text}", file=self._out, flush=True)

    def finished(self, journey: Journey) -> None:
        truck = journey.truck
        strays = [c.value for c in journey.strays if c is not C.READY]
        if strays:
            self._line(journey.lane, truck, f"  !! before it came, stray {', '.join(strays)}")
        if journey.error is not None:
            self._line(journey.lane, truck, f"  !! driver failed: {journey.error}")
        if journey.timed_out:
            self._line(journey.lane, truck, "  !! lane never returned to READY")
        problem = journey.problem
        verdict = (
            ""
            if problem is None
            else f"  UNEXPECTED: {problem} (wanted {_names(EXPECTED[truck.kind])})"
        )
        record = journey.record
        if record is None:
            self._line(journey.lane, truck, f"  record: NOT FOUND{verdict}")
            return
        read = journey.read_plate or "no plate"
        device = (record.get("plate_reads") or [{}])[0].get("device", "?")
        self._line(
            journey.lane,
            truck,
            f"  record {record['id']}: read {read} by {device}, "
            f"outcome {record['outcome']}, reason {record['reason']}, "
            f"{_plural(len(record.get('instructions', [])), 'instruction')}, "
            f"offline {'yes' if record.get('offline') else 'no'}{verdict}",
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _names(codes: frozenset[InstructionCode]) -> str:
    return "/".join(sorted(c.value for c in codes))


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """``name`` set to ``value`` in this process (and so its children) until the exit."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes (displays, kiosk) stopped by pid on the way out."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _agent_configs(
    args: argparse.Namespace, broker_url: str, central: CentralProcess, data: Path
) -> list[SyncConfig]:
    """One agent for every lane, or ``--shards N``: shards s1..sN with the lanes in
    contiguous blocks, one data folder; s1 pulls the replica and serves the kiosk."""
    lanes = [
        {
            "id": f"L{i:02d}",
            "manifest_required": args.manifest_lanes == "all"
            or (args.manifest_lanes == "odd" and i % 2 == 1),
            "timeout_s": args.lane_timeout,
            "hold_s": args.hold,
        }
        for i in range(1, args.lanes + 1)
    ]
    configs: list[SyncConfig] = []
    for k, block in enumerate(shard_blocks(lanes, args.shards)):
        shard = {"shard": f"s{k + 1}", "pull": k == 0} if args.shards > 1 else {}
        try:
            config = SyncConfig.model_validate(
                {
                    "site": {"cp": args.cp, "direction": args.direction},
                    "central": {"url": central.url},
                    # amqtt keeps no session (and says it found one after a clearing)
                    "bus": {"url": broker_url, "keep_session": bool(args.broker)},
                    "data_dir": str(data / "sync"),
                    "lanes": block,
                    "api": {"host": "127.0.0.1", "port": free_port(), "kiosk": k == 0},
                    **shard,
                }
            )
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
            )
            raise UsageError(f"the sync agent cannot run with these options: {problems}") from err
        configs.append(config)
    return configs


def trucks_per_kind(trucks: int | None) -> int:
    """The demo trucks of each kind the centre seeds for a run of ``trucks`` (None: until
    stopped): a round of every kind for each ten trucks and two spare, at most what the
    centre seeds. Past that the one-use kinds drop out (the journeys say which)."""
    wanted = trucks // len(EXPECTED) + 2 if trucks else TRUCKS_PER_KIND
    return min(MAX_TRUCKS_PER_KIND, max(2, wanted))


def run(args: argparse.Namespace) -> int:
    """The whole run; returns the exit code. A stop signal (SIGINT, SIGTERM, SIGHUP) lets
    the lanes finish; a second one raises KeyboardInterrupt, so everything is still
    stopped on the way out. The temporary data folder (no ``--data``) is removed."""
    temporary = not args.data
    data = Path(tempfile.mkdtemp(prefix="rocars-up-")) if temporary else Path(args.data)
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signum)
        if stop.is_set():
            for sig in STOP_SIGNALS:  # a third signal is not caught
                signal.signal(sig, signal.SIG_DFL)
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        return _run(args, data, stop)
    except StartupStopped:
        name = _signal_name(received[0]) if received else "a signal"
        print(f"rocars-edge up: stopped by {name} before the trucks began", file=sys.stderr)
        return 128 + (received[0] if received else signal.SIGTERM)
    except KeyboardInterrupt:  # the second signal; everything started is stopped by now
        name = _signal_name(received[-1]) if received else "SIGINT"
        print(f"rocars-edge up: stopped at once by a second {name}", file=sys.stderr)
        return 128 + (received[-1] if received else signal.SIGINT)
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, handler)
        if temporary:
            shutil.rmtree(data, ignore_errors=True)


def _run(args: argparse.Namespace, data: Path, stop: threading.Event) -> int:
    os.environ.setdefault("ROCARS_SITE_SECRET", secrets.token_hex(32))
    site_secret = secret("site_secret").encode()
    startup = Startup(stop, logs_kept=bool(args.data))

    per_kind = trucks_per_kind(args.trucks)
    with ExitStack() as stack:
        if args.broker:
            broker_url = args.broker
        else:
            broker = EmbeddedBroker()
            broker.start()
            stack.callback(broker.stop)
            broker_url = broker.url
        central = CentralProcess(
            data / "central",
            seed=args.seed,
            cp=args.cp,
            direction=args.direction,
            trucks_per_kind=per_kind,
            inspect_share=0.0,
        )
        # this run's centre knows only its own token: an engineer's real one, set in this
        # shell, would get every upload of the agent refused (401)
        stack.enter_context(_environ("ROCARS_CENTRAL_TOKEN", central.token))
        try:
            central.start(cancel=stop)
        except CentralStartCancelled as err:
            raise StartupStopped(str(err)) from err
        stack.callback(central.stop)
        startup.watch("the simulated centre", central.log_path, lambda: central.exit_code)
        #: the local API of the agent of each lane (the first agent's serves the kiosk)
        lane_api: dict[str, str] = {}
        for k, config in enumerate(_agent_configs(args, broker_url, central, data)):
            startup.check()
            # the lanes' random choices (the unladen trucks sampled for inspection) follow
            # --seed: a run is repeatable
            agent = SyncAgent(config, rng=random.Random(f"{args.seed}/sync/{k}"))
            agent.start()
            stack.callback(agent.stop)
            agent_api = f"http://127.0.0.1:{config.api.port}"
            _wait_synced(agent_api, timeout=60, check=startup.check)
            lane_api.update({lane.id: agent_api for lane in config.lanes})
        api = lane_api["L01"]
        procs = stack.enter_context(_processes())
        boxes = _start_screens(args, site_secret, broker_url, api, procs, data, stack, startup)

        bus = Bus(broker_url, f"scenario-{os.getpid()}")
        printer = JourneyPrinter()

        def fetch_record(journey: Journey) -> dict[str, Any] | None:
            return _find_record(lane_api[journey.lane], journey)

        lanes = [f"L{i:02d}" for i in range(1, args.lanes + 1)]
        senders = _start_readers(args, bus, broker_url, lanes, data, stack, startup)
        drivers = [
            LaneDriver(
                bus,
                ControlPoint.parse(args.cp),
                lane,
                site_secret,
                printer,
                fetch_record,
                journey_timeout=args.lane_timeout + args.hold + 15,
                send_plate=senders.get(lane),
                drop_manifest=boxes[lane].drop if lane in boxes else None,
            )
            for lane in lanes
        ]
        bus.start()
        stack.callback(bus.stop)
        _wait_until(
            bus.wait_connected,
            15,
            lambda: f"scenario could not reach the broker at {broker_url}",
            check=startup.check,
        )
        startup.check()
        trucks = _fetch_trucks(central)
        sharded = f" over {args.shards} agents (shards)" if args.shards > 1 else ""
        print(
            f"control point {args.cp} ({args.direction}), {args.lanes} lanes{sharded}, broker "
            f"{broker_url}, centre {central.url}, local API {api}, data {data}"
            + (" (removed at the end)" if not args.data else ""),
            flush=True,
        )
        journey_s = args.lane_timeout + args.hold + 15
        plan = plan_trucks(
            trucks,
            args.seed,
            too_early=CentreBundles(central, args.cp, args.direction, trucks),
            # a truck may wait for its lane while the one before goes through
            due_margin=max(DUE_MARGIN, timedelta(seconds=3 * journey_s)),
            notice=printer.notice,
        )
        scenario = Scenario(drivers, plan, reporter=printer)
        journeys = scenario.run(args.trucks, stop)
        summary = _summary(
            journeys, printer, api, central, wanted=args.trucks, stopped=stop.is_set()
        )
        dead = report_exited(startup)
        if dead:
            summary["exited"] = dead
        print(json.dumps(summary, sort_keys=False), flush=True)
        return exit_code(summary)


def _start_readers(
    args: argparse.Namespace,
    bus: Bus,
    broker_url: str,
    lanes: list[str],
    data: Path,
    stack: ExitStack,
    startup: Startup,
) -> dict[str, Callable[[Truck], None]]:
    """Per lane, a real AVRS adapter reading a virtual LPR camera on a pty, or (the last
    ``--cameras`` lanes) a synthetic camera through OCR. ``--plates direct``: neither."""
    if args.plates == "direct":
        return {}
    senders: dict[str, Callable[[Truck], None]] = {}
    cp = ControlPoint.parse(args.cp)
    for index, lane in enumerate(lanes):
        source: Source
        if index >= len(lanes) - args.cameras:
            from avrs_adapter.camera import CameraSource  # OpenCV + OCR: only for cameras

            camera = LiveCamera(seed=args.seed + index).start()
            stack.callback(camera.stop)
            source = CameraSource(camera.url, device="cam0", grammar="hk")
            # the camera reads the Mainland plate a few frames after the HK one
            aggregator = Aggregator(settle=1.0, window=3.0, decisive_reads=4)
            fallback = functools.partial(publish_read, bus, cp, lane)
            senders[lane] = camera_sender(camera, fallback)
        else:
            lpr = VirtualLpr(data / "lpr" / lane, args.plates).start()
            stack.callback(lpr.stop)
            source = SerialSource(str(lpr.path), args.plates, 9600, "lpr0")
            # the demo sends the next truck right after READY: a debounce window shorter
            # than a lane's hold keeps two trucks apart (a real lane's are ~30 s apart)
            # (a hold shorter than the settle time: the settle time too, as a window is
            # never shorter; the reads of one truck come together, so it still gets them)
            window = min(1.0, args.hold)
            aggregator = Aggregator(settle=min(READER_SETTLE_S, window), window=window)
            senders[lane] = lpr_sender(lpr)
        # the URL as given: mqtts:// (TLS) and an IPv6 host in brackets stay so
        adapter = AvrsPublisher(
            source, cp=args.cp, lane=lane, broker_url=broker_url, aggregator=aggregator
        )
        adapter.start()
        stack.callback(adapter.stop)
    _wait_online(
        broker_url, args.cp, lanes, READER_DEVICE, "plate readers", 60, check=startup.check
    )
    return senders


def _start_screens(
    args: argparse.Namespace,
    site_secret: bytes,
    broker_url: str,
    api: str,
    procs: list[subprocess.Popen[bytes]],
    data: Path,
    stack: ExitStack,
    startup: Startup,
) -> dict[str, SimulatedDropBox]:
    """XDB and AIOP (with a simulated drop box) per lane and one kiosk, each its own
    process, offscreen when headless. Returns the drop boxes the scenario drops into."""
    if args.no_screens:
        return {}
    # as at a site: no screen holds the site secret; each board and panel is given its
    # own lane's key (rocars.lanekey), the kiosk none
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ROCARS_SITE_SECRET", LANE_KEY_ENV))
    }
    if args.headless:
        env["QT_QPA_PLATFORM"] = "offscreen"
    exe = [sys.executable, "-m", "rocars.cli"]
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    window = ["--headless"] if args.headless else ["--window"]
    boxes: dict[str, SimulatedDropBox] = {}
    commands: list[tuple[str, list[str], dict[str, str]]] = []
    for i in range(1, args.lanes + 1):
        lane = f"L{i:02d}"
        box = SimulatedDropBox(data / "dropbox" / lane).start()
        stack.callback(box.stop)
        boxes[lane] = box
        common = ["--lane", lane, "--cp", args.cp, "--broker", broker_url]
        key = {LANE_KEY_ENV: format_lane_key(site_secret, args.cp, lane)}
        commands.append((f"xdb-{lane}", [*exe, "xdb", *common, *window], key))
        aiop = [*exe, "aiop", *common, "--dropbox", str(box.path)]
        commands.append((f"aiop-{lane}", aiop + (["--headless"] if args.headless else []), key))
    # the receipts stay in the run's folder (removed with it unless --data)
    receipts = data / "kiosk-print"
    receipts.mkdir(exist_ok=True)
    kiosk = [*exe, "kiosk", "--api", api, "--window", "--print-dir", str(receipts)]
    commands.append(("kiosk", kiosk, {}))
    for name, cmd, own in commands:
        path = logs / f"{name}.log"
        with path.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                env=env | own,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                **child_process_options(),
            )
        procs.append(proc)
        startup.watch(name, path, proc.poll)
    lanes = [f"L{i:02d}" for i in range(1, args.lanes + 1)]
    _wait_online(
        broker_url,
        args.cp,
        lanes,
        "aiop",
        "panels",
        60,
        check=startup.check,
        log_of=lambda lane: logs / f"aiop-{lane}.log",
    )
    return boxes


def _wait_online(
    broker_url: str,
    cp: str,
    lanes: list[str],
    device: str,
    what: str,
    timeout: float,
    *,
    check: Callable[[], None] | None = None,
    log_of: Callable[[str], Path] | None = None,
) -> None:
    """Until every lane's ``device`` says online on the bus. The panels: before that a drop
    into a box is lost. The plate readers: before that a read waits in the reader for its
    connection, and reaches the lane too late to be trusted (``late_read``).

    ``check`` is called between polls (every 0.2 s): what it raises ends the wait.
    ``log_of(lane)``: the device's log, whose end the timeout's error shows for each lane
    that did not come online (a process stuck connecting says why only there)."""
    online: set[str] = set()
    done = threading.Event()
    # a retained "online" left on an outside broker by a run before this one is not ours
    began = datetime.now(UTC) - timedelta(seconds=5)

    def on_status(topic: str, payload: bytes) -> None:
        try:
            status = parse(DeviceStatus, payload)
        except BadPayload:
            return
        if status.state == "online" and status.ts >= began:
            online.add(topic.split("/")[3])
            if online >= set(lanes):
                done.set()

    bus = Bus(broker_url, f"up-wait-{device}-{os.getpid()}")
    bus.subscribe(lane_filter(cp, LaneTopic.STATUS, device=device), on_status)
    bus.start()
    try:

        def failure() -> str:
            late = sorted(set(lanes) - online)
            text = f"the {what} of lanes {late} did not come online within {timeout:g}s"
            for lane in late if log_of is not None else []:
                assert log_of is not None
                text += f"\nthe end of {log_of(lane)}:\n{_tail(log_of(lane))}"
            return text

        _wait_until(done.wait, timeout, failure, check=check)
    finally:
        bus.stop()


def _wait_synced(api: str, timeout: float, check: Callable[[], None] | None = None) -> None:
    """Until the agent sees a synced replica and the centre up (a shard that does not pull:
    as the pulling one recorded it): before that every lane fails closed. ``check`` is
    called between polls: what it raises ends the wait."""

    said: list[str] = []  # what the agent's /health last said was wrong

    def synced(poll: float) -> bool:
        try:
            health = httpx.get(f"{api}/health", timeout=1).json()
            if health["replica"]["last_sync_at"] and health["central"]["state"] == "up":
                return True
            said[:] = [str(p) for p in health.get("problems", [])]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            said[:] = [f"its /health did not answer: {err}"]
        time.sleep(poll)
        return False

    _wait_until(
        synced,
        timeout,
        lambda: (
            f"the sync agent did not sync with the centre within {timeout:g}s"
            + (f" ({'; '.join(said)})" if said else "")
        ),
        check=check,
    )


def _wait_until(
    ready: Callable[[float], bool],
    timeout: float,
    failure: Callable[[], str],
    *,
    check: Callable[[], None] | None = None,
    poll: float = 0.2,
) -> None:
    """Until ``ready(wait)`` says True (it may take up to ``wait`` seconds to say so);
    RocarsError(``failure()``) once ``timeout`` has passed. ``check`` is called between
    polls: what it raises ends the wait (a stop signal, a child that exited)."""
    deadline = time.monotonic() + timeout
    while not ready(min(poll, max(0.0, deadline - time.monotonic()))):
        if check is not None:
            check()
        if time.monotonic() >= deadline:
            raise RocarsError(failure())


def _fetch_trucks(central: CentralProcess) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{central.url}/sim/trucks",
        headers={"Authorization": f"Bearer {central.token}"},
        timeout=10,
    )
    response.raise_for_status()
    trucks: list[dict[str, Any]] = response.json()["trucks"]
    return trucks


class CentreBundles:
    """Fresh too-early trucks for the scenario, through the centre's real API as a shipper
    and a driver make them: cargo submitted for a new plate, then bundled by a demo driver
    (not an immediate one: the bundle is due 30 min later) with password and security
    code. A seeded too-early truck's bundle is due 30 min after the centre began."""

    def __init__(
        self, central: CentralProcess, cp: str, direction: str, trucks: list[dict[str, Any]]
    ) -> None:
        self._central = central
        self._cp = cp
        self._direction = direction
        self._headers = {"Authorization": f"Bearer {central.token}"}
        #: plates taken: the demo's and the fresh ones (a fresh plate has no bundle yet)
        self._plates = {str(t["vrn"]) for t in trucks} | {
            str(t["second_plate"]) for t in trucks if t.get("second_plate")
        }
        self._drivers: list[dict[str, Any]] = []
        self._made = 0
        self._rng = random.Random(f"{central.seed}/fresh-bundles")

    def earliest_at(self, ubr: str) -> datetime:
        return parse_rfc3339(str(self._call("GET", f"/v1/bundles/{ubr}")["earliest_at"]))

    def too_early_truck(self) -> dict[str, Any]:
        if not self._drivers:
            accounts = self._call("GET", "/sim/accounts")["accounts"]
            self._drivers = [
                a for a in accounts if a["cert_case"] == "valid" and not a["immediate"]
            ]
            if not self._drivers:
                raise RocarsError("the centre has no demo driver to bundle with")
        driver = self._drivers[self._made % len(self._drivers)]
        self._made += 1
        vrn = self._new_plate()
        items = {
            "packages": 10,
            "package_description": "CARTONS",
            "article_description": "MOBILE PHONE ACCESSORIES",
            "consignor_name": "SHENZHEN HUAXIN TRADING CO LTD",
            "consignor_address": "NO. 8 INDUSTRIAL ROAD, SHENZHEN, GUANGDONG",
            "consignee_name": "KOWLOON BAY LOGISTICS LTD",
            "consignee_address": "UNIT 5, 12/F, KWAI CHUNG PLAZA, KWAI CHUNG, NT",
            "expected_date": utc_now().astimezone(HK_TZ).date().isoformat(),
            "direction": self._direction,
            "vrn": vrn,
        }
        cargo = self._call("POST", "/v1/cargo", items)
        try:
            code = self._central.security_code(driver)
        except httpx.HTTPError as err:
            raise RocarsError(f"the centre's code clock did not answer: {err}") from err
        bundle = self._call(
            "POST",
            "/v1/bundles",
            {
                "account": driver["account"],
                "password": driver["password"],
                "auth": {"method": "security_code", "code": code},
                "vrn": vrn,
                "cp": self._cp,
                "direction": self._direction,
                "ccrns": [cargo["ccrn"]],
            },
        )
        logger.info("fresh too-early bundle %s for %s", bundle["ubr"], vrn)
        return {
            "vrn": vrn,
            "second_plate": None,
            "kind": "too_early",
            "ubr": str(bundle["ubr"]),
            "account": driver["account"],
        }

    def _new_plate(self) -> str:
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"  # as the demo's: 1-3 digits, never a synthetic
        for _ in range(10_000):
            vrn = "".join(self._rng.choices(letters, k=2)) + str(self._rng.randint(1, 999))
            if vrn not in self._plates:
                self._plates.add(vrn)
                return vrn
        raise RocarsError("no demo plate is left for a fresh bundle")

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        try:
            response = httpx.request(
                method, f"{self._central.url}{path}", json=body, headers=self._headers, timeout=10
            )
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
        except httpx.HTTPStatusError as err:
            raise RocarsError(
                f"{method} {path}: {err.response.status_code} {err.response.text[:200]}"
            ) from err
        except (httpx.HTTPError, ValueError) as err:
            raise RocarsError(f"{method} {path}: {err}") from err
        return answer


def _find_record(api: str, journey: Journey) -> dict[str, Any] | None:
    """The clearance record of this journey: the lane's newest, begun after the truck came."""
    not_before = journey.started_at - timedelta(seconds=1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            response = httpx.get(
                f"{api}/records", params={"lane": journey.lane, "limit": 5}, timeout=2
            )
            records = response.json().get("records", [])
        except (httpx.HTTPError, ValueError):
            records = []
        for record in records:
            if parse_rfc3339(str(record.get("started_at"))) >= not_before:
                return dict(record)
        time.sleep(0.1)
    return None


def _summary(
    journeys: list[Journey],
    printer: JourneyPrinter,
    api: str,
    central: CentralProcess,
    *,
    wanted: int | None = None,
    stopped: bool = False,
) -> dict[str, Any]:
    """Wait for the outbox to drain, then count what reached the centre.

    ``unexpected``: the journeys that did not end as their kind of truck should (see
    ``Journey.problem``), and every instruction other than READY that came on a lane
    between two trucks (``stray`` counts them all). A centre that does not answer:
    ``central`` is ``unreachable`` and every record it did not confirm is lost.
    ``missing``: fewer trucks ran than ``--trucks`` asked for, with no stop signal.
    """
    ids = {str(j.record["id"]) for j in journeys if j.record is not None}
    received: set[str] = set()
    reachable = True
    deadline = time.monotonic() + 30
    failing_since: float | None = None
    while True:
        try:
            received = _central_event_ids(central)
            failing_since = None
        except httpx.HTTPError as err:
            now = time.monotonic()
            failing_since = now if failing_since is None else failing_since
            if now - failing_since >= UNREACHABLE_AFTER_S or now >= deadline:
                logger.error("the centre at %s does not answer: %s", central.url, err)
                reachable = False
                break
        else:
            if ids <= received:
                break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    uploaded = len(ids & received)
    strays = [code for j in journeys for code in j.strays]
    stray_unexpected = sum(1 for code in strays if code is not C.READY)
    codes = dict(sorted(printer.codes.items()))
    summary: dict[str, Any] = {
        "trucks": len(journeys),
        "records": len(ids),
        "uploaded": uploaded,
        "lost": len(journeys) - uploaded,
        "unexpected": sum(1 for j in journeys if not j.expected) + stray_unexpected,
        "stray": len(strays),
    }
    if wanted is not None and not stopped and len(journeys) < wanted:
        summary["missing"] = wanted - len(journeys)
    summary["central"] = "ok" if reachable else "unreachable"
    summary["codes"] = codes
    summary.update({code.value: printer.codes.get(code.value, 0) for code in InstructionCode})
    return summary


def report_exited(startup: Startup) -> list[str]:
    """The children (the centre, the screens, the kiosk) that exited during the run, each
    said on stderr with the end of its log: the journeys watch the bus, not the screens,
    and a display board that died would otherwise leave a clean summary."""
    names = []
    for child in startup.exited():
        code = child.exit_code()
        where = f" {child.log}" if startup.logs_kept else ""
        print(
            f"rocars-edge up: {child.name} exited with code {code} during the run; the end of"
            f" its log{where}:\n{_tail(child.log)}",
            file=sys.stderr,
            flush=True,
        )
        names.append(child.name)
    return names


def exit_code(summary: dict[str, Any]) -> int:
    """0 for a run where every truck went as it should, every record reached the centre
    and nothing ``up`` started exited on the way."""
    clean = (
        summary["lost"] == 0
        and summary["unexpected"] == 0
        and not summary.get("missing")
        and not summary.get("exited")
        and summary.get("central", "ok") == "ok"
    )
    return 0 if clean else 1


def _central_event_ids(central: CentralProcess) -> set[str]:
    ids: set[str] = set()
    since = ""
    for _ in range(1000):
        response = httpx.get(
            f"{central.url}/v1/events",
            params={"since": since, "limit": 1000},
            headers={"Authorization": f"Bearer {central.token}"},
            timeout=10,
        )
        response.raise_for_status()
        body = response.json()
        events = body.get("events", [])
        ids |= {str(e.get("id")) for e in events}
        if not events or body.get("next") in (None, since):
            break
        since = str(body["next"])
    return ids


def _number(
    kind: Callable[[str], float], low: float, high: float | None = None, unit: str = ""
) -> Callable[[str], Any]:
    """An argparse type: a finite number of ``kind`` from ``low`` to ``high``."""
    span = f"from {low:g} to {high:g}" if high is not None else f"{low:g} or more"
    wanted = f"{'a whole number' if kind is int else 'a number'}, {span}{unit}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is not {wanted}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rocars-edge up", description=__doc__)
    parser.add_argument(
        "--headless",
        action="store_true",
        help="the screens (XDB, AIOP, kiosk) run offscreen (QT_QPA_PLATFORM=offscreen), for "
        "a machine without a display; the journeys are printed either way",
    )
    parser.add_argument(
        "--trucks",
        type=_number(int, 1),
        default=None,
        help="end after N trucks (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--seed", type=_number(int, 0), default=7, help="scenario and demo data seed (0 or more)"
    )
    parser.add_argument(
        "--broker",
        default="",
        help="mqtt://HOST:PORT or mqtts://HOST:PORT (default: embedded broker)",
    )
    parser.add_argument("--cp", default="SBC", choices=[cp.value for cp in ControlPoint])
    parser.add_argument("--direction", default="import", choices=[d.value for d in Direction])
    parser.add_argument(
        "--lanes", type=_number(int, 1, 16), default=2, help="number of lanes (1-16)"
    )
    # the ranges of the sync agent's lane settings (sync/config.py, LaneConfig)
    parser.add_argument(
        "--lane-timeout",
        type=_number(float, 1.0, 3600.0, " seconds"),
        default=6.0,
        help="driver action timeout, seconds (1-3600)",
    )
    parser.add_argument(
        "--hold",
        type=_number(float, 0.1, 600.0, " seconds"),
        default=1.5,
        help="seconds a final instruction stays (0.1-600)",
    )
    parser.add_argument(
        "--manifest-lanes",
        default="all",
        choices=["all", "odd", "none"],
        help="lanes that take the paper manifest before releasing (default: all)",
    )
    parser.add_argument(
        "--cameras",
        type=_number(int, 0),
        default=None,
        help="how many lanes (the last ones) read plates with a synthetic camera and OCR "
        "instead of a serial LPR (default 1; 0 with --plates direct, which takes no camera)",
    )
    parser.add_argument(
        "--plates",
        default="framed",
        choices=["framed", "delimited", "nedap", "direct"],
        help="how the serial-reader lanes (all but the --cameras ones) are read: a virtual "
        "LPR camera speaking this protocol to the AVRS adapter (default framed); 'direct': "
        "no reader and no camera on any lane, the scenario publishes PlateRead messages",
    )
    parser.add_argument(
        "--shards",
        type=_number(int, 1),
        default=1,
        help="run the lanes over N sync agents (shards s1..sN; s1 pulls the replica), "
        "to show the contract of docs/architecture.md; in this one process (default 1)",
    )
    parser.add_argument(
        "--data",
        default="",
        help="data folder, kept after the run (default: a new temporary one, removed); a "
        "new or empty one: a folder an earlier run used is refused (its demo data is used "
        "up and its seed fixed)",
    )
    parser.add_argument(
        "--no-screens", action="store_true", help="do not start the XDB, AIOP and kiosk"
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    # the ranges that depend on another option's value (each alone: ``_number``)
    if args.shards > args.lanes:
        print("rocars-edge up: --shards must be 1 to --lanes", file=sys.stderr)
        return 2
    if args.plates == "direct" and args.cameras:
        print(
            "rocars-edge up: --plates direct reads no lane with a reader or camera: "
            "--cameras must be 0 (or left out)",
            file=sys.stderr,
        )
        return 2
    if args.cameras is None:
        args.cameras = 0 if args.plates == "direct" else 1
    if args.cameras > args.lanes:
        print("rocars-edge up: --cameras must be 0 to --lanes", file=sys.stderr)
        return 2
    # the children take the same setting (rocars.logs upper-cases it too)
    level = os.environ.get("ROCARS_LOG_LEVEL", "WARNING").upper()
    if level not in logging.getLevelNamesMapping():
        print(
            f"rocars-edge up: ROCARS_LOG_LEVEL={os.environ['ROCARS_LOG_LEVEL']} is not a log "
            "level (DEBUG, INFO, WARNING, ERROR or CRITICAL)",
            file=sys.stderr,
        )
        return 2
    if args.data:
        try:
            Path(args.data).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            problem = "not a folder" if isinstance(err, FileExistsError) else err.strerror
            print(f"rocars-edge up: --data {args.data}: {problem or err}", file=sys.stderr)
            return 2
        if (Path(args.data) / CENTRAL_DB).exists():
            # the centre seeds a new database only: this one's bundles are used (those
            # trucks would end UNEXPECTED) and its demo data is of the first run's --seed
            print(
                f"rocars-edge up: --data {args.data} holds an earlier run ({CENTRAL_DB}): "
                "its demo data is used up and --seed would not change it; use a new folder",
                file=sys.stderr,
            )
            return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    try:
        return run(args)
    except UsageError as err:
        print(f"rocars-edge up: {err}", file=sys.stderr)
        return 2
    except RocarsError as err:
        print(f"rocars-edge up: {err}", file=sys.stderr)
        return 1

"""The AVRS pipeline: a plate Source on a thread -> Aggregator -> PlateRead on the bus.

``PlateRead`` goes QoS 1 on ``rocars/{cp}/lanes/{lane}/plate``; a retained ``DeviceStatus``
goes on ``status/avrs`` every ``status_interval`` seconds while the broker is connected and
on each connect (``online``, with the source's figures; ``detail`` says what is wrong,
empty when nothing is), and the same topic holds the retained last will (``offline``). A
source that raises or ends is restarted, no more often than its capped backoff allows,
and the status says why.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from avrs_adapter.aggregator import Aggregator
from avrs_adapter.observation import Observation, Source
from rocars.bus import Bus, Will
from rocars.ids import ControlPoint, validate_lane
from rocars.messages import DeviceStatus, PlateRead
from rocars.topics import READER_DEVICE, device_status_topic, plate_topic

logger = logging.getLogger(__name__)

STATUS_DEVICE = READER_DEVICE
MetricValue = float | int | str | None


def _metric(value: Any) -> MetricValue:
    if value is None or isinstance(value, int | float | str):
        return value
    return str(value)


class AvrsPublisher:
    """Runs one Source for one lane until ``stop()``.

    ``bus`` is created from ``broker_url`` unless given (a test or ``rocars-edge up`` may
    share one); the publisher owns and stops a bus it created.
    """

    def __init__(
        self,
        source: Source,
        *,
        cp: ControlPoint | str,
        lane: str,
        broker_url: str = "",
        bus: Bus | None = None,
        aggregator: Aggregator | None = None,
        status_interval: float = 2.0,
        restart_min: float = 1.0,
        restart_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.cp = ControlPoint.parse(cp)
        self.lane = validate_lane(lane)
        self.plate_topic = plate_topic(self.cp, self.lane)
        self.status_topic = device_status_topic(self.cp, self.lane, STATUS_DEVICE)
        self.aggregator = aggregator or Aggregator(clock=clock)
        self.status_interval = status_interval
        self.restart_min = restart_min
        self.restart_max = restart_max
        self._clock = clock
        self._own_bus = bus is None
        self.bus = bus or Bus(
            broker_url,
            f"avrs-{self.cp}-{self.lane}-{os.getpid()}",
            will=self._will,
        )
        self._queue: queue.Queue[Observation] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.published = 0
        self.dropped = 0
        self.source_restarts = 0
        self._source_error = ""
        self._started_at = clock()
        self._last_status_at = clock()
        self._last_sightings = 0

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the bus (if owned), the source thread and the pipeline thread."""
        if self._own_bus:
            self.bus.start()
        self.bus.on_connection(self._on_connection)
        for name, target in (("avrs-source", self._run_source), ("avrs-pipeline", self._run)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads; an owned bus says ``offline`` (retained) and disconnects."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        if self._own_bus:
            self.bus.stop(publish_will=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped (True) or ``timeout`` passes (False)."""
        return self._stop.wait(timeout)

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    # -- status ------------------------------------------------------------------------

    def _will(self) -> Will:
        status = DeviceStatus(state="offline", detail="avrs adapter gone")
        return Will(self.status_topic, status.to_bytes(), retain=True)

    def status(self) -> DeviceStatus:
        """The ``status/avrs`` payload as of now."""
        try:
            figures = dict(self.source.status())
        except Exception as err:  # top-level of a status report: a broken source must not stop it
            logger.exception("source status failed")
            figures = {"ok": False, "problem": f"status failed: {err}"}
        now = self._clock()
        with self._lock:
            elapsed = max(1e-6, now - self._last_status_at)
            sightings = self.aggregator.stats.sightings
            rate = (sightings - self._last_sightings) / elapsed
            self._last_status_at, self._last_sightings = now, sightings
            source_error = self._source_error
        problems = [str(figures.pop("problem", "") or "")]
        healthy = bool(figures.pop("ok", True))
        if source_error:
            problems.append(f"source failed: {source_error}")
        metrics: dict[str, MetricValue] = {k: _metric(v) for k, v in figures.items()}
        metrics.update(
            {
                "reads_per_s": round(rate, 3),
                "published": self.published,
                "dropped": self.dropped,
                "source_restarts": self.source_restarts,
                "uptime_s": round(now - self._started_at, 1),
                "healthy": int(healthy and not source_error),
            }
        )
        metrics.update({f"agg_{k}": v for k, v in self.aggregator.stats.as_dict().items()})
        detail = "; ".join(p for p in problems if p)[:512]
        return DeviceStatus(state="online", detail=detail, metrics=metrics)

    def _publish_status(self) -> None:
        self.bus.publish(self.status_topic, self.status(), qos=1, retain=True)

    def _on_connection(self, up: bool) -> None:
        if up and not self._stop.is_set():
            self._publish_status()  # replace our own will/old status at once

    # -- threads -----------------------------------------------------------------------

    def _run_source(self) -> None:
        backoff = self.restart_min
        while not self._stop.is_set():
            started = self._clock()
            try:
                for obs in self.source.observations(self._stop):
                    self._enqueue(obs)
                    if self._source_error:
                        with self._lock:
                            self._source_error = ""
                if self._stop.is_set():
                    return
                error = "source ended"
            except Exception as err:  # top-level of the source thread: restart it, say why
                logger.exception("plate source failed")
                error = f"{type(err).__name__}: {err}"
            with self._lock:
                self._source_error = error
                self.source_restarts += 1
            if self._clock() - started > self.restart_max:
                backoff = self.restart_min  # it ran well for a while: start again promptly
            logger.warning("plate source stopped (%s); restarting in %.1fs", error, backoff)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.restart_max)

    def _enqueue(self, obs: Observation) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(obs, timeout=0.5)
                return
            except queue.Full:
                self.dropped += 1
                logger.warning("pipeline queue full: dropping the oldest sighting")
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    def _run(self) -> None:
        next_status = self._clock()
        while not self._stop.is_set():
            now = self._clock()
            if now >= next_status:
                # not while the broker is away: queued (QoS 1) every 2 s, an outage's
                # statuses filled the bus's queue (then plate reads were refused), and went
                # out stale before the reads on reconnect. ``_on_connection`` sends a fresh
                # one once the bus is back.
                if self.bus.connected.is_set():
                    try:
                        self._publish_status()
                    except Exception:  # top-level of the pipeline loop: status is best effort
                        logger.exception("publishing status failed")
                next_status = now + self.status_interval
            deadline = self.aggregator.next_deadline()
            wake = next_status if deadline is None else min(deadline, next_status)
            try:
                obs: Observation | None = self._queue.get(timeout=max(0.0, min(wake - now, 0.5)))
            except queue.Empty:
                obs = None
            try:
                reads = self.aggregator.add(obs) if obs is not None else self.aggregator.poll()
                for read in reads:
                    self._publish_read(read)
            except Exception:  # top-level of the pipeline loop: one bad sighting must not stop it
                logger.exception("aggregating a sighting failed")

    def _publish_read(self, read: PlateRead) -> None:
        self.bus.publish(self.plate_topic, read, qos=1)
        self.published += 1
        logger.info("published plate %r (%.2f) on %s", read.vrn, read.confidence, self.plate_topic)

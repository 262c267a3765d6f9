"""The agent's counters and gauges, rendered as Prometheus text (no client library needed)."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable

_HELP = {
    "rocars_sync_plate_reads_total": ("counter", "plate reads handled, by lane"),
    "rocars_sync_instructions_total": ("counter", "instructions published, by code"),
    "rocars_sync_bad_payloads_total": ("counter", "bus messages dropped as malformed, by reason"),
    "rocars_sync_ignored_actions_total": ("counter", "driver presses that made no sense"),
    "rocars_sync_records_total": ("counter", "clearance records written to the outbox"),
    "rocars_sync_uploaded_total": ("counter", "records the centre accepted (or had already)"),
    "rocars_sync_rejected_total": ("counter", "records the centre rejected"),
    "rocars_sync_refused_total": (
        "counter",
        "records parked because the centre refused each one sent alone (HTTP 4xx)",
    ),
    "rocars_sync_pulled_changes_total": ("counter", "change-feed entries applied"),
    "rocars_sync_feed_errors_total": ("counter", "failed change-feed pulls, by key"),
    "rocars_sync_upload_errors_total": ("counter", "failed upload calls, by key"),
    "rocars_sync_worker_restarts_total": ("counter", "workers restarted after dying, by worker"),
    "rocars_sync_plate_handling_seconds": (
        "summary",
        "plate read received -> instruction handed to the bus, inside the agent (last 10k)",
    ),
    "rocars_sync_plate_age_seconds": (
        "summary",
        "a plate read's age (its ts) when the agent began to handle it: the reader, the"
        " broker and the queue before the handler; negative when the reader's clock is"
        " ahead (last 10k)",
    ),
    "rocars_sync_plate_cpu_seconds": (
        "summary",
        "CPU time of the handling thread for one plate read, parse to instruction handed"
        " to the bus (last 10k)",
    ),
    "rocars_sync_inspections_written_total": (
        "counter",
        "plates told INSPECT here written to the shards' inspections.db",
    ),
    "rocars_sync_inspections_taken_total": (
        "counter",
        "plates the other shards told INSPECT taken in from inspections.db",
    ),
    "rocars_sync_inspections_dropped_total": (
        "counter",
        "plates told INSPECT here never written (inspections.db unwritable for long)",
    ),
    "rocars_sync_inspections_waiting": (
        "gauge",
        "plates told INSPECT here waiting to be written to inspections.db",
    ),
    "rocars_sync_inspections_shared": (
        "gauge",
        "1 when the shards' inspections.db is in use, 0 when it cannot be",
    ),
    "rocars_sync_outbox_depth": ("gauge", "records waiting for upload"),
    "rocars_sync_outbox_oldest_pending_seconds": (
        "gauge",
        "seconds since the oldest record waiting for upload ended (absent: none waits)",
    ),
    "rocars_sync_outbox_refused": (
        "gauge",
        "records the centre refused, kept in the outbox (sent again at the next start)",
    ),
    "rocars_sync_outbox_quarantined": (
        "gauge",
        "unreadable lane states start-up kept aside in the outbox's quarantine table",
    ),
    "rocars_sync_replica_bundles": ("gauge", "bundles in the replica"),
    "rocars_sync_replica_age_seconds": ("gauge", "seconds since the last successful sync"),
    "rocars_sync_central_up": ("gauge", "1 when the last call to the centre succeeded"),
    "rocars_sync_broker_connected": ("gauge", "1 when connected to the MQTT broker"),
}

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Thread-safe counters; gauges are read from callables when rendered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._gauges: dict[str, Callable[[], float | None]] = {}
        self._observed: dict[str, deque[float]] = {}
        self._observed_totals: dict[str, tuple[int, float]] = {}

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0) + amount

    def value(self, name: str, **labels: str) -> float:
        key = tuple(sorted(labels.items()))
        with self._lock:
            return self._counters.get(name, {}).get(key, 0)

    def total(self, name: str) -> float:
        with self._lock:
            return sum(self._counters.get(name, {}).values())

    def observe(self, name: str, value: float) -> None:
        """One sample of a summary (the last 10,000 give its quantiles)."""
        with self._lock:
            window = self._observed.get(name)
            if window is None:
                window = self._observed[name] = deque(maxlen=10_000)
            window.append(value)
            count, total = self._observed_totals.get(name, (0, 0.0))
            self._observed_totals[name] = (count + 1, total + value)

    def quantiles(self, name: str, qs: tuple[float, ...] = (0.5, 0.99)) -> dict[float, float]:
        with self._lock:
            ordered = sorted(self._observed.get(name, ()))
        if not ordered:
            return {}
        return {q: ordered[min(len(ordered) - 1, int(len(ordered) * q))] for q in qs}

    def gauge(self, name: str, read: Callable[[], float | None]) -> None:
        self._gauges[name] = read

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = {name: dict(series) for name, series in self._counters.items()}
        for name in sorted(set(counters) | set(self._gauges) | set(_HELP)):
            kind, help_ = _HELP.get(name, ("untyped", name))
            if kind == "summary":
                count, total = self._observed_totals.get(name, (0, 0.0))
                lines.append(f"# HELP {name} {help_}")
                lines.append(f"# TYPE {name} summary")
                for q, v in self.quantiles(name, (0.5, 0.9, 0.99)).items():
                    lines.append(f'{name}{{quantile="{q:g}"}} {v:g}')
                lines.append(f"{name}_count {count}")
                lines.append(f"{name}_sum {total:g}")
                continue
            if name in self._gauges:
                value = self._gauges[name]()
                if value is None:
                    continue
                samples: dict[Labels, float] = {(): float(value)}
            else:
                samples = counters.get(name) or {(): 0.0}
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, sample in sorted(samples.items()):
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                # 15 digits: ``g`` keeps 6, so an age of 16 days read to 10 s
                lines.append(
                    f"{name}{{{label_text}}} {sample:.15g}" if labels else f"{name} {sample:.15g}"
                )
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

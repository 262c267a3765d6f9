"""The uploader: clearance records from the outbox to the centre's ``POST /v1/events``.

The event id is the record id, which is the centre's idempotency key: a batch sent twice
(the answer lost on the way back) comes back ``duplicate`` and is marked uploaded once.
While the centre is down it retries with capped exponential backoff and jitter; records
pile up in the outbox and are never dropped. A ``rejected`` record is kept with the reason.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from rocars.client import ApiError, RocarsClient
from rocars.timeutil import utc_now
from sync.errors import OutboxError
from sync.metrics import Metrics
from sync.outbox import Outbox
from sync.puller import Backoff

logger = logging.getLogger(__name__)

#: The reason kept with a record whose stored text is not a JSON object (never sent).
UNREADABLE = "unreadable in the outbox (not a JSON object)"


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


class Uploader:
    def __init__(
        self,
        outbox: Outbox,
        client: RocarsClient,
        *,
        batch: int = 100,
        interval_s: float = 1.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        keep_days: float = 7.0,
        linger_s: float = 0.0,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.batch = batch
        self.interval_s = interval_s
        self.backoff = Backoff(backoff_initial_s, backoff_max_s)
        self.keep_days = keep_days
        self.linger_s = linger_s
        self.metrics = metrics or Metrics()
        self._clock = clock
        self.last_error = ""
        self._last_prune: datetime | None = None

    def upload_once(self) -> int:
        """Send one batch; the number of records marked. Raises ApiError on failure."""
        pending = self.outbox.pending(self.batch)
        if not pending:
            return 0
        marks: dict[str, tuple[str, str | None]] = {}
        readable = []
        for p in pending:
            if _json_object(p.body):
                readable.append(p)
            else:  # one bad row must not hold up every record behind it: kept, set aside
                logger.error("outbox record %s is not a JSON object: kept as rejected", p.id)
                marks[p.id] = ("rejected", UNREADABLE)
        # sent as stored: one json.dumps of the batch kept the GIL 0.5-1 ms (a plate read
        # waited); the check above is a json.loads a record, the GIL free between them
        results = (
            self.client.upload_event_json([p.body for p in readable]).results if readable else []
        )
        sent = {p.id for p in readable}
        for item in results:
            if item.id not in sent:
                logger.warning("centre answered for event %s that was not sent", item.id)
                continue
            if item.status == "rejected":
                logger.error("centre rejected record %s: %s", item.id, item.reason)
                marks[item.id] = ("rejected", item.reason or "rejected")
            else:
                marks[item.id] = ("uploaded", None)
        missing = sent - set(marks)
        if missing:
            logger.warning("centre did not answer for %d records; they stay pending", len(missing))
        changed = self.outbox.mark(marks, self._clock())
        accepted = sum(1 for state, _ in marks.values() if state == "uploaded")
        self.metrics.inc("rocars_sync_uploaded_total", accepted)
        self.metrics.inc("rocars_sync_rejected_total", len(marks) - accepted)
        return changed

    def run(self, stop: threading.Event) -> None:
        """The worker loop: drain the outbox, wait for new records, back off on failure."""
        while not stop.is_set():
            self.outbox.new_records.clear()
            try:
                marked = self.upload_once()
                self._maybe_prune()
            except ApiError as err:
                self._failed(err.key, str(err))
                stop.wait(self.backoff.next_delay())
                continue
            except OutboxError as err:
                self._failed(err.key, str(err))
                stop.wait(self.backoff.next_delay())
                continue
            self.backoff.reset()
            self.last_error = ""
            if marked >= self.batch:
                continue  # a full batch: more may be waiting, drain before sleeping
            if self.outbox.new_records.wait(self.interval_s) and self.linger_s:
                # let a few more records come: one call for many, not a call per truck
                stop.wait(self.linger_s)

    def _maybe_prune(self) -> None:
        now = self._clock()
        if self._last_prune is None or (now - self._last_prune).total_seconds() > 3600:
            self._last_prune = now
            pruned = self.outbox.prune(self.keep_days, now)
            if pruned:
                logger.info("outbox: pruned %d uploaded records", pruned)

    def _failed(self, key: str, message: str) -> None:
        self.metrics.inc("rocars_sync_upload_errors_total", key=key)
        if self.last_error != key:
            logger.warning("upload: %s (records stay in the outbox)", message)
        self.last_error = key

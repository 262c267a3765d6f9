"""The uploader: clearance records from the outbox to the centre's ``POST /v1/events``.

The event id is the record id, which is the centre's idempotency key: a batch sent twice
(the answer lost on the way back) comes back ``duplicate`` and is marked uploaded once.
While the centre is down it retries with capped exponential backoff and jitter; records
pile up in the outbox and are never dropped. A ``rejected`` record is kept with the reason.

An error answer to the whole batch is one of three kinds (``kind_of``):

- transient (no answer, 5xx, 408, 429): the centre or the way to it is unwell; the same
  batch is sent again after a backoff, as while it is down.
- the agent's set-up (401/403: its credentials; 404/405/410: no such call at
  ``central.url``): every batch would get it; retried with backoff, and ``problem`` says
  what to fix. Nothing is split or parked: none of it is about the records.
- a refusal of what was sent (400, 413, 422 and any other 4xx): a batch of several is
  halved and each half sent again, which isolates the record(s) refused; a record the
  centre refuses alone is parked (``Outbox.refuse``): kept, marked with the status and
  the reason, no longer sent, and out of the way of the records behind it. The agent
  puts parked records back in the queue once at its next start.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from rocars.client import ApiError, RocarsClient
from rocars.timeutil import utc_now
from sync.errors import OutboxError
from sync.metrics import Metrics
from sync.outbox import REASON_MAX, Outbox, PendingRecord
from sync.puller import Backoff

logger = logging.getLogger(__name__)

#: The reason kept with a record whose stored text is not a JSON object (never sent).
UNREADABLE = "unreadable in the outbox (not a JSON object)"


#: Answers that say nothing about what was sent: the centre (or the way to it) is unwell.
TRANSIENT_STATUSES = frozenset({408, 429})
#: Answers about the agent's credentials: every batch would get them.
CREDENTIALS_STATUSES = frozenset({401, 403})
#: Answers that say the call is not there at ``central.url``: every batch would get them.
ENDPOINT_STATUSES = frozenset({404, 405, 410})

Kind = Literal["transient", "credentials", "endpoint", "refused"]


def kind_of(err: ApiError) -> Kind:
    """What an error answer to a batch means (see the module doc)."""
    status = err.status
    if status == 0 or status >= 500 or status in TRANSIENT_STATUSES or status < 400:
        return "transient"
    if status in CREDENTIALS_STATUSES:
        return "credentials"
    if status in ENDPOINT_STATUSES:
        return "endpoint"
    return "refused"


def refusal_reason(err: ApiError) -> str:
    """``HTTP 413 payload_too_large: {detail}``, cut to ``REASON_MAX``."""
    detail = err.detail
    if detail is not None and not isinstance(detail, str):
        detail = json.dumps(detail, ensure_ascii=False, default=str)
    text = f"HTTP {err.status} {err.key}" + (f": {detail}" if detail else "")
    return text[:REASON_MAX]


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
        #: the HTTP status of the last failed call (0: no answer), for ``problem``
        self.last_status = 0
        self._last_prune: datetime | None = None

    @property
    def problem(self) -> str:
        """What the status and ``/health`` say about uploading ("" when it works)."""
        if not self.last_error:
            return ""
        answer = f"HTTP {self.last_status} {self.last_error}"
        if self.last_status in CREDENTIALS_STATUSES:
            return (
                f"the centre refuses this agent's credentials ({answer}): no record uploads "
                "until its token (ROCARS_CENTRAL_TOKEN) is right"
            )
        if self.last_status in ENDPOINT_STATUSES:
            return f"the centre has no event upload at central.url ({answer}): check central.url"
        if 400 <= self.last_status < 500:
            return (
                f"the centre refuses every record sent, each alone ({answer}): they stay in "
                "the outbox; check the centre and any proxy before it"
            )
        return self.last_error

    def upload_once(self) -> int:
        """Send one batch; the number of records marked (parked ones too). Raises
        ApiError when the centre cannot be reached or refuses every call (module doc);
        what was marked before that stays marked."""
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
        changed = self._mark(marks, set()) if marks else 0
        refused: list[tuple[PendingRecord, ApiError]] = []
        answered = self._send(readable, refused) if readable else 0
        if refused and not answered:
            # every record refused, each alone: that is about the call (a proxy's 400,
            # a centre that changed its API), not the records; parked, all of them would
            # stop uploading until a restart. Kept pending, retried with backoff, and said
            # in ``problem``; parked once the centre takes another record beside one.
            raise refused[-1][1]
        return changed + answered + sum(self._park(record, err) for record, err in refused)

    def _send(
        self,
        records: list[PendingRecord],
        refused: list[tuple[PendingRecord, ApiError]],
        halved: bool = False,
    ) -> int:
        """Upload ``records``; records marked. A refusal of several halves them; a record
        refused alone goes to ``refused`` (``upload_once`` parks it)."""
        try:
            # sent as stored: one json.dumps of the batch kept the GIL 0.5-1 ms (a plate
            # read waited); the check before is a json.loads a record, the GIL free between
            results = self.client.upload_event_json([p.body for p in records]).results
        except ApiError as err:
            if kind_of(err) != "refused":
                raise
            self.metrics.inc("rocars_sync_upload_errors_total", key=err.key)
            if len(records) == 1:
                refused.append((records[0], err))
                return 0
            half = len(records) // 2
            logger.log(
                logging.INFO if halved else logging.WARNING,
                "centre refused a batch of %d records (HTTP %d %s): sending %d and %d",
                len(records),
                err.status,
                err.key,
                half,
                len(records) - half,
            )
            return self._send(records[:half], refused, True) + self._send(
                records[half:], refused, True
            )
        marks: dict[str, tuple[str, str | None]] = {}
        sent = {p.id for p in records}
        for item in results:
            if item.id not in sent:
                logger.warning("centre answered for event %s that was not sent", item.id)
                continue
            if item.status == "rejected":
                logger.error("centre rejected record %s: %s", item.id, item.reason)
                marks[item.id] = ("rejected", (item.reason or "rejected")[:REASON_MAX])
            else:
                marks[item.id] = ("uploaded", None)
        return self._mark(marks, sent)

    def _mark(self, marks: dict[str, tuple[str, str | None]], sent: set[str]) -> int:
        missing = sent - set(marks)
        if missing:
            logger.warning("centre did not answer for %d records; they stay pending", len(missing))
        changed = self.outbox.mark(marks, self._clock())
        accepted = sum(1 for state, _ in marks.values() if state == "uploaded")
        self.metrics.inc("rocars_sync_uploaded_total", accepted)
        self.metrics.inc("rocars_sync_rejected_total", len(marks) - accepted)
        return changed

    def _park(self, record: PendingRecord, err: ApiError) -> int:
        """The centre refuses this record alone: kept, marked refused, out of the way."""
        reason = refusal_reason(err)
        logger.error(
            "centre refuses record %s sent alone: parked in the outbox (%s)", record.id, reason
        )
        parked = self.outbox.refuse(record.id, err.status, reason, self._clock())
        self.metrics.inc("rocars_sync_refused_total", parked)
        return parked

    def run(self, stop: threading.Event) -> None:
        """The worker loop: drain the outbox, wait for new records, back off on failure."""
        while not stop.is_set():
            self.outbox.new_records.clear()
            try:
                marked = self.upload_once()
                self._maybe_prune()
            except ApiError as err:
                self._failed(err.key, str(err), err.status)
                stop.wait(self.backoff.next_delay())
                continue
            except OutboxError as err:
                self._failed(err.key, str(err))
                stop.wait(self.backoff.next_delay())
                continue
            self.backoff.reset()
            self.last_error = ""
            self.last_status = 0
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

    def _failed(self, key: str, message: str, status: int = 0) -> None:
        self.metrics.inc("rocars_sync_upload_errors_total", key=key)
        changed = self.last_error != key
        self.last_error, self.last_status = key, status
        if not changed:
            return
        if status in CREDENTIALS_STATUSES or status in ENDPOINT_STATUSES:
            logger.error("upload: %s (records stay in the outbox)", self.problem)
        else:
            logger.warning("upload: %s (records stay in the outbox)", message)

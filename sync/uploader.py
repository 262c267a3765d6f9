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

An answer that is not an error but not an upload result either (not JSON, not an object
of the right shape, or an answer for none of the records sent: a proxy's page, a broken
centre) is transient too (``MALFORMED_ANSWER``): the records stay pending, the call is
retried with backoff, and ``problem`` says so.

Bodies the way to the centre cannot take. A 413 for a batch of several records, or
connections that broke after the request went out (at least in part) with no answer,
twice in a row (``SIZE_SUSPECT_FAILURES``), each with a body over ``SIZE_SUSPECT_BYTES``
(a proxy that resets a big body instead of answering 413), are taken for a body limit.
The uploads then carry at most ``body_budget`` bytes: half the body refused (or the
largest body that went in, when more), never as much as the smallest body refused; a
batch is sent as several bodies within it, and a record larger than it alone. After
``GROW_AFTER`` successful calls that use at least half of it (a smaller one between
neither counts nor resets) the budget doubles, up to 7/8
of the smallest body refused; that is forgotten ``LIMIT_KEEP_S`` after the last
refusal (or once a body as large goes in), and the budget grows on up to the
configured batch. So a limit is learned once, in a few refusals, not again every round.
A record whose connection breaks that way alone is parked as a refused one is. A
centre that is down (no connection at all: ``NOT_SENT``), a single broken connection
or a broken one with a small body shrinks nothing: a plain outage leaves the batches as
they are, and an outage that breaks every connection cuts them to ``SIZE_SUSPECT_BYTES``
at most.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Literal

import httpx

from rocars.client import MALFORMED_ANSWER, NOT_SENT, ApiError, RocarsClient, malformed_answer
from rocars.models import EventResult
from rocars.timeutil import utc_now
from sync.errors import OutboxError
from sync.metrics import Metrics
from sync.outbox import REASON_MAX, Outbox, PendingRecord
from sync.puller import Backoff, metric_key

logger = logging.getLogger(__name__)

#: The reason kept with a record whose stored text is not a JSON object (never sent).
UNREADABLE = "unreadable in the outbox (not a JSON object)"
#: The reason kept with a record whose stored text names another id than its row, or
#: none (never sent: the centre's answer, by the text's id, would never be matched to the
#: row, and the record was sent again in every batch; found in review)
ANOTHER_ID = "its stored text names another id than its row (not sent)"


#: Answers that say nothing about what was sent: the centre (or the way to it) is unwell.
TRANSIENT_STATUSES = frozenset({408, 429})
#: Answers about the agent's credentials: every batch would get them.
CREDENTIALS_STATUSES = frozenset({401, 403})
#: Answers that say the call is not there at ``central.url``: every batch would get them.
ENDPOINT_STATUSES = frozenset({404, 405, 410})

Kind = Literal["transient", "credentials", "endpoint", "refused"]

#: The centre's reason for a record of another control point than its uploading token's.
#: For a record of this agent's control point (``cp``) the answer is about its token
#: (another control point's), not the record: every record would get it, and taken as a
#: record's final answer it left every record rejected for good, none sent again once
#: the token was put right. Nothing is marked; retried, said in ``problem``. A record of
#: another control point (written while ``site.cp`` was set wrong) is rejected as before:
#: the token is right, the record is not, and it must not hold up the records behind it.
WRONG_CONTROL_POINT = "wrong_control_point"

#: A body over this whose connection breaks with no answer may be over a body limit on
#: the way (module doc); under it, a broken connection is taken for an outage only, and
#: batches never shrink below it for one. 64 KiB is under the smallest limits a proxy is
#: commonly given (100 KB: the CIS benchmark's Apache ``LimitRequestBody``; 128 KiB:
#: ModSecurity's recommended limit for a body without files; nginx 1 MiB by default, the
#: centre 8 MB), so halving still reaches a body any of them takes, while an outage that
#: breaks connections can cost a batch a few halvings, never a record a call.
SIZE_SUSPECT_BYTES = 64 << 10
#: ... and only when it happened this many times in a row (one broken connection is a
#: restart or a dropped keep-alive connection, not a limit).
SIZE_SUSPECT_FAILURES = 2
#: Rounds in a row that the centre answered the same oldest records with a server error
#: (5xx) before the batch is halved as for a refusal: one record that makes the centre
#: fail stood in front of every record behind it for good. Halving stops where both
#: halves fail whole (the centre failing, not a record), and a record failing alone is
#: parked only the second round it does (``_strike``): the centre may come back in the
#: middle of a round.
SERVER_ERROR_ROUNDS = 3
#: Records remembered as having failed alone with a server error once (a bound).
MAX_STRUCK = 1000
#: A learned body limit grows (doubles, at most to 7/8 of the smallest body refused)
#: after this many successful calls that used at least half of it (a smaller call, as a
#: batch's last body, neither counts nor resets; a refusal resets).
GROW_AFTER = 8
#: The smallest body refused is forgotten this long after the last refusal: the budget
#: then grows on up to the configured batch (a proxy's limit raised, or a false alarm),
#: at the cost of one oversized body an hour where the limit is still there.
LIMIT_KEEP_S = 3600.0
#: uploaded records older than ``keep_days`` are pruned this often
PRUNE_EVERY_S = 3600.0
#: ``{"events":[`` and ``]}`` around the records, joined by commas
_FRAME_BYTES = len('{"events":[]}')


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
    """``HTTP 413 payload_too_large: {detail}`` (``no answer (KEY): {detail}`` without an
    HTTP status), cut to ``REASON_MAX``."""
    detail = err.detail
    if detail is not None and not isinstance(detail, str):
        detail = json.dumps(detail, ensure_ascii=False, default=str)
    head = f"HTTP {err.status} {err.key}" if err.status else f"no answer ({err.key})"
    text = head + (f": {detail}" if detail else "")
    return text[:REASON_MAX]


def body_bytes(records: list[PendingRecord]) -> int:
    """The size of the body ``upload_event_json`` makes of ``records``."""
    return _FRAME_BYTES + sum(p.size for p in records) + max(len(records) - 1, 0)


def _no_answer_after_sending(err: ApiError) -> bool:
    """The request went out (at least in part) and the connection broke or timed out
    with no answer; not a centre that refused the connection (``NOT_SENT``)."""
    cause = err.__cause__
    return isinstance(
        cause, (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)
    ) and not isinstance(cause, NOT_SENT)


def _unsendable(record: PendingRecord) -> str | None:
    """Why a record as stored cannot be sent (``UNREADABLE``, ``ANOTHER_ID``), or None."""
    try:
        body = json.loads(record.body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json reads
        return UNREADABLE
    if not isinstance(body, dict):
        return UNREADABLE
    return None if body.get("id") == record.id else ANOTHER_ID


def _since(now: datetime, then: datetime, interval_s: float) -> bool:
    """Whether ``interval_s`` has passed from ``then`` to ``now``, or the clock was put
    back past ``then`` (else a clock put back an hour would wait an hour more)."""
    elapsed = (now - then).total_seconds()
    return elapsed < 0 or elapsed > interval_s


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
        cp: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.client = client
        #: this agent's control point (``WRONG_CONTROL_POINT``; None: every record's)
        self.cp = cp
        self.batch = batch
        self.interval_s = interval_s
        self.backoff = Backoff(backoff_initial_s, backoff_max_s)
        self.keep_days = keep_days
        self.linger_s = linger_s
        self.metrics = metrics or Metrics()
        self._clock = clock
        self.last_error = ""
        #: the HTTP status of the last failed call (0: none, as when there was no answer
        #: or the answer was not an upload result), for ``problem``
        self.last_status = 0
        #: what the last failure's answer was, when ``problem`` names it
        self.last_detail = ""
        self._last_prune: datetime | None = None
        #: the most bytes a body may carry (None: no limit learned), and the smallest body
        #: refused as too large, which is never sent again (module doc)
        self._budget: int | None = None
        self._too_large: int | None = None
        self._too_large_at = clock()
        self._fitted_max = 0  # the largest body that went in since a budget was set
        self._grow_credit = 0  # successful calls that used the budget, since the last refusal
        self._suspects = 0  # calls in a row whose connection broke after sending a big body
        #: the oldest record sent and the rounds in a row it met a server error (5xx)
        self._failing_head: tuple[str, int] = ("", 0)
        #: this round halves server errors as refusals (``SERVER_ERROR_ROUNDS``)
        self._halve_server_errors = False
        #: records that failed alone with a server error once (``_strike``)
        self._server_strikes: dict[str, int] = {}

    @property
    def body_budget(self) -> int | None:
        """The most bytes an upload's body carries now (None: only ``batch`` bounds it)."""
        return self._budget

    @property
    def problem(self) -> str:
        """What the status and ``/health`` say about uploading ("" when it works)."""
        if not self.last_error:
            return ""
        if self.last_error == MALFORMED_ANSWER:
            return (
                f"the centre's answer to an upload is not an upload result ({self.last_detail})"
                ": a proxy's page or a broken centre? the records stay in the outbox and are "
                "sent again; check central.url and any proxy before it"
            )
        if self.last_error == WRONG_CONTROL_POINT:
            return (
                "the centre answers that this agent's records are not of its token's "
                f"control point ({WRONG_CONTROL_POINT}): no record uploads until its token "
                "(ROCARS_CENTRAL_TOKEN) is this control point's"
            )
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
        if self.last_detail:
            return f"{self.last_error} ({self.last_detail})"
        return self.last_error

    def upload_once(self) -> int:
        """Send one batch (in bodies of at most ``body_budget``); the number of records
        marked (parked ones too). Raises ApiError when the centre cannot be reached or
        refuses every call (module doc); what was marked before that stays marked."""
        pending = self.outbox.pending(self.batch)
        if not pending:
            return 0
        marks: dict[str, tuple[str, str | None]] = {}
        readable = []
        for p in pending:
            why = _unsendable(p)
            if why is None:
                readable.append(p)
            else:  # one bad row must not hold up every record behind it: kept, set aside
                logger.error("outbox record %s: %s: kept as rejected", p.id, why)
                marks[p.id] = ("rejected", why)
        changed = self._mark(marks, set()) if marks else 0
        refused: list[tuple[PendingRecord, ApiError]] = []
        head = readable[0].id if readable else ""
        failing, rounds = self._failing_head
        self._halve_server_errors = failing == head and rounds >= SERVER_ERROR_ROUNDS
        try:
            answered = self._send(readable, refused) if readable else 0
        except ApiError as err:
            if err.status >= 500:
                # a halving round that failed whole: the centre, not a record; halved
                # again only after as many rounds more (not a call a record every round)
                again = 0 if self._halve_server_errors else rounds + 1 if failing == head else 1
                self._failing_head = (head, again)
            raise
        if refused and not answered:
            # every record refused, each alone: about the call (a proxy's 400, a centre
            # that changed its API) or about these records (a run of bad ones longer than
            # a batch). The newest record pending tells which: taken, the centre takes
            # records, and these are parked (else they would stand in front of every
            # record behind them for good); refused or none, kept pending, retried with
            # backoff and said in ``problem`` (parked, all of them would stop uploading)
            answered = self._probe({record.id for record, _ in refused})
            if not answered:
                if self._halve_server_errors:
                    # every record fails, the newest too: the centre, not a record; not
                    # halved again before as many rounds more (a failing centre is not
                    # sent a call a record every round)
                    self._failing_head = (head, 0)
                raise refused[-1][1]
        self._failing_head = ("", 0)
        parked = sum(
            self._park(record, err) for record, err in refused if self._strike(record, err)
        )
        return changed + answered + parked

    def _strike(self, record: PendingRecord, err: ApiError) -> bool:
        """Whether a record refused alone is parked now: a refusal (4xx) at once; a server
        error (5xx) only the second round it fails alone, the rest of its batch going in:
        once may be the centre coming back in the middle of the round."""
        if err.status < 500:
            return True
        if len(self._server_strikes) >= MAX_STRUCK:
            self._server_strikes.clear()
        strikes = self._server_strikes.pop(record.id, 0) + 1
        if strikes < 2:
            self._server_strikes[record.id] = strikes
            logger.warning(
                "record %s failed alone (HTTP %d): parked if it does again", record.id, err.status
            )
            return False
        return True

    def _probe(self, refused: set[str]) -> int:
        """Send the newest pending record alone (not one of ``refused``); 1 if the centre
        answered for it (it is marked), else 0."""
        newest = self.outbox.newest_pending()
        if newest is None or newest.id in refused or _unsendable(newest) is not None:
            return 0
        try:
            answered = self._send([newest], [])  # refused alone: left pending
        except ApiError:
            return 0  # no answer: the run above is not told apart
        if answered:
            logger.warning(
                "the centre takes record %s while it refuses each of the %d oldest alone:"
                " those are parked",
                newest.id,
                len(refused),
            )
        return answered

    def _chunks(self, records: list[PendingRecord]) -> Iterator[list[PendingRecord]]:
        """``records`` in order, in bodies of at most ``body_budget`` (a record larger
        than that alone)."""
        budget = self._budget
        if budget is None or body_bytes(records) <= budget:
            yield records
            return
        chunk: list[PendingRecord] = []
        size = _FRAME_BYTES - 1
        for p in records:
            if chunk and size + 1 + p.size > budget:
                yield chunk
                chunk, size = [], _FRAME_BYTES - 1
            chunk.append(p)
            size += 1 + p.size
        if chunk:
            yield chunk

    def _send(
        self,
        records: list[PendingRecord],
        refused: list[tuple[PendingRecord, ApiError]],
        halved: bool = False,
    ) -> int:
        """Upload ``records`` (in bodies within the budget); records marked. A refusal of
        several halves them; a record refused alone goes to ``refused`` (``upload_once``
        parks it)."""
        if len(records) > 1 and self._budget is not None and body_bytes(records) > self._budget:
            return sum(self._send(chunk, refused, halved) for chunk in self._chunks(records))
        size = body_bytes(records)
        try:
            results = self._post(records)
        except ApiError as err:
            self._suspects = self._suspects + 1 if self._size_suspect(err, size) else 0
            kind = kind_of(err)
            if err.status >= 500 and self._halve_server_errors:
                kind = "refused"  # the same oldest records, rounds in a row: halved
            if kind != "refused":
                if self._suspects < SIZE_SUSPECT_FAILURES:
                    raise
                if len(records) == 1:  # the record alone: no smaller body to try
                    self.metrics.inc("rocars_sync_upload_errors_total", key=metric_key(err.key))
                    refused.append((records[0], self._alone_unanswered(err, size)))
                    return 0
                self._refused_as_too_large(size, f"{self._suspects} broken connections: {err}")
                raise ApiError(
                    str(err),
                    key=err.key,
                    detail=f"no answer to {self._suspects} bodies of {size} bytes or more in a "
                    "row: uploads made smaller",
                ) from err
            self.metrics.inc("rocars_sync_upload_errors_total", key=metric_key(err.key))
            if len(records) == 1:
                refused.append((records[0], err))
                return 0
            if err.status == 413:
                self._refused_as_too_large(size, f"HTTP 413 {err.key}")
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
            if err.status < 500:
                return self._send(records[:half], refused, True) + self._send(
                    records[half:], refused, True
                )
            # a server error: one record the centre fails on fails one half only; both
            # halves failing whole is the centre failing (an outage, a restart), and
            # nothing of this round is parked (the round ends as a passing fault)
            aside = len(refused)
            first = self._send(records[:half], refused, True)
            second = self._send(records[half:], refused, True)
            if not first and not second:
                del refused[aside:]
                raise
            return first + second
        self._suspects = 0
        self._fitted(size)
        marks: dict[str, tuple[str, str | None]] = {}
        sent = {p.id for p in records}
        if self._token_of_another_control_point(records, results):
            raise ApiError(
                "POST /v1/events: the centre takes the records for another control point's",
                key=WRONG_CONTROL_POINT,
                status=200,
            )
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

    def _token_of_another_control_point(
        self, records: list[PendingRecord], results: list[EventResult]
    ) -> bool:
        """Whether a record of this agent's control point was answered
        ``WRONG_CONTROL_POINT`` (the token's answer, not the record's)."""
        wrong = {r.id for r in results if r.reason == WRONG_CONTROL_POINT}
        if not wrong:
            return False
        for p in records:
            if p.id in wrong:
                try:
                    cp = json.loads(p.body).get("cp")
                except (ValueError, AttributeError, RecursionError):
                    continue
                if self.cp is None or cp == self.cp:
                    return True
        return False

    def _post(self, records: list[PendingRecord]) -> list[EventResult]:
        """``POST /v1/events`` with ``records`` as stored; the centre's results, at least
        one of them for a record sent (else ``MALFORMED_ANSWER``; the client says so of an
        answer that is not JSON or not an upload result)."""
        # sent as stored: one json.dumps of the batch kept the GIL 0.5-1 ms (a plate read
        # waited); the check before is a json.loads a record, the GIL free between
        results = self.client.upload_event_json([p.body for p in records]).results
        sent = {p.id for p in records}
        if not any(item.id in sent for item in results):
            raise malformed_answer(
                "POST /v1/events", f"no result for any of the {len(records)} records sent"
            )
        return results

    def _size_suspect(self, err: ApiError, size: int) -> bool:
        """A failure that may be a body limit on the way (module doc)."""
        return size > SIZE_SUSPECT_BYTES and _no_answer_after_sending(err)

    def _alone_unanswered(self, err: ApiError, size: int) -> ApiError:
        """A record whose body alone, over ``SIZE_SUSPECT_BYTES``, broke the connection
        ``SIZE_SUSPECT_FAILURES`` times in a row: a refusal without an answer."""
        detail = f"the connection broke sending this record alone ({size} bytes): {err}"
        return ApiError(str(err), key=err.key, detail=detail[:REASON_MAX])

    def _refused_as_too_large(self, size: int, why: str) -> None:
        """A body of ``size`` bytes (several records) is too large: never that large
        again, and the next bodies carry half of it, or the largest that went in."""
        self._too_large = size if self._too_large is None else min(self._too_large, size)
        self._too_large_at = self._clock()
        # half of it, or the largest body that went in when that is more (a probe refused)
        budget = max(size // 2, self._fitted_max if self._fitted_max < size else 0, 1)
        self._grow_credit = 0
        if self._budget is not None and self._budget <= budget:
            return
        self._budget = budget
        logger.warning(
            "the centre (or the way to it) took no body of %d bytes (%s): uploads now carry "
            "at most %d bytes",
            size,
            why,
            budget,
        )

    def _fitted(self, size: int) -> None:
        """A body of ``size`` bytes went in: the budget may grow (module doc)."""
        too_large = self._too_large
        if too_large is not None and (
            size >= too_large or _since(self._clock(), self._too_large_at, LIMIT_KEEP_S)
        ):
            logger.info(
                "uploads: no body refused as too large for %.0f s, or one as large went in "
                "(%d bytes): the budget grows on up to the configured batch",
                (self._clock() - self._too_large_at).total_seconds(),
                size,
            )
            self._too_large = too_large = None
        if self._budget is None:
            return
        self._fitted_max = max(self._fitted_max, size)
        if size * 2 < self._budget:
            return  # neither counts nor resets: a batch's last, smaller body is in each round
        self._grow_credit += 1
        if self._grow_credit < GROW_AFTER:
            return
        self._grow_credit = 0
        grown = self._budget * 2
        if too_large is not None:
            grown = min(grown, too_large - too_large // 8)
        if grown > self._budget:
            logger.info("uploads now carry at most %d bytes (was %d)", grown, self._budget)
            self._budget = grown

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
                # the detail of an answer that is not an upload result, or of no answer;
                # an HTTP error's detail is the centre's text, of any length
                ours = not err.status or err.key == MALFORMED_ANSWER
                note = err.detail if ours and isinstance(err.detail, str) else ""
                self._failed(err.key, str(err), err.status, note)
                stop.wait(self.backoff.next_delay())
                continue
            except OutboxError as err:
                self._failed(err.key, str(err))
                stop.wait(self.backoff.next_delay())
                continue
            self.backoff.reset()
            self.last_error, self.last_status, self.last_detail = "", 0, ""
            if marked >= self.batch:
                continue  # a full batch: more may be waiting, drain before sleeping
            if self.outbox.new_records.wait(self.interval_s) and self.linger_s:
                # let a few more records come: one call for many, not a call per truck
                stop.wait(self.linger_s)

    def _maybe_prune(self) -> None:
        now = self._clock()
        if self._last_prune is None or _since(now, self._last_prune, PRUNE_EVERY_S):
            self._last_prune = now
            pruned = self.outbox.prune(self.keep_days, now)
            if pruned:
                logger.info("outbox: pruned %d uploaded records", pruned)

    def _failed(self, key: str, message: str, status: int = 0, detail: str = "") -> None:
        self.metrics.inc("rocars_sync_upload_errors_total", key=metric_key(key))
        changed = self.last_error != key
        self.last_error, self.last_status, self.last_detail = key, status, detail
        if not changed:
            return
        if (
            status in CREDENTIALS_STATUSES
            or status in ENDPOINT_STATUSES
            or key in (MALFORMED_ANSWER, WRONG_CONTROL_POINT)
        ):
            logger.error("upload: %s (records stay in the outbox)", self.problem)
        else:
            logger.warning("upload: %s (records stay in the outbox)", message)

"""The change-feed puller: keeps the replica in step with the centre.

Pages are fetched one ahead of the one being written (the request for page n+1 overlaps
SQLite writing page n; its check follows the commit); every page carries the cursor it was asked with and
the replica applies it only if that is still its cursor, in the same transaction as the
rows, so a page is never applied twice and never skipped; a page that does not take the
cursor forward (``check_cursor``) is refused before anything of it is written. Caught
up, it polls every ``pull_interval_s``; on failure it backs off (capped, with jitter)
and says the centre is down, which the lanes record as offline decisions.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from rocars.client import ANSWER_TOO_LARGE, ApiError, RocarsClient, tls_refusal
from rocars.timeutil import to_rfc3339, utc_now
from sync.errors import MalformedPage, ReplicaError, SyncError
from sync.feed import PageRows, cursor_seq, parse_page
from sync.metrics import Metrics
from sync.replica import Replica

logger = logging.getLogger(__name__)

#: The key of a page that ends behind the cursor it was asked with (a ``MalformedPage``).
CURSOR_BACKWARDS = "central_cursor_backwards"
#: The centre's answer (409) to a cursor past the end of its feed: it was restored from a
#: backup or replaced, and no longer has the changes this replica's cursor counts.
CURSOR_AHEAD = "cursor_ahead"
#: The centre's answer to a cursor asked with the mark of another change than its own at
#: that seq: its history is not the one the replica pulled (docs/central.md)
CURSOR_DIVERGED = "cursor_diverged"


#: An error key that may be a metric label as it is: the centre's keys are all of this
#: form (docs/central.md). Any other (a proxy's, a broken or hostile centre's) is counted
#: under ``OTHER_ERROR_KEY``: a label each would make a new series for every string.
METRIC_KEY = re.compile(r"[a-z0-9_]{1,64}")
OTHER_ERROR_KEY = "central_error"
#: The most of an error key the log, the status and /health say; of a message with one.
ERROR_TEXT_MAX = 200
ERROR_MESSAGE_MAX = 1000


def metric_key(key: str) -> str:
    """``key`` as a metric label: itself if it is of the centre's form, else one label."""
    return key if METRIC_KEY.fullmatch(key) else OTHER_ERROR_KEY


def error_text(text: str, limit: int = ERROR_TEXT_MAX) -> str:
    """An error key (or a message with one) the centre or a proxy chose, as the log and
    the status say it: at most ``limit`` characters, control characters escaped."""
    cut = text[:limit]
    return cut if cut.isprintable() else cut.encode("unicode_escape").decode("ascii")


#: The most a change takes in a page: a bundle of 99 CCRNs is ~2 KB, cargo at every
#: field's length, its Chinese escaped, ~9 KB.
MAX_CHANGE_BYTES = 16 * 1024


def max_page_bytes(limit: int) -> int:
    """The most a page of ``limit`` changes may be; a larger one is not read."""
    return 64 * 1024 + limit * MAX_CHANGE_BYTES


class CentralClient(RocarsClient):
    """The centre's API plus the change feed as raw bytes (validated by ``sync.feed``)."""

    def changes_raw(self, since: str, limit: int, mark: str = "") -> bytes:
        """The page's bytes (an error answer or none: ApiError, as every call; one over
        ``max_page_bytes``: ``ANSWER_TOO_LARGE``). ``mark``: the one the centre gave with
        ``since`` (a centre of another history refuses it: ``CURSOR_DIVERGED``)."""
        # always sent, empty when not known: a centre gives marks to a reader that asks
        # with them (and pages without one to an agent from before them)
        params: dict[str, str | int] = {"since": since, "limit": limit, "mark": mark}
        return self._request(
            "GET",
            "/v1/changes",
            params=params,
            # not from a cache on the way: an old page for this cursor looks caught up
            headers={"Cache-Control": "no-cache"},
            max_bytes=max_page_bytes(limit),
        ).content


@dataclass
class LinkState:
    up: bool
    since: datetime
    error: str


#: A shard that does not pull takes the pulling shard's record of the centre "up" only
#: while that shard's puller has caught the replica up (``last_sync_at``) within its poll
#: interval, its timeout and this: the follower reads the replica once a second (and its
#: ``last_sync_at`` at most a second old), and a burst of full pages delays the page that
#: catches up. Beyond it the pulling shard has stopped, died or hangs, and its last
#: record of "up" would stand for good. The lanes of every agent use the same bound
#: (``sync.controller.LaneController.freshness``): past it, the replica is not known
#: current even while the centre answers.
FOLLOW_MARGIN_S = 5.0


class CentralLink:
    """Whether the centre answers (the puller's view; also down when a kiosk call finds it
    unreachable, ``mark_lost``); the lanes flag offline decisions. It never closes a lane:
    that is the replica's age alone (``sync.lane``, rule 6)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._state = LinkState(up=False, since=clock(), error="not contacted yet")
        #: ``mark_lost``: when (this link's clock) and until when (monotonic) it holds
        self._lost: tuple[datetime, float] | None = None

    @property
    def up(self) -> bool:
        return self._state.up

    def state(self) -> LinkState:
        with self._lock:
            return LinkState(self._state.up, self._state.since, self._state.error)

    def mark_up(self) -> None:
        with self._lock:
            self._lost = None
            if not self._state.up:
                logger.info("central ROCARS is reachable")
                self._state = LinkState(True, self._clock(), "")

    def follow(
        self,
        state: LinkState,
        confirmed_at: datetime | None = None,
        *,
        silent_after_s: float | None = None,
    ) -> None:
        """Take the state another agent's puller recorded (a shard that does not pull).

        After ``mark_lost``, a record of "up" made before that finding is older news and
        is not taken, until the finding's hold has passed, or the pulling shard's puller
        has had an answer since (``confirmed_at``: the replica's ``last_sync_at``, which
        it writes at each answer that finds the replica caught up, while the record changes
        only with the state).

        With ``silent_after_s``, a record of "up" whose ``confirmed_at`` is older than
        that (or missing) is taken as down: the pulling shard stopped, died or hangs (or
        its feed does not apply), and its last record would otherwise stand for good.
        """
        if state.up and silent_after_s is not None:
            silent = self._silent(confirmed_at, silent_after_s)
            if silent:
                with self._lock:
                    self._down(silent)
                return
        with self._lock:
            if self._lost is not None:
                found_at, until = self._lost
                older = state.since <= found_at and (
                    confirmed_at is None or confirmed_at <= found_at
                )
                if state.up and older and time.monotonic() < until:
                    return
                self._lost = None
            if state.up != self._state.up:
                logger.info(
                    "central ROCARS %s (as the pulling shard sees it)",
                    "is reachable" if state.up else f"is down: {state.error}",
                )
            self._state = LinkState(state.up, state.since, state.error)

    def _silent(self, confirmed_at: datetime | None, after_s: float) -> str:
        """Why a record of "up" is not taken ("": it is), ``confirmed_at`` being when the
        pulling shard's puller last had a caught-up answer."""
        if confirmed_at is None:
            return "no word from the pulling shard: the replica has not caught up yet"
        if (self._clock() - confirmed_at).total_seconds() <= after_s:
            return ""
        return (
            f"no word from the pulling shard: the replica last caught up at "
            f"{to_rfc3339(confirmed_at)}, over {after_s:g} s ago (that shard stopped, "
            "died, or its feed does not apply)"
        )

    def mark_down(self, error: str) -> None:
        with self._lock:
            self._down(error)

    def mark_lost(self, error: str, hold_s: float) -> None:
        """Down, as found by a call other than the feed's (a kiosk call the local API
        forwarded, which the centre never answered). The same meaning as the puller's
        ``mark_down``: the puller's next success (``mark_up``) ends it.

        A shard that does not pull ``follow``s the pulling shard's record instead, which
        still says "up" until that shard's puller fails too; it keeps this finding against
        a record of "up" made before it for ``hold_s`` at most (long enough for that puller
        to poll once more and record the centre down if it is). An error already recorded
        is kept: the first cause is the one that says why.
        """
        with self._lock:
            if self._state.up:
                self._down(error)
            self._lost = (self._clock(), time.monotonic() + hold_s)

    def _down(self, error: str) -> None:
        if self._state.up or self._state.error != error:
            logger.warning("central ROCARS is down: %s", error)
        since = self._state.since if not self._state.up else self._clock()
        self._state = LinkState(False, since, error)


class Backoff:
    """Capped exponential backoff with full jitter."""

    def __init__(self, initial: float, cap: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.cap = cap
        self._rng = rng or random.Random()
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.initial * float(2 ** min(self.failures, 30)))
        self.failures += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


class Puller:
    """Pulls the change feed into the replica."""

    def __init__(
        self,
        replica: Replica,
        client: CentralClient,
        link: CentralLink,
        *,
        batch: int = 1000,
        interval_s: float = 2.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.replica = replica
        self.client = client
        self.link = link
        self.batch = batch
        self.interval_s = interval_s
        self.backoff = Backoff(backoff_initial_s, backoff_max_s)
        self.metrics = metrics or Metrics()
        self._clock = clock
        self.last_error = ""
        #: beside ``last_error`` in the status: what the key alone does not say
        self.last_detail = ""
        self.caught_up = threading.Event()
        #: the centre was found to give no marks (said once)
        self._told_no_mark = False

    def _fetch(
        self, since: str, mark: str, turn: threading.Event | None = None
    ) -> tuple[str, PageRows, datetime]:
        """Fetch a page, then (once ``turn`` is set) check it; with when it was asked for
        (what the replica is current as of, if it catches up: the answer may wait for
        the page before it to be written, which is not time the centre's state is known
        for)."""
        asked_at = self._clock()
        try:
            raw = self.client.changes_raw(since, self.batch, mark)
        except ApiError as err:
            if err.key != ANSWER_TOO_LARGE:
                raise
            self.link.mark_up()  # the centre answered; what it said is the problem
            raise MalformedPage(str(err), key=ANSWER_TOO_LARGE) from err
        if turn is not None:
            turn.wait()
        try:
            rows = parse_page(raw)
        except MalformedPage:
            self.link.mark_up()  # the centre answered; what it said is the problem
            raise
        if mark and not rows.mark and not self._told_no_mark:
            self._told_no_mark = True
            logger.warning(
                "change feed: the centre gives its pages no mark: a centre restored from a"
                " backup past this replica's cursor cannot be told from its own (docs/sync.md)"
            )
        return since, rows, asked_at

    def catch_up(self, stop: threading.Event | None = None, max_pages: int = 1_000_000) -> int:
        """Apply pages until one is not full; the number of changes applied.

        Page n+1 is fetched on another thread while page n is written (the fetch waits on
        the socket and the centre, the GIL free); it is checked there once page n is
        committed. Checking while SQLite writes would cost more than it saves: the
        writer gives up the GIL for every row and waits up to the switch interval to get
        it back from a thread running a regular expression. Building the rows on the
        fetch thread also keeps their memory apart from SQLite's page cache (heap
        fragmentation is what grows the RSS otherwise).
        """
        total = 0
        with ThreadPoolExecutor(1, thread_name_prefix="feed-fetch") as pool:
            future = pool.submit(self._fetch, self.replica.cursor(), self.replica.cursor_mark())
            for _ in range(max_pages):
                since, rows, asked_at = future.result()
                self.link.mark_up()
                check_cursor(since, rows)
                full = rows.changes >= self.batch
                go_on = full and not (stop is not None and stop.is_set())
                turn = threading.Event()
                if go_on:
                    future = pool.submit(self._fetch, rows.next, rows.mark, turn)
                try:
                    self.replica.apply_rows(since, rows, asked_at, caught_up=not full)
                finally:
                    turn.set()
                total += rows.changes
                self.metrics.inc("rocars_sync_pulled_changes_total", rows.changes)
                if not full:
                    self.caught_up.set()
                if not go_on:
                    break
        return total

    def run(self, stop: threading.Event) -> None:
        """The worker loop: catch up, wait, again; back off while the centre fails."""
        while not stop.is_set():
            try:
                applied = self.catch_up(stop)
            except ApiError as err:
                if err.key in (CURSOR_AHEAD, CURSOR_DIVERGED):  # it answers; not our feed
                    self.link.mark_up()
                    self._failed(err.key, str(err), _ahead_detail(err))
                else:
                    # a TLS refusal says why (a certificate, central.cafile), not only
                    # that the centre is unreachable
                    self._failed(err.key, str(err), tls_refusal(err))
                    self.link.mark_down(error_text(err.key))
            except (MalformedPage, ReplicaError) as err:
                self._failed(err.key, str(err), _status_detail(err))
            else:
                if applied:
                    logger.info("replica: %d changes applied", applied)
                if self.last_error:  # its error was logged; so is its end
                    logger.info("change feed: applied again (after %s)", self.last_error)
                self.backoff.reset()
                self.last_error = ""
                self.last_detail = ""
                stop.wait(self.interval_s)
                continue
            stop.wait(self.backoff.next_delay())

    def _failed(self, key: str, message: str, detail: str = "") -> None:
        """Counted by ``metric_key``; the key itself (cut) in the log and the status."""
        self.metrics.inc("rocars_sync_feed_errors_total", key=metric_key(key))
        key, message = error_text(key), error_text(message, ERROR_MESSAGE_MAX)
        if self.last_error != key:
            logger.error("change feed: %s", message)
        else:
            logger.debug("change feed still failing: %s", message)
        self.last_detail = detail
        self.last_error = key


def check_cursor(since: str, rows: PageRows) -> None:
    """Refuse (MalformedPage) a page that does not take the feed forward from ``since``,
    or whose changes are not the ones between ``since`` and its own cursor.

    A page that ends behind its own cursor comes from a centre that went back in time (a
    restore from a backup, a failover to a copy that lags): its changes are older than
    what the replica holds, and applying it would let them overwrite newer ones and take
    the cursor back. A page of changes that ends where it began is a centre stuck on one
    page (or repeating it): taken for caught up, the replica would look fresh forever
    while nothing after that page ever arrives. Either way the replica keeps its cursor
    and ages, and the lanes fail closed once it is too old.
    """
    at, to = cursor_seq(since), cursor_seq(rows.next)
    if to < at:
        raise MalformedPage(
            f"the centre's cursor went back: asked from {since!r}, a page of {rows.changes}"
            f" changes ends at {rows.next!r} (a centre restored from a backup?); not applied",
            key=CURSOR_BACKWARDS,
            since=since,
            next=rows.next,
        )
    if rows.changes and to == at:
        raise MalformedPage(f"a page of {rows.changes} changes did not move the cursor {since!r}")
    # the cursor is the last seq (docs/central.md): a page's changes come after the one
    # it was asked from and end at the one it gives. A change at or before the cursor is
    # an old one replayed (it would overwrite what came after it); a cursor beyond the
    # last change skips the changes between (a cancellation among them never arrives)
    if not rows.changes and to != at:
        raise MalformedPage(
            f"an empty page moved the cursor from {since!r} to {rows.next!r}: the changes"
            " between would be skipped; not applied"
        )
    if rows.changes and rows.first_seq <= at:
        raise MalformedPage(
            f"asked from {since!r}, a page begins with change {rows.first_seq}, which the"
            " replica has (an old change replayed?); not applied"
        )
    if rows.changes and rows.last_seq != to:
        raise MalformedPage(
            f"a page's last change is {rows.last_seq} and its cursor {rows.next!r}: the"
            " changes between would be skipped; not applied"
        )


def _ahead_detail(err: ApiError) -> str:
    detail = err.detail if isinstance(err.detail, dict) else {}
    if err.key == CURSOR_DIVERGED:
        return (
            f"the centre's change at this replica's cursor {str(detail.get('since', '?'))[:20]}"
            " is not the one the replica pulled there (a centre restored or replaced, or"
            " another site's): replica not updated; pull it again (docs/sync.md)"
        )
    return (
        f"the centre's feed ends at {str(detail.get('last', '?'))[:20]}, before this "
        f"replica's cursor {str(detail.get('since', '?'))[:20]} (a centre restored or "
        "replaced): replica not updated; pull it again (docs/sync.md)"
    )


def _status_detail(err: SyncError) -> str:
    """What the status says beside the error's key (none for most)."""
    if err.key == CURSOR_BACKWARDS:
        return (
            f"the centre went back from cursor {err.params['since']} to {err.params['next']}:"
            " replica not updated"
        )
    return ""

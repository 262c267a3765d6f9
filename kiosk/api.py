"""The kiosk's client of the local API: RocarsClient plus the "may be stale" flag on queries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

from rocars.client import (
    ANSWER_TOO_LARGE,
    DEADLINE_FACTOR,
    KIOSK_CALLS_REFUSED,
    MALFORMED_ANSWER,
    NOT_SENT,
    UNREADABLE_ERROR,
    ApiError,
    BundleList,
    RocarsClient,
    tls_refusal,
    validated,
)
from rocars.config import http_verify
from rocars.models import Bundle, Cargo

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: Connecting to the local API and sending it a request: the sync agent runs at the
#: control point, so this is quick, or the agent is not there.
KIOSK_CONNECT_TIMEOUT_S = 15.0
#: The most the sync agent may be set to wait for the centre (``central.timeout_s`` in
#: sync/config.py; tests/kiosk/test_flows.py checks the two agree). A call of the agent's
#: may last ``DEADLINE_FACTOR`` times that (rocars.client).
AGENT_MAX_CENTRAL_TIMEOUT_S = 40.0
#: Every call, query or write, waits this long for its answer: longer than the agent may
#: wait for the centre's (before 2026-12-07 the agent's setting went to 120 s, whose calls
#: could last 360 s: a slow centre's bundling came back "may have been saved"). So a slow centre's answer reaches the person, and so does, to a
#: query, the agent's answer from its copy once it gives up on the centre; cut off
#: sooner, either would be "the kiosk cannot reach the control point system". A query
#: cut off all the same says that (``kiosk_offline``); a write is not "offline"
#: (``maybe_applied``, below).
KIOSK_ANSWER_TIMEOUT_S = AGENT_MAX_CENTRAL_TIMEOUT_S * DEADLINE_FACTOR + 10.0


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A query's answer; ``stale_since`` is set when the local replica answered (centre down)."""

    value: T
    stale_since: str | None = None


class KioskClient(RocarsClient):
    """Same calls as RocarsClient; the query calls also say whether the answer may be stale.

    Every call waits ``timeout`` to connect and send, and ``answer_timeout`` for its
    answer. A write whose connection broke or timed out after it was sent fails as
    ``central_unreachable`` with ``detail`` ``{"maybe_applied": true}``: the local API
    may have had it done; so does a write whose answer cannot be read
    (``central_malformed_answer``, or a 5xx with no error key: ``api_error``) or is too
    large to read (``central_answer_too_large``, but for a 4xx: a refusal). Over
    ``https://`` the local API's certificate is checked against ``cafile`` (the site CA:
    ``ROCARS_LOCAL_API_CAFILE``; else the system's CAs) and its name against the url's
    host.
    """

    def __init__(
        self,
        base_url: str,
        *,
        cafile: str = "",
        timeout: float = KIOSK_CONNECT_TIMEOUT_S,
        answer_timeout: float = KIOSK_ANSWER_TIMEOUT_S,
    ) -> None:
        super().__init__(
            base_url, timeout=timeout, verify=http_verify(base_url, cafile, "the local API")
        )
        self.answer_timeout = httpx.Timeout(timeout, read=answer_timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.answer_timeout)
        return self._taking(method, partial(super()._call, method, path, **kwargs))

    def _answer(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return self._validated(model, self._call(method, path, **kwargs), method, path)

    def _validated(self, model: type[M], body: Any, method: str, call: str) -> M:
        return self._taking(method, partial(validated, model, body, f"{method} {call}"))

    def _taking(self, method: str, step: Callable[[], T]) -> T:
        """``step()``, its ApiError as the caller is to take it (``_as_write``)."""
        try:
            return step()
        except ApiError as err:
            taken = self._as_write(method, err)
            if taken is err:
                raise  # its cause kept (the transport error: NOT_SENT or not)
            raise taken from err

    def _as_write(self, method: str, err: ApiError) -> ApiError:
        """``err`` as the caller is to take it: a write that may have been done says so."""
        if err.key == MALFORMED_ANSWER or (err.key == UNREADABLE_ERROR and err.status >= 500):
            # a 2xx that is no answer of the call's, or a server error with no error key
            # (an exception in the agent after it may have forwarded the write)
            logger.warning("the local API's answer cannot be read: %s", err)
        elif err.key == ANSWER_TOO_LARGE and not 400 <= err.status < 500:
            # an answer too large to read: this kiosk's own bound (a success or a server
            # error, not read past it), or the agent passing on the centre's: the write
            # reached the agent, and may have been done, as when the answer was lost.
            # A 4xx is a refusal, however long: nothing was done.
            logger.warning("the local API's answer is too large to read: %s", err)
        elif err.key == "central_unreachable":
            if tls_refusal(err):
                logger.warning(
                    "the local API at %s is refused: %s (the site CA in "
                    "ROCARS_LOCAL_API_CAFILE; the url's host among the certificate's names)",
                    self._http.base_url,
                    err,
                )
        elif err.key == KIOSK_CALLS_REFUSED:
            # the agent would not take it: nothing was done, and nothing at this kiosk can
            # mend it (the agent's [api] or this kiosk's url and CA do)
            message = err.detail.get("message") if isinstance(err.detail, dict) else None
            logger.error(
                "the local API at %s refuses this kiosk's calls: %s",
                self._http.base_url,
                message or err,
            )
            return err
        else:
            return err
        if method == "GET" or isinstance(err.__cause__, NOT_SENT):
            return err
        return ApiError(str(err), key=err.key, status=err.status, detail={"maybe_applied": True})

    def query_bundle(self, ubr: str) -> Answer[Bundle]:
        body = self._call("GET", f"/v1/bundles/{ubr}")
        return Answer(
            self._validated(Bundle, body, "GET", f"/v1/bundles/{ubr}"), _stale_since(body)
        )

    def query_bundles_for_ccrn(self, ccrn: str) -> Answer[list[Bundle]]:
        body = self._call("GET", "/v1/bundles", params={"ccrn": ccrn})
        found = self._validated(BundleList, body, "GET", "/v1/bundles?ccrn=")
        return Answer(found.bundles, _stale_since(body))

    def query_cargo(self, ccrn: str) -> Answer[Cargo]:
        body = self._call("GET", f"/v1/cargo/{ccrn}")
        return Answer(self._validated(Cargo, body, "GET", f"/v1/cargo/{ccrn}"), _stale_since(body))


def _stale_since(body: Any) -> str | None:
    """When the replica that answered was last in step (None: the centre answered)."""
    since = body.get("stale_since") if isinstance(body, dict) else None
    return since if isinstance(since, str) else None

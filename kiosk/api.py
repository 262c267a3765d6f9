"""The kiosk's client of the local API: RocarsClient plus the "may be stale" flag on queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from rocars.client import NOT_SENT, ApiError, BundleList, RocarsClient, validated
from rocars.models import Bundle, Cargo

T = TypeVar("T")

#: Connecting to the local API and sending it a request: the sync agent runs at the
#: control point, so this is quick, or the agent is not there.
KIOSK_CONNECT_TIMEOUT_S = 15.0
#: The most the sync agent may be set to wait for the centre (``central.timeout_s`` in
#: sync/config.py; tests/kiosk/test_flows.py checks the two agree).
AGENT_MAX_CENTRAL_TIMEOUT_S = 120.0
#: Every call, query or write, waits this long for its answer: longer than the agent may
#: wait for the centre's. So a slow centre's answer reaches the person, and so does, to a
#: query, the agent's answer from its copy once it gives up on the centre; cut off
#: sooner, either would be "the kiosk cannot reach the control point system". A query
#: cut off all the same says that (``kiosk_offline``); a write is not "offline"
#: (``maybe_applied``, below).
KIOSK_ANSWER_TIMEOUT_S = AGENT_MAX_CENTRAL_TIMEOUT_S + 10.0


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
    may have had it done.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = KIOSK_CONNECT_TIMEOUT_S,
        answer_timeout: float = KIOSK_ANSWER_TIMEOUT_S,
    ) -> None:
        super().__init__(base_url, timeout=timeout)
        self.answer_timeout = httpx.Timeout(timeout, read=answer_timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.answer_timeout)
        if method == "GET":
            return super()._call(method, path, **kwargs)
        try:
            return super()._call(method, path, **kwargs)
        except ApiError as err:
            if err.key != "central_unreachable" or isinstance(err.__cause__, NOT_SENT):
                raise
            raise ApiError(str(err), key=err.key, detail={"maybe_applied": True}) from err

    def query_bundle(self, ubr: str) -> Answer[Bundle]:
        body = self._call("GET", f"/v1/bundles/{ubr}")
        return Answer(validated(Bundle, body, f"GET /v1/bundles/{ubr}"), _stale_since(body))

    def query_bundles_for_ccrn(self, ccrn: str) -> Answer[list[Bundle]]:
        body = self._call("GET", "/v1/bundles", params={"ccrn": ccrn})
        found = validated(BundleList, body, "GET /v1/bundles?ccrn=")
        return Answer(found.bundles, _stale_since(body))

    def query_cargo(self, ccrn: str) -> Answer[Cargo]:
        body = self._call("GET", f"/v1/cargo/{ccrn}")
        return Answer(validated(Cargo, body, f"GET /v1/cargo/{ccrn}"), _stale_since(body))


def _stale_since(body: Any) -> str | None:
    """When the replica that answered was last in step (None: the centre answered)."""
    since = body.get("stale_since") if isinstance(body, dict) else None
    return since if isinstance(since, str) else None

"""The kiosk's client of the local API: RocarsClient plus the "may be stale" flag on queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from rocars.client import DEFAULT_TIMEOUT_S, NOT_SENT, ApiError, RocarsClient
from rocars.models import Bundle, Cargo

T = TypeVar("T")

#: A query waits this long: longer than the local API waits for the centre by default
#: (its client's ``DEFAULT_TIMEOUT_S``), so that the kiosk hears the local API's answer
#: (from the replica when the centre is silent) instead of timing out itself and telling
#: the person the kiosk is offline.
KIOSK_TIMEOUT_S = DEFAULT_TIMEOUT_S + 5.0
#: The most the sync agent may be set to wait for the centre (``central.timeout_s`` in
#: sync/config.py; tests/kiosk/test_flows.py checks the two agree).
AGENT_MAX_CENTRAL_TIMEOUT_S = 120.0
#: A write (cargo, bundle, cancel) waits this long for its answer: longer than the agent
#: may wait for the centre's, so a slow centre's answer is heard, not cut off. A write
#: cut off all the same is not "offline" (``maybe_applied``, below).
KIOSK_WRITE_TIMEOUT_S = AGENT_MAX_CENTRAL_TIMEOUT_S + 10.0


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A query's answer; ``stale_since`` is set when the local replica answered (centre down)."""

    value: T
    stale_since: str | None = None


class KioskClient(RocarsClient):
    """Same calls as RocarsClient; the query calls also say whether the answer may be stale.

    A query waits ``timeout`` for its answer, a write ``write_timeout``. A write whose
    connection broke or timed out after it was sent fails as ``central_unreachable``
    with ``detail`` ``{"maybe_applied": true}``: the local API may have had it done.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = KIOSK_TIMEOUT_S,
        write_timeout: float = KIOSK_WRITE_TIMEOUT_S,
    ) -> None:
        super().__init__(base_url, timeout=timeout)
        self.write_timeout = httpx.Timeout(timeout, read=write_timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if method == "GET":
            return super()._call(method, path, **kwargs)
        kwargs.setdefault("timeout", self.write_timeout)
        try:
            return super()._call(method, path, **kwargs)
        except ApiError as err:
            if err.key != "central_unreachable" or isinstance(err.__cause__, NOT_SENT):
                raise
            raise ApiError(str(err), key=err.key, detail={"maybe_applied": True}) from err

    def query_bundle(self, ubr: str) -> Answer[Bundle]:
        body = self._call("GET", f"/v1/bundles/{ubr}")
        return Answer(Bundle.model_validate(body), body.get("stale_since"))

    def query_bundles_for_ccrn(self, ccrn: str) -> Answer[list[Bundle]]:
        body = self._call("GET", "/v1/bundles", params={"ccrn": ccrn})
        return Answer([Bundle.model_validate(b) for b in body["bundles"]], body.get("stale_since"))

    def query_cargo(self, ccrn: str) -> Answer[Cargo]:
        body = self._call("GET", f"/v1/cargo/{ccrn}")
        return Answer(Cargo.model_validate(body), body.get("stale_since"))

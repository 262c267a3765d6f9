"""The kiosk's client of the local API: RocarsClient plus the "may be stale" flag on queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from rocars.client import DEFAULT_TIMEOUT_S, RocarsClient
from rocars.models import Bundle, Cargo

T = TypeVar("T")

#: The kiosk waits longer than the local API waits for the centre (its client's
#: ``DEFAULT_TIMEOUT_S`` unless configured), so that the kiosk hears the local API's
#: answer ("centre down", "may have been applied") instead of timing out itself and
#: telling the driver the kiosk is offline.
KIOSK_TIMEOUT_S = DEFAULT_TIMEOUT_S + 5.0


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A query's answer; ``stale_since`` is set when the local replica answered (centre down)."""

    value: T
    stale_since: str | None = None


class KioskClient(RocarsClient):
    """Same calls as RocarsClient; the query calls also say whether the answer may be stale.

    Waits ``KIOSK_TIMEOUT_S`` for an answer unless told otherwise.
    """

    def __init__(self, base_url: str, *, timeout: float = KIOSK_TIMEOUT_S) -> None:
        super().__init__(base_url, timeout=timeout)

    def query_bundle(self, ubr: str) -> Answer[Bundle]:
        body = self._call("GET", f"/v1/bundles/{ubr}")
        return Answer(Bundle.model_validate(body), body.get("stale_since"))

    def query_bundles_for_ccrn(self, ccrn: str) -> Answer[list[Bundle]]:
        body = self._call("GET", "/v1/bundles", params={"ccrn": ccrn})
        return Answer([Bundle.model_validate(b) for b in body["bundles"]], body.get("stale_since"))

    def query_cargo(self, ccrn: str) -> Answer[Cargo]:
        body = self._call("GET", f"/v1/cargo/{ccrn}")
        return Answer(Cargo.model_validate(body), body.get("stale_since"))

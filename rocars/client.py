"""HTTP client for the central ROCARS API, and for the sync agent's local API (same calls).

Errors come back as ApiError with the server's stable key; a transport failure is
``ApiError("central_unreachable")`` so callers need catch one type.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from rocars.errors import RocarsError
from rocars.models import (
    Bundle,
    BundleRequest,
    CancelRequest,
    Cargo,
    CargoItems,
    ChangePage,
    EventUploadResult,
    UbrBlock,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
#: Transport errors raised before any of a request left this side: the other end cannot
#: have acted on it (everything else after sending may have: "maybe applied").
NOT_SENT: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
#: An idle pooled connection is dropped after this long, well before the server's own
#: keep-alive timeout closes it (uvicorn: 5 s, ours: ``SERVER_KEEPALIVE_S``). With the
#: two equal (httpx's default is also 5 s) a request sent just as the server closes the
#: idle connection fails with "Server disconnected without sending a response".
KEEPALIVE_EXPIRY_S = 2.0
#: the keep-alive timeout our servers (local API, simulated centre) give uvicorn
SERVER_KEEPALIVE_S = 15


class ApiError(RocarsError):
    """An error answer (``{"error": KEY, "detail": ...}``) or no answer at all."""

    key = "api_error"

    def __init__(self, message: str, *, key: str, status: int = 0, detail: Any = None) -> None:
        super().__init__(message, key=key)
        self.status = status
        self.detail = detail


class RocarsClient:
    """Blocking client. ``token`` is the control point's bearer token (devices only)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        timeout: float = DEFAULT_TIMEOUT_S,
        keepalive_s: float = KEEPALIVE_EXPIRY_S,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(keepalive_expiry=keepalive_s),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RocarsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise ApiError(f"{method} {path}: {err}", key="central_unreachable") from err
        if response.status_code >= 400:
            try:
                body = response.json()
                key, detail = str(body.get("error", "api_error")), body.get("detail")
            except (ValueError, AttributeError):
                key, detail = "api_error", response.text[:200]
            raise ApiError(
                f"{method} {path} -> {response.status_code} {key}",
                key=key,
                status=response.status_code,
                detail=detail,
            )
        return response.json()

    # -- devices -------------------------------------------------------------------------

    def changes(self, since: str, limit: int = 1000) -> ChangePage:
        return ChangePage.model_validate(
            self._call("GET", "/v1/changes", params={"since": since, "limit": limit})
        )

    def upload_events(self, events: list[dict[str, Any]]) -> EventUploadResult:
        return EventUploadResult.model_validate(
            self._call("POST", "/v1/events", json={"events": events})
        )

    def upload_event_json(self, events: Sequence[str]) -> EventUploadResult:
        """``upload_events`` for events already encoded (each one JSON object's text).

        The body is joined from them as they are: no decoding and encoding again. A
        batch of 100 records through ``json.dumps`` was one C call of 0.5-1 ms that kept
        the GIL meanwhile, and the sync agent's lanes waited for it (docs/benchmarks.md).
        """
        body = ('{"events":[' + ",".join(events) + "]}").encode()
        return EventUploadResult.model_validate(
            self._call(
                "POST", "/v1/events", content=body, headers={"Content-Type": "application/json"}
            )
        )

    def lease_ubr_block(self, count: int) -> UbrBlock:
        return UbrBlock.model_validate(self._call("POST", "/v1/ubr-blocks", json={"count": count}))

    # -- shippers ------------------------------------------------------------------------

    def submit_cargo(self, items: CargoItems) -> Cargo:
        return Cargo.model_validate(
            self._call("POST", "/v1/cargo", json=items.model_dump(mode="json"))
        )

    def amend_cargo(self, ccrn: str, items: CargoItems) -> Cargo:
        return Cargo.model_validate(
            self._call("PUT", f"/v1/cargo/{ccrn}", json=items.model_dump(mode="json"))
        )

    def get_cargo(self, ccrn: str) -> Cargo:
        return Cargo.model_validate(self._call("GET", f"/v1/cargo/{ccrn}"))

    # -- drivers -------------------------------------------------------------------------

    def bundle(self, request: BundleRequest) -> Bundle:
        return Bundle.model_validate(
            self._call("POST", "/v1/bundles", json=request.model_dump(mode="json"))
        )

    def cancel_bundle(self, ubr: str, request: CancelRequest) -> Bundle:
        return Bundle.model_validate(
            self._call("DELETE", f"/v1/bundles/{ubr}", json=request.model_dump(mode="json"))
        )

    def cancel_ccrn(self, ubr: str, ccrn: str, request: CancelRequest) -> Bundle:
        return Bundle.model_validate(
            self._call(
                "DELETE", f"/v1/bundles/{ubr}/ccrns/{ccrn}", json=request.model_dump(mode="json")
            )
        )

    def get_bundle(self, ubr: str) -> Bundle:
        return Bundle.model_validate(self._call("GET", f"/v1/bundles/{ubr}"))

    def bundles_for_ccrn(self, ccrn: str) -> list[Bundle]:
        body = self._call("GET", "/v1/bundles", params={"ccrn": ccrn})
        return [Bundle.model_validate(b) for b in body["bundles"]]
